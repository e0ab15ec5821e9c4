//! A traced message as the pipeline hands it on: what was traced, the stitched graph, whether
//! every expected trace arrived, and the route's analysis (computed once, when first asked).
//! Renderers draw it; `--expect` and `check` judge it.

use std::sync::OnceLock;
use std::time::Duration;

use crate::trace::analysis::Analysis;
use crate::trace::stitch::TraceGraph;
use crate::trace::traceparent::{TRACEPARENT_HEADER, TraceParent};

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
    /// The OpenTelemetry trace-id when the message carried no `traceparent`: derived once.
    otel_trace_id: OnceLock<[u8; 16]>,
    /// The OpenTelemetry span id of each graph node: random, chosen once.
    otel_span_ids: OnceLock<Vec<[u8; 8]>>,
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
            otel_trace_id: OnceLock::new(),
            otel_span_ids: OnceLock::new(),
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

    /// The W3C `traceparent` the message carried: the report's (as `listen` groups by it),
    /// else the origin server's copy of the request headers.
    pub fn trace_context(&self) -> Option<TraceParent> {
        let from_origin = || {
            self.graph
                .node(self.graph.root)
                .trace
                .as_ref()
                .and_then(|t| t.request.header_value(TRACEPARENT_HEADER))
        };
        self.traceparent
            .as_deref()
            .or_else(from_origin)
            .and_then(|text| TraceParent::parse(text).ok())
    }

    /// The OpenTelemetry trace-id of this message's spans (`otel_trace_id` in JSON): its
    /// `traceparent`'s trace-id, else a 128-bit hash of the trace itself (computed once), so
    /// a live trace and its `--save` file rendered later name the same trace.
    pub fn otel_trace_id(&self) -> [u8; 16] {
        if let Some(context) = self.trace_context() {
            return context.trace_id;
        }
        *self
            .otel_trace_id
            .get_or_init(|| derived_trace_id(&self.graph))
    }

    /// One random, non-zero OpenTelemetry span id per graph node (in node order), chosen
    /// once: `--format otlp` and the export of one report name the same spans. Fails only
    /// when the system has no randomness.
    pub fn otel_span_ids(&self) -> Result<&[[u8; 8]], getrandom::Error> {
        if let Some(ids) = self.otel_span_ids.get() {
            return Ok(ids);
        }
        let ids = random_span_ids(self.graph.graph.node_count())?;
        Ok(self.otel_span_ids.get_or_init(|| ids))
    }

    /// [`TraceReport::otel_trace_id`] in lower-case hex.
    pub fn otel_trace_id_hex(&self) -> String {
        self.otel_trace_id()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A 128-bit FNV-1a hash of what identifies the trace (each server's name and id, and its
/// ingress time, subject and connection id), never all zeros: distinct messages differ at
/// least in their origin's ingress time.
fn derived_trace_id(graph: &TraceGraph) -> [u8; 16] {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes.iter().chain([&0xff]) {
            hash ^= u128::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for ix in graph.nodes() {
        let node = graph.node(ix);
        feed(node.server_name().as_bytes());
        if let Some(trace) = &node.trace {
            feed(trace.server.id.as_bytes());
            if let Some(ingress) = trace.ingress() {
                feed(ingress.ts.raw.as_bytes());
                feed(ingress.subject.as_bytes());
                feed(&ingress.cid.to_le_bytes());
            }
        }
    }
    if hash == 0 {
        hash = 1;
    }
    hash.to_be_bytes()
}

/// `count` random, non-zero span ids from one read of the system's randomness.
fn random_span_ids(count: usize) -> Result<Vec<[u8; 8]>, getrandom::Error> {
    let mut bytes = vec![0u8; count * 8];
    getrandom::fill(&mut bytes)?;
    let mut ids: Vec<[u8; 8]> = bytes
        .chunks_exact(8)
        .map(|c| {
            let mut id = [0u8; 8];
            id.copy_from_slice(c);
            id
        })
        .collect();
    for id in &mut ids {
        while *id == [0; 8] {
            getrandom::fill(id)?;
        }
    }
    Ok(ids)
}
