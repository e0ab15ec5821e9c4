//! Saved trace messages on disk: the `--save` writer (one JSON line per received trace
//! message, decompressed, with the subject it arrived on, its NATS headers and its arrival
//! time) and the reader `nats-trace render` uses, which takes those lines, a JSON array, or
//! the `>>> ` lines of `--raw` output.
//!
//! A saved line looks like
//! `{"subject":"_INBOX.x.1","headers":{"Content-Encoding":["snappy"]},"received_at":"…","trace":{…}}`;
//! `trace` is the server's JSON exactly as it arrived (its `request.header` keeps
//! `Nats-Trace-Hop`). A bare trace message (what `--raw` prints after `>>> `) is accepted
//! wherever a saved line is. Unusable input is an [`Error::Input`] naming the file and line.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::text::sanitize;
use crate::trace::collect::ReceivedTrace;
use crate::trace::event::TraceMessage;

/// The prefix `--raw` puts before each trace message.
pub const RAW_PREFIX: &str = ">>> ";

#[derive(Serialize)]
struct SavedLine<'a> {
    subject: &'a str,
    headers: BTreeMap<&'a str, Vec<&'a str>>,
    received_at: String,
    trace: &'a RawValue,
}

/// RFC 3339 in UTC with nanoseconds, as the servers write their timestamps.
fn rfc3339(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Writes each received trace message as one JSON line.
pub fn write_saved(out: &mut dyn Write, traces: &[ReceivedTrace]) -> io::Result<()> {
    for received in traces {
        let mut headers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (key, value) in &received.headers {
            headers
                .entry(key.as_str())
                .or_default()
                .push(value.as_str());
        }
        // The server's JSON is one line; should it ever not be, it is re-encoded as one.
        let compact;
        let text = if received.json.contains(['\n', '\r']) {
            let value: Value = serde_json::from_str(&received.json).map_err(io::Error::other)?;
            compact = value.to_string();
            compact.as_str()
        } else {
            received.json.as_str()
        };
        let raw: Box<RawValue> =
            RawValue::from_string(text.to_string()).map_err(io::Error::other)?;
        let line = SavedLine {
            subject: &received.subject,
            headers,
            received_at: rfc3339(received.received_at),
            trace: &raw,
        };
        serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes the received trace messages to `path` (created or truncated).
pub fn save_to_file(path: &Path, traces: &[ReceivedTrace]) -> Result<(), Error> {
    let fail = |e: io::Error| Error::Input(format!("cannot write {}: {e}", path.display()));
    let file = std::fs::File::create(path).map_err(fail)?;
    let mut writer = io::BufWriter::new(file);
    write_saved(&mut writer, traces).map_err(fail)?;
    writer
        .into_inner()
        .map_err(|e| fail(e.into_error()))?
        .sync_all()
        .map_err(fail)
}

/// Reads every file in turn (standard input when `files` is empty or for `-`) and returns
/// all their trace messages in order.
pub fn read_inputs(files: &[PathBuf]) -> Result<Vec<TraceMessage>, Error> {
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut messages = Vec::new();
    for path in files {
        let (name, bytes) = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Input(format!("cannot read standard input: {e}")))?;
            ("<stdin>".to_string(), bytes)
        } else {
            let name = sanitize(&path.display().to_string());
            let bytes = std::fs::read(path)
                .map_err(|e| Error::Input(format!("cannot read {name}: {e}")))?;
            (name, bytes)
        };
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::Input(format!("{name}: not UTF-8 text ({e})")))?;
        messages.extend(parse(&name, &text)?);
    }
    Ok(messages)
}

/// Parses the text of one input called `name`: a JSON array, `--raw` output (only its
/// `>>> ` lines count), or JSON lines.
pub fn parse(name: &str, text: &str) -> Result<Vec<TraceMessage>, Error> {
    if text.trim().is_empty() {
        return Err(Error::Input(format!(
            "{name}: empty input: no trace messages"
        )));
    }
    let mut messages = Vec::new();
    if text.trim_start().starts_with('[') {
        let items: Vec<Box<RawValue>> = serde_json::from_str(text)
            .map_err(|e| Error::Input(format!("{name}: {}", describe_json_error(&e))))?;
        if items.is_empty() {
            return Err(Error::Input(format!(
                "{name}: empty JSON array: no trace messages"
            )));
        }
        for (index, item) in items.iter().enumerate() {
            let message = parse_one(item.get())
                .map_err(|why| Error::Input(format!("{name}: item {}: {why}", index + 1)))?;
            messages.push(message);
        }
        return Ok(messages);
    }
    let raw_output = text.lines().any(|line| line.starts_with(RAW_PREFIX));
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let body = if raw_output {
            match line.strip_prefix(RAW_PREFIX) {
                Some(body) => body,
                None => continue,
            }
        } else if line.trim().is_empty() {
            continue;
        } else {
            line
        };
        let message =
            parse_one(body).map_err(|why| Error::Input(format!("{name}:{}: {why}", index + 1)))?;
        messages.push(message);
    }
    if messages.is_empty() {
        return Err(Error::Input(format!("{name}: no trace messages")));
    }
    Ok(messages)
}

