//! `nats-trace check SUITE`: runs every case of a suite (several at once with `--parallel`),
//! judges each trace against its expectations, prints a line per case and a summary (or the
//! results as JSON), writes JUnit XML with `--junit`, and picks the exit code: 2 when a case
//! could not run, else 3 when a trace was incomplete, else 1 when an expectation failed. With
//! `--snapshot FILE` each route is compared with its stored one ([`crate::ci::snapshot`]): a
//! changed route fails its case and prints a diff; `--update-snapshots` writes them.
//! [`trace_case`] (trace and judge one case) is shared with `probe`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::ci::expect;
use crate::ci::junit::{self, CaseResult, CaseStatus};
use crate::ci::snapshot::{Comparison, SnapshotSettings, Snapshots};
use crate::ci::suite::{Case, Suite};
use crate::connect::options::{ConnectionOptions, ContextChoice};
use crate::error::{Error, Outcome};
use crate::render::{Format, RenderOptions, Renderer, TraceReport, TreeRenderer};
use crate::trace::collect::Probe;
use crate::trace::live::{LiveTrace, trace_live};
use crate::trace::route::Fingerprint;
use crate::verbose::Verbose;

/// The version of the `check --format json` document.
pub(crate) const CHECK_SCHEMA_VERSION: u32 = 1;

/// `check`: a suite of routing checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    pub suite: PathBuf,
    /// How many cases run at once (at least 1).
    pub parallel: usize,
    /// Where to write JUnit XML, if anywhere.
    pub junit: Option<PathBuf>,
    /// Where to write the HTML report (`--html`), if anywhere.
    pub html: Option<PathBuf>,
    /// `--snapshot FILE`: compare each route with its stored one (or write them).
    pub snapshot: Option<SnapshotSettings>,
}

/// Counts of case outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Summary {
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub incomplete: usize,
    pub errors: usize,
}

impl Summary {
    fn of(results: &[CaseResult]) -> Summary {
        let mut summary = Summary {
            cases: results.len(),
            ..Summary::default()
        };
        for result in results {
            match result.status {
                CaseStatus::Pass => summary.passed += 1,
                CaseStatus::Fail(_) => summary.failed += 1,
                CaseStatus::Incomplete(_) => summary.incomplete += 1,
                CaseStatus::Error(_) => summary.errors += 1,
            }
        }
        summary
    }

    /// The exit outcome: errors beat incomplete traces beat failed expectations.
    fn outcome(self) -> Result<Outcome, Error> {
        if self.errors > 0 {
            Err(Error::CheckFailed(format!(
                "{} of {} case(s) could not run",
                self.errors, self.cases
            )))
        } else if self.incomplete > 0 {
            Ok(Outcome::Incomplete)
        } else if self.failed > 0 {
            Ok(Outcome::ExpectationFailed)
        } else {
            Ok(Outcome::Complete)
        }
    }
}

#[derive(Serialize)]
struct CheckDocument<'a> {
    schema: u32,
    suite: String,
    summary: Summary,
    cases: &'a [CaseResult],
}

/// Runs a suite file: every case, its line (or the JSON document), the JUnit file, the
/// outcome.
pub(crate) async fn run_check(
    connection: &ConnectionOptions,
    check: &CheckSettings,
    format: Format,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let suite = Suite::load(&check.suite).map_err(Error::Usage)?;
    let stored = load_snapshots(check.snapshot.as_ref())?;
    let human = format != Format::Json;
    let started = Instant::now();
    let runs = RunCases {
        connection,
        suite: &suite,
        parallel: check.parallel,
        snapshots: stored.as_ref(),
        log,
        human,
        html: check.html.is_some(),
    };
    let (results, prints) = runs.run(out).await?;
    let summary = Summary::of(&results);
    if human {
        write_summary(&summary, started.elapsed(), out)?;
    } else {
        write_document(check, summary, &results, out)?;
    }
    out.flush()?;
    if let Some(path) = &check.junit {
        write_junit(path, &check.suite, &results)?;
    }
    if let Some(settings) = check.snapshot.as_ref().filter(|s| s.update) {
        update_snapshots(settings, &suite, prints, human, out)?;
    }
    if let Some(path) = &check.html {
        crate::ci::html::write_report(path, &check.suite, &summary_line(&summary), &results)?;
    }
    summary.outcome()
}

