//! `nats-trace render` end to end: a live trace saved with `--save` against a real
//! supercluster renders byte for byte the same offline, in every format; saved lines carry
//! subject, headers and arrival time; `--raw` output and JSON arrays are read too; and bad
//! input gives the exact one-line error and exit code, never a panic.

mod common;
mod formats;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{nats_trace, normalize_ids};
use serde_json::Value;

fn testdata(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
        .to_str()
        .expect("UTF-8 path")
        .to_string()
}

fn lines_of(name: &str) -> Vec<String> {
    std::fs::read_to_string(testdata(name))
        .expect("capture")
        .lines()
        .map(str::to_string)
        .collect()
}

/// A file in a fresh temporary directory, kept as long as the returned guard.
fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    (dir, path)
}

fn render(args: &[&str]) -> common::Run {
    let mut all = vec!["render"];
    all.extend_from_slice(args);
    nats_trace(&all)
}

fn error_line(run: &common::Run) -> &str {
    assert_eq!(run.stdout, "", "nothing on stdout after an error");
    run.stderr.trim_end_matches('\n')
}

#[test]
fn a_line_that_is_not_json_is_a_warning_and_the_rest_is_rendered() {
    let lines = lines_of("no-interest.jsonl");
    let (_dir, clean) = temp_file("clean.jsonl", &lines.join("\n"));
    let expected = render(&[clean.to_str().expect("path")]);
    assert_eq!(expected.code, 0, "{}", expected.stderr);
    let (_dir, path) = temp_file("bad.jsonl", &format!("{}\nhello\n", lines.join("\n")));
    let path = path.to_str().expect("path");
    let run = render(&[path]);
    assert_eq!(run.code, 0, "the tree itself is complete");
    assert_eq!(
        run.stderr,
        format!("nats-trace: warning: {path}:2: not JSON: expected value at line 1 column 1\n")
    );
    assert_eq!(run.stdout, expected.stdout);
}

#[test]
fn a_line_cut_short_is_a_warning_and_the_rest_is_rendered_incomplete() {
    // A `--save` file whose third line was cut in the middle (a crash while writing).
    let lines = lines_of("supercluster-leaf-chain.jsonl");
    let mut cut = lines.clone();
    cut[2] = lines[2][..lines[2].len() / 2].to_string();
    let (_dir, path) = temp_file("cut.jsonl", &(cut.join("\n") + "\n"));
    let path = path.to_str().expect("path");
    let mut without = lines.clone();
    without.remove(2);
    let (_dir2, gap) = temp_file("gap.jsonl", &without.join("\n"));
    let expected = render(&[gap.to_str().expect("path")]);
    assert_eq!(expected.code, 3, "the server of the third line is missing");

    for format in [
        &[][..],
        &["--json"][..],
        &["--format", "dot"][..],
        &["--format", "mermaid"][..],
    ] {
        let mut args = vec![path];
        args.extend_from_slice(format);
        let run = render(&args);
        assert_eq!(run.code, 3, "{format:?}: {}", run.stderr);
        let warnings: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(warnings.len(), 1, "{}", run.stderr);
        assert!(
            warnings[0].starts_with(&format!(
                "nats-trace: warning: {path}:3: truncated JSON: EOF while parsing"
            )),
            "{}",
            run.stderr
        );
        let mut args = vec![gap.to_str().expect("path")];
        args.extend_from_slice(format);
        assert_eq!(
            run.stdout,
            render(&args).stdout,
            "{format:?}: every other line"
        );
    }
    assert!(
        expected.stdout.contains("!!! Missing trace: "),
        "{}",
        expected.stdout
    );
}

#[test]
fn a_file_with_nothing_readable_is_an_error_naming_file_and_line() {
    let lines = lines_of("supercluster-leaf-chain.jsonl");
    let text = format!("{}\nhello\n", &lines[1][..60]);
    let (_dir, path) = temp_file("garbage.jsonl", &text);
    let path = path.to_str().expect("path");
    let run = render(&[path]);
    assert_eq!(run.code, 2);
    assert_eq!(
        error_line(&run),
        format!(
            "nats-trace: error: {path}:1: truncated JSON: EOF while parsing a string at line 1 column 60"
        )
    );
}

