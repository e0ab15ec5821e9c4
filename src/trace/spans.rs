//! The OpenTelemetry span model of a traced message (see `docs/otel.md`): one span per server
//! visit, from its ingress to its last event, child of the span of the server that forwarded
//! the message to it (the stitched graph's parent, found by `Nats-Trace-Hop`). Deliveries to
//! clients, forwards, JetStream stores, subject mappings, service imports and stream exports
//! are span events. A server whose trace never arrived is a placeholder span with
//! `nats.missing = true`. This module builds the model; `render::otlp` writes it.

use crate::trace::analysis::Analysis;
use crate::trace::event::{
    ConnKind, Egress, Event, JetStream, ServiceImport, StreamExport, SubjectMapping, TraceMessage,
};
use crate::trace::redact::Redactor;
use crate::trace::report::TraceReport;
use crate::trace::stitch::{NodeIndex, ServerNode, TraceGraph};
use crate::trace::traceparent::TRACEPARENT_HEADER;

/// OTLP span kind SERVER: a server handles the message it received on a connection.
pub const SPAN_KIND_SERVER: i32 = 2;

/// An attribute value (the OTLP `AnyValue` kinds this model uses).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// One `key = value` attribute.
pub type Attribute = (String, AttrValue);

/// A span event: something that happened on a server during its visit.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub name: &'static str,
    /// Unix nanoseconds (the span's start when the event has no usable time).
    pub time: i64,
    pub attributes: Vec<Attribute>,
}

/// One server visit.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The graph node this span stands for.
    pub node: NodeIndex,
    pub span_id: [u8; 8],
    /// The forwarding server's span; for the origin the application's span (from its
    /// `traceparent`) or none.
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub start: i64,
    pub end: i64,
    pub attributes: Vec<Attribute>,
    pub events: Vec<SpanEvent>,
    /// `Some(text)`: status ERROR with the server's error text.
    pub error: Option<String>,
}

/// Every span of one traced message, in one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanModel {
    pub trace_id: [u8; 16],
    /// The spans in graph node order (the origin first).
    pub spans: Vec<Span>,
}

impl SpanModel {
    /// Builds the spans of `report`: with a `traceparent` (the report's, else the origin's
    /// request header) its trace-id, the origin hanging under its parent-id; otherwise the
    /// report's own trace-id ([`TraceReport::otel_trace_id`]). Only the default allow-listed
    /// headers become attributes. Fails only when the system has no randomness.
    pub fn of(report: &TraceReport) -> Result<SpanModel, getrandom::Error> {
        SpanModel::with_headers(report, &[])
    }

    /// As [`SpanModel::of`], with `extra_headers` (`--otlp-header`, case-insensitive) allowed
    /// as attributes too; sensitive values stay masked. The span ids are the report's
    /// ([`TraceReport::otel_span_ids`]), so every model of one report names the same spans.
    pub fn with_headers(
        report: &TraceReport,
        extra_headers: &[String],
    ) -> Result<SpanModel, getrandom::Error> {
        let graph = &report.graph;
        let trace_id = report.otel_trace_id();
        let origin_parent = report.trace_context().map(|tp| tp.parent_id);
        let ids = report.otel_span_ids()?;
        let builder = Builder {
            graph,
            analysis: report.analysis(),
            redactor: &Redactor::new(false, &[]),
            extra_headers,
        };
        let mut spans = Vec::with_capacity(ids.len());
        for (ix, span_id) in graph.nodes().zip(ids.iter().copied()) {
            let parent_span_id = match graph.parent(ix) {
                Some((parent, _)) => ids.get(parent.index()).copied(),
                None if ix == graph.root => origin_parent,
                None => None,
            };
            spans.push(builder.span(ix, span_id, parent_span_id));
        }
        Ok(SpanModel { trace_id, spans })
    }
}

/// What every span needs to look at.
struct Builder<'a> {
    graph: &'a TraceGraph,
    analysis: &'a Analysis,
    redactor: &'a Redactor,
    /// `--otlp-header` names, allowed besides the default list.
    extra_headers: &'a [String],
}

