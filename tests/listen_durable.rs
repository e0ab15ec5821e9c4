//! `nats-trace listen --stream … --durable …` (durable mode) against a real nats-server with
//! JetStream whose account has a `msg_trace` destination: the listener runs as a child
//! process, is killed (SIGKILL) and restarted on the same durable consumer, and every traced
//! message is emitted exactly once across the runs — those acknowledged before the kill are
//! not repeated, those pending at the kill are delivered again and shown by the next run,
//! those published while no listener ran are not lost. The consumer's state (delivered,
//! acknowledged) is read from the server to know when to kill, never guessed by sleeping.
//! The errors: no JetStream, an unknown stream, a stream with other subjects.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};
use serde_json::Value;

const STREAM: &str = "TRACES";
const DURABLE: &str = "listener";

/// Account APP with JetStream and its trace destination `trace.app`, every message sampled.
fn accounts(jetstream: bool) -> String {
    let js = if jetstream { "jetstream: enabled" } else { "" };
    format!(
        r#"accounts {{
  APP {{
    {js}
    users: [{{user: app, password: app}}]
    msg_trace: {{ dest: "trace.app", sampling: "100%" }}
  }}
}}
no_auth_user: app"#
    )
}

/// A JetStream hub whose leafnode's account has no trace destination: a message to
/// `orders.new` (the leaf subscribes) waits for the leaf's trace, which never comes, so its
/// group stays pending until `--settle`; a message to `local.x` (no interest) is complete at
/// once.
fn hub_with_untraced_leaf() -> Topology {
    let topology = TopologyBuilder::new()
        .server(
            ServerSpec::new("hub")
                .jetstream()
                .leaf_listen()
                .extra(&accounts(true)),
        )
        .server(ServerSpec::new("leaf").leaf_remote("hub", ""))
        .start()
        .expect("servers start");
    let mut subs = common::Subscribers::new();
    subs.subscribe(&topology.url("leaf"), "edge", "orders.new", None);
    topology
        .wait_for_interest("hub", "APP", "orders.new", 1)
        .expect("interest crosses the leafnode");
    std::mem::forget(subs);
    topology
}

/// A traceparent whose ids encode `n`.
fn traceparent(n: u64) -> String {
    format!(
        "00-{:032x}-{:016x}-01",
        0xd0_0000_0000_0000_u128 + u128::from(n),
        0x2000 + n
    )
}

