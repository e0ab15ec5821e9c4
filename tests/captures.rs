//! Offline tests on the captured trace messages in `testdata/`: each capture is parsed,
//! stitched and rendered without a server, and must give the tree the live run printed
//! (`testdata/<case>.tree`, written with the capture by `tests/events.rs`), the expected
//! completeness, errors and egress counts, and the route analysis (outcome per server,
//! deliveries, no interest, account boundaries, JetStream actions).

mod common;

use std::path::Path;

use common::normalize;
use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::{Step, TraceGraph, stitch};

fn testdata(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn load(case: &str) -> TraceGraph {
    let path = testdata(&format!("{case}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let traces: Vec<TraceMessage> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| TraceMessage::from_json(l.as_bytes()).unwrap_or_else(|e| panic!("{case}: {e}")))
        .collect();
    stitch(traces)
}

fn render(graph: TraceGraph, color: bool) -> String {
    let report = TraceReport::from_graph(graph);
    let mut out = Vec::new();
    TreeRenderer::new(RenderOptions {
        timestamps: false,
        color,
    })
    .render(&report, &mut out)
    .expect("renders");
    String::from_utf8(out).expect("utf-8")
}

/// What a capture must stitch to.
struct Expect {
    case: &'static str,
    complete: bool,
    /// `(server, kind, message)` of every reported error, in order.
    errors: &'static [(&'static str, &'static str, &'static str)],
    egress_counts: &'static [(&'static str, usize)],
}

const CASES: &[Expect] = &[
    Expect {
        case: "mapping",
        complete: true,
        errors: &[],
        egress_counts: &[("Client", 1)],
    },
    Expect {
        case: "service-import",
        complete: true,
        errors: &[],
        egress_counts: &[("Client", 1)],
    },
    Expect {
        case: "service-import-no-allow-trace",
        complete: true,
        errors: &[],
        egress_counts: &[],
    },
    Expect {
        case: "stream-export",
        complete: true,
        errors: &[],
        egress_counts: &[("Client", 1)],
    },
    Expect {
        case: "stream-export-no-allow-trace",
        complete: true,
        errors: &[],
        egress_counts: &[],
    },
    Expect {
        case: "jetstream-stored",
        complete: true,
        errors: &[],
        egress_counts: &[("JetStream", 1)],
    },
    Expect {
        case: "jetstream-no-interest",
        complete: true,
        errors: &[],
        egress_counts: &[("JetStream", 1)],
    },
    Expect {
        case: "jetstream-error",
        complete: true,
        errors: &[("n1", "jetstream", "expected stream does not match")],
        egress_counts: &[("JetStream", 1)],
    },
    Expect {
        case: "jetstream-two-streams",
        complete: true,
        errors: &[],
        egress_counts: &[("JetStream", 2), ("Leafnode", 1)],
    },
    Expect {
        case: "queue-group",
        complete: true,
        errors: &[],
        egress_counts: &[("Client", 2)],
    },
    Expect {
        case: "publish-denied",
        complete: true,
        errors: &[(
            "n1",
            "ingress",
            "Permissions Violation for Publish to \"secret.plans\"",
        )],
        egress_counts: &[],
    },
    Expect {
        case: "subscribe-denied",
        complete: true,
        errors: &[
            (
                "n1",
                "egress",
                "Not delivered because subscription denies this subject",
            ),
            (
                "n1",
                "egress",
                "Not delivered because subscription denies this subject",
            ),
        ],
        egress_counts: &[("Client", 2)],
    },
    Expect {
        case: "no-echo",
        complete: true,
        errors: &[("n1", "egress", "Not delivered because of no echo")],
        egress_counts: &[("Client", 2)],
    },
    Expect {
        case: "missing-server",
        complete: false,
        errors: &[],
        egress_counts: &[("Leafnode", 1)],
    },
    Expect {
        case: "cross-kind-chain",
        complete: true,
        errors: &[],
        egress_counts: &[
            ("Client", 3),
            ("Leafnode", 2),
            ("Router", 2),
            ("Gateway", 1),
            ("JetStream", 1),
        ],
    },
];

