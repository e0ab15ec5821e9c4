//! OTLP/HTTP export (`--otlp-endpoint`, `OTEL_EXPORTER_OTLP_*`) against real nats-server
//! topologies, into the OTLP receiver of `tests/common/otlp_receiver.rs` (hyper, decoding
//! with the official `opentelemetry-proto` types): `trace` through the demo's supercluster
//! and leafnodes, `trace --traceparent` and `listen` with traceparent-triggered messages (the
//! spans carry the message's trace-id and hang under its parent-id), a 503 that is retried,
//! an unreachable endpoint (one warning; output and exit code unchanged), and
//! `listen --format otlp` (one request per line on stdout).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::otlp_receiver::OtlpReceiver;
use common::{nats_trace, nats_trace_with_env, normalize_ids};
use nats_trace::trace::traceparent::TraceParent;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/supercluster-leaf-chain.jsonl"
);
const GIVEN: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const WARNING: &str = "nats-trace: warning: otlp export to ";

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn service_name(request: &ExportTraceServiceRequest) -> Option<&Value> {
    request.resource_spans[0]
        .resource
        .as_ref()?
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// The spans form one tree: one root (its parent `origin_parent`, empty for none), every
/// other span's parent among them, all with `trace_id`.
fn assert_tree(spans: &[Span], trace_id: &[u8], origin_parent: &[u8]) {
    let ids: HashSet<_> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(ids.len(), spans.len(), "distinct span ids");
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| !ids.contains(&s.parent_span_id))
        .collect();
    assert_eq!(roots.len(), 1, "one origin span: {spans:#?}");
    assert_eq!(roots[0].parent_span_id, origin_parent);
    assert!(spans.iter().all(|s| s.trace_id == trace_id));
}

