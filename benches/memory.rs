//! Peak memory of parse + stitch + render for a 10,000-server (and 100,000-server) fan-out,
//! measured as the growth of this process's peak resident set (VmHWM, reset through
//! /proc/self/clear_refs) beyond the input text, which is kept out of the measurement.

use std::io;

use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::Stitcher;
use nats_trace_testkit::synthetic;

/// mimalloc: the many small allocations of thousands of trace messages are much cheaper
/// than with the system allocator (see the README's Performance section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Each case runs in a fresh process (this binary re-run with the case as arguments), so
/// that memory freed by one case cannot hide the next one's growth.
fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let [shape, n] = args.as_slice() {
        measure(shape, n.parse().expect("a server count"));
        return;
    }
    // Under `cargo test --all-targets` (no `--bench`), a small smoke run.
    let cases: &[(&str, usize)] = if std::env::args().any(|a| a == "--bench") {
        &[("fan_out", 10_000), ("chain", 10_000), ("fan_out", 100_000)]
    } else {
        &[("fan_out", 1_000), ("chain", 1_000)]
    };
    for &(shape, n) in cases {
        let status = std::process::Command::new(std::env::current_exe().expect("own path"))
            .args([shape, &n.to_string()])
            .status()
            .expect("runs a case");
        assert!(status.success(), "{shape} {n}: {status}");
    }
}

fn measure(shape: &str, n: usize) {
    {
        let lines = if shape == "chain" {
            synthetic::chain(n)
        } else {
            synthetic::fan_out(n)
        };
        let input_bytes: usize = lines.iter().map(String::len).sum();
        // Reset the peak to the current resident set, so the peak below is what the
        // pipeline adds on top of the input.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_kib("VmRSS:").unwrap_or(0);
        let mut stitcher = Stitcher::new();
        for line in &lines {
            match TraceMessage::from_json(line.as_bytes()) {
                Ok(message) => stitcher.add(message),
                Err(e) => panic!("synthetic trace does not parse: {e}"),
            }
        }
        let report = TraceReport::from_graph(stitcher.finish());
        TreeRenderer::new(RenderOptions::default())
            .render(&report, &mut io::sink())
            .expect("render to a sink");
        let peak = status_kib("VmHWM:").unwrap_or(0);
        drop(report);
        println!(
            "memory {shape} {n:>7} servers: input {:.1} MB, peak growth {:.1} MB",
            input_bytes as f64 / 1e6,
            peak.saturating_sub(before) as f64 / 1024.0
        );
    }
}
