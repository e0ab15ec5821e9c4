//! The fuzz smoke that runs everywhere (stable toolchain, no libFuzzer): every input the
//! fuzzers ever crashed, hung or ran out of memory on (`fuzz/regressions/<target>/`, each
//! first checked to still reach the case it was kept for; a folder without inputs fails;
//! plus inline tests for findings too big to keep as files), every captured trace
//! (`testdata/*.jsonl`), and a few thousand deterministic pseudo-random inputs, each replayed
//! through the same entry points as the cargo-fuzz targets (`nats_trace_testkit::fuzzing`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nats_trace::trace::decode::{DecodeError, decode_with_limit};
use nats_trace::trace::event::{Event, TraceMessage};
use nats_trace::trace::stitch::{Stitcher, parent_hop, stitch};
use nats_trace_testkit::fuzzing::{
    FUZZ_DECODE_LIMIT, Scale, check_stitching, fuzz_decode, fuzz_parse, fuzz_stitch,
    fuzz_stitch_at, stitch_input,
};

/// The saved inputs of `target` (`fuzz/regressions/<target>/`, without its README and
/// dot-files). Fails when there are none: a regression folder that replays nothing would
/// let this test pass while checking nothing.
fn regressions(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name().is_some_and(|n| {
                let name = n.to_string_lossy();
                name.starts_with('.') || name == "README.md"
            })
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{} holds no input: keep the inputs the {target} fuzzer failed on there \
         (see fuzz/regressions/README.md)",
        dir.display()
    );
    files
}

/// Not a timing goal (those are in `benches/`): a bound only a hang or a quadratic blow-up
/// reaches, as the fuzzers' slow and out-of-memory inputs did.
const HANG: Duration = Duration::from_secs(60);

/// Runs `run` and fails when it took longer than [`HANG`].
fn without_hanging(what: &Path, run: impl FnOnce()) {
    let started = Instant::now();
    run();
    assert!(
        started.elapsed() < HANG,
        "{} took {:?}",
        what.display(),
        started.elapsed()
    );
}

fn name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Replays each saved input of `target` through its fuzz entry point, after `reaches`
/// checked that the input still reaches the case it was kept for (the inputs are replayed
/// as they are; only a hang would stop this test, which the test harness reports).
fn replay(target: &str, entry: &dyn Fn(&[u8]), reaches: &dyn Fn(&str, &[u8])) -> usize {
    let files = regressions(target);
    for file in &files {
        let data = std::fs::read(file).expect("read regression input");
        reaches(&name(file), &data);
        without_hanging(file, || entry(&data));
    }
    files.len()
}

/// The decode inputs: each decodes as its name says (see fuzz/regressions/README.md).
fn decode_reaches(name: &str, data: &[u8]) {
    let (selector, payload) = data.split_first().expect("a selector byte");
    assert_eq!(*selector, 3, "{name}: gzip selector");
    let decoded = decode_with_limit(Some("gzip"), payload, FUZZ_DECODE_LIMIT);
    match name {
        "gzip-bomb" => assert!(
            matches!(decoded, Err(DecodeError::TooLarge { .. })),
            "{name}: {decoded:?}"
        ),
        "gzip-truncated" => assert!(
            matches!(decoded, Err(DecodeError::Corrupt { .. })),
            "{name}: {decoded:?}"
        ),
        _ => panic!("{name}: say in fuzz/regressions/README.md and here what it exercises"),
    }
}

/// The parse inputs: each parses into the message its name says.
fn parse_reaches(name: &str, data: &[u8]) {
    let message = TraceMessage::from_json(data).expect("the saved message parses");
    match name {
        "hostile-names.json" => {
            let server = &message.server.name;
            assert!(
                server.contains('\u{1b}') && server.contains('\u{202e}'),
                "{server:?}"
            );
            assert!(
                message
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::Egress(eg) if eg.name.contains('\u{9b}'))),
                "{message:?}"
            );
        }
        _ => panic!("{name}: say in fuzz/regressions/README.md and here what it exercises"),
    }
}

/// The stitch inputs kept as fuzzer bytes: each builds (with the layout of
/// `nats_trace_testkit::fuzzing::traces_from`) the trace messages of the bug it found.
fn stitch_reaches(name: &str, data: &[u8]) {
    let traces = stitch_input(data, Scale::FULL)
        .expect("the saved input builds a whole input")
        .traces;
    match name {
        "oom-deep-hop-missing-ancestors" => deep_hop_without_ancestors(&traces),
        "unlisted-child-waited-for-timeout" => child_its_parent_did_not_list(&traces),
        "errored-duplicate-egress-as-announcement" => errored_egress_before_forwarded(&traces),
        _ => panic!("{name}: say in fuzz/regressions/README.md and here what it exercises"),
    }
}

