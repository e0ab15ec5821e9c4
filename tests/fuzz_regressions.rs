//! The fuzz smoke that runs everywhere (stable toolchain, no libFuzzer): every input the
//! fuzzers ever crashed, hung or ran out of memory on (`fuzz/regressions/<target>/`, plus
//! inline tests for findings too big to keep as files), every
//! captured trace (`testdata/*.jsonl`), and a few thousand deterministic pseudo-random
//! inputs, each replayed through the same entry points as the cargo-fuzz targets
//! (`nats_trace_testkit::fuzzing`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::stitch;
use nats_trace_testkit::fuzzing::{
    Scale, check_stitching, fuzz_decode, fuzz_parse, fuzz_stitch_at,
};

fn regressions(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Replays each saved input of `target`; each must finish within `limit` (the fuzzers'
/// slow and out-of-memory inputs are kept too).
fn replay(target: &str, entry: &dyn Fn(&[u8]), limit: Duration) -> usize {
    let files = regressions(target);
    for file in &files {
        let data = std::fs::read(file).expect("read regression input");
        let started = Instant::now();
        entry(&data);
        assert!(
            started.elapsed() < limit,
            "{} took {:?}",
            file.display(),
            started.elapsed()
        );
    }
    files.len()
}

/// xorshift64*: deterministic bytes for the smoke.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn decode_regressions_and_smoke() {
    replay("decode", &fuzz_decode, Duration::from_secs(10));
    let mut bytes = Bytes(0x9e37_79b9_7f4a_7c15);
    for n in 0..2_000 {
        let data = bytes.fill(n % 300);
        fuzz_decode(&data);
    }
    // Valid snappy and gzip frames with random content round trip.
    for selector in [2u8, 3] {
        let mut data = vec![selector];
        data.extend(bytes.fill(5_000));
        fuzz_decode(&data);
    }
}

#[test]
fn parse_regressions_captures_and_smoke() {
    replay("parse", &fuzz_parse, Duration::from_secs(10));
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut lines = 0;
    for entry in std::fs::read_dir(&testdata).expect("testdata") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(&path).expect("read").lines() {
                fuzz_parse(line.as_bytes());
                // Mutations of real traces: truncated, and with one byte flipped.
                let bytes = line.as_bytes();
                fuzz_parse(&bytes[..bytes.len() / 2]);
                let mut flipped = bytes.to_vec();
                let at = (lines * 7919) % flipped.len();
                flipped[at] ^= 0x20;
                fuzz_parse(&flipped);
                lines += 1;
            }
        }
    }
    assert!(lines > 20, "only {lines} captured lines");
    let mut bytes = Bytes(0x0123_4567_89ab_cdef);
    for n in 0..2_000 {
        fuzz_parse(&bytes.fill(n % 200));
    }
}

#[test]
fn stitch_regressions_and_smoke() {
    // Saved as the trace messages the fuzzer generated, one JSON per line (`*.jsonl`), so
    // they stay valid when the input layout of `traces_from` changes.
    for file in regressions("stitch") {
        let text = std::fs::read_to_string(&file).expect("read regression");
        let traces = text
            .lines()
            .map(|line| TraceMessage::from_json(line.as_bytes()).expect("regression parses"))
            .collect();
        let started = Instant::now();
        check_stitching(traces, true);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            file.display()
        );
    }
    let mut bytes = Bytes(0xdead_beef_cafe_f00d);
    for n in 0..500 {
        fuzz_stitch_at(&bytes.fill(n % 700), Scale::SMOKE);
    }
}

