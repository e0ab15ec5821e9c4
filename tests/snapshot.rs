//! Route snapshots against the demo supercluster: `check --snapshot FILE
//! --update-snapshots` writes the routes, a second run matches them, and a route that
//! changes (a new subscriber) fails its case with exit 1 and a readable diff.

mod common;

use common::nats_trace;

fn suite(dir: &std::path::Path, e1: &str, e2: &str) -> std::path::PathBuf {
    let path = dir.join("routes.toml");
    let text = format!(
        r#"[defaults]
timeout = "2s"

[[case]]
name = "orders from EAST"
server = "{e1}"
subject = "orders.new"
expect = ["complete"]

[[case]]
name = "nobody cancels"
server = "{e2}"
subject = "orders.cancelled"
"#
    );
    std::fs::write(&path, text).expect("suite written");
    path
}

#[test]
fn snapshots_are_written_matched_and_a_changed_route_shows_its_diff() {
    let (topology, mut subs) = common::demo_supercluster();
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = suite(dir.path(), &topology.url("e1"), &topology.url("e2"));
    let suite = suite.to_str().expect("utf-8 path");
    let file = dir.path().join("routes.json");
    let file = file.to_str().expect("utf-8 path");

    let update = nats_trace(&["check", suite, "--snapshot", file, "--update-snapshots"]);
    assert_eq!(update.code, 0, "{update:?}");
    assert!(
        update.stdout.contains(&format!(
            "wrote 2 route snapshot(s) (cluster level) to {file}"
        )),
        "{update:?}"
    );
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("snapshot file")).expect("JSON");
    assert_eq!(stored["schema"], 1);
    assert_eq!(stored["level"], "cluster");
    assert_eq!(stored["cases"]["nobody cancels"][0], "EAST (no_interest)");
    let east = stored["cases"]["orders from EAST"]
        .as_array()
        .expect("lines");
    assert_eq!(east[0], "EAST (delivered)");
    assert!(
        east.iter().any(|l| l == "  gateway> WEST (delivered)"),
        "{east:?}"
    );

    let matched = nats_trace(&["check", suite, "--snapshot", file]);
    assert_eq!(matched.code, 0, "{matched:?}");
    assert!(matched.stdout.contains("2 passed, 0 failed"), "{matched:?}");

    // Someone starts listening to cancellations: that case's route changes.
    subs.subscribe(&topology.url("e2"), "canceller", "orders.cancelled", None);
    topology
        .wait_for_interest("e2", "$G", "orders.cancelled", 1)
        .expect("interest");
    let changed = nats_trace(&["check", suite, "--snapshot", file]);
    assert_eq!(changed.code, 1, "{changed:?}");
    let out = &changed.stdout;
    assert!(
        out.contains("FAIL        nobody cancels")
            && out.contains("the route changed from its snapshot"),
        "{out}"
    );
    assert!(
        out.contains("    - EAST (no_interest)\n    + EAST (delivered)\n    +   -> client\n"),
        "{out}"
    );
    assert!(out.contains("PASS        orders from EAST"), "{out}");
    assert!(out.contains("1 passed, 1 failed"), "{out}");

    let missing = nats_trace(&["check", suite, "--snapshot", "/nonexistent/routes.json"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("cannot read snapshot"),
        "{missing:?}"
    );
}
