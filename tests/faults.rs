//! Faults and hostile content with real nats-server processes on 127.0.0.1: servers killed
//! or frozen before the trace, the connected server stopping during collection, Ctrl-C
//! during collection, stdout closed early, connection names and queues carrying terminal
//! escapes, and 100 concurrent nats-trace processes against one supercluster.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Subscribers, nats_trace, normalize};
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};

/// The `--timeout` of runs that must end before it (a lost connection, Ctrl-C), and the
/// bound they must end within: far below it, far above how long ending takes. Not a timing
/// goal: that belongs to benchmarks.
const LONG_TIMEOUT: &str = "60s";
const BEFORE_THE_TIMEOUT: Duration = Duration::from_secs(40);

const LEGEND: &str =
    "Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X";

/// Polls `condition` until it holds, failing the test after `limit`.
fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "{what}: not so after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` (e.g. `-STOP`, `-INT`) to the process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// A nats-trace process whose stderr is read line by line as it runs.
struct Running {
    child: Child,
    stderr_lines: mpsc::Receiver<String>,
    stdout: std::thread::JoinHandle<String>,
    stderr_seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
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
        let mut stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, stderr_lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        Running {
            child,
            stderr_lines,
            stdout,
            stderr_seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a stderr line containing `needle`.
    fn wait_for_stderr(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stderr_seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no stderr line with {needle:?} within {limit:?}: {:?}",
                    self.stderr_seen
                ),
            }
        }
    }

    /// Waits (bounded) for the process to end; returns exit code, stdout, all stderr.
    fn finish(mut self, limit: Duration) -> (i32, String, String, Duration) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!("nats-trace did not end within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let waited = started.elapsed();
        let stdout = self.stdout.join().expect("stdout reader");
        self.stderr_seen.extend(self.stderr_lines.iter());
        (
            status.code().unwrap_or(-1),
            stdout,
            self.stderr_seen.join("\n"),
            waited,
        )
    }
}

/// Subscribes a client called `name` on `url` that never reconnects to another server of
/// the cluster when its own server dies (what would move its interest elsewhere).
fn subscribe_pinned(subs: &mut Subscribers, url: &str, name: &str, subject: &str) {
    let options = async_nats::ConnectOptions::new().ignore_discovered_servers();
    subs.subscribe_with(options, url, name, subject, None);
}

// ---------------------------------------------------------------------------------------
// Servers failing before the trace
// ---------------------------------------------------------------------------------------

