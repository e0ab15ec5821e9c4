//! The route analysis end to end (issue 12): real servers, traced with the real binary. A
//! trace with no interest, a service import that stops at the account boundary (no
//! `allow_trace`), JetStream (stored, no interest) and client deliveries must each carry the
//! analysis in the JSON output (checked against the schema), and `--expect` on it must pass
//! (exit 0) and fail (exit 1, one stderr line per failure) as it should. The same checks run
//! offline on the captures in `testdata/` through `render`.

mod common;
mod formats;

use std::path::Path;

use common::{Run, Subscribers, nats_trace};
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};
use serde_json::{Value, json};

fn single(spec: ServerSpec) -> Topology {
    TopologyBuilder::new()
        .server(spec)
        .start()
        .expect("server starts")
}

/// `nats-trace -s URL ARGS`.
fn trace(topology: &Topology, args: &[&str]) -> Run {
    let url = topology.url("n1");
    let mut all = vec!["-s", url.as_str()];
    all.extend_from_slice(args);
    nats_trace(&all)
}

/// The JSON document of tracing `subject`, valid against the schema.
fn json_of(topology: &Topology, subject: &str) -> Value {
    let run = trace(topology, &["--json", subject]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    formats::assert_schema_valid(&run.stdout, &format!("--json {subject}"))
}

/// Runs a trace of `subject` with each of `expectations` and asserts the exit code and the
/// expectation failures printed on stderr.
#[track_caller]
fn assert_expect(topology: &Topology, subject: &str, expectations: &[&str], failed: &[&str]) {
    let mut args = Vec::new();
    for e in expectations {
        args.extend(["--expect", e]);
    }
    args.push(subject);
    let run = trace(topology, &args);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("nats-trace: expectation failed: "))
        .collect();
    assert_eq!(lines, failed, "stderr: {}", run.stderr);
    let code = if failed.is_empty() { 0 } else { 1 };
    assert_eq!(run.code, code, "{expectations:?}: {}", run.stderr);
}

#[test]
fn a_no_interest_trace_carries_the_analysis_and_expect_checks_it() {
    let topology = single(ServerSpec::new("n1"));
    let document = json_of(&topology, "nothing.here");
    let analysis = &document["analysis"];
    assert_eq!(
        analysis["no_interest"],
        json!([{"server": "n1", "hop": ""}])
    );
    assert_eq!(analysis["delivered"], 0);
    assert_eq!(analysis["boundaries"], json!([]));
    assert_eq!(document["root"]["outcome"], "no_interest");
    assert_expect(
        &topology,
        "nothing.here",
        &["no-interest", "no-interest=1", "delivered=0", "boundary=0"],
        &[],
    );
    assert_expect(
        &topology,
        "nothing.here",
        &["delivered>=1", "no-interest=0", "no-errors"],
        &[
            "expected delivered>=1, saw 0 client delivery(ies)",
            "expected no-interest=0, saw 1 server(s) with no active interest: \"n1\"",
        ],
    );
}

fn service_import_without_allow_trace() -> ServerSpec {
    ServerSpec::new("n1").extra(
        r#"accounts {
  A {
    users: [{user: a, password: pwd}]
    imports: [{service: {account: B, subject: "svc.>"}}]
  }
  B {
    users: [{user: b, password: pwd}]
    exports: [{service: "svc.>", allow_trace: false}]
  }
}
no_auth_user: a"#,
    )
}

#[test]
fn a_service_import_without_allow_trace_is_a_boundary_in_json_and_for_expect() {
    let topology = single(service_import_without_allow_trace());
    let mut subs = Subscribers::new();
    let options = async_nats::ConnectOptions::with_user_and_password("b".into(), "pwd".into());
    subs.subscribe_with(options, &topology.url("n1"), "adder", "svc.add", None);
    topology
        .wait_for_interest("n1", "B", "svc.add", 1)
        .expect("interest");
    let document = json_of(&topology, "svc.add");
    let boundary = json!({
        "crossing": "service_import", "account": "B", "from": "svc.add", "to": "svc.add"
    });
    let mut located = boundary.clone();
    located["server"] = "n1".into();
    located["hop"] = "".into();
    assert_eq!(document["analysis"]["boundaries"], json!([located]));
    assert_eq!(document["analysis"]["no_interest"], json!([]));
    assert_eq!(document["root"]["outcome"], "boundary");
    assert_eq!(document["root"]["boundaries"], json!([boundary]));
    assert_expect(
        &topology,
        "svc.add",
        &["boundary", "boundary=1", "no-interest=0", "account=B"],
        &[],
    );
    assert_expect(
        &topology,
        "svc.add",
        &["boundary=0", "delivered>=1"],
        &[
            "expected boundary=0, saw 1 account boundary stop(s): service import \"svc.add\" into account \"B\" on \"n1\"",
            "expected delivered>=1, saw 0 client delivery(ies)",
        ],
    );
}