/// Publishes one sampled message per `n` to `subject`, each with its own traceparent and
/// payload.
fn publish(url: &str, subject: &str, ns: impl Iterator<Item = u64>) {
    let ns: Vec<u64> = ns.collect();
    common::runtime().block_on(async {
        let client = async_nats::connect(url).await.expect("publisher connects");
        for n in ns {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("traceparent", traceparent(n).as_str());
            client
                .publish_with_headers(subject.to_string(), headers, format!("m{n}").into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
}

/// The durable consumer's state: (delivered stream sequence, unacknowledged, not yet
/// delivered), or None while it does not exist.
fn consumer_state(url: &str) -> Option<(u64, usize, u64)> {
    common::runtime().block_on(async {
        let client = async_nats::connect(url).await.ok()?;
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream(STREAM).await.ok()?;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(DURABLE).await.ok()?;
        let _ = stream.info().await.ok()?;
        let info = consumer.info().await.ok()?;
        Some((
            info.delivered.stream_sequence,
            info.num_ack_pending,
            info.num_pending,
        ))
    })
}

/// Polls the consumer (bounded) until `wanted` holds for its state.
fn wait_for_consumer(url: &str, wanted: impl Fn((u64, usize, u64)) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while Instant::now() < deadline {
        last = consumer_state(url);
        if last.is_some_and(&wanted) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("consumer never reached: {what}; last state {last:?}");
}

/// A `listen` child process whose stdout lines are collected as they come.
struct Listener {
    run: common::Streaming,
    seen: Vec<String>,
}

impl Listener {
    fn start(url: &str, args: &[&str]) -> Listener {
        let mut command = vec!["-s", url, "listen", "trace.app", "--json"];
        command.extend_from_slice(&["--stream", STREAM, "--durable", DURABLE, "--create-stream"]);
        command.extend_from_slice(args);
        let run = common::spawn_streaming(&command);
        Listener {
            run,
            seen: Vec::new(),
        }
    }

    /// Reads lines until `count` message documents were printed (bounded).
    fn wait_for_documents(&mut self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let is_document = |l: &str| l.starts_with('{') && !l.starts_with("{\"summary\"");
        let mut have = self.seen.iter().filter(|l| is_document(l)).count();
        while have < count {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("fewer than {count} messages: {:#?}", self.seen));
            if let Ok(line) = self.run.lines.recv_timeout(left) {
                have += usize::from(is_document(&line));
                self.seen.push(line);
            }
        }
    }

    fn signal(&self, signal: &str) {
        self.run.signal(signal);
    }

    /// Waits for the process to end (bounded); its exit code, every stdout line, stderr.
    fn finish(self) -> (i32, Vec<String>, String) {
        self.run.finish(self.seen)
    }
}

/// A process killed while writing may leave its last line cut short: that line was never
/// printed whole (and its messages not acknowledged), so it is not counted.
fn drop_cut_line(lines: &mut Vec<String>) {
    if lines
        .last()
        .is_some_and(|l| serde_json::from_str::<Value>(l).is_err())
    {
        lines.pop();
    }
}

/// The message documents among `lines` (not the summary).
fn documents(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l.starts_with('{') && !l.starts_with("{\"summary\""))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// How often each traceparent was emitted, and each one's document.
fn by_traceparent(lines: &[String]) -> BTreeMap<String, Vec<Value>> {
    let mut seen: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for doc in documents(lines) {
        let tp = doc["traceparent"]
            .as_str()
            .expect("a traceparent")
            .to_string();
        seen.entry(tp).or_default().push(doc);
    }
    seen
}

#[test]
fn a_killed_and_restarted_listener_loses_and_repeats_nothing() {
    let topology = hub_with_untraced_leaf();
    let url = topology.url("hub");
    // Run 1: its pending groups would wait an hour to settle, so they are pending at the kill.
    let mut first = Listener::start(&url, &["--settle", "1h", "--ack-wait", "2h"]);
    wait_for_consumer(&url, |_| true, "created");
    publish(&url, "local.x", 0..50);
    publish(&url, "orders.new", 100..110);
    first.wait_for_documents(50);
    // Every trace message delivered; the 50 complete ones acknowledged, the 10 pending not.
    wait_for_consumer(
        &url,
        |(delivered, unacked, waiting)| delivered == 60 && unacked == 10 && waiting == 0,
        "60 delivered, 10 unacknowledged",
    );
    first.signal("-KILL");
    let (_, first_lines, first_stderr) = first.finish();
    // While no listener runs, traced messages are stored, not lost.
    publish(&url, "local.x", 200..250);
    // Run 2: a short ack wait (the consumer is updated), so run 1's unacknowledged trace
    // messages come again soon, and a short settle so their groups are shown.
    let mut second = Listener::start(&url, &["--settle", "300ms", "--ack-wait", "1s"]);
    second.wait_for_documents(60);
    publish(&url, "local.x", 300..350);
    second.wait_for_documents(110);
    wait_for_consumer(
        &url,
        |(delivered, unacked, waiting)| delivered == 160 && unacked == 0 && waiting == 0,
        "everything acknowledged",
    );
    second.signal("-INT");
    let (code, second_lines, stderr) = second.finish();
    assert_eq!(code, 130, "{stderr}");

    let first_seen = by_traceparent(&first_lines);
    let second_seen = by_traceparent(&second_lines);
    let expected_first: Vec<String> = (0..50).map(traceparent).collect();
    assert_eq!(
        first_seen.keys().cloned().collect::<Vec<_>>(),
        expected_first,
        "{first_stderr}"
    );
    let mut expected_second: Vec<String> = (100..110)
        .chain(200..250)
        .chain(300..350)
        .map(traceparent)
        .collect();
    expected_second.sort();
    assert_eq!(
        second_seen.keys().cloned().collect::<Vec<_>>(),
        expected_second,
        "run 2 shows the pending, the stored and the new messages, none of run 1's"
    );
    for (tp, docs) in first_seen.iter().chain(&second_seen) {
        assert_eq!(docs.len(), 1, "{tp} shown {} times", docs.len());
        let doc = &docs[0];
        let pending = (100..110).any(|n| traceparent(n) == *tp);
        assert_eq!(doc["complete"], !pending, "{doc}");
        assert_eq!(
            doc["subject"],
            if pending { "orders.new" } else { "local.x" }
        );
    }
    let summary = second_lines.last().expect("a summary");
    assert!(summary.contains("\"messages\":110"), "{summary}");
}

#[test]
fn ctrl_c_hands_pending_messages_back_to_the_next_listener() {
    let topology = hub_with_untraced_leaf();
    let url = topology.url("hub");
    let first = Listener::start(&url, &["--settle", "1h", "--ack-wait", "2h"]);
    wait_for_consumer(&url, |_| true, "created");
    publish(&url, "orders.new", 0..5);
    wait_for_consumer(
        &url,
        |(delivered, unacked, _)| delivered == 5 && unacked == 5,
        "5 delivered and pending",
    );
    first.signal("-INT");
    let (code, lines, stderr) = first.finish();
    assert_eq!(code, 130, "{stderr}");
    assert!(documents(&lines).is_empty(), "nothing printed: {lines:#?}");
    // The next listener gets them at once: with an ack wait of an hour, only the `-NAK`s
    // run 1 sent make the server deliver them again now. Each is shown once.
    let mut second = Listener::start(&url, &["--settle", "200ms", "--ack-wait", "1h"]);
    second.wait_for_documents(5);
    second.signal("-INT");
    let (code, lines, stderr) = second.finish();
    assert_eq!(code, 130, "{stderr}");
    let seen = by_traceparent(&lines);
    let expected: Vec<String> = (0..5).map(traceparent).collect();
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(seen.values().all(|docs| docs.len() == 1));
}

#[test]
fn without_jetstream_one_line_and_exit_2() {
    let plain = TopologyBuilder::new()
        .server(ServerSpec::new("n1").extra(&accounts(false)))
        .start()
        .expect("server starts");
    let run = common::nats_trace(&[
        "-s",
        &plain.url("n1"),
        "listen",
        "trace.app",
        "--stream",
        STREAM,
        "--durable",
        DURABLE,
        "--create-stream",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--stream needs JetStream"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}

#[test]
fn stream_errors_and_usage_errors_exit_2() {
    let js = TopologyBuilder::new()
        .server(ServerSpec::new("n1").jetstream().extra(&accounts(true)))
        .start()
        .expect("server starts");
    let url = js.url("n1");
    let listen = |extra: &[&str]| {
        let mut args = vec!["-s", &url, "listen", "trace.app", "--durable", DURABLE];
        args.extend_from_slice(extra);
        common::nats_trace(&args)
    };
    let run = listen(&["--stream", "NOPE"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("stream NOPE does not exist") && run.stderr.contains("--create-stream"),
        "{run:?}"
    );
    // A stream on other subjects: not bound, and not taken for the one --create-stream makes.
    common::runtime().block_on(async {
        let client = async_nats::connect(&url).await.expect("connects");
        async_nats::jetstream::new(client)
            .create_stream(async_nats::jetstream::stream::Config {
                name: "OTHER".into(),
                subjects: vec!["other.>".into()],
                ..Default::default()
            })
            .await
            .expect("stream created");
    });
    let run = listen(&["--stream", "OTHER"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("does not capture trace.app"), "{run:?}");
    let run = listen(&["--stream", "OTHER", "--create-stream"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("exists with subjects [other.>]"),
        "{run:?}"
    );
    // Usage: --stream without --durable, an ack wait not longer than --settle, a bad name.
    for args in [
        vec!["-s", &url, "listen", "trace.app", "--stream", STREAM],
        vec![
            "-s",
            &url,
            "listen",
            "trace.app",
            "--stream",
            "A.B",
            "--durable",
            "d",
        ],
        vec![
            "-s",
            &url,
            "listen",
            "trace.app",
            "--stream",
            STREAM,
            "--durable",
            "d",
            "--create-stream",
            "--settle",
            "2s",
            "--ack-wait",
            "1s",
        ],
    ] {
        let run = common::nats_trace(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
    }
}

/// A trace message as a slow leafnode server would publish it for message `n`: it received
/// the message from the hub (hop 1) and delivered it to a client.
fn late_leaf_trace(n: u64) -> String {
    serde_json::json!({
        "server": {"name": "leaf", "id": "NLEAF"},
        "request": {
            "header": {"traceparent": [traceparent(n)], "Nats-Trace-Hop": ["1"]},
            "msgsize": 2
        },
        "events": [
            {"type": "in", "ts": "2026-01-01T00:00:00Z", "kind": 4, "cid": 9, "name": "hub",
             "acc": "$G", "subj": "orders.new"},
            {"type": "eg", "ts": "2026-01-01T00:00:00.001Z", "kind": 0, "cid": 10, "name": "edge"}
        ]
    })
    .to_string()
}

#[test]
fn a_late_trace_message_of_a_shown_message_is_acknowledged_not_shown() {
    let topology = hub_with_untraced_leaf();
    let url = topology.url("hub");
    let mut listener = Listener::start(&url, &["--settle", "300ms"]);
    wait_for_consumer(&url, |_| true, "created");
    publish(&url, "orders.new", 7..8);
    listener.wait_for_documents(1);
    // The leaf's trace arrives after its message was shown incomplete.
    common::runtime().block_on(async {
        let client = async_nats::connect(&url).await.expect("connects");
        client
            .publish("trace.app", late_leaf_trace(7).into())
            .await
            .expect("publish");
        client.flush().await.expect("flush");
    });
    publish(&url, "local.x", 8..9);
    listener.wait_for_documents(2);
    wait_for_consumer(
        &url,
        |(delivered, unacked, _)| delivered == 3 && unacked == 0,
        "the late trace message acknowledged",
    );
    listener.signal("-INT");
    let (code, lines, stderr) = listener.finish();
    assert_eq!(code, 130, "{stderr}");
    let seen = by_traceparent(&lines);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        vec![traceparent(7), traceparent(8)],
        "{lines:#?}"
    );
    assert!(seen.values().all(|docs| docs.len() == 1), "{lines:#?}");
    assert_eq!(seen[&traceparent(7)][0]["complete"], false);
}

#[test]
fn a_listener_killed_while_busy_loses_nothing() {
    let topology = hub_with_untraced_leaf();
    let url = topology.url("hub");
    let mut first = Listener::start(&url, &["--settle", "300ms", "--ack-wait", "1s"]);
    wait_for_consumer(&url, |_| true, "created");
    let publisher = {
        let url = url.clone();
        std::thread::spawn(move || publish(&url, "local.x", 0..2_000))
    };
    // Killed while trace messages are still arriving, with no regard for what it was doing.
    first.wait_for_documents(100);
    first.signal("-KILL");
    let (_, mut first_lines, _) = first.finish();
    drop_cut_line(&mut first_lines);
    publisher.join().expect("publisher");
    let mut second = Listener::start(&url, &["--settle", "300ms", "--ack-wait", "1s"]);
    let first_seen = by_traceparent(&first_lines);
    second.wait_for_documents(2_000 - first_seen.len());
    wait_for_consumer(
        &url,
        |(delivered, unacked, waiting)| delivered == 2_000 && unacked == 0 && waiting == 0,
        "everything acknowledged",
    );
    second.signal("-INT");
    let (code, second_lines, stderr) = second.finish();
    assert_eq!(code, 130, "{stderr}");
    let second_seen = by_traceparent(&second_lines);
    // Nothing lost; nothing shown twice by one run; a message shown by both runs is one run 1
    // printed in the window between its output and its acknowledgement reaching the server.
    let all: std::collections::BTreeSet<&String> =
        first_seen.keys().chain(second_seen.keys()).collect();
    assert_eq!(all.len(), 2_000);
    assert!(
        first_seen
            .values()
            .chain(second_seen.values())
            .all(|d| d.len() == 1)
    );
    let repeated = second_seen
        .keys()
        .filter(|tp| first_seen.contains_key(*tp))
        .count();
    eprintln!(
        "killed after {} shown; {} shown by both runs (printed, not yet acknowledged at the kill)",
        first_seen.len(),
        repeated
    );
}
