//! Which traced messages `listen` shows: `--subject PATTERN` (the origin's subject, NATS
//! wildcards), `--account NAME` (an account the message was in on some server), `--via
//! SERVER` (a server on its path), `--only-errors`, `--only-incomplete`, `--min-latency`.
//! All given filters must hold. The summary and `--count` count only what passes.

use std::time::Duration;

use crate::subject::subject_matches;
use crate::trace::event::Event;
use crate::trace::report::TraceReport;
use crate::trace::stitch::TraceGraph;

/// The filters; the default passes everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub subject: Option<String>,
    pub account: Option<String>,
    pub via: Option<String>,
    pub only_errors: bool,
    pub only_incomplete: bool,
    pub min_latency: Option<Duration>,
}

impl Filters {
    /// Whether `report` is shown.
    pub fn pass(&self, report: &TraceReport) -> bool {
        let graph = &report.graph;
        self.subject
            .as_deref()
            .is_none_or(|p| subject_matches(p, &report.subject))
            && (!self.only_errors || graph.error_count() > 0)
            && (!self.only_incomplete || !report.complete)
            && self.account.as_deref().is_none_or(|a| in_account(graph, a))
            && self.via.as_deref().is_none_or(|s| through_server(graph, s))
            && self.min_latency.is_none_or(|min| {
                latency_nanos(graph)
                    .is_some_and(|l| l >= i128::try_from(min.as_nanos()).unwrap_or(i128::MAX))
            })
    }
}

/// Whether the message was in `account` on some server (an ingress or an account crossing).
fn in_account(graph: &TraceGraph, account: &str) -> bool {
    graph.nodes().any(|ix| {
        graph.node(ix).events().iter().any(|event| match event {
            Event::Ingress(i) => i.account == account,
            Event::ServiceImport(s) => s.account == account,
            Event::StreamExport(s) => s.account == account,
            _ => false,
        })
    })
}

/// Whether server `name` reported a trace for the message.
fn through_server(graph: &TraceGraph, name: &str) -> bool {
    graph.nodes().any(|ix| {
        graph
            .node(ix)
            .trace
            .as_ref()
            .is_some_and(|t| t.server.name == name)
    })
}

/// The largest time from the origin's ingress to any egress or JetStream event, as the JSON
/// `timing.latency_ns` and `--expect latency` measure it.
pub fn latency_nanos(graph: &TraceGraph) -> Option<i128> {
    let origin = graph.origin_time()?;
    graph
        .nodes()
        .flat_map(|ix| graph.node(ix).events().iter())
        .filter(|e| matches!(e, Event::Egress(_) | Event::JetStream(_)))
        .filter_map(|e| e.timestamp()?.since(&origin))
        .max()
}
