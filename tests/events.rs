//! End-to-end tests of every event type and error a real nats-server reports (issue 3):
//! subject mappings, service imports and stream exports across accounts (with and without
//! `allow_trace`), JetStream (stored, no interest, two streams, rejected), queue groups,
//! permission errors, missing servers and a cross-kind chain. Each test starts its own
//! servers on 127.0.0.1, traces with the real binary (`--raw`), and asserts the exact tree,
//! the exit code and the egress counts.
//!
//! With `UPDATE_CAPTURES=1` each test also writes its real trace messages to
//! `testdata/<case>.jsonl` and the server configs to `testdata/<case>.conf`, which
//! `tests/captures.rs` stitches and renders offline.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Run, Subscribers, nats_trace, normalize};
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};

/// One traced run, split into its raw trace messages and its (normalised) tree.
struct Traced {
    code: i32,
    /// The decompressed trace messages, as printed after `>>> `.
    raw: Vec<String>,
    /// The tree with connection ids and server versions normalised.
    tree: String,
    run: Run,
}

fn project_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Connects a client called `name` as `user` (password `pwd`) to `server_url` and subscribes
/// it to `subject`; kept alive by `subs`. (The tracer itself connects without credentials:
/// the configs name it as `no_auth_user`.)
fn subscribe_as(subs: &mut Subscribers, server_url: &str, user: &str, name: &str, subject: &str) {
    let options = async_nats::ConnectOptions::with_user_and_password(user.into(), "pwd".into());
    subs.subscribe_with(options, server_url, name, subject, None);
}

/// Runs `nats-trace --raw ARGS SUBJECT` against `server` and splits the output; with
/// `UPDATE_CAPTURES=1` writes the capture for `case`.
fn trace(case: &str, topology: &Topology, server: &str, args: &[&str]) -> Traced {
    let server_url = topology.url(server);
    let mut all = vec!["--raw", "-s", server_url.as_str()];
    all.extend_from_slice(args);
    let run = nats_trace(&all);
    let mut raw = Vec::new();
    let mut tree = String::new();
    for line in run.stdout.lines() {
        match line.strip_prefix(">>> ") {
            Some(json) => raw.push(json.to_string()),
            None => {
                tree.push_str(line);
                tree.push('\n');
            }
        }
    }
    let tree = normalize(&tree);
    write_capture(case, topology, &raw, &tree);
    Traced {
        code: run.code,
        raw,
        tree,
        run,
    }
}

/// Writes `testdata/<case>.jsonl` (the raw trace messages), `testdata/<case>.conf` (the
/// servers' configs) and `testdata/<case>.tree` (the normalised tree the run printed) when
/// `UPDATE_CAPTURES=1`.
fn write_capture(case: &str, topology: &Topology, raw: &[String], tree: &str) {
    if std::env::var_os("UPDATE_CAPTURES").is_none_or(|v| v != "1") {
        return;
    }
    let dir = project_dir().join("testdata");
    let mut jsonl = raw.join("\n");
    jsonl.push('\n');
    std::fs::write(dir.join(format!("{case}.jsonl")), jsonl).expect("write capture");
    let mut conf = format!(
        "# Server configurations of the topology that produced {case}.jsonl, as\n\
         # tests/events.rs generated them. Ports were picked at run time; TOPOLOGY_DIR\n\
         # stands for the topology's temporary directory.\n"
    );
    let topology_dir = topology.dir().display().to_string();
    for server in topology.servers() {
        let path = topology.dir().join(format!("{}.conf", server.name));
        let text = std::fs::read_to_string(&path).expect("read server config");
        conf.push_str(&format!("\n# ---- {}.conf ----\n", server.name));
        conf.push_str(&text.replace(&topology_dir, "TOPOLOGY_DIR"));
    }
    std::fs::write(dir.join(format!("{case}.conf")), conf).expect("write capture config");
    std::fs::write(dir.join(format!("{case}.tree")), tree).expect("write capture tree");
}

/// Stitches the run's raw trace messages and compares the egress counts by kind.
#[track_caller]
fn assert_egress_counts(traced: &Traced, expected: &[(&str, usize)]) {
    let traces = traced.raw.iter().map(|json| {
        nats_trace::trace::event::TraceMessage::from_json(json.as_bytes())
            .expect("a raw line parses")
    });
    let graph = nats_trace::trace::stitch::stitch(traces);
    assert_eq!(graph.egress_counts(), expected, "{}", traced.tree);
}

