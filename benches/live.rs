//! Wall time of complete traces, process start to exit, against real local topologies: a
//! single server, a 3-node cluster and the supercluster with a leafnode chain. Each run
//! spawns the release `nats-trace` binary; every run must exit 0 (complete). Then the error
//! paths: a refused connection, and a server that never greets with `--timeout 300ms` (exit
//! 2). Prints the median, p90, min and max over `BENCH_RUNS` runs (default 50) per case.

use std::path::Path;
use std::time::Duration;

use nats_trace::topology::Topology;
use nats_trace_testkit::measure::{runs, time_run};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn bench(label: &str, url: &str, subject: &str) {
    bench_runs(label, &["-s", url, subject, "--color", "never"], 0);
}

/// Runs nats-trace with `args` `runs` times; every run must exit with `expected`. Prints
/// the median, p90, min and max wall time.
fn bench_runs(label: &str, args: &[&str], expected: i32) {
    let mut times = Vec::new();
    let mut unexpected = 0;
    for _ in 0..runs(50, 3) {
        let (took, code) = time_run(Path::new(env!("CARGO_BIN_EXE_nats-trace")), args);
        times.push(took);
        if code != Some(expected) {
            unexpected += 1;
        }
    }
    times.sort();
    assert_eq!(
        unexpected, 0,
        "{label}: {unexpected} run(s) did not exit {expected}"
    );
    println!(
        "live {label:<28} runs {:>3}  median {:>6.2} ms  p90 {:>6.2} ms  min {:>6.2} ms  max {:>6.2} ms  exit {expected}",
        times.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
}

/// The error paths whose speed the end-to-end tests used to assert: a server that refuses
/// the connection fails at once, one that accepts but never greets fails at `--timeout`.
fn bench_errors(subject: &str) {
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "nats://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        )
    };
    bench_runs("error: connection refused", &["-s", &refused, subject], 2);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!(
        "nats://127.0.0.1:{}",
        silent.local_addr().expect("addr").port()
    );
    bench_runs(
        "error: silent, timeout 300ms",
        &["-s", &silent_url, "--timeout", "300ms", subject],
        2,
    );
}

struct Subscribers {
    runtime: tokio::runtime::Runtime,
    _clients: Vec<(async_nats::Client, async_nats::Subscriber)>,
}

fn subscribe(at: &[String], subject: &str) -> Subscribers {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let clients = runtime.block_on(async {
        let mut clients = Vec::new();
        for url in at {
            let client = async_nats::connect(url.as_str())
                .await
                .expect("subscriber connects");
            let sub = client
                .subscribe(subject.to_string())
                .await
                .expect("subscribes");
            client.flush().await.expect("flush");
            clients.push((client, sub));
        }
        clients
    });
    Subscribers {
        runtime,
        _clients: clients,
    }
}

fn main() {
    let subject = "orders.new";

    let single = Topology::single().expect("single server");
    let _subs = subscribe(&[single.url("n1")], subject);
    bench("single server", &single.url("n1"), subject);
    drop(single);

    let cluster = Topology::cluster().expect("cluster");
    let _subs = subscribe(&[cluster.url("n2"), cluster.url("n3")], subject);
    cluster
        .wait_for_interest("n1", "$G", subject, 2)
        .expect("interest");
    bench("3-node cluster", &cluster.url("n1"), subject);
    drop(cluster);

    let supercluster = Topology::supercluster().expect("supercluster");
    let subs = subscribe(
        &[
            supercluster.url("e2"),
            supercluster.url("w1"),
            supercluster.url("leaf2"),
        ],
        subject,
    );
    for (server, count) in [("e1", 1), ("w1", 2), ("w2", 2), ("leaf1", 1)] {
        supercluster
            .wait_for_interest(server, "$G", subject, count)
            .expect("interest");
    }
    bench(
        "supercluster + leaf chain",
        &supercluster.url("e1"),
        subject,
    );
    drop(subs.runtime);
    drop(supercluster);

    bench_errors(subject);
}