#[test]
fn an_empty_file_or_stdin_is_an_error() {
    let (_dir, path) = temp_file("empty.jsonl", "\n");
    let path = path.to_str().expect("path");
    let run = render(&[path]);
    assert_eq!(run.code, 2);
    assert_eq!(
        error_line(&run),
        format!("nats-trace: error: {path}: empty input: no trace messages")
    );
    // The test helper gives the binary an empty standard input.
    let run = render(&[]);
    assert_eq!(run.code, 2);
    assert_eq!(
        error_line(&run),
        "nats-trace: error: <stdin>: empty input: no trace messages"
    );
    let run = render(&["/nonexistent/trace.jsonl"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        error_line(&run),
        "nats-trace: error: cannot read /nonexistent/trace.jsonl: No such file or directory (os error 2)"
    );
}

#[test]
fn an_unknown_event_type_is_kept_and_rendered() {
    let mut trace: Value =
        serde_json::from_str(&lines_of("no-interest.jsonl")[0]).expect("capture line");
    trace["events"]
        .as_array_mut()
        .expect("events")
        .push(serde_json::json!({"type": "zz", "ts": "2026-11-22T04:01:09.46343779Z", "what": 42}));
    let (_dir, path) = temp_file("unknown.jsonl", &format!("{trace}\n"));
    let path = path.to_str().expect("path");
    let run = render(&[path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "\n    Event \"zz\" {\"ts\":\"2026-11-22T04:01:09.46343779Z\",\"type\":\"zz\",\"what\":42}\n"
        ),
        "{}",
        run.stdout
    );
    let run = render(&[path, "-T"]);
    assert!(
        run.stdout.contains("\n[100µs]     Event \"zz\""),
        "{}",
        run.stdout
    );
    let run = render(&[path, "--json"]);
    assert_eq!(run.code, 0);
    let document = formats::assert_schema_valid(&run.stdout, "unknown event JSON");
    let unknown = &document["root"]["unknown_events"][0];
    assert_eq!(unknown["type"], "zz");
    assert_eq!(unknown["offset_ns"], 100_000);
    assert_eq!(unknown["event"]["what"], 42);
}

#[test]
fn a_duplicate_origin_is_shown_detached_with_a_warning_and_exit_0() {
    let line = &lines_of("no-interest.jsonl")[0];
    let (_dir, path) = temp_file("twice.jsonl", &format!("{line}\n{line}\n"));
    let path = path.to_str().expect("path");
    let run = render(&[path]);
    assert_eq!(run.code, 0, "the tree itself is complete");
    assert_eq!(
        run.stdout,
        "Tracing message route to subject nothing.here\n\n\
         Client cid:21 cluster:\"EAST\" server:\"e1\" version:\"2.15.1\"\n\
         --X No active interest\n\n\
         Detached trace from server \"e1\" hop:\"\":\n\
         Client cid:21 cluster:\"EAST\" server:\"e1\" version:\"2.15.1\"\n\
         --X No active interest\n\n\
         Legend: Client: --C Router: --> Gateway: ==> Leafnode: ~~> JetStream: --J Error: --X\n\n\
         WARNING: a second origin trace arrived (server \"e1\"); shown detached\n"
    );
    let run = render(&[path, "--json"]);
    let document = formats::assert_schema_valid(&run.stdout, "duplicate origin JSON");
    assert_eq!(document["detached"][0]["detached"], true);
    assert_eq!(document["problems"][0]["kind"], "duplicate_origin");
    assert_eq!(document["complete"], true);
    let run = render(&[path, "--format", "dot"]);
    formats::assert_dot_accepted(&run.stdout, "duplicate origin DOT");
    assert!(run.stdout.contains("detached"), "{}", run.stdout);
}

#[test]
fn a_missing_server_is_marked_and_exits_3_in_every_format() {
    let text: String = lines_of("supercluster-leaf-chain.jsonl")
        .into_iter()
        .filter(|l| !l.starts_with("{\"server\":{\"name\":\"w2\""))
        .map(|l| l + "\n")
        .collect();
    let (_dir, path) = temp_file("gap.jsonl", &text);
    let path = path.to_str().expect("path");
    let run = render(&[path]);
    assert_eq!(run.code, 3);
    assert!(
        run.stdout.contains(
            "\n    --> Router \"w2\" rid:8\n        !!! Missing trace: server \"w2\" at hop 2.1 did not report\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("\nINCOMPLETE: 1 server trace(s) did not arrive: hop 2.1 \"w2\"\n"),
        "{}",
        run.stdout
    );
    let run = render(&[path, "--json"]);
    assert_eq!(run.code, 3);
    let document = formats::assert_schema_valid(&run.stdout, "incomplete JSON");
    assert_eq!(document["complete"], false);
    assert_eq!(
        document["missing"],
        serde_json::json!([{"server": "w2", "hop": "2.1"}])
    );
    let run = render(&[path, "--format", "dot"]);
    assert_eq!(run.code, 3);
    formats::assert_dot_accepted(&run.stdout, "incomplete DOT");
    assert!(
        run.stdout.contains(
            "[label=\"w2\\nhop 2.1\\ntrace missing\", shape=box, style=\"rounded,dashed\"]"
        ),
        "{}",
        run.stdout
    );
    let run = render(&[path, "--format", "mermaid"]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains(":::missing"), "{}", run.stdout);
}

#[test]
fn raw_output_json_arrays_and_stdin_render_like_json_lines() {
    let capture = testdata("supercluster-leaf-chain.jsonl");
    let expected = render(&[&capture]);
    assert_eq!(expected.code, 0);
    let lines = lines_of("supercluster-leaf-chain.jsonl");
    let raw: String = lines
        .iter()
        .map(|l| format!(">>> {l}\n"))
        .collect::<String>()
        + &expected.stdout;
    let (_dir, raw_path) = temp_file("raw.txt", &raw);
    let run = render(&[raw_path.to_str().expect("path")]);
    assert_eq!((run.code, &run.stdout), (0, &expected.stdout));
    let array = format!("[\n{}\n]\n", lines.join(",\n"));
    let (_dir2, array_path) = temp_file("array.json", &array);
    let run = render(&[array_path.to_str().expect("path")]);
    assert_eq!((run.code, &run.stdout), (0, &expected.stdout));
    // Split over two files, one of them standard input.
    let (_dir3, first) = temp_file("first.jsonl", &lines[..3].join("\n"));
    let output = pipe_to_render(
        &[first.to_str().expect("path"), "-"],
        &lines[3..].join("\n"),
    );
    assert_eq!(output, (0, expected.stdout));
}

/// Runs `nats-trace render ARGS` with `input` on its standard input.
fn pipe_to_render(args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nats-trace"))
        .arg("render")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-trace starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("nats-trace ends");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("UTF-8"),
    )
}

