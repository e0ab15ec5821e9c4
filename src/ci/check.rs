//! `nats-trace check SUITE`: runs every case of a suite (several at once with `--parallel`),
//! judges each trace against its expectations, prints a line per case and a summary (or the
//! results as JSON), writes JUnit XML with `--junit`, and picks the exit code: 2 when a case
//! could not run, else 3 when a trace was incomplete, else 1 when an expectation failed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::ci::expect;
use crate::ci::junit::{self, CaseResult, CaseStatus};
use crate::ci::suite::{Case, Suite};
use crate::connect::options::{ConnectionOptions, ContextChoice};
use crate::error::{Error, Outcome};
use crate::render::{Format, RenderOptions, Renderer, TraceReport, TreeRenderer};
use crate::trace::collect::Probe;
use crate::trace::live::{LiveTrace, trace_live};
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
    let human = format != Format::Json;
    let started = Instant::now();
    let results = run_cases(connection, &suite, check.parallel, log, human, out).await?;
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
    summary.outcome()
}

/// Runs the cases, `parallel` at once, printing each case's line as it ends when `human`;
/// the results are in suite order.
async fn run_cases(
    connection: &ConnectionOptions,
    suite: &Suite,
    parallel: usize,
    log: &Verbose,
    human: bool,
    out: &mut dyn Write,
) -> Result<Vec<CaseResult>, Error> {
    let mut results = Vec::with_capacity(suite.cases.len());
    let mut running = futures_util::stream::iter(suite.cases.iter())
        .map(|case| run_case(connection, case, log))
        .buffered(parallel.max(1));
    while let Some(result) = running.next().await {
        if human {
            writeln!(out, "{}", case_line(&result))?;
            out.flush()?;
        }
        results.push(result);
    }
    Ok(results)
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

async fn run_case(connection: &ConnectionOptions, case: &Case, log: &Verbose) -> CaseResult {
    let started = Instant::now();
    let connection = case_connection(connection, case);
    let probe = case_probe(case, connection.timeout);
    log.say(format_args!(
        "case {:?}: tracing {}",
        case.name, case.subject
    ));
    let (mut status, mut tree, report) = match trace_live(&connection, &probe, log).await {
        Err(error) => (CaseStatus::Error(error.to_string()), String::new(), None),
        Ok(live) => (
            judge(case, &live),
            plain_tree(&live.report),
            Some(live.report),
        ),
    };
    if let Some(report) = report.filter(|_| case.explain)
        && !matches!(status, CaseStatus::Pass | CaseStatus::Error(_))
    {
        explain_case(&connection, &report, &mut status, &mut tree, log).await;
    }
    CaseResult {
        name: case.name.clone(),
        subject: case.subject.clone(),
        status,
        elapsed: started.elapsed().max(Duration::from_nanos(1)),
        tree,
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
fn plain_tree(report: &TraceReport) -> String {
    let mut out = Vec::new();
    match TreeRenderer::new(RenderOptions::default()).render(report, &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("(the tree could not be rendered: {e})"),
    }
}