/// The stored routes when comparing with `--snapshot` (not when updating them).
fn load_snapshots(settings: Option<&SnapshotSettings>) -> Result<Option<Snapshots>, Error> {
    match settings {
        Some(s) if !s.update => Snapshots::load(&s.path).map(Some).map_err(Error::Usage),
        _ => Ok(None),
    }
}

/// `--update-snapshots`: writes the routes seen; a case without a route this time keeps
/// its stored one, and cases no longer in the suite are dropped.
fn update_snapshots(
    settings: &SnapshotSettings,
    suite: &Suite,
    prints: Vec<(String, Fingerprint)>,
    human: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let mut snapshots = match Snapshots::load(&settings.path) {
        Ok(old) if old.level == settings.level => old,
        _ => Snapshots::new(settings.level),
    };
    snapshots
        .cases
        .retain(|name, _| suite.cases.iter().any(|c| &c.name == name));
    let written = prints.len();
    snapshots.cases.extend(prints);
    snapshots
        .save(&settings.path)
        .map_err(|e| Error::Io(std::io::Error::other(e)))?;
    if human {
        writeln!(
            out,
            "wrote {written} route snapshot(s) ({} level) to {}",
            settings.level.name(),
            settings.path.display()
        )?;
    }
    Ok(())
}

/// What running the cases needs.
struct RunCases<'a> {
    connection: &'a ConnectionOptions,
    suite: &'a Suite,
    parallel: usize,
    /// Stored routes to compare with.
    snapshots: Option<&'a Snapshots>,
    log: &'a Verbose,
    /// Print each case's line (and a changed route's diff) as it ends.
    human: bool,
    /// Keep each case's route section for `--html`.
    html: bool,
}

/// One case's run: its result, its route's fingerprint (when it has a complete route) and
/// the diff from its snapshot (when the route changed).
struct CaseRun {
    result: CaseResult,
    print: Option<Fingerprint>,
    diff: Vec<String>,
}

impl RunCases<'_> {
    /// Runs the cases, `parallel` at once; the results and the fingerprints are in suite
    /// order.
    async fn run(
        &self,
        out: &mut dyn Write,
    ) -> Result<(Vec<CaseResult>, Vec<(String, Fingerprint)>), Error> {
        let level = self.snapshots.map(|s| s.level).unwrap_or_default();
        let mut results = Vec::with_capacity(self.suite.cases.len());
        let mut prints = Vec::new();
        let mut running = futures_util::stream::iter(self.suite.cases.iter())
            .enumerate()
            .map(|(index, case)| self.run_case(index, case, level))
            .buffered(self.parallel.max(1));
        while let Some(run) = running.next().await {
            if self.human {
                writeln!(out, "{}", case_line(&run.result))?;
                for line in &run.diff {
                    writeln!(out, "    {}", crate::text::sanitize(line))?;
                }
                out.flush()?;
            }
            if let Some(print) = run.print {
                prints.push((run.result.name.clone(), print));
            }
            results.push(run.result);
        }
        Ok((results, prints))
    }

    /// Traces and judges one case, and compares its route with its snapshot.
    async fn run_case(
        &self,
        index: usize,
        case: &Case,
        level: crate::trace::route::SnapshotLevel,
    ) -> CaseRun {
        let traced = trace_case(self.connection, case, self.log).await;
        let print = traced
            .report
            .as_ref()
            .filter(|r| r.complete)
            .map(|r| Fingerprint::of_report(r, level));
        let mut status = traced.status;
        let mut diff = Vec::new();
        if let (Some(stored), Some(seen)) = (self.snapshots, &print) {
            diff = judge_route(stored, &case.name, seen, &mut status);
        }
        let mut tree = traced.report.as_ref().map(plain_tree).unwrap_or_default();
        if let Some(report) = traced.report.as_ref().filter(|_| case.explain)
            && !matches!(status, CaseStatus::Pass | CaseStatus::Error(_))
        {
            let connection = case_connection(self.connection, case);
            explain_case(&connection, report, &mut status, &mut tree, self.log).await;
        }
        CaseRun {
            result: CaseResult {
                name: case.name.clone(),
                subject: case.subject.clone(),
                status,
                elapsed: traced.elapsed,
                tree,
                route_html: self.html_route(index, traced.report.as_ref()),
            },
            print,
            diff,
        }
    }
}

