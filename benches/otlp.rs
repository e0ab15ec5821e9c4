//! The cost of OTLP/HTTP export (issue 14's goals), into the test harness's OTLP receiver
//! (`tests/common/otlp_receiver.rs`: hyper, gunzip, protobuf decode with
//! `opentelemetry-proto`) on 127.0.0.1:
//!
//! 1. `otlp live`: the release `nats-trace trace` through the demo's supercluster with a
//!    leafnode chain, alternating runs without and with `--otlp-endpoint` (process start to
//!    exit, so the export thread, the encode and the POST are all inside); the medians and
//!    their difference (goal: ≤ 1 ms).
//! 2. `otlp listen export`: the encode + queue + send path of `listen` (span model, protobuf,
//!    gzip, batches of 512 spans, the worker thread, HTTP) on the demo's six-server trace
//!    (testdata/supercluster-leaf-chain.jsonl) as fast as the bounded queue accepts it, no
//!    span dropped: traced messages per second (goal: ≥ 5,000). Synthetic reports rather
//!    than a real server, so the number is the exporter's own capacity.
//! 3. `otlp listen live`: the release `nats-trace listen --dest trace.app --format json
//!    --otlp-endpoint URL --count N` against a real server whose account traces 100 % of
//!    the messages; async-nats publishes N messages with fresh sampled `traceparent`s at a
//!    target rate (1 ms ticks); the listener's summary says how many spans were sent and
//!    dropped, and the receiver counts what arrived.
//!
//! It prints numbers and asserts no timing; it fails only on errors (a failed run, a lost
//! or dropped span). Under `cargo test --all-targets` (no `--bench`) it is a smoke run.

#[path = "../tests/common/otlp_receiver.rs"]
#[allow(dead_code)]
mod otlp_receiver;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nats_trace::export::queue::BatchLimits;
use nats_trace::export::{BatchExporter, ExportSettings, encode};
use nats_trace::topology::Topology;
use nats_trace::trace::capture;
use nats_trace::trace::report::TraceReport;
use nats_trace::trace::stitch::stitch;
use nats_trace_testkit::measure::{median, time_run};
use otlp_receiver::OtlpReceiver;

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let receiver = OtlpReceiver::counting();
    bench_live(&receiver);
    bench_listen_export(&receiver);
    let rates: &[u64] = if bench_mode() {
        &[5_000, 10_000, 20_000]
    } else {
        &[5_000]
    };
    let seconds = if bench_mode() { 3 } else { 0 };
    for &rate in rates {
        bench_listen_live(&receiver, rate, (rate * seconds).max(300));
    }
}

const ACCOUNTS: &str = r#"accounts {
  APP {
    users: [{user: app, password: app}]
    msg_trace: { dest: "trace.app", sampling: "100%" }
  }
}
no_auth_user: app"#;

fn bench_listen_live(receiver: &OtlpReceiver, rate: u64, total: u64) {
    use std::io::{BufRead, BufReader};
    let topology = nats_trace::topology::TopologyBuilder::new()
        .common(ACCOUNTS)
        .server(nats_trace::topology::ServerSpec::new("n1"))
        .start()
        .expect("server starts");
    let url = topology.url("n1");
    let endpoint = receiver.url();
    let count = total.to_string();
    let before = receiver.span_count();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nats-trace"))
        .args([
            "-s",
            &url,
            "listen",
            "--dest",
            "trace.app",
            "--format",
            "json",
        ])
        .args(["--count", &count, "--otlp-endpoint", &endpoint])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("listen starts");
    topology
        .wait_for_interest("n1", "APP", "trace.app", 1)
        .expect("the listener subscribed");
    let publish_time = publish_at(&url, rate, total);
    let published_at = Instant::now();
    let stdout = child.stdout.take().expect("stdout");
    let summary = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("{\"summary\""))
        .expect("a summary line");
    let status = child.wait().expect("listen ends");
    let ended = published_at.elapsed();
    assert!(status.success(), "listen exit {status:?}");
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("JSON");
    let otlp = &summary["otlp"];
    let received = receiver.span_count() - before;
    assert_eq!(otlp["failed"], 0, "{summary}");
    println!(
        "otlp listen live single server  offered {rate:>6}/s  messages {total:>6} in {:>6.0} ms  spans sent {:>6}  dropped {:>5}  received {received:>6}  listener done {:>5.0} ms after the last publish",
        ms(publish_time),
        otlp["sent"],
        otlp["dropped"],
        ms(ended)
    );
}