#[track_caller]
fn assert_tree(traced: &Traced, expected: &str) {
    assert_eq!(
        traced.tree, expected,
        "\n--- actual tree ---\n{}\n--- stderr ---\n{}",
        traced.tree, traced.run.stderr
    );
}

fn single(config: &str) -> Topology {
    TopologyBuilder::new()
        .server(ServerSpec::new("n1").extra(config))
        .start()
        .expect("server starts")
}

// ---------------------------------------------------------------------------------------
// Subject mapping
// ---------------------------------------------------------------------------------------

#[test]
fn subject_mapping_shows_the_mapping_and_the_mapped_egress() {
    let topology = single(r#"mappings { "orders.new": "orders.v2.new" }"#);
    let mut subs = Subscribers::new();
    subs.subscribe(&topology.url("n1"), "orders-v2", "orders.v2.new", None);
    topology
        .wait_for_interest("n1", "$G", "orders.v2.new", 1)
        .expect("interest");
    let traced = trace("mapping", &topology, "n1", &["orders.new"]);
    assert_egress_counts(&traced, &[("Client", 1)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N server:"n1" version:"V"
    Mapping subject:"orders.v2.new"
--C Client "orders-v2" cid:N subject:"orders.v2.new"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  Client: 1
"#,
    );
}

// ---------------------------------------------------------------------------------------
// Accounts: service imports and stream exports
// ---------------------------------------------------------------------------------------

fn service_import_config(allow_trace: bool) -> String {
    format!(
        r#"accounts {{
  A {{
    users: [{{user: a, password: pwd}}]
    imports: [{{service: {{account: B, subject: "svc.>"}}}}]
  }}
  B {{
    users: [{{user: b, password: pwd}}]
    exports: [{{service: "svc.>", allow_trace: {allow_trace}}}]
  }}
}}
no_auth_user: a"#
    )
}

#[test]
fn service_import_with_allow_trace_shows_the_import_and_the_exporters_egress() {
    let topology = single(&service_import_config(true));
    let mut subs = Subscribers::new();
    subscribe_as(&mut subs, &topology.url("n1"), "b", "adder", "svc.add");
    topology
        .wait_for_interest("n1", "B", "svc.add", 1)
        .expect("interest");
    let traced = trace("service-import", &topology, "n1", &["svc.add"]);
    assert_egress_counts(&traced, &[("Client", 1)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject svc.add

Client "nats-trace" cid:N server:"n1" version:"V"
    Service Import from:"svc.add" to:"svc.add" account:"B"
--C Client "adder" cid:N account:"B" subject:"svc.add"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  Client: 1
"#,
    );
}

#[test]
fn service_import_without_allow_trace_stops_at_the_account_boundary() {
    let topology = single(&service_import_config(false));
    let mut subs = Subscribers::new();
    subscribe_as(&mut subs, &topology.url("n1"), "b", "adder", "svc.add");
    topology
        .wait_for_interest("n1", "B", "svc.add", 1)
        .expect("interest");
    let traced = trace(
        "service-import-no-allow-trace",
        &topology,
        "n1",
        &["svc.add"],
    );
    assert_egress_counts(&traced, &[]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject svc.add

Client "nats-trace" cid:N server:"n1" version:"V"
    Service Import from:"svc.add" to:"svc.add" account:"B"
    !!! Trace stops at the account boundary: nothing reported in account "B" (its service export does not allow_trace, or nothing there has interest)

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

"#,
    );
}

fn stream_export_config(allow_trace: bool) -> String {
    format!(
        r#"accounts {{
  A {{
    users: [{{user: a, password: pwd}}]
    imports: [{{stream: {{account: B, subject: "ticker.>"}}, allow_trace: {allow_trace}}}]
  }}
  B {{
    users: [{{user: b, password: pwd}}]
    exports: [{{stream: "ticker.>"}}]
  }}
}}
no_auth_user: b"#
    )
}

fn stream_export_case(case: &str, allow_trace: bool) -> Traced {
    let topology = single(&stream_export_config(allow_trace));
    let mut subs = Subscribers::new();
    subscribe_as(
        &mut subs,
        &topology.url("n1"),
        "a",
        "ticker-reader",
        "ticker.>",
    );
    topology
        .wait_for_interest("n1", "A", "ticker.acme", 1)
        .expect("interest");
    trace(case, &topology, "n1", &["ticker.acme"])
}