impl RunCases<'_> {
    /// The case's route section for `--html`, when asked for and the case traced.
    fn html_route(&self, index: usize, report: Option<&TraceReport>) -> Option<String> {
        report
            .filter(|_| self.html)
            .map(|r| crate::ci::html::route(r, index))
    }
}

/// Compares a case's route with its snapshot: a changed or unknown route fails the case
/// (an incomplete or failed-to-run case keeps its status); the diff when it changed.
fn judge_route(
    stored: &Snapshots,
    name: &str,
    seen: &Fingerprint,
    status: &mut CaseStatus,
) -> Vec<String> {
    let (failure, diff) = match stored.compare(name, seen) {
        Comparison::Same => return Vec::new(),
        Comparison::Unknown => (
            "no route snapshot for this case (run with --update-snapshots)".to_string(),
            Vec::new(),
        ),
        Comparison::Changed(diff) => ("the route changed from its snapshot".to_string(), diff),
    };
    match status {
        CaseStatus::Pass => *status = CaseStatus::Fail(vec![failure]),
        CaseStatus::Fail(failures) => failures.push(failure),
        CaseStatus::Incomplete(_) | CaseStatus::Error(_) => {}
    }
    diff
}

/// The summary's counts in words.
fn summary_line(summary: &Summary) -> String {
    format!(
        "{} case(s): {} passed, {} failed, {} incomplete, {} error(s)",
        summary.cases, summary.passed, summary.failed, summary.incomplete, summary.errors
    )
}

fn write_summary(summary: &Summary, took: Duration, out: &mut dyn Write) -> Result<(), Error> {
    writeln!(
        out,
        "\n{} case(s) in {took:.1?}: {} passed, {} failed, {} incomplete, {} error(s)",
        summary.cases, summary.passed, summary.failed, summary.incomplete, summary.errors
    )?;
    Ok(())
}

/// `--format json`: the results as one document.
fn write_document(
    check: &CheckSettings,
    summary: Summary,
    results: &[CaseResult],
    out: &mut dyn Write,
) -> Result<(), Error> {
    let document = CheckDocument {
        schema: CHECK_SCHEMA_VERSION,
        suite: check.suite.display().to_string(),
        summary,
        cases: results,
    };
    serde_json::to_writer_pretty(&mut *out, &document).map_err(std::io::Error::other)?;
    writeln!(out)?;
    Ok(())
}

/// `--junit FILE`: the results as JUnit XML, the suite named after its file.
fn write_junit(path: &Path, suite: &Path, results: &[CaseResult]) -> Result<(), Error> {
    let name = suite
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "nats-trace".to_string());
    let cannot_write = |e: String| {
        Error::Io(std::io::Error::other(format!(
            "cannot write {}: {e}",
            path.display()
        )))
    };
    let xml = junit::to_xml(&name, results).map_err(cannot_write)?;
    std::fs::write(path, xml).map_err(|e| cannot_write(e.to_string()))
}

/// One line per case: `PASS`, `FAIL`, `INCOMPLETE` or `ERROR`, the name, and why.
fn case_line(result: &CaseResult) -> String {
    let name = crate::text::sanitize(&result.name);
    let took = format!("{:.1?}", result.elapsed);
    match &result.status {
        CaseStatus::Pass => format!("PASS        {name} ({took})"),
        CaseStatus::Fail(failures) => format!(
            "FAIL        {name} ({took}): {}",
            crate::text::sanitize(&failures.join("; "))
        ),
        CaseStatus::Incomplete(why) => {
            format!(
                "INCOMPLETE  {name} ({took}): {}",
                crate::text::sanitize(why)
            )
        }
        CaseStatus::Error(why) => format!(
            "ERROR       {name} ({took}): {}",
            crate::text::sanitize(why)
        ),
    }
}

/// The connection a case publishes from: the command line's, with the suite's server,
/// context and timeout on top.
fn case_connection(connection: &ConnectionOptions, case: &Case) -> ConnectionOptions {
    let mut merged = connection.clone();
    if let Some(server) = &case.server {
        merged.server = Some(server.clone());
    }
    if let Some(context) = &case.context {
        merged.context = ContextChoice::Named(context.clone());
    }
    if let Some(timeout) = case.timeout {
        merged.timeout = timeout;
    }
    merged
}