#[test]
fn every_capture_stitches_to_its_expected_shape() {
    for expect in CASES {
        let graph = load(expect.case);
        assert_eq!(graph.is_complete(), expect.complete, "{}", expect.case);
        assert!(
            graph.problems.is_empty(),
            "{}: {:?}",
            expect.case,
            graph.problems
        );
        assert!(graph.detached.is_empty(), "{}", expect.case);
        let errors = graph.errors();
        let errors: Vec<(&str, &str, &str)> = errors
            .iter()
            .map(|e| (e.server.as_str(), e.kind, e.message.as_str()))
            .collect();
        assert_eq!(errors, expect.errors, "{}", expect.case);
        assert_eq!(
            graph.egress_counts(),
            expect.egress_counts,
            "{}",
            expect.case
        );
    }
}

#[test]
fn every_capture_renders_the_tree_the_live_run_printed() {
    for expect in CASES {
        let tree_path = testdata(&format!("{}.tree", expect.case));
        let expected =
            std::fs::read_to_string(&tree_path).unwrap_or_else(|e| panic!("{tree_path:?}: {e}"));
        let rendered = normalize(&render(load(expect.case), false));
        assert_eq!(rendered, expected, "{}", expect.case);
    }
}

#[test]
fn the_demo_captures_render_the_supercluster_leaf_chain() {
    let expected = r#"Tracing message route to subject orders.new

Client "nats-trace" cid:N cluster:"EAST" server:"e1" version:"V"
--C Client "audit" cid:N subject:"orders.new"
--> Router "e2" rid:N
    Router "e1" rid:N server:"e2" version:"V"
    --C Client "billing" cid:N subject:"orders.new"
==> Gateway "w1" gid:N
    Gateway "e1" gid:N cluster:"WEST" server:"w1" version:"V"
    --C Client "SHIPPER" cid:N subject:"orders.new" queue:"shippers"
    --> Router "w2" rid:N
        Router "w1" rid:N server:"w2" version:"V"
        ~~> Leafnode "leaf1" lid:N
            Leafnode "w2" lid:N server:"leaf1" version:"V"
            ~~> Leafnode "leaf2" lid:N
                Leafnode "leaf1" lid:N server:"leaf2" version:"V"
                --C Client "edge-cache" cid:N subject:"orders.new"

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

Egress Count:

    Client: 4
  Leafnode: 2
    Router: 2
   Gateway: 1
"#;
    for case in ["supercluster-leaf-chain", "supercluster-leaf-chain-gzip"] {
        let graph = load(case);
        assert!(graph.is_complete(), "{case}");
        // The server picks either member of the queue group "shippers"; and in one capture
        // the tracing connection has no name, so its ingress shows none.
        let rendered = normalize(&render(graph, false))
            .replace("\"shipping-2\"", "\"SHIPPER\"")
            .replace("\"shipping\"", "\"SHIPPER\"")
            .replace(
                "Client cid:N cluster",
                "Client \"nats-trace\" cid:N cluster",
            );
        assert_eq!(rendered, expected, "{case}");
    }
}

#[test]
fn the_no_interest_capture_says_so() {
    let rendered = normalize(&render(load("no-interest"), false));
    assert_eq!(
        rendered,
        r#"Tracing message route to subject nothing.here

Client cid:N cluster:"EAST" server:"e1" version:"V"
--X No active interest

Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X

"#
    );
}

#[test]
fn errors_are_red_when_color_is_on() {
    let rendered = render(load("subscribe-denied"), true);
    let red_bold = "\u{1b}[31;1m";
    for needle in [
        "--X Error: Not delivered because subscription denies this subject",
        "Errors: 2",
    ] {
        let colored = format!("{red_bold}{needle}");
        assert!(
            rendered.contains(&colored) || rendered.contains(&format!("{red_bold}  {needle}")),
            "{needle:?} is not red in:\n{rendered:?}"
        );
    }
    let plain = render(load("subscribe-denied"), false);
    assert!(!plain.contains('\u{1b}'), "no escapes without color");
}

/// What the analysis of a capture must find: the outcome of each server in tree order, the
/// client deliveries, the servers with no interest, the account boundaries and the
/// JetStream actions.
struct Verdicts {
    case: &'static str,
    outcomes: &'static [&'static str],
    delivered: usize,
    no_interest: usize,
    boundaries: &'static [(&'static str, &'static str)],
    jetstream: &'static [(&'static str, &'static str)],
}

