//! `--format otlp`: the span model of [`crate::trace::spans`] as one OTLP/JSON
//! `ExportTraceServiceRequest` on one line (the protobuf JSON mapping: lowerCamelCase keys,
//! hex trace and span ids, enums as integers, 64-bit integers and nanosecond times as
//! strings). The resource's `service.name` is `OTEL_SERVICE_NAME`, else `nats`; the scope is
//! `nats-trace`. See docs/otel.md.

use std::io;

use serde_json::{Value, json};

use crate::render::{Renderer, TraceReport};
use crate::trace::spans::{AttrValue, Attribute, SPAN_KIND_SERVER, Span, SpanEvent, SpanModel};

/// OTLP status code ERROR.
const STATUS_ERROR: i32 = 2;

/// The service name when `OTEL_SERVICE_NAME` is unset or empty.
const DEFAULT_SERVICE_NAME: &str = "nats";

/// Writes a report as an OTLP/JSON export request.
#[derive(Debug, Clone)]
pub struct OtlpRenderer {
    service_name: String,
    /// `--otlp-header` names allowed as attributes besides the default list.
    span_headers: Vec<String>,
}

impl OtlpRenderer {
    /// A renderer naming the resource `service_name`.
    pub fn new(service_name: String) -> OtlpRenderer {
        OtlpRenderer {
            service_name,
            span_headers: Vec::new(),
        }
    }

    /// This renderer, with `--otlp-header` names allowed as span attributes too.
    pub fn with_span_headers(mut self, span_headers: Vec<String>) -> OtlpRenderer {
        self.span_headers = span_headers;
        self
    }

    /// A renderer naming the resource from `OTEL_SERVICE_NAME`, else `nats`.
    pub fn from_env() -> OtlpRenderer {
        let name = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
        OtlpRenderer::new(name)
    }

    /// The export request of `report`, as JSON.
    pub fn request(&self, report: &TraceReport) -> io::Result<Value> {
        let model = SpanModel::with_headers(report, &self.span_headers)
            .map_err(|e| io::Error::other(format!("cannot make span ids: {e}")))?;
        let trace_id = hex(&model.trace_id);
        let spans: Vec<Value> = model.spans.iter().map(|s| span(&trace_id, s)).collect();
        Ok(json!({
            "resourceSpans": [{
                "resource": {
                    "attributes": attributes(&[(
                        "service.name".to_string(),
                        AttrValue::Str(self.service_name.clone()),
                    )]),
                },
                "scopeSpans": [{
                    "scope": { "name": "nats-trace", "version": env!("CARGO_PKG_VERSION") },
                    "spans": spans,
                }],
            }],
        }))
    }
}

impl Renderer for OtlpRenderer {
    fn render(&self, report: &TraceReport, out: &mut dyn io::Write) -> io::Result<()> {
        let request = self.request(report)?;
        serde_json::to_writer(&mut *out, &request).map_err(io::Error::other)?;
        writeln!(out)
    }
}

fn span(trace_id: &str, span: &Span) -> Value {
    let mut value = json!({
        "traceId": trace_id,
        "spanId": hex(&span.span_id),
        "name": span.name,
        "kind": SPAN_KIND_SERVER,
        "startTimeUnixNano": span.start.max(0).to_string(),
        "endTimeUnixNano": span.end.max(0).to_string(),
        "attributes": attributes(&span.attributes),
        "events": span.events.iter().map(event).collect::<Vec<_>>(),
    });
    if let Some(parent) = &span.parent_span_id {
        value["parentSpanId"] = Value::String(hex(parent));
    }
    if let Some(error) = &span.error {
        value["status"] = json!({ "code": STATUS_ERROR, "message": error });
    }
    value
}

fn event(event: &SpanEvent) -> Value {
    json!({
        "timeUnixNano": event.time.max(0).to_string(),
        "name": event.name,
        "attributes": attributes(&event.attributes),
    })
}

fn attributes(list: &[Attribute]) -> Vec<Value> {
    list.iter()
        .map(|(key, value)| json!({ "key": key, "value": any_value(value) }))
        .collect()
}

fn any_value(value: &AttrValue) -> Value {
    match value {
        AttrValue::Str(s) => json!({ "stringValue": s }),
        AttrValue::Int(n) => json!({ "intValue": n.to_string() }),
        AttrValue::Bool(b) => json!({ "boolValue": b }),
    }
}

/// Lower-case hex, as the OTLP/JSON mapping writes ids.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
