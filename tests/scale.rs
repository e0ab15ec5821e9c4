//! Correctness at scale: a 100,000-server fan-out and a 10,000-server deep chain stitch,
//! count, walk and render without rescanning or recursion (no stack overflow).

use std::io::{self, Write};

use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::{Step, Stitcher, TraceGraph};
use nats_trace_testkit::synthetic;

fn stitch_lines(lines: &[String], reverse: bool) -> TraceGraph {
    let mut stitcher = Stitcher::new();
    let order: Box<dyn Iterator<Item = &String>> = if reverse {
        Box::new(lines.iter().rev())
    } else {
        Box::new(lines.iter())
    };
    for (n, line) in order.enumerate() {
        assert!(!stitcher.is_complete(), "complete after only {n} traces");
        stitcher.add(TraceMessage::from_json(line.as_bytes()).expect("synthetic trace parses"));
    }
    assert!(stitcher.is_complete());
    stitcher.finish()
}

/// Counts lines and bytes instead of keeping them.
#[derive(Default)]
struct Counter {
    lines: usize,
    bytes: usize,
}

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lines += buf.iter().filter(|b| **b == b'\n').count();
        self.bytes += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn render_lines(graph: TraceGraph) -> usize {
    let mut counter = Counter::default();
    TreeRenderer::new(RenderOptions::default())
        .render(&TraceReport::from_graph(graph), &mut counter)
        .expect("render");
    counter.lines
}

#[test]
fn a_hundred_thousand_server_fan_out() {
    let n = 100_000;
    let lines = synthetic::fan_out(n);
    let graph = stitch_lines(&lines, true);
    assert!(graph.is_complete());
    assert_eq!(graph.graph.node_count(), n);
    // Every server reports one client egress; the origin also n-1 route egresses.
    assert_eq!(
        graph.egress_counts(),
        vec![("Client", n), ("Router", n - 1)]
    );
    // Children in numeric hop order although they arrived in reverse.
    let hops: Vec<u64> = graph
        .walk(graph.root)
        .filter_map(|s| match s {
            Step::Server { node, .. } if node != graph.root => graph.node(node).hop.parse().ok(),
            _ => None,
        })
        .collect();
    assert_eq!(hops.len(), n - 1);
    assert!(hops.windows(2).all(|w| w[0] < w[1]));
    // Header 2 lines, origin ingress + client egress, per child: egress, ingress, client;
    // footer: blank, legend, blank, "Egress Count:", blank, two rows.
    let lines_out = render_lines(graph);
    assert_eq!(lines_out, 2 + 2 + 3 * (n - 1) + 7);
}

#[test]
fn a_ten_thousand_server_chain() {
    let n = 10_000;
    let lines = synthetic::chain(n);
    let graph = stitch_lines(&lines, true);
    assert!(graph.is_complete());
    let deepest = graph
        .walk(graph.root)
        .filter_map(|s| match s {
            Step::Server { depth, .. } => Some(depth),
            Step::Egress { .. } => None,
        })
        .max();
    assert_eq!(deepest, Some(n - 1));
    assert_eq!(
        graph.egress_counts(),
        vec![("Client", n), ("Leafnode", n - 1)]
    );
    assert!(graph.errors().is_empty());
    // Per server: ingress, client egress, leaf egress (not the last).
    assert_eq!(render_lines(graph), 2 + 3 * n - 1 + 7);
}

#[test]
fn a_chain_with_its_middle_missing_keeps_both_ends() {
    let mut lines = synthetic::chain(2_000);
    lines.remove(1_000);
    let mut stitcher = Stitcher::new();
    for line in &lines {
        stitcher.add(TraceMessage::from_json(line.as_bytes()).expect("parses"));
    }
    assert!(!stitcher.is_complete());
    let graph = stitcher.finish();
    let missing: Vec<_> = graph
        .missing()
        .map(|n| n.server_name().to_string())
        .collect();
    assert_eq!(missing, ["s1000"]);
    assert_eq!(graph.graph.node_count(), 2_000);
}
