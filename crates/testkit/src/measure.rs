//! Small pieces every benchmark uses: how many runs (`BENCH_RUNS`, a full run under
//! `cargo bench`, a smoke run under `cargo test --all-targets`), medians, and the wall time of
//! one process run of the binary under test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this is a `cargo bench` run (it passes `--bench`; `cargo test` does not).
pub fn is_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Runs per measurement: `BENCH_RUNS` when set, else `bench` under `cargo bench` and `smoke`
/// under `cargo test --all-targets`; at least 1.
pub fn runs(bench: usize, smoke: usize) -> usize {
    let default = if is_bench() { bench } else { smoke };
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

/// The median of `times` (the upper one of an even count).
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The median of `values` (the upper one of an even count), sorting them in place.
pub fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `bin` with `args` (output discarded, `NATS_URL` and `NATS_CONTEXT` removed) and
/// returns its wall time and exit code.
pub fn time_run(bin: &Path, args: &[&str]) -> (Duration, Option<i32>) {
    let started = Instant::now();
    let status = Command::new(bin)
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("NATS_CONTEXT")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the binary under test runs");
    (started.elapsed(), status.code())
}
