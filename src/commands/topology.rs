//! `nats-trace topology`: discover the network through the system account or `--monitor`
//! URLs and draw it (tree, JSON, DOT, Mermaid); with `--trace SUBJECT` (a live trace) or
//! `--file FILE` (a saved one), the path the message took on it. A network that could only
//! be partly discovered is still drawn, its problems listed; nothing discovered at all is an
//! error.

use std::io::Write;

use crate::commands::{color_enabled, print_warning};
use crate::error::{Error, Outcome};
use crate::network::path::TracePath;
use crate::network::render::View;
use crate::network::{self, TopologySettings};
use crate::render::Format;
use crate::settings::{ConnectionOptions, OutputOptions};
use crate::trace::capture;
use crate::trace::live::trace_live;
use crate::trace::report::TraceReport;
use crate::trace::stitch::Stitcher;
use crate::verbose::Verbose;

/// Discovers the network, places the trace on it when asked, and draws it.
pub(crate) async fn run_topology(
    connection: &ConnectionOptions,
    settings: &TopologySettings,
    output: &OutputOptions,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    if output.format == Format::Otlp {
        return Err(Error::Usage(
            "topology draws as tree, json, dot or mermaid, not otlp".to_string(),
        ));
    }
    let report = trace_to_draw(connection, settings, log).await?;
    let mut monitor = network::open(connection, &settings.access, log).await?;
    let network = network::discover(&mut monitor, settings.accounts).await;
    if network.servers.is_empty() {
        let why = network.problems.first().cloned().unwrap_or_default();
        return Err(Error::Connect(crate::text::sanitize(&format!(
            "no server described the network: {why}"
        ))));
    }
    for problem in &network.problems {
        print_warning(problem);
    }
    let path = report.as_ref().map(TracePath::of);
    let view = View {
        network: &network,
        path: path.as_ref(),
        color: color_enabled(output.color),
    };
    draw(&view, output.format, out)?;
    out.flush()?;
    Ok(match &report {
        Some(report) if !report.complete => Outcome::Incomplete,
        _ => Outcome::Complete,
    })
}

/// The trace whose path to draw: traced live, read from a file, or none.
async fn trace_to_draw(
    connection: &ConnectionOptions,
    settings: &TopologySettings,
    log: &Verbose,
) -> Result<Option<TraceReport>, Error> {
    if let Some(probe) = &settings.trace {
        let live = trace_live(connection, probe, log).await?;
        return Ok(Some(live.report));
    }
    let Some(file) = &settings.file else {
        return Ok(None);
    };
    let inputs = capture::read_inputs(std::slice::from_ref(file))?;
    for warning in &inputs.warnings {
        print_warning(warning);
    }
    let mut stitcher = Stitcher::new();
    for message in inputs.messages {
        stitcher.add(message);
    }
    Ok(Some(TraceReport::from_graph(stitcher.finish())))
}

/// Draws the network in `format`.
fn draw(view: &View<'_>, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Json => network::render::write_json(view, out),
        Format::Dot => network::picture::write_dot(view, out),
        Format::Mermaid => network::picture::write_mermaid(view, out),
        _ => network::render::write_tree(view, out),
    }
}
