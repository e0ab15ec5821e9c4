//! `nats-trace topology` against real servers: the demo's supercluster with a system-account
//! user, discovered through the system account and through the monitoring ports (the same
//! network either way), drawn as tree, JSON, DOT and Mermaid, with a trace's path on it; a
//! stopped server; no system credentials; a URL that is not a monitoring port.

mod common;

use common::{Subscribers, nats_trace};
use nats_trace::topology::Topology;
use nats_trace::topology::demo::{DEMO_SUBJECT, topology_builder};
use nats_trace::topology::spec::{SYSTEM_PASSWORD, SYSTEM_USER};
use serde_json::Value;

/// The demo's APP account (clients without credentials), for [`demo_with_system`].
const APP: &str = r#"APP: {
  users: [{user: "demo", password: "demo"}]
  msg_trace: { dest: "trace.demo", sampling: "100%" }
}"#;

/// The demo's supercluster, with a user in the system account.
fn demo_with_system() -> Topology {
    topology_builder()
        .system_account(APP)
        .configure("leaf1", |s| s.system_leaf_remote("w2"))
        .configure("leaf2", |s| s.system_leaf_remote("leaf1"))
        .start()
        .expect("topology starts")
}

/// A nats CLI context file for the system user of `topology` (connected through `server`).
fn system_context(topology: &Topology, server: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    let context = serde_json::json!({
        "url": topology.url(server),
        "user": SYSTEM_USER,
        "password": SYSTEM_PASSWORD,
    });
    std::fs::write(file.path(), context.to_string()).expect("write context");
    file
}

fn monitor_urls(topology: &Topology) -> String {
    topology
        .servers()
        .iter()
        .map(|s| s.monitor_url())
        .collect::<Vec<_>>()
        .join(",")
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("JSON ({e}): {stdout}"))
}

