//! Rendering of a stitched trace: one [`Renderer`] trait, one implementation per format
//! (`tree`, `json`, `dot`, `mermaid`, one file each), each given only the [`TraceReport`]
//! (the stitched graph and what was traced). `diagram` is the route graph both picture
//! formats draw.

use std::io;
use std::time::Duration;

use crate::trace::event::ConnKind;
use crate::trace::stitch::TraceGraph;

mod diagram;
mod dot;
mod json;
mod mermaid;
mod tree;

pub use dot::DotRenderer;
pub use json::{JsonRenderer, SCHEMA_VERSION};
pub use mermaid::MermaidRenderer;
pub use tree::TreeRenderer;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The route tree of the Go NATS CLI's `nats trace`, with legend and egress counts.
    #[default]
    Tree,
    /// One versioned JSON document (see the README and `schema/trace-v1.schema.json`).
    Json,
    /// A Graphviz DOT digraph (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (for Markdown).
    Mermaid,
}

impl Format {
    /// The renderer of this format.
    pub fn renderer(self, options: RenderOptions) -> Box<dyn Renderer> {
        match self {
            Format::Tree => Box::new(TreeRenderer::new(options)),
            Format::Json => Box::new(JsonRenderer),
            Format::Dot => Box::new(DotRenderer),
            Format::Mermaid => Box::new(MermaidRenderer),
        }
    }
}

/// Everything a renderer may show: the stitched graph and what was traced.
#[derive(Debug, Clone)]
pub struct TraceReport {
    /// The subject the message was published to.
    pub subject: String,
    /// Whether the message was delivered (not trace-only).
    pub deliver: bool,
    pub graph: TraceGraph,
    /// Time from publishing to the end of collection, for live traces.
    pub elapsed: Option<Duration>,
    /// Every expected server trace arrived (the collector's verdict, which decides exit 3).
    pub complete: bool,
}

impl TraceReport {
    /// A report for traces rendered offline: the subject is the origin's ingress subject;
    /// `complete` is the graph's own view (no server missing).
    pub fn from_graph(graph: TraceGraph) -> TraceReport {
        let root = graph.node(graph.root);
        let subject = root
            .trace
            .as_ref()
            .and_then(|t| t.ingress())
            .map(|i| i.subject.clone())
            .unwrap_or_default();
        let deliver = root
            .trace
            .as_ref()
            .and_then(|t| {
                t.request
                    .header_value(crate::trace::event::TRACE_ONLY_HEADER)
            })
            .is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "on"));
        let complete = graph.is_complete();
        TraceReport {
            subject: subject.to_string(),
            deliver,
            graph,
            elapsed: None,
            complete,
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

/// Terminal colors, applied only when enabled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    pub enabled: bool,
}

impl Palette {
    fn paint(self, text: &str, style: owo_colors::Style) -> String {
        if self.enabled && !text.is_empty() {
            use owo_colors::OwoColorize;
            text.style(style).to_string()
        } else {
            text.to_string()
        }
    }

    pub(crate) fn kind(self, kind: ConnKind, text: &str) -> String {
        let style = owo_colors::Style::new();
        let style = match kind {
            ConnKind::Client => style.green(),
            ConnKind::Router => style.cyan(),
            ConnKind::Gateway => style.magenta(),
            ConnKind::Leafnode => style.blue(),
            ConnKind::JetStream => style.yellow(),
            _ => style,
        };
        self.paint(text, style)
    }

    pub(crate) fn error(self, text: &str) -> String {
        self.paint(text, owo_colors::Style::new().red().bold())
    }

    pub(crate) fn warning(self, text: &str) -> String {
        self.paint(text, owo_colors::Style::new().yellow().bold())
    }
}
