//! A traced message as the pipeline hands it on: what was traced, the stitched graph, whether
//! every expected trace arrived, and the route's analysis (computed once, when first asked).
//! Renderers draw it; `--expect` and `check` judge it.

use std::sync::OnceLock;
use std::time::Duration;

use crate::trace::analysis::Analysis;
use crate::trace::stitch::TraceGraph;

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
    /// The W3C `traceparent` the traced message carried, when `listen` grouped it by one.
    pub traceparent: Option<String>,
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
            traceparent: None,
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