fn server_names(spans: &[Span]) -> HashSet<String> {
    spans
        .iter()
        .filter_map(|s| match attribute(s, "nats.server.name") {
            Some(Value::StringValue(name)) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_live_trace_through_the_supercluster_and_leafnodes_is_exported_once() {
    let receiver = OtlpReceiver::start();
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let url = receiver.url();
    let args = [
        "-s",
        &e1,
        "trace",
        "orders.new",
        "--json",
        "--otlp-endpoint",
        &url,
    ];
    let env = [
        ("OTEL_SERVICE_NAME", "orders-broker"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s%3Dcret"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ];
    let run = nats_trace_with_env(&args, &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("s=cret"), "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    let received = receiver.received();
    assert_eq!(received.len(), 1, "one request");
    let request = &received[0];
    assert_eq!(request.content_type, "application/x-protobuf");
    assert_eq!(request.content_encoding, "gzip");
    assert!(
        request
            .headers
            .contains(&("x-api-key".to_string(), "s=cret".to_string()))
    );
    let decoded = request.request.as_ref().expect("protobuf decodes");
    assert_eq!(
        service_name(decoded),
        Some(&Value::StringValue("orders-broker".into()))
    );
    let spans = receiver.spans();
    assert_eq!(spans.len(), 6, "one span per server of the demo");
    let names: HashSet<String> = ["e1", "e2", "w1", "w2", "leaf1", "leaf2"]
        .map(String::from)
        .into();
    assert_eq!(server_names(&spans), names);
    let trace_id = hex(&spans[0].trace_id);
    assert_eq!(
        document["otel_trace_id"],
        trace_id.as_str(),
        "JSON names it"
    );
    assert_tree(&spans, &spans[0].trace_id.clone(), &[]);
}

#[test]
fn trace_context_mode_hangs_the_spans_under_the_given_traceparent() {
    let receiver = OtlpReceiver::start();
    let (topology, _subs) = common::demo_app_supercluster();
    let leaf2 = topology.url("leaf2");
    let url = receiver.url();
    let args = [
        "-s",
        &leaf2,
        "orders.new",
        "--traceparent",
        GIVEN,
        "--dest",
        "trace.demo",
        "--otlp-endpoint",
        &url,
        "-v",
        "--format",
        "otlp",
    ];
    let run = nats_trace(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let given = TraceParent::parse(GIVEN).unwrap();
    assert!(
        run.stderr
            .contains(&format!("OpenTelemetry trace-id {}", given.trace_id_hex())),
        "-v names the trace-id: {}",
        run.stderr
    );
    let spans = receiver.spans();
    assert_eq!(spans.len(), 6, "{spans:#?}");
    assert_tree(&spans, &given.trace_id, &given.parent_id);
    // Without a compression variable, one small trace is sent as plain protobuf.
    let received = receiver.received();
    assert_eq!(
        received[0].content_encoding, "",
        "small bodies are not gzipped"
    );
    assert!(received[0].request.is_some(), "plain protobuf decodes");
    // stdout's OTLP/JSON names the same spans as the exported request.
    let printed: ExportTraceServiceRequest = serde_json::from_str(&run.stdout).unwrap();
    let printed = &printed.resource_spans[0].scope_spans[0].spans;
    assert_eq!(printed, &spans);
}

#[test]
fn a_503_is_retried_and_the_spans_arrive_once() {
    let receiver = OtlpReceiver::scripted(&[(503, Some(0)), (503, Some(1))]);
    let url = receiver.url();
    let run = nats_trace(&["render", CAPTURE, "--otlp-endpoint", &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "no warning after a successful retry");
    let statuses: Vec<u16> = receiver.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(receiver.accepted().len(), 1);
    assert_eq!(receiver.spans().len(), 6);
}

#[test]
fn retries_that_never_succeed_end_in_one_warning() {
    let receiver = OtlpReceiver::scripted(&[(503, Some(0)); 10]);
    let url = receiver.url();
    let run = nats_trace_with_env(
        &["render", CAPTURE, "--otlp-endpoint", &url],
        &[("OTEL_EXPORTER_OTLP_TIMEOUT", "3000")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with(WARNING), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 503"), "{}", run.stderr);
    assert!(receiver.accepted().is_empty());
}

#[test]
fn a_client_error_is_not_retried() {
    let receiver = OtlpReceiver::scripted(&[(400, None)]);
    let run = nats_trace(&["render", CAPTURE, "--otlp-endpoint", &receiver.url()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("HTTP 400"), "{}", run.stderr);
    assert_eq!(receiver.received().len(), 1);
}

/// A port nothing listens on.
fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1/traces")
}

#[test]
fn an_unreachable_endpoint_is_one_warning_and_changes_nothing_else() {
    let url = unreachable_url();
    for format in ["tree", "json", "dot"] {
        let plain = nats_trace(&["render", CAPTURE, "--format", format]);
        let exported = nats_trace(&[
            "render",
            CAPTURE,
            "--format",
            format,
            "--otlp-endpoint",
            &url,
        ]);
        assert_eq!(exported.stdout, plain.stdout, "{format}");
        assert_eq!(exported.code, plain.code, "{format}");
        let lines: Vec<&str> = exported.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", exported.stderr);
        assert!(
            lines[0].starts_with(&format!("{WARNING}{url}: ")),
            "{}",
            lines[0]
        );
    }
    // The same through the standard variable, for a live trace.
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let base = url.trim_end_matches("/v1/traces").to_string();
    let args = ["-s", &e1, "trace", "orders.new"];
    let plain = nats_trace(&args);
    let exported = nats_trace_with_env(&args, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &base)]);
    assert_eq!(exported.code, plain.code);
    // The queue group's member is picked at random: compare without its name.
    let route = |text: &str| normalize_ids(text).replace("\"shipping-2\"", "\"shipping\"");
    assert_eq!(route(&exported.stdout), route(&plain.stdout));
    assert_eq!(exported.stderr.lines().count(), 1, "{}", exported.stderr);
    assert!(exported.stderr.contains(&url), "{}", exported.stderr);
}

#[test]
fn otlp_header_adds_an_allowed_header_but_sensitive_values_stay_masked() {
    let receiver = OtlpReceiver::start();
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let url = receiver.url();
    let args = [
        "-s",
        &e1,
        "trace",
        "orders.new",
        "-H",
        "X-Tenant:acme",
        "-H",
        "X-Api-Token:hunter2",
        "-H",
        "X-Other:no",
        "--otlp-endpoint",
        &url,
        "--otlp-header",
        "x-tenant",
        "--otlp-header",
        "X-Api-Token",
    ];
    let run = nats_trace(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let spans = receiver.spans();
    let origin = spans.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
    assert_eq!(
        attribute(origin, "nats.header.x-tenant"),
        Some(&Value::StringValue("acme".into()))
    );
    assert_eq!(
        attribute(origin, "nats.header.x-api-token"),
        Some(&Value::StringValue("[redacted]".into()))
    );
    assert_eq!(attribute(origin, "nats.header.x-other"), None);
}

/// A traceparent whose ids encode `n`.
fn traceparent(n: u64) -> String {
    format!(
        "00-{:032x}-{:016x}-01",
        0xfeed_0000_u128 + u128::from(n),
        0x2000 + n
    )
}

/// Publishes `count` sampled messages as the demo's application (account APP) on `url`.
fn publish_traced(url: &str, count: u64) {
    common::runtime().block_on(async {
        let client = async_nats::connect(url).await.expect("publisher connects");
        for n in 0..count {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("traceparent", traceparent(n).as_str());
            client
                .publish_with_headers("orders.new", headers, "x".into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
}

/// Runs `listen --dest trace.demo --count N ARGS…` on the demo's e1 while `count` traced
/// messages are published on leaf2; its exit code, stdout lines and stderr.
fn listen_demo(
    topology: &nats_trace::topology::Topology,
    count: u64,
    args: &[&str],
) -> (i32, Vec<String>, String) {
    let e1 = topology.url("e1");
    let count_text = count.to_string();
    let mut command = vec![
        "-s",
        &e1,
        "listen",
        "--dest",
        "trace.demo",
        "--count",
        &count_text,
    ];
    command.extend_from_slice(args);
    let run = common::spawn_streaming(&command);
    topology
        .wait_for_interest(
            "e1",
            nats_trace::topology::demo::DEMO_ACCOUNT,
            "trace.demo",
            1,
        )
        .expect("the listener's subscription reaches e1");
    publish_traced(&topology.url("leaf2"), count);
    run.finish(Vec::new())
}

#[test]
fn listen_exports_each_traced_message_under_its_traceparent() {
    let receiver = OtlpReceiver::start();
    let (topology, _subs) = common::demo_app_supercluster();
    let url = receiver.url();
    let (code, lines, stderr) = listen_demo(&topology, 3, &["--json", "--otlp-endpoint", &url]);
    assert_eq!(code, 0, "{stderr}");
    let summary = lines.last().expect("a summary line");
    let summary: serde_json::Value = serde_json::from_str(summary).unwrap();
    assert_eq!(summary["otlp"]["sent"], 18, "{summary}");
    assert_eq!(summary["otlp"]["dropped"], 0);
    let spans = receiver.wait_for_spans(18, Duration::from_secs(10));
    assert_eq!(spans.len(), 18, "six servers for each of three messages");
    for n in 0..3 {
        let given = TraceParent::parse(&traceparent(n)).unwrap();
        let mine: Vec<Span> = spans
            .iter()
            .filter(|s| s.trace_id == given.trace_id)
            .cloned()
            .collect();
        assert_eq!(mine.len(), 6, "message {n}");
        assert_tree(&mine, &given.trace_id, &given.parent_id);
    }
    let documents: Vec<serde_json::Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(documents.iter().all(|d| {
        d["otel_trace_id"]
            .as_str()
            .is_some_and(|id| d["traceparent"].as_str().unwrap().contains(id))
    }));
}

#[test]
fn listen_format_otlp_writes_one_request_per_line() {
    let (topology, _subs) = common::demo_app_supercluster();
    let (code, lines, stderr) = listen_demo(&topology, 2, &["--format", "otlp"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines.len(), 2, "only the requests on stdout: {lines:#?}");
    let mut trace_ids = HashSet::new();
    for line in &lines {
        let request: ExportTraceServiceRequest = serde_json::from_str(line).expect("OTLP/JSON");
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 6);
        let given = spans[0].trace_id.clone();
        trace_ids.insert(given.clone());
        let origin_parent = (0..2)
            .map(|n| TraceParent::parse(&traceparent(n)).unwrap())
            .find(|tp| tp.trace_id.as_slice() == given.as_slice())
            .expect("a published traceparent's trace-id")
            .parent_id;
        assert_tree(spans, &given, &origin_parent);
    }
    assert_eq!(trace_ids.len(), 2);
    assert!(
        stderr.contains("2 message"),
        "the summary goes to stderr: {stderr}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A CA and a certificate for 127.0.0.1 signed by it, and an unrelated CA, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
        let dir = tempfile::tempdir().unwrap();
        let make_ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            (cert.pem(), Issuer::new(params, key))
        };
        let (ca, issuer) = make_ca("otlp test CA");
        let (other, _) = make_ca("some other CA");
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        let cert = params.signed_by(&key, &issuer).unwrap();
        for (name, pem) in [
            ("ca.pem", ca),
            ("other.pem", other),
            ("cert.pem", cert.pem()),
            ("key.pem", key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

#[test]
fn https_trusts_the_ca_of_the_certificate_variable_and_only_it() {
    let pki = Pki::new();
    let receiver = OtlpReceiver::tls(
        std::path::Path::new(&pki.path("cert.pem")),
        std::path::Path::new(&pki.path("key.pem")),
    );
    let url = receiver.url();
    assert!(url.starts_with("https://"));
    let args = ["render", CAPTURE, "--otlp-endpoint", &url];

    let trusted = nats_trace_with_env(
        &args,
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", &pki.path("ca.pem"))],
    );
    assert_eq!(trusted.code, 0, "{trusted:?}");
    assert_eq!(trusted.stderr, "");
    assert_eq!(receiver.spans().len(), 6);

    // The system's roots do not know the test CA; nor does another CA.
    let system = nats_trace(&args);
    let other = nats_trace_with_env(
        &args,
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", &pki.path("other.pem"))],
    );
    let missing = nats_trace_with_env(
        &args,
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")],
    );
    for run in [&system, &other, &missing] {
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout, trusted.stdout);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.starts_with(WARNING), "{}", run.stderr);
    }
    assert!(
        missing.stderr.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "{}",
        missing.stderr
    );
    assert_eq!(receiver.spans().len(), 6, "nothing more arrived");
}
