//! Property tests of the stitching invariants on well-formed route trees of random shape,
//! received in any order and with any servers missing: every received trace appears exactly
//! once, the walk order is total and does not depend on arrival order, egress counts equal
//! the egress (and JetStream) events, and the completeness flag agrees with the missing
//! nodes. Arbitrary, malformed sequences are the stitch fuzzer's (`src/fuzzing.rs`).

use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::{Stitcher, TraceGraph};
use nats_trace_testkit::fuzzing::{check_graph, shape};
use proptest::prelude::*;
use serde_json::json;

/// One server of a generated tree.
#[derive(Debug, Clone)]
struct Server {
    hop: String,
    /// Link kind of the connection it was reached by (1 route, 2 gateway, 4 leafnode).
    kind: u8,
    clients: usize,
    jetstream: bool,
    children: Vec<usize>,
}

/// A tree from parent choices: server `i + 1` hangs under server `parents[i] % (i + 1)`.
fn tree(parents: &[usize], kinds: &[u8], clients: &[usize], js: &[bool]) -> Vec<Server> {
    let mut servers = vec![Server {
        hop: String::new(),
        kind: 0,
        clients: clients.first().copied().unwrap_or(0),
        jetstream: js.first().copied().unwrap_or(false),
        children: Vec::new(),
    }];
    for (i, choice) in parents.iter().enumerate() {
        let parent = choice % (i + 1);
        let n = servers[parent].children.len() + 1;
        let hop = if servers[parent].hop.is_empty() {
            n.to_string()
        } else {
            format!("{}.{n}", servers[parent].hop)
        };
        let index = servers.len();
        servers[parent].children.push(index);
        servers.push(Server {
            hop,
            kind: kinds.get(i).copied().unwrap_or(1),
            clients: clients.get(i + 1).copied().unwrap_or(0),
            jetstream: js.get(i + 1).copied().unwrap_or(false),
            children: Vec::new(),
        });
    }
    servers
}

fn trace(servers: &[Server], index: usize) -> TraceMessage {
    let server = &servers[index];
    let ts = "2026-01-01T00:00:00.000001Z";
    let mut events = vec![json!({
        "type": "in", "ts": ts, "kind": server.kind, "cid": 1,
        "name": format!("from-{index}"), "acc": "$G", "subj": "orders.new",
    })];
    for c in 0..server.clients {
        events.push(json!({
            "type": "eg", "ts": ts, "kind": 0, "cid": 10 + c,
            "name": format!("client-{index}-{c}"), "sub": "orders.new",
        }));
    }
    if server.jetstream {
        events.push(json!({"type": "js", "ts": ts, "stream": "S"}));
    }
    for &child in &server.children {
        events.push(json!({
            "type": "eg", "ts": ts, "kind": servers[child].kind, "cid": 100 + child,
            "name": format!("s{child}"), "hop": servers[child].hop,
        }));
    }
    let mut header = json!({"Nats-Trace-Dest": ["_INBOX.p.1"]});
    if !server.hop.is_empty() {
        header["Nats-Trace-Hop"] = json!([server.hop]);
    }
    let message = json!({
        "server": {"name": format!("s{index}"), "id": format!("N{index}"), "ver": "2.15.1"},
        "request": {"header": header, "msgsize": 10},
        "hops": server.children.len(),
        "events": events,
    });
    TraceMessage::from_json(message.to_string().as_bytes()).expect("generated trace parses")
}

/// A random tree, which of its servers reported, and an arrival order of those.
fn case() -> impl Strategy<Value = (Vec<Server>, Vec<usize>)> {
    (1usize..40)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(any::<usize>(), n - 1),
                proptest::collection::vec(prop_oneof![Just(1u8), Just(2), Just(4)], n - 1),
                proptest::collection::vec(0usize..3, n),
                proptest::collection::vec(any::<bool>(), n),
                proptest::collection::vec(prop::bool::weighted(0.85), n),
            )
        })
        .prop_flat_map(|(parents, kinds, clients, js, received)| {
            let servers = tree(&parents, &kinds, &clients, &js);
            let arrived: Vec<usize> = (0..servers.len()).filter(|&i| received[i]).collect();
            (Just(servers), Just(arrived).prop_shuffle())
        })
}

