//! Decoding, parsing and stitching of trace messages captured from real servers
//! (`testdata/`, see its README): arrival order does not matter, a missing parent becomes a
//! placeholder, hops are ordered numerically.

use std::io::Write;

use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::trace::collect::decode_and_parse;
use nats_trace::trace::event::{ConnKind, TraceMessage};
use nats_trace::trace::stitch::{Step, Stitcher, TraceGraph, compare_hops, stitch};

fn capture(name: &str) -> Vec<String> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

fn parse_all(lines: &[String]) -> Vec<TraceMessage> {
    lines
        .iter()
        .map(|l| TraceMessage::from_json(l.as_bytes()).expect("captured trace parses"))
        .collect()
}

fn tree(graph: TraceGraph) -> String {
    let mut out = Vec::new();
    TreeRenderer::new(RenderOptions::default())
        .render(&TraceReport::from_graph(graph), &mut out)
        .expect("render");
    String::from_utf8(out).expect("utf-8")
}

/// Hops in display order.
fn hop_order(graph: &TraceGraph) -> Vec<String> {
    graph
        .walk(graph.root)
        .filter_map(|s| match s {
            Step::Server { node, .. } => Some(graph.node(node).hop.to_string()),
            Step::Egress { .. } => None,
        })
        .collect()
}

#[test]
fn captured_traces_decode_from_every_encoding() {
    for line in capture("supercluster-leaf-chain.jsonl") {
        let mut snappy = snap::write::FrameEncoder::new(Vec::new());
        snappy.write_all(line.as_bytes()).expect("compress");
        let snappy = snappy.into_inner().expect("finish");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(line.as_bytes()).expect("compress");
        let gzip = gzip.finish().expect("finish");
        for (encoding, payload) in [
            (Some("snappy"), snappy),
            (Some("gzip"), gzip),
            (None, line.clone().into_bytes()),
        ] {
            let (json, message) = decode_and_parse(encoding, &payload).expect("decodes");
            assert_eq!(json, line);
            assert!(!message.server.name.is_empty());
        }
    }
}

#[test]
fn captured_supercluster_parses_into_every_event() {
    let traces = parse_all(&capture("supercluster-leaf-chain.jsonl"));
    assert_eq!(traces.len(), 6);
    let origin = traces.iter().find(|t| t.is_origin()).expect("an origin");
    assert_eq!(origin.server.name, "e1");
    assert_eq!(origin.server.cluster, "EAST");
    assert_eq!(origin.hops, 2);
    let kinds: Vec<ConnKind> = origin.egresses().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ConnKind::Client, ConnKind::Router, ConnKind::Gateway]
    );
    let leaf2 = traces
        .iter()
        .find(|t| t.server.name == "leaf2")
        .expect("leaf2");
    assert_eq!(leaf2.hop(), "2.1.1.1");
    assert_eq!(leaf2.ingress().map(|i| i.kind), Some(ConnKind::Leafnode));
}

#[test]
fn arrival_order_does_not_change_the_tree() {
    let traces = parse_all(&capture("supercluster-leaf-chain.jsonl"));
    let expected = tree(stitch(traces.clone()));
    assert!(
        expected.contains("Leafnode \"leaf1\" lid:5 server:\"leaf2\""),
        "{expected}"
    );
    // Every permutation of the six traces (720): the tree is the same, and the stitcher says
    // complete only once the last trace arrived.
    let mut order: Vec<usize> = (0..traces.len()).collect();
    let mut permutations = 0;
    loop {
        let mut stitcher = Stitcher::new();
        for (n, &i) in order.iter().enumerate() {
            assert!(
                !stitcher.is_complete(),
                "complete before trace {n} of {order:?}"
            );
            stitcher.add(traces[i].clone());
        }
        assert!(stitcher.is_complete(), "{order:?}");
        assert_eq!(tree(stitcher.finish()), expected, "{order:?}");
        permutations += 1;
        if !next_permutation(&mut order) {
            break;
        }
    }
    assert_eq!(permutations, 720);
}

