//! `--format otlp`: every capture in `testdata/` rendered by the real binary decodes with the
//! official `opentelemetry-proto` types (its serde mapping of OTLP/JSON), and the spans form
//! exactly the stitched trace's tree: one span per server node (in node order), parent ids
//! along the graph's parents, start and end from the servers' timestamps, status ERROR where
//! a server reported an error, and a `nats.missing` placeholder for a server that never sent
//! its trace. One live run: `trace --format otlp -H traceparent:…` against the demo's
//! supercluster hangs the six servers' spans under the given parent.

mod common;

use std::path::{Path, PathBuf};

use common::{nats_trace, nats_trace_with_env};
use nats_trace::trace::capture;
use nats_trace::trace::event::Event;
use nats_trace::trace::stitch::{NodeIndex, TraceGraph, stitch};
use nats_trace::trace::traceparent::TraceParent;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

fn graph_of(capture: &Path) -> TraceGraph {
    let inputs = capture::read_inputs(&[capture.to_path_buf()]).unwrap();
    stitch(inputs.messages)
}

fn otlp_of(capture: &Path) -> ExportTraceServiceRequest {
    let run = nats_trace(&["render", capture.to_str().unwrap(), "--format", "otlp"]);
    assert!(
        run.code == 0 || run.code == 3,
        "{capture:?}: {}",
        run.stderr
    );
    assert_eq!(run.stdout.lines().count(), 1, "one request on one line");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{capture:?}: {e}"))
}

