//! Whole-process `render`: the release binary run as `nats-trace render FILE --format tree`
//! with its output to /dev/null, on `--save` files of two synthetic fan-out trees written to
//! a temporary directory: 10,101 servers (`1 + 100 + 100²`) and 100,807 (`1 + 317 + 317²`).
//! Everything the command does is timed: start-up, reading and parsing the file, stitching,
//! rendering and exit. As in the scaling benchmark the two sizes run in alternation (this
//! machine's speed drifts over seconds): each large run is compared with the median of the
//! three small runs around it. Prints the median times and the median, lowest and highest
//! ratio, then where the time goes in-process (read + parse, stitch, render; medians).
//!
//! `BENCH_RUNS` sets the pairs (default 15 under `cargo bench`, 2 in the smoke run that
//! `cargo test --all-targets` makes with small trees). `RENDER_BIN` times another
//! `nats-trace` binary instead of this build's (a copy of an older build, to compare); the
//! in-process stages, which are this build's, are then left out.

use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::trace::capture;
use nats_trace::trace::stitch::Stitcher;
use nats_trace_testkit::measure::median_f64;
use nats_trace_testkit::synthetic;

/// mimalloc, as in the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Writes the `--save` file of a fan-out tree; returns its path and server count.
fn saved_file(dir: &Path, branching: &[usize]) -> (PathBuf, usize) {
    let traces = synthetic::fan_out_tree(branching);
    let path = dir.join(format!("fan-out-{}.jsonl", traces.len()));
    let mut file = io::BufWriter::new(std::fs::File::create(&path).expect("create the file"));
    synthetic::write_saved_lines(&mut file, &traces).expect("write the file");
    (path, traces.len())
}

/// One run of the release binary on `path`, which must exit 0 (a complete trace).
fn run_binary(path: &Path) -> Duration {
    let started = Instant::now();
    let binary =
        std::env::var_os("RENDER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_nats-trace").into());
    let output = Command::new(binary)
        .args(["render", "--format", "tree"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("nats-trace runs");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "render {} exited {:?}: {}",
        path.display(),
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// The in-process stages of one render: read + parse, stitch, render (to a sink).
fn stages(path: &Path) -> [Duration; 3] {
    let started = Instant::now();
    let inputs = capture::read_inputs(&[path.to_path_buf()]).expect("reads");
    let parsed = started.elapsed();
    let mut stitcher = Stitcher::new();
    for message in inputs.messages {
        stitcher.add(message);
    }
    let report = TraceReport::from_graph(stitcher.finish());
    let stitched = started.elapsed();
    TreeRenderer::new(RenderOptions::default())
        .render(&report, &mut io::sink())
        .expect("render to a sink");
    let rendered = started.elapsed();
    drop(black_box(report));
    [parsed, stitched - parsed, rendered - stitched]
}

fn print_stages(path: &Path, servers: usize, runs: usize) {
    let mut columns = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (column, stage) in columns.iter_mut().zip(stages(path)) {
            column.push(ms(stage));
        }
    }
    let [parse, stitch, render] = columns.map(|mut c| median_f64(&mut c));
    println!(
        "render_process stages {servers}: read + parse {parse:.2} ms, stitch {stitch:.2} ms, render {render:.2} ms"
    );
}

fn main() {
    // Under `cargo test --all-targets` (no `--bench`), a small smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    let (small_tree, large_tree, default_pairs): (&[usize], &[usize], usize) = if bench {
        (&[100, 100], &[317, 317], 15)
    } else {
        (&[10, 10], &[31, 31], 2)
    };
    let pairs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_pairs)
        .max(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (small, small_servers) = saved_file(dir.path(), small_tree);
    let (large, large_servers) = saved_file(dir.path(), large_tree);
    // Warm up both (page cache, binary).
    run_binary(&small);
    run_binary(&large);
    let (mut small_ms, mut large_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..pairs {
        let mut around = [ms(run_binary(&small)), 0.0, ms(run_binary(&small))];
        let large_run = ms(run_binary(&large));
        around[1] = ms(run_binary(&small));
        let small_run = median_f64(&mut around);
        small_ms.push(small_run);
        large_ms.push(large_run);
        ratios.push(large_run / small_run);
    }
    let (lowest, highest) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "render_process {small_servers} -> {large_servers} servers: {pairs} pairs, median {:.2} ms -> {:.2} ms, ratio median {:.1}x (lowest {:.1}x, highest {:.1}x)",
        median_f64(&mut small_ms),
        median_f64(&mut large_ms),
        median_f64(&mut ratios),
        lowest,
        highest
    );
    // The stages are this build's, whatever binary was timed.
    if std::env::var_os("RENDER_BIN").is_none() {
        print_stages(&small, small_servers, 5);
        print_stages(&large, large_servers, 3);
    }
}
