//! Route statistics over many traces of one message (`trace --count N`, mtr-style): per
//! server and per link, how often the message arrived and how long it took (min, avg, p50,
//! p99, max), and the route shapes seen with their counts. [`RouteStats`] takes one
//! [`Route`] per trace (or a failed attempt); [`RouteStats::summary`] is what the text and
//! JSON outputs (`render::stats`) draw.
//!
//! Bounds: at most [`MAX_KEYS`] distinct servers, links and shapes each (later ones are
//! counted in `left_out`); one latency sample per trace per key, and `--count` is capped by
//! the command line, so memory stays proportional to the count.

use std::collections::HashMap;

use serde::Serialize;

use crate::trace::route::{Fingerprint, Route, SnapshotLevel, kind_name};

/// The most distinct servers, links and route shapes kept.
pub const MAX_KEYS: usize = 256;

/// The version of the `trace --count --format json` document.
pub const STATS_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Default)]
struct Series {
    /// Order of first appearance, for display.
    first_seen: usize,
    /// Depth at first appearance (servers) or of the link's far end.
    depth: usize,
    arrivals: u64,
    missing: u64,
    samples: Vec<i128>,
}

impl Series {
    fn record(&mut self, nanos: Option<i128>) {
        self.arrivals += 1;
        if let Some(n) = nanos.filter(|n| *n >= 0) {
            self.samples.push(n);
        }
    }
}

/// Statistics accumulated over traces; see the module documentation.
#[derive(Debug, Default)]
pub struct RouteStats {
    subject: String,
    attempts: u64,
    complete: u64,
    incomplete: u64,
    failed: u64,
    servers: HashMap<String, Series>,
    links: HashMap<(String, String, String), Series>,
    shapes: HashMap<String, (usize, u64)>,
    left_out: u64,
}

impl RouteStats {
    /// Statistics for traces of `subject`.
    pub fn new(subject: &str) -> RouteStats {
        RouteStats {
            subject: subject.to_string(),
            ..RouteStats::default()
        }
    }

    /// Adds one trace's route; `complete` is the report's completeness.
    pub fn add(&mut self, route: &Route, complete: bool) {
        self.attempts += 1;
        if complete {
            self.complete += 1;
        } else {
            self.incomplete += 1;
        }
        for hop in &route.hops {
            let Some(series) = entry(&mut self.servers, hop.server.clone(), &mut self.left_out)
            else {
                continue;
            };
            series.depth = series.depth.max(hop.depth);
            if hop.is_missing() {
                series.missing += 1;
                continue;
            }
            series.record(hop.arrival_nanos);
            self.add_link(route, hop);
        }
        let shape = Fingerprint::of(route, SnapshotLevel::Server).one_line();
        let next = self.shapes.len();
        if self.shapes.len() < MAX_KEYS || self.shapes.contains_key(&shape) {
            self.shapes.entry(shape).or_insert((next, 0)).1 += 1;
        } else {
            self.left_out += 1;
        }
    }

    fn add_link(&mut self, route: &Route, hop: &crate::trace::route::RouteHop) {
        let Some(parent) = hop.parent.and_then(|p| route.hops.get(p)) else {
            return;
        };
        let kind = hop.via.map_or_else(|| "?".to_string(), kind_name);
        let key = (parent.server.clone(), hop.server.clone(), kind);
        if let Some(series) = entry(&mut self.links, key, &mut self.left_out) {
            series.depth = hop.depth;
            series.record(hop.link_nanos);
        }
    }

    /// Counts an attempt that produced no route (it could not connect or publish).
    pub fn add_failure(&mut self) {
        self.attempts += 1;
        self.failed += 1;
    }

    /// How many traces were attempted.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// The statistics as plain rows, in order of first appearance.
    pub fn summary(&self) -> StatsSummary {
        let mut servers: Vec<(&String, &Series)> = self.servers.iter().collect();
        servers.sort_by_key(|(_, s)| s.first_seen);
        let mut links: Vec<(&(String, String, String), &Series)> = self.links.iter().collect();
        links.sort_by_key(|(_, s)| s.first_seen);
        let mut shapes: Vec<(&String, &(usize, u64))> = self.shapes.iter().collect();
        shapes.sort_by_key(|(_, (first, count))| (std::cmp::Reverse(*count), *first));
        StatsSummary {
            schema: STATS_SCHEMA_VERSION,
            subject: self.subject.clone(),
            traces: self.attempts,
            complete: self.complete,
            incomplete: self.incomplete,
            failed: self.failed,
            servers: servers
                .into_iter()
                .map(|(name, s)| ServerRow {
                    server: name.clone(),
                    depth: s.depth,
                    missing: s.missing,
                    arrivals: self.arrivals(s),
                })
                .collect(),
            links: links
                .into_iter()
                .map(|((from, to, kind), s)| LinkRow {
                    from: from.clone(),
                    to: to.clone(),
                    kind: kind.clone(),
                    arrivals: self.arrivals(s),
                })
                .collect(),
            shapes: shapes
                .into_iter()
                .map(|(shape, (_, count))| ShapeRow {
                    shape: shape.clone(),
                    count: *count,
                })
                .collect(),
            left_out: self.left_out,
        }
    }