fn spans_of(request: &ExportTraceServiceRequest) -> &[Span] {
    let resource = &request.resource_spans[0];
    let service = &resource.resource.as_ref().unwrap().attributes[0];
    assert_eq!(service.key, "service.name");
    assert_eq!(
        resource.scope_spans[0].scope.as_ref().unwrap().name,
        "nats-trace"
    );
    &resource.scope_spans[0].spans
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn nanos(ts: &Option<nats_trace::trace::event::Timestamp>) -> Option<u64> {
    ts.as_ref()
        .and_then(|t| t.unix_nanos)
        .map(|n| u64::try_from(n).unwrap())
}

/// Start at the ingress, end at the last event, for a server whose trace arrived.
fn check_times(graph: &TraceGraph, ix: NodeIndex, span: &Span) {
    let node = graph.node(ix);
    let Some(trace) = &node.trace else { return };
    let start = nanos(&trace.ingress().map(|i| i.ts.clone())).unwrap();
    let last = trace
        .events
        .iter()
        .filter_map(|e| nanos(&e.timestamp()))
        .max()
        .unwrap();
    assert_eq!(span.start_time_unix_nano, start);
    assert_eq!(span.end_time_unix_nano, last.max(start));
}

fn has_error(graph: &TraceGraph, ix: NodeIndex) -> bool {
    graph.node(ix).events().iter().any(|e| match e {
        Event::Ingress(i) => !i.error.is_empty(),
        Event::Egress(e) => !e.error.is_empty(),
        Event::JetStream(j) => !j.error.is_empty(),
        _ => false,
    })
}

fn check_capture(capture: &Path) -> (usize, usize) {
    let graph = graph_of(capture);
    let request = otlp_of(capture);
    let spans = spans_of(&request);
    assert_eq!(
        spans.len(),
        graph.graph.node_count(),
        "{capture:?}: one span per node"
    );
    let trace_id = &spans[0].trace_id;
    assert_eq!(trace_id.len(), 16);
    let origin_parent = graph
        .node(graph.root)
        .trace
        .as_ref()
        .and_then(|t| t.request.header_value("traceparent"))
        .and_then(|v| TraceParent::parse(v).ok());
    let (mut errors, mut missing) = (0, 0);
    for (ix, span) in graph.nodes().zip(spans) {
        assert_eq!(&span.trace_id, trace_id, "one trace");
        let expected_parent = match graph.parent(ix) {
            Some((parent, _)) => spans[parent.index()].span_id.clone(),
            None if ix == graph.root => origin_parent.map_or(Vec::new(), |t| t.parent_id.to_vec()),
            None => Vec::new(),
        };
        assert_eq!(
            span.parent_span_id, expected_parent,
            "{capture:?}: {}",
            span.name
        );
        check_times(&graph, ix, span);
        let status = span.status.as_ref().map_or(0, |s| s.code);
        assert_eq!(
            status == StatusCode::Error as i32,
            has_error(&graph, ix),
            "{}",
            span.name
        );
        errors += usize::from(status == StatusCode::Error as i32);
        let is_placeholder = attribute(span, "nats.missing") == Some(&Value::BoolValue(true));
        assert_eq!(is_placeholder, graph.node(ix).is_missing(), "{}", span.name);
        missing += usize::from(is_placeholder);
    }
    let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");
    (errors, missing)
}

#[test]
fn every_capture_decodes_as_otlp_and_forms_the_traces_tree() {
    for capture in captures() {
        let (errors, missing) = check_capture(&capture);
        let name = capture.file_stem().unwrap().to_str().unwrap();
        if name == "missing-server" {
            assert!(missing >= 1, "the missing server has a placeholder span");
        }
        if name == "jetstream-error" || name.ends_with("-denied") {
            assert!(errors >= 1, "{name}: an error span");
        }
    }
}

#[test]
fn the_supercluster_chain_has_attributes_by_the_messaging_conventions() {
    let capture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/supercluster-leaf-chain.jsonl");
    let request = otlp_of(&capture);
    let spans = spans_of(&request);
    assert!(spans.len() > 1);
    let origin = &spans[0];
    assert_eq!(
        attribute(origin, "messaging.system"),
        Some(&Value::StringValue("nats".into()))
    );
    assert!(
        matches!(attribute(origin, "messaging.destination.name"), Some(Value::StringValue(s)) if !s.is_empty())
    );
    assert!(
        matches!(attribute(origin, "messaging.message.body.size"), Some(Value::IntValue(n)) if *n > 0)
    );
    assert!(
        spans
            .iter()
            .skip(1)
            .all(|s| attribute(s, "nats.hop").is_some())
    );
    assert!(
        spans
            .iter()
            .any(|s| s.events.iter().any(|e| e.name == "deliver"))
    );
}

#[test]
fn a_traceparent_on_the_message_gives_the_trace_id_and_the_origins_parent() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/supercluster-leaf-chain.jsonl");
    let text = std::fs::read_to_string(source).unwrap();
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut trace: serde_json::Value = serde_json::from_str(line).unwrap();
        trace["request"]["header"]["traceparent"] = serde_json::json!([traceparent]);
        lines.push(trace.to_string());
    }
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("with-traceparent.jsonl");
    std::fs::write(&capture, lines.join("\n")).unwrap();
    let request = otlp_of(&capture);
    let spans = spans_of(&request);
    let parsed = TraceParent::parse(traceparent).unwrap();
    assert!(spans.iter().all(|s| s.trace_id == parsed.trace_id));
    assert_eq!(spans[0].parent_span_id, parsed.parent_id);
    assert_eq!(
        attribute(&spans[0], "nats.header.traceparent"),
        Some(&Value::StringValue(traceparent.into()))
    );
    check_capture(&capture);
}

#[test]
fn a_live_trace_with_a_traceparent_header_hangs_six_server_spans_under_it() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let header = format!("traceparent:{traceparent}");
    let args = [
        "-s",
        &e1,
        "trace",
        "orders.new",
        "-H",
        &header,
        "--format",
        "otlp",
    ];
    let run = nats_trace_with_env(&args, &[("OTEL_SERVICE_NAME", "orders-broker")]);
    assert_eq!(run.code, 0, "{run:?}");
    let request: ExportTraceServiceRequest = serde_json::from_str(&run.stdout).unwrap();
    let spans = spans_of(&request);
    let service = &request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes[0];
    assert_eq!(
        service.value.as_ref().and_then(|v| v.value.as_ref()),
        Some(&Value::StringValue("orders-broker".into()))
    );
    assert_eq!(spans.len(), 6, "one span per server of the demo");
    let parsed = TraceParent::parse(traceparent).unwrap();
    assert!(spans.iter().all(|s| s.trace_id == parsed.trace_id));
    assert_eq!(spans[0].parent_span_id, parsed.parent_id);
    let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert!(
        spans[1..].iter().all(|s| ids.contains(&s.parent_span_id)),
        "a tree"
    );
}
