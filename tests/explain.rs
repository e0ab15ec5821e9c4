//! `trace --explain` against real misconfigurations on one supercluster with a system
//! account: no subscriber anywhere (SUBSZ, GATEWAYZ), a subscriber in another account
//! without an import (SUBSZ), a service export and a stream import without `allow_trace`
//! (SUBSZ, ACCOUNTZ), a leafnode whose `deny_exports` denies the trace destination (VARZ,
//! LEAFZ, ACCOUNTZ), an interest-retention stream without consumers and a message expecting
//! another stream (JSZ); no system credentials (CONNZ and one
//! note); a URL that is not a monitoring port (one line, the trace still printed); no
//! findings (nothing asked, nothing added).

mod common;

use common::{Subscribers, nats_trace};
use nats_trace::topology::spec::{SYSTEM_PASSWORD, SYSTEM_USER};
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};
use serde_json::Value;

const ACCOUNTS: &str = r#"APP: {
  users: [{user: "app", password: "app"}]
  jetstream: enabled
  imports: [
    {service: {account: SVC, subject: "svc.>"}}
    {stream: {account: SRC, subject: "feed.>"}}
  ]
}
SVC: { users: [{user: "svc", password: "svc"}], exports: [{service: "svc.>"}] }
SRC: { users: [{user: "src", password: "src"}], exports: [{stream: "feed.>"}] }
B: { users: [{user: "b", password: "b"}] }"#;

/// `e1` (EAST, leafnode hub) and `w1` (WEST) joined by gateways; `leaf1` whose APP leafnode
/// may not send `_INBOX.>` back (so its trace cannot reach the collector); `js1`, a leafnode
/// with JetStream in its own domain.
fn start() -> Topology {
    TopologyBuilder::new()
        .common("no_auth_user: app")
        .system_account(ACCOUNTS)
        .server(
            ServerSpec::new("e1")
                .cluster("EAST")
                .gateway()
                .leaf_listen(),
        )
        .server(ServerSpec::new("w1").cluster("WEST").gateway())
        .server(
            ServerSpec::new("leaf1")
                .leaf_remote("e1", "account: APP\n deny_exports: [\"_INBOX.>\"]")
                .system_leaf_remote("e1"),
        )
        .server(
            ServerSpec::new("js1")
                .jetstream_domain("edge")
                .leaf_remote("e1", "account: APP")
                .system_leaf_remote("e1"),
        )
        .start()
        .expect("topology starts")
}

fn with_user(user: &str) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::with_user_and_password(user.to_string(), user.to_string())
}

/// The subscribers and the stream each misconfiguration needs, and the interest waited for.
fn misconfigure(topology: &Topology) -> Subscribers {
    let mut subs = Subscribers::new();
    subs.subscribe_with(with_user("b"), &topology.url("w1"), "b", "orders.b", None);
    subs.subscribe_with(with_user("svc"), &topology.url("e1"), "svc", "svc.>", None);
    subs.subscribe_with(
        with_user("app"),
        &topology.url("e1"),
        "feed",
        "feed.x",
        None,
    );
    subs.subscribe_with(with_user("app"), &topology.url("e1"), "ok", "ok.x", None);
    subs.subscribe(&topology.url("leaf1"), "edge", "leaf.x", None);
    topology
        .wait_for_interest("e1", "APP", "leaf.x", 1)
        .expect("the leaf's interest reaches e1");
    let url = topology.url("js1");
    subs.runtime.block_on(async {
        let client = with_user("app").connect(url).await.expect("connects");
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "ORDERS".to_string(),
            subjects: vec!["js.>".to_string()],
            retention: async_nats::jetstream::stream::RetentionPolicy::Interest,
            ..Default::default()
        })
        .await
        .expect("stream created");
    });
    topology
        .wait_for_interest("e1", "APP", "js.x", 1)
        .expect("the stream's interest reaches e1");
    for (name, subjects) in [("PAY", "pay.>"), ("OTHER", "other.>")] {
        subs.create_stream(
            &topology.url("js1"),
            serde_json::json!({"name": name, "subjects": [subjects], "storage": "memory"}),
        );
    }
    topology
        .wait_for_interest("e1", "APP", "pay.x", 1)
        .expect("the PAY stream's interest reaches e1");
    subs
}

