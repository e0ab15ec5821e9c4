//! The scaling target of stitch + render, measured head to head: a 10,000-server and a
//! 100,000-server fan-out are stitched and rendered in alternation, so that both sizes see
//! the same machine (this machine's speed drifts by a fifth over seconds, which makes two
//! separate criterion runs disagree), and the ratio of each pair is taken. Prints the median
//! times and the median, lowest and highest ratio.
//!
//! As in the pipeline benchmark, each run starts from parsed trace messages (cloned outside
//! the timing) and ends after the last line of the tree; dropping the result is not timed.

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::Stitcher;
use nats_trace_testkit::measure::median_f64;
use nats_trace_testkit::synthetic;

/// mimalloc, as in the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parsed(servers: usize) -> Vec<TraceMessage> {
    synthetic::fan_out(servers)
        .iter()
        .map(|line| TraceMessage::from_json(line.as_bytes()).expect("synthetic trace parses"))
        .collect()
}

/// One timed stitch + render of a copy of `messages`.
fn timed(messages: &[TraceMessage]) -> Duration {
    let copy = messages.to_vec();
    let start = Instant::now();
    let mut stitcher = Stitcher::new();
    for message in copy {
        stitcher.add(message);
    }
    let report = TraceReport::from_graph(stitcher.finish());
    TreeRenderer::new(RenderOptions::default())
        .render(&report, &mut io::sink())
        .expect("render to a sink");
    let elapsed = start.elapsed();
    drop(black_box(report));
    elapsed
}

fn main() {
    // Under `cargo test --all-targets` (no `--bench`), a small smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    let (small, factor, pairs) = if bench {
        (10_000, 10, 25)
    } else {
        (100, 10, 3)
    };
    let large = small * factor;
    let small_messages = parsed(small);
    let large_messages = parsed(large);
    // Warm up both sizes once.
    timed(&small_messages);
    timed(&large_messages);
    let mut small_ms = Vec::with_capacity(pairs);
    let mut large_ms = Vec::with_capacity(pairs);
    let mut ratios = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        // Three small runs around each large one: the pair compares the large run with the
        // median of its neighbours.
        let mut around = [
            timed(&small_messages).as_secs_f64(),
            0.0,
            timed(&small_messages).as_secs_f64(),
        ];
        let large_s = timed(&large_messages).as_secs_f64();
        around[1] = timed(&small_messages).as_secs_f64();
        let small_s = median_f64(&mut around);
        small_ms.push(small_s * 1e3);
        large_ms.push(large_s * 1e3);
        ratios.push(large_s / small_s);
    }
    let (lowest, highest) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "scaling fan-out {small} -> {large}: {pairs} pairs, median {:.2} ms -> {:.2} ms, ratio median {:.1}x (lowest {:.1}x, highest {:.1}x)",
        median_f64(&mut small_ms),
        median_f64(&mut large_ms),
        median_f64(&mut ratios),
        lowest,
        highest
    );
}
