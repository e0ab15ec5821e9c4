//! Shared helpers of the end-to-end tests: running the real `nats-trace` binary with a bound
//! on its run time, attaching subscribers to real servers, and normalising connection ids.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

pub(crate) mod otlp_receiver;

/// The longest any nats-trace run may take in a test before it is killed and the test fails.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The result of one nats-trace run.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs the nats-trace binary with `args`, colors off, bounded by [`RUN_LIMIT`].
pub(crate) fn nats_trace(args: &[&str]) -> Run {
    nats_trace_with_env(args, &[])
}

/// As [`nats_trace`], with extra environment variables.
pub(crate) fn nats_trace_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_nats-trace"));
    command
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("NATS_CONTEXT")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("nats-trace starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("nats-trace {args:?} ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
        elapsed: started.elapsed(),
    }
}

/// Replaces the numbers of `cid:`, `rid:`, `gid:`, `lid:` and `id:` with `N`, since the
/// servers assign them.
pub(crate) fn normalize_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = ["cid:", "rid:", "gid:", "lid:", " id:"]
        .iter()
        .filter_map(|label| rest.find(label).map(|p| (p, label.len())))
        .min()
        .map(|(p, len)| p + len)
    {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push('N');
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// Replaces the value of every `version:"…"` with `V`: the servers' version is not under test.
fn normalize_versions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("version:\"") {
        let start = pos + "version:\"".len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push('V');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// [`normalize_ids`] and [`normalize_versions`]: what the tree tests compare.
pub(crate) fn normalize(text: &str) -> String {
    normalize_versions(&normalize_ids(text))
}

/// A tokio runtime for the async parts of a test (subscribers).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Subscribers on real servers, kept alive as long as this value.
pub(crate) struct Subscribers {
    pub runtime: tokio::runtime::Runtime,
    pub clients: Vec<async_nats::Client>,
    pub subscriptions: Vec<async_nats::Subscriber>,
}

impl Subscribers {
    pub(crate) fn new() -> Subscribers {
        Subscribers {
            runtime: runtime(),
            clients: Vec::new(),
            subscriptions: Vec::new(),
        }
    }

    /// Connects a client called `name` to `url` and subscribes it to `subject` (in `queue`).
    /// Returns the index of the subscription.
    pub(crate) fn subscribe(
        &mut self,
        url: &str,
        name: &str,
        subject: &str,
        queue: Option<&str>,
    ) -> usize {
        self.subscribe_with(async_nats::ConnectOptions::new(), url, name, subject, queue)
    }

    /// As [`Subscribers::subscribe`], connecting with `options` (credentials, pinning, …).
    pub(crate) fn subscribe_with(
        &mut self,
        options: async_nats::ConnectOptions,
        url: &str,
        name: &str,
        subject: &str,
        queue: Option<&str>,
    ) -> usize {
        let (client, subscription) = self.runtime.block_on(async {
            let client = options
                .name(name)
                .connect(url)
                .await
                .expect("subscriber connects");
            let subscription = match queue {
                Some(q) => {
                    client
                        .queue_subscribe(subject.to_string(), q.to_string())
                        .await
                }
                None => client.subscribe(subject.to_string()).await,
            }
            .expect("subscribes");
            client.flush().await.expect("flush");
            (client, subscription)
        });
        self.clients.push(client);
        self.subscriptions.push(subscription);
        self.subscriptions.len() - 1
    }

    /// The payloads subscription `index` receives until a message with payload `sentinel`
    /// (which the test publishes after the trace), bounded by `limit`.
    pub(crate) fn received_until(
        &mut self,
        index: usize,
        sentinel: &str,
        limit: Duration,
    ) -> Vec<String> {
        let subscription = &mut self.subscriptions[index];
        self.runtime.block_on(async {
            let mut payloads = Vec::new();
            let deadline = tokio::time::Instant::now() + limit;
            while let Ok(Some(message)) =
                tokio::time::timeout_at(deadline, subscription.next()).await
            {
                let text = String::from_utf8_lossy(&message.payload).to_string();
                if text == sentinel {
                    return payloads;
                }
                payloads.push(text);
            }
            panic!("the sentinel {sentinel:?} never arrived (got {payloads:?})");
        })
    }

    /// Publishes `payload` to `subject` on the server at `url` from a fresh client.
    pub(crate) fn publish(&self, url: &str, subject: &str, payload: &str) {
        self.runtime.block_on(async {
            let client = async_nats::connect(url).await.expect("publisher connects");
            client
                .publish(subject.to_string(), payload.to_string().into())
                .await
                .expect("publish");
            client.flush().await.expect("flush");
        });
    }

    /// As [`Subscribers::publish`], as `user` (whose password is its name).
    pub(crate) fn publish_as(&self, user: &str, url: &str, subject: &str, payload: &str) {
        self.runtime.block_on(async {
            let client =
                async_nats::ConnectOptions::with_user_and_password(user.into(), user.into())
                    .connect(url)
                    .await
                    .expect("publisher connects");
            client
                .publish(subject.to_string(), payload.to_string().into())
                .await
                .expect("publish");
            client.flush().await.expect("flush");
        });
    }
}

/// The demo topology (supercluster with a leafnode chain) with the demo's subscribers, their
/// interest propagated along the path from `e1`.
pub(crate) fn demo_supercluster() -> (nats_trace::topology::Topology, Subscribers) {
    use nats_trace::topology::demo::{DEMO_INTEREST, DEMO_SUBJECT, DEMO_SUBSCRIBERS};
    let topology = nats_trace::topology::Topology::supercluster().expect("supercluster starts");
    let mut subscribers = Subscribers::new();
    for (server, name, queue) in DEMO_SUBSCRIBERS {
        subscribers.subscribe(&topology.url(server), name, DEMO_SUBJECT, queue);
    }
    for (server, count) in DEMO_INTEREST {
        topology
            .wait_for_interest(server, "$G", DEMO_SUBJECT, count)
            .expect("interest propagates");
    }
    (topology, subscribers)
}

/// A hub with a leafnode whose remote has `remote_config` (e.g. a `deny_exports`), and a
/// subscriber on the leaf for `orders.new` whose interest has reached the hub.
pub(crate) fn hub_with_leaf(remote_config: &str) -> (nats_trace::topology::Topology, Subscribers) {
    use nats_trace::topology::{ServerSpec, TopologyBuilder};
    let topology = TopologyBuilder::new()
        .server(ServerSpec::new("hub").leaf_listen())
        .server(ServerSpec::new("leaf").leaf_remote("hub", remote_config))
        .start()
        .expect("servers start");
    let mut subs = Subscribers::new();
    subs.subscribe(&topology.url("leaf"), "edge-worker", "orders.new", None);
    topology
        .wait_for_interest("hub", "$G", "orders.new", 1)
        .expect("interest");
    (topology, subs)
}

/// A hub with a leafnode whose trace messages can never come back (its remote denies
/// exporting `_INBOX.>`): a trace from the hub waits for the leaf until its timeout.
pub(crate) fn hub_with_silent_leaf() -> (nats_trace::topology::Topology, Subscribers) {
    hub_with_leaf(r#"deny_exports: ["_INBOX.>"]"#)
}

impl Subscribers {
    /// Creates a JetStream stream on the server at `url` by a request to
    /// `$JS.API.STREAM.CREATE.<name>`, `config` being the stream's configuration.
    pub(crate) fn create_stream(&self, url: &str, config: serde_json::Value) {
        let name = config["name"].as_str().expect("stream name").to_string();
        self.runtime.block_on(async {
            let client = async_nats::connect(url)
                .await
                .expect("stream client connects");
            let reply = tokio::time::timeout(
                Duration::from_secs(10),
                client.request(
                    format!("$JS.API.STREAM.CREATE.{name}"),
                    config.to_string().into(),
                ),
            )
            .await
            .expect("stream create answered in time")
            .expect("stream create request");
            let answer: serde_json::Value =
                serde_json::from_slice(&reply.payload).expect("stream create answer is JSON");
            assert!(
                answer.get("error").is_none(),
                "creating stream {name}: {answer}"
            );
        });
    }
}

/// The demo's own topology (its clients in account `APP`, whose `msg_trace` destination is
/// `trace.demo`) with the demo's subscribers, their interest propagated along the path.
pub(crate) fn demo_app_supercluster() -> (nats_trace::topology::Topology, Subscribers) {
    use nats_trace::topology::demo::{
        DEMO_ACCOUNT, DEMO_INTEREST, DEMO_SUBJECT, DEMO_SUBSCRIBERS, topology_builder,
    };
    let topology = topology_builder().start().expect("demo topology starts");
    let mut subscribers = Subscribers::new();
    for (server, name, queue) in DEMO_SUBSCRIBERS {
        subscribers.subscribe(&topology.url(server), name, DEMO_SUBJECT, queue);
    }
    for (server, count) in DEMO_INTEREST {
        topology
            .wait_for_interest(server, DEMO_ACCOUNT, DEMO_SUBJECT, count)
            .expect("interest propagates");
    }
    (topology, subscribers)
}

/// The decompressed trace messages of a `--raw` run, parsed.
pub(crate) fn raw_traces(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(">>> "))
        .map(|json| serde_json::from_str(json).expect("raw line is JSON"))
        .collect()
}

/// A `nats-trace demo --keep …` running in the background: what it printed until it was
/// ready, and the way to stop it (SIGTERM, as documented).
pub(crate) struct KeptDemo {
    /// `None` once it was stopped.
    child: Option<std::process::Child>,
    /// The lines it printed up to `Press Ctrl-C`.
    pub lines: Vec<String>,
}

impl KeptDemo {
    /// Starts `nats-trace demo --keep` with `extra` arguments and waits (bounded) until it
    /// says it is ready.
    pub(crate) fn start(extra: &[&str]) -> KeptDemo {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_nats-trace"))
            .args(["demo", "--keep", "--color", "never"])
            .args(extra)
            .env_remove("NATS_URL")
            .env_remove("NATS_CONTEXT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let ready = line.starts_with("Press Ctrl-C");
                if tx.send(line).is_err() || ready {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut lines = Vec::new();
        loop {
            let Ok(line) = rx.recv_timeout(RUN_LIMIT.saturating_sub(started.elapsed())) else {
                stop_demo(child);
                panic!("the demo did not get ready: {lines:?}");
            };
            let ready = line.starts_with("Press Ctrl-C");
            lines.push(line);
            if ready {
                return KeptDemo {
                    child: Some(child),
                    lines,
                };
            }
        }
    }

    /// The URL the demo exported for `server` (`export NATS_DEMO_E1=…`).
    pub(crate) fn url(&self, server: &str) -> String {
        let prefix = format!("export NATS_DEMO_{}=", server.to_ascii_uppercase());
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .expect("the demo exports the server's URL")
            .to_string()
    }

    /// Sends SIGTERM and waits (bounded) for the demo to end; its exit status.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let child = self.child.take().expect("running");
        stop_demo(child)
    }
}

impl Drop for KeptDemo {
    /// A test that failed before stopping the demo still stops it (and so its servers).
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stop_demo(child)));
        }
    }
}