#[test]
fn jetstream_actions_are_in_json_and_for_expect() {
    let topology = single(ServerSpec::new("n1").jetstream());
    let subs = Subscribers::new();
    let url = topology.url("n1");
    subs.create_stream(
        &url,
        json!({"name": "ORDERS", "subjects": ["orders.>"], "storage": "memory"}),
    );
    subs.create_stream(&url,
        json!({"name": "EVENTS", "subjects": ["events.>"], "retention": "interest", "storage": "memory"}),
    );
    for subject in ["orders.new", "events.new"] {
        topology
            .wait_for_interest("n1", "$G", subject, 1)
            .expect("interest");
    }
    let stored = json_of(&topology, "orders.new");
    assert_eq!(
        stored["analysis"]["jetstream"],
        json!([{"server": "n1", "hop": "", "stream": "ORDERS", "action": "stored"}])
    );
    assert_eq!(stored["analysis"]["stored"], 1);
    assert_eq!(stored["root"]["outcome"], "stored");
    assert_eq!(stored["root"]["jetstream"][0]["action"], "stored");
    let ignored = json_of(&topology, "events.new");
    assert_eq!(ignored["analysis"]["jetstream"][0]["action"], "no interest");
    assert_eq!(ignored["analysis"]["stored"], 0);
    assert_eq!(ignored["analysis"]["no_interest"], json!([]));
    assert_expect(
        &topology,
        "orders.new",
        &[
            "jetstream=stored",
            "stored=1",
            "jetstream!=rejected",
            "no-interest=0",
        ],
        &[],
    );
    assert_expect(
        &topology,
        "orders.new",
        &["jetstream=rejected", "stored=0"],
        &[
            "expected jetstream=rejected, saw JetStream: \"ORDERS\" stored",
            "expected stored=0, saw 1 stored JetStream event(s): \"ORDERS\" stored",
        ],
    );
    assert_expect(
        &topology,
        "events.new",
        &["jetstream=no-interest", "stored=0"],
        &[],
    );
    assert_expect(
        &topology,
        "events.new",
        &["jetstream=stored"],
        &["expected jetstream=stored, saw JetStream: \"EVENTS\" no interest"],
    );
}

#[test]
fn client_deliveries_are_in_json_and_for_expect() {
    let topology = single(ServerSpec::new("n1"));
    let mut subs = Subscribers::new();
    let url = topology.url("n1");
    subs.subscribe(&url, "worker", "orders.new", Some("workers"));
    subs.subscribe(&url, "audit", "orders.>", None);
    topology
        .wait_for_interest("n1", "$G", "orders.new", 2)
        .expect("interest");
    let document = json_of(&topology, "orders.new");
    let analysis = &document["analysis"];
    assert_eq!(analysis["delivered"], 2);
    let mut to: Vec<(&str, Option<&str>)> = analysis["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            (
                d["subscription"].as_str().expect("subscription"),
                d["queue"].as_str(),
            )
        })
        .collect();
    to.sort();
    assert_eq!(to, [("orders.>", None), ("orders.new", Some("workers"))]);
    assert_eq!(document["root"]["outcome"], "delivered");
    assert_eq!(document["root"]["delivered"], 2);
    assert_expect(
        &topology,
        "orders.new",
        &["delivered=2", "delivered>=1", "no-interest=0", "boundary=0"],
        &[],
    );
    assert_expect(
        &topology,
        "orders.new",
        &["delivered=3", "no-interest"],
        &[
            "expected delivered=3, saw 2 client delivery(ies): \"orders.>\" on \"n1\", \"orders.new\" on \"n1\"",
            "expected no-interest, saw 0 server(s) with no active interest",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Offline, on the captures in testdata/
// ---------------------------------------------------------------------------------------

fn capture(case: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(format!("{case}.jsonl"))
        .to_str()
        .expect("UTF-8 path")
        .to_string()
}

#[test]
fn render_checks_the_analysis_of_saved_traces() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "no-interest",
            &["no-interest", "delivered=0"],
            &["boundary", "delivered>=1"],
        ),
        (
            "service-import-no-allow-trace",
            &["boundary=1", "no-interest=0"],
            &["no-interest", "boundary=0"],
        ),
        (
            "stream-export-no-allow-trace",
            &["boundary", "delivered=0"],
            &["boundary=0"],
        ),
        (
            "stream-export",
            &["boundary=0", "delivered=1"],
            &["boundary"],
        ),
        (
            "jetstream-two-streams",
            &["stored=2", "jetstream=stored", "jetstream!=rejected"],
            &["stored<2", "jetstream=no-interest"],
        ),
        (
            "jetstream-error",
            &["jetstream=rejected", "stored=0"],
            &["jetstream!=rejected"],
        ),
        (
            "subscribe-denied",
            &["delivered=0", "no-interest=0"],
            &["delivered>=1"],
        ),
        ("no-echo", &["delivered=1"], &["delivered=2"]),
    ];
    for (case, pass, fail) in cases {
        let path = capture(case);
        for e in *pass {
            let run = nats_trace(&["render", &path, "--expect", e]);
            assert_eq!(run.code, 0, "{case} --expect {e}: {}", run.stderr);
        }
        for e in *fail {
            let run = nats_trace(&["render", &path, "--expect", e]);
            assert_eq!(run.code, 1, "{case} --expect {e} must fail");
            assert!(
                run.stderr.starts_with(&format!(
                    "nats-trace: expectation failed: expected {e}, saw "
                )),
                "{case}: {}",
                run.stderr
            );
        }
    }
}
