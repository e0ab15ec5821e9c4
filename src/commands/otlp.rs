//! The OpenTelemetry steps the commands share: the renderer of the chosen format (the
//! `otlp` one with the `--otlp-header` names), and the export of one report
//! for `trace` and `render` (made before the output is written, sent after it;
//! a failure is one warning line and changes neither output nor exit code).

use crate::commands::{color_enabled, print_warning};
use crate::export::{OtlpSettings, PendingExport};
use crate::render::{Format, OtlpRenderer, RenderOptions, Renderer, TraceReport};
use crate::settings::OutputOptions;
use crate::verbose::Verbose;

/// The renderer of `output`'s format.
pub(crate) fn renderer(output: &OutputOptions, span_headers: &[String]) -> Box<dyn Renderer> {
    match output.format {
        Format::Otlp => Box::new(OtlpRenderer::from_env().with_span_headers(span_headers.to_vec())),
        format => format.renderer(RenderOptions {
            timestamps: output.timestamps,
            color: color_enabled(output.color),
        }),
    }
}

/// Starts exporting `report` when an endpoint is set; `-v` names the trace-id.
pub(crate) fn start(
    otlp: &OtlpSettings,
    report: &TraceReport,
    log: &Verbose,
) -> Option<PendingExport> {
    log.say(format_args!(
        "OpenTelemetry trace-id {}",
        report.otel_trace_id_hex()
    ));
    let settings = otlp.export.as_ref()?;
    log.say(format_args!(
        "exporting {} span(s) to {}",
        report.graph.graph.node_count(),
        settings.display_endpoint()
    ));
    Some(PendingExport::start(settings, report, &otlp.span_headers))
}

/// Sends the export (bounded by its timeout): one warning line when it failed.
pub(crate) fn finish(export: Option<PendingExport>, log: &Verbose) {
    match export.map(PendingExport::send) {
        Some(Err(why)) => print_warning(&why),
        Some(Ok(())) => log.say(format_args!("spans exported")),
        None => {}
    }
}