const VERDICTS: &[Verdicts] = &[
    Verdicts {
        case: "no-interest",
        outcomes: &["no_interest"],
        delivered: 0,
        no_interest: 1,
        boundaries: &[],
        jetstream: &[],
    },
    Verdicts {
        case: "service-import-no-allow-trace",
        outcomes: &["boundary"],
        delivered: 0,
        no_interest: 0,
        boundaries: &[("service_import", "B")],
        jetstream: &[],
    },
    Verdicts {
        case: "stream-export-no-allow-trace",
        outcomes: &["boundary"],
        delivered: 0,
        no_interest: 0,
        boundaries: &[("stream_export", "A")],
        jetstream: &[],
    },
    Verdicts {
        case: "service-import",
        outcomes: &["delivered"],
        delivered: 1,
        no_interest: 0,
        boundaries: &[],
        jetstream: &[],
    },
    Verdicts {
        case: "jetstream-two-streams",
        outcomes: &["stored", "stored"],
        delivered: 0,
        no_interest: 0,
        boundaries: &[],
        jetstream: &[("HUB_ORDERS", "stored"), ("LEAF_ORDERS", "stored")],
    },
    Verdicts {
        case: "jetstream-no-interest",
        outcomes: &["dropped"],
        delivered: 0,
        no_interest: 0,
        boundaries: &[],
        jetstream: &[("EVENTS", "no interest")],
    },
    Verdicts {
        case: "jetstream-error",
        outcomes: &["dropped"],
        delivered: 0,
        no_interest: 0,
        boundaries: &[],
        jetstream: &[("ORDERS", "rejected")],
    },
    Verdicts {
        case: "publish-denied",
        outcomes: &["ingress_error"],
        delivered: 0,
        no_interest: 0,
        boundaries: &[],
        jetstream: &[],
    },
    Verdicts {
        case: "subscribe-denied",
        outcomes: &["dropped"],
        delivered: 0,
        no_interest: 0,
        boundaries: &[],
        jetstream: &[],
    },
    Verdicts {
        case: "missing-server",
        outcomes: &["forwarded", "missing"],
        delivered: 0,
        no_interest: 0,
        boundaries: &[],
        jetstream: &[],
    },
    Verdicts {
        case: "supercluster-leaf-chain",
        outcomes: &[
            "delivered",
            "delivered",
            "delivered",
            "forwarded",
            "forwarded",
            "delivered",
        ],
        delivered: 4,
        no_interest: 0,
        boundaries: &[],
        jetstream: &[],
    },
];

#[test]
fn every_capture_is_analysed_as_expected() {
    for expect in VERDICTS {
        let report = TraceReport::from_graph(load(expect.case));
        let (graph, analysis) = (&report.graph, report.analysis());
        let outcomes: Vec<&str> = graph
            .walk(graph.root)
            .filter_map(|step| match step {
                Step::Server { node, .. } => Some(analysis.node(node).outcome.name()),
                Step::Egress { .. } => None,
            })
            .collect();
        assert_eq!(outcomes, expect.outcomes, "{}", expect.case);
        assert_eq!(
            analysis.deliveries().len(),
            expect.delivered,
            "{}",
            expect.case
        );
        assert_eq!(
            analysis.no_interest().len(),
            expect.no_interest,
            "{}",
            expect.case
        );
        let boundaries: Vec<(&str, &str)> = analysis
            .boundaries()
            .iter()
            .map(|b| (b.crossing.name(), b.account.as_str()))
            .collect();
        assert_eq!(boundaries, expect.boundaries, "{}", expect.case);
        let mut jetstream: Vec<(&str, &str)> = analysis
            .jetstream()
            .iter()
            .map(|js| (js.stream.as_str(), js.action.words()))
            .collect();
        jetstream.sort();
        assert_eq!(jetstream, expect.jetstream, "{}", expect.case);
        assert_eq!(
            analysis.missing(),
            graph.missing().count(),
            "{}",
            expect.case
        );
        assert_eq!(analysis.errors(), graph.errors().len(), "{}", expect.case);
    }
}