const SUBJECT: &str = "orders.new";

#[test]
fn a_saved_live_trace_renders_identically_offline() {
    let (topology, _subscribers) = common::demo_supercluster();
    let url = topology.url("e1");
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("trace.jsonl");
    let saved = saved.to_str().expect("path");

    let live = nats_trace(&["-s", &url, "--timeout", "10s", SUBJECT, "--save", saved]);
    assert_eq!(live.code, 0, "{}\n{}", live.stdout, live.stderr);
    assert!(
        live.stdout.contains("Leafnode \"leaf1\" lid:"),
        "{}",
        live.stdout
    );
    let offline = render(&[saved]);
    assert_eq!(offline.code, live.code);
    assert_eq!(offline.stdout, live.stdout, "byte for byte");
    assert_eq!(offline.stderr, "");

    // Every saved line: the inbox subject, headers, arrival time and the trace with its hop.
    let text = std::fs::read_to_string(saved).expect("saved file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 6, "one line per server:\n{text}");
    let mut hops = Vec::new();
    for line in &lines {
        assert!(
            line["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("_INBOX.")),
            "{line}"
        );
        assert_eq!(
            line["headers"]["Content-Encoding"],
            serde_json::json!(["snappy"])
        );
        let at = line["received_at"].as_str().expect("received_at");
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "arrival time {at}"
        );
        let hop = &line["trace"]["request"]["header"]["Nats-Trace-Hop"];
        hops.push(hop[0].as_str().unwrap_or("").to_string());
    }
    // Which WEST server the gateway lands on varies, so the hops do too; they always form
    // one tree under the origin.
    hops.sort();
    hops.dedup();
    assert_eq!(hops.len(), 6, "distinct hops {hops:?}");
    assert_eq!(hops[0], "", "one origin");
    for hop in &hops[1..] {
        let parent = hop.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
        assert!(
            hops.iter().any(|h| h == parent),
            "parent of {hop} in {hops:?}"
        );
    }

    // The same with timestamps, and in the other formats.
    let offline_t = render(&[saved, "-T"]);
    assert_eq!(offline_t.code, 0);
    assert_eq!(
        offline_t.stdout.lines().count(),
        offline.stdout.lines().count()
    );
    let dot = render(&[saved, "--format", "dot"]);
    formats::assert_dot_accepted(&dot.stdout, "saved trace DOT");
    for name in [
        "e1",
        "e2",
        "w1",
        "w2",
        "leaf1",
        "leaf2",
        "edge-cache",
        "billing",
    ] {
        assert!(
            dot.stdout.contains(&format!("label=\"{name}\\n")),
            "{name} in\n{}",
            dot.stdout
        );
    }
    let mermaid = render(&[saved, "--format", "mermaid"]);
    formats::assert_mermaid_flowchart(&mermaid.stdout, "saved trace Mermaid");
}

#[test]
fn live_json_matches_the_schema_and_its_saved_capture() {
    let (topology, _subscribers) = common::demo_supercluster();
    let url = topology.url("e1");
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("trace.jsonl");
    let saved = saved.to_str().expect("path");

    let live = nats_trace(&[
        "-s",
        &url,
        "--timeout",
        "10s",
        SUBJECT,
        "--json",
        "--save",
        saved,
    ]);
    assert_eq!(live.code, 0, "{}", live.stderr);
    let mut document = formats::assert_schema_valid(&live.stdout, "live JSON");
    assert_eq!(document["subject"], SUBJECT);
    assert_eq!(document["complete"], true);
    assert_eq!(document["deliver"], false);
    let collection = document["timing"]["collection_ns"]
        .as_u64()
        .expect("collection time");
    assert!(collection > 0 && collection < Duration::from_secs(10).as_nanos() as u64);
    assert_eq!(
        document["egress_counts"],
        serde_json::json!({"Client": 4, "Leafnode": 2, "Router": 2, "Gateway": 1})
    );
    assert_eq!(document["root"]["hop"], "");
    assert_eq!(document["root"]["server"]["name"], "e1");
    assert_eq!(document["root"]["egresses"][0]["kind"]["name"], "Client");
    assert_eq!(document["root"]["egresses"][0]["name"], "audit");

    let offline = render(&[saved, "--json"]);
    assert_eq!(offline.code, 0);
    let offline: Value = serde_json::from_str(&offline.stdout).expect("JSON");
    document["timing"]["collection_ns"] = Value::Null;
    assert_eq!(
        offline, document,
        "the same document, less the collection time"
    );
    // Ids are the servers'; the normalised tree must be the demo's shape.
    let tree = render(&[saved]);
    assert!(
        normalize_ids(&tree.stdout).contains("~~> Leafnode \"leaf2\" lid:N\n"),
        "{}",
        tree.stdout
    );
}
