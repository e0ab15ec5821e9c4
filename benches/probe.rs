//! The probe's own costs, beyond the traces it runs (synthetic reports from
//! `nats-trace-testkit`, no servers): (1) CPU per case of one probe cycle's bookkeeping —
//! the result, the route and its fingerprint against the baseline, the metrics, the log
//! line; (2) rendering `/metrics` with 100 cases; (3) resident memory with 100 cases over
//! 1,000 cycles, and its growth from cycle 100 to cycle 1,000. Routes: 6-server leafnode
//! chains and 8-server fan-outs; every tenth case switches shape every other cycle, so route
//! changes are counted too. Under `cargo test --all-targets` (no `--bench`), a smoke run of
//! 20 cycles.

use std::time::{Duration, Instant};

use nats_trace::probe::{LogFormat, Observer, ProbeResult};
use nats_trace::render::TraceReport;
use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::route::SnapshotLevel;
use nats_trace::trace::stitch::stitch;
use nats_trace_testkit::measure::median;
use nats_trace_testkit::synthetic;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CASES: usize = 100;
/// Cycles of a real run.
const CYCLES: usize = 1_000;
/// The cycle after which the resident memory is first read.
const WARM: usize = 100;

fn report(lines: &[String]) -> TraceReport {
    let graph = stitch(
        lines
            .iter()
            .map(|l| TraceMessage::from_json(l.as_bytes()).expect("synthetic traces parse")),
    );
    let report = TraceReport::from_graph(graph);
    report.analysis();
    report
}

/// `VmRSS` of this process in kB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| {
            eprintln!("probe benchmark: cannot read VmRSS from /proc/self/status");
            std::process::exit(1)
        })
}

/// One cycle: every case observed once; the time spent, and the log bytes (kept so the
/// work is not optimised away).
fn cycle(observer: &mut Observer, shapes: &[TraceReport; 2], n: usize) -> (Duration, usize) {
    let started = Instant::now();
    let mut bytes = 0;
    for case in 0..CASES {
        let shape = usize::from(case % 10 == 0 && n % 2 == 1);
        let name = observer.cases()[case].clone();
        let result = ProbeResult::of_report(&name, shapes[shape].clone(), Duration::from_millis(3));
        let recorded = observer.observe(case, result);
        bytes += recorded.log_line(LogFormat::Json).len();
    }
    (started.elapsed(), bytes)
}

fn main() {
    let cycles = if std::env::args().any(|a| a == "--bench") {
        CYCLES
    } else {
        20
    };
    let shapes = [report(&synthetic::chain(6)), report(&synthetic::fan_out(8))];
    let names: Vec<String> = (0..CASES).map(|i| format!("case {i}")).collect();
    let mut observer = Observer::new(names, SnapshotLevel::Cluster);
    let mut times = Vec::with_capacity(cycles);
    let mut renders = Vec::new();
    let mut bytes = 0;
    let rss_start = rss_kib();
    let mut rss_at_100 = 0;
    for n in 0..cycles {
        let (took, logged) = cycle(&mut observer, &shapes, n);
        times.push(took);
        bytes += logged;
        if n % 10 == 0 {
            let started = Instant::now();
            bytes += observer.render_metrics().len();
            renders.push(started.elapsed());
        }
        if n + 1 == WARM.min(cycles) {
            rss_at_100 = rss_kib();
        }
    }
    let rss_end = rss_kib();
    let per_case = median(times) / CASES as u32;
    let metrics = observer.render_metrics();
    println!(
        "probe cycle bookkeeping per case: median {:.1} µs (target ≤ 2 ms)",
        per_case.as_secs_f64() * 1e6
    );
    println!(
        "probe /metrics render, {CASES} cases ({} bytes, {} lines): median {:.2} ms (target ≤ 5 ms)",
        metrics.len(),
        metrics.lines().count(),
        median(renders).as_secs_f64() * 1e3
    );
    println!(
        "probe RSS, {CASES} cases: {:.1} MB before the first cycle, after {} cycles {:.1} MB, after {cycles} {:.1} MB (growth {:+.1} MB; target ≤ 30 MB, no growth) [{bytes} bytes produced]",
        rss_start as f64 / 1024.0,
        WARM.min(cycles),
        rss_at_100 as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        (rss_end as f64 - rss_at_100 as f64) / 1024.0
    );
}
