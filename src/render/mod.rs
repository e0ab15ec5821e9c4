//! Rendering of a stitched trace: one [`Renderer`] trait, one implementation per format
//! (`tree`, `json`, `dot`, `mermaid`, `otlp`, `html`, one file each), each given only the [`TraceReport`]
//! (the stitched graph, its analysis and what was traced; built in [`crate::trace::report`]). Renderers draw the analysis;
//! they decide nothing about the route themselves. `diagram` is the route graph both picture
//! formats draw (one walk of the graph); `style` is the one colour and arrow table per
//! connection kind every format uses.

use std::io;

mod diagram;
mod dot;
pub(crate) mod html;
mod json;
mod mermaid;
mod otlp;
pub(crate) mod stats;
mod style;
mod tree;

pub(crate) use dot::quote as dot_quote;
pub(crate) use style::Palette;
pub(crate) use style::{ERROR_COLOR, MISSING_COLOR, kind_style};

/// The renderers' input, built by the trace pipeline.
pub use crate::trace::report::TraceReport;

pub use dot::DotRenderer;
pub use html::HtmlRenderer;
pub use json::{JsonRenderer, SCHEMA_VERSION};
pub use mermaid::MermaidRenderer;
pub use otlp::OtlpRenderer;
pub use tree::TreeRenderer;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The route tree of the Go NATS CLI's `nats trace`, with legend and egress counts.
    #[default]
    Tree,
    /// One versioned JSON document (see docs/output-formats.md and `schema/trace-v1.schema.json`).
    Json,
    /// A Graphviz DOT digraph (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (for Markdown).
    Mermaid,
    /// One OTLP/JSON `ExportTraceServiceRequest` per message (see docs/otel.md).
    Otlp,
    /// One self-contained HTML page: route graph, timeline, details, counts, tree (see
    /// docs/html.md).
    Html,
}

impl Format {
    /// The renderer of this format.
    pub fn renderer(self, options: RenderOptions) -> Box<dyn Renderer> {
        match self {
            Format::Tree => Box::new(TreeRenderer::new(options)),
            Format::Json => Box::new(JsonRenderer),
            Format::Dot => Box::new(DotRenderer),
            Format::Mermaid => Box::new(MermaidRenderer),
            Format::Otlp => Box::new(OtlpRenderer::from_env()),
            Format::Html => Box::new(HtmlRenderer::default()),
        }
    }
}

/// Choices that change how a report is shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Prefix lines with relative timestamps (`-T`).
    pub timestamps: bool,
    /// Use terminal colors.
    pub color: bool,
}

/// A way to print a trace report.
pub trait Renderer {
    fn render(&self, report: &TraceReport, out: &mut dyn io::Write) -> io::Result<()>;
}
