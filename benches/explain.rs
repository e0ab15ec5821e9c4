//! Wall time (process start to exit) of discovering the network and of `--explain`, against the demo's six
//! servers (with a system-account user and system leafnode links): `topology` through the
//! system account and through the monitoring URLs (connecting included), and
//! the time `--explain` adds to a trace with findings (no interest: SUBSZ, GATEWAYZ) and to
//! one without (nothing asked). Prints the median, p90, min and max over `BENCH_RUNS` runs
//! (default 50; 3 as a smoke run under `cargo test --all-targets`).

use std::path::Path;
use std::time::Duration;

use nats_trace::topology::Topology;
use nats_trace::topology::demo::topology_builder;
use nats_trace::topology::spec::{SYSTEM_PASSWORD, SYSTEM_USER};
use nats_trace_testkit::measure::{median, runs, time_run};

const APP: &str = r#"APP: { users: [{user: "demo", password: "demo"}] }"#;

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "explain {label}: median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms ({} runs)",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

fn start() -> Topology {
    topology_builder()
        .system_account(APP)
        .configure("leaf1", |s| s.system_leaf_remote("w2"))
        .configure("leaf2", |s| s.system_leaf_remote("leaf1"))
        .start()
        .expect("topology starts")
}

/// A context file for the system user.
fn context(url: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    let json =
        format!(r#"{{"url": "{url}", "user": "{SYSTEM_USER}", "password": "{SYSTEM_PASSWORD}"}}"#);
    std::fs::write(file.path(), json).expect("write context");
    file
}

/// The wall times of `runs()` runs of nats-trace with `args`, each exiting with `code`.
fn times(args: &[&str], code: i32) -> Vec<Duration> {
    (0..runs(50, 3))
        .map(|_| {
            let (took, exit) = time_run(Path::new(env!("CARGO_BIN_EXE_nats-trace")), args);
            assert_eq!(exit, Some(code), "{args:?}");
            took
        })
        .collect()
}

fn main() {
    let topology = start();
    let url = topology.url("e1");
    let ctx_file = context(&url);
    let ctx = ctx_file.path().to_str().expect("path");
    let monitors: Vec<String> = topology.servers().iter().map(|s| s.monitor_url()).collect();
    let monitors = monitors.join(",");
    report(
        "topology, system account (process)",
        times(&["topology", "--system-context", ctx], 0),
    );
    report(
        "topology, monitoring URLs (process)",
        times(&["topology", "--monitor", &monitors], 0),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _subscriber = runtime.block_on(async {
        let client = async_nats::connect(&url).await.expect("connects");
        let sub = client.subscribe("ok.x").await.expect("subscribes");
        client.flush().await.expect("flush");
        (client, sub)
    });
    for (label, subject, code) in [
        ("with findings (no interest)", "nothing.here", 0),
        ("without findings (delivered)", "ok.x", 0),
    ] {
        let plain = times(&["trace", subject, "-s", &url], code);
        let explained = times(
            &[
                "trace",
                subject,
                "-s",
                &url,
                "--explain",
                "--system-context",
                ctx,
            ],
            code,
        );
        let added = median(explained.clone()).saturating_sub(median(plain.clone()));
        report(&format!("trace {label}"), plain);
        report(&format!("trace --explain {label}"), explained);
        println!(
            "explain: --explain adds {:.1} ms {label} (difference of medians)",
            added.as_secs_f64() * 1000.0
        );
    }
}