/// The stitch fuzzer's first finding (out of memory, 2 GB, from a 4-byte input): a trace
/// deep below servers that never reported got one placeholder per missing ancestor, each
/// holding its whole hop — quadratic in the depth (a 20,000-deep hop alone needed 400 MB,
/// and each further such trace as much again). Now a run of missing servers is one
/// placeholder holding its first and last hop: memory and time follow the input.
#[test]
fn deep_traces_without_their_ancestors_stay_bounded() {
    let deep = |first: usize, depth: usize| {
        let mut hop = first.to_string();
        for _ in 1..depth {
            hop.push_str(".1");
        }
        let json = serde_json::json!({
            "server": {"name": format!("deep{first}"), "id": "X", "ver": "2.15.1"},
            "request": {"header": {"Nats-Trace-Hop": [hop]}},
            "events": [{"type": "in", "ts": "2026-01-01T00:00:00Z", "kind": 4, "cid": 1}],
        });
        TraceMessage::from_json(json.to_string().as_bytes()).expect("parses")
    };
    let started = Instant::now();
    // The origin's placeholder, and one for the 499 servers between it and the trace.
    let graph = stitch([deep(1, 500)]);
    assert_eq!(graph.missing().count(), 2);
    assert_eq!(
        graph.missing().map(|n| n.missing_servers()).sum::<usize>(),
        500,
        "the origin and 499 servers above"
    );
    assert!(graph.detached.is_empty());
    // Twenty 20,000-deep ones: each placed below one run, the placeholders' hop text no
    // more than twice the received hops.
    let traces: Vec<TraceMessage> = (2..22).map(|first| deep(first, 20_000)).collect();
    let graph = stitch(traces.clone());
    assert!(graph.detached.is_empty());
    assert!(!graph.is_complete());
    assert_eq!(graph.missing().count(), 21);
    assert_eq!(
        graph.missing().map(|n| n.missing_servers()).sum::<usize>(),
        1 + 20 * 19_999
    );
    let placeholder_bytes: usize = graph
        .missing()
        .map(|n| n.hop.len() + n.missing_run().map_or(0, |run| run.last_hop.len()))
        .sum();
    let received_bytes: usize = traces.iter().map(|t| t.hop().len()).sum();
    assert!(placeholder_bytes <= 2 * received_bytes);
    check_stitching(traces, false);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// Found while writing the stitch invariants: a trace whose parent arrived but did not list
/// it left the stitcher waiting for an announcement that could never come (incomplete, exit
/// 3) while the tree showed nothing missing. Now complete both ways; and an egress repeated
/// with an error before the one that forwarded is not taken for the announcement.
#[test]
fn completeness_agrees_for_unlisted_children_and_repeated_hops() {
    let trace = |hop: &str, egresses: &str| {
        let header = if hop.is_empty() {
            String::new()
        } else {
            format!(r#""Nats-Trace-Hop":["{hop}"]"#)
        };
        let kind = if hop.is_empty() { 0 } else { 1 };
        TraceMessage::from_json(
            format!(
                r#"{{"server":{{"name":"s{hop}"}},"request":{{"header":{{{header}}}}},"events":[{{"type":"in","ts":"2026-01-01T00:00:00Z","kind":{kind}}}{egresses}]}}"#
            )
            .as_bytes(),
        )
        .expect("parses")
    };
    // The origin lists nothing, yet hop 1 reports.
    for order in [[0, 1], [1, 0]] {
        let traces = [trace("", ""), trace("1", "")];
        let mut stitcher = nats_trace::trace::stitch::Stitcher::new();
        for i in order {
            stitcher.add(traces[i].clone());
        }
        assert!(stitcher.is_complete());
        let graph = stitcher.finish();
        assert!(graph.is_complete());
        check_stitching(traces.to_vec(), false);
    }
    // Hop 1 listed twice, first with an error: the second forwarded, and its trace is due.
    let origin = trace(
        "",
        r#",{"type":"eg","ts":"x","kind":1,"hop":"1","error":"e"},{"type":"eg","ts":"x","kind":1,"hop":"1"}"#,
    );
    let mut stitcher = nats_trace::trace::stitch::Stitcher::new();
    stitcher.add(origin.clone());
    assert!(!stitcher.is_complete());
    let graph = stitcher.finish();
    assert!(!graph.is_complete());
    assert_eq!(graph.missing().count(), 1);
    check_stitching(vec![origin], true);
}
