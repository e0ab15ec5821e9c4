//! Output stays proportional to input: one trace message whose hop is 5,000 levels deep,
//! below servers that never reported, renders as the origin, one placeholder for the run of
//! 4,999 missing servers, and the trace — in every format, a few KB, not one line (holding
//! the whole hop) per missing server.

mod common;
mod formats;

use std::path::PathBuf;

use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::stitch;
use serde_json::json;

const DEPTH: usize = 5_000;
/// The most bytes any format may print for the two trace messages (about 20 KB of input).
const MAX_OUTPUT: usize = 100 * 1024;

/// `1.1.1…` with `depth` components.
fn deep_hop(depth: usize) -> String {
    vec!["1"; depth].join(".")
}

/// The origin, which forwarded to hop 1, and the trace of the server at hop `1.1.…`
/// (DEPTH levels).
fn capture() -> String {
    let ts = "2026-01-01T00:00:00.000001Z";
    let origin = json!({
        "server": {"name": "origin", "id": "N0", "ver": "2.15.1"},
        "request": {"header": {"Nats-Trace-Dest": ["_INBOX.d.1"]}, "msgsize": 3},
        "hops": 1,
        "events": [
            {"type": "in", "ts": ts, "kind": 0, "cid": 1, "acc": "$G", "subj": "deep"},
            {"type": "eg", "ts": ts, "kind": 1, "cid": 2, "name": "r1", "hop": "1"},
        ],
    });
    let deep = json!({
        "server": {"name": "deep", "id": "N1", "ver": "2.15.1"},
        "request": {"header": {"Nats-Trace-Dest": ["_INBOX.d.1"], "Nats-Trace-Hop": [deep_hop(DEPTH)]}, "msgsize": 3},
        "events": [
            {"type": "in", "ts": ts, "kind": 1, "cid": 3, "name": "above", "acc": "$G", "subj": "deep"},
            {"type": "eg", "ts": ts, "kind": 0, "cid": 4, "name": "sub", "sub": "deep"},
        ],
    });
    format!("{origin}\n{deep}\n")
}

fn saved() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("deep.jsonl");
    std::fs::write(&path, capture()).expect("write capture");
    (dir, path)
}

#[test]
fn a_run_of_missing_servers_is_one_placeholder() {
    let traces = capture()
        .lines()
        .map(|line| TraceMessage::from_json(line.as_bytes()).expect("parses"))
        .collect::<Vec<_>>();
    let graph = stitch(traces);
    assert!(!graph.is_complete());
    assert_eq!(graph.graph.node_count(), 3, "origin, placeholder, trace");
    let missing: Vec<_> = graph.missing().collect();
    assert_eq!(missing.len(), 1);
    let run = missing[0].missing_run().expect("a run");
    assert_eq!(run.servers, DEPTH - 1);
    assert_eq!(run.first_hop, "1");
    assert_eq!(run.last_hop, deep_hop(DEPTH - 1));
    assert_eq!(missing[0].missing_servers(), DEPTH - 1);
    // Linked through the origin's egress to hop 1; the trace hangs below the run.
    let placeholder = graph
        .nodes()
        .find(|&ix| graph.node(ix).is_missing())
        .expect("placeholder");
    assert_eq!(graph.parent(placeholder), Some((graph.root, 0)));
    let below = graph.children_by_egress(placeholder);
    assert_eq!(below.len(), 1);
    let trace = below[0].expect("the trace below the run");
    assert_eq!(graph.node(trace).hop, deep_hop(DEPTH));
}

#[test]
fn every_format_stays_small() {
    let (_dir, path) = saved();
    let path = path.to_str().expect("path");
    for format in ["tree", "json", "dot", "mermaid"] {
        let run = common::nats_trace(&["render", path, "--format", format]);
        assert_eq!(run.code, 3, "{format}: incomplete\n{}", run.stderr);
        assert_eq!(run.stderr, "", "{format}");
        assert!(
            run.stdout.len() < MAX_OUTPUT,
            "{format}: {} bytes",
            run.stdout.len()
        );
        match format {
            "tree" => {
                let line = run
                    .stdout
                    .lines()
                    .find(|l| l.contains("!!! Missing trace"))
                    .expect("a placeholder line");
                assert_eq!(
                    line.trim_start(),
                    "!!! Missing trace: 4,999 servers at hops 1 … 1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.….1.1.1.1.1.1.1.1 did not report"
                );
                assert_eq!(run.stdout.matches("!!! Missing trace").count(), 1);
                assert!(
                    run.stdout.ends_with(
                        "\nINCOMPLETE: 4,999 server trace(s) did not arrive: 4,999 servers at hops 1 … 1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.….1.1.1.1.1.1.1.1\n"
                    ),
                    "{}",
                    run.stdout
                );
            }
            "json" => {
                let document = formats::assert_schema_valid(&run.stdout, "deep JSON");
                let missing = &document["missing"];
                assert_eq!(missing.as_array().map(Vec::len), Some(1));
                assert_eq!(missing[0]["hop"], "1");
                assert_eq!(missing[0]["run"]["servers"], DEPTH - 1);
                assert_eq!(missing[0]["run"]["first_hop"], "1");
                assert_eq!(missing[0]["run"]["last_hop"], deep_hop(DEPTH - 1));
                let placeholder = &document["root"]["egresses"][0]["link"];
                assert_eq!(placeholder["missing"], true, "{placeholder}");
                assert_eq!(placeholder["run"]["servers"], DEPTH - 1);
            }
            _ => assert!(run.stdout.contains("4,999 servers"), "{}", run.stdout),
        }
    }
}
