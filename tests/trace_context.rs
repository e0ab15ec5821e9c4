//! `trace --traceparent [VALUE] --dest SUBJ` (Trace Context mode) against real servers: the
//! demo's supercluster with a leafnode chain in account `APP` (msg_trace `trace.demo`);
//! generated and given `traceparent`s; an unsampled one, an account without a destination
//! and a destination the publisher may not publish to (each exit 3 with one line); other
//! traffic on the same destination never mixed in; usage errors; and `demo --traffic`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{KeptDemo, Subscribers, demo_app_supercluster, nats_trace, raw_traces};
use futures_util::StreamExt;
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};
use nats_trace::trace::traceparent::TraceParent;

const GIVEN: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const DELIVERED_WARNING: &str = "nats-trace: warning: --traceparent: the message IS delivered";

/// The `traceparent` a trace message's `request.header` carries.
fn traceparent_of(trace: &serde_json::Value) -> Option<String> {
    trace["request"]["header"]["traceparent"][0]
        .as_str()
        .map(str::to_string)
}

/// The servers that reported, by name.
fn servers_of(traces: &[serde_json::Value]) -> BTreeSet<String> {
    traces
        .iter()
        .map(|t| {
            t["server"]["name"]
                .as_str()
                .expect("server name")
                .to_string()
        })
        .collect()
}

/// The six servers of the demo topology.
fn demo_servers() -> BTreeSet<String> {
    ["e1", "e2", "w1", "w2", "leaf1", "leaf2"]
        .map(String::from)
        .into()
}

/// The lines of stderr that are errors (`nats-trace: error:`).
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("nats-trace: error:"))
        .collect()
}

