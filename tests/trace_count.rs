//! `trace --count`: twenty traces through the demo supercluster give per-server and per-link
//! arrivals, loss and latency statistics and the route shapes with their counts, as text and
//! as JSON; SIGTERM or Ctrl-C mid-run prints the statistics gathered so far; formats without
//! a statistics form are a usage error.

mod common;

use std::time::Duration;

use common::{nats_trace, spawn_streaming};

#[test]
fn twenty_traces_give_statistics_per_server_link_and_shape() {
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let args = [
        "-s",
        &e1,
        "orders.new",
        "--count",
        "20",
        "--interval",
        "5ms",
    ];
    let run = nats_trace(&[&args[..], &["--format", "json"]].concat());
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["traces"], 20);
    assert_eq!(doc["complete"], 20);
    let servers = doc["servers"].as_array().expect("servers");
    let names: Vec<&str> = servers
        .iter()
        .filter_map(|s| s["server"].as_str())
        .collect();
    for wanted in ["e1", "e2", "leaf1", "leaf2"] {
        assert!(names.contains(&wanted), "{wanted} in {names:?}");
    }
    assert_eq!(names[0], "e1", "the origin comes first");
    for server in servers {
        let name = server["server"].as_str().unwrap_or_default();
        let arrivals = server["arrivals"].as_u64().expect("arrivals");
        let loss = server["loss_percent"].as_f64().expect("loss");
        assert!(
            (loss - (20.0 - arrivals as f64) * 5.0).abs() < 1e-6,
            "{server}"
        );
        if ["e1", "e2", "leaf1", "leaf2"].contains(&name) {
            assert_eq!(arrivals, 20, "{server}");
            let latency = &server["latency"];
            let min = latency["min_seconds"].as_f64().expect("min");
            let p50 = latency["p50_seconds"].as_f64().expect("p50");
            let p99 = latency["p99_seconds"].as_f64().expect("p99");
            let max = latency["max_seconds"].as_f64().expect("max");
            assert!(min <= p50 && p50 <= p99 && p99 <= max, "{server}");
        }
    }
    let links = doc["links"].as_array().expect("links");
    let link = |from: &str, kind: &str| {
        links
            .iter()
            .find(|l| l["from"] == from && l["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind} link from {from} in {links:?}"))
    };
    assert_eq!(link("e1", "route")["to"], "e2");
    assert_eq!(link("e1", "gateway")["arrivals"], 20);
    assert_eq!(link("leaf1", "leafnode")["to"], "leaf2");
    let shapes = doc["shapes"].as_array().expect("shapes");
    let total: u64 = shapes.iter().filter_map(|s| s["count"].as_u64()).sum();
    assert_eq!(total, 20);
    assert!(
        shapes[0]["shape"]
            .as_str()
            .is_some_and(|s| s.starts_with("e1 (delivered)")),
        "{shapes:?}"
    );

    let text = nats_trace(&args);
    assert_eq!(text.code, 0, "{text:?}");
    let out = &text.stdout;
    assert!(
        out.starts_with("20 trace(s) of orders.new: 20 complete, 0 incomplete, 0 failed"),
        "{out}"
    );
    assert!(out.contains("\ne1 "), "{out}");
    assert!(
        out.contains("\n  e2 "),
        "servers are indented by depth: {out}"
    );
    assert!(out.contains("e1 -route-> e2"), "{out}");
    assert!(out.contains("route shapes:\n"), "{out}");
}

#[test]
fn a_server_that_cannot_be_reached_fails_every_attempt() {
    let run = nats_trace(&[
        "-s",
        "nats://127.0.0.1:1",
        "--timeout",
        "200ms",
        "orders.new",
        "--count",
        "2",
        "--interval",
        "1ms",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout
            .contains("2 trace(s) of orders.new: 0 complete, 0 incomplete, 2 failed"),
        "{run:?}"
    );
    assert_eq!(run.stderr.matches("warning: trace ").count(), 2, "{run:?}");
}

#[test]
fn formats_without_statistics_are_a_usage_error() {
    for format in ["dot", "mermaid", "otlp", "html"] {
        let run = nats_trace(&[
            "-s",
            "nats://127.0.0.1:1",
            "orders.new",
            "--count",
            "3",
            "--format",
            format,
        ]);
        assert_eq!(run.code, 2, "{format}: {run:?}");
        assert!(
            run.stderr.contains(&format!(
                "--count prints statistics as text or JSON: give --format tree (the default) or json, not {format}"
            )),
            "{format}: {run:?}"
        );
        assert!(run.stdout.is_empty(), "{format}: {run:?}");
    }
}

/// Waits (bounded) until subscription `index` has received `n` messages.
fn wait_for_messages(subs: &mut common::Subscribers, index: usize, n: usize) {
    use futures_util::StreamExt;
    let subscription = &mut subs.subscriptions[index];
    subs.runtime.block_on(async {
        for seen in 0..n {
            let next = tokio::time::timeout(Duration::from_secs(30), subscription.next()).await;
            assert!(
                matches!(next, Ok(Some(_))),
                "only {seen} delivered message(s) arrived"
            );
        }
    });
}

#[test]
fn a_stop_signal_mid_run_prints_the_statistics_gathered_so_far() {
    for (signal, format) in [("-TERM", "json"), ("-INT", "tree")] {
        let topology = nats_trace::topology::Topology::single().expect("server starts");
        let url = topology.url("n1");
        let mut subs = common::Subscribers::new();
        let watcher = subs.subscribe(&url, "watcher", "orders.new", None);
        topology
            .wait_for_interest("n1", "$G", "orders.new", 1)
            .expect("interest");
        let run = spawn_streaming(&[
            "-s",
            &url,
            "trace",
            "orders.new",
            "--deliver",
            "--count",
            "10000",
            "--interval",
            "20ms",
            "--format",
            format,
        ]);
        // Each trace delivers its message once: the second delivery means the first trace
        // is done.
        wait_for_messages(&mut subs, watcher, 2);
        run.signal(signal);
        let (code, lines, stderr) = run.finish(Vec::new());
        assert_eq!(code, 130, "{signal}: {stderr}");
        let out = lines.join("\n");
        let traces = if format == "json" {
            let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
            assert_eq!(doc["complete"], doc["traces"], "{out}");
            doc["traces"].as_u64().expect("traces")
        } else {
            let first = lines.first().expect("statistics");
            assert!(first.contains(" trace(s) of orders.new: "), "{out}");
            assert!(out.contains("\nn1 "), "{out}");
            first
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a count")
        };
        assert!((1..10000).contains(&traces), "{signal}: {out}");
    }
}