/// A nats CLI context file for the system user, connected through `e1`.
fn system_context(topology: &Topology) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    let context = serde_json::json!({
        "url": topology.url("e1"),
        "user": SYSTEM_USER,
        "password": SYSTEM_PASSWORD,
    });
    std::fs::write(file.path(), context.to_string()).expect("write context");
    file
}

/// `trace --explain` of `subject` through e1 with the system context and `extra` options.
fn explain(topology: &Topology, ctx: &str, subject: &str, extra: &[&str]) -> common::Run {
    let url = topology.url("e1");
    let args = [
        &[
            "trace",
            subject,
            "-s",
            &url,
            "--explain",
            "--system-context",
            ctx,
        ][..],
        extra,
    ]
    .concat();
    nats_trace(&args)
}

fn section(stdout: &str) -> &str {
    stdout
        .split_once("\nExplanation\n")
        .map_or("", |(_, section)| section)
}

#[test]
fn every_finding_is_explained_by_its_endpoint() {
    let topology = start();
    let _subs = misconfigure(&topology);
    let context = system_context(&topology);
    let ctx = context.path().to_str().expect("path");
    no_interest(&topology, ctx);
    boundaries(&topology, ctx);
    missing_and_jetstream(&topology, ctx);
    without_system_credentials(&topology);
    wrong_url_and_no_findings(&topology, ctx);
    in_a_check_suite(&topology);
}

/// `explain = true` in a check case: the explanation in the case's line.
fn in_a_check_suite(topology: &Topology) {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("suite.toml");
    let text = format!(
        "[[case]]\nname = \"nowhere\"\nsubject = \"nothing.here\"\nserver = \"{}\"\nexpect = [\"delivered>=1\"]\nexplain = true\n",
        topology.url("e1")
    );
    std::fs::write(&suite, text).expect("write suite");
    let run = nats_trace(&["check", suite.to_str().expect("path")]);
    assert_eq!(run.code, 1, "{} {}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("[CONNZ] no connection of your account subscribes"),
        "{}",
        run.stdout
    );
}

fn no_interest(topology: &Topology, ctx: &str) {
    let none = explain(topology, ctx, "nothing.here", &[]);
    let text = section(&none.stdout);
    assert!(
        text.contains(
            "[SUBSZ] no subscription matches `nothing.here` in account APP on any of 4 servers"
        ),
        "{}",
        none.stdout
    );
    assert!(
        text.contains("[GATEWAYZ] the gateway to WEST"),
        "{}",
        none.stdout
    );
    let other = explain(topology, ctx, "orders.b", &[]);
    assert!(
        section(&other.stdout).contains(
            "matching subscriptions exist in account B on w1, but APP does not import them"
        ),
        "{}",
        other.stdout
    );
    let json = explain(topology, ctx, "orders.b", &["--format", "json"]);
    let doc: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let first = &doc["explanations"][0];
    assert_eq!(first["finding"], "no_interest");
    assert_eq!(first["endpoint"], "SUBSZ");
    assert_eq!(first["server"], "e1");
}

fn boundaries(topology: &Topology, ctx: &str) {
    let service = explain(topology, ctx, "svc.x", &[]);
    assert!(
        section(&service.stdout).contains(
            "[SUBSZ] account SVC has subscriptions matching `svc.x` on e1 but did not report: its service export does not allow_trace"
        ),
        "{}",
        service.stdout
    );
    let stream = explain(
        topology,
        ctx,
        "feed.x",
        &["--user", "src", "--password", "src"],
    );
    assert!(
        section(&stream.stdout).contains(
            "[ACCOUNTZ] account APP imports the stream `feed.>` from SRC without allow_trace"
        ),
        "{}",
        stream.stdout
    );
}

