//! The fuzz smoke that runs everywhere (stable toolchain, no libFuzzer): every input the
//! fuzzers ever crashed, hung or ran out of memory on (`fuzz/regressions/<target>/`), every
//! captured trace (`testdata/*.jsonl`), and a few thousand deterministic pseudo-random
//! inputs, each replayed through the same entry points as the cargo-fuzz targets
//! (`nats_trace::fuzzing`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nats_trace::fuzzing::{Scale, fuzz_decode, fuzz_parse, fuzz_stitch, fuzz_stitch_at};

fn regressions(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
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
    // The stitch fuzzer's inputs expand to 10,000-deep chains (about 100 MB of JSON) that an
    // unoptimised build takes half a minute each to go through: they are replayed at full
    // scale in release builds (`cargo test --release --test fuzz_regressions`), and at the
    // smoke's scale otherwise.
    let replayed = if cfg!(debug_assertions) {
        replay(
            "stitch",
            &|data| fuzz_stitch_at(data, Scale::SMOKE),
            Duration::from_secs(30),
        )
    } else {
        replay("stitch", &fuzz_stitch, Duration::from_secs(30))
    };
    assert!(replayed > 0, "the fuzzers' findings are kept");
    let mut bytes = Bytes(0xdead_beef_cafe_f00d);
    for n in 0..500 {
        fuzz_stitch_at(&bytes.fill(n % 700), Scale::SMOKE);
    }
}
