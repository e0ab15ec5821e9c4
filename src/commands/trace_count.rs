//! `nats-trace trace SUBJECT --count N [--interval D]`: traces the message N times through
//! [`trace_live`], adds each route to [`RouteStats`] and prints the statistics (text, or
//! JSON with `--format json`). Exit code: 2 when no attempt could trace, else 3 when a trace
//! was incomplete, else 1 when an expectation failed on some trace, else 0; Ctrl-C stops
//! early and prints what was gathered (exit 130).

use std::io::Write;

use crate::ci::expect;
use crate::error::{Error, Outcome};
use crate::render::Format;
use crate::settings::{ConnectionOptions, OutputOptions, TraceSettings};
use crate::trace::live::trace_live;
use crate::trace::route::Route;
use crate::trace::stats::RouteStats;
use crate::verbose::Verbose;

/// How a `--count` run went, beyond the statistics.
#[derive(Debug, Default)]
struct Tally {
    expectation_failed: bool,
    interrupted: bool,
    last_error: Option<Error>,
}

/// Traces `trace.count` times and prints the statistics.
pub(crate) async fn run_count(
    connection: &ConnectionOptions,
    trace: &TraceSettings,
    output: &OutputOptions,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let mut stats = RouteStats::new(&trace.probe.subject);
    let mut tally = Tally::default();
    for attempt in 0..trace.count {
        if attempt > 0 && pause(trace.interval).await {
            tally.interrupted = true;
            break;
        }
        trace_once(connection, trace, log, &mut stats, &mut tally).await;
        if tally.interrupted {
            break;
        }
    }
    let summary = stats.summary();
    if output.format == Format::Json {
        crate::render::stats::write_json(&summary, out)?;
    } else {
        crate::render::stats::write_text(&summary, out)?;
    }
    out.flush()?;
    outcome(&summary, tally)
}

/// One trace, added to `stats`; a failed attempt is counted and said on stderr.
async fn trace_once(
    connection: &ConnectionOptions,
    trace: &TraceSettings,
    log: &Verbose,
    stats: &mut RouteStats,
    tally: &mut Tally,
) {
    match trace_live(connection, &trace.probe, log).await {
        Ok(live) if live.publish_denied.is_none() => {
            tally.interrupted |= live.interrupted;
            stats.add(&Route::of(&live.report), live.report.complete);
            if !expect::evaluate_all(&trace.expect, &live.report).is_empty() {
                tally.expectation_failed = true;
            }
        }
        Ok(live) => {
            stats.add_failure();
            let why = live.publish_denied.unwrap_or_default();
            super::print_warning(&format!("trace {}: {why}", stats.attempts()));
            tally.last_error = Some(Error::Permission(why));
        }
        Err(error) => {
            stats.add_failure();
            super::print_warning(&format!("trace {}: {error}", stats.attempts()));
            tally.last_error = Some(error);
        }
    }
}

/// Waits `interval`; true when Ctrl-C came first.
async fn pause(interval: std::time::Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(interval) => false,
        _ = tokio::signal::ctrl_c() => true,
    }
}

/// The exit outcome: no trace at all is the last error; then interrupted, incomplete,
/// failed expectations.
fn outcome(summary: &crate::trace::stats::StatsSummary, tally: Tally) -> Result<Outcome, Error> {
    if summary.complete + summary.incomplete == 0 {
        if let Some(error) = tally.last_error {
            return Err(error);
        }
    }
    Ok(if tally.interrupted {
        Outcome::Interrupted
    } else if summary.incomplete > 0 || summary.failed > 0 {
        Outcome::Incomplete
    } else if tally.expectation_failed {
        Outcome::ExpectationFailed
    } else {
        Outcome::Complete
    })
}
