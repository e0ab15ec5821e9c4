//! The protobuf body of an OTLP/HTTP export: the span model of [`crate::trace::spans`] as
//! `opentelemetry-proto` messages (the official generated types), one
//! `ExportTraceServiceRequest` per batch, encoded with `prost` and gzipped.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;

use crate::trace::report::TraceReport;
use crate::trace::spans::{self, AttrValue, Attribute, SpanModel};

/// OTLP status code ERROR.
const STATUS_ERROR: i32 = 2;

/// The spans of `report` as protobuf messages (`span_headers`: `--otlp-header` names).
pub fn spans_of(report: &TraceReport, span_headers: &[String]) -> Result<Vec<Span>, String> {
    let model = SpanModel::with_headers(report, span_headers)
        .map_err(|e| format!("cannot make span ids: {e}"))?;
    Ok(proto_spans(&model))
}

/// The spans of a model as protobuf messages.
pub fn proto_spans(model: &SpanModel) -> Vec<Span> {
    model
        .spans
        .iter()
        .map(|s| proto_span(&model.trace_id, s))
        .collect()
}

/// One request carrying `spans`, the resource named `service_name`.
pub fn request(service_name: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    let service = (
        "service.name".to_string(),
        AttrValue::Str(service_name.into()),
    );
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: key_values(std::slice::from_ref(&service)),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "nats-trace".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The smallest protobuf body gzipped when compression is not chosen (16 KiB).
pub const GZIP_FROM: usize = 16 * 1024;

/// One request's body: protobuf, gzipped or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub gzipped: bool,
}

/// The protobuf body of one request, gzipped as `compression` says.
pub fn body(
    service_name: &str,
    spans: Vec<Span>,
    compression: crate::export::Compression,
) -> Result<Body, String> {
    let bytes = request(service_name, spans).encode_to_vec();
    if !compression.gzips(bytes.len()) {
        return Ok(Body {
            bytes,
            gzipped: false,
        });
    }
    let mut gz = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3 + 64),
        Compression::fast(),
    );
    let bytes = gz
        .write_all(&bytes)
        .and_then(|()| gz.finish())
        .map_err(|e| format!("cannot compress the request: {e}"))?;
    Ok(Body {
        bytes,
        gzipped: true,
    })
}

fn proto_span(trace_id: &[u8; 16], s: &spans::Span) -> Span {
    Span {
        trace_id: trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        name: s.name.clone(),
        kind: spans::SPAN_KIND_SERVER,
        start_time_unix_nano: nanos(s.start),
        end_time_unix_nano: nanos(s.end),
        attributes: key_values(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: nanos(e.time),
                name: e.name.to_string(),
                attributes: key_values(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        status: s.error.as_ref().map(|message| Status {
            message: message.clone(),
            code: STATUS_ERROR,
        }),
        ..Default::default()
    }
}

fn nanos(time: i64) -> u64 {
    u64::try_from(time).unwrap_or(0)
}

fn key_values(list: &[Attribute]) -> Vec<KeyValue> {
    list.iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: Some(AnyValue {
                value: Some(match value {
                    AttrValue::Str(s) => any_value::Value::StringValue(s.clone()),
                    AttrValue::Int(n) => any_value::Value::IntValue(*n),
                    AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
                }),
            }),
            ..Default::default()
        })
        .collect()
}
