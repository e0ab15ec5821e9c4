//! `nats-trace probe SUITE`: runs every case of a `check` suite again and again (each every
//! `--interval`, or its own `interval`), at most `--parallel` at once and each within its own
//! timeout, and serves what it saw over HTTP for Prometheus (see docs/probe.md).
//!
//! The pieces: [`scheduler`] decides when each case runs and runs it through
//! [`crate::ci::check::trace_case`] (so through `trace::live` and `ci::expect`, like `check`);
//! [`Observer`] keeps each case's last result, its route baseline and the [`Metrics`];
//! [`server`] serves `/metrics`, `/probe?case=NAME`, `/healthz` and `/` ([`page`]); [`log`]
//! writes one line per probe on stderr. SIGTERM or Ctrl-C stops scheduling, lets the probes
//! in flight finish (each bounded by its timeout) and ends with exit 0.

pub(crate) mod log;
mod metrics;
mod page;
mod scheduler;
mod server;
mod slots;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use metrics::{CONTENT_TYPE, MAX_LINK_SERIES, MAX_SERVER_SERIES, Metrics};

use crate::ci::check::CaseTrace;
use crate::ci::junit::CaseStatus;
use crate::ci::snapshot::Snapshots;
use crate::trace::report::TraceReport;
use crate::trace::route::{Fingerprint, Route, SnapshotLevel, kind_name};

/// Where `probe` listens unless `--listen` says otherwise: loopback only, on a port that is
/// none of NATS's (4222, 6222, 7222, 7422, 8222) nor Prometheus's (9090, 9093, 9100, …).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7788";

/// How often a case runs unless it says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// `probe`: what to probe, how often, and where to serve the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSettings {
    pub suite: PathBuf,
    pub listen: SocketAddr,
    pub interval: Duration,
    /// How many cases run at once (at least 1).
    pub parallel: usize,
    pub log_format: LogFormat,
    /// Count route changes against the routes in this snapshot file (else against the first
    /// route seen).
    pub snapshot: Option<PathBuf>,
    /// The fingerprint level without a snapshot file (with one, the file's level).
    pub snapshot_level: SnapshotLevel,
}

/// `--log-format`: the one line per probe on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    /// JSON lines.
    Json,
}

/// One probe of one case, as the metrics, the log and the page show it.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub case: String,
    /// It traced, the trace was complete and every expectation held.
    pub success: bool,
    pub complete: bool,
    pub expectations_failed: usize,
    /// Why it did not pass (a `nats_trace_probe_errors_total` reason).
    pub reason: Option<&'static str>,
    /// The failure in words; empty when it passed.
    pub detail: String,
    pub duration: Duration,
    pub finished_at: SystemTime,
    pub report: Option<TraceReport>,
    pub route: Option<Route>,
    /// Egresses by connection kind (`client`, `route`, `gateway`, …).
    pub egress: Vec<(String, usize)>,
    /// The route's fingerprint, for a complete route.
    pub fingerprint: Option<Fingerprint>,
    /// The route differs from its baseline (set by [`Observer::observe`]).
    pub differs: bool,
    /// The route changed away from its baseline with this probe.
    pub changed: bool,
}

impl ProbeResult {
    /// The result of a probe that traced `report` (or could not trace) and was judged.
    fn of(
        case: &str,
        status: CaseStatus,
        report: Option<TraceReport>,
        duration: Duration,
    ) -> ProbeResult {
        let (success, expectations_failed, detail) = match &status {
            CaseStatus::Pass => (true, 0, String::new()),
            CaseStatus::Fail(failures) => (false, failures.len(), failures.join("; ")),
            CaseStatus::Incomplete(why) | CaseStatus::Error(why) => (false, 0, why.clone()),
        };
        let route = report.as_ref().map(Route::of);
        let egress = report.as_ref().map_or_else(Vec::new, |r| {
            r.graph
                .egress_counts()
                .into_iter()
                .map(|(name, n)| (egress_kind(name), n))
                .collect()
        });
        ProbeResult {
            case: case.to_string(),
            success,
            complete: report.as_ref().is_some_and(|r| r.complete),
            expectations_failed,
            reason: None,
            detail,
            duration,
            finished_at: SystemTime::now(),
            report,
            route,
            egress,
            fingerprint: None,
            differs: false,
            changed: false,
        }
    }

    /// The result of a live probe.
    pub(crate) fn of_trace(case: &str, traced: CaseTrace) -> ProbeResult {
        let mut result = ProbeResult::of(case, traced.status, traced.report, traced.elapsed);
        result.reason = traced.reason;
        result
    }

    /// A probe that did not end within its bound.
    pub(crate) fn timed_out(case: &str, bound: Duration) -> ProbeResult {
        let why = format!("the probe did not end within {bound:?}");
        let mut result = ProbeResult::of(case, CaseStatus::Error(why), None, bound);
        result.reason = Some("timeout");
        result
    }

    /// The result of a probe of an already traced report that passes when it is complete
    /// (for benchmarks and tests without servers).
    pub fn of_report(case: &str, report: TraceReport, duration: Duration) -> ProbeResult {
        let status = if report.complete {
            CaseStatus::Pass
        } else {
            CaseStatus::Incomplete("the trace is incomplete".to_string())
        };
        let reason = (!report.complete).then_some("incomplete");
        let mut result = ProbeResult::of(case, status, Some(report), duration);
        result.reason = reason;
        result
    }

    /// The probe's log line (without its line end), as `probe` writes it on stderr.
    pub fn log_line(&self, format: LogFormat) -> String {
        log::line(self, format)
    }

