//! `nats-trace render FILE…`: trace messages saved earlier, stitched and printed with the
//! same output and exit codes as a live trace.

use std::io::Write;

use crate::commands::{otlp, print_warning, render_report, report_expectations};
use crate::error::{Error, Outcome};
use crate::settings::{OtlpSettings, OutputOptions, RenderSettings};
use crate::trace::capture;
use crate::trace::report::TraceReport;
use crate::trace::stitch::Stitcher;
use crate::verbose::Verbose;

/// Renders trace messages saved earlier and checks the expectations.
pub(crate) fn run_render(
    render: &RenderSettings,
    output: &OutputOptions,
    otlp: &OtlpSettings,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let inputs = capture::read_inputs(&render.files)?;
    for warning in &inputs.warnings {
        print_warning(warning);
    }
    let mut stitcher = Stitcher::new();
    for message in inputs.messages {
        stitcher.add(message);
    }
    let complete = stitcher.is_complete();
    let mut report = TraceReport::from_graph(stitcher.finish());
    report.complete = complete;
    let export = otlp::start(otlp, &report, log);
    let outcome = render_report(&report, output, &otlp.span_headers, out);
    otlp::finish(export, log);
    let outcome = outcome?;
    Ok(outcome.worst(report_expectations(&render.expect, &report)))
}
