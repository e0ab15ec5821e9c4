//! Fuzzing entry points, shared by the cargo-fuzz targets in `fuzz/` and by the replay test
//! `tests/fuzz_regressions.rs` (which runs every saved crash input and a short deterministic
//! smoke through the same functions on the stable toolchain).
//!
//! Each entry point takes raw fuzzer bytes, drives one stage of the pipeline and panics when
//! an invariant breaks; a panic is what the fuzzer reports as a crash:
//! - [`fuzz_decode`]: `Content-Encoding` decoding — bounded output, compress/decode round
//!   trips, never a panic on corrupt data;
//! - [`fuzz_parse`]: a trace message's JSON — parse, re-serialise and re-parse to the same
//!   message, then stitch and render it with terminal-safe output;
//! - [`fuzz_stitch`] and [`check_stitching`]: arbitrary sequences of trace messages built with [`arbitrary`] so that
//!   the fuzzer reaches duplicate origins and hops, hops that are not children of their
//!   sender, deep chains, huge hop strings, missing ingress, unknown event types and absurd
//!   numbers — stitched incrementally, checked against the graph invariants (see
//!   [`check_graph`]) and rendered as a tree.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Value, json};

use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::text::is_terminal_safe;
use nats_trace::trace::decode::{self, DecodeError};
use nats_trace::trace::event::{Event, TraceMessage};
use nats_trace::trace::stitch::{NodeIndex, Step, Stitcher, TraceGraph};

/// The decode bound used while fuzzing: small, so that bombs are found fast.
pub const FUZZ_DECODE_LIMIT: u64 = 1 << 20;

/// Decodes `data[1..]` with the `Content-Encoding` chosen by `data[0]`, then compresses the
/// same bytes with that encoding and checks that decoding gives them back.
pub fn fuzz_decode(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    const ENCODINGS: [Option<&str>; 9] = [
        None,
        Some("identity"),
        Some("snappy"),
        Some("gzip"),
        Some("s2"),
        Some(" GZIP "),
        Some("Snappy"),
        Some("br"),
        Some(""),
    ];
    let encoding = ENCODINGS[usize::from(selector) % ENCODINGS.len()];
    match decode::decode_with_limit(encoding, payload, FUZZ_DECODE_LIMIT) {
        Ok(out) => {
            assert!(out.len() as u64 <= FUZZ_DECODE_LIMIT, "bound exceeded");
            if is_plain(encoding) {
                assert_eq!(out, payload, "identity must not change the payload");
            } else {
                assert!(!out.is_empty(), "a compressed payload decoded to nothing");
            }
        }
        Err(DecodeError::TooLarge { limit }) => assert_eq!(limit, FUZZ_DECODE_LIMIT),
        Err(DecodeError::UnsupportedEncoding(_)) => {
            assert!(encoding.is_some_and(|e| e.trim() == "br"));
        }
        Err(DecodeError::Corrupt { .. }) => assert!(!is_plain(encoding)),
    }
    // Round trip: what we compress, decode gives back.
    if payload.is_empty() {
        return;
    }
    let compressed = match encoding.map(str::trim) {
        Some(e) if e.eq_ignore_ascii_case("snappy") || e.eq_ignore_ascii_case("s2") => {
            let mut w = snap::write::FrameEncoder::new(Vec::new());
            let written = w.write_all(payload);
            assert!(written.is_ok(), "snappy compression into memory failed");
            match w.into_inner() {
                Ok(bytes) => bytes,
                Err(_) => panic!("snappy compression into memory failed"),
            }
        }
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            assert!(w.write_all(payload).is_ok());
            match w.finish() {
                Ok(bytes) => bytes,
                Err(e) => panic!("gzip compression into memory failed: {e}"),
            }
        }
        _ => return,
    };
    assert_eq!(
        decode::decode_with_limit(encoding, &compressed, FUZZ_DECODE_LIMIT).as_deref(),
        Ok(payload),
        "round trip through {encoding:?}"
    );
}

fn is_plain(encoding: Option<&str>) -> bool {
    encoding.is_none_or(|e| e.trim().is_empty() || e.trim().eq_ignore_ascii_case("identity"))
}