    /// `pass`, `fail`, `incomplete` or `error`.
    pub fn verdict(&self) -> &'static str {
        match self.reason {
            None => "pass",
            Some("expectations") => "fail",
            Some("incomplete") => "incomplete",
            Some(_) => "error",
        }
    }
}

/// The `kind` label of an egress kind's name (`Router` is `route`, the rest lower case).
fn egress_kind(name: &str) -> String {
    if name == crate::trace::event::ConnKind::Router.name() {
        return kind_name(crate::trace::event::ConnKind::Router);
    }
    name.to_ascii_lowercase().replace(' ', "-")
}

/// What the probe knows: each case's last result and route baseline, and the metrics.
pub struct Observer {
    metrics: Metrics,
    cases: Vec<String>,
    level: SnapshotLevel,
    last: Vec<Option<ProbeResult>>,
    baselines: Vec<Option<Fingerprint>>,
    last_print: Vec<Option<Fingerprint>>,
}

impl Observer {
    /// An observer of `cases`, fingerprinting routes at `level`, each route's baseline the
    /// first one seen.
    pub fn new(cases: Vec<String>, level: SnapshotLevel) -> Observer {
        let n = cases.len();
        Observer {
            metrics: Metrics::new(&cases),
            cases,
            level,
            last: vec![None; n],
            baselines: vec![None; n],
            last_print: vec![None; n],
        }
    }

    /// The baselines from a snapshot file (and its level).
    pub(crate) fn with_snapshots(mut self, snapshots: Snapshots) -> Observer {
        self.level = snapshots.level;
        for (index, case) in self.cases.iter().enumerate() {
            self.baselines[index] = snapshots.cases.get(case).cloned();
        }
        self
    }

    /// The cases' names, in suite order.
    pub fn cases(&self) -> &[String] {
        &self.cases
    }

    /// Records the result of a probe of case `index`: its route against the baseline, the
    /// metrics, the last result. Returns the result as recorded.
    pub fn observe(&mut self, index: usize, mut result: ProbeResult) -> &ProbeResult {
        let print = result
            .report
            .as_ref()
            .filter(|r| r.complete)
            .map(|r| Fingerprint::of(&Route::of(r), self.level));
        if let Some(print) = print {
            let baseline = self.baselines[index].get_or_insert_with(|| print.clone());
            result.differs = &print != baseline;
            result.changed = result.differs && self.last_print[index].as_ref() != Some(&print);
            self.last_print[index] = Some(print.clone());
            result.fingerprint = Some(print);
        } else if let Some(previous) = &self.last[index] {
            result.differs = previous.differs;
        }
        self.metrics.record(&result);
        self.last[index].insert(result)
    }

    /// Every metric, in the text format 0.0.4.
    pub fn render_metrics(&self) -> String {
        self.metrics.render()
    }

    /// The last result of each case, in suite order.
    pub(crate) fn last_results(&self) -> impl Iterator<Item = (&str, Option<&ProbeResult>)> {
        self.cases
            .iter()
            .map(String::as_str)
            .zip(self.last.iter().map(Option::as_ref))
    }
}

pub(crate) use scheduler::run_probe;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::TraceMessage;
    use crate::trace::stitch::stitch;

    const TS: &str = "2024-01-01T00:00:00.000000001Z";

    fn report(egress: bool) -> TraceReport {
        let events = if egress {
            format!(r#",{{"type":"eg","ts":"{TS}","kind":0,"cid":2,"sub":"s"}}"#)
        } else {
            String::new()
        };
        let line = format!(
            r#"{{"server":{{"name":"n1","id":"N1","ver":"2.11.0"}},"request":{{"header":{{}},"msgsize":1}},"hops":0,"events":[{{"type":"in","ts":"{TS}","kind":0,"cid":1,"acc":"A","subj":"s"}}{events}]}}"#
        );
        let graph = stitch([TraceMessage::from_json(line.as_bytes()).expect("parses")]);
        TraceReport::from_graph(graph)
    }

    fn observe(observer: &mut Observer, egress: bool) -> (bool, bool) {
        let result = ProbeResult::of_report("a", report(egress), Duration::from_millis(1));
        let recorded = observer.observe(0, result);
        (recorded.differs, recorded.changed)
    }

    #[test]
    fn changes_count_against_the_first_route_or_the_snapshot() {
        let mut observer = Observer::new(vec!["a".into()], SnapshotLevel::Server);
        assert_eq!(observe(&mut observer, true), (false, false));
        assert_eq!(observe(&mut observer, false), (true, true));
        assert_eq!(observe(&mut observer, false), (true, false), "counted once");
        assert_eq!(observe(&mut observer, true), (false, false));
        assert_eq!(observe(&mut observer, false), (true, true));
        let metrics = observer.render_metrics();
        assert!(
            metrics.contains("nats_trace_route_changes_total{case=\"a\"} 2"),
            "{metrics}"
        );
        assert!(
            metrics.contains("nats_trace_route_changed{case=\"a\"} 1"),
            "{metrics}"
        );

        let mut snapshots = Snapshots::new(SnapshotLevel::Server);
        let stored = Fingerprint::of(&Route::of(&report(false)), SnapshotLevel::Server);
        snapshots.cases.insert("a".into(), stored);
        let mut observer =
            Observer::new(vec!["a".into()], SnapshotLevel::Cluster).with_snapshots(snapshots);
        assert_eq!(
            observe(&mut observer, true),
            (true, true),
            "differs from the file"
        );
    }
}