fn missing_and_jetstream(topology: &Topology, ctx: &str) {
    let leaf = explain(topology, ctx, "leaf.x", &["--timeout", "1s"]);
    let text = section(&leaf.stdout);
    assert!(
        text.contains(
            "[VARZ] server leaf1's leafnode remote (account APP) denies exports of `_INBOX.>`, which matches the trace destination `_INBOX."
        ),
        "{}",
        leaf.stdout
    );
    assert!(text.contains("leaf1's trace cannot leave it"), "{text}");
    assert!(
        text.contains(
            "[LEAFZ] server e1's leafnode link to leaf1 is bound to account APP (leaf1 made it); LEAFZ reports no permissions of a link"
        ),
        "{text}"
    );
    assert!(
        text.contains("[ACCOUNTZ] account APP on leaf1 has no import or export matching `leaf.x`"),
        "{text}"
    );
    let json = explain(
        topology,
        ctx,
        "leaf.x",
        &["--timeout", "1s", "--format", "json"],
    );
    let doc: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let endpoints: Vec<&str> = doc["explanations"]
        .as_array()
        .expect("explanations")
        .iter()
        .filter(|e| e["finding"] == "missing" && e["server"] == "leaf1")
        .filter_map(|e| e["endpoint"].as_str())
        .collect();
    assert_eq!(endpoints, ["VARZ", "LEAFZ", "ACCOUNTZ"], "{}", json.stdout);
    let mismatch = explain(
        topology,
        ctx,
        "pay.x",
        &["-H", "Nats-Expected-Stream:OTHER"],
    );
    assert!(
        section(&mismatch.stdout).contains(
            "[JSZ] the message expects stream OTHER (Nats-Expected-Stream), but `pay.x` is held by stream PAY (subjects `pay.>`), which refused it ("
        ),
        "{}",
        mismatch.stdout
    );
    assert!(
        section(&mismatch.stdout).contains("; stream OTHER exists but holds `other.>`"),
        "{}",
        mismatch.stdout
    );
    let js = explain(topology, ctx, "js.x", &[]);
    assert!(
        section(&js.stdout)
            .contains("[JSZ] stream ORDERS has interest retention and 0 consumer(s)"),
        "{}",
        js.stdout
    );
}

fn without_system_credentials(topology: &Topology) {
    let url = topology.url("e1");
    let run = nats_trace(&["trace", "nothing.here", "-s", &url, "--explain"]);
    assert!(
        section(&run.stdout).contains(
            "[CONNZ] no connection of your account subscribes to a subject matching `nothing.here`"
        ),
        "{} {}",
        run.stdout,
        run.stderr
    );
    let notes: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(notes.len(), 1, "{}", run.stderr);
    assert!(
        notes[0].contains("needs system credentials"),
        "{}",
        run.stderr
    );
}

fn wrong_url_and_no_findings(topology: &Topology, ctx: &str) {
    let url = topology.url("e1");
    let client_port = url.replace("nats://", "http://");
    let run = nats_trace(&[
        "trace",
        "nothing.here",
        "-s",
        &url,
        "--explain",
        "--monitor",
        &client_port,
    ]);
    assert!(run.stdout.contains("No active interest"), "{}", run.stdout);
    assert!(!run.stdout.contains("Explanation"), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--explain: no monitoring endpoint answered"),
        "{}",
        run.stderr
    );
    let fine = explain(topology, ctx, "ok.x", &[]);
    assert_eq!(fine.code, 0, "{}", fine.stderr);
    assert!(!fine.stdout.contains("Explanation"), "{}", fine.stdout);
    assert!(fine.stderr.is_empty(), "{}", fine.stderr);
}
