//! Rendering of a stitched trace: one [`Renderer`] trait, one implementation per format
//! (`tree`, `json`, `dot`, `mermaid`, one file each), each given only the [`TraceReport`]
//! (the stitched graph, its [`Analysis`] and what was traced). Renderers draw the analysis;
//! they decide nothing about the route themselves. `diagram` is the route graph both picture
//! formats draw (one walk of the graph); `style` is the one colour and arrow table per
//! connection kind every format uses.

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use crate::trace::analysis::Analysis;
use crate::trace::stitch::TraceGraph;

mod diagram;
mod dot;
mod json;
mod mermaid;
mod style;
mod tree;

pub(crate) use style::Palette;

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

/// Everything a renderer may show: the stitched graph, what it means and what was traced.
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
    /// What the route means, computed once from `graph` when first asked for.
    analysis: OnceLock<Analysis>,
}

impl TraceReport {
    /// A report of a live trace. [`TraceReport::analysis`] analyses the graph once, when
    /// first asked (the tree asks per server as it draws and does not need the whole
    /// trace's lists).
    pub fn new(
        subject: String,
        deliver: bool,
        graph: TraceGraph,
        elapsed: Option<Duration>,
        complete: bool,
    ) -> TraceReport {
        TraceReport {
            subject,
            deliver,
            graph,
            elapsed,
            complete,
            analysis: OnceLock::new(),
        }
    }

    /// A report for traces rendered offline: the subject is the origin's ingress subject;
    /// `complete` is the graph's own view (no server missing).
    pub fn from_graph(graph: TraceGraph) -> TraceReport {
        let root = graph.node(graph.root);
        let subject = root
            .trace
            .as_ref()
            .and_then(|t| t.ingress())
            .map(|i| i.subject.to_string())
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
        TraceReport::new(subject, deliver, graph, None, complete)
    }

    /// What the route means: delivered, no interest, account boundaries, JetStream actions,
    /// missing servers and errors.
    pub fn analysis(&self) -> &Analysis {
        self.analysis.get_or_init(|| Analysis::of(&self.graph))
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
