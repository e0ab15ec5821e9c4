//! What `listen` saw, per origin subject: messages, how many complete, the distinct route
//! shapes ([`super::shape::fingerprint`]) with counts and share, each link's latency (parent
//! egress to child ingress) as p50/p99, and errors by kind; plus evictions, messages split
//! by a second origin, and warnings. Printed at exit and every `--summary-every`, as text or
//! as one `{"summary": …}` JSON line.
//!
//! Memory is bounded however long `listen` runs: at most [`MAX_SUBJECTS`] subjects, each with
//! at most [`MAX_SHAPES`] shapes, [`MAX_LINKS`] links and [`MAX_ERRORS`] error kinds; what
//! does not fit is counted under `(other)`. Latencies go into a fixed histogram of
//! [`BUCKETS_PER_DOUBLING`] buckets per doubling, so a percentile is exact to about ±4.5 %.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Emitted, Reason};
use crate::text::sanitize;
use crate::trace::stitch::{Step, TraceGraph};

/// The most subjects the summary tells apart.
pub const MAX_SUBJECTS: usize = 100;
/// The most route shapes per subject.
pub const MAX_SHAPES: usize = 20;
/// The most links per subject.
pub const MAX_LINKS: usize = 50;
/// The most error kinds per subject.
pub const MAX_ERRORS: usize = 20;
/// The name under which what does not fit is counted.
pub const OTHER: &str = "(other)";
/// Histogram resolution.
pub const BUCKETS_PER_DOUBLING: u32 = 8;
/// Histogram range: up to 2^40 ns (about 18 minutes).
const BUCKETS: usize = 40 * BUCKETS_PER_DOUBLING as usize + 1;

/// Everything counted so far.
#[derive(Debug)]
pub struct Summary {
    started: Instant,
    messages: u64,
    complete: u64,
    evicted: u64,
    second_origins: u64,
    warnings: u64,
    subjects: BTreeMap<String, SubjectStats>,
}

#[derive(Debug, Default)]
struct SubjectStats {
    messages: u64,
    complete: u64,
    shapes: BTreeMap<String, u64>,
    links: BTreeMap<String, Histogram>,
    errors: BTreeMap<String, u64>,
}

/// Latencies in log-scale buckets.
#[derive(Debug, Clone)]
struct Histogram {
    counts: Box<[u32; BUCKETS]>,
    total: u64,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary::new()
    }
}

impl Summary {
    pub fn new() -> Summary {
        Summary {
            started: Instant::now(),
            messages: 0,
            complete: 0,
            evicted: 0,
            second_origins: 0,
            warnings: 0,
            subjects: BTreeMap::new(),
        }
    }

    /// Messages shown so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Counts one warning.
    pub fn warning(&mut self) {
        self.warnings += 1;
    }

    /// Counts one eviction (`--max-pending`), whether or not the message passes the filters.
    pub fn evicted(&mut self) {
        self.evicted += 1;
    }

    /// Counts one emitted message.
    pub fn record(&mut self, emitted: &Emitted) {
        let report = &emitted.report;
        self.messages += 1;
        self.complete += u64::from(report.complete);
        self.second_origins += u64::from(emitted.reason == Reason::SecondOrigin);
        let name = if report.subject.is_empty() {
            "(no origin)"
        } else {
            report.subject.as_str()
        };
        let stats = bounded_entry(&mut self.subjects, name, MAX_SUBJECTS);
        stats.messages += 1;
        stats.complete += u64::from(report.complete);
        *bounded_entry(
            &mut stats.shapes,
            &super::shape::fingerprint(&report.graph),
            MAX_SHAPES,
        ) += 1;
        record_links(&mut stats.links, &report.graph);
        for error in report.graph.errors() {
            let kind = format!("{}: {}", error.kind, short(&error.message));
            *bounded_entry(&mut stats.errors, &kind, MAX_ERRORS) += 1;
        }
    }

    /// The summary as text lines.
    pub fn write_text(&self, out: &mut dyn Write, last: bool) -> io::Result<()> {
        let json = self.to_json(last);
        writeln!(
            out,
            "{} {} message(s) in {}, {} complete ({}), {} evicted, {} split by a second origin, {} warning(s)",
            if last { "Summary:" } else { "Summary so far:" },
            json.messages,
            crate::duration::go_string_of(Duration::from_millis(json.elapsed_ms)),
            json.complete,
            percent(json.complete, json.messages),
            json.evicted,
            json.second_origins,
            json.warnings
        )?;
        for subject in &json.subjects {
            subject.write_text(out)?;
        }
        Ok(())
    }

    /// The summary as its JSON value.
    pub fn to_json(&self, last: bool) -> SummaryJson {
        SummaryJson {
            last,
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            messages: self.messages,
            complete: self.complete,
            evicted: self.evicted,
            second_origins: self.second_origins,
            warnings: self.warnings,
            subjects: self
                .subjects
                .iter()
                .map(|(name, stats)| stats.to_json(name))
                .collect(),
        }
    }
}

/// The entry for `key`, or the `(other)` entry once `map` has `max` keys.
fn bounded_entry<'m, T: Default>(
    map: &'m mut BTreeMap<String, T>,
    key: &str,
    max: usize,
) -> &'m mut T {
    let key = if map.contains_key(key) || map.len() < max.saturating_sub(1) {
        key
    } else {
        OTHER
    };
    map.entry(key.to_string()).or_default()
}

/// An error message cut to 80 characters, terminal-safe.
fn short(message: &str) -> String {
    let cut: String = message.chars().take(80).collect();
    sanitize(&cut)
}