fn next_permutation(v: &mut [usize]) -> bool {
    let Some(i) = (1..v.len()).rev().find(|&i| v[i - 1] < v[i]) else {
        return false;
    };
    let j = (i..v.len())
        .rev()
        .find(|&j| v[j] > v[i - 1])
        .expect("exists");
    v.swap(i - 1, j);
    v[i..].reverse();
    true
}

#[test]
fn a_missing_parent_becomes_a_placeholder_and_nothing_is_dropped() {
    // Drop w2 (hop 2.1): leaf1 and leaf2 arrived, their parent did not.
    let traces: Vec<TraceMessage> = parse_all(&capture("supercluster-leaf-chain.jsonl"))
        .into_iter()
        .filter(|t| t.server.name != "w2")
        .collect();
    let mut stitcher = Stitcher::new();
    for t in traces {
        stitcher.add(t);
    }
    assert!(!stitcher.is_complete());
    let graph = stitcher.finish();
    assert!(!graph.is_complete());
    let missing: Vec<_> = graph
        .missing()
        .map(|n| (n.hop.as_str(), n.server_name()))
        .collect();
    assert_eq!(missing, [("2.1", "w2")]);
    let text = tree(graph);
    assert!(
        text.contains("    --> Router \"w2\" rid:8\n        !!! Missing trace: server \"w2\" at hop 2.1 did not report\n        ~~> Leafnode \"leaf1\"\n            Leafnode \"w2\" lid:5 server:\"leaf1\""),
        "{text}"
    );
    assert!(
        text.contains("INCOMPLETE: 1 server trace(s) did not arrive: hop 2.1 \"w2\""),
        "{text}"
    );
}

#[test]
fn a_missing_origin_is_a_placeholder_too() {
    let traces: Vec<TraceMessage> = parse_all(&capture("supercluster-leaf-chain.jsonl"))
        .into_iter()
        .filter(|t| !t.is_origin())
        .collect();
    let graph = stitch(traces);
    assert!(graph.node(graph.root).is_missing());
    // Both top-level hops hang under the placeholder, named by what their ingress says.
    let text = tree(graph);
    assert!(
        text.contains(
            "!!! Missing trace: server \"e1\" at hop (origin) did not report\n--> Router \"e2\"\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("==> Gateway \"w1\"\n    Gateway \"e1\""),
        "{text}"
    );
}