#[test]
fn a_generated_traceparent_is_traced_through_leafnodes_a_gateway_and_routes() {
    let (topology, mut subs) = demo_app_supercluster();
    let leaf2 = topology.url("leaf2");
    let run = nats_trace(&[
        "-s",
        &leaf2,
        "orders.new",
        "generated",
        "--traceparent",
        "--dest",
        "trace.demo",
        "--raw",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains(DELIVERED_WARNING), "{}", run.stderr);
    let traces = raw_traces(&run.stdout);
    assert_eq!(servers_of(&traces), demo_servers(), "{}", run.stdout);
    assert_eq!(traces.len(), 6, "{}", run.stdout);
    let values: BTreeSet<String> = traces.iter().filter_map(traceparent_of).collect();
    assert_eq!(
        values.len(),
        1,
        "one traceparent on every server: {values:?}"
    );
    let value = values.first().expect("a traceparent");
    assert!(TraceParent::parse(value).expect("valid").is_sampled());
    for kind in ["~~> Leafnode", "==> Gateway", "--> Router"] {
        assert!(run.stdout.contains(kind), "{kind} in {}", run.stdout);
    }
    assert!(
        run.stdout
            .contains("with delivery to the final destination"),
        "{}",
        run.stdout
    );
    // Delivered exactly once (the warm-ups delivered nothing), to each subscriber.
    subs.publish(&leaf2, "orders.new", "sentinel");
    for (index, name) in [(0, "audit"), (1, "billing"), (4, "edge-cache")] {
        assert_eq!(
            subs.received_until(index, "sentinel", Duration::from_secs(10)),
            ["generated"],
            "{name}"
        );
    }
}

#[test]
fn a_given_traceparent_is_what_every_server_reports() {
    let (topology, _subs) = demo_app_supercluster();
    let run = nats_trace(&[
        "-s",
        &topology.url("e1"),
        "orders.new",
        "--traceparent",
        GIVEN,
        "--dest",
        "trace.demo",
        "--raw",
        "--compression",
        "gzip",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let traces = raw_traces(&run.stdout);
    assert_eq!(servers_of(&traces), demo_servers(), "{}", run.stdout);
    for trace in &traces {
        assert_eq!(traceparent_of(trace).as_deref(), Some(GIVEN), "{trace}");
        // No ad hoc destination: the account's msg_trace destination was used.
        assert!(
            trace["request"]["header"]["Nats-Trace-Dest"].is_null(),
            "{trace}"
        );
        assert_eq!(trace["request"]["header"]["Accept-Encoding"][0], "gzip");
    }
}

/// One server whose account `APP` has the destination `trace.demo`, with a user that may
/// publish everywhere (`app`), one that may not publish to `trace.demo` (`denied`), and an
/// account `PLAIN` without a destination (`plain`); a subscriber in each account.
fn accounts_server() -> (Topology, Subscribers) {
    let topology = TopologyBuilder::new()
        .server(ServerSpec::new("n1"))
        .common(
            r#"accounts {
  APP: {
    users: [
      {user: app, password: app},
      {user: denied, password: denied, permissions: {publish: {deny: ["trace.demo"]}}}
    ]
    msg_trace: { dest: "trace.demo", sampling: "100%" }
  }
  PLAIN: { users: [{user: plain, password: plain}] }
}"#,
        )
        .start()
        .expect("server starts");
    let mut subs = Subscribers::new();
    let url = topology.url("n1");
    for user in ["app", "plain"] {
        let options = async_nats::ConnectOptions::with_user_and_password(user.into(), user.into());
        subs.subscribe_with(options, &url, "worker", "orders.new", None);
    }
    (topology, subs)
}

/// Runs `trace --traceparent VALUE --dest trace.demo` on `n1` as `user`.
fn trace_as(topology: &Topology, user: &str, traceparent: &str) -> common::Run {
    nats_trace(&[
        "-s",
        &topology.url("n1"),
        "--user",
        user,
        "--password",
        user,
        "--timeout",
        "1s",
        "orders.new",
        "--traceparent",
        traceparent,
        "--dest",
        "trace.demo",
    ])
}

/// Exit 3, nothing on stdout, and exactly one error line naming the likely causes.
fn assert_nothing_traced(run: &common::Run) {
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    for cause in [
        "no trace message arrived on trace.demo",
        "the account has no msg_trace destination",
        "not sampled",
        "may not publish to trace.demo",
        "--dest is not the account's msg_trace destination",
    ] {
        assert!(errors[0].contains(cause), "{cause:?} in {}", errors[0]);
    }
}

#[test]
fn an_unsampled_traceparent_is_not_traced() {
    let (topology, mut subs) = accounts_server();
    let unsampled = GIVEN.replace("-01", "-00");
    let run = trace_as(&topology, "app", &unsampled);
    assert_nothing_traced(&run);
    assert!(
        run.stderr.contains(&format!(
            "warning: traceparent {unsampled} is not sampled (flags 00): servers will not trace it"
        )),
        "{}",
        run.stderr
    );
    // Not traced, but delivered.
    subs.publish_as("app", &topology.url("n1"), "orders.new", "sentinel");
    assert_eq!(
        subs.received_until(0, "sentinel", Duration::from_secs(5)),
        [""]
    );
}

#[test]
fn an_account_without_a_trace_destination_traces_nothing() {
    let (topology, _subs) = accounts_server();
    assert_nothing_traced(&trace_as(&topology, "plain", GIVEN));
}

#[test]
fn a_destination_the_publisher_may_not_publish_to_traces_nothing() {
    let (topology, _subs) = accounts_server();
    let run = trace_as(&topology, "denied", GIVEN);
    assert_nothing_traced(&run);
    assert!(
        run.stderr
            .contains("no permission to publish to the trace destination trace.demo"),
        "{}",
        run.stderr
    );
}

/// Publishes to `orders.new` from w1 until stopped: sampled messages with fresh
/// `traceparent`s and, every third, one with the `traceparent` [`GIVEN`] itself (as an
/// application that uses the same value would), counting them.
fn background_traffic(
    subs: &Subscribers,
    url: String,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    subs.runtime.spawn(async move {
        let client = async_nats::connect(url).await.expect("publisher connects");
        while !stop.load(Ordering::Relaxed) {
            let n = sent.fetch_add(1, Ordering::Relaxed);
            let value = if n % 3 == 0 {
                GIVEN.to_string()
            } else {
                TraceParent::new_sampled().expect("random").to_string()
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("traceparent", value.as_str());
            client
                .publish_with_headers("orders.new", headers, "other".into())
                .await
                .expect("publish");
            client.flush().await.expect("flush");
        }
    });
}

#[test]
fn other_traffic_on_the_destination_is_never_mixed_in() {
    let (topology, mut subs) = demo_app_supercluster();
    let e1 = topology.url("e1");
    let listener = subs.subscribe(&e1, "listener", "trace.demo", None);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    background_traffic(&subs, topology.url("w1"), stop.clone(), sent.clone());
    // The other traffic is flowing (and being traced) before the trace starts.
    while sent.load(Ordering::Relaxed) < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let run = nats_trace(&[
        "-s",
        &e1,
        "orders.new",
        "--traceparent",
        GIVEN,
        "--dest",
        "trace.demo",
        "--raw",
    ]);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(run.code, 0, "{run:?}");
    let traces = raw_traces(&run.stdout);
    assert_eq!(traces.len(), 6, "{}", run.stdout);
    assert_eq!(servers_of(&traces), demo_servers());
    let origin = traces
        .iter()
        .find(|t| t["request"]["header"]["Nats-Trace-Hop"].is_null())
        .expect("the origin's trace");
    assert_eq!(origin["events"][0]["name"], "nats-trace", "{origin}");
    for trace in &traces {
        assert_eq!(traceparent_of(trace).as_deref(), Some(GIVEN));
        assert_eq!(
            trace["request"]["header"]["Nats-Trace-Attempt"],
            origin["request"]["header"]["Nats-Trace-Attempt"]
        );
    }
    // The destination did carry other messages' traces meanwhile.
    subs.publish(&e1, "trace.demo", "sentinel");
    let others = subs.received_until(listener, "sentinel", Duration::from_secs(10));
    assert!(
        others.len() > traces.len() + 6,
        "{} on trace.demo",
        others.len()
    );
}

#[test]
fn traceparent_usage_errors() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["orders.new", "--traceparent", "00-xyz-01", "--dest", "t"],
            "invalid traceparent \"00-xyz-01\"",
        ),
        (&["orders.new", "--dest", "trace.demo"], "--traceparent"),
        (&["orders.new", "--traceparent"], "--dest"),
        (
            &["orders.new", "--traceparent", "--dest", "trace.*"],
            "invalid subject \"trace.*\"",
        ),
    ];
    for (args, wanted) in cases {
        // The server URL points nowhere: these are refused before connecting.
        let mut all = vec!["-s", "nats://127.0.0.1:1"];
        all.extend_from_slice(args);
        let run = nats_trace(&all);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(wanted), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn demo_traffic_is_traced_to_the_demo_destination_until_sigterm() {
    let demo = KeptDemo::start(&["--traffic", "50"]);
    let e1 = demo.url("e1");
    assert!(
        demo.lines
            .iter()
            .any(|l| l.trim() == format!("nats-trace -s {e1} listen --dest trace.demo")),
        "{:?}",
        demo.lines
    );
    let traceparents = common::runtime().block_on(async {
        let client = async_nats::connect(e1.as_str()).await.expect("connects");
        let mut traces = client.subscribe("trace.demo").await.expect("subscribes");
        let mut seen = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while seen.len() < 5 {
            let message = tokio::time::timeout_at(deadline, traces.next())
                .await
                .expect("trace messages arrive")
                .expect("subscription open");
            let trace: serde_json::Value =
                serde_json::from_slice(&message.payload).expect("a trace message");
            let value = traceparent_of(&trace).expect("a traceparent");
            assert!(TraceParent::parse(&value).expect("valid").is_sampled());
            seen.insert(value);
        }
        seen
    });
    assert_eq!(traceparents.len(), 5);
    let status = demo.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn traceparent_options_become_the_probe_context() {
    use nats_trace::settings::Command;
    let parse = |args: &[&str]| {
        let mut all = vec!["nats-trace"];
        all.extend_from_slice(args);
        match nats_trace::cli::parse_from(all).expect("parses").command {
            Command::Trace(trace) => trace.probe,
            other => panic!("expected trace, got {other:?}"),
        }
    };
    // Without a value (before the subject too), a fresh sampled one; with one, that one.
    for args in [
        &["--traceparent", "--dest", "trace.demo", "orders.new"][..],
        &["orders.new", "--traceparent", "--dest", "trace.demo"],
        &[
            "trace",
            "orders.new",
            "--dest",
            "trace.demo",
            "--traceparent",
        ],
    ] {
        let probe = parse(args);
        assert_eq!(probe.subject, "orders.new", "{args:?}");
        assert!(probe.delivers());
        let context = probe.context.expect("trace context");
        assert_eq!(context.dest, "trace.demo");
        assert!(context.traceparent.is_sampled(), "{args:?}");
    }
    let probe = parse(&["orders.new", "--traceparent", GIVEN, "--dest", "trace.demo"]);
    assert_eq!(
        probe.context.expect("context").traceparent.to_string(),
        GIVEN
    );
    assert!(parse(&["orders.new"]).context.is_none());
}