/// Parses `data` as a trace message. A message that parses must survive serialising and
/// parsing again unchanged, and stitch and render alone without a panic or unsafe output.
pub fn fuzz_parse(data: &[u8]) {
    let Ok(message) = TraceMessage::from_json(data) else {
        return;
    };
    assert!(message.events.len() <= nats_trace::trace::event::MAX_EVENTS_PER_TRACE);
    let again = match serde_json::to_vec(&message) {
        Ok(json) => json,
        Err(e) => panic!("a parsed trace message does not serialise: {e}"),
    };
    match TraceMessage::from_json(&again) {
        Ok(reparsed) => assert_eq!(reparsed, message, "serialise/parse round trip"),
        Err(e) => panic!("a re-serialised trace message does not parse: {e}"),
    }
    // Accessors on hostile content.
    let _ = (
        message.hop(),
        message.is_origin(),
        message.egresses().count(),
    );
    let origin = message.ingress().map(|i| i.ts.clone());
    for event in &message.events {
        if let (Some(ts), Some(origin)) = (event.timestamp(), origin.as_ref()) {
            let _ = ts.since(origin);
        }
    }
    let raw_line = nats_trace::text::sanitize(&String::from_utf8_lossy(data));
    assert!(
        is_terminal_safe(&raw_line),
        "--raw line is not terminal safe"
    );
    let mut stitcher = Stitcher::new();
    stitcher.add(message);
    let complete = stitcher.is_complete();
    let graph = stitcher.finish();
    check_graph(&graph, 1, complete);
    render_safely(graph, true);
}

/// How big the structured inputs of [`fuzz_stitch`] may get.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// The deepest synthetic chain.
    pub max_chain: usize,
    /// The most components of a generated "huge" hop.
    pub max_hop_depth: usize,
}

impl Scale {
    /// What the fuzzer uses: 10,000-deep chains, 20,000-deep hops.
    pub const FULL: Scale = Scale {
        max_chain: 10_000,
        max_hop_depth: 20_000,
    };
    /// For the quick smoke in the test suite (unoptimised builds).
    pub const SMOKE: Scale = Scale {
        max_chain: 300,
        max_hop_depth: 600,
    };
}

/// Builds a sequence of trace messages from `data`, stitches it incrementally, checks the
/// graph invariants and renders the tree.
pub fn fuzz_stitch(data: &[u8]) {
    fuzz_stitch_at(data, Scale::FULL);
}

/// [`fuzz_stitch`] with inputs no bigger than `scale`.
pub fn fuzz_stitch_at(data: &[u8], scale: Scale) {
    if let Some(input) = stitch_input(data, scale) {
        check_stitching(input.traces, input.timestamps);
    }
}

/// What [`fuzz_stitch_at`] builds from fuzzer bytes before stitching.
#[derive(Debug)]
pub struct StitchInput {
    /// Whether the tree is rendered with `-T` timestamps.
    pub timestamps: bool,
    /// The trace messages, in the order they are added to the stitcher.
    pub traces: Vec<TraceMessage>,
}

/// The trace messages [`fuzz_stitch_at`] stitches for `data` (`None` when the bytes run out
/// before a whole input is built), so that a saved input can be checked to reach the case it
/// was kept for.
pub fn stitch_input(data: &[u8], scale: Scale) -> Option<StitchInput> {
    let mut u = Unstructured::new(data);
    let timestamps = bool::arbitrary(&mut u).ok()?;
    let traces = traces_from(&mut u, scale).ok()?;
    Some(StitchInput { timestamps, traces })
}

/// Stitches `traces` incrementally, checks the graph invariants ([`check_graph`]) and that
/// stitching them again gives the same order, and renders the tree. Saved regressions are
/// replayed through this (as JSON lines), independent of how [`traces_from`] lays out its
/// input bytes.
pub fn check_stitching(traces: Vec<TraceMessage>, timestamps: bool) {
    let expected = traces.len();
    let mut stitcher = Stitcher::new();
    for trace in traces.iter().cloned() {
        stitcher.add(trace);
    }
    assert_eq!(stitcher.len(), expected);
    let complete = stitcher.is_complete();
    let graph = stitcher.finish();
    check_graph(&graph, expected, complete);
    // Deterministic: the same sequence gives the same walk.
    let mut again = Stitcher::new();
    for trace in traces {
        again.add(trace);
    }
    assert_eq!(
        shape(&again.finish()),
        shape(&graph),
        "the same input stitched twice differs"
    );
    render_safely(graph, timestamps);
}