/// SIGTERM to a kept demo, then a bounded wait for it to end.
fn stop_demo(mut child: std::process::Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the demo did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `nats-trace` child process whose stdout lines arrive on `lines` as they are written and
/// whose stderr is read to its end by `stderr`.
pub(crate) struct Streaming {
    pub(crate) child: std::process::Child,
    pub(crate) lines: std::sync::mpsc::Receiver<String>,
    pub(crate) stderr: std::thread::JoinHandle<String>,
}

/// Starts `nats-trace ARGS…` (no NATS_URL or NATS_CONTEXT from the environment, no colors)
/// with its output streamed as [`Streaming`] says.
pub(crate) fn spawn_streaming(args: &[&str]) -> Streaming {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_nats-trace"))
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("NATS_CONTEXT")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-trace starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    Streaming {
        child,
        lines,
        stderr,
    }
}

impl Streaming {
    /// Sends `signal` (e.g. `-INT`, `-KILL`) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to end (bounded by [`RUN_LIMIT`]); its exit code, `seen` and
    /// every stdout line after them, and its stderr.
    pub(crate) fn finish(mut self, mut seen: Vec<String>) -> (i32, Vec<String>, String) {
        let deadline = Instant::now() + RUN_LIMIT;
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("nats-trace ran longer than {RUN_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            seen.push(line);
        }
        (code, seen, self.stderr.join().expect("stderr"))
    }
}