impl Builder<'_> {
    fn span(&self, ix: NodeIndex, span_id: [u8; 8], parent_span_id: Option<[u8; 8]>) -> Span {
        let node = self.graph.node(ix);
        match &node.trace {
            Some(trace) => self.visit(ix, node, trace, span_id, parent_span_id),
            None => self.placeholder(ix, node, span_id, parent_span_id),
        }
    }

    /// The span of a server whose trace arrived.
    fn visit(
        &self,
        ix: NodeIndex,
        node: &ServerNode,
        trace: &TraceMessage,
        span_id: [u8; 8],
        parent_span_id: Option<[u8; 8]>,
    ) -> Span {
        let start = visit_start(trace).unwrap_or_else(|| self.fallback_time(ix));
        let end = trace
            .events
            .iter()
            .filter_map(|e| e.timestamp().and_then(|t| t.unix_nanos))
            .fold(start, i64::max);
        let subject = trace.ingress().map_or("", |i| i.subject.as_str());
        let mut attributes = self.visit_attributes(ix, node, trace);
        attributes.extend(self.header_attributes(trace));
        Span {
            node: ix,
            span_id,
            parent_span_id,
            name: format!("{} process {subject}", node.server_name()),
            start,
            end,
            attributes,
            events: trace.events.iter().map(|e| span_event(e, start)).collect(),
            error: first_error(trace),
        }
    }

    /// The messaging and `nats.*` attributes of a server visit.
    fn visit_attributes(
        &self,
        ix: NodeIndex,
        node: &ServerNode,
        trace: &TraceMessage,
    ) -> Vec<Attribute> {
        let server = &trace.server;
        let mut out = vec![
            str_attr("messaging.system", "nats"),
            str_attr("messaging.operation.type", "process"),
            int_attr("messaging.message.body.size", trace.request.msg_size),
            str_attr("server.address", or(&server.host, &server.name)),
            str_attr("nats.server.name", &server.name),
            str_attr("nats.server.id", &server.id),
            str_attr("nats.outcome", self.analysis.node(ix).outcome.name()),
        ];
        push_nonempty(&mut out, "nats.cluster", &server.cluster);
        push_nonempty(&mut out, "nats.domain", &server.domain);
        push_nonempty(&mut out, "nats.server.version", &server.version);
        push_nonempty(&mut out, "nats.hop", &node.hop);
        if node.detached {
            out.push(("nats.detached".into(), AttrValue::Bool(true)));
        }
        if let Some(ingress) = trace.ingress() {
            out.push(str_attr("messaging.destination.name", &ingress.subject));
            out.push(str_attr("nats.account", &ingress.account));
            out.push(str_attr("nats.connection.kind", &kind_name(ingress.kind)));
            out.push(int_attr("nats.connection.id", ingress.cid));
            push_nonempty(&mut out, "nats.connection.name", &ingress.name);
        }
        out
    }

    /// `nats.header.<name>` for the allow-listed headers (`traceparent`, `tracestate`,
    /// `Nats-*`), sensitive values masked.
    fn header_attributes<'t>(
        &'t self,
        trace: &'t TraceMessage,
    ) -> impl Iterator<Item = Attribute> + 't {
        trace
            .request
            .headers()
            .iter()
            .filter(|(name, _)| {
                allowed_header(name)
                    || self
                        .extra_headers
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(name))
            })
            .map(|(name, value)| {
                let value = if self.redactor.is_sensitive(name) {
                    crate::trace::redact::MASK
                } else {
                    value
                };
                str_attr(&format!("nats.header.{}", name.to_ascii_lowercase()), value)
            })
    }

    /// The placeholder span of a server (or a run of servers) whose trace never arrived.
    fn placeholder(
        &self,
        ix: NodeIndex,
        node: &ServerNode,
        span_id: [u8; 8],
        parent_span_id: Option<[u8; 8]>,
    ) -> Span {
        let time = self.fallback_time(ix);
        let mut attributes = vec![
            str_attr("messaging.system", "nats"),
            ("nats.missing".into(), AttrValue::Bool(true)),
            int_attr("nats.missing_servers", node.missing_servers() as u64),
        ];
        push_nonempty(&mut attributes, "nats.server.name", node.server_name());
        push_nonempty(&mut attributes, "nats.hop", &node.hop);
        Span {
            node: ix,
            span_id,
            parent_span_id,
            name: format!(
                "missing {}",
                crate::text::sanitize(&node.describe_missing())
            ),
            start: time,
            end: time,
            attributes,
            events: Vec::new(),
            error: None,
        }
    }

    /// A time for a node without its own: the egress that led to it, else its parent's
    /// start, else the origin's time, else 0.
    fn fallback_time(&self, ix: NodeIndex) -> i64 {
        let mut current = ix;
        while let Some((parent, egress)) = self.graph.parent(current) {
            let node = self.graph.node(parent);
            let egress_time = node
                .egress(egress)
                .and_then(|e| e.egress.ts.unix_nanos)
                .or_else(|| node.trace.as_deref().and_then(visit_start));
            if let Some(time) = egress_time {
                return time;
            }
            current = parent;
        }
        self.graph
            .origin_time()
            .and_then(|t| t.unix_nanos)
            .unwrap_or(0)
    }
}

