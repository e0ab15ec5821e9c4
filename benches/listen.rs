//! Throughput, CPU and memory of `nats-trace listen` against real local servers whose
//! account has a `msg_trace` destination (100 % sampling). The release binary runs as a
//! child (`listen --dest trace.app --format json`); async-nats publishers send application
//! messages with fresh sampled `traceparent`s at a target rate, and every emitted JSON line is
//! counted (and its traceparent checked for duplicates).
//!
//! 1. `listen rate`: for each offered rate of trace messages per second (single server: one
//!    trace message per application message; 3-node cluster with subscribers on the two other
//!    servers: three), the messages shown, lost and duplicated, the listener's processing rate
//!    (messages over first publish to last line), its lag after the last publish, and its CPU
//!    time per trace message from `/proc/<pid>/stat` (utime + stime), and the server's.
//! 2. `listen pending`: the listener's peak memory (`VmHWM`) before and after 10,000 groups
//!    are pending at once (a hub forwards every message to a leafnode whose account has no
//!    trace destination, so no route completes; `--settle 600s`).
//!
//! It prints numbers and asserts no timing; it fails only on errors, or on lost or duplicated
//! messages at the lowest rate. Under `cargo test --all-targets` (no `--bench`) it is a smoke
//! run: a few hundred messages at the lowest rate on one server, 200 pending groups.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};

const ACCOUNTS: &str = r#"accounts {
  APP {
    users: [{user: app, password: app}]
    msg_trace: { dest: "trace.app", sampling: "100%" }
  }
}
no_auth_user: app"#;

/// The application subject; its subscribers are on other servers than the publisher's.
const SUBJECT: &str = "orders.new";

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn main() {
    let bench = bench_mode();
    let rates: &[u64] = if bench {
        &[5_000, 10_000, 20_000, 40_000, 60_000, 80_000]
    } else {
        &[5_000]
    };
    let seconds = if bench { 3.0 } else { 0.06 };
    let single = TopologyBuilder::new()
        .common(ACCOUNTS)
        .server(ServerSpec::new("n1"))
        .start()
        .expect("single server starts");
    let setup = Setup {
        topology: &single,
        label: "single server",
        publish_on: "n1",
        listen_on: "n1",
        traces_per_message: 1,
    };
    rate_steps(&setup, rates, seconds);
    drop(single);
    if bench {
        let cluster = cluster_with_subscribers();
        let setup = Setup {
            topology: &cluster.0,
            label: "3-node cluster",
            publish_on: "n1",
            listen_on: "n1",
            traces_per_message: 3,
        };
        rate_steps(&setup, rates, seconds);
    }
    pending_memory(if bench { 10_000 } else { 200 });
}

/// Where to publish and listen, and how many trace messages each message yields.
struct Setup<'a> {
    topology: &'a Topology,
    label: &'a str,
    publish_on: &'a str,
    listen_on: &'a str,
    traces_per_message: u64,
}

/// One run per offered rate; the lowest must lose nothing.
fn rate_steps(setup: &Setup<'_>, rates: &[u64], seconds: f64) {
    for (i, &rate) in rates.iter().enumerate() {
        let result = run_rate(setup, rate, seconds);
        result.print(setup, rate);
        if i == 0 {
            assert!(
                result.lost == 0 && result.duplicates == 0 && result.stderr.is_empty(),
                "{}: lost {} and duplicated {} message(s) at the lowest rate; stderr: {}",
                setup.label,
                result.lost,
                result.duplicates,
                result.stderr
            );
        }
    }
}

/// A 3-node cluster `n1`..`n3` with a subscriber on `n2` and `n3` whose interest reached `n1`.
fn cluster_with_subscribers() -> (Topology, Clients) {
    let topology = TopologyBuilder::new()
        .common(ACCOUNTS)
        .server(ServerSpec::new("n1").cluster("C1"))
        .server(ServerSpec::new("n2").cluster("C1"))
        .server(ServerSpec::new("n3").cluster("C1"))
        .start()
        .expect("cluster starts");
    let clients = Clients::subscribe(&[topology.url("n2"), topology.url("n3")], SUBJECT);
    topology
        .wait_for_interest("n1", "APP", SUBJECT, 2)
        .expect("interest");
    (topology, clients)
}

/// What one rate step measured.
struct RateResult {
    /// What listen wrote on stderr (its warnings: "fell behind" when it dropped messages).
    stderr: String,
    published: u64,
    shown: u64,
    lost: u64,
    duplicates: u64,
    publish_time: Duration,
    /// First publish to the last line shown.
    process_time: Duration,
    cpu: Duration,
    server_cpu: Duration,
}