/// A synthetic origin with `n` route egresses, and one trace per hop.
fn fan_out(n: usize) -> Vec<TraceMessage> {
    let ts = "2026-01-01T00:00:00Z";
    let egresses: Vec<String> = (1..=n)
        .map(|i| {
            format!(r#"{{"type":"eg","ts":"{ts}","kind":1,"cid":{i},"name":"s{i}","hop":"{i}"}}"#)
        })
        .collect();
    let mut traces = vec![format!(
        r#"{{"server":{{"name":"origin","id":"O"}},"request":{{"header":{{}}}},"hops":{n},"events":[{{"type":"in","ts":"{ts}","kind":0,"cid":1,"acc":"$G","subj":"x"}},{}]}}"#,
        egresses.join(",")
    )];
    for i in 1..=n {
        traces.push(format!(
            r#"{{"server":{{"name":"s{i}","id":"S{i}"}},"request":{{"header":{{"Nats-Trace-Hop":["{i}"]}}}},"events":[{{"type":"in","ts":"{ts}","kind":1,"cid":1,"name":"origin","acc":"$G","subj":"x"}}]}}"#
        ));
    }
    traces
        .iter()
        .map(|t| TraceMessage::from_json(t.as_bytes()).expect("synthetic"))
        .collect()
}

#[test]
fn hops_are_ordered_numerically() {
    assert_eq!(compare_hops("1.2", "1.10"), std::cmp::Ordering::Less);
    assert_eq!(compare_hops("2", "10"), std::cmp::Ordering::Less);
    assert_eq!(compare_hops("1", "1.1"), std::cmp::Ordering::Less);
    assert_eq!(compare_hops("9.9", "10"), std::cmp::Ordering::Less);
    // Children that arrive in reverse still display in hop order 1, 2, …, 10, 11, 12.
    let mut traces = fan_out(12);
    traces[1..].reverse();
    let graph = stitch(traces);
    assert!(graph.is_complete());
    let expected: Vec<String> = std::iter::once(String::new())
        .chain((1..=12).map(|i| i.to_string()))
        .collect();
    assert_eq!(hop_order(&graph), expected);
}

#[test]
fn children_of_a_missing_parent_are_ordered_numerically() {
    // The origin is missing, so its egresses are synthesised from the children, which must
    // still come out as 1, 2, …, 10, not 1, 10, 2.
    let traces: Vec<TraceMessage> = fan_out(10).into_iter().skip(1).rev().collect();
    let graph = stitch(traces);
    let expected: Vec<String> = std::iter::once(String::new())
        .chain((1..=10).map(|i| i.to_string()))
        .collect();
    assert_eq!(hop_order(&graph), expected);
}

/// A trace at `hop` from server `name`, reached over a route, with no egresses.
fn remote(name: &str, hop: &str) -> TraceMessage {
    TraceMessage::from_json(
        format!(
            r#"{{"server":{{"name":"{name}"}},"request":{{"header":{{"Nats-Trace-Hop":["{hop}"]}}}},"events":[{{"type":"in","ts":"2026-01-01T00:00:00Z","kind":1,"cid":1,"name":"above-{name}"}}]}}"#
        )
        .as_bytes(),
    )
    .expect("synthetic")
}

#[test]
fn runs_of_missing_servers_end_where_routes_part() {
    // Received: the origin (which lists nothing), 1.1.1.1, 1.1.2 and 2.1.1.1 in any order;
    // missing: 1 and 1.1 (a run, where the routes to 1.1.1.1 and 1.1.2 part), 1.1.1 (one
    // server), 2, 2.1 and 2.1.1 (a run).
    let origin = r#"{"server":{"name":"origin"},"request":{"header":{}},"events":[{"type":"in","ts":"2026-01-01T00:00:00Z","kind":0,"cid":1}]}"#;
    let mut traces = vec![TraceMessage::from_json(origin.as_bytes()).expect("origin")];
    traces.extend([
        remote("a", "2.1.1.1"),
        remote("b", "1.1.2"),
        remote("c", "1.1.1.1"),
    ]);
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
        let graph = stitch(order.iter().map(|&i| traces[i].clone()));
        assert!(!graph.is_complete());
        assert_eq!(
            hop_order(&graph),
            ["", "1", "1.1.1", "1.1.1.1", "1.1.2", "2", "2.1.1.1"],
            "{order:?}"
        );
        let missing: Vec<(String, usize)> = graph
            .missing()
            .map(|n| (n.hop.to_string(), n.missing_servers()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            missing,
            [
                ("1".to_string(), 2),
                ("1.1.1".to_string(), 1),
                ("2".to_string(), 3)
            ]
        );
        let text = tree(graph);
        assert!(
            text.contains(
                "\n--> Router\n    !!! Missing trace: 2 servers at hops 1 … 1.1 did not report\n    --> Router\n        !!! Missing trace: server \"above-c\" at hop 1.1.1 did not report\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("!!! Missing trace: 3 servers at hops 2 … 2.1.1 did not report\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "INCOMPLETE: 6 server trace(s) did not arrive: 2 servers at hops 1 … 1.1, hop 1.1.1 \"above-c\", 3 servers at hops 2 … 2.1.1\n"
            ),
            "{text}"
        );
    }
}