/// The display order of a graph as hops, depths and egress positions (independent of node
/// numbering).
pub fn shape(graph: &TraceGraph) -> Vec<(bool, String, usize, usize)> {
    let starts = std::iter::once(graph.root).chain(graph.detached.iter().copied());
    starts
        .flat_map(|start| graph.walk(start))
        .map(|step| match step {
            Step::Server { node, depth } => (true, graph.node(node).hop.to_string(), depth, 0),
            Step::Egress {
                node, index, depth, ..
            } => (false, graph.node(node).hop.to_string(), depth, index),
        })
        .collect()
}

/// The invariants of a stitched graph built from `received` trace messages, whose stitcher
/// said `complete` before finishing:
/// - every received trace is in exactly one node, and every node is reached exactly once by
///   walking the tree from the root and each detached node;
/// - every step of a walk is well formed (an egress belongs to the server just shown, a child
///   is one level deeper), and walking twice gives the same order;
/// - the egress counts add up to the egresses of every node plus the JetStream events, and
///   the reported egresses are exactly the egress events received;
/// - the graph is complete exactly when the stitcher said so, exactly when no node is missing.
pub fn check_graph(graph: &TraceGraph, received: usize, complete: bool) {
    let with_trace = graph
        .graph
        .node_weights()
        .filter(|n| !n.is_missing())
        .count();
    assert_eq!(with_trace, received, "every received trace is in one node");
    check_walks(graph);
    check_detached(graph);
    check_counts(graph);
    check_completeness(graph, complete);
}

/// Every node is reached exactly once by walking from the root and each detached node.
fn check_walks(graph: &TraceGraph) {
    let mut seen = HashSet::with_capacity(graph.graph.node_count());
    let starts = std::iter::once(graph.root).chain(graph.detached.iter().copied());
    for start in starts {
        check_walk(graph, start, &mut seen);
    }
    assert_eq!(
        seen.len(),
        graph.graph.node_count(),
        "every node is reached by a walk"
    );
}

/// One walk from `start` is deterministic and well formed: an egress belongs to the server
/// just shown, and its child (if any) follows it one level deeper. Adds the nodes reached to
/// `seen`, which must not hold them yet.
fn check_walk(graph: &TraceGraph, start: NodeIndex, seen: &mut HashSet<NodeIndex>) {
    let steps: Vec<Step> = graph.walk(start).collect();
    assert_eq!(
        steps,
        graph.walk(start).collect::<Vec<_>>(),
        "walk order is deterministic"
    );
    let mut depths = HashMap::new();
    // After an egress leading to a child, the child must come next, one level deeper.
    let mut next_child: Option<(NodeIndex, usize)> = None;
    for (position, step) in steps.into_iter().enumerate() {
        match step {
            Step::Server { node, depth } => {
                assert!(seen.insert(node), "a node is reached twice");
                match next_child.take() {
                    Some(expected) => assert_eq!((node, depth), expected),
                    None => assert!(position == 0 && depth == 0 && node == start),
                }
                depths.insert(node, depth);
            }
            Step::Egress {
                node,
                index,
                depth,
                child,
            } => {
                assert!(next_child.is_none(), "an egress's child does not follow it");
                assert_eq!(
                    depths.get(&node),
                    Some(&depth),
                    "egress of a server not shown"
                );
                assert!(index < graph.node(node).egress_count());
                if let Some(child) = child {
                    assert_eq!(graph.parent(child), Some((node, index)));
                    next_child = Some((child, depth + 1));
                }
            }
        }
    }
    assert!(next_child.is_none());
}

/// A detached node has neither a parent nor children.
fn check_detached(graph: &TraceGraph) {
    for &detached in &graph.detached {
        assert!(graph.node(detached).detached);
        assert!(graph.parent(detached).is_none());
        assert!(
            graph
                .children_by_egress(detached)
                .iter()
                .all(Option::is_none)
        );
    }
}

/// The egress counts add up to the egresses of every node plus the JetStream events, the
/// reported egresses are exactly the egress events received, and every error is listed once.
fn check_counts(graph: &TraceGraph) {
    let counted: usize = graph.egress_counts().iter().map(|(_, n)| n).sum();
    let mut egresses = 0;
    let mut reported = 0;
    let mut received_egresses = 0;
    let mut errors = 0;
    for node in graph.graph.node_weights() {
        egresses += node.egress_count();
        reported += node.egresses().filter(|e| !e.synthetic).count();
        for event in node.events() {
            match event {
                Event::JetStream(js) => {
                    egresses += 1;
                    errors += usize::from(!js.error.is_empty());
                }
                Event::Egress(e) => {
                    received_egresses += 1;
                    errors += usize::from(!e.error.is_empty());
                }
                Event::Ingress(i) => errors += usize::from(!i.error.is_empty()),
                _ => {}
            }
        }
    }
    assert_eq!(counted, egresses, "egress counts add up");
    assert_eq!(
        reported, received_egresses,
        "every egress event is shown once"
    );
    assert_eq!(graph.errors().len(), errors, "every error is listed once");
}