impl RateResult {
    fn print(&self, setup: &Setup<'_>, offered: u64) {
        let traces = self.published * setup.traces_per_message;
        let per_trace = |d: Duration| d.as_secs_f64() * 1e6 / traces.max(1) as f64;
        println!(
            "listen rate {:<14} offered {:>6} traces/s  sent {:>6} msgs ({:>6.0} traces/s)  shown {:>6}  lost {:>5}  dup {:>5}  fell behind {:<3}  processed {:>6.0} traces/s  lag {:>5.0} ms  cpu {:>5.1} µs/trace  server cpu {:>5.1} µs/trace",
            setup.label,
            offered,
            self.published,
            traces as f64 / self.publish_time.as_secs_f64(),
            self.shown,
            self.lost,
            self.duplicates,
            if self.stderr.contains("fell behind") {
                "yes"
            } else {
                "no"
            },
            traces as f64 / self.process_time.as_secs_f64(),
            self.process_time
                .saturating_sub(self.publish_time)
                .as_secs_f64()
                * 1000.0,
            per_trace(self.cpu),
            per_trace(self.server_cpu),
        );
    }
}

/// Publishes `rate` trace messages per second for `seconds` and counts what the listener
/// shows; the listener is ended once it showed everything or stayed quiet for 3 s.
fn run_rate(setup: &Setup<'_>, rate: u64, seconds: f64) -> RateResult {
    let messages_per_second = (rate / setup.traces_per_message).max(1);
    let total = ((messages_per_second as f64 * seconds) as u64).max(100);
    let listener = Listener::start(setup.topology, setup.listen_on, &[]);
    let server_pid = setup.topology.server(setup.publish_on).expect("server").pid;
    let server_before = cpu_of(server_pid);
    let before = cpu_of(listener.pid());
    let started = Instant::now();
    let publish_time = publish_at(
        &setup.topology.url(setup.publish_on),
        messages_per_second,
        total,
    );
    let last_line = listener.wait_for_lines(total, Duration::from_secs(3));
    let cpu = cpu_of(listener.pid()).saturating_sub(before);
    let server_cpu = cpu_of(server_pid).saturating_sub(server_before);
    let (seen, stderr) = listener.stop();
    RateResult {
        stderr,
        published: total,
        shown: seen.lines,
        lost: total.saturating_sub(seen.distinct),
        duplicates: seen.lines - seen.distinct,
        publish_time,
        process_time: last_line.map_or(publish_time, |t| t.duration_since(started)),
        cpu,
        server_cpu,
    }
}

/// Messages to `SUBJECT`, each with a fresh sampled traceparent, from 2 connections at
/// `per_second` (1 ms ticks, catching up when late); the time from first publish to flushed.
fn publish_at(url: &str, per_second: u64, total: u64) -> Duration {
    runtime().block_on(async {
        let mut clients = Vec::new();
        for _ in 0..2 {
            clients.push(async_nats::connect(url).await.expect("publisher connects"));
        }
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent = 0u64;
        while sent < total {
            tick.tick().await;
            let due = ((started.elapsed().as_secs_f64() * per_second as f64) as u64 + 1).min(total);
            while sent < due {
                let client = &clients[(sent % 2) as usize];
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("traceparent", traceparent(sent).as_str());
                client
                    .publish_with_headers(SUBJECT, headers, "x".into())
                    .await
                    .expect("publish");
                sent += 1;
            }
        }
        for client in &clients {
            client.flush().await.expect("flush");
        }
        started.elapsed()
    })
}