fn names(doc: &Value) -> Vec<String> {
    doc["network"]["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Runs `args` until the network has all six servers (the system account's interest
/// reaches the leafnodes shortly after they connect), bounded.
fn discover_all(args: &[&str]) -> common::Run {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let run = nats_trace(args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        if names(&json_of(&run.stdout)).len() == 6 || std::time::Instant::now() > deadline {
            return run;
        }
    }
}

#[test]
fn system_account_and_monitoring_urls_discover_the_same_network() {
    let topology = demo_with_system();
    let context = system_context(&topology, "e1");
    let ctx = context.path().to_str().expect("path");
    let sys = discover_all(&["topology", "--json", "--system-context", ctx]);
    let http = nats_trace(&["topology", "--json", "--monitor", &monitor_urls(&topology)]);
    assert_eq!(http.code, 0, "{}", http.stderr);
    let (sys, http) = (json_of(&sys.stdout), json_of(&http.stdout));
    assert_eq!(names(&sys), ["e1", "e2", "leaf1", "leaf2", "w1", "w2"]);
    assert_eq!(sys["network"]["servers"], http["network"]["servers"]);
    assert_eq!(sys["links"], http["links"]);
    assert_eq!(sys["network"]["source"], "system account");
    assert_eq!(http["network"]["source"], "monitoring URLs");
    let e1 = &sys["network"]["servers"][0];
    assert_eq!(e1["cluster"], "EAST");
    assert_eq!(e1["routes"], serde_json::json!(["e2"]));
    assert_eq!(e1["gateways"][0]["cluster"], "WEST");
    assert_eq!(e1["tracing"], true);
    let leaf2 = &sys["network"]["servers"][3];
    assert_eq!(leaf2["leafnodes"][0]["server"], "leaf1");
    assert_eq!(leaf2["leafnodes"][0]["account"], "APP");
    assert_eq!(leaf2["leafnodes"][0]["spoke"], true);
}

#[test]
fn the_path_of_a_trace_is_drawn_on_the_network_in_every_format() {
    let topology = demo_with_system();
    let mut subs = Subscribers::new();
    subs.subscribe(&topology.url("leaf2"), "edge", DEMO_SUBJECT, None);
    topology
        .wait_for_interest("leaf1", "APP", DEMO_SUBJECT, 1)
        .expect("leaf1 knows the interest");
    topology
        .wait_for_interest("w2", "APP", DEMO_SUBJECT, 1)
        .expect("w2 knows the interest");
    let context = system_context(&topology, "e1");
    let ctx = context.path().to_str().expect("path");
    let url = topology.url("e1");
    let base = [
        "topology",
        "-s",
        &url,
        "--system-context",
        ctx,
        "--trace",
        DEMO_SUBJECT,
    ];
    let tree = nats_trace(&base);
    assert_eq!(tree.code, 0, "{}", tree.stderr);
    assert!(tree.stdout.contains("Cluster EAST"), "{}", tree.stdout);
    assert!(tree.stdout.contains("* e1 (nats-server"), "{}", tree.stdout);
    assert!(
        tree.stdout.contains("* leaf2 (nats-server"),
        "{}",
        tree.stdout
    );
    assert!(tree.stdout.contains("  e2 (nats-server"), "{}", tree.stdout);
    let json = nats_trace(&[&base[..], &["--format", "json"]].concat());
    let doc = json_of(&json.stdout);
    let crossed: Vec<&Value> = doc["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter(|l| l["mark"] == "path")
        .collect();
    assert!(
        crossed
            .iter()
            .any(|l| l["kind"] == "leafnode" && l["a"] == "leaf1" && l["b"] == "leaf2"),
        "{crossed:?}"
    );
    assert!(doc["path"]["servers"].as_array().expect("path").len() >= 4);
    for format in ["dot", "mermaid"] {
        let drawn = nats_trace(&[&base[..], &["--format", format]].concat());
        assert_eq!(drawn.code, 0, "{format}: {}", drawn.stderr);
        assert!(drawn.stdout.contains("leaf2"), "{format}: {}", drawn.stdout);
    }
    check_pictures(&base);
}

/// DOT (accepted by `dot` when installed) and Mermaid, with the path thick and the rest grey.
fn check_pictures(base: &[&str]) {
    let dot = nats_trace(&[base, &["--format", "dot"]].concat());
    assert!(
        dot.stdout.starts_with("graph nats_network {"),
        "{}",
        dot.stdout
    );
    assert!(dot.stdout.contains("subgraph cluster_"), "{}", dot.stdout);
    assert!(
        dot.stdout.contains("penwidth=3"),
        "path links are thick: {}",
        dot.stdout
    );
    assert!(
        dot.stdout.contains("#bdbdbd"),
        "other links are grey: {}",
        dot.stdout
    );
    if let Ok(mut child) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(dot.stdout.as_bytes()).expect("write");
        drop(stdin);
        assert!(child.wait().expect("dot").success(), "dot accepts it");
    }
    let mermaid = nats_trace(&[base, &["--format", "mermaid"]].concat());
    assert!(
        mermaid.stdout.starts_with("flowchart LR"),
        "{}",
        mermaid.stdout
    );
    assert!(mermaid.stdout.contains("class s"), "{}", mermaid.stdout);
    assert!(
        mermaid.stdout.contains("stroke-width:4px"),
        "{}",
        mermaid.stdout
    );
}

#[test]
fn a_stopped_server_no_system_credentials_and_a_wrong_url() {
    let mut topology = demo_with_system();
    let urls = monitor_urls(&topology);
    topology.kill("leaf2");
    let http = nats_trace(&["topology", "--json", "--monitor", &urls]);
    assert_eq!(http.code, 0, "{}", http.stderr);
    assert_eq!(names(&json_of(&http.stdout)).len(), 5);
    assert_eq!(http.stderr.lines().count(), 1, "{}", http.stderr);
    assert!(
        http.stderr.contains("nats-trace: warning: "),
        "{}",
        http.stderr
    );
    let context = system_context(&topology, "w1");
    let ctx = context.path().to_str().expect("path");
    let sys = nats_trace(&["topology", "--system-context", ctx]);
    assert_eq!(sys.code, 0, "{}", sys.stderr);
    assert!(!sys.stdout.contains("leaf2 (nats-server"), "{}", sys.stdout);
    let own = nats_trace(&["topology", "-s", &topology.url("e1")]);
    assert_eq!(own.code, 2, "{} {}", own.stdout, own.stderr);
    assert!(own.stderr.contains("system credentials"), "{}", own.stderr);
    assert_eq!(own.stderr.lines().count(), 1, "{}", own.stderr);
    let client_port = format!(
        "http://127.0.0.1:{}",
        topology.server("e1").expect("e1").client_port
    );
    let wrong = nats_trace(&["topology", "--monitor", &client_port]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert_eq!(wrong.stderr.lines().count(), 1, "{}", wrong.stderr);
}