/// `total` messages with fresh sampled traceparents from one connection at `per_second`
/// (1 ms ticks, catching up when late); the time from first publish to flushed.
fn publish_at(url: &str, per_second: u64, total: u64) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = async_nats::connect(url).await.expect("publisher connects");
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent = 0u64;
        while sent < total {
            tick.tick().await;
            let due = ((started.elapsed().as_secs_f64() * per_second as f64) as u64 + 1).min(total);
            while sent < due {
                let mut headers = async_nats::HeaderMap::new();
                let traceparent = format!(
                    "00-{:032x}-{:016x}-01",
                    0x0e0e_0000_u128 + u128::from(sent),
                    sent + 1
                );
                headers.insert("traceparent", traceparent.as_str());
                client
                    .publish_with_headers("orders.new", headers, "x".into())
                    .await
                    .expect("publish");
                sent += 1;
            }
        }
        client.flush().await.expect("flush");
        started.elapsed()
    })
}

/// One `trace` run of the release binary; it must exit 0.
fn run_trace(args: &[&str]) -> Duration {
    let (elapsed, code) = time_run(Path::new(env!("CARGO_BIN_EXE_nats-trace")), args);
    assert_eq!(code, Some(0), "nats-trace {args:?}");
    elapsed
}

fn bench_live(receiver: &OtlpReceiver) {
    let runs = if bench_mode() { 60 } else { 3 };
    let topology = Topology::supercluster().expect("supercluster");
    let _subscribers = subscribe(&topology);
    let url = topology.url("e1");
    let endpoint = receiver.url();
    let plain = ["-s", &url, "orders.new", "--color", "never"];
    let exported = [
        "-s",
        &url,
        "orders.new",
        "--color",
        "never",
        "--otlp-endpoint",
        &endpoint,
    ];
    let before = receiver.span_count();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        without.push(run_trace(&plain));
        with.push(run_trace(&exported));
    }
    let spans = receiver.span_count() - before;
    assert_eq!(spans, runs * 6, "every exported run's six spans arrived");
    let (without, with) = (median(without), median(with));
    println!(
        "otlp live supercluster + leaf chain  runs {runs:>3}  median without {:>6.2} ms  with --otlp-endpoint {:>6.2} ms  difference {:>+5.2} ms  ({} spans received)",
        ms(without),
        ms(with),
        ms(with) - ms(without),
        spans
    );
}

/// Subscribers on e2, w1 and leaf2 (as benches/live.rs), their interest propagated, so the
/// trace visits six servers.
fn subscribe(topology: &Topology) -> (tokio::runtime::Runtime, Vec<async_nats::Subscriber>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let subscribers = runtime.block_on(async {
        let mut subscribers = Vec::new();
        for server in ["e2", "w1", "leaf2"] {
            let client = async_nats::connect(topology.url(server))
                .await
                .expect("subscriber connects");
            subscribers.push(client.subscribe("orders.new").await.expect("subscribes"));
            client.flush().await.expect("flush");
        }
        subscribers
    });
    for (server, count) in [("e1", 1), ("w1", 2), ("w2", 2), ("leaf1", 1)] {
        topology
            .wait_for_interest(server, "$G", "orders.new", count)
            .expect("interest");
    }
    (runtime, subscribers)
}

fn demo_report() -> TraceReport {
    let capture = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/supercluster-leaf-chain.jsonl"
    ));
    let inputs = capture::read_inputs(&[capture]).expect("the demo capture reads");
    TraceReport::from_graph(stitch(inputs.messages))
}

fn warn(text: &str) {
    eprintln!("otlp bench: warning: {text}");
}

fn bench_listen_export(receiver: &OtlpReceiver) {
    let messages: usize = if bench_mode() { 50_000 } else { 500 };
    let report = demo_report();
    let settings = ExportSettings::resolve(Some(receiver.url()), |_| None)
        .expect("settings")
        .expect("an endpoint");
    let limits = BatchLimits::default();
    let before = receiver.span_count();
    let started = Instant::now();
    let mut exporter = BatchExporter::start(&settings, limits, warn);
    let mut spans_total = 0;
    let mut waits = 0u64;
    for _ in 0..messages {
        let spans = encode::spans_of(&report, &[]).expect("spans");
        spans_total += spans.len();
        // Keep under the bound, as a listener whose traffic the exporter keeps up with.
        while exporter.queued() + spans.len() > limits.max_queued {
            waits += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
        exporter.push(spans);
    }
    let counts = exporter.finish(Duration::from_secs(30));
    let elapsed = started.elapsed();
    assert_eq!(counts.dropped, 0);
    assert_eq!(counts.failed, 0);
    assert_eq!(counts.sent as usize, spans_total);
    assert_eq!(
        receiver.span_count() - before,
        spans_total,
        "every span received"
    );
    println!(
        "otlp listen export (encode+queue+send)  messages {messages:>6}  spans {spans_total:>7}  {:>7.0} traced messages/s  {:>6.2} µs/message  ({waits} waits for queue room)",
        messages as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / messages as f64,
    );
}
