//! The probe's Prometheus metrics, kept with the `prometheus` crate and served in the classic
//! text format 0.0.4 (what Prometheus and `promtool check metrics` read): every family, its
//! labels, and the bound on the per-server and per-link latency series (see docs/probe.md).
//!
//! Cardinality: every family is labelled by `case` (the suite's cases, a fixed set); `kind`
//! and `reason` take a fixed set of values; the latency histograms take at most
//! [`MAX_SERVER_SERIES`] server labels and [`MAX_LINK_SERIES`] links per case, after which
//! observations go to the series labelled `_other`.

use std::collections::{HashMap, HashSet};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::probe::ProbeResult;

/// The most server labels per case in `nats_trace_server_latency_seconds`.
pub const MAX_SERVER_SERIES: usize = 32;
/// The most links per case in `nats_trace_link_latency_seconds`.
pub const MAX_LINK_SERIES: usize = 32;
/// The label value past the bounds.
pub(crate) const OTHER: &str = "_other";

/// The `reason` values of `nats_trace_probe_errors_total`.
pub(crate) const REASONS: [&str; 6] = [
    "connect",
    "publish_denied",
    "incomplete",
    "timeout",
    "expectations",
    "error",
];

/// The `kind` values of `nats_trace_route_egress`.
pub(crate) const KINDS: [&str; 5] = ["client", "route", "gateway", "leafnode", "jetstream"];

/// Latency buckets, in seconds (250 µs to 2.5 s): ten, to keep `/metrics` small with many
/// cases.
const LATENCY_BUCKETS: [f64; 10] = [
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
];

/// Probe duration buckets, in seconds (5 ms to 10 s).
const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

const HELP_BUILD: &str = "nats-trace version (always 1)";
const HELP_SUCCESS: &str = "1 when the case's last probe passed: it traced, the trace was complete and every expectation held";
const HELP_DURATION: &str = "Duration of a probe: connect, publish, collect, judge";
const HELP_COMPLETE: &str = "1 when every server on the route sent its trace in the last probe";
const HELP_EXPECTATIONS: &str = "Expectations that failed in the last probe";
const HELP_SERVERS: &str = "Servers on the route in the last probe";
const HELP_EGRESS: &str = "Egresses of the route in the last probe, by connection kind";
const HELP_SERVER_LATENCY: &str = "Time from the origin's ingress to each server's ingress (at most 32 servers per case; more are _other)";
const HELP_LINK_LATENCY: &str = "Time from a server's egress to the next server's ingress (at most 32 links per case; more are _other)";
const HELP_CHANGES: &str =
    "Times the route changed away from its snapshot (or the first route seen)";
const HELP_CHANGED: &str = "1 while the route differs from its snapshot (or the first route seen)";
const HELP_ERRORS: &str =
    "Failed probes by reason: connect, publish_denied, incomplete, timeout, expectations, error";
const HELP_RUNS: &str = "Probes run";
const HELP_LAST_RUN: &str = "When the last probe of the case ended (Unix time)";

/// Every metric family of the probe, in one registry.
pub struct Metrics {
    registry: Registry,
    success: IntGaugeVec,
    duration: HistogramVec,
    complete: IntGaugeVec,
    expectations_failed: IntGaugeVec,
    servers: IntGaugeVec,
    egress: IntGaugeVec,
    server_latency: HistogramVec,
    link_latency: HistogramVec,
    changes: IntCounterVec,
    changed: IntGaugeVec,
    errors: IntCounterVec,
    runs: IntCounterVec,
    last_run: GaugeVec,
    /// Server labels and links seen per case, for the bounds.
    seen_servers: HashMap<String, HashSet<String>>,
    seen_links: HashMap<String, HashSet<(String, String, String)>>,
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| bug(&e));
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| bug(&e));
    metric
}