    fn arrivals(&self, series: &Series) -> Arrivals {
        let loss = if self.attempts == 0 {
            0.0
        } else {
            let lost = self.attempts.saturating_sub(series.arrivals);
            (lost as f64) * 100.0 / (self.attempts as f64)
        };
        Arrivals {
            arrivals: series.arrivals,
            loss_percent: (loss * 10.0).round() / 10.0,
            latency: Latency::of(&series.samples),
        }
    }
}

/// The series under `key`, made when new and there is room; `None` past [`MAX_KEYS`].
fn entry<'a, K: std::hash::Hash + Eq>(
    map: &'a mut HashMap<K, Series>,
    key: K,
    left_out: &mut u64,
) -> Option<&'a mut Series> {
    let next = map.len();
    if next >= MAX_KEYS && !map.contains_key(&key) {
        *left_out += 1;
        return None;
    }
    Some(map.entry(key).or_insert_with(|| Series {
        first_seen: next,
        ..Series::default()
    }))
}

/// The statistics of a run, as the outputs draw them.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSummary {
    pub schema: u32,
    pub subject: String,
    /// Traces attempted.
    pub traces: u64,
    pub complete: u64,
    pub incomplete: u64,
    /// Attempts that could not trace (connect or publish failed).
    pub failed: u64,
    pub servers: Vec<ServerRow>,
    pub links: Vec<LinkRow>,
    pub shapes: Vec<ShapeRow>,
    /// Servers, links or shapes past the bound of 256 each, not shown.
    pub left_out: u64,
}

/// One server: how often the message reached it, and when (from the origin's ingress).
#[derive(Debug, Clone, Serialize)]
pub struct ServerRow {
    pub server: String,
    /// Hops from the origin, the most seen.
    pub depth: usize,
    /// Traces in which it was expected but its trace did not arrive.
    pub missing: u64,
    #[serde(flatten)]
    pub arrivals: Arrivals,
}

/// One link: how often the message crossed it, and how long that took (the parent's egress
/// to the child's ingress).
#[derive(Debug, Clone, Serialize)]
pub struct LinkRow {
    pub from: String,
    pub to: String,
    pub kind: String,
    #[serde(flatten)]
    pub arrivals: Arrivals,
}

/// A route shape and how many traces took it.
#[derive(Debug, Clone, Serialize)]
pub struct ShapeRow {
    pub shape: String,
    pub count: u64,
}

/// Arrivals, loss (the share of traces that did not arrive) and latency.
#[derive(Debug, Clone, Serialize)]
pub struct Arrivals {
    pub arrivals: u64,
    pub loss_percent: f64,
    /// `None` when no arrival had a usable time.
    pub latency: Option<Latency>,
}

/// Latency of the arrivals, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub min_seconds: f64,
    pub avg_seconds: f64,
    pub p50_seconds: f64,
    pub p99_seconds: f64,
    pub max_seconds: f64,
}

impl Latency {
    /// Min, average, nearest-rank p50 and p99, and max of `samples` (nanoseconds).
    pub fn of(samples: &[i128]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| {
            let n = sorted.len();
            let at = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            sorted[at]
        };
        let seconds = |nanos: i128| nanos as f64 / 1e9;
        let sum: i128 = sorted.iter().sum();
        Some(Latency {
            min_seconds: seconds(sorted[0]),
            avg_seconds: seconds(sum / sorted.len() as i128),
            p50_seconds: seconds(rank(0.50)),
            p99_seconds: seconds(rank(0.99)),
            max_seconds: seconds(sorted[sorted.len() - 1]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<i128> = (1..=100).map(|n| n * 1_000_000).collect();
        let l = Latency::of(&samples).expect("samples");
        assert_eq!(l.min_seconds, 0.001);
        assert_eq!(l.p50_seconds, 0.050);
        assert_eq!(l.p99_seconds, 0.099);
        assert_eq!(l.max_seconds, 0.100);
        assert!((l.avg_seconds - 0.0505).abs() < 1e-9);
        assert_eq!(Latency::of(&[]), None);
    }

    #[test]
    fn failures_count_as_loss() {
        let mut stats = RouteStats::new("x");
        let route = Route {
            hops: vec![crate::trace::route::RouteHop {
                server: "n1".into(),
                cluster: "n1".into(),
                outcome: crate::trace::analysis::Outcome::Delivered,
                parent: None,
                via: None,
                depth: 0,
                arrival_nanos: Some(0),
                link_nanos: None,
                ends: Default::default(),
            }],
            left_out: 0,
        };
        stats.add(&route, true);
        stats.add_failure();
        let summary = stats.summary();
        assert_eq!(summary.traces, 2);
        assert_eq!(summary.servers[0].arrivals.arrivals, 1);
        assert_eq!(summary.servers[0].arrivals.loss_percent, 50.0);
        assert_eq!(summary.shapes[0].count, 1);
    }
}