/// A sampled traceparent whose ids encode `n` (a fresh trace per message).
fn traceparent(n: u64) -> String {
    format!(
        "00-{:032x}-{:016x}-01",
        0x5eed_0000_0000_0000_u128 + u128::from(n),
        n + 1
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// What the listener showed: JSON message lines, their distinct traceparents, `>>>` raw
/// lines.
#[derive(Default)]
struct Seen {
    lines: u64,
    distinct: u64,
    raw: u64,
    last_line: Option<Instant>,
    traceparents: HashSet<String>,
}

impl Seen {
    fn add(&mut self, line: &str) {
        if line.starts_with(">>> ") {
            self.raw += 1;
            return;
        }
        if !line.starts_with("{\"schema\"") {
            return;
        }
        self.lines += 1;
        self.last_line = Some(Instant::now());
        if let Some(tp) = traceparent_of(line)
            && self.traceparents.insert(tp.to_string())
        {
            self.distinct += 1;
        }
    }
}

/// The value of the top-level `"traceparent"` field of a JSON line (it comes right after
/// `schema` and `subject`).
fn traceparent_of(line: &str) -> Option<&str> {
    let start = line.find("\"traceparent\":\"")? + "\"traceparent\":\"".len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// The release `nats-trace listen` child, its stdout counted by a thread.
struct Listener {
    child: Child,
    seen: Arc<Mutex<Seen>>,
    reader: std::thread::JoinHandle<()>,
    stderr: std::thread::JoinHandle<String>,
}

impl Listener {
    /// Starts `nats-trace -s URL listen --dest trace.app --format json EXTRA…` and waits
    /// until its subscription reached `server`.
    fn start(topology: &Topology, server: &str, extra: &[&str]) -> Listener {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nats-trace"))
            .args(["-s", &topology.url(server), "listen", "--dest", "trace.app"])
            .args(["--format", "json", "--settle", "600s"])
            .args(extra)
            .env_remove("NATS_URL")
            .env_remove("NATS_CONTEXT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("listen starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let counting = Arc::clone(&seen);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                counting.lock().expect("lock").add(&line);
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        topology
            .wait_for_interest(server, "APP", "trace.app", 1)
            .expect("the listener subscribes");
        Listener {
            child,
            seen,
            reader,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `wanted` message lines were shown, or none came for `quiet`; the time of
    /// the last line.
    fn wait_for_lines(&self, wanted: u64, quiet: Duration) -> Option<Instant> {
        self.wait_until(|seen| seen.lines >= wanted, quiet);
        self.seen.lock().expect("lock").last_line
    }

    /// Waits until `raw` trace messages were received (`--raw`), or none came for `quiet`.
    fn wait_for_raw(&self, wanted: u64, quiet: Duration) -> u64 {
        self.wait_until(|seen| seen.raw >= wanted, quiet);
        self.seen.lock().expect("lock").raw
    }

    fn wait_until(&self, done: impl Fn(&Seen) -> bool, quiet: Duration) {
        let mut last_progress = (Instant::now(), 0);
        loop {
            let progress = {
                let seen = self.seen.lock().expect("lock");
                if done(&seen) {
                    return;
                }
                seen.lines + seen.raw
            };
            if progress != last_progress.1 {
                last_progress = (Instant::now(), progress);
            } else if last_progress.0.elapsed() > quiet {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Ctrl-C (exit 130 expected), then what it showed and its stderr.
    fn stop(mut self) -> (Seen, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.code();
            }
            assert!(Instant::now() < deadline, "listen did not end on Ctrl-C");
            std::thread::sleep(Duration::from_millis(5));
        };
        self.reader.join().expect("reader");
        let stderr = self.stderr.join().expect("stderr");
        assert_eq!(code, Some(130), "listen ended with {code:?}: {stderr}");
        (
            std::mem::take(&mut *self.seen.lock().expect("lock")),
            stderr,
        )
    }
}

/// utime + stime of process `pid` so far.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let after_name = &stat[stat.rfind(')').expect("stat has a name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); the slice starts at field 3.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`, else 100).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// `VmHWM` of process `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Peak memory with `groups` groups pending: every message goes from the hub to a leafnode
/// whose account has no trace destination, so each group waits for the leaf's trace.
fn pending_memory(groups: u64) {
    let topology = TopologyBuilder::new()
        .server(ServerSpec::new("hub").leaf_listen().extra(ACCOUNTS))
        .server(ServerSpec::new("leaf").leaf_remote("hub", ""))
        .start()
        .expect("servers start");
    let _subs = Clients::subscribe(&[topology.url("leaf")], SUBJECT);
    topology
        .wait_for_interest("hub", "APP", SUBJECT, 1)
        .expect("interest crosses the leafnode");
    let max_pending = groups.to_string();
    let listener = Listener::start(&topology, "hub", &["--raw", "--max-pending", &max_pending]);
    let idle = peak_kib(listener.pid());
    publish_at(&topology.url("hub"), 20_000, groups);
    let received = listener.wait_for_raw(groups, Duration::from_secs(3));
    let peak = peak_kib(listener.pid());
    let (seen, stderr) = listener.stop();
    assert!(stderr.is_empty(), "listen warned: {stderr}");
    assert_eq!(received, groups, "trace messages received");
    assert_eq!(seen.lines, groups, "pending groups shown at Ctrl-C");
    println!(
        "listen pending {groups} groups  VmHWM idle {:.1} MiB  with the groups pending {:.1} MiB  ({:.2} KiB per pending group)",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(idle) as f64 / groups as f64,
    );
}

/// Subscribed clients, kept alive as long as this value.
struct Clients {
    _runtime: tokio::runtime::Runtime,
    _clients: Vec<async_nats::Client>,
}

impl Clients {
    fn subscribe(at: &[String], subject: &str) -> Clients {
        let runtime = runtime();
        let clients = runtime.block_on(async {
            let mut clients = Vec::new();
            for url in at {
                let client = async_nats::connect(url.as_str())
                    .await
                    .expect("subscriber connects");
                let mut sub = client
                    .subscribe(subject.to_string())
                    .await
                    .expect("subscribes");
                client.flush().await.expect("flush");
                // Read everything, so the subscriber never becomes a slow consumer.
                tokio::spawn(async move { while sub.next().await.is_some() {} });
                clients.push(client);
            }
            clients
        });
        Clients {
            _runtime: runtime,
            _clients: clients,
        }
    }
}
