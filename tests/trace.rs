//! End-to-end traces through real nats-server topologies on 127.0.0.1: a single server, a
//! three-node cluster and a supercluster with a leafnode chain; trace-only versus delivery;
//! every compression; no interest; unreachable servers and invalid subjects.

mod common;

use std::time::Duration;

use futures_util::StreamExt;

use common::{Subscribers, nats_trace, normalize_ids};
use nats_trace::topology::Topology;

const LEGEND: &str =
    "Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X";

#[test]
fn single_server_tree() {
    let topology = Topology::single().expect("topology");
    let url = topology.url("n1");
    let mut subs = Subscribers::new();
    subs.subscribe(&url, "worker-a", "orders.new", None);
    subs.subscribe(&url, "worker-b", "orders.*", None);

    let run = nats_trace(&["-s", &url, "orders.new", "hello"]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "Tracing message route to subject orders.new

Client \"nats-trace\" cid:N server:\"n1\" version:\"2.15.1\"
--C Client \"worker-a\" cid:N subject:\"orders.new\"
--C Client \"worker-b\" cid:N subject:\"orders.*\"

{LEGEND}

Egress Count:

  Client: 2
"
    );
    assert_eq!(
        normalize_ids(&run.stdout),
        expected,
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn cluster_tree_crosses_routes() {
    let topology = Topology::cluster().expect("topology");
    let mut subs = Subscribers::new();
    subs.subscribe(&topology.url("n2"), "worker-2", "orders.new", None);
    subs.subscribe(&topology.url("n3"), "worker-3", "orders.new", None);
    topology
        .wait_for_interest("n1", "$G", "orders.new", 2)
        .expect("interest reaches n1");

    let run = nats_trace(&["-s", &topology.url("n1"), "orders.new"]);
    assert_eq!(run.code, 0, "{run:?}");
    let block = |n: &str| {
        format!(
            "--> Router \"{n}\" rid:N\n    Router \"n1\" rid:N server:\"{n}\" version:\"2.15.1\"\n    --C Client \"worker-{}\" cid:N subject:\"orders.new\"\n",
            &n[1..]
        )
    };
    // n1 numbers its hops in the order it forwards, which the server does not fix: the
    // blocks follow hop order, so either server may come first.
    let tree = normalize_ids(&run.stdout);
    let (first, second) = if tree.find("Router \"n2\"") < tree.find("Router \"n3\"") {
        ("n2", "n3")
    } else {
        ("n3", "n2")
    };
    let expected = format!(
        "Tracing message route to subject orders.new\n\nClient \"nats-trace\" cid:N cluster:\"C1\" server:\"n1\" version:\"2.15.1\"\n{}{}\n{LEGEND}\n\nEgress Count:\n\n  Client: 2\n  Router: 2\n",
        block(first),
        block(second)
    );
    assert_eq!(tree, expected, "stderr: {}", run.stderr);
}

/// The supercluster tree with the queue member's name (either may be picked) replaced.
fn supercluster_tree(stdout: &str) -> String {
    normalize_ids(stdout).replace("\"shipping-2\"", "\"shipping\"")
}

const SUPERCLUSTER_TREE: &str =
    "Client \"nats-trace\" cid:N cluster:\"EAST\" server:\"e1\" version:\"2.15.1\"
--C Client \"audit\" cid:N subject:\"orders.new\"
--> Router \"e2\" rid:N
    Router \"e1\" rid:N server:\"e2\" version:\"2.15.1\"
    --C Client \"billing\" cid:N subject:\"orders.new\"
==> Gateway \"w1\" gid:N
    Gateway \"e1\" gid:N cluster:\"WEST\" server:\"w1\" version:\"2.15.1\"
    --C Client \"shipping\" cid:N subject:\"orders.new\" queue:\"shippers\"
    --> Router \"w2\" rid:N
        Router \"w1\" rid:N server:\"w2\" version:\"2.15.1\"
        ~~> Leafnode \"leaf1\" lid:N
            Leafnode \"w2\" lid:N server:\"leaf1\" version:\"2.15.1\"
            ~~> Leafnode \"leaf2\" lid:N
                Leafnode \"leaf1\" lid:N server:\"leaf2\" version:\"2.15.1\"
                --C Client \"edge-cache\" cid:N subject:\"orders.new\"
";

#[test]
fn supercluster_tree_crosses_route_gateway_and_leafnode_chain() {
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let run = nats_trace(&["-s", &e1, "orders.new"]);
    assert_eq!(run.code, 0, "{run:?}");
    // The gateway from e1 may land on w1 or w2; this topology's readiness makes e1's
    // outbound gateway the one it connected to, so accept either WEST entry point.
    let tree = supercluster_tree(&run.stdout);
    let expected = format!(
        "Tracing message route to subject orders.new\n\n{SUPERCLUSTER_TREE}\n{LEGEND}\n\nEgress Count:\n\n    Client: 4\n  Leafnode: 2\n    Router: 2\n   Gateway: 1\n"
    );
    if tree.contains("==> Gateway \"w1\"") {
        assert_eq!(tree, expected, "stderr: {}", run.stderr);
    } else {
        // Entered WEST at w2: the route then goes w2 → w1 and the chain hangs off w2.
        for line in [
            "==> Gateway \"w2\" gid:N",
            "    ~~> Leafnode \"leaf1\" lid:N",
            "        ~~> Leafnode \"leaf2\" lid:N",
            "    --> Router \"w1\" rid:N",
            "        --C Client \"shipping\" cid:N subject:\"orders.new\" queue:\"shippers\"",
        ] {
            assert!(
                tree.lines().any(|l| l == line),
                "missing {line:?} in\n{tree}"
            );
        }
        assert!(
            tree.ends_with(
                "Egress Count:\n\n    Client: 4\n  Leafnode: 2\n    Router: 2\n   Gateway: 1\n"
            ),
            "{tree}"
        );
    }
}

#[test]
fn every_compression_gives_the_same_tree() {
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let trees: Vec<String> = ["snappy", "gzip", "none"]
        .iter()
        .map(|compression| {
            let run = nats_trace(&["-s", &e1, "orders.new", "--compression", compression]);
            assert_eq!(run.code, 0, "{compression}: {run:?}");
            supercluster_tree(&run.stdout)
        })
        .collect();
    assert_eq!(trees[0], trees[1]);
    assert_eq!(trees[0], trees[2]);
    assert!(
        trees[0].contains("Leafnode \"leaf1\" lid:N server:\"leaf2\""),
        "{}",
        trees[0]
    );
}

#[test]
fn raw_prints_each_decompressed_trace_message() {
    let (topology, _subs) = common::demo_supercluster();
    let run = nats_trace(&["-s", &topology.url("e1"), "orders.new", "--raw"]);
    assert_eq!(run.code, 0, "{run:?}");
    let raw: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix(">>> "))
        .map(|json| serde_json::from_str(json).expect("each raw line is the server's JSON"))
        .collect();
    let mut servers: Vec<&str> = raw
        .iter()
        .filter_map(|v| v["server"]["name"].as_str())
        .collect();
    servers.sort();
    assert_eq!(servers.len(), 6, "{}", run.stdout);
    assert!(
        servers.contains(&"leaf2") && servers.contains(&"e1"),
        "{servers:?}"
    );
}

#[test]
fn trace_only_delivers_nothing_and_deliver_delivers_once() {
    let topology = Topology::cluster().expect("topology");
    let mut subs = Subscribers::new();
    let n1 = topology.url("n1");
    let local = subs.subscribe(&n1, "local", "orders.new", None);
    let remote = subs.subscribe(&topology.url("n3"), "remote", "orders.new", None);
    topology
        .wait_for_interest("n1", "$G", "orders.new", 2)
        .expect("interest");

    let run = nats_trace(&["-s", &n1, "orders.new", "traced-only"]);
    assert_eq!(run.code, 0, "{run:?}");
    subs.publish(&n1, "orders.new", "sentinel-1");
    assert!(
        subs.received_until(local, "sentinel-1", Duration::from_secs(5))
            .is_empty()
    );
    assert!(
        subs.received_until(remote, "sentinel-1", Duration::from_secs(5))
            .is_empty()
    );

    let run = nats_trace(&["-s", &n1, "orders.new", "delivered", "--deliver"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with(
            "Tracing message route to subject orders.new with delivery to the final destination\n"
        ),
        "{}",
        run.stdout
    );
    subs.publish(&n1, "orders.new", "sentinel-2");
    assert_eq!(
        subs.received_until(local, "sentinel-2", Duration::from_secs(5)),
        ["delivered"]
    );
    assert_eq!(
        subs.received_until(remote, "sentinel-2", Duration::from_secs(5)),
        ["delivered"]
    );
}

#[test]
fn user_headers_reach_the_servers() {
    let topology = Topology::single().expect("topology");
    let run = nats_trace(&[
        "-s",
        &topology.url("n1"),
        "orders.new",
        "-H",
        "X-Tenant:acme",
        "--raw",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let origin: serde_json::Value = serde_json::from_str(
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(">>> "))
            .expect("a raw line"),
    )
    .expect("json");
    assert_eq!(
        origin["request"]["header"]["X-Tenant"][0], "acme",
        "{origin}"
    );
    assert_eq!(origin["request"]["header"]["Nats-Trace-Only"][0], "true");
    assert_eq!(origin["request"]["header"]["Accept-Encoding"][0], "snappy");
}

#[test]
fn no_interest_is_reported_and_exits_zero() {
    let topology = Topology::single().expect("topology");
    let run = nats_trace(&["-s", &topology.url("n1"), "nobody.listens"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        normalize_ids(&run.stdout),
        format!(
            "Tracing message route to subject nobody.listens\n\nClient \"nats-trace\" cid:N server:\"n1\" version:\"2.15.1\"\n--X No active interest\n\n{LEGEND}\n\n"
        )
    );
}

#[test]
fn timestamps_prefix_every_line() {
    let topology = Topology::single().expect("topology");
    let mut subs = Subscribers::new();
    subs.subscribe(&topology.url("n1"), "worker", "orders.new", None);
    let run = nats_trace(&["-s", &topology.url("n1"), "orders.new", "-T"]);
    assert_eq!(run.code, 0, "{run:?}");
    let tree: Vec<&str> = run.stdout.lines().skip(2).take(2).collect();
    assert!(
        tree[0].starts_with("[0s] Client \"nats-trace\""),
        "{tree:?}"
    );
    assert!(
        tree[1].starts_with('[') && tree[1].contains("] --C Client \"worker\""),
        "{tree:?}"
    );
}

#[test]
fn unreachable_server_fails_fast_with_one_line() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let url = format!("nats://127.0.0.1:{port}");
    let run = nats_trace(&["-s", &url, "orders.new", "--timeout", "2s"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with(&format!("nats-trace: error: cannot connect to {url}")),
        "{}",
        run.stderr
    );
    // How fast it fails is measured by `benches/live.rs`; a hang is caught by the bound on
    // every run (`common::RUN_LIMIT`).
}

#[test]
fn wildcard_subject_is_refused_before_connecting() {
    // The server URL points nowhere: the subject check must come first.
    for subject in ["orders.*", "orders.>", "orders..new"] {
        let run = nats_trace(&["-s", "nats://127.0.0.1:1", subject]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .starts_with(&format!("nats-trace: error: invalid subject \"{subject}\"")),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1);
    }
}

#[test]
fn demo_crosses_routes_a_gateway_and_two_leafnodes() {
    let run = nats_trace(&["demo"]);
    assert_eq!(run.code, 0, "{run:?}");
    let tree = normalize_ids(&run.stdout);
    for kind in [
        "--> Router",
        "==> Gateway",
        "~~> Leafnode \"leaf1\"",
        "~~> Leafnode \"leaf2\"",
    ] {
        assert!(tree.contains(kind), "missing {kind:?} in\n{tree}");
    }
    assert!(
        tree.contains("Leafnode \"leaf1\" lid:N server:\"leaf2\""),
        "{tree}"
    );
    assert!(tree.contains("--C Client \"edge-cache\""), "{tree}");
}

#[test]
fn a_hundred_traces_in_a_row_are_all_complete() {
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let mut attempts_over_one = 0;
    for n in 0..100 {
        let run = nats_trace(&["-s", &e1, "orders.new", "-v"]);
        assert_eq!(run.code, 0, "run {n}: {run:?}");
        assert!(
            run.stdout.contains("Leafnode \"leaf1\" lid:")
                && run.stdout.contains("server:\"leaf2\""),
            "run {n}: {}",
            run.stdout
        );
        if !run.stderr.contains(", attempt 1 of 1,") {
            attempts_over_one += 1;
        }
    }
    // Re-publishing is how lost remote traces are recovered; report how often it happened.
    eprintln!("{attempts_over_one} of 100 traces needed more than one attempt");
}

/// `--deliver` publishes the message once, so it must arrive complete the first time: the
/// warm-ups (trace-only, same subject, same inbox prefix) make sure the inbox's interest has
/// reached every server on the path first. 200 delivered traces in a row on the supercluster
/// with a leafnode chain, through the library entry point (`trace::live`), each complete and
/// delivered exactly once to every subscriber (once to the queue group).
#[test]
fn two_hundred_delivered_traces_in_a_row_are_complete_and_delivered_once() {
    use nats_trace::settings::ConnectionOptions;
    use nats_trace::trace::collect::Probe;
    use nats_trace::trace::live::trace_live;

    const RUNS: usize = 200;
    let (topology, mut subs) = common::demo_supercluster();
    let connection =
        ConnectionOptions::plain(topology.url("e1"), "nats-trace", Duration::from_secs(10));
    let mut warmups = Vec::with_capacity(RUNS);
    let mut incomplete = Vec::new();
    for n in 0..RUNS {
        let probe = Probe {
            subject: "orders.new".into(),
            payload: format!("delivered-{n}"),
            headers: Vec::new(),
            deliver: true,
            compression: Default::default(),
            timeout: Duration::from_secs(10),
            context: None,
        };
        let live = subs
            .runtime
            .block_on(trace_live(&connection, &probe, &Default::default()))
            .unwrap_or_else(|e| panic!("run {n}: {e}"));
        if !live.report.complete {
            incomplete.push(n);
        }
        assert_eq!(live.traces.len(), 6, "run {n}");
        warmups.push(live.warmup.expect("a delivered message is warmed up"));
    }
    assert_eq!(incomplete, Vec::<usize>::new(), "incomplete runs");
    assert_delivered_once(&topology, &mut subs, RUNS);
    report_warmup_cost(&mut warmups);
}

/// Every demo subscriber got each `delivered-N` exactly once; the queue group's two members
/// together got each once.
fn assert_delivered_once(topology: &Topology, subs: &mut Subscribers, runs: usize) {
    let wanted: Vec<String> = {
        let mut all: Vec<String> = (0..runs).map(|n| format!("delivered-{n}")).collect();
        all.sort();
        all
    };
    subs.publish(&topology.url("e1"), "orders.new", "sentinel");
    // DEMO_SUBSCRIBERS: audit, billing, shipping + shipping-2 (queue group), edge-cache.
    for (index, name) in [(0, "audit"), (1, "billing"), (4, "edge-cache")] {
        let mut got = subs.received_until(index, "sentinel", Duration::from_secs(10));
        got.sort();
        assert_eq!(got, wanted, "{name}");
    }
    let mut group = queue_group_received(subs, [2, 3]);
    group.sort();
    assert_eq!(group, wanted, "the shippers queue group");
}

/// What the members of a queue group received: a sentinel reaches only one member, so
/// sentinels are published (on a quiet moment, from a member's own client) until every
/// member has seen one; each member's messages arrive in order, so by then it has all.
fn queue_group_received(subs: &mut Subscribers, members: [usize; 2]) -> Vec<String> {
    let publisher = subs.clients[members[0]].clone();
    let [a, b] = members;
    let (first, rest) = subs.subscriptions.split_at_mut(b);
    let (sub_a, sub_b) = (&mut first[a], &mut rest[0]);
    subs.runtime.block_on(async {
        let mut payloads = Vec::new();
        let mut done = [false, false];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while done != [true, true] {
            assert!(
                tokio::time::Instant::now() < deadline,
                "sentinels never reached both members"
            );
            let quiet = tokio::time::sleep(Duration::from_millis(20));
            let (member, message) = tokio::select! {
                Some(m) = sub_a.next(), if !done[0] => (0, m),
                Some(m) = sub_b.next(), if !done[1] => (1, m),
                () = quiet => {
                    publisher.publish("orders.new", "sentinel".into()).await.expect("publish");
                    continue;
                }
            };
            match String::from_utf8_lossy(&message.payload).to_string() {
                text if text == "sentinel" => done[member] = true,
                text => payloads.push(text),
            }
        }
        payloads
    })
}

/// Prints the warm-ups' cost (median and p90, and how many needed more than one attempt),
/// for docs/trace-context.md; timing is not asserted here.
fn report_warmup_cost(warmups: &mut [nats_trace::trace::collect::WarmUp]) {
    warmups.sort_by_key(|w| w.elapsed);
    let at = |q: f64| warmups[((warmups.len() - 1) as f64 * q) as usize].elapsed;
    let repeated = warmups.iter().filter(|w| w.attempts > 1).count();
    let unfinished = warmups.iter().filter(|w| !w.complete).count();
    eprintln!(
        "warm-up over {} runs: median {:?}, p90 {:?}, max {:?}; {repeated} needed more than one attempt, {unfinished} never complete",
        warmups.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}