/// The message a case publishes, collected within the case's connection timeout.
fn case_probe(case: &Case, timeout: Duration) -> Probe {
    Probe {
        subject: case.subject.clone(),
        payload: case.payload.clone(),
        headers: case.headers.clone(),
        deliver: case.deliver,
        compression: Default::default(),
        timeout,
        context: None,
    }
}

/// One case traced and judged: what `check` prints and `probe` measures.
pub(crate) struct CaseTrace {
    pub status: CaseStatus,
    /// The route, when the case could trace (also when publishing was refused).
    pub report: Option<TraceReport>,
    /// Why the case did not pass, as a metric label: `connect`, `publish_denied`,
    /// `incomplete`, `expectations`, `error`; `None` when it passed.
    pub reason: Option<&'static str>,
    pub elapsed: Duration,
}

/// Traces one case through [`trace_live`] and judges it.
pub(crate) async fn trace_case(
    connection: &ConnectionOptions,
    case: &Case,
    log: &Verbose,
) -> CaseTrace {
    let started = Instant::now();
    let connection = case_connection(connection, case);
    let probe = case_probe(case, connection.timeout);
    log.say(format_args!(
        "case {:?}: tracing {}",
        case.name, case.subject
    ));
    let (status, report, reason) = match trace_live(&connection, &probe, log).await {
        Err(error) => {
            let reason = match error {
                Error::Connect(_) => "connect",
                Error::Permission(_) => "publish_denied",
                Error::NothingArrived(_) => "timeout",
                _ => "error",
            };
            (CaseStatus::Error(error.to_string()), None, Some(reason))
        }
        Ok(live) => {
            let status = judge(case, &live);
            let reason = reason_of(&status, &live);
            (status, Some(live.report), reason)
        }
    };
    CaseTrace {
        status,
        report,
        reason,
        elapsed: started.elapsed().max(Duration::from_nanos(1)),
    }
}

/// The metric label of a judged case's status.
fn reason_of(status: &CaseStatus, live: &LiveTrace) -> Option<&'static str> {
    match status {
        CaseStatus::Pass => None,
        CaseStatus::Fail(_) => Some("expectations"),
        CaseStatus::Incomplete(_) => Some("incomplete"),
        CaseStatus::Error(_) if live.publish_denied.is_some() => Some("publish_denied"),
        CaseStatus::Error(_) => Some("error"),
    }
}

/// `explain = true`: the explanations of a case that did not pass, after its tree and in
/// its line, asked through the case's own connection.
async fn explain_case(
    connection: &ConnectionOptions,
    report: &TraceReport,
    status: &mut CaseStatus,
    tree: &mut String,
    log: &Verbose,
) {
    let access = crate::network::Access::default();
    let explanations = crate::explain::explain_report(connection, &access, report, log).await;
    let lines = explanations.case_lines();
    for line in &lines {
        tree.push_str(&format!("explanation: {line}\n"));
    }
    match status {
        CaseStatus::Fail(failures) => failures.extend(lines),
        CaseStatus::Incomplete(why) if !lines.is_empty() => {
            why.push_str(&format!("; {}", lines.join("; ")));
        }
        _ => {}
    }
}

/// How a case that ran ended: an error when publishing was refused, incomplete when a
/// server's trace is missing, else pass or fail by its expectations.
fn judge(case: &Case, live: &LiveTrace) -> CaseStatus {
    if let Some(why) = &live.publish_denied {
        return CaseStatus::Error(why.clone());
    }
    if !live.report.complete {
        let summary = live.report.graph.missing_summary();
        return CaseStatus::Incomplete(
            summary.unwrap_or_else(|| "the trace is incomplete".to_string()),
        );
    }
    let failures = expect::evaluate_all(&case.expectations, &live.report);
    if failures.is_empty() {
        CaseStatus::Pass
    } else {
        CaseStatus::Fail(failures.iter().map(ToString::to_string).collect())
    }
}

/// The tree of a report, without colors, for JUnit's system-out and JSON results.
pub(crate) fn plain_tree(report: &TraceReport) -> String {
    let mut out = Vec::new();
    match TreeRenderer::new(RenderOptions::default()).render(report, &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("(the tree could not be rendered: {e})"),
    }
}