fn float_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let metric = GaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| bug(&e));
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| bug(&e));
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| bug(&e));
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| bug(&e));
    metric
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let metric = HistogramVec::new(opts, labels).unwrap_or_else(|e| bug(&e));
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| bug(&e));
    metric
}

/// The metric definitions are constants: a failure to make one is a bug in this file.
fn bug(error: &prometheus::Error) -> ! {
    panic!("a probe metric definition is invalid: {error}")
}

impl Metrics {
    /// The families, with a series of every per-case gauge and counter made for each of
    /// `cases` (so that `increase()` and alerts see them from the first scrape).
    pub fn new(cases: &[String]) -> Metrics {
        let metrics = Metrics::families(&Registry::new());
        for case in cases {
            metrics.success.with_label_values(&[case]).set(0);
            metrics.changes.with_label_values(&[case]);
            metrics.changed.with_label_values(&[case]).set(0);
            metrics.runs.with_label_values(&[case]);
            for reason in REASONS {
                metrics.errors.with_label_values(&[case, reason]);
            }
        }
        metrics
    }

    /// The families, registered in `registry`.
    fn families(registry: &Registry) -> Metrics {
        let r = registry;
        let build = gauge(r, "nats_trace_build_info", HELP_BUILD, &["version"]);
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let link = ["case", "from", "to", "kind"];
        Metrics {
            registry: registry.clone(),
            success: gauge(r, "nats_trace_probe_success", HELP_SUCCESS, &["case"]),
            duration: histogram(
                r,
                "nats_trace_probe_duration_seconds",
                HELP_DURATION,
                &["case"],
                &DURATION_BUCKETS,
            ),
            complete: gauge(r, "nats_trace_probe_complete", HELP_COMPLETE, &["case"]),
            expectations_failed: gauge(
                r,
                "nats_trace_probe_expectations_failed",
                HELP_EXPECTATIONS,
                &["case"],
            ),
            servers: gauge(r, "nats_trace_route_servers", HELP_SERVERS, &["case"]),
            egress: gauge(r, "nats_trace_route_egress", HELP_EGRESS, &["case", "kind"]),
            server_latency: histogram(
                r,
                "nats_trace_server_latency_seconds",
                HELP_SERVER_LATENCY,
                &["case", "server"],
                &LATENCY_BUCKETS,
            ),
            link_latency: histogram(
                r,
                "nats_trace_link_latency_seconds",
                HELP_LINK_LATENCY,
                &link,
                &LATENCY_BUCKETS,
            ),
            changes: counter(r, "nats_trace_route_changes_total", HELP_CHANGES, &["case"]),
            changed: gauge(r, "nats_trace_route_changed", HELP_CHANGED, &["case"]),
            errors: counter(
                r,
                "nats_trace_probe_errors_total",
                HELP_ERRORS,
                &["case", "reason"],
            ),
            runs: counter(r, "nats_trace_probe_runs_total", HELP_RUNS, &["case"]),
            last_run: float_gauge(
                r,
                "nats_trace_probe_last_run_timestamp_seconds",
                HELP_LAST_RUN,
                &["case"],
            ),
            seen_servers: HashMap::new(),
            seen_links: HashMap::new(),
        }
    }

    /// Records one probe's result.
    pub fn record(&mut self, result: &ProbeResult) {
        let case = result.case.as_str();
        self.success
            .with_label_values(&[case])
            .set(i64::from(result.success));
        self.duration
            .with_label_values(&[case])
            .observe(result.duration.as_secs_f64());
        self.runs.with_label_values(&[case]).inc();
        self.last_run
            .with_label_values(&[case])
            .set(unix_seconds(result.finished_at));
        if let Some(reason) = result.reason {
            self.errors.with_label_values(&[case, reason]).inc();
        }
        self.record_route(result);
        if result.changed {
            self.changes.with_label_values(&[case]).inc();
        }
        self.changed
            .with_label_values(&[case])
            .set(i64::from(result.differs));
    }

