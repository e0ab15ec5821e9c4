//! Golden tests: every capture in `testdata/*.jsonl`, rendered by the real binary
//! (`nats-trace render`) in every format, must equal `tests/golden/<capture>.<tree|json|dot|mmd>`.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the golden files; without it a capture
//! that has no golden file fails the test. JSON goldens are validated against the shipped
//! schema, DOT goldens through `dot -Tsvg`, Mermaid goldens for their structure.

mod common;
mod formats;

use std::path::{Path, PathBuf};

use common::nats_trace;

/// `--format` value and golden file extension.
const FORMATS: [(&str, &str); 4] = [
    ("tree", "tree"),
    ("json", "json"),
    ("dot", "dot"),
    ("mermaid", "mmd"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn captures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("testdata"))
        .expect("testdata/ is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in testdata/");
    files
}

fn golden_path(capture: &Path, extension: &str) -> PathBuf {
    let stem = capture
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("capture file name");
    root()
        .join("tests/golden")
        .join(format!("{stem}.{extension}"))
}

fn updating() -> bool {
    std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1")
}

#[test]
fn every_capture_renders_as_its_golden_files_in_every_format() {
    let mut failures = Vec::new();
    for capture in captures() {
        let path = capture.to_str().expect("UTF-8 path");
        let mut codes = Vec::new();
        for (format, extension) in FORMATS {
            let run = nats_trace(&["render", path, "--format", format]);
            assert!(
                run.code == 0 || run.code == 3,
                "render {path} --format {format} exited {}: {}",
                run.code,
                run.stderr
            );
            assert_eq!(run.stderr, "", "render {path} --format {format}: stderr");
            codes.push(run.code);
            let golden = golden_path(&capture, extension);
            if updating() {
                std::fs::create_dir_all(golden.parent().expect("golden dir"))
                    .expect("create tests/golden");
                std::fs::write(&golden, &run.stdout).expect("write golden file");
                continue;
            }
            match std::fs::read_to_string(&golden) {
                Ok(expected) if expected == run.stdout => {}
                Ok(expected) => failures.push(format!(
                    "{} differs from `nats-trace render {path} --format {format}`:\n--- expected\n{expected}\n--- actual\n{}",
                    golden.display(),
                    run.stdout
                )),
                Err(e) => failures.push(format!(
                    "no golden file {} for capture {path} ({e}): run UPDATE_GOLDEN=1 cargo test --test golden and review the result",
                    golden.display()
                )),
            }
        }
        assert!(
            codes.windows(2).all(|w| w[0] == w[1]),
            "{path}: every format must give the same exit code, got {codes:?}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What to check for one format: the fresh output of every capture, and its golden file
/// when there is one (a missing golden fails the test above). When the golden files are being
/// rewritten only the fresh output is read, since another test is writing them.
fn outputs(format: &str, extension: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for capture in captures() {
        let path = capture.to_str().expect("UTF-8 path");
        let run = nats_trace(&["render", path, "--format", format]);
        out.push((format!("`render {path} --format {format}`"), run.stdout));
        let golden = golden_path(&capture, extension);
        if !updating() {
            if let Ok(text) = std::fs::read_to_string(&golden) {
                out.push((golden.display().to_string(), text));
            }
        }
    }
    out
}

#[test]
fn json_output_matches_the_schema_and_agrees_with_the_tree() {
    let trees = outputs("tree", "tree");
    for ((what, text), (_, tree)) in outputs("json", "json").into_iter().zip(trees) {
        let document = formats::assert_schema_valid(&text, &what);
        let subject = document["subject"].as_str().expect("subject");
        assert!(
            tree.starts_with(&format!("Tracing message route to subject {subject}")),
            "{what}: subject agrees with the tree"
        );
        let counts = document["egress_counts"].as_object().expect("counts");
        for (kind, count) in counts {
            let line = format!("{kind}: {count}");
            assert!(
                tree.lines().any(|l| l.trim_start() == line),
                "{what}: the tree lacks the count line {line:?}"
            );
        }
        assert_eq!(
            document["missing"].as_array().map(Vec::len),
            Some(tree.matches("!!! Missing trace").count()),
            "{what}: missing servers agree with the tree"
        );
        assert_analysis_agrees_with_the_tree(&document, &tree, &what);
    }
}

/// The JSON analysis says what the tree says: the same no-interest lines, account
/// boundaries, JetStream actions and client deliveries.
fn assert_analysis_agrees_with_the_tree(document: &serde_json::Value, tree: &str, what: &str) {
    let analysis = &document["analysis"];
    let len = |key: &str| {
        analysis[key]
            .as_array()
            .map(Vec::len)
            .unwrap_or_else(|| panic!("{what}: analysis.{key} is a list"))
    };
    assert_eq!(
        len("no_interest"),
        tree.matches("--X No active interest").count(),
        "{what}: no interest agrees with the tree"
    );
    assert_eq!(
        len("boundaries"),
        tree.matches("!!! Trace stops at the account boundary")
            .count(),
        "{what}: account boundaries agree with the tree"
    );
    let actions: Vec<String> = analysis["jetstream"]
        .as_array()
        .expect("analysis.jetstream")
        .iter()
        .map(|js| {
            format!(
                "action:\"{}\" stream:\"{}\"",
                js["action"].as_str().expect("action"),
                js["stream"].as_str().expect("stream")
            )
        })
        .collect();
    let tree_actions: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_once("JetStream action:").map(|(_, rest)| rest))
        .collect();
    assert_eq!(
        actions.len(),
        tree_actions.len(),
        "{what}: JetStream events"
    );
    for action in &actions {
        assert!(
            tree_actions
                .iter()
                .any(|t| format!("action:{t}").starts_with(action.as_str())),
            "{what}: the tree lacks the JetStream line {action}"
        );
    }
    let client_lines = tree
        .lines()
        .filter(|l| l.trim_start().starts_with("--C "))
        .count();
    let client_errors = document["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter(|e| {
            e["kind"] == "egress"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Not delivered"))
        })
        .count();
    assert_eq!(
        analysis["delivered"].as_u64(),
        Some((client_lines - client_errors) as u64),
        "{what}: client deliveries agree with the tree's --C lines less their errors"
    );
    assert_eq!(
        len("deliveries") as u64,
        analysis["delivered"].as_u64().expect("delivered")
    );
}

#[test]
fn the_pictures_mark_what_the_analysis_found() {
    let trees = outputs("tree", "tree");
    for (format, extension) in [("dot", "dot"), ("mermaid", "mmd")] {
        for ((what, text), (_, tree)) in outputs(format, extension).into_iter().zip(&trees) {
            assert_eq!(
                text.matches("no active interest").count(),
                tree.matches("--X No active interest").count(),
                "{what}: one no-interest note per no-interest line of the tree"
            );
            assert_eq!(
                text.matches("trace stops here").count(),
                tree.matches("!!! Trace stops at the account boundary")
                    .count(),
                "{what}: one boundary box per boundary line of the tree"
            );
        }
    }
}

#[test]
fn dot_output_is_accepted_by_graphviz() {
    for (what, text) in outputs("dot", "dot") {
        formats::assert_dot_accepted(&text, &what);
    }
}

#[test]
fn mermaid_output_is_a_flowchart() {
    for (what, text) in outputs("mermaid", "mmd") {
        formats::assert_mermaid_flowchart(&text, &what);
    }
}

#[test]
fn the_schema_refuses_what_the_format_does_not_allow() {
    let capture = &captures()[0];
    let run = nats_trace(&["render", capture.to_str().expect("path"), "--json"]);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(formats::schema_path()).expect("schema"))
            .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    assert!(validator.is_valid(&document), "the real output is valid");
    for broken in [
        |d: &mut serde_json::Value| d["schema"] = 2.into(),
        |d: &mut serde_json::Value| {
            d.as_object_mut().expect("object").remove("complete");
        },
        |d: &mut serde_json::Value| d["root"]["undocumented"] = true.into(),
        |d: &mut serde_json::Value| d["root"]["egresses"] = serde_json::json!([{"kind": 1}]),
        |d: &mut serde_json::Value| d["analysis"]["undocumented"] = true.into(),
        |d: &mut serde_json::Value| d["root"]["outcome"] = "vanished".into(),
        |d: &mut serde_json::Value| d["analysis"]["boundaries"] = serde_json::json!([{"server": "n1", "hop": "", "crossing": "service_import", "account": "B", "from": null, "to": "x", "extra": 1}]),
        |d: &mut serde_json::Value| {
            d["root"]["boundaries"] =
                serde_json::json!([{"crossing": "tunnel", "account": "B", "from": null, "to": "x"}])
        },
    ] {
        let mut changed = document.clone();
        broken(&mut changed);
        assert!(
            !validator.is_valid(&changed),
            "the schema accepts {changed}"
        );
    }
}