/// The server's ingress time, else the time it sent its trace.
fn visit_start(trace: &TraceMessage) -> Option<i64> {
    trace
        .ingress()
        .and_then(|i| i.ts.unix_nanos)
        .or_else(|| trace.server.time.as_ref().and_then(|t| t.unix_nanos))
}

/// The first error the server reported, as `ingress: text`, `egress: text` or `jetstream: text`.
fn first_error(trace: &TraceMessage) -> Option<String> {
    trace.events.iter().find_map(|event| {
        let (kind, text) = match event {
            Event::Ingress(i) => ("ingress", &i.error),
            Event::Egress(e) => ("egress", &e.error),
            Event::JetStream(j) => ("jetstream", &j.error),
            _ => return None,
        };
        (!text.is_empty()).then(|| format!("{kind}: {text}"))
    })
}

/// The span event of one trace event.
fn span_event(event: &Event, start: i64) -> SpanEvent {
    let time = event
        .timestamp()
        .and_then(|t| t.unix_nanos)
        .unwrap_or(start);
    let (name, attributes) = match event {
        Event::Ingress(i) => ("ingress", error_attrs(&i.error)),
        Event::SubjectMapping(m) => ("subject_mapping", mapping_attrs(m)),
        Event::StreamExport(e) => ("stream_export", export_attrs(e)),
        Event::ServiceImport(i) => ("service_import", import_attrs(i)),
        Event::JetStream(j) => ("jetstream_store", jetstream_attrs(j)),
        Event::Egress(e) if e.kind == ConnKind::Client => ("deliver", egress_attrs(e)),
        Event::Egress(e) => ("forward", egress_attrs(e)),
        Event::Unknown { .. } => (
            "unknown",
            vec![str_attr("nats.event.type", event.type_name())],
        ),
    };
    SpanEvent {
        name,
        time,
        attributes,
    }
}

fn error_attrs(error: &str) -> Vec<Attribute> {
    let mut out = Vec::new();
    push_nonempty(&mut out, "nats.error", error);
    out
}

fn mapping_attrs(m: &SubjectMapping) -> Vec<Attribute> {
    vec![str_attr("nats.mapped_to", &m.mapped_to)]
}

fn export_attrs(e: &StreamExport) -> Vec<Attribute> {
    vec![
        str_attr("nats.account", &e.account),
        str_attr("nats.export.to", &e.to),
    ]
}

fn import_attrs(i: &ServiceImport) -> Vec<Attribute> {
    vec![
        str_attr("nats.account", &i.account),
        str_attr("nats.import.from", &i.from),
        str_attr("nats.import.to", &i.to),
    ]
}

fn jetstream_attrs(j: &JetStream) -> Vec<Attribute> {
    let mut out = vec![
        str_attr("nats.stream", &j.stream),
        str_attr("messaging.destination.name", &j.subject),
    ];
    if j.no_interest {
        out.push(("nats.jetstream.no_interest".into(), AttrValue::Bool(true)));
    }
    out.extend(error_attrs(&j.error));
    out
}

fn egress_attrs(e: &Egress) -> Vec<Attribute> {
    let mut out = vec![
        str_attr("nats.connection.kind", &kind_name(e.kind)),
        int_attr("nats.connection.id", e.cid),
    ];
    push_nonempty(&mut out, "nats.connection.name", &e.name);
    push_nonempty(&mut out, "nats.account", &e.account);
    push_nonempty(&mut out, "nats.hop", &e.hop);
    push_nonempty(
        &mut out,
        "messaging.destination.subscription.name",
        &e.subscription,
    );
    push_nonempty(&mut out, "messaging.consumer.group.name", &e.queue);
    push_nonempty(&mut out, "nats.queue", &e.queue);
    out.extend(error_attrs(&e.error));
    out
}

/// Header names whose values may become attributes.
fn allowed_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(TRACEPARENT_HEADER)
        || name.eq_ignore_ascii_case("tracestate")
        || name
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("nats-"))
}

fn kind_name(kind: ConnKind) -> String {
    kind.name().to_ascii_lowercase()
}

fn or<'a>(first: &'a str, second: &'a str) -> &'a str {
    if first.is_empty() { second } else { first }
}

fn str_attr(key: &str, value: &str) -> Attribute {
    (key.to_string(), AttrValue::Str(value.to_string()))
}

fn int_attr(key: &str, value: u64) -> Attribute {
    (
        key.to_string(),
        AttrValue::Int(i64::try_from(value).unwrap_or(i64::MAX)),
    )
}

fn push_nonempty(out: &mut Vec<Attribute>, key: &str, value: &str) {
    if !value.is_empty() {
        out.push(str_attr(key, value));
    }
}
