//! `nats-trace trace SUBJECT`: trace one message live, print its route (and, as asked, the
//! raw trace messages and a `--save` file), and check the expectations.

use std::io::Write;

use crate::commands::{print_warning, render_report, report_expectations};
use crate::error::{Error, Outcome};
use crate::settings::{ConnectionOptions, OutputOptions, TraceSettings};
use crate::trace::capture;
use crate::trace::live::{LiveTrace, trace_live};
use crate::verbose::Verbose;

/// Traces one message, renders its route and checks the expectations.
pub(crate) async fn run_trace(
    connection: &ConnectionOptions,
    trace: &TraceSettings,
    output: &OutputOptions,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let live = trace_live(connection, &trace.probe, log).await?;
    print_warnings(&live);
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
    let outcome = render_report(&live.report, output, out)?;
    if let Some(why) = live.publish_denied {
        // The tree shows the refusal; the run still failed.
        return Err(Error::Permission(why));
    }
    if live.interrupted {
        return Ok(Outcome::Interrupted);
    }
    Ok(outcome.worst(report_expectations(&trace.expect, &live.report)))
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