#[test]
fn a_killed_leafnode_server_is_not_reached_and_the_trace_is_complete() {
    let topology = TopologyBuilder::new()
        .server(ServerSpec::new("hub").leaf_listen())
        .server(ServerSpec::new("leaf").leaf_remote("hub", ""))
        .start()
        .expect("servers start");
    let mut topology = topology;
    let mut subs = Subscribers::new();
    subs.subscribe(&topology.url("hub"), "local", "orders.new", None);
    subscribe_pinned(
        &mut subs,
        &topology.url("leaf"),
        "edge-worker",
        "orders.new",
    );
    topology
        .wait_for_interest("hub", "$G", "orders.new", 2)
        .expect("interest");

    topology.kill("leaf");
    // The hub drops the leafnode connection, and with it the leaf's interest.
    wait_until(Duration::from_secs(10), "hub forgets the leaf", || {
        topology.interest("hub", "$G", "orders.new") == Ok(1)
    });

    let run = nats_trace(&["-s", &topology.url("hub"), "--timeout", "3s", "orders.new"]);
    // What the server really does: it no longer forwards to the dead leafnode, so nothing
    // is expected from it and the trace is complete.
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        normalize(&run.stdout),
        format!(
            "Tracing message route to subject orders.new

Client \"nats-trace\" cid:N server:\"hub\" version:\"V\"
--C Client \"local\" cid:N subject:\"orders.new\"

{LEGEND}

Egress Count:

  Client: 1
"
        ),
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn a_killed_route_server_is_not_reached_and_the_trace_is_complete() {
    let mut topology = Topology::cluster().expect("topology");
    let mut subs = Subscribers::new();
    subs.subscribe(&topology.url("n2"), "worker-2", "orders.new", None);
    subscribe_pinned(&mut subs, &topology.url("n3"), "worker-3", "orders.new");
    topology
        .wait_for_interest("n1", "$G", "orders.new", 2)
        .expect("interest reaches n1");

    topology.kill("n3");
    wait_until(Duration::from_secs(10), "n1 forgets n3", || {
        topology.interest("n1", "$G", "orders.new") == Ok(1)
    });

    let run = nats_trace(&["-s", &topology.url("n1"), "--timeout", "3s", "orders.new"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        normalize(&run.stdout),
        format!(
            "Tracing message route to subject orders.new

Client \"nats-trace\" cid:N cluster:\"C1\" server:\"n1\" version:\"V\"
--> Router \"n2\" rid:N
    Router \"n1\" rid:N server:\"n2\" version:\"V\"
    --C Client \"worker-2\" cid:N subject:\"orders.new\"

{LEGEND}

Egress Count:

  Client: 1
  Router: 1
"
        ),
        "stderr: {}",
        run.stderr
    );
}

#[test]
fn a_frozen_leafnode_server_is_shown_missing_and_the_trace_is_incomplete() {
    let (topology, _subs) = common::hub_with_leaf("");
    let leaf_pid = topology.server("leaf").expect("leaf").pid;

    // A frozen (SIGSTOP) server keeps its connections: the hub still forwards to it, and
    // its trace never comes.
    signal(leaf_pid, "-STOP");
    let run = nats_trace(&["-s", &topology.url("hub"), "--timeout", "1s", "orders.new"]);
    signal(leaf_pid, "-CONT");
    // Exit 3 with the leaf missing: --timeout 1s ended the wait (a hang is caught by
    // `common::RUN_LIMIT`; how long it takes is for benchmarks).
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        normalize(&run.stdout),
        format!(
            "Tracing message route to subject orders.new

Client \"nats-trace\" cid:N server:\"hub\" version:\"V\"
~~> Leafnode \"leaf\" lid:N
    !!! Missing trace: server \"leaf\" at hop 1 did not report

{LEGEND}

Egress Count:

  Leafnode: 1

INCOMPLETE: 1 server trace(s) did not arrive: hop 1 \"leaf\"
"
        ),
        "stderr: {}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------
// During collection: the connected server stops, Ctrl-C
// ---------------------------------------------------------------------------------------

/// The partial tree both tests below expect: the hub's trace, the leaf missing.
fn partial_tree() -> String {
    format!(
        "Tracing message route to subject orders.new

Client \"nats-trace\" cid:N server:\"hub\" version:\"V\"
~~> Leafnode \"leaf\" lid:N
    !!! Missing trace: server \"leaf\" at hop 1 did not report

{LEGEND}

Egress Count:

  Leafnode: 1

INCOMPLETE: 1 server trace(s) did not arrive: hop 1 \"leaf\"
"
    )
}

#[test]
fn the_connected_server_stopping_during_collection_gives_the_partial_tree() {
    let (mut topology, _subs) = common::hub_with_silent_leaf();
    let mut running = Running::start(&[
        "-v",
        "-s",
        &topology.url("hub"),
        "--timeout",
        LONG_TIMEOUT,
        "orders.new",
    ]);
    // The hub's own trace has arrived; the leaf's never will.
    running.wait_for_stderr("trace from server \"hub\"", Duration::from_secs(20));
    let killed_at = Instant::now();
    topology.kill("hub");
    let (code, stdout, stderr, _) = running.finish(Duration::from_secs(90));
    let after_kill = killed_at.elapsed();
    assert_eq!(code, 3, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        after_kill < BEFORE_THE_TIMEOUT,
        "ended {after_kill:?} after the server stopped, not before the {LONG_TIMEOUT} timeout"
    );
    assert_eq!(normalize(&stdout), partial_tree(), "stderr: {stderr}");
    assert!(
        stderr.contains(
            "nats-trace: warning: the connection to the server was lost while collecting traces; showing what arrived before"
        ),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_during_collection_prints_what_arrived_and_exits_130() {
    let (topology, _subs) = common::hub_with_silent_leaf();
    let mut running = Running::start(&[
        "-v",
        "-s",
        &topology.url("hub"),
        "--timeout",
        LONG_TIMEOUT,
        "orders.new",
    ]);
    running.wait_for_stderr("trace from server \"hub\"", Duration::from_secs(20));
    let interrupted_at = Instant::now();
    signal(running.child.id(), "-INT");
    let (code, stdout, stderr, _) = running.finish(Duration::from_secs(90));
    assert_eq!(code, 130, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        interrupted_at.elapsed() < BEFORE_THE_TIMEOUT,
        "ended {:?} after Ctrl-C, not before the {LONG_TIMEOUT} timeout",
        interrupted_at.elapsed()
    );
    assert_eq!(normalize(&stdout), partial_tree(), "stderr: {stderr}");
    assert!(
        stderr.contains(
            "nats-trace: warning: interrupted: showing the 1 trace message(s) received so far"
        ),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// A closed stdout
// ---------------------------------------------------------------------------------------

#[test]
fn stdout_closed_early_ends_quietly() {
    let topology = Topology::single().expect("topology");
    let url = topology.url("n1");
    // 2,000 subscriptions: about 100 KB of tree, more than a pipe holds.
    let subs = Subscribers::new();
    let client = subs.runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .name("many")
            .connect(url.as_str())
            .await
            .expect("connects");
        let mut held = Vec::new();
        for _ in 0..2_000 {
            held.push(client.subscribe("orders.new").await.expect("subscribes"));
        }
        client.flush().await.expect("flush");
        (client, held)
    });

    for read_first_line in [true, false] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nats-trace"))
            .args(["-s", &url, "--timeout", "5s", "orders.new"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let stdout = child.stdout.take().expect("stdout");
        if read_first_line {
            // Like `| head -1`: read one line, then close the pipe.
            let mut line = String::new();
            BufReader::new(stdout)
                .read_line(&mut line)
                .expect("first line");
            assert_eq!(line, "Tracing message route to subject orders.new\n");
        } else {
            drop(stdout);
        }
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("stderr");
        let status = child.wait().expect("ends");
        assert_eq!(status.code(), Some(0), "stderr: {stderr}");
        assert!(stderr.is_empty(), "quiet: {stderr}");
    }
    drop(client);
}

// ---------------------------------------------------------------------------------------
// Hostile names
// ---------------------------------------------------------------------------------------

#[test]
fn escape_sequences_in_names_never_reach_the_terminal() {
    let topology = Topology::cluster().expect("topology");
    let mut subs = Subscribers::new();
    let evil = "evil\u{1b}[31mred\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}1A\u{202e}";
    subs.subscribe(&topology.url("n1"), evil, "orders.new", None);
    subs.subscribe(
        &topology.url("n2"),
        evil,
        "orders.new",
        Some("q\u{1b}[1mbold"),
    );
    topology
        .wait_for_interest("n1", "$G", "orders.new", 2)
        .expect("interest");
    let url = topology.url("n1");
    for extra in [&[][..], &["--raw"][..], &["-T"][..]] {
        let mut args = vec![
            "-v",
            "-s",
            &url,
            "--connection-name",
            "tracer\u{1b}[5mblink",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--timeout", "5s", "orders.new"]);
        let run = nats_trace(&args);
        assert_eq!(run.code, 0, "{run:?}");
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{9b}') && !text.contains('\u{7}'),
                "{extra:?}: raw escape in {stream}: {text:?}"
            );
            assert!(
                nats_trace::text::is_terminal_safe(text),
                "{extra:?}: {stream} not terminal safe: {text:?}"
            );
        }
        // The names are shown, neutralised.
        if extra.is_empty() {
            assert!(
                run.stdout.contains(
                    "--C Client \"evil\\x1b[31mred\\x1b[2J\\x1b]0;pwned\\a\\u009b1A\\u202e\""
                ),
                "{}",
                run.stdout
            );
            assert!(
                run.stdout.contains("Client \"tracer\\x1b[5mblink\""),
                "{}",
                run.stdout
            );
            assert!(
                run.stdout.contains("queue:\"q\\x1b[1mbold\""),
                "{}",
                run.stdout
            );
        }
    }
    // An error naming hostile text: the server's own error, neutralised on stderr.
    let run = nats_trace(&["-s", &url, "orders.\u{1b}[31m"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

// ---------------------------------------------------------------------------------------
// Many concurrent runs
// ---------------------------------------------------------------------------------------

#[test]
fn a_hundred_concurrent_traces_each_get_their_own_tree() {
    let topology = Topology::supercluster().expect("topology");
    let mut subs = Subscribers::new();
    subs.subscribe(&topology.url("e2"), "billing", "orders.new", None);
    subs.subscribe(&topology.url("w1"), "shipping", "orders.new", None);
    subs.subscribe(&topology.url("leaf2"), "edge-cache", "orders.new", None);
    for (server, count) in [("e1", 1), ("w2", 1), ("w1", 2), ("leaf1", 1)] {
        topology
            .wait_for_interest(server, "$G", "orders.new", count)
            .expect("interest propagates");
    }
    let outputs = concurrent_traces(&topology.url("e1"));
    assert_eq!(outputs.len(), TOTAL);
    for (n, run) in outputs {
        assert_eq!(run.code, 0, "run {n}: {run:?}");
        assert_its_own_tree(n, &normalize(&run.stdout));
    }
}

/// How many concurrent traces, and how many at a time (two cores: 50 processes at a time,
/// in 2 waves).
const TOTAL: usize = 100;
const WAVE: usize = 50;

/// Runs [`TOTAL`] traces from `url`, [`WAVE`] processes at a time, each with its own
/// connection name `tracer-<n>`.
fn concurrent_traces(url: &str) -> Vec<(usize, common::Run)> {
    let started = Instant::now();
    let mut outputs = Vec::with_capacity(TOTAL);
    for wave in 0..TOTAL / WAVE {
        let handles: Vec<_> = (0..WAVE)
            .map(|i| {
                let n = wave * WAVE + i;
                let url = url.to_string();
                std::thread::spawn(move || {
                    let name = format!("tracer-{n}");
                    let run = nats_trace(&[
                        "-s",
                        &url,
                        "--connection-name",
                        &name,
                        "--timeout",
                        "20s",
                        "orders.new",
                    ]);
                    (n, run)
                })
            })
            .collect();
        for handle in handles {
            outputs.push(handle.join().expect("run thread"));
        }
    }
    let elapsed = started.elapsed();
    eprintln!("{TOTAL} concurrent traces ({WAVE} at a time) in {elapsed:?}");
    outputs
}

/// The tree of run `n`: its own origin exactly once, and every server and subscriber of the
/// path exactly once, complete.
fn assert_its_own_tree(n: usize, tree: &str) {
    // Its own origin, exactly once, and every server of the path exactly once.
    assert_eq!(
        tree.matches(&format!(
            "Client \"tracer-{n}\" cid:N cluster:\"EAST\" server:\"e1\""
        ))
        .count(),
        1,
        "run {n}: {tree}"
    );
    assert_eq!(
        tree.matches("Client \"tracer-").count(),
        1,
        "run {n}: {tree}"
    );
    for server in ["e2", "leaf1", "leaf2"] {
        assert_eq!(
            tree.matches(&format!("server:\"{server}\"")).count(),
            1,
            "run {n}: {tree}"
        );
    }
    for client in ["billing", "shipping", "edge-cache"] {
        assert_eq!(
            tree.matches(&format!("--C Client \"{client}\"")).count(),
            1,
            "run {n}: {tree}"
        );
    }
    assert!(
        !tree.contains("Missing") && !tree.contains("Detached") && !tree.contains("WARNING"),
        "run {n}: {tree}"
    );
    assert!(
        tree.ends_with(
            "Egress Count:\n\n    Client: 3\n  Leafnode: 2\n    Router: 2\n   Gateway: 1\n"
        ),
        "run {n}: {tree}"
    );
}