#[test]
fn stream_export_with_allow_trace_shows_the_export_and_the_importers_egress() {
    let traced = stream_export_case("stream-export", true);
    assert_egress_counts(&traced, &[("Client", 1)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject ticker.acme

Client "nats-trace" cid:N server:"n1" version:"V"
    Stream Export subject:"ticker.acme" account:"A"
--C Client "ticker-reader" cid:N account:"A" subject:"ticker.>"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  Client: 1
"#,
    );
}

#[test]
fn stream_export_without_allow_trace_stops_at_the_account_boundary() {
    let traced = stream_export_case("stream-export-no-allow-trace", false);
    assert_egress_counts(&traced, &[]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject ticker.acme

Client "nats-trace" cid:N server:"n1" version:"V"
    Stream Export subject:"ticker.acme" account:"A"
    !!! Trace stops at the account boundary: the stream import of account "A" does not allow_trace

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

"#,
    );
}

// ---------------------------------------------------------------------------------------
// JetStream
// ---------------------------------------------------------------------------------------

fn jetstream_server() -> (Topology, Subscribers) {
    let topology = TopologyBuilder::new()
        .server(ServerSpec::new("n1").jetstream())
        .start()
        .expect("server starts");
    let subs = Subscribers::new();
    subs.create_stream(
        &topology.url("n1"),
        serde_json::json!({"name": "ORDERS", "subjects": ["orders.>"], "storage": "memory"}),
    );
    subs.create_stream(&topology.url("n1"),
        serde_json::json!({"name": "EVENTS", "subjects": ["events.>"], "retention": "interest", "storage": "memory"}),
    );
    topology
        .wait_for_interest("n1", "$G", "orders.new", 1)
        .expect("interest");
    topology
        .wait_for_interest("n1", "$G", "events.new", 1)
        .expect("interest");
    (topology, subs)
}

#[test]
fn jetstream_stored_is_not_reported_as_no_interest() {
    let (topology, _subs) = jetstream_server();
    let traced = trace("jetstream-stored", &topology, "n1", &["orders.new"]);
    assert_egress_counts(&traced, &[("JetStream", 1)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N server:"n1" version:"V"
--J JetStream action:"stored" stream:"ORDERS" subject:"orders.new"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  JetStream: 1
"#,
    );
}

#[test]
fn jetstream_interest_stream_without_consumers_reports_no_interest() {
    let (topology, _subs) = jetstream_server();
    let traced = trace("jetstream-no-interest", &topology, "n1", &["events.new"]);
    assert_egress_counts(&traced, &[("JetStream", 1)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject events.new

Client "nats-trace" cid:N server:"n1" version:"V"
--J JetStream action:"no interest" stream:"EVENTS" subject:"events.new"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  JetStream: 1
"#,
    );
}

#[test]
fn jetstream_expected_stream_mismatch_is_an_error() {
    let (topology, _subs) = jetstream_server();
    let traced = trace(
        "jetstream-error",
        &topology,
        "n1",
        &["-H", "Nats-Expected-Stream:OTHER", "orders.new"],
    );
    assert_egress_counts(&traced, &[("JetStream", 1)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N server:"n1" version:"V"
--J JetStream action:"rejected" stream:"ORDERS" subject:""
--X Error: expected stream does not match

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  JetStream: 1
"#,
    );
}

#[test]
fn two_streams_storing_the_message_give_the_multi_stream_warning() {
    // Streams cannot overlap within one account and JetStream domain, so the second stream
    // lives on a leafnode with its own domain.
    let topology = TopologyBuilder::new()
        .server(ServerSpec::new("hub").leaf_listen().jetstream_domain("hub"))
        .server(
            ServerSpec::new("leaf")
                .leaf_remote("hub", "")
                .jetstream_domain("leaf"),
        )
        .start()
        .expect("servers start");
    let subs = Subscribers::new();
    for (server, name) in [("hub", "HUB_ORDERS"), ("leaf", "LEAF_ORDERS")] {
        subs.create_stream(
            &topology.url(server),
            serde_json::json!({"name": name, "subjects": ["orders.>"], "storage": "memory"}),
        );
    }
    topology
        .wait_for_interest("hub", "$G", "orders.new", 2)
        .expect("interest");
    let traced = trace("jetstream-two-streams", &topology, "hub", &["orders.new"]);
    assert_egress_counts(&traced, &[("JetStream", 2), ("Leafnode", 1)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N server:"hub" version:"V"
--J JetStream action:"stored" stream:"HUB_ORDERS" subject:"orders.new"
~~> Leafnode "leaf" lid:N
    Leafnode "hub" lid:N server:"leaf" version:"V"
    --J JetStream action:"stored" stream:"LEAF_ORDERS" subject:"orders.new"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  JetStream: 2
   Leafnode: 1
WARNING: The message was received by 2 streams
"#,
    );
}

// ---------------------------------------------------------------------------------------
// Queue groups
// ---------------------------------------------------------------------------------------

#[test]
fn queue_group_lists_one_member_with_its_queue() {
    let topology = single("");
    let mut subs = Subscribers::new();
    // Both members have the same name so that the tree is the same whichever is picked.
    for _ in 0..2 {
        subs.subscribe(&topology.url("n1"), "worker", "orders.new", Some("workers"));
    }
    subs.subscribe(&topology.url("n1"), "audit", "orders.>", None);
    topology
        .wait_for_interest("n1", "$G", "orders.new", 3)
        .expect("interest");
    let traced = trace("queue-group", &topology, "n1", &["orders.new"]);
    assert_egress_counts(&traced, &[("Client", 2)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N server:"n1" version:"V"
--C Client "audit" cid:N subject:"orders.>"
--C Client "worker" cid:N subject:"orders.new" queue:"workers"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  Client: 2
"#,
    );
}

// ---------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------

const PERMISSIONS_CONFIG: &str = r#"authorization {
  users: [
    {user: tracer, password: pwd, permissions: {publish: {deny: ["secret.>"]}}}
    {user: worker, password: pwd, permissions: {subscribe: {allow: ["bar.>", "secret.>"], deny: ["bar.bat"]}}}
  ]
}
no_auth_user: tracer"#;

#[test]
fn publish_denied_is_an_ingress_error_and_nothing_is_delivered() {
    let topology = single(PERMISSIONS_CONFIG);
    let mut subs = Subscribers::new();
    subscribe_as(
        &mut subs,
        &topology.url("n1"),
        "worker",
        "secret-reader",
        "secret.plans",
    );
    topology
        .wait_for_interest("n1", "$G", "secret.plans", 1)
        .expect("interest");
    // Delivered for real (not trace only), to show that nothing reaches the subscriber.
    let traced = trace(
        "publish-denied",
        &topology,
        "n1",
        &["--deliver", "secret.plans", "classified"],
    );
    assert_egress_counts(&traced, &[]);
    // The tree shows the server's refusal; the run is an error (exit 2) with one line
    // saying what it is.
    assert_eq!(traced.code, 2, "{:?}", traced.run);
    assert_eq!(
        traced.run.stderr.lines().count(),
        1,
        "{}",
        traced.run.stderr
    );
    assert!(
        traced
            .run
            .stderr
            .starts_with("nats-trace: error: no permission to publish to secret.plans"),
        "{}",
        traced.run.stderr
    );
    subs.runtime.block_on(async {
        let worker =
            async_nats::ConnectOptions::with_user_and_password("worker".into(), "pwd".into())
                .connect(topology.url("n1"))
                .await
                .expect("worker connects");
        worker
            .publish("secret.plans", "sentinel".into())
            .await
            .expect("publish");
        worker.flush().await.expect("flush");
    });
    assert_eq!(
        subs.received_until(0, "sentinel", Duration::from_secs(10)),
        Vec::<String>::new(),
        "the denied message was delivered"
    );
    assert_tree(
        &traced,
        r#"Tracing message route to subject secret.plans with delivery to the final destination

Client "nats-trace" cid:N server:"n1" version:"V"
--X Error: Permissions Violation for Publish to "secret.plans"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

"#,
    );
}

#[test]
fn subscribers_denied_the_subject_are_egress_errors_listed_in_one_summary() {
    let topology = single(PERMISSIONS_CONFIG);
    let mut subs = Subscribers::new();
    // Same name twice: the server lists them in no fixed order.
    for _ in 0..2 {
        subscribe_as(&mut subs, &topology.url("n1"), "worker", "denied", "bar.>");
    }
    topology
        .wait_for_interest("n1", "$G", "bar.bat", 2)
        .expect("interest");
    let traced = trace("subscribe-denied", &topology, "n1", &["bar.bat"]);
    assert_egress_counts(&traced, &[("Client", 2)]);
    assert_eq!(traced.code, 0);
    assert_tree(
        &traced,
        r#"Tracing message route to subject bar.bat

Client "nats-trace" cid:N server:"n1" version:"V"
--C Client "denied" cid:N subject:"bar.>"
  --X Error: Not delivered because subscription denies this subject
--C Client "denied" cid:N subject:"bar.>"
  --X Error: Not delivered because subscription denies this subject

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  Client: 2

Errors: 2

  server:"n1" egress to Client "denied" cid:N: Not delivered because subscription denies this subject
  server:"n1" egress to Client "denied" cid:N: Not delivered because subscription denies this subject
"#,
    );
}

// ---------------------------------------------------------------------------------------
// Missing servers
// ---------------------------------------------------------------------------------------

#[test]
fn a_server_whose_trace_cannot_come_back_is_shown_missing() {
    let (topology, _subs) = common::hub_with_silent_leaf();
    let traced = trace(
        "missing-server",
        &topology,
        "hub",
        &["--timeout", "1s", "orders.new"],
    );
    assert_egress_counts(&traced, &[("Leafnode", 1)]);
    assert_eq!(traced.code, 3, "{}", traced.run.stderr);
    // That --timeout 1s bounds the wait is shown by exit 3 with the leaf missing; how long
    // it takes is for benchmarks, and a hang is caught by `common::RUN_LIMIT`.
    assert_tree(
        &traced,
        r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N server:"hub" version:"V"
~~> Leafnode "leaf" lid:N
    !!! Missing trace: server "leaf" at hop 1 did not report

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  Leafnode: 1

INCOMPLETE: 1 server trace(s) did not arrive: hop 1 "leaf"
"#,
    );
}

// ---------------------------------------------------------------------------------------
// Cross-kind chain
// ---------------------------------------------------------------------------------------

#[test]
fn client_route_gateway_leafnode_chain_with_jetstream_on_a_remote_server() {
    let (topology, _subs) = supercluster_with_a_stream_on_leaf2();
    let traced = trace("cross-kind-chain", &topology, "e1", &["orders.new"]);
    assert_egress_counts(
        &traced,
        &[
            ("Client", 3),
            ("Leafnode", 2),
            ("Router", 2),
            ("Gateway", 1),
            ("JetStream", 1),
        ],
    );
    assert_eq!(traced.code, 0);
    // e1's gateway connection to WEST lands on w1 or w2, whichever it picked; the rest of
    // the route follows from that choice.
    assert!(
        traced.tree == CHAIN_VIA_W1 || traced.tree == CHAIN_VIA_W2,
        "\n--- actual tree ---\n{}\n--- stderr ---\n{}",
        traced.tree,
        traced.run.stderr
    );
}

/// The demo's supercluster, with JetStream (its own domain) on the last leafnode and a
/// stream there on `orders.>`, and subscribers on `e1`, `e2` and `w1` whose interest has
/// reached the servers on the path.
fn supercluster_with_a_stream_on_leaf2() -> (Topology, Subscribers) {
    let topology = Topology::supercluster_builder()
        .configure("leaf2", |spec| spec.jetstream_domain("edge"))
        .start()
        .expect("servers start");
    let mut subs = Subscribers::new();
    subs.create_stream(
        &topology.url("leaf2"),
        serde_json::json!({"name": "EDGE_ORDERS", "subjects": ["orders.>"], "storage": "memory"}),
    );
    subs.subscribe(&topology.url("e1"), "audit", "orders.new", None);
    subs.subscribe(&topology.url("e2"), "billing", "orders.new", None);
    subs.subscribe(&topology.url("w1"), "shipping", "orders.new", None);
    for (server, count) in [("e1", 2), ("w1", 2), ("w2", 2), ("leaf1", 1)] {
        topology
            .wait_for_interest(server, "$G", "orders.new", count)
            .expect("interest");
    }
    (topology, subs)
}

/// The tree of the chain when `e1`'s gateway connection to WEST lands on `w1`.
const CHAIN_VIA_W1: &str = r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N cluster:"EAST" server:"e1" version:"V"
--C Client "audit" cid:N subject:"orders.new"
--> Router "e2" rid:N
    Router "e1" rid:N server:"e2" version:"V"
    --C Client "billing" cid:N subject:"orders.new"
==> Gateway "w1" gid:N
    Gateway "e1" gid:N cluster:"WEST" server:"w1" version:"V"
    --C Client "shipping" cid:N subject:"orders.new"
    --> Router "w2" rid:N
        Router "w1" rid:N server:"w2" version:"V"
        ~~> Leafnode "leaf1" lid:N
            Leafnode "w2" lid:N server:"leaf1" version:"V"
            ~~> Leafnode "leaf2" lid:N
                Leafnode "leaf1" lid:N server:"leaf2" version:"V"
                --J JetStream action:"stored" stream:"EDGE_ORDERS" subject:"orders.new"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

     Client: 3
   Leafnode: 2
     Router: 2
    Gateway: 1
  JetStream: 1
"#;

/// The tree of the chain when it lands on `w2`.
const CHAIN_VIA_W2: &str = r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N cluster:"EAST" server:"e1" version:"V"
--C Client "audit" cid:N subject:"orders.new"
--> Router "e2" rid:N
    Router "e1" rid:N server:"e2" version:"V"
    --C Client "billing" cid:N subject:"orders.new"
==> Gateway "w2" gid:N
    Gateway "e1" gid:N cluster:"WEST" server:"w2" version:"V"
    ~~> Leafnode "leaf1" lid:N
        Leafnode "w2" lid:N server:"leaf1" version:"V"
        ~~> Leafnode "leaf2" lid:N
            Leafnode "leaf1" lid:N server:"leaf2" version:"V"
            --J JetStream action:"stored" stream:"EDGE_ORDERS" subject:"orders.new"
    --> Router "w1" rid:N
        Router "w2" rid:N server:"w1" version:"V"
        --C Client "shipping" cid:N subject:"orders.new"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

     Client: 3
   Leafnode: 2
     Router: 2
    Gateway: 1
  JetStream: 1
"#;

/// A subscriber on the publishing connection itself, which has `no_echo`. The nats-trace
/// binary has no subscriber of its own on the traced subject, so this test drives the same
/// collector, stitcher and renderer through the library on a connection that does.
#[test]
fn a_no_echo_subscriber_on_the_publishing_connection_is_an_egress_error() {
    use nats_trace::connect::Connection;
    use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
    use nats_trace::trace::collect::{Probe, collect};

    let topology = single("");
    let mut subs = Subscribers::new();
    // On another subject level than the echo-less subscription, so that the order is fixed.
    subs.subscribe(&topology.url("n1"), "audit", "orders.*", None);
    let server_url = topology.url("n1");
    let (raw, output, complete) = subs.runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .name("echo-less")
            .no_echo()
            .connect(server_url.as_str())
            .await
            .expect("connects");
        let _own = client.subscribe("orders.new").await.expect("subscribes");
        client.flush().await.expect("flush");
        topology
            .wait_for_interest("n1", "$G", "orders.new", 2)
            .expect("interest");
        let (_tx, server_errors) = tokio::sync::mpsc::unbounded_channel();
        let mut conn = Connection {
            client,
            server_errors,
            display_url: server_url.clone(),
        };
        let probe = Probe {
            subject: "orders.new".into(),
            payload: String::new(),
            headers: Vec::new(),
            deliver: false,
            compression: Default::default(),
            timeout: Duration::from_secs(5),
            context: None,
        };
        let collected = collect(&mut conn, &probe, &Default::default())
            .await
            .expect("traces arrive");
        let raw: Vec<String> = collected.traces.iter().map(|t| t.json.clone()).collect();
        let complete = collected.is_complete();
        let report = TraceReport::new(
            probe.subject.clone(),
            false,
            collected.stitcher.finish(),
            None,
            complete,
        );
        let mut out = Vec::new();
        TreeRenderer::new(RenderOptions::default())
            .render(&report, &mut out)
            .expect("renders");
        (raw, String::from_utf8(out).expect("utf-8"), complete)
    });
    let tree = normalize(&output);
    write_capture("no-echo", &topology, &raw, &tree);
    assert!(complete);
    assert_eq!(
        tree,
        r#"Tracing message route to subject orders.new

Client "echo-less" cid:N server:"n1" version:"V"
--C Client "echo-less" cid:N subject:"orders.new"
  --X Error: Not delivered because of no echo
--C Client "audit" cid:N subject:"orders.*"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

  Client: 2
"#,
        "\n{tree}"
    );
}
