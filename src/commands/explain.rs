//! `--explain` for `trace`: the route as usual, then its explanations — an `Explanation`
//! section after the tree, an `explanations` array in the JSON document, stderr lines for the
//! picture formats. Endpoints that cannot be reached give one warning line; the trace is
//! printed whatever happens. A trace without findings asks nothing.

use std::io::Write;

use crate::commands::{print_warning, render_report};
use crate::error::{Error, Outcome};
use crate::explain::{self, Explanations};
use crate::network::Access;
use crate::render::{Format, TraceReport};
use crate::settings::{ConnectionOptions, OutputOptions};
use crate::verbose::Verbose;

/// Renders `report` with its explanations.
pub(crate) async fn render_explained(
    connection: &ConnectionOptions,
    access: &Access,
    report: &TraceReport,
    output: &OutputOptions,
    span_headers: &[String],
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let explanations = explain::explain_report(connection, access, report, log).await;
    for note in &explanations.notes {
        print_warning(note);
    }
    match output.format {
        Format::Json => {
            let mut rendered = Vec::new();
            let outcome = render_report(report, output, span_headers, &mut rendered)?;
            write_json_with(&rendered, &explanations, out)?;
            Ok(outcome)
        }
        Format::Tree => {
            let outcome = render_report(report, output, span_headers, out)?;
            explanations.write_tree(out)?;
            out.flush()?;
            Ok(outcome)
        }
        _ => {
            let outcome = render_report(report, output, span_headers, out)?;
            for line in explanations.case_lines() {
                print_warning(&format!("explanation: {line}"));
            }
            Ok(outcome)
        }
    }
}

/// The JSON document with an `explanations` array added as its last field (spliced in
/// before the closing brace, so the document keeps its field order).
fn write_json_with(
    rendered: &[u8],
    explanations: &Explanations,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let text = String::from_utf8_lossy(rendered);
    let body = text.trim_end();
    let Some(head) = body.strip_suffix('}') else {
        out.write_all(rendered)?;
        return Ok(());
    };
    let lines = serde_json::to_string_pretty(&explanations.lines)
        .map_err(|e| Error::Input(format!("the explanations could not be written: {e}")))?;
    let lines = lines.replace('\n', "\n  ");
    writeln!(out, "{},\n  \"explanations\": {lines}\n}}", head.trim_end())?;
    out.flush()?;
    Ok(())
}