    /// The route gauges and latency histograms, when the probe traced a route.
    fn record_route(&mut self, result: &ProbeResult) {
        let case = result.case.as_str();
        let Some(route) = &result.route else {
            self.complete.with_label_values(&[case]).set(0);
            return;
        };
        self.complete
            .with_label_values(&[case])
            .set(i64::from(result.complete));
        self.expectations_failed
            .with_label_values(&[case])
            .set(i64::try_from(result.expectations_failed).unwrap_or(i64::MAX));
        self.servers
            .with_label_values(&[case])
            .set(i64::try_from(route.hops.len()).unwrap_or(i64::MAX));
        for kind in KINDS {
            let count = result
                .egress
                .iter()
                .find(|(k, _)| k == kind)
                .map_or(0, |(_, n)| *n);
            self.egress
                .with_label_values(&[case, kind])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        for hop in &route.hops {
            if hop.is_missing() {
                continue;
            }
            if let Some(nanos) = hop.arrival_nanos.filter(|n| *n >= 0) {
                let server = self.server_label(case, &hop.server);
                self.server_latency
                    .with_label_values(&[case, &server])
                    .observe(nanos as f64 / 1e9);
            }
            let parent = hop.parent.and_then(|p| route.hops.get(p));
            if let (Some(parent), Some(nanos)) = (parent, hop.link_nanos.filter(|n| *n >= 0)) {
                let kind = hop
                    .via
                    .map_or_else(|| "?".to_string(), crate::trace::route::kind_name);
                let link =
                    self.link_labels(case, (parent.server.clone(), hop.server.clone(), kind));
                self.link_latency
                    .with_label_values(&[case, &link.0, &link.1, &link.2])
                    .observe(nanos as f64 / 1e9);
            }
        }
    }

    /// `server`, or [`OTHER`] once the case has [`MAX_SERVER_SERIES`] others.
    fn server_label(&mut self, case: &str, server: &str) -> String {
        let seen = self.seen_servers.entry(case.to_string()).or_default();
        if seen.contains(server) || seen.len() < MAX_SERVER_SERIES {
            seen.insert(server.to_string());
            server.to_string()
        } else {
            OTHER.to_string()
        }
    }

    /// The link's labels, or [`OTHER`] for each once the case has [`MAX_LINK_SERIES`] others.
    fn link_labels(
        &mut self,
        case: &str,
        link: (String, String, String),
    ) -> (String, String, String) {
        let seen = self.seen_links.entry(case.to_string()).or_default();
        if seen.contains(&link) || seen.len() < MAX_LINK_SERIES {
            seen.insert(link.clone());
            link
        } else {
            (OTHER.to_string(), OTHER.to_string(), OTHER.to_string())
        }
    }

    /// Every family in the text format 0.0.4.
    pub fn render(&self) -> String {
        encode(&self.registry)
    }

    /// The families of one probe only, for `/probe?case=NAME` (blackbox-exporter style).
    pub fn render_one(result: &ProbeResult) -> String {
        let mut metrics = Metrics::families(&Registry::new());
        metrics.record(result);
        metrics.render()
    }
}

/// The content type of the text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn encode(registry: &Registry) -> String {
    let mut out = Vec::new();
    match TextEncoder::new().encode(&registry.gather(), &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("# the metrics could not be encoded: {e}\n"),
    }
}

fn unix_seconds(at: std::time::SystemTime) -> f64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_labels_are_bounded_per_case() {
        let mut metrics = Metrics::new(&["a".to_string()]);
        for i in 0..(MAX_SERVER_SERIES + 10) {
            let label = metrics.server_label("a", &format!("s{i}"));
            let wanted = if i < MAX_SERVER_SERIES {
                format!("s{i}")
            } else {
                OTHER.to_string()
            };
            assert_eq!(label, wanted);
        }
        assert_eq!(metrics.server_label("a", "s0"), "s0", "known ones stay");
    }
}
