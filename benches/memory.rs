//! Peak memory of parse + stitch + render for a 10,000-server (and 100,000-server) fan-out,
//! measured as the growth of this process's peak resident set (VmHWM, reset through
//! /proc/self/clear_refs) beyond the input text, which is kept out of the measurement.

use std::io;

use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::Stitcher;
use nats_trace_testkit::synthetic;

/// mimalloc: the many small allocations of thousands of trace messages are much cheaper
/// than with the system allocator (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A `kB` figure of `/proc/self/status` (`VmRSS:`, `VmHWM:`); `None` when the file or the
/// field cannot be read.
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

/// Ends the benchmark with a message and exit status 1: a figure that cannot be measured is
/// a failure, never a 0 MB result.
fn fail(message: &str) -> ! {
    eprintln!("memory benchmark: {message}");
    std::process::exit(1);
}

fn required_kib(field: &str) -> u64 {
    status_kib(field)
        .unwrap_or_else(|| fail(&format!("cannot read {field} from /proc/self/status")))
}

/// Resets the peak resident set (VmHWM) to the current one.
fn reset_peak() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        fail(&format!(
            "cannot reset the peak resident set through /proc/self/clear_refs: {e}"
        ));
    }
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
        if !status.success() {
            fail(&format!("the case {shape} {n} failed: {status}"));
        }
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
        reset_peak();
        let before = required_kib("VmRSS:");
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
        let peak = required_kib("VmHWM:");
        if peak < before {
            fail(&format!(
                "peak resident set {peak} kB below the resident set before ({before} kB): the reset did not work"
            ));
        }
        drop(report);
        println!(
            "memory {shape} {n:>7} servers: input {:.1} MB, peak growth {:.1} MB",
            input_bytes as f64 / 1e6,
            (peak - before) as f64 / 1024.0
        );
    }
}