/// The graph is complete exactly when the stitcher said so, exactly when no node is missing
/// and no trace was detached for its too many missing ancestors.
fn check_completeness(graph: &TraceGraph, complete: bool) {
    assert_eq!(
        graph.is_complete(),
        complete,
        "the graph and the stitcher disagree on completeness"
    );
    assert_eq!(
        graph.is_complete(),
        graph.missing().next().is_none(),
        "complete exactly when nothing is missing"
    );
}

/// Renders `graph` as a tree (with `-T` timestamps or not) into a sink that checks that
/// every line is terminal safe.
fn render_safely(graph: TraceGraph, timestamps: bool) {
    let report = TraceReport::from_graph(graph);
    let mut sink = SafeSink::default();
    let renderer = TreeRenderer::new(RenderOptions {
        timestamps,
        color: false,
    });
    if let Err(e) = renderer.render(&report, &mut sink) {
        panic!("rendering into memory failed: {e}");
    }
    sink.finish();
}

/// A writer that keeps only the current line and checks each completed line.
#[derive(Default)]
struct SafeSink {
    line: Vec<u8>,
    lines: usize,
}

impl SafeSink {
    fn check_line(&mut self) {
        match std::str::from_utf8(&self.line) {
            Ok(text) => assert!(
                is_terminal_safe(text),
                "line {} is not terminal safe: {text:?}",
                self.lines
            ),
            Err(e) => panic!("line {} is not UTF-8: {e}", self.lines),
        }
        self.line.clear();
        self.lines += 1;
    }

    fn finish(mut self) {
        if !self.line.is_empty() {
            self.check_line();
        }
    }
}