/// Each link's latency: the child's ingress minus the parent's egress.
fn record_links(links: &mut BTreeMap<String, Histogram>, graph: &TraceGraph) {
    for step in graph.walk(graph.root) {
        let Step::Egress {
            node,
            index,
            child: Some(child),
            ..
        } = step
        else {
            continue;
        };
        let parent = graph.node(node);
        let child_node = graph.node(child);
        let (Some(entry), Some(trace)) = (parent.egress(index), child_node.trace.as_ref()) else {
            continue;
        };
        let Some(nanos) = trace.ingress().and_then(|i| i.ts.since(&entry.egress.ts)) else {
            continue;
        };
        let name = format!(
            "{} -{}-> {}",
            parent.server_name(),
            entry.egress.kind.name().to_ascii_lowercase(),
            child_node.server_name()
        );
        bounded_entry(links, &name, MAX_LINKS).add(nanos);
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }
}

impl Histogram {
    /// Adds one latency; a negative one (clocks of different machines) counts as 0.
    fn add(&mut self, nanos: i128) {
        let bucket = bucket_of(nanos);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
        self.total += 1;
    }

    /// The latency below which `fraction` of the samples are (bucket's middle).
    fn quantile(&self, fraction: f64) -> u64 {
        let wanted = ((self.total as f64) * fraction).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= wanted {
                return value_of(bucket);
            }
        }
        value_of(BUCKETS - 1)
    }
}

fn bucket_of(nanos: i128) -> usize {
    if nanos <= 1 {
        return 0;
    }
    let scaled = (nanos as f64).log2() * f64::from(BUCKETS_PER_DOUBLING);
    (scaled as usize + 1).min(BUCKETS - 1)
}

/// The geometric middle of a bucket, in nanoseconds.
fn value_of(bucket: usize) -> u64 {
    if bucket == 0 {
        return 0;
    }
    let exponent = (bucket as f64 - 0.5) / f64::from(BUCKETS_PER_DOUBLING);
    2f64.powf(exponent).round() as u64
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// The JSON value of the summary (`{"summary": …}`).
#[derive(Debug, Serialize)]
pub struct SummaryJson {
    /// True for the summary at exit.
    pub last: bool,
    pub elapsed_ms: u64,
    pub messages: u64,
    pub complete: u64,
    pub evicted: u64,
    pub second_origins: u64,
    pub warnings: u64,
    pub subjects: Vec<SubjectJson>,
}

#[derive(Debug, Serialize)]
pub struct SubjectJson {
    pub subject: String,
    pub messages: u64,
    pub complete: u64,
    pub shapes: Vec<ShapeJson>,
    pub links: Vec<LinkJson>,
    pub errors: Vec<ErrorJson>,
}

#[derive(Debug, Serialize)]
pub struct ShapeJson {
    pub shape: String,
    pub messages: u64,
    /// Share of the subject's messages, 0..=1.
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct LinkJson {
    pub link: String,
    pub samples: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
}

#[derive(Debug, Serialize)]
pub struct ErrorJson {
    pub error: String,
    pub count: u64,
}

impl SubjectStats {
    fn to_json(&self, name: &str) -> SubjectJson {
        let mut shapes: Vec<ShapeJson> = self
            .shapes
            .iter()
            .map(|(shape, n)| ShapeJson {
                shape: shape.clone(),
                messages: *n,
                share: if self.messages == 0 {
                    0.0
                } else {
                    *n as f64 / self.messages as f64
                },
            })
            .collect();
        shapes.sort_by(|a, b| {
            b.messages
                .cmp(&a.messages)
                .then_with(|| a.shape.cmp(&b.shape))
        });
        SubjectJson {
            subject: name.to_string(),
            messages: self.messages,
            complete: self.complete,
            shapes,
            links: self
                .links
                .iter()
                .map(|(link, h)| LinkJson {
                    link: link.clone(),
                    samples: h.total,
                    p50_ns: h.quantile(0.5),
                    p99_ns: h.quantile(0.99),
                })
                .collect(),
            errors: self
                .errors
                .iter()
                .map(|(error, count)| ErrorJson {
                    error: error.clone(),
                    count: *count,
                })
                .collect(),
        }
    }
}

impl SubjectJson {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "  {}: {} message(s), {} complete",
            sanitize(&self.subject),
            self.messages,
            percent(self.complete, self.messages)
        )?;
        for shape in &self.shapes {
            writeln!(
                out,
                "    route {:>6} ({:>5.1}%)  {}",
                shape.messages,
                shape.share * 100.0,
                sanitize(&shape.shape)
            )?;
        }
        for link in &self.links {
            writeln!(
                out,
                "    link  {}  p50 {}  p99 {}  ({} sample(s))",
                sanitize(&link.link),
                crate::duration::go_string(i128::from(link.p50_ns)),
                crate::duration::go_string(i128::from(link.p99_ns)),
                link.samples
            )?;
        }
        for error in &self.errors {
            writeln!(out, "    error {:>6}  {}", error.count, error.error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_bucket_width() {
        let mut h = Histogram::default();
        for micros in 1..=1000u64 {
            h.add(i128::from(micros * 1000));
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.05, "{p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < 0.05, "{p99}");
    }

    #[test]
    fn maps_stay_bounded() {
        let mut map: BTreeMap<String, u64> = BTreeMap::new();
        for i in 0..1000 {
            *bounded_entry(&mut map, &format!("k{i}"), 10) += 1;
        }
        assert_eq!(map.len(), 10);
        assert_eq!(map[OTHER], 991);
    }
}
