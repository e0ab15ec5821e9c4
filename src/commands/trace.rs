//! `nats-trace trace SUBJECT`: trace one message live, print its route (and, as asked, the
//! raw trace messages and a `--save` file), and check the expectations. With
//! `--traceparent --dest` (Trace Context mode) it warns that the message is delivered, and
//! when nothing arrives it names the likely causes in one line and ends incomplete (exit 3).

use std::io::Write;

use crate::commands::{otlp, print_warning, render_report, report_expectations};
use crate::error::{Error, Outcome};
use crate::settings::{ConnectionOptions, OtlpSettings, OutputOptions, TraceSettings};
use crate::trace::capture;
use crate::trace::collect::TraceContext;
use crate::trace::live::{LiveTrace, trace_live};
use crate::verbose::Verbose;

/// Traces one message, renders its route and checks the expectations.
pub(crate) async fn run_trace(
    connection: &ConnectionOptions,
    trace: &TraceSettings,
    output: &OutputOptions,
    otlp: &OtlpSettings,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    if let Some(context) = &trace.probe.context {
        warn_trace_context(context);
    }
    if trace.count > 1 {
        return super::trace_count::run_count(connection, trace, output, log, out).await;
    }
    let live = match trace_live(connection, &trace.probe, log).await {
        Err(Error::NothingArrived(within)) if trace.probe.context.is_some() => {
            return nothing_traced(trace, &within);
        }
        result => result?,
    };
    print_warnings(&live);
    let export = otlp::start(otlp, &live.report, log);
    if trace.raw {
        write_raw(&live, out)?;
    }
    if let Some(path) = &trace.save {
        capture::save_to_file(path, &live.traces)?;
        log.say(format_args!(
            "saved {} trace message(s) to {}",
            live.traces.len(),
            path.display()
        ));
    }
    let outcome = match &trace.explain {
        Some(access) => {
            let headers = &otlp.span_headers;
            super::explain::render_explained(
                connection,
                access,
                &live.report,
                output,
                headers,
                log,
                out,
            )
            .await
        }
        None => render_report(&live.report, output, &otlp.span_headers, out),
    };
    otlp::finish(export, log);
    let outcome = outcome?;
    if let Some(why) = live.publish_denied {
        // The tree shows the refusal; the run still failed.
        return Err(Error::Permission(why));
    }
    if live.interrupted {
        return Ok(Outcome::Interrupted);
    }
    Ok(outcome.worst(report_expectations(&trace.expect, &live.report)))
}

/// Trace Context mode: the message is delivered, and an unsampled `traceparent` is not traced.
fn warn_trace_context(context: &TraceContext) {
    print_warning(
        "--traceparent: the message IS delivered to its subscribers (Trace Context tracing has no trace-only mode)",
    );
    if !context.traceparent.is_sampled() {
        print_warning(&format!(
            "traceparent {} is not sampled (flags {:02x}): servers will not trace it",
            context.traceparent, context.traceparent.flags
        ));
    }
}

/// Trace Context mode, when no trace of the message arrived: one line naming the likely
/// causes, and the run ends incomplete (exit 3), as for an ad hoc trace with a silent server.
fn nothing_traced(trace: &TraceSettings, within: &str) -> Result<Outcome, Error> {
    let dest = trace.probe.context.as_ref().map_or("", |c| c.dest.as_str());
    let dest = crate::text::sanitize(dest);
    let _ = writeln!(
        std::io::stderr().lock(),
        "nats-trace: error: no trace message arrived on {dest} within {}; likely causes: the account has no msg_trace destination, the message is not sampled (traceparent flags 00, or sampling below 100 %), the publisher may not publish to {dest}, or --dest is not the account's msg_trace destination",
        crate::text::sanitize(within),
    );
    Ok(Outcome::Incomplete)
}

/// One `warning:` line on stderr per trace message that could not be used.
fn print_warnings(live: &LiveTrace) {
    for warning in &live.warnings {
        print_warning(warning);
    }
}

/// `--raw`: every trace message as `>>> {json}`.
fn write_raw(live: &LiveTrace, out: &mut dyn Write) -> Result<(), Error> {
    for received in &live.traces {
        writeln!(out, ">>> {}", crate::text::sanitize(&received.json))?;
    }
    Ok(())
}