/// The servers the graph can know of: the origin, every one that reported, every one whose
/// parent reported (it was forwarded to), and every ancestor of one that reported.
fn known(servers: &[Server], order: &[usize]) -> Vec<bool> {
    let mut received = vec![false; servers.len()];
    for &i in order {
        received[i] = true;
    }
    let mut known = received.clone();
    known[0] = true;
    // Children have larger indices than their parents: one backward pass marks ancestors.
    for i in (0..servers.len()).rev() {
        for &child in &servers[i].children {
            if known[child] && (received[child] || child_has_received(servers, child, &received)) {
                known[i] = true;
            }
            if received[i] {
                known[child] = true;
            }
        }
    }
    known
}

fn child_has_received(servers: &[Server], i: usize, received: &[bool]) -> bool {
    received[i]
        || servers[i]
            .children
            .iter()
            .any(|&c| child_has_received(servers, c, received))
}

/// The servers shown by the placeholder of a run above them: missing, below a missing server
/// (not the origin) whose only known child they are.
fn in_a_run(servers: &[Server], order: &[usize], known: &[bool]) -> Vec<bool> {
    let mut received = vec![false; servers.len()];
    for &i in order {
        received[i] = true;
    }
    let mut in_run = vec![false; servers.len()];
    for (parent, server) in servers.iter().enumerate().skip(1) {
        let known_children: Vec<usize> = server
            .children
            .iter()
            .copied()
            .filter(|&c| known[c])
            .collect();
        if let [only] = known_children[..] {
            in_run[only] = !received[parent] && !received[only];
        }
    }
    in_run
}

fn stitch_in(servers: &[Server], order: &[usize]) -> (TraceGraph, Vec<bool>) {
    let mut stitcher = Stitcher::new();
    let mut complete_after = Vec::with_capacity(order.len());
    for &i in order {
        stitcher.add(trace(servers, i));
        complete_after.push(stitcher.is_complete());
    }
    (stitcher.finish(), complete_after)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn stitching_invariants_hold((servers, order) in case()) {
        let (graph, complete_after) = stitch_in(&servers, &order);
        let all_arrived = order.len() == servers.len();
        // The graph's own invariants: each received trace once, each node walked once,
        // counts, completeness agreeing with missing nodes and with the stitcher.
        check_graph(&graph, order.len(), complete_after.last().copied().unwrap_or(false));

        // Complete exactly when every server reported, and not a moment before.
        prop_assert_eq!(graph.is_complete(), all_arrived);
        for (n, complete) in complete_after.iter().enumerate() {
            prop_assert_eq!(*complete, all_arrived && n + 1 == order.len());
        }
        // Every known server that did not report is in a missing node (a run of them in
        // one); no trace is detached.
        let known_count = known(&servers, &order).into_iter().filter(|k| *k).count();
        let missing: usize = graph.missing().map(|n| n.missing_servers()).sum();
        prop_assert_eq!(missing, known_count - order.len());
        prop_assert!(graph.detached.is_empty());
        prop_assert!(graph.problems.is_empty(), "{:?}", graph.problems);

        // When all arrived, egress counts equal the egress and JetStream events.
        if all_arrived {
            let events: usize = servers.iter().map(|s| s.clients + s.children.len()).sum::<usize>()
                + servers.iter().filter(|s| s.jetstream).count();
            let counted: usize = graph.egress_counts().iter().map(|(_, n)| n).sum();
            prop_assert_eq!(counted, events);
        }
    }

    #[test]
    fn walk_order_does_not_depend_on_arrival_order((servers, order) in case()) {
        let (graph, _) = stitch_in(&servers, &order);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        let (reference, _) = stitch_in(&servers, &sorted);
        prop_assert_eq!(shape(&graph), shape(&reference));
        // Each server's children come in the order of its egresses (hop order); a run of
        // missing servers is one node, shown with its first hop.
        let hops: Vec<String> = shape(&graph)
            .into_iter()
            .filter(|(server, ..)| *server)
            .map(|(_, hop, ..)| hop)
            .collect();
        let known = known(&servers, &order);
        let mut expected: Vec<String> = Vec::new();
        let mut stack = vec![0usize];
        let in_run = in_a_run(&servers, &order, &known);
        while let Some(i) = stack.pop() {
            if !in_run[i] {
                expected.push(servers[i].hop.clone());
            }
            stack.extend(servers[i].children.iter().rev().filter(|&&c| known[c]));
        }
        prop_assert_eq!(hops, expected);
    }
}