impl Write for SafeSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for chunk in buf.split_inclusive(|b| *b == b'\n') {
            match chunk.split_last() {
                Some((b'\n', text)) => {
                    self.line.extend_from_slice(text);
                    self.check_line();
                }
                _ => {
                    // Indentation is spaces only: skip it rather than hold it.
                    if !(self.line.is_empty() && chunk.iter().all(|b| *b == b' ')) {
                        self.line.extend_from_slice(chunk);
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Structured input: sequences of trace messages.

/// The most trace messages one structured input holds (besides deep chains).
const MAX_TRACES: usize = 48;

/// Builds trace messages from fuzzer bytes: either a synthetic deep chain (shuffled, with
/// some traces dropped or repeated), or free-form messages.
pub fn traces_from(u: &mut Unstructured<'_>, scale: Scale) -> arbitrary::Result<Vec<TraceMessage>> {
    if u.ratio(1, 32)? {
        // Mostly short chains, now and then one as deep as the scale allows (expensive:
        // a 10,000-deep chain is about 100 MB of JSON).
        let max = if u.ratio(1, 64)? {
            scale.max_chain
        } else {
            scale.max_chain.min(200)
        };
        return chain_from(u, max);
    }
    let count = u.int_in_range(0..=MAX_TRACES)?;
    let mut hops: Vec<String> = vec![String::new()];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let value = trace_value(u, &mut hops, scale)?;
        match serde_json::from_value::<TraceMessage>(value) {
            Ok(trace) => out.push(trace),
            Err(e) => panic!("a generated trace message does not parse: {e}"),
        }
    }
    Ok(out)
}

fn chain_from(u: &mut Unstructured<'_>, max_chain: usize) -> arbitrary::Result<Vec<TraceMessage>> {
    let n = 1 + usize::from(u16::arbitrary(u)?) % max_chain.max(1);
    let mut traces: Vec<TraceMessage> = crate::synthetic::chain(n)
        .iter()
        .filter_map(|line| TraceMessage::from_json(line.as_bytes()).ok())
        .collect();
    assert_eq!(traces.len(), n, "synthetic chain parses");
    let edits = u.int_in_range(0..=8)?;
    for _ in 0..edits {
        if traces.is_empty() {
            break;
        }
        let at = u.choose_index(traces.len())?;
        match u.int_in_range(0..=3)? {
            0 => {
                traces.remove(at);
            }
            1 => {
                let copy = traces[at].clone();
                traces.push(copy);
            }
            2 => {
                let other = u.choose_index(traces.len())?;
                traces.swap(at, other);
            }
            _ => traces.reverse(),
        }
    }
    Ok(traces)
}

const NAMES: &[&str] = &[
    "",
    "n1",
    "n2",
    "leaf",
    "\u{1b}[31mred\u{1b}[0m",
    "\u{1b}]0;title\u{7}",
    "\u{202e}evil",
    "a\"b\\c",
    "\u{9b}2J",
    "tab\tnew\nline\r",
    "zero\u{200b}width",
    "\u{feff}bom",
    "日本語",
];

const TIMES: &[&str] = &[
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.000000001Z",
    "2026-01-01T00:00:00.5+01:00",
    "2025-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "1677-09-21T00:12:43.145224191Z",
    "2262-04-11T23:47:16.854775808Z",
    "garbage",
    "",
];

const WEIRD_HOPS: &[&str] = &[
    ".",
    "..",
    "1.",
    ".1",
    "01",
    "1.01",
    "a",
    "1.a",
    "-1",
    " 1",
    "1..2",
    "0",
    "00",
    "1.0",
    "99999999999999999999999999",
    "1.\u{1b}[2J",
    "\u{202e}1",
];

fn string(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=9)? {
        0..=4 => (*u.choose(NAMES)?).to_string(),
        5 => "x".repeat(u.int_in_range(0..=20_000)?),
        _ => String::arbitrary(u)?,
    })
}

fn time(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(if u.ratio(1, 8)? {
        String::arbitrary(u)?
    } else {
        (*u.choose(TIMES)?).to_string()
    })
}

fn kind(u: &mut Unstructured<'_>) -> arbitrary::Result<i64> {
    Ok(if u.ratio(1, 10)? {
        *u.choose(&[i64::MIN, i64::MAX, -1, 7, 42, 1 << 40])?
    } else {
        u.int_in_range(0..=6)?
    })
}

fn number(u: &mut Unstructured<'_>) -> arbitrary::Result<u64> {
    Ok(if u.ratio(1, 4)? {
        *u.choose(&[0, u64::MAX, u64::MAX - 1, 1 << 53, (1 << 53) + 1])?
    } else {
        u.int_in_range(0..=20)?
    })
}

/// A hop string: often one already used (duplicates), a child or parent of one, weird or
/// huge.
fn hop(
    u: &mut Unstructured<'_>,
    hops: &mut Vec<String>,
    scale: Scale,
) -> arbitrary::Result<String> {
    let hop = match u.int_in_range(0..=11)? {
        0 => String::new(),
        1 | 2 => {
            let depth = u.int_in_range(1..=4)?;
            let mut parts = Vec::with_capacity(depth);
            for _ in 0..depth {
                parts.push(u.int_in_range(1..=3u8)?.to_string());
            }
            parts.join(".")
        }
        3 | 4 => {
            let base = u.choose(hops)?.clone();
            let n = u.int_in_range(1..=3u8)?;
            if base.is_empty() {
                n.to_string()
            } else {
                format!("{base}.{n}")
            }
        }
        5 => nats_trace::trace::stitch::parent_hop(u.choose(hops)?).to_string(),
        6 => (*u.choose(WEIRD_HOPS)?).to_string(),
        7 => {
            // Deep hops are expensive (placeholders for their missing ancestors): mostly
            // moderate, now and then as deep as the scale allows.
            let max = if u.ratio(1, 8)? {
                scale.max_hop_depth
            } else {
                scale.max_hop_depth.min(64)
            };
            let depth = u.int_in_range(1..=max.max(1))?;
            let mut s = String::with_capacity(depth * 2);
            s.push('1');
            for _ in 1..depth {
                s.push_str(".1");
            }
            s
        }
        8 => "7".repeat(u.int_in_range(1..=scale.max_hop_depth.max(1) * 5)?),
        9 => String::arbitrary(u)?,
        _ => u.choose(hops)?.clone(),
    };
    if hops.len() < 256 {
        hops.push(hop.clone());
    }
    Ok(hop)
}

fn trace_value(
    u: &mut Unstructured<'_>,
    hops: &mut Vec<String>,
    scale: Scale,
) -> arbitrary::Result<Value> {
    let own_hop = hop(u, hops, scale)?;
    let mut header = serde_json::Map::new();
    header.insert("Nats-Trace-Dest".into(), json!(["_INBOX.fuzz.1"]));
    match u.int_in_range(0..=7)? {
        0 => {}
        1 => {
            header.insert("nats-trace-hop".into(), json!([own_hop]));
        }
        2 => {
            header.insert("Nats-Trace-Hop".into(), json!([]));
        }
        3 => {
            header.insert("Nats-Trace-Hop".into(), json!([own_hop, "9"]));
        }
        _ => {
            if !own_hop.is_empty() {
                header.insert("Nats-Trace-Hop".into(), json!([own_hop]));
            }
        }
    }
    let mut events = Vec::new();
    if !u.ratio(1, 6)? {
        let mut ingress = json!({
            "type": "in",
            "ts": time(u)?,
            "kind": if u.ratio(2, 3)? { if own_hop.is_empty() { 0 } else { 1 } } else { kind(u)? },
            "cid": number(u)?,
            "acc": string(u)?,
            "subj": string(u)?,
        });
        if u.ratio(1, 2)? {
            ingress["name"] = json!(string(u)?);
        }
        if u.ratio(1, 6)? {
            ingress["error"] = json!(string(u)?);
        }
        events.push(ingress);
    }
    let extra = u.int_in_range(0..=8)?;
    for _ in 0..extra {
        events.push(event_value(u, hops, &own_hop, scale)?);
    }
    if u.ratio(1, 8)? {
        let at = u.choose_index(events.len() + 1)?;
        let value = event_value(u, hops, &own_hop, scale)?;
        events.insert(at, value);
    }
    Ok(json!({
        "server": {
            "name": string(u)?,
            "id": string(u)?,
            "cluster": string(u)?,
            "ver": if u.ratio(3, 4)? { "2.15.1".to_string() } else { string(u)? },
            "jetstream": bool::arbitrary(u)?,
            "time": time(u)?,
        },
        "request": { "header": header, "msgsize": number(u)? },
        "hops": number(u)?,
        "events": events,
    }))
}

fn event_value(
    u: &mut Unstructured<'_>,
    hops: &mut Vec<String>,
    own_hop: &str,
    scale: Scale,
) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=9)? {
        0..=3 => {
            let egress_kind = kind(u)?;
            let hop = match u.int_in_range(0..=3)? {
                0 => String::new(),
                1 | 2 => {
                    let n = u.int_in_range(1..=3u8)?;
                    let child = if own_hop.is_empty() {
                        n.to_string()
                    } else {
                        format!("{own_hop}.{n}")
                    };
                    if hops.len() < 256 {
                        hops.push(child.clone());
                    }
                    child
                }
                _ => hop(u, hops, scale)?,
            };
            let mut egress = json!({
                "type": "eg",
                "ts": time(u)?,
                "kind": egress_kind,
                "cid": number(u)?,
                "name": string(u)?,
                "hop": hop,
            });
            for field in ["acc", "sub", "queue", "error"] {
                if u.ratio(1, 4)? {
                    egress[field] = json!(string(u)?);
                }
            }
            egress
        }
        4 => json!({
            "type": "js", "ts": time(u)?, "stream": string(u)?, "subject": string(u)?,
            "nointerest": bool::arbitrary(u)?,
            "error": if u.ratio(1, 3)? { string(u)? } else { String::new() },
        }),
        5 => json!({ "type": "sm", "ts": time(u)?, "to": string(u)? }),
        6 => json!({ "type": "se", "ts": time(u)?, "acc": string(u)?, "to": string(u)? }),
        7 => json!({
            "type": "si", "ts": time(u)?, "acc": string(u)?, "from": string(u)?, "to": string(u)?,
        }),
        8 => json!({
            "type": if u.ratio(1, 2)? { "zz".to_string() } else { string(u)? },
            "ts": time(u)?,
            "what": match u.int_in_range(0..=4)? {
                0 => json!(f64::MAX),
                1 => json!(i64::MIN),
                2 => json!(string(u)?),
                3 => json!([[[[{"deep": [string(u)?]}]]]]),
                _ => Value::Null,
            },
        }),
        _ => match u.int_in_range(0..=2)? {
            0 => json!(string(u)?),
            1 => json!(number(u)?),
            _ => json!({ "type": 5, "ts": 7 }),
        },
    })
}
