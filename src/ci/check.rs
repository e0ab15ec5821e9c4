//! `nats-trace check SUITE`: runs every case of a suite (several at once with `--parallel`),
//! judges each trace against its expectations, prints a line per case and a summary (or the
//! results as JSON), writes JUnit XML with `--junit`, and picks the exit code: 2 when a case
//! could not run, else 3 when a trace was incomplete, else 1 when an expectation failed.

use std::io::Write;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::ci::expect;
use crate::ci::junit::{self, CaseResult, CaseStatus};
use crate::ci::suite::{Case, Suite};
use crate::cli::{CheckArgs, ConnectionArgs, OutputArgs};
use crate::commands::trace_live;
use crate::error::{Error, Outcome};
use crate::render::{Format, RenderOptions, Renderer, TraceReport, TreeRenderer};
use crate::trace::collect::Probe;
use crate::verbose::Verbose;

/// The version of the `check --format json` document.
pub(crate) const CHECK_SCHEMA_VERSION: u32 = 1;

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

/// Runs a suite file.
pub(crate) async fn run_check(
    connection: &ConnectionArgs,
    check: &CheckArgs,
    output: &OutputArgs,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let suite = Suite::load(&check.suite).map_err(Error::Usage)?;
    let log = Verbose::new(connection.verbose);
    let human = output.format() != Format::Json;
    let started = Instant::now();
    let mut results = Vec::with_capacity(suite.cases.len());
    let mut running = futures_util::stream::iter(suite.cases.iter())
        .map(|case| run_case(connection, case, &log))
        .buffered(usize::from(check.parallel));
    while let Some(result) = running.next().await {
        if human {
            writeln!(out, "{}", case_line(&result))?;
            out.flush()?;
        }
        results.push(result);
    }
    let summary = Summary::of(&results);
    if human {
        writeln!(
            out,
            "\n{} case(s) in {:.1?}: {} passed, {} failed, {} incomplete, {} error(s)",
            summary.cases,
            started.elapsed(),
            summary.passed,
            summary.failed,
            summary.incomplete,
            summary.errors
        )?;
    } else {
        let document = CheckDocument {
            schema: CHECK_SCHEMA_VERSION,
            suite: check.suite.display().to_string(),
            summary,
            cases: &results,
        };
        serde_json::to_writer_pretty(&mut *out, &document).map_err(std::io::Error::other)?;
        writeln!(out)?;
    }
    out.flush()?;
    if let Some(path) = &check.junit {
        let name = check
            .suite
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "nats-trace".to_string());
        std::fs::write(path, junit::to_xml(&name, &results)).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot write {}: {e}", path.display()),
            ))
        })?;
    }
    summary.outcome()
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
fn case_connection(connection: &ConnectionArgs, case: &Case) -> ConnectionArgs {
    let mut merged = connection.clone();
    if let Some(server) = &case.server {
        merged.server = Some(server.clone());
    }
    if let Some(context) = &case.context {
        merged.context = Some(context.clone());
        merged.no_context = false;
    }
    if let Some(timeout) = case.timeout {
        merged.timeout = timeout;
    }
    merged
}

async fn run_case(connection: &ConnectionArgs, case: &Case, log: &Verbose) -> CaseResult {
    let started = Instant::now();
    let connection = case_connection(connection, case);
    let probe = Probe {
        subject: case.subject.clone(),
        payload: case.payload.clone(),
        headers: case.headers.clone(),
        deliver: case.deliver,
        compression: Default::default(),
        timeout: connection.timeout,
    };
    log.say(format_args!(
        "case {:?}: tracing {}",
        case.name, case.subject
    ));
    let (status, tree) = match trace_live(&connection, &probe, log).await {
        Err(error) => (CaseStatus::Error(error.to_string()), String::new()),
        Ok(live) => {
            let tree = plain_tree(&live.report);
            let status = if let Some(why) = live.publish_denied {
                CaseStatus::Error(why)
            } else if !live.report.complete {
                let missing: Vec<String> = live
                    .report
                    .graph
                    .missing()
                    .map(|n| format!("hop {} {:?}", n.hop, n.server_name()))
                    .collect();
                CaseStatus::Incomplete(format!(
                    "{} server trace(s) did not arrive: {}",
                    missing.len(),
                    missing.join(", ")
                ))
            } else {
                let failures = expect::evaluate_all(&case.expectations, &live.report);
                if failures.is_empty() {
                    CaseStatus::Pass
                } else {
                    CaseStatus::Fail(failures.iter().map(ToString::to_string).collect())
                }
            };
            (status, tree)
        }
    };
    CaseResult {
        name: case.name.clone(),
        subject: case.subject.clone(),
        status,
        elapsed: started.elapsed().max(Duration::from_nanos(1)),
        tree,
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
