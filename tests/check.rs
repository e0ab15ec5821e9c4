//! Routing expectations and check suites against real servers: every `--expect` key passing
//! and failing with its exact stderr line and exit code; a suite with passing, failing,
//! incomplete and error cases, its per-case lines, summary, exit code and JUnit file; the
//! example suite against `nats-trace demo --keep`; malformed suites and expressions.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Subscribers, nats_trace, nats_trace_with_env};
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};

fn expect_args<'a>(url: &'a str, expectations: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-s", url, "orders.new"];
    for e in expectations {
        args.push("--expect");
        args.push(e);
    }
    args
}

/// Expectations that hold for a trace from `e1` of the demo supercluster.
const PASSING: [&str; 15] = [
    "egress.client=4",
    "egress.Router=2",
    "egress.gateway>=1",
    "egress.leafnode>1",
    "egress.jetstream=0",
    "servers=6",
    "server=leaf2",
    "server!=nowhere",
    "cluster=WEST",
    "account=$G",
    "stream!=ORDERS",
    "subscription=orders.new",
    "latency<2s",
    "complete",
    "no-errors",
];

/// Expectations that fail for that trace, with the line each failure prints.
const FAILING: [(&str, &str); 9] = [
    (
        "egress.client<4",
        "expected egress.client<4, saw 4 Client egress(es)",
    ),
    (
        "egress.gateway=2",
        "expected egress.gateway=2, saw 1 Gateway egress(es)",
    ),
    (
        "egress.jetstream>=1",
        "expected egress.jetstream>=1, saw 0 JetStream egress(es)",
    ),
    (
        "servers<6",
        "expected servers<6, saw 6 server(s): \"e1\", \"e2\", \"leaf1\", \"leaf2\", \"w1\", \"w2\"",
    ),
    (
        "server=nowhere",
        "expected server=nowhere, saw servers \"e1\", \"e2\", \"leaf1\", \"leaf2\", \"w1\", \"w2\"",
    ),
    (
        "cluster!=WEST",
        "expected cluster!=WEST, saw clusters \"EAST\", \"WEST\", \"leaf1\", \"leaf2\"",
    ),
    ("account=B", "expected account=B, saw accounts \"$G\""),
    ("stream=ORDERS", "expected stream=ORDERS, saw streams none"),
    (
        "subscription=orders.old",
        "expected subscription=orders.old, saw subscriptions \"orders.new\"",
    ),
];

#[test]
fn every_expectation_key_passes_and_fails_on_a_real_supercluster() {
    let (topology, _subs) = common::demo_supercluster();
    let e1 = topology.url("e1");
    let run = nats_trace(&expect_args(&e1, &PASSING));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    each_failing_expectation_says_what_it_saw(&e1);
    latency_and_several_failures(&e1);
}

fn each_failing_expectation_says_what_it_saw(e1: &str) {
    for (expectation, line) in FAILING {
        let run = nats_trace(&expect_args(e1, &[expectation]));
        assert_eq!(run.code, 1, "{expectation}: {run:?}");
        assert_eq!(
            run.stderr,
            format!("nats-trace: expectation failed: {line}\n"),
            "{expectation}"
        );
        assert!(
            run.stdout.contains("Egress Count:"),
            "the tree is printed first"
        );
    }
}

fn latency_and_several_failures(e1: &str) {
    // Latency: the origin's egresses take some microseconds at least.
    let run = nats_trace(&expect_args(e1, &["latency<1ns"]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("nats-trace: expectation failed: expected latency<1ns, saw latency "),
        "{}",
        run.stderr
    );
    // Several failures: one line each.
    let run = nats_trace(&expect_args(
        e1,
        &["servers=1", "egress.gateway=0", "complete"],
    ));
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);
}

