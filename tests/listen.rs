//! `nats-trace listen` against real nats-server topologies whose account has a `msg_trace`
//! destination: the listener runs as a child process (the binary), the applications are
//! async-nats clients publishing messages with W3C `traceparent` headers, and every emitted
//! message is checked against what was published.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};
use serde_json::Value;

/// The account every test's applications and listener use, with its trace destination.
fn accounts(sampling: &str) -> String {
    format!(
        r#"accounts {{
  APP {{
    users: [{{user: app, password: app}}, {{user: nopub, password: nopub, permissions: {{publish: {{deny: ["trace.>"]}}}}}}]
    msg_trace: {{ dest: "trace.app", sampling: "{sampling}" }}
  }}
}}
no_auth_user: app"#
    )
}

fn single(sampling: &str) -> Topology {
    TopologyBuilder::new()
        .common(&accounts(sampling))
        .server(ServerSpec::new("n1"))
        .start()
        .expect("server starts")
}

/// A traceparent whose ids encode `n`, sampled or not.
fn traceparent(n: u64, sampled: bool) -> String {
    format!(
        "00-{:032x}-{:016x}-{}",
        0xabc0_0000_0000_0000_u128 + u128::from(n),
        0x1000 + n,
        if sampled { "01" } else { "00" }
    )
}

/// A `listen` child process whose stdout is read line by line.
struct Listener {
    run: common::Streaming,
    seen: Vec<String>,
}

impl Listener {
    /// Starts `nats-trace -s URL listen ARGS…` and waits until its subscription on `subject`
    /// (in account APP) reached server `server` of `topology`.
    fn start(topology: &Topology, server: &str, args: &[&str], subject: &str) -> Listener {
        Listener::start_in(topology, server, "APP", args, subject)
    }

    /// As [`Listener::start`], waiting for the subscription in `account` (the listener's
    /// user is given in `args`, e.g. `--user b --password pwd`).
    fn start_in(
        topology: &Topology,
        server: &str,
        account: &str,
        args: &[&str],
        subject: &str,
    ) -> Listener {
        let url = topology.url(server);
        let mut command = vec!["-s", url.as_str(), "listen"];
        command.extend_from_slice(args);
        let run = common::spawn_streaming(&command);
        topology
            .wait_for_interest(server, account, subject, 1)
            .expect("the listener's subscription reaches the server");
        Listener {
            run,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `wanted`, bounded by `limit`.
    fn wait_for(&mut self, wanted: impl Fn(&str) -> bool, limit: Duration) {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.run.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = wanted(&line);
                    self.seen.push(line);
                    if done {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no wanted line within {limit:?}; got {:#?}", self.seen);
    }

    /// Sends SIGINT (Ctrl-C).
    fn interrupt(&self) {
        self.run.signal("-INT");
    }

    /// Waits for the process to end (bounded); its exit code, every stdout line, stderr.
    fn finish(self) -> (i32, Vec<String>, String) {
        self.run.finish(self.seen)
    }
}

/// One application message: subject, headers, payload.
struct Msg {
    subject: String,
    headers: Vec<(String, String)>,
    payload: String,
}

impl Msg {
    fn new(subject: &str, headers: &[(&str, &str)], payload: &str) -> Msg {
        Msg {
            subject: subject.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            payload: payload.to_string(),
        }
    }
}

/// Publishes `messages` in order from one client of user `user` on `url`.
fn publish(url: &str, user: &str, messages: &[Msg]) {
    common::runtime().block_on(publish_async(url, user, messages));
}

async fn publish_async(url: &str, user: &str, messages: &[Msg]) {
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), user.into())
        .connect(url)
        .await
        .expect("publisher connects");
    for m in messages {
        let mut headers = async_nats::HeaderMap::new();
        for (k, v) in &m.headers {
            headers.append(k.as_str(), v.as_str());
        }
        client
            .publish_with_headers(m.subject.clone(), headers, m.payload.clone().into())
            .await
            .expect("publish");
    }
    client.flush().await.expect("flush");
}

/// A sampled message to `end`, published last: when it is shown, everything before it was.
fn sentinel() -> Msg {
    Msg::new(
        "end",
        &[("traceparent", &traceparent(999_999, true))],
        "end",
    )
}

fn is_end(line: &str) -> bool {
    line.contains("\"subject\":\"end\"") || line.starts_with("=== end ")
}

/// The JSON documents among `lines` that are messages (not the summary).
fn documents(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l.starts_with('{') && !l.starts_with("{\"summary\""))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The final summary line's value.
fn summary(lines: &[String]) -> Value {
    let line = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("{\"summary\""))
        .expect("a summary line");
    serde_json::from_str::<Value>(line).expect("JSON")["summary"].clone()
}

/// The first value of header `name` in the root's request.
fn root_header<'a>(doc: &'a Value, name: &str) -> Option<&'a str> {
    doc["root"]["request"]["headers"][name][0].as_str()
}

