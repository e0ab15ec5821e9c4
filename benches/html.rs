//! `--format html`: the cost of a page and of opening it.
//!
//! 1. Rendering: a synthetic 1,000-server trace (a two-level fan-out tree, `1 + 9 + 9·110`
//!    servers, and a 1,000-server chain) to one HTML page in process; the median of the runs
//!    (each on a fresh report, so the analysis is included). Goal ≤ 50 ms.
//! 2. Interactive: the fan-out's page opened in headless Chromium (offline, as the browser
//!    tests do); the page's script writes `data-ready-ms` (`performance.now()` at the end of
//!    its initialisation: navigation start to interactive), read back from the dumped DOM;
//!    the median of the runs. Goal ≤ 1 s.
//! 3. Size: the demo's page (`testdata/supercluster-leaf-chain.jsonl`). Goal ≤ 300 KB.
//!
//! `BENCH_RUNS` sets the runs (default 30 rendering / 5 browser runs under `cargo bench`; a
//! smoke run of 2 under `cargo test --all-targets`).

#[path = "../tests/common/browser.rs"]
mod browser;

use std::time::{Duration, Instant};

use nats_trace::render::{HtmlRenderer, TraceReport};
use nats_trace::trace::capture;
use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::stitch;
use nats_trace_testkit::measure::median_f64;
use nats_trace_testkit::synthetic;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report_of(lines: &[String]) -> TraceReport {
    let traces = lines
        .iter()
        .map(|l| TraceMessage::from_json(l.as_bytes()).expect("synthetic JSON"));
    TraceReport::from_graph(stitch(traces))
}

/// The median time to render `lines`' page, and the page.
fn render_time(lines: &[String], runs: usize) -> (f64, String) {
    let renderer = HtmlRenderer::default();
    let mut times = Vec::with_capacity(runs);
    let mut page = String::new();
    for _ in 0..runs {
        let report = report_of(lines);
        let started = Instant::now();
        page = renderer.page(&report);
        times.push(ms(started.elapsed()));
    }
    (median_f64(&mut times), page)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let runs = |default: usize| {
        std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if bench { default } else { 2 })
    };
    let fan = synthetic::fan_out_tree(&[9, 110]);
    let chain = synthetic::chain(1000);
    let (fan_ms, fan_page) = render_time(&fan, runs(30));
    let (chain_ms, chain_page) = render_time(&chain, runs(30));
    println!(
        "html render: {} servers (fan-out tree) {fan_ms:.1} ms, {} KB; {} servers (chain) {chain_ms:.1} ms, {} KB (goal ≤ 50 ms)",
        fan.len(),
        fan_page.len() / 1024,
        chain.len(),
        chain_page.len() / 1024
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fan-out.html");
    std::fs::write(&path, &fan_page).expect("write the page");
    let mut ready = Vec::new();
    for _ in 0..runs(5) {
        let visit = browser::visit(&path, None);
        assert!(visit.console.is_empty(), "console: {:?}", visit.console);
        ready.push(visit.ready_ms().expect("the page's script finished"));
    }
    println!(
        "html interactive: {} servers in Chromium {:.0} ms median of {} (navigation start to the end of the page's script; goal ≤ 1000 ms)",
        fan.len(),
        median_f64(&mut ready),
        ready.len()
    );
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/supercluster-leaf-chain.jsonl");
    let inputs = capture::read_inputs(&[demo]).expect("the demo capture");
    let report = TraceReport::from_graph(stitch(inputs.messages));
    let size = HtmlRenderer::default().page(&report).len();
    println!(
        "html size: demo page {:.1} KB (goal ≤ 300 KB)",
        size as f64 / 1024.0
    );
}