#[test]
fn complete_and_no_errors_fail_where_they_should() {
    let (topology, _subs) = common::hub_with_silent_leaf();
    let run = nats_trace(&[
        "-s",
        &topology.url("hub"),
        "orders.new",
        "--timeout",
        "500ms",
        "--expect",
        "complete",
    ]);
    // Incomplete wins over a failed expectation: exit 3, and the failure is still said.
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        run.stderr,
        "nats-trace: expectation failed: expected complete, saw missing traces: hop \"1\" \"leaf\"\n"
    );

    let topology = TopologyBuilder::new()
        .server(ServerSpec::new("n1").extra(
            r#"authorization {
  users: [
    {user: tracer, password: pwd}
    {user: worker, password: pwd, permissions: {subscribe: {allow: ["bar.>"], deny: ["bar.bat"]}}}
  ]
}
no_auth_user: tracer"#,
        ))
        .start()
        .expect("server starts");
    let mut subs = Subscribers::new();
    let worker = async_nats::ConnectOptions::with_user_and_password("worker".into(), "pwd".into());
    subs.subscribe_with(worker, &topology.url("n1"), "denied", "bar.>", None);
    let run = nats_trace(&[
        "-s",
        &topology.url("n1"),
        "bar.bat",
        "--expect",
        "no-errors",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "nats-trace: expectation failed: expected no-errors, saw 1 error(s): n1: Not delivered because subscription denies this subject"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn malformed_expressions_are_usage_errors_before_connecting() {
    for (expr, part) in [
        ("egress.carrier>=1", "unknown egress kind \"carrier\""),
        ("servers=>3", "unknown operator"),
        ("latency<soon", "invalid duration"),
        ("server>w1", "server takes = or !="),
    ] {
        let run = nats_trace(&["-s", "nats://127.0.0.1:1", "orders.new", "--expect", expr]);
        assert_eq!(run.code, 2, "{expr}: {run:?}");
        assert!(run.stderr.contains(part), "{expr}: {}", run.stderr);
        assert!(!run.stderr.contains("cannot connect"), "{}", run.stderr);
    }
}

/// Writes `text` to a fresh temporary suite file with the given extension.
fn suite_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write suite");
    path.display().to_string()
}

/// The four kinds of case of a suite, as TOML: one passing, one failing, one incomplete
/// (a silent leaf) and one that cannot run (nothing listens at `unreachable`).
struct Cases {
    pass: String,
    fail: String,
    incomplete: String,
    error: String,
    unreachable: String,
}

fn four_cases(supercluster: &Topology, silent: &Topology) -> Cases {
    let unreachable = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        format!("nats://127.0.0.1:{port}")
    };
    Cases {
        pass: format!(
            "[[case]]\nname = \"orders reach WEST\"\nserver = \"{}\"\nsubject = \"orders.new\"\nexpect = [\"egress.gateway=1\", \"cluster=WEST\", \"no-errors\"]\n",
            supercluster.url("e1")
        ),
        fail: format!(
            "[[case]]\nname = \"orders reach a third cluster\"\nserver = \"{}\"\nsubject = \"orders.new\"\nexpect = [\"cluster=SOUTH\", \"servers=6\"]\n",
            supercluster.url("e1")
        ),
        incomplete: format!(
            "[[case]]\nname = \"the silent leaf\"\nserver = \"{}\"\nsubject = \"orders.new\"\ntimeout = \"500ms\"\n",
            silent.url("hub")
        ),
        error: format!(
            "[[case]]\nname = \"a server that is down\"\nserver = \"{unreachable}\"\nsubject = \"orders.new\"\ntimeout = \"1s\"\n"
        ),
        unreachable,
    }
}

#[test]
fn a_suite_reports_each_case_writes_junit_and_picks_the_exit_code() {
    let (supercluster, _subs) = common::demo_supercluster();
    let (silent, _silent_subs) = common::hub_with_silent_leaf();
    let cases = four_cases(&supercluster, &silent);
    let dir = tempfile::tempdir().expect("temp dir");
    let all = suite_file(
        &dir,
        "all.toml",
        &format!(
            "{}\n{}\n{}\n{}",
            cases.pass, cases.fail, cases.incomplete, cases.error
        ),
    );
    let junit = dir.path().join("report.xml").display().to_string();

    let run = nats_trace(&["check", &all, "--junit", &junit, "--parallel", "2"]);
    assert_eq!(run.code, 2, "errors beat everything: {run:?}");
    assert_one_line_per_case(&run, &cases.unreachable);
    assert_junit_has_each_case(&junit);
    exit_code_follows_the_worst_case(&dir, &cases);
    json_results_per_case(&dir, &cases);
}

/// One line per case with its status, then the summary; the error also on stderr.
fn assert_one_line_per_case(run: &common::Run, unreachable: &str) {
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("PASS        orders reach WEST ("),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].starts_with("FAIL        orders reach a third cluster ("),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].ends_with(
            "): expected cluster=SOUTH, saw clusters \"EAST\", \"WEST\", \"leaf1\", \"leaf2\""
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("INCOMPLETE  the silent leaf ("),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].ends_with("): 1 server trace(s) did not arrive: hop 1 \"leaf\""),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("ERROR       a server that is down ("),
        "{}",
        run.stdout
    );
    assert!(
        lines[3].contains(&format!("cannot connect to {unreachable}")),
        "{}",
        lines[3]
    );
    assert!(
        lines[5].starts_with("4 case(s) in ")
            && lines[5].ends_with(": 1 passed, 1 failed, 1 incomplete, 1 error(s)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "nats-trace: error: 1 of 4 case(s) could not run\n"
    );
}

/// The JUnit file, parsed back: a testsuite with the four cases, each marked as it ended.
fn assert_junit_has_each_case(junit: &str) {
    let xml = std::fs::read_to_string(junit).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    assert_eq!(suite.attribute("name"), Some("all"));
    assert_eq!(suite.attribute("tests"), Some("4"));
    assert_eq!(suite.attribute("failures"), Some("2"));
    assert_eq!(suite.attribute("errors"), Some("1"));
    let cases: Vec<roxmltree::Node> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 4);
    fn child<'a, 'i>(case: &roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
        case.children().find(|n| n.has_tag_name(tag))
    }
    assert!(child(&cases[0], "failure").is_none() && child(&cases[0], "error").is_none());
    let tree = child(&cases[0], "system-out")
        .and_then(|n| n.text())
        .expect("tree in system-out");
    assert!(tree.contains("==> Gateway"), "{tree}");
    let failure = child(&cases[1], "failure").expect("failure");
    assert_eq!(failure.attribute("type"), Some("expectation"));
    assert!(failure.text().is_some_and(|t| t.contains("cluster=SOUTH")));
    assert_eq!(
        child(&cases[2], "failure").and_then(|f| f.attribute("type")),
        Some("incomplete")
    );
    assert!(child(&cases[3], "error").is_some());
}

