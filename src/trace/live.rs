//! The one live-trace entry point: connect, publish the probe, collect its trace messages
//! and stitch them into a report, ad hoc (`Nats-Trace-Dest`) or in Trace Context mode (a
//! `traceparent`, collected from the account's destination; see [`collect::TraceContext`]).
//! `trace` (also `--count` and `demo`'s traces), `check`, `probe` (through `check`'s case
//! runner) and `topology --trace` all trace through [`trace_live`], never through a copy of
//! it.

use crate::connect;
use crate::connect::options::ConnectionOptions;
use crate::error::Error;
use crate::subject::validate_publish_subject;
use crate::trace::collect::{self, Probe};
use crate::trace::report::TraceReport;
use crate::verbose::Verbose;

/// A live trace, collected and stitched: what `trace` prints and `check` judges.
pub struct LiveTrace {
    pub report: TraceReport,
    /// The trace messages of the chosen attempt, decompressed.
    pub traces: Vec<collect::ReceivedTrace>,
    /// Messages that could not be used, one line each.
    pub warnings: Vec<String>,
    /// Set when the server refused to let the message be published.
    pub publish_denied: Option<String>,
    /// Set when Ctrl-C ended the collection early.
    pub interrupted: bool,
    /// For a delivered message: what its warm-ups cost.
    pub warmup: Option<collect::WarmUp>,
}

/// Connects as `connection` says, publishes `probe` and collects and stitches its traces.
pub async fn trace_live(
    connection: &ConnectionOptions,
    probe: &Probe,
    log: &Verbose,
) -> Result<LiveTrace, Error> {
    validate_publish_subject(&probe.subject)?;
    if let Some(context) = &probe.context {
        validate_publish_subject(&context.dest)?;
    }
    let mut conn = connect::connect(connection, log).await?;
    let info = conn.client.server_info();
    log.say(format_args!(
        "connected to {} (server {} version {})",
        conn.display_url, info.server_name, info.version
    ));
    let collected = collect::collect(&mut conn, probe, log).await?;
    let complete = collected.is_complete();
    Ok(LiveTrace {
        report: TraceReport::new(
            probe.subject.clone(),
            probe.delivers(),
            collected.stitcher.finish(),
            Some(collected.elapsed),
            complete,
        ),
        traces: collected.traces,
        warnings: collected.warnings,
        publish_denied: collected.publish_denied,
        interrupted: collected.interrupted,
        warmup: collected.warmup,
    })
}