/// Listens on the destination, publishes, waits for the sentinel, interrupts; the lines.
fn listen_around(
    topology: &Topology,
    server: &str,
    args: &[&str],
    publish_them: impl FnOnce(),
) -> (i32, Vec<String>, String) {
    let mut listener = Listener::start(topology, server, args, "trace.app");
    publish_them();
    listener.wait_for(is_end, Duration::from_secs(30));
    listener.interrupt();
    listener.finish()
}

#[test]
fn every_sampled_message_is_shown_once_with_its_traceparent() {
    let topology = single("100%");
    let url = topology.url("n1");
    let mut subs = common::Subscribers::new();
    subs.subscribe(&url, "worker", "orders.*", None);
    let mut messages: Vec<Msg> = (0..20)
        .map(|n| Msg::new("orders.new", &[("traceparent", &traceparent(n, true))], "x"))
        .collect();
    messages.push(sentinel());
    let (code, lines, stderr) =
        listen_around(&topology, "n1", &["--dest", "trace.app", "--json"], || {
            publish(&url, "app", &messages)
        });
    assert_eq!(code, 130, "{stderr}");
    let docs = documents(&lines);
    let seen: BTreeSet<String> = docs
        .iter()
        .map(|d| d["traceparent"].as_str().expect("traceparent").to_string())
        .collect();
    let sent: BTreeSet<String> = messages.iter().map(|m| m.headers[0].1.clone()).collect();
    assert_eq!(seen, sent);
    assert_eq!(docs.len(), 21);
    for doc in &docs {
        assert_eq!(doc["schema"], 1);
        assert_eq!(doc["complete"], true);
        assert_eq!(doc["deliver"], true);
    }
    let summary = summary(&lines);
    assert_eq!(summary["messages"], 21);
    assert_eq!(summary["last"], true);
}

#[test]
fn the_tree_has_a_header_naming_subject_and_traceparent() {
    let topology = single("100%");
    let url = topology.url("n1");
    let tp = traceparent(7, true);
    let listener = Listener::start(&topology, "n1", &["trace.app", "--count", "1"], "trace.app");
    publish(
        &url,
        "app",
        &[Msg::new("orders.new", &[("traceparent", &tp)], "x")],
    );
    let (code, lines, stderr) = listener_finish(listener);
    assert_eq!(code, 0, "{stderr}");
    let text = lines.join("\n");
    assert!(
        text.contains(&format!("=== orders.new traceparent {tp} at 20")),
        "{text}"
    );
    assert!(
        text.contains("Tracing message route to subject orders.new"),
        "{text}"
    );
    assert!(text.contains("Summary: 1 message(s)"), "{text}");
}

fn listener_finish(listener: Listener) -> (i32, Vec<String>, String) {
    listener.finish()
}

/// 1,000 messages at 50 % sampling: the traced count is Binomial(1000, 0.5) — mean 500,
/// standard deviation √(1000·0.25) ≈ 15.8. The bound [405, 595] is six standard deviations
/// either side: a correct server fails it with probability below 2·10⁻⁹.
#[test]
fn half_of_the_messages_are_traced_at_fifty_percent() {
    let topology = single("50%");
    let url = topology.url("n1");
    let messages: Vec<Msg> = (0..1000)
        .map(|n| Msg::new("orders.new", &[("traceparent", &traceparent(n, true))], "x"))
        .collect();
    let mut listener = Listener::start(
        &topology,
        "n1",
        &["--dest", "trace.app", "--json"],
        "trace.app",
    );
    publish(&url, "app", &messages);
    // The sentinel is sampled too: publish it until it is traced.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        publish(&url, "app", &[sentinel()]);
        if listener_sees(&mut listener, Duration::from_millis(500)) || Instant::now() > deadline {
            break;
        }
    }
    listener.interrupt();
    let (code, lines, stderr) = listener.finish();
    assert_eq!(code, 130, "{stderr}");
    let traced = documents(&lines)
        .iter()
        .filter(|d| d["subject"] == "orders.new")
        .count();
    assert!(
        (405..=595).contains(&traced),
        "{traced} of 1000 traced at 50%"
    );
}