/// One trace 20,000 hops deep, none of whose ancestors reported: a placeholder each would
/// hold about 400 MB of hop strings (what ran out of memory); they are one run now, whose
/// hop text is no more than twice the received hop, and the trace is placed below it.
fn deep_hop_without_ancestors(traces: &[TraceMessage]) {
    assert_eq!(traces.len(), 1, "{traces:?}");
    let hop = traces[0].hop();
    assert_eq!(hop.split('.').count(), 20_000);
    let graph = stitch(traces.to_vec());
    assert!(!graph.is_complete());
    assert!(graph.detached.is_empty());
    assert_eq!(
        graph.missing_servers(),
        20_000,
        "the origin and 19,999 above"
    );
    let placeholder_bytes: usize = graph
        .missing()
        .map(|n| n.hop.len() + n.missing_run().map_or(0, |run| run.last_hop.len()))
        .sum();
    assert!(placeholder_bytes <= 2 * hop.len());
}

/// Two traces: a server at hop `h` and its parent, which arrived without an egress for `h`.
/// The stitcher used to wait for that announcement until the timeout; it is complete.
fn child_its_parent_did_not_list(traces: &[TraceMessage]) {
    assert_eq!(traces.len(), 2, "{traces:?}");
    let child = traces
        .iter()
        .find(|t| !t.hop().is_empty())
        .expect("a trace with a hop");
    let parent = traces
        .iter()
        .find(|t| t.hop() == parent_hop(child.hop()))
        .expect("its parent's trace");
    assert!(
        !parent.egresses().any(|e| e.hop == child.hop()),
        "the parent lists the child: {parent:?}"
    );
    let mut stitcher = Stitcher::new();
    for trace in traces {
        stitcher.add(trace.clone());
    }
    assert!(stitcher.is_complete(), "the stitcher waits for the child");
    assert!(stitcher.finish().is_complete());
}

/// One trace with two egresses to the same hop, the first with an error: the second, which
/// forwarded, announces the hop (its trace is due: the graph shows it missing under the
/// second egress), not the errored one.
fn errored_egress_before_forwarded(traces: &[TraceMessage]) {
    assert_eq!(traces.len(), 1, "{traces:?}");
    let egresses: Vec<_> = traces[0].egresses().collect();
    let (errored, forwarded) = egresses
        .iter()
        .enumerate()
        .find_map(|(i, first)| {
            let later = egresses[i + 1..]
                .iter()
                .position(|e| e.hop == first.hop && e.error.is_empty())?;
            (!first.hop.is_empty() && !first.error.is_empty()).then_some((i, i + 1 + later))
        })
        .expect("an errored egress before one to the same hop that forwarded");
    let hop = egresses[errored].hop.clone();
    let graph = stitch(traces.to_vec());
    let missing = graph
        .nodes()
        .find(|&n| graph.node(n).is_missing() && graph.node(n).hop == hop)
        .expect("the announced hop is due");
    let (parent, index) = graph.parent(missing).expect("under its announcement");
    let announced = graph.node(parent).egress(index).expect("the egress");
    assert!(announced.egress.error.is_empty(), "{:?}", announced.egress);
    assert_eq!(
        index, forwarded,
        "the egress that forwarded announces the hop"
    );
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
    replay("decode", &fuzz_decode, &decode_reaches);
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
    replay("parse", &fuzz_parse, &parse_reaches);
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
    // Saved either as the fuzzer's bytes, replayed through the target's own entry point
    // (and checked to still build the traces of their bug), or as the trace messages the
    // fuzzer generated, one JSON per line (`*.jsonl`), which stay valid when the input
    // layout of `traces_from` changes.
    let (lines, bytes): (Vec<PathBuf>, Vec<PathBuf>) = regressions("stitch")
        .into_iter()
        .partition(|f| f.extension().is_some_and(|e| e == "jsonl"));
    for file in bytes {
        let data = std::fs::read(&file).expect("read regression input");
        stitch_reaches(&name(&file), &data);
        without_hanging(&file, || fuzz_stitch(&data));
    }
    for file in lines {
        let text = std::fs::read_to_string(&file).expect("read regression");
        let traces = text
            .lines()
            .map(|line| TraceMessage::from_json(line.as_bytes()).expect("regression parses"))
            .collect();
        without_hanging(&file, || check_stitching(traces, true));
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
    assert!(started.elapsed() < HANG, "took {:?}", started.elapsed());
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
