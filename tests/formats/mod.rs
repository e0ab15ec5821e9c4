//! Checks of the machine-readable outputs shared by the tests: JSON documents against the
//! shipped JSON Schema (`schema/trace-v1.schema.json`, with the `jsonschema` crate) and DOT
//! text through Graphviz's real `dot -Tsvg`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The schema file shipped in the repository.
pub(crate) fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/trace-v1.schema.json")
}

/// Parses `text` as JSON and panics with every schema violation when it does not conform.
pub(crate) fn assert_schema_valid(text: &str, what: &str) -> serde_json::Value {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(schema_path()).expect("the schema file is readable"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let document: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}\n{text}"));
    let problems: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "{what} does not match the schema:\n{}",
        problems.join("\n")
    );
    assert_eq!(document["schema"], 1, "{what}: schema version");
    document
}

/// Runs `dot -Tsvg` on `text` and panics unless Graphviz accepts it and writes an SVG.
pub(crate) fn assert_dot_accepted(text: &str, what: &str) {
    let mut child = match Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run Graphviz `dot` ({e}): install it (Debian: apt-get install -y graphviz; scripts/test does)"
        ),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("dot reads its input");
    let output = child.wait_with_output().expect("dot runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "dot -Tsvg refused {what} ({}): {stderr}\n{text}",
        output.status
    );
    let svg = String::from_utf8_lossy(&output.stdout);
    assert!(svg.contains("<svg"), "dot -Tsvg wrote no SVG for {what}");
}

/// Checks the shape of a Mermaid flowchart: the header, and that every link joins
/// declared nodes.
pub(crate) fn assert_mermaid_flowchart(text: &str, what: &str) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("---"), "{what}: front matter");
    assert!(
        lines.next().is_some_and(|l| l.starts_with("title: '")),
        "{what}: title"
    );
    assert_eq!(lines.next(), Some("---"), "{what}: front matter end");
    assert_eq!(lines.next(), Some("flowchart LR"), "{what}: flowchart");
    let mut declared = std::collections::HashSet::new();
    let mut links = 0;
    for line in lines {
        let line = line.trim();
        if let Some((from, rest)) = line.split_once(' ') {
            if ["-->|", "==>|", "-.->|"]
                .iter()
                .any(|a| rest.starts_with(a))
            {
                let to = rest.rsplit(' ').next().expect("link target");
                assert!(
                    declared.contains(from),
                    "{what}: link from undeclared {from}"
                );
                assert!(declared.contains(to), "{what}: link to undeclared {to}");
                links += 1;
                continue;
            }
        }
        let id: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if !id.is_empty() && line[id.len()..].starts_with(['[', '(', '>']) {
            declared.insert(id);
        }
    }
    let styles = text
        .lines()
        .filter(|l| l.trim().starts_with("linkStyle "))
        .count();
    assert_eq!(styles, links, "{what}: one linkStyle per link");
}