/// One saved line or bare trace message.
fn parse_one(text: &str) -> Result<TraceMessage, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| describe_json_error(&e))?;
    let Value::Object(mut object) = value else {
        return Err(format!(
            "expected a trace message (a JSON object), found {}",
            type_name(&value)
        ));
    };
    let trace = match object.remove("trace") {
        Some(Value::Object(trace)) => trace,
        Some(other) => {
            return Err(format!(
                "\"trace\" must be a JSON object, found {}",
                type_name(&other)
            ));
        }
        None => object,
    };
    if !trace.contains_key("server") && !trace.contains_key("events") {
        return Err("not a trace message: it has no \"server\" or \"events\" field".to_string());
    }
    serde_json::from_value(Value::Object(trace))
        .map_err(|e| sanitize(&format!("malformed trace message: {e}")))
}

fn describe_json_error(e: &serde_json::Error) -> String {
    let what = if e.is_eof() {
        "truncated JSON"
    } else {
        "not JSON"
    };
    sanitize(&format!("{what}: {e}"))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = r#"{"server":{"name":"e1","id":"X","ver":"2.15.1"},"request":{"header":{"Nats-Trace-Dest":["_INBOX.a.1"]},"msgsize":3},"events":[{"type":"in","ts":"2026-01-01T00:00:00Z","kind":0,"cid":1,"acc":"$G","subj":"x"}]}"#;

    fn message(text: &str) -> Result<Vec<TraceMessage>, String> {
        parse("f", text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_saved_line_round_trips() {
        let received = ReceivedTrace {
            subject: "_INBOX.a.1".into(),
            headers: vec![("Content-Encoding".into(), "snappy".into())],
            json: TRACE.into(),
            received_at: SystemTime::UNIX_EPOCH + std::time::Duration::new(1, 5),
        };
        let mut out = Vec::new();
        write_saved(&mut out, &[received]).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            format!(
                "{{\"subject\":\"_INBOX.a.1\",\"headers\":{{\"Content-Encoding\":[\"snappy\"]}},\
                 \"received_at\":\"1970-01-01T00:00:01.000000005Z\",\"trace\":{TRACE}}}\n"
            )
        );
        let parsed = message(&text).expect("parses");
        assert_eq!(
            parsed,
            vec![TraceMessage::from_json(TRACE.as_bytes()).expect("trace")]
        );
    }

    #[test]
    fn arrays_raw_output_and_bare_lines_are_read() {
        let one = TraceMessage::from_json(TRACE.as_bytes()).expect("trace");
        assert_eq!(message(&format!("[{TRACE}]")), Ok(vec![one.clone()]));
        assert_eq!(
            message(&format!("[{{\"trace\":{TRACE}}}, {TRACE}]")),
            Ok(vec![one.clone(), one.clone()])
        );
        let raw = format!(">>> {TRACE}\r\nTracing message route to subject x\n\n>>> {TRACE}\n");
        assert_eq!(message(&raw), Ok(vec![one.clone(), one.clone()]));
        assert_eq!(message(&format!("\n{TRACE}\n\n")), Ok(vec![one]));
    }

    #[test]
    fn unusable_input_names_file_and_line() {
        assert_eq!(
            message(" \n"),
            Err("f: empty input: no trace messages".into())
        );
        assert_eq!(
            message("[]"),
            Err("f: empty JSON array: no trace messages".into())
        );
        assert_eq!(
            message(&format!("{TRACE}\nhello\n")),
            Err("f:2: not JSON: expected value at line 1 column 1".into())
        );
        assert_eq!(
            message(&format!("{TRACE}\n{}", &TRACE[..40])),
            Err("f:2: truncated JSON: EOF while parsing a string at line 1 column 40".into())
        );
        assert_eq!(
            message("[1]"),
            Err("f: item 1: expected a trace message (a JSON object), found a number".into())
        );
        assert_eq!(
            message("{\"a\":1}"),
            Err("f:1: not a trace message: it has no \"server\" or \"events\" field".into())
        );
        assert_eq!(
            message("{\"trace\":[]}"),
            Err("f:1: \"trace\" must be a JSON object, found an array".into())
        );
        let bad = message(r#"{"events":[{"type":"eg","ts":"x","kind":"route"}]}"#)
            .expect_err("a known event with wrong types");
        assert!(
            bad.starts_with("f:1: malformed trace message: bad \"eg\" event"),
            "{bad}"
        );
        assert_eq!(
            message(">>> \u{1b}[31m\n"),
            Err("f:1: not JSON: expected value at line 1 column 1".into())
        );
    }
}