/// Whether the sentinel is shown within `limit`.
fn listener_sees(listener: &mut Listener, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match listener.run.lines.recv_timeout(left) {
            Ok(line) => {
                let end = is_end(&line);
                listener.seen.push(line);
                if end {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn unsampled_and_malformed_traceparents() {
    let topology = single("100%");
    let url = topology.url("n1");
    let mut messages = vec![Msg::new(
        "unsampled",
        &[("traceparent", &traceparent(1, false))],
        "x",
    )];
    for (n, bad) in [
        "garbage",
        "00-ABC00000000000000000000000000001-0000000000001001-01",
        "00-00000000000000000000000000000000-0000000000001001-01",
        "00-abc-def-01",
    ]
    .iter()
    .enumerate()
    {
        messages.push(Msg::new(
            &format!("malformed.{n}"),
            &[("traceparent", bad)],
            "x",
        ));
    }
    messages.push(sentinel());
    let (code, lines, stderr) = listen_around(&topology, "n1", &["trace.app", "--json"], || {
        publish(&url, "app", &messages)
    });
    assert_eq!(code, 130, "{stderr}");
    let docs = documents(&lines);
    assert!(
        docs.iter().all(|d| d["subject"] != "unsampled"),
        "a -00 traceparent is not traced"
    );
    // What the server does with malformed values (observed on 2.15.1, see docs/listen.md):
    // traced or not, listen never shows an invalid traceparent, and groups such traces by
    // the subject they arrived on.
    let malformed: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            d["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("malformed."))
        })
        .collect();
    let traced: Vec<&str> = malformed
        .iter()
        .filter_map(|d| d["subject"].as_str())
        .collect();
    // 2.15.1 looks only at the flags field: a value that does not split into four fields is
    // not traced; upper-case hex, an all-zero trace-id and short ids with flags 01 are.
    assert_eq!(traced, vec!["malformed.1", "malformed.2", "malformed.3"]);
    for doc in malformed {
        assert!(doc.get("traceparent").is_none(), "{doc}");
        assert_eq!(doc["complete"], true);
    }
}

#[test]
fn an_ad_hoc_destination_takes_precedence() {
    let topology = single("100%");
    let url = topology.url("n1");
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("saved.jsonl");
    let tp = traceparent(42, true);
    let messages = vec![
        Msg::new(
            "orders.new",
            &[("traceparent", &tp), ("Nats-Trace-Dest", "trace.adhoc.1")],
            "x",
        ),
        sentinel(),
    ];
    let save_arg = save.to_str().unwrap();
    let (code, lines, stderr) = listen_around(
        &topology,
        "n1",
        &["trace.>", "--json", "--save", save_arg],
        || publish(&url, "app", &messages),
    );
    assert_eq!(code, 130, "{stderr}");
    let docs = documents(&lines);
    assert_eq!(
        docs.iter()
            .filter(|d| d["traceparent"] == tp.as_str())
            .count(),
        1
    );
    let saved = std::fs::read_to_string(&save).unwrap();
    let subjects: Vec<String> = saved
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["trace"]["request"]["header"]["traceparent"][0] == tp.as_str())
        .map(|v| v["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(subjects, vec!["trace.adhoc.1".to_string()]);
}

#[test]
fn sensitive_headers_are_masked_in_every_output() {
    let topology = single("100%");
    let url = topology.url("n1");
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("saved.jsonl");
    let secret = "Bearer s3cr3t-value";
    let custom = "customer-4711";
    let message = |n| {
        Msg::new(
            "orders.new",
            &[
                ("traceparent", &traceparent(n, true)),
                ("Authorization", secret),
                ("X-Customer", custom),
                ("X-Order", "visible-7"),
            ],
            "x",
        )
    };
    let save_arg = save.to_str().unwrap().to_string();
    for format in ["--json", "--format=tree"] {
        let (code, lines, stderr) = listen_around(
            &topology,
            "n1",
            &[
                "trace.app",
                format,
                "--raw",
                "--save",
                &save_arg,
                "--redact-header",
                "x-customer",
            ],
            || publish(&url, "app", &[message(1), sentinel()]),
        );
        assert_eq!(code, 130, "{stderr}");
        let all = format!(
            "{}\n{}",
            lines.join("\n"),
            std::fs::read_to_string(&save).unwrap()
        );
        assert!(!all.contains(secret) && !all.contains(custom), "{all}");
        assert!(all.contains("[redacted]"), "{all}");
        assert!(all.contains("visible-7"), "{all}");
    }
    let (_, lines, _) = listen_around(
        &topology,
        "n1",
        &["trace.app", "--json", "--show-headers"],
        || publish(&url, "app", &[message(2), sentinel()]),
    );
    let doc = documents(&lines)
        .into_iter()
        .find(|d| d["subject"] == "orders.new")
        .expect("the message");
    assert_eq!(root_header(&doc, "Authorization"), Some(secret));
}

/// 2,000 messages from 4 concurrent publishers through a cluster (origin n1, subscribers on
/// n2 and n3, so each traced message is three trace messages): each shown exactly once, and
/// every trace message of a group belongs to the message its traceparent names (its
/// `X-Msg` header, unique per message, is the same on every server).
#[test]
fn concurrent_publishers_each_message_shown_once_never_mixed() {
    let topology = TopologyBuilder::new()
        .common(&accounts("100%"))
        .server(ServerSpec::new("n1").cluster("C1"))
        .server(ServerSpec::new("n2").cluster("C1"))
        .server(ServerSpec::new("n3").cluster("C1"))
        .start()
        .expect("cluster starts");
    let mut subs = common::Subscribers::new();
    for server in ["n2", "n3"] {
        subs.subscribe(&topology.url(server), "worker", "orders.*", None);
        topology.wait_for_interest("n1", "APP", "orders.*", 2).ok();
    }
    topology
        .wait_for_interest("n1", "APP", "orders.new", 2)
        .expect("interest");
    let url = topology.url("n1");
    let mut listener = Listener::start(
        &topology,
        "n2",
        &[
            "--dest",
            "trace.app",
            "--json",
            "--count",
            "2000",
            "--settle",
            "10s",
        ],
        "trace.app",
    );
    topology
        .wait_for_interest("n1", "APP", "trace.app", 1)
        .expect("listener interest");
    publish_concurrently(&url);
    listener.wait_for(|l| l.starts_with("{\"summary\""), Duration::from_secs(60));
    let (code, lines, stderr) = listener.finish();
    assert_eq!(code, 0, "{stderr}");
    let docs = documents(&lines);
    assert_eq!(docs.len(), 2000);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for doc in &docs {
        assert_eq!(doc["complete"], true, "{doc}");
        let tp = doc["traceparent"].as_str().unwrap().to_string();
        let n: u64 = root_header(doc, "X-Msg").unwrap().parse().unwrap();
        assert_eq!(tp, traceparent(n, true));
        let mut servers = 0;
        for_each_node(&doc["root"], &mut |node| {
            servers += 1;
            assert_eq!(
                node["request"]["headers"]["X-Msg"][0],
                n.to_string().as_str()
            );
        });
        assert_eq!(servers, 3, "{doc}");
        *seen.entry(tp).or_default() += 1;
    }
    assert_eq!(seen.len(), 2000);
    assert!(seen.values().all(|&n| n == 1));
}

/// 4 async-nats publishers at once, 500 messages each, each with its own traceparent and
/// `X-Msg` header.
fn publish_concurrently(url: &str) {
    let batches: Vec<Vec<Msg>> = (0..4u64)
        .map(|p| {
            (0..500u64)
                .map(|i| {
                    let n = p * 1000 + i;
                    Msg::new(
                        "orders.new",
                        &[
                            ("traceparent", &traceparent(n, true)),
                            ("X-Msg", &n.to_string()),
                        ],
                        &n.to_string(),
                    )
                })
                .collect()
        })
        .collect();
    common::runtime().block_on(async {
        let tasks: Vec<_> = batches
            .iter()
            .map(|batch| publish_async(url, "app", batch))
            .collect();
        futures_util::future::join_all(tasks).await;
    });
}

fn for_each_node(node: &Value, visit: &mut dyn FnMut(&Value)) {
    visit(node);
    for egress in node["egresses"].as_array().into_iter().flatten() {
        if egress["link"].is_object() {
            for_each_node(&egress["link"], visit);
        }
    }
}

/// A hub whose leafnode's account has no trace destination: every message's route waits
/// for the leaf's trace, which never comes.
fn hub_with_untraced_leaf() -> Topology {
    let topology = TopologyBuilder::new()
        .server(
            ServerSpec::new("hub")
                .leaf_listen()
                .extra(&accounts("100%")),
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

#[test]
fn max_pending_evicts_the_oldest_as_incomplete() {
    let topology = hub_with_untraced_leaf();
    let url = topology.url("hub");
    let messages: Vec<Msg> = (0..20)
        .map(|n| Msg::new("orders.new", &[("traceparent", &traceparent(n, true))], "x"))
        .collect();
    let mut listener = Listener::start(
        &topology,
        "hub",
        &[
            "trace.app",
            "--json",
            "--max-pending",
            "5",
            "--settle",
            "60s",
        ],
        "trace.app",
    );
    publish(&url, "app", &messages);
    listener.wait_for(
        |l| l.contains(&traceparent(14, true)),
        Duration::from_secs(30),
    );
    listener.interrupt();
    let (code, lines, stderr) = listener.finish();
    assert_eq!(code, 130, "{stderr}");
    let docs = documents(&lines);
    assert_eq!(docs.len(), 20, "15 evicted, then 5 pending at Ctrl-C");
    let order: Vec<&str> = docs
        .iter()
        .map(|d| d["traceparent"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..20).map(|n| traceparent(n, true)).collect();
    assert_eq!(
        order,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for doc in &docs {
        assert_eq!(doc["complete"], false);
        assert_eq!(doc["missing"].as_array().unwrap().len(), 1, "{doc}");
    }
    let summary = summary(&lines);
    assert_eq!(summary["evicted"], 15);
    assert_eq!(summary["complete"], 0);
}

#[test]
fn ctrl_c_prints_pending_messages_and_the_summary() {
    let topology = hub_with_untraced_leaf();
    let url = topology.url("hub");
    let mut listener = Listener::start(
        &topology,
        "hub",
        &["trace.app", "--settle", "60s", "--raw"],
        "trace.app",
    );
    publish(
        &url,
        "app",
        &[Msg::new(
            "orders.new",
            &[("traceparent", &traceparent(3, true))],
            "x",
        )],
    );
    // `--raw` shows the origin's trace message as it arrives; the leaf's never comes.
    listener.wait_for(|l| l.starts_with(">>> "), Duration::from_secs(30));
    listener.interrupt();
    let (code, lines, stderr) = listener.finish();
    assert_eq!(code, 130, "{stderr}");
    let text = lines.join("\n");
    assert!(
        text.contains(&format!("traceparent {} at", traceparent(3, true))),
        "{text}"
    );
    assert!(text.contains("listening ended"), "{text}");
    assert!(text.contains("INCOMPLETE"), "{text}");
    assert!(text.contains("Summary: 1 message(s)"), "{text}");
}

#[test]
fn count_and_duration_end_listening() {
    let topology = single("100%");
    let url = topology.url("n1");
    let messages: Vec<Msg> = (0..10)
        .map(|n| Msg::new("orders.new", &[("traceparent", &traceparent(n, true))], "x"))
        .collect();
    let listener = Listener::start(
        &topology,
        "n1",
        &["trace.app", "--json", "--count", "3"],
        "trace.app",
    );
    publish(&url, "app", &messages);
    let (code, lines, stderr) = listener.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(documents(&lines).len(), 3);
    assert_eq!(summary(&lines)["messages"], 3);

    let run = common::nats_trace(&[
        "-s",
        &url,
        "listen",
        "trace.app",
        "--duration",
        "300ms",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("{\"summary\""), "{run:?}");
}

#[test]
fn expectations_apply_to_every_message() {
    let topology = single("100%");
    let url = topology.url("n1");
    let messages: Vec<Msg> = (0..2)
        .map(|n| Msg::new("orders.new", &[("traceparent", &traceparent(n, true))], "x"))
        .collect();
    let listener = Listener::start(
        &topology,
        "n1",
        &[
            "trace.app",
            "--json",
            "--count",
            "2",
            "--expect",
            "delivered>=1",
        ],
        "trace.app",
    );
    publish(&url, "app", &messages);
    let (code, _, stderr) = listener.finish();
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr
            .matches("expectation failed: orders.new (traceparent 00-")
            .count(),
        2,
        "{stderr}"
    );
}

#[test]
fn a_publisher_without_permission_on_the_destination_is_dropped() {
    let topology = single("100%");
    let url = topology.url("n1");
    let mut subs = common::Subscribers::new();
    let sub = subs.subscribe(&url, "worker", "orders.new", None);
    let (code, lines, stderr) = listen_around(&topology, "n1", &["trace.app", "--json"], || {
        publish(
            &url,
            "nopub",
            &[Msg::new(
                "orders.new",
                &[("traceparent", &traceparent(1, true))],
                "denied",
            )],
        );
        publish(
            &url,
            "app",
            &[Msg::new("orders.new", &[], "after"), sentinel()],
        );
    });
    assert_eq!(code, 130, "{stderr}");
    assert!(
        documents(&lines)
            .iter()
            .all(|d| d["subject"] != "orders.new")
    );
    let received = subs.received_until(sub, "after", Duration::from_secs(10));
    assert!(
        received.is_empty(),
        "the denied message was dropped, not delivered: {received:?}"
    );
}

#[test]
fn usage_errors_and_options_before_the_command() {
    let run = common::nats_trace(&["listen"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--dest"), "{run:?}");
    let run = common::nats_trace(&["listen", "a..b"]);
    assert_eq!(run.code, 2, "{run:?}");
    // Global options before the command name reach listen (here: a refused connection).
    let run = common::nats_trace(&[
        "-s",
        "nats://127.0.0.1:1",
        "--timeout",
        "200ms",
        "listen",
        "trace.>",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
}

// ---------------------------------------------------------------------------------------
// Routes across servers, accounts and JetStream
// ---------------------------------------------------------------------------------------

/// The route under `node` on one line, as the summary's shapes write it: the server's name,
/// then in brackets its egresses sorted, `kind>child` for those that lead to a server and
/// `kind` for the others, `jetstream` for each JetStream event (`?` for a server whose
/// trace is missing).
fn route(node: &Value) -> String {
    let name = if node["missing"] == true {
        "?".to_string()
    } else {
        node["server"]["name"].as_str().unwrap_or("?").to_string()
    };
    let mut egresses: Vec<String> = node["egresses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|egress| {
            let kind = egress["kind"]["name"]
                .as_str()
                .unwrap_or("?")
                .to_lowercase();
            if egress["link"].is_object() {
                format!("{kind}>{}", route(&egress["link"]))
            } else {
                kind
            }
        })
        .collect();
    for _ in node["jetstream"].as_array().into_iter().flatten() {
        egresses.push("jetstream".to_string());
    }
    egresses.sort();
    format!("{name}[{}]", egresses.join(", "))
}

/// Every server name under `node`.
fn server_names(node: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for_each_node(node, &mut |n| {
        names.insert(n["server"]["name"].as_str().unwrap_or("?").to_string());
    });
    names
}

/// The account APP with its trace destination on every server (a leafnode binds it too),
/// a system account for the gateways.
const SUPERCLUSTER_ACCOUNTS: &str = r#"accounts {
  SYS: {}
  APP {
    users: [{user: app, password: app}]
    msg_trace: { dest: "trace.app", sampling: "100%" }
  }
}
system_account: SYS
no_auth_user: app"#;

/// Clusters EAST (`e1`, `e2`) and WEST (`w1`) joined by gateways, and a leafnode `leaf`
/// on `w1` bound to APP; subscribers to `orders.new` on `e2`, `w1` and `leaf`, whose
/// interest has reached the servers on the path from `e1`.
fn supercluster_with_leaf() -> (Topology, common::Subscribers) {
    let topology = TopologyBuilder::new()
        .common(SUPERCLUSTER_ACCOUNTS)
        .server(ServerSpec::new("e1").cluster("EAST").gateway())
        .server(ServerSpec::new("e2").cluster("EAST").gateway())
        .server(
            ServerSpec::new("w1")
                .cluster("WEST")
                .gateway()
                .leaf_listen(),
        )
        .server(ServerSpec::new("leaf").leaf_remote("w1", "account: \"APP\""))
        .start()
        .expect("servers start");
    let mut subs = common::Subscribers::new();
    for (server, name) in [("e2", "billing"), ("w1", "shipping"), ("leaf", "edge")] {
        subs.subscribe(&topology.url(server), name, "orders.new", None);
    }
    for (server, count) in [("e1", 1), ("w1", 2)] {
        topology
            .wait_for_interest(server, "APP", "orders.new", count)
            .expect("interest");
    }
    (topology, subs)
}

/// Published on `e1`, each message is traced by `e1` (origin), `e2` (route), `w1`
/// (gateway) and `leaf` (leafnode), each to trace.app in its own APP; a listener on `w1`
/// receives all four (the leaf's through the hub's interest, the EAST servers' through the
/// gateway) and shows every message once, complete, with the whole route.
#[test]
fn cluster_gateway_and_leafnode_traces_all_reach_the_listener() {
    let (topology, _subs) = supercluster_with_leaf();
    let mut listener = Listener::start(
        &topology,
        "w1",
        &["--dest", "trace.app", "--json", "--count", "11"],
        "trace.app",
    );
    topology
        .wait_for_interest("leaf", "APP", "trace.app", 1)
        .expect("the listener's interest reaches the leafnode");
    let mut messages: Vec<Msg> = (0..10)
        .map(|n| {
            Msg::new(
                "orders.new",
                &[
                    ("traceparent", &traceparent(n, true)),
                    ("X-Msg", &n.to_string()),
                ],
                "x",
            )
        })
        .collect();
    messages.push(sentinel());
    publish(&topology.url("e1"), "app", &messages);
    listener.wait_for(|l| l.starts_with("{\"summary\""), Duration::from_secs(30));
    let (code, lines, stderr) = listener.finish();
    assert_eq!(code, 0, "{stderr}");
    let docs = documents(&lines);
    assert_eq!(docs.len(), 11, "{lines:#?}");
    let mut seen = BTreeSet::new();
    for doc in docs.iter().filter(|d| d["subject"] == "orders.new") {
        let n: u64 = root_header(doc, "X-Msg").unwrap().parse().unwrap();
        assert_eq!(doc["traceparent"], traceparent(n, true).as_str());
        assert_eq!(doc["complete"], true, "{doc}");
        assert_eq!(doc["missing"], serde_json::json!([]), "{doc}");
        assert_eq!(doc["detached"], serde_json::json!([]), "{doc}");
        assert_eq!(
            route(&doc["root"]),
            "e1[gateway>w1[client, leafnode>leaf[client]], router>e2[client]]",
            "{doc}"
        );
        assert_eq!(
            server_names(&doc["root"]),
            ["e1", "e2", "leaf", "w1"].map(String::from).into()
        );
        for_each_node(&doc["root"], &mut |node| {
            assert_eq!(
                node["request"]["headers"]["X-Msg"][0],
                n.to_string().as_str()
            );
        });
        assert_eq!(doc["analysis"]["delivered"], 3, "{doc}");
        assert!(seen.insert(n), "message {n} shown twice");
    }
    assert_eq!(seen, (0..10).collect());
    let summary = summary(&lines);
    assert_eq!(summary["messages"], 11);
    assert_eq!(summary["complete"], 11);
    let orders = &summary["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subject"] == "orders.new")
        .expect("orders.new in the summary")["shapes"];
    assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
    assert_eq!(orders[0]["messages"], 10);
}

/// Account A imports the service `svc.>` of account B (`allow_trace` as given); each
/// account has its own trace destination (`trace.a`, `trace.b`).
fn service_import_accounts(allow_trace: bool) -> String {
    format!(
        r#"accounts {{
  A {{
    users: [{{user: a, password: a}}]
    imports: [{{service: {{account: B, subject: "svc.>"}}}}]
    msg_trace: {{ dest: "trace.a", sampling: "100%" }}
  }}
  B {{
    users: [{{user: b, password: b}}]
    exports: [{{service: "svc.>", allow_trace: {allow_trace}}}]
    msg_trace: {{ dest: "trace.b", sampling: "100%" }}
  }}
}}
no_auth_user: a"#
    )
}

/// What one account's listener showed: the traced messages to `svc.add` and the summary's
/// message count.
struct AccountView {
    svc: Vec<Value>,
    shown: u64,
}

impl AccountView {
    fn of(lines: &[String]) -> AccountView {
        AccountView {
            svc: documents(lines)
                .into_iter()
                .filter(|d| d["subject"] == "svc.add")
                .collect(),
            shown: summary(lines)["messages"].as_u64().unwrap(),
        }
    }
}

/// Publishes 3 traced messages from A to `svc.add` (a subscriber in B receives them) with
/// a listener in A on `trace.a` and one in B on `trace.b`; each account then publishes a
/// traced sentinel, so each listener has seen everything before it. What each listener
/// showed, and the payloads the subscriber in B received.
fn service_import_case(allow_trace: bool) -> (AccountView, AccountView, Vec<String>) {
    let topology = TopologyBuilder::new()
        .common(&service_import_accounts(allow_trace))
        .server(ServerSpec::new("n1"))
        .start()
        .expect("server starts");
    let url = topology.url("n1");
    let mut subs = common::Subscribers::new();
    let options = async_nats::ConnectOptions::with_user_and_password("b".into(), "b".into());
    subs.subscribe_with(options, &url, "adder", "svc.add", None);
    topology
        .wait_for_interest("n1", "B", "svc.add", 1)
        .expect("interest");
    let mut in_a = Listener::start_in(&topology, "n1", "A", &["trace.a", "--json"], "trace.a");
    let mut in_b = Listener::start_in(
        &topology,
        "n1",
        "B",
        &["--user", "b", "--password", "b", "trace.b", "--json"],
        "trace.b",
    );
    let mut messages: Vec<Msg> = (0..3)
        .map(|n| Msg::new("svc.add", &[("traceparent", &traceparent(n, true))], "1+1"))
        .collect();
    messages.push(Msg::new("svc.add", &[], "stop"));
    messages.push(sentinel());
    publish(&url, "a", &messages);
    in_a.wait_for(is_end, Duration::from_secs(30));
    publish(&url, "b", &[sentinel()]);
    in_b.wait_for(is_end, Duration::from_secs(30));
    let received = subs.received_until(0, "stop", Duration::from_secs(30));
    in_a.interrupt();
    in_b.interrupt();
    let (code_a, lines_a, stderr_a) = in_a.finish();
    let (code_b, lines_b, stderr_b) = in_b.finish();
    assert_eq!(code_a, 130, "{stderr_a}");
    assert_eq!(code_b, 130, "{stderr_b}");
    (
        AccountView::of(&lines_a),
        AccountView::of(&lines_b),
        received,
    )
}

/// The service import as the origin server reports it, on every message.
fn assert_service_import(doc: &Value) {
    assert_eq!(doc["complete"], true, "{doc}");
    assert_eq!(doc["root"]["ingress"]["account"], "A", "{doc}");
    let imports = &doc["root"]["service_imports"];
    assert_eq!(imports.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(imports[0]["account"], "B");
    assert_eq!(imports[0]["from"], "svc.add");
    assert_eq!(imports[0]["to"], "svc.add");
}

/// With `allow_trace`, the one server's trace goes to the destination of the account the
/// message entered (A), and shows the import and the delivery in B; B's own destination
/// gets nothing.
#[test]
fn service_import_with_allow_trace_shows_the_delivery_in_the_exporting_account() {
    let (a, b, received) = service_import_case(true);
    assert_eq!(received, ["1+1"; 3]);
    assert_eq!(a.svc.len(), 3);
    assert_eq!(a.shown, 4, "3 messages and the sentinel");
    for doc in &a.svc {
        assert_service_import(doc);
        assert_eq!(route(&doc["root"]), "n1[client]", "{doc}");
        let egress = &doc["root"]["egresses"][0];
        assert_eq!(egress["account"], "B", "{doc}");
        assert_eq!(egress["name"], "adder", "{doc}");
        assert_eq!(doc["analysis"]["delivered"], 1, "{doc}");
        assert_eq!(
            doc["analysis"]["boundaries"],
            serde_json::json!([]),
            "{doc}"
        );
    }
    assert!(b.svc.is_empty());
    assert_eq!(b.shown, 1, "only B's own sentinel");
}

/// Without `allow_trace`, the message is still delivered in B, but the trace stops at the
/// import: A's listener shows each message complete, with an account boundary into B and
/// no delivery; B's destination gets nothing.
#[test]
fn service_import_without_allow_trace_shows_the_account_boundary() {
    let (a, b, received) = service_import_case(false);
    assert_eq!(received, ["1+1"; 3], "delivered even though not traced");
    assert_eq!(a.svc.len(), 3);
    assert_eq!(a.shown, 4);
    for doc in &a.svc {
        assert_service_import(doc);
        assert_eq!(route(&doc["root"]), "n1[]", "{doc}");
        assert_eq!(doc["root"]["outcome"], "boundary", "{doc}");
        assert_eq!(doc["analysis"]["delivered"], 0, "{doc}");
        assert_eq!(
            doc["analysis"]["boundaries"],
            serde_json::json!([{"server": "n1", "hop": "", "crossing": "service_import",
                "account": "B", "from": "svc.add", "to": "svc.add"}]),
            "{doc}"
        );
    }
    assert!(b.svc.is_empty());
    assert_eq!(b.shown, 1);
}

/// A stream in APP capturing `orders.>`: each traced message's one trace shows the
/// JetStream event, and the analysis says stored.
#[test]
fn a_jetstream_store_is_shown_stored() {
    let topology = TopologyBuilder::new()
        .common(&accounts("100%").replace("msg_trace:", "jetstream: enabled\n    msg_trace:"))
        .server(ServerSpec::new("n1").jetstream())
        .start()
        .expect("server starts");
    let url = topology.url("n1");
    let subs = common::Subscribers::new();
    subs.create_stream(
        &url,
        serde_json::json!({"name": "ORDERS", "subjects": ["orders.>"], "storage": "memory"}),
    );
    topology
        .wait_for_interest("n1", "APP", "orders.new", 1)
        .expect("the stream's interest");
    let mut messages: Vec<Msg> = (0..5)
        .map(|n| Msg::new("orders.new", &[("traceparent", &traceparent(n, true))], "x"))
        .collect();
    messages.push(sentinel());
    // A stored message's trace comes after the store, so the sentinel's can come first:
    // wait for the sentinel and all five.
    let mut listener = Listener::start(
        &topology,
        "n1",
        &["--dest", "trace.app", "--json"],
        "trace.app",
    );
    publish(&url, "app", &messages);
    let (stored, ended) = (std::cell::Cell::new(0), std::cell::Cell::new(false));
    listener.wait_for(
        |line| {
            stored.set(stored.get() + usize::from(line.contains("\"subject\":\"orders.new\"")));
            ended.set(ended.get() || is_end(line));
            ended.get() && stored.get() == 5
        },
        Duration::from_secs(30),
    );
    listener.interrupt();
    let (code, lines, stderr) = listener.finish();
    assert_eq!(code, 130, "{stderr}");
    let docs: Vec<Value> = documents(&lines)
        .into_iter()
        .filter(|d| d["subject"] == "orders.new")
        .collect();
    let shown: BTreeSet<&str> = docs
        .iter()
        .map(|d| d["traceparent"].as_str().unwrap())
        .collect();
    let sent: Vec<String> = (0..5).map(|n| traceparent(n, true)).collect();
    assert_eq!(shown, sent.iter().map(String::as_str).collect());
    assert_eq!(docs.len(), 5);
    for doc in &docs {
        assert_eq!(doc["complete"], true, "{doc}");
        assert_eq!(route(&doc["root"]), "n1[jetstream]", "{doc}");
        assert_eq!(doc["root"]["outcome"], "stored", "{doc}");
        let analysis = &doc["analysis"];
        assert_eq!(analysis["stored"], 1, "{doc}");
        assert_eq!(analysis["jetstream"][0]["stream"], "ORDERS", "{doc}");
        assert_eq!(analysis["jetstream"][0]["action"], "stored", "{doc}");
        assert_eq!(analysis["no_interest"], serde_json::json!([]), "{doc}");
    }
    let orders = summary(&lines)["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subject"] == "orders.new")
        .cloned()
        .expect("orders.new in the summary");
    assert_eq!(orders["messages"], 5);
    assert_eq!(orders["shapes"][0]["shape"], "n1[jetstream]");
}