/// Without the error case: incomplete wins (3); without that: failed (1); then 0.
fn exit_code_follows_the_worst_case(dir: &tempfile::TempDir, cases: &Cases) {
    let Cases {
        pass,
        fail,
        incomplete,
        ..
    } = cases;
    for (text, code) in [
        (format!("{pass}\n{fail}\n{incomplete}"), 3),
        (format!("{pass}\n{fail}"), 1),
        (pass.clone(), 0),
    ] {
        let path = suite_file(dir, "part.toml", &text);
        let run = nats_trace(&["check", &path]);
        assert_eq!(run.code, code, "{run:?}");
    }
}

/// Machine-readable results.
fn json_results_per_case(dir: &tempfile::TempDir, cases: &Cases) {
    let Cases { pass, fail, .. } = cases;
    let path = suite_file(dir, "two.toml", &format!("{pass}\n{fail}"));
    let run = nats_trace(&["check", &path, "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let results: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON results");
    assert_eq!(results["schema"], 1);
    assert_eq!(results["summary"]["passed"], 1);
    assert_eq!(results["summary"]["failed"], 1);
    assert_eq!(results["cases"][0]["status"], "pass");
    assert_eq!(results["cases"][1]["status"], "fail");
    assert_eq!(
        results["cases"][1]["detail"][0],
        "expected cluster=SOUTH, saw clusters \"EAST\", \"WEST\", \"leaf1\", \"leaf2\""
    );
}

#[test]
fn malformed_suites_are_usage_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("missing.toml", None, "cannot read suite"),
        ("empty.toml", Some(""), "no cases"),
        ("broken.toml", Some("[[case]\n"), "TOML parse error"),
        (
            "no-subject.toml",
            Some("[[case]]\nname = \"a\"\n"),
            "missing field `subject`",
        ),
        (
            "bad-expect.toml",
            Some("[[case]]\nname = \"a\"\nsubject = \"x\"\nexpect = [\"egress.bus=1\"]\n"),
            "case \"a\": invalid expectation \"egress.bus=1\"",
        ),
        (
            "bad-env.toml",
            Some(
                "[[case]]\nname = \"a\"\nsubject = \"x\"\nserver = \"${NATS_TRACE_UNSET_FOR_TEST}\"\n",
            ),
            "NATS_TRACE_UNSET_FOR_TEST",
        ),
        ("suite.yaml", Some("case: []"), "unknown format .yaml"),
        ("bad.json", Some("{\"case\": [}"), "suite"),
    ];
    for (name, text, wanted) in cases {
        let path = dir.path().join(name);
        if let Some(text) = text {
            std::fs::write(&path, text).expect("write");
        }
        let run = nats_trace(&["check", &path.display().to_string()]);
        assert_eq!(run.code, 2, "{name}: {run:?}");
        assert_eq!(run.stdout, "", "{name}");
        assert_eq!(run.stderr.lines().count(), 1, "{name}: {}", run.stderr);
        assert!(run.stderr.contains(wanted), "{name}: {}", run.stderr);
    }
}

#[test]
fn the_example_suite_passes_against_the_demo() {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_nats-trace"))
        .args(["demo", "--keep", "--color", "never"])
        .env_remove("NATS_URL")
        .env_remove("NATS_CONTEXT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let stdout = demo.stdout.take().expect("stdout");
    // Read until the demo says it is ready, on a thread so that the wait is bounded.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let ready = line.starts_with("Press Ctrl-C");
            if tx.send(line).is_err() || ready {
                break;
            }
        }
    });
    let mut env = Vec::new();
    let started = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60).saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| {
                let _ = demo.kill();
                panic!("the demo did not get ready");
            });
        if let Some(export) = line.strip_prefix("export ") {
            let (k, v) = export.split_once('=').expect("NAME=value");
            env.push((k.to_string(), v.to_string()));
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert_eq!(env.len(), 6, "{env:?}");
    let suite = format!("{}/examples/demo-routes.toml", env!("CARGO_MANIFEST_DIR"));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = nats_trace_with_env(&["check", &suite], &env_refs);

    // Stop the demo the documented way and check that its servers went with it.
    let status = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let stopped = loop {
        if let Some(status) = demo.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the demo did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(stopped.success(), "{stopped:?}");
    let e1 = env
        .iter()
        .find(|(k, _)| k == "NATS_DEMO_E1")
        .map(|(_, v)| v.clone())
        .expect("e1");
    let port = e1.rsplit(':').next().expect("port").to_string();
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "e1 still listens after the demo stopped"
    );

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("PASS")).count(),
        4,
        "{}",
        run.stdout
    );
}
