//! `nats-trace trace SUBJECT --count N [--interval D]`: traces the message N times through
//! [`trace_live`], adds each route to [`RouteStats`] and prints the statistics (text, or
//! JSON with `--format json`). Exit code: 2 when no attempt could trace, else 3 when a trace
//! was incomplete, else 1 when an expectation failed on some trace, else 0; Ctrl-C or
//! SIGTERM stops early and prints what was gathered (exit 130). Other formats than tree
//! and JSON are a usage error (exit 2): the statistics have no graph to draw.

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
    check_format(output.format)?;
    let mut stop = Stop::listen()?;
    let mut stats = RouteStats::new(&trace.probe.subject);
    let mut tally = Tally::default();
    gather(connection, trace, log, &mut stop, &mut stats, &mut tally).await;
    let summary = stats.summary();
    if output.format == Format::Json {
        crate::render::stats::write_json(&summary, out)?;
    } else {
        crate::render::stats::write_text(&summary, out)?;
    }
    out.flush()?;
    outcome(&summary, tally)
}

/// `--count` prints statistics, as text (`tree`, the default) or JSON; the other formats
/// draw one trace and have no statistics form.
fn check_format(format: Format) -> Result<(), Error> {
    match format {
        Format::Tree | Format::Json => Ok(()),
        other => Err(Error::Usage(format!(
            "--count prints statistics as text or JSON: give --format tree (the default) or json, not {}",
            format!("{other:?}").to_ascii_lowercase()
        ))),
    }
}

/// The `--count` traces, `--interval` apart, until all ran or a stop signal came (the
/// trace in flight then is left out).
async fn gather(
    connection: &ConnectionOptions,
    trace: &TraceSettings,
    log: &Verbose,
    stop: &mut Stop,
    stats: &mut RouteStats,
    tally: &mut Tally,
) {
    for attempt in 0..trace.count {
        let step = async {
            if attempt > 0 {
                tokio::time::sleep(trace.interval).await;
            }
            trace_once(connection, trace, log, stats, tally).await;
        };
        let stopped = tokio::select! {
            () = step => false,
            () = stop.wait() => true,
        };
        tally.interrupted |= stopped;
        if tally.interrupted {
            return;
        }
    }
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

/// Ctrl-C or SIGTERM, listened for from the start of the run so that none is missed
/// between two traces.
#[cfg(unix)]
struct Stop {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Stop {
    fn listen() -> Result<Stop, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Stop {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next stop signal.
    async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Ctrl-C.
#[cfg(not(unix))]
struct Stop;

#[cfg(not(unix))]
impl Stop {
    fn listen() -> Result<Stop, Error> {
        Ok(Stop)
    }

    /// Waits for the next Ctrl-C.
    async fn wait(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
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
