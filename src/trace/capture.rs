//! Saved trace messages on disk: the `--save` writer (one JSON line per received trace
//! message, decompressed, with the subject it arrived on, its NATS headers and its arrival
//! time) and the reader `nats-trace render` uses, which takes those lines, a JSON array, or
//! the `>>> ` lines of `--raw` output.
//!
//! A saved line looks like
//! `{"subject":"_INBOX.x.1","headers":{"Content-Encoding":["snappy"]},"received_at":"…","trace":{…}}`;
//! `trace` is the server's JSON exactly as it arrived (its `request.header` keeps
//! `Nats-Trace-Hop`). A bare trace message (what `--raw` prints after `>>> `) is accepted
//! wherever a saved line is. A line that cannot be used is a warning naming the file and line,
//! and the others are still read; only input with nothing usable at all is an [`Error::Input`].
//!
//! Files are read line by line through one buffer, and each line in one pass straight into
//! the event model, as the same trace message is read live; only a line that pass does not
//! take is read again through a JSON value, for the words of its warning
//! (docs/performance.md, "Whole-process `render`").

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::text::sanitize;
use crate::trace::collect::ReceivedTrace;
use crate::trace::event::{Event, EventList, ServerInfo, TraceMessage, TraceRequest};

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

/// What [`read_inputs`] found: every trace message it could read, in order, and one
/// warning (naming the file, and the line or item) for each part it could not use.
#[derive(Debug, Default, PartialEq)]
pub struct Inputs {
    pub messages: Vec<TraceMessage>,
    pub warnings: Vec<String>,
}

/// Reads every file in turn (standard input when `files` is empty or for `-`) and returns
/// all their trace messages in order. A damaged line (a `--save` file cut short by a crash,
/// say) or an unreadable file is a warning and the rest is still read; only when nothing at
/// all could be read is it an error, the first problem found.
pub fn read_inputs(files: &[PathBuf]) -> Result<Inputs, Error> {
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut inputs = Inputs::default();
    for path in files {
        if let Err(e) = read_input(path, &mut inputs) {
            inputs.warnings.push(e.to_string());
        }
    }
    if inputs.messages.is_empty() {
        let first = inputs.warnings.into_iter().next();
        return Err(Error::Input(
            first.unwrap_or_else(|| "no trace messages".to_string()),
        ));
    }
    Ok(inputs)
}

/// How much of a file is read at a time: the lines are parsed as they are read, so a big
/// capture is never in memory whole (a JSON array is).
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Reads one input (`-`: standard input) into `inputs`; an input that cannot be read to
/// its end adds nothing.
fn read_input(path: &Path, inputs: &mut Inputs) -> Result<(), Error> {
    if path.as_os_str() == "-" {
        let unreadable = |e: io::Error| Error::Input(format!("cannot read standard input: {e}"));
        return parse_into("<stdin>", io::stdin().lock(), &unreadable, inputs);
    }
    let name = sanitize(&path.display().to_string());
    let unreadable = |e: io::Error| Error::Input(format!("cannot read {name}: {e}"));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    if let Ok(metadata) = file.metadata() {
        reserve_for(metadata.len(), &mut inputs.messages);
    }
    let reader = io::BufReader::with_capacity(READ_BUFFER_BYTES, file);
    parse_into(&name, reader, &unreadable, inputs)
}

/// The fewest bytes a saved trace message takes on one line (a server's trace message with
/// no events is about 300 bytes; saved lines are longer).
const MIN_LINE_BYTES: u64 = 256;

/// Makes room for the messages a file of `bytes` can hold at most, so that the list is not
/// grown (and copied to fresh memory) again and again; room not filled is never touched.
fn reserve_for(bytes: u64, messages: &mut Vec<TraceMessage>) {
    let most = usize::try_from(bytes / MIN_LINE_BYTES).unwrap_or(usize::MAX);
    messages.reserve(most.min(MAX_RESERVED_MESSAGES));
}

/// The most messages reserved ahead for one file (about 100 MB of room).
const MAX_RESERVED_MESSAGES: usize = 1 << 20;

/// Parses the text of one input called `name`: a JSON array, `--raw` output (only its
/// `>>> ` lines count), or JSON lines. Every message read is returned; a line or item that
/// cannot be used is a warning. An error when the input as a whole is unusable.
pub fn parse(name: &str, text: &[u8]) -> Result<Inputs, Error> {
    let mut inputs = Inputs::default();
    let unreadable = |e: io::Error| Error::Input(format!("cannot read {name}: {e}"));
    parse_into(name, text, &unreadable, &mut inputs)?;
    Ok(inputs)
}

/// [`parse`] of what `reader` holds, into `inputs`; `unreadable` words a read error. On an
/// error, nothing of this input is kept.
fn parse_into(
    name: &str,
    reader: impl BufRead,
    unreadable: &dyn Fn(io::Error) -> Error,
    inputs: &mut Inputs,
) -> Result<(), Error> {
    let found = inputs.messages.len();
    let problems = inputs.warnings.len();
    let mut lines = LineReader {
        name,
        found,
        problems,
        raw_output: false,
    };
    let read = lines.read(reader, unreadable, inputs);
    let read = read.and_then(|()| {
        if inputs.messages.len() == found && inputs.warnings.len() == problems {
            return Err(Error::Input(format!("{name}: no trace messages")));
        }
        Ok(())
    });
    if read.is_err() {
        inputs.messages.truncate(found);
        inputs.warnings.truncate(problems);
    }
    read
}

/// A JSON array of trace messages (or saved lines); an item that is not one is a warning.
fn parse_array(name: &str, text: &[u8], inputs: &mut Inputs) -> Result<(), Error> {
    let items: Vec<Box<RawValue>> = serde_json::from_slice(text)
        .map_err(|e| Error::Input(format!("{name}: {}", describe_json_error(&e))))?;
    if items.is_empty() {
        return Err(Error::Input(format!(
            "{name}: empty JSON array: no trace messages"
        )));
    }
    for (index, item) in items.iter().enumerate() {
        match parse_one(item.get()) {
            Ok(message) => inputs.messages.push(message),
            Err(why) => inputs
                .warnings
                .push(format!("{name}: item {}: {why}", index + 1)),
        }
    }
    Ok(())
}

/// Reads one input line by line, in one pass and one buffer: a JSON array when its first
/// character (past white space) is `[`; else JSON lines, or `--raw` output once a line
/// starts with `>>> ` (what was read from the lines before is then dropped: in `--raw`
/// output only the `>>> ` lines count). A line that is not a trace message (cut short, not
/// JSON, not UTF-8) is a warning naming it.
struct LineReader<'a> {
    name: &'a str,
    /// What `inputs` held before this input.
    found: usize,
    problems: usize,
    raw_output: bool,
}

impl LineReader<'_> {
    fn read(
        &mut self,
        mut reader: impl BufRead,
        unreadable: &dyn Fn(io::Error) -> Error,
        inputs: &mut Inputs,
    ) -> Result<(), Error> {
        let mut line = Vec::new();
        // The white space before the first text, kept for a JSON array's error positions.
        let mut leading = Vec::new();
        let mut text_seen = false;
        let mut number = 0;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(unreadable)? == 0 {
                break;
            }
            number += 1;
            if !text_seen {
                if line.iter().all(u8::is_ascii_whitespace) {
                    leading.extend_from_slice(&line);
                    continue;
                }
                text_seen = true;
                if line.trim_ascii_start().starts_with(b"[") {
                    leading.extend_from_slice(&line);
                    reader.read_to_end(&mut leading).map_err(unreadable)?;
                    return parse_array(self.name, &leading, inputs);
                }
            }
            self.line(number, &line, inputs);
        }
        if !text_seen {
            return Err(Error::Input(format!(
                "{}: empty input: no trace messages",
                self.name
            )));
        }
        Ok(())
    }

    /// Line `number` (as read, with its end of line).
    fn line(&mut self, number: usize, line: &[u8], inputs: &mut Inputs) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if !self.raw_output && line.starts_with(RAW_PREFIX.as_bytes()) {
            self.raw_output = true;
            inputs.messages.truncate(self.found);
            inputs.warnings.truncate(self.problems);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let body = if self.raw_output {
            match line.strip_prefix(RAW_PREFIX.as_bytes()) {
                Some(body) => body,
                None => return,
            }
        } else if line.iter().all(u8::is_ascii_whitespace) {
            return;
        } else {
            line
        };
        let message = std::str::from_utf8(body)
            .map_err(|e| format!("not UTF-8 text ({e})"))
            .and_then(parse_one);
        match message {
            Ok(message) => inputs.messages.push(message),
            Err(why) => inputs
                .warnings
                .push(format!("{}:{number}: {why}", self.name)),
        }
    }
}

/// One saved line or bare trace message. Read in one pass straight into the model, exactly
/// as the same trace message is read live; what that pass does not take (anything but a
/// well-formed saved line or trace message, or a field given twice) is read again through
/// a JSON value by [`parse_slowly`], which accepts what it can and names the problem.
fn parse_one(text: &str) -> Result<TraceMessage, String> {
    match serde_json::from_str::<Line>(text) {
        Ok(line) => line.into_message().map_or_else(|| parse_slowly(text), Ok),
        Err(_) => parse_slowly(text),
    }
}

/// The trace message fields of one JSON object, each `None` when absent.
#[derive(Default)]
struct Fields {
    server: Option<Box<ServerInfo>>,
    request: Option<TraceRequest>,
    hops: Option<u64>,
    events: Option<Vec<Event>>,
}

impl Fields {
    /// The trace message, when these fields make one (it has `server` or `events`).
    fn into_message(self) -> Option<TraceMessage> {
        if self.server.is_none() && self.events.is_none() {
            return None;
        }
        Some(TraceMessage {
            server: self.server.unwrap_or_default(),
            request: self.request.unwrap_or_default(),
            hops: self.hops.unwrap_or_default(),
            events: self.events.unwrap_or_default(),
        })
    }
}

/// One line read in one pass: the trace message fields at its top level (a bare trace
/// message) and those of its `trace` object (a saved line), every other field skipped.
struct Line {
    fields: Fields,
    trace: Option<Fields>,
}

impl Line {
    /// A saved line's `trace`, else the line itself, when it is a trace message.
    fn into_message(self) -> Option<TraceMessage> {
        self.trace.unwrap_or(self.fields).into_message()
    }
}

impl<'de> Deserialize<'de> for Line {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Line, D::Error> {
        d.deserialize_map(LineVisitor { nested: false })
    }
}

/// The field names [`LineVisitor`] reads; any other is skipped.
enum Key {
    Server,
    Request,
    Hops,
    Events,
    Trace,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                Ok(match name {
                    "server" => Key::Server,
                    "request" => Key::Request,
                    "hops" => Key::Hops,
                    "events" => Key::Events,
                    "trace" => Key::Trace,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// Reads one JSON object (only an object) into a [`Line`]; inside `trace` (`nested`), a
/// `trace` field is an ordinary one and skipped.
struct LineVisitor {
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for LineVisitor {
    type Value = Line;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Line, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LineVisitor {
    type Value = Line;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a trace message or a saved line")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
        let mut line = Line {
            fields: Fields::default(),
            trace: None,
        };
        while let Some(key) = map.next_key::<Key>()? {
            let fields = &mut line.fields;
            match key {
                Key::Server => once(&mut fields.server, map.next_value()?)?,
                Key::Request => once(&mut fields.request, map.next_value()?)?,
                Key::Hops => once(&mut fields.hops, map.next_value()?)?,
                Key::Events => once(&mut fields.events, map.next_value::<EventList>()?.0)?,
                Key::Trace if !self.nested => {
                    let trace = map.next_value_seed(LineVisitor { nested: true })?;
                    once(&mut line.trace, trace.fields)?;
                }
                Key::Trace | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(line)
    }
}

/// Fills `slot`; a field given twice is refused (the slow path then decides, as it
/// always has: the last one counts).
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom("a field given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// One saved line or bare trace message through a JSON value: slower, for what
/// [`parse_one`]'s single pass does not take, and the words for every problem.
fn parse_slowly(text: &str) -> Result<TraceMessage, String> {
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

    /// The messages of `text`, or its first problem (an error or a warning).
    fn message(text: &str) -> Result<Vec<TraceMessage>, String> {
        let inputs = parse("f", text.as_bytes()).map_err(|e| e.to_string())?;
        match inputs.warnings.into_iter().next() {
            Some(warning) => Err(warning),
            None => Ok(inputs.messages),
        }
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
    fn a_damaged_line_is_a_warning_and_the_rest_is_read() {
        let one = TraceMessage::from_json(TRACE.as_bytes()).expect("trace");
        let mut bytes = format!("{TRACE}\n{}\n", &TRACE[..40]).into_bytes();
        bytes.extend_from_slice(b"\xff\n");
        bytes.extend_from_slice(TRACE.as_bytes());
        let inputs = parse("f", &bytes).expect("readable");
        assert_eq!(inputs.messages, vec![one.clone(), one]);
        assert_eq!(
            inputs.warnings,
            vec![
                "f:2: truncated JSON: EOF while parsing a string at line 1 column 40".to_string(),
                "f:3: not UTF-8 text (invalid utf-8 sequence of 1 bytes from index 0)".to_string(),
            ]
        );
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

    #[test]
    fn raw_output_counts_only_its_prefixed_lines_wherever_the_first_one_is() {
        let one = TraceMessage::from_json(TRACE.as_bytes()).expect("trace");
        // What was read before the first `>>> ` line is dropped, warnings included.
        let text = format!("{TRACE}\nhello\n>>> {TRACE}\n{TRACE}\n");
        assert_eq!(message(&text), Ok(vec![one]));
        let inputs =
            parse("f", format!("hello\n\n>>> {TRACE}\n>>> x\n").as_bytes()).expect("readable");
        assert_eq!(
            inputs.warnings,
            vec!["f:4: not JSON: expected value at line 1 column 1".to_string()]
        );
    }

    #[test]
    fn lines_and_array_positions_count_the_leading_blank_lines() {
        assert_eq!(
            message(&format!("\n \r\n{TRACE}\nhello")),
            Err("f:4: not JSON: expected value at line 1 column 1".into())
        );
        assert_eq!(
            message("\n\n  [1,\n x]"),
            Err("f: not JSON: expected value at line 4 column 2".into())
        );
        let one = TraceMessage::from_json(TRACE.as_bytes()).expect("trace");
        assert_eq!(
            message(&format!("\n\t\n[{TRACE},\n{TRACE}]\n")),
            Ok(vec![one.clone(), one])
        );
    }

    #[test]
    fn an_unreadable_input_keeps_nothing_of_what_it_read() {
        /// Gives `good` then fails.
        struct Failing<'a>(&'a [u8]);
        impl io::Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("disk gone"));
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = format!("{TRACE}\nhello\n");
        let mut inputs = Inputs::default();
        let unreadable = |e: io::Error| Error::Input(format!("cannot read f: {e}"));
        let reader = io::BufReader::with_capacity(16, Failing(text.as_bytes()));
        let read = parse_into("f", reader, &unreadable, &mut inputs);
        assert_eq!(
            read.map_err(|e| e.to_string()),
            Err("cannot read f: disk gone".into())
        );
        assert_eq!(inputs, Inputs::default());
    }

    #[test]
    fn the_single_pass_reads_what_the_slow_path_reads() {
        let one = TraceMessage::from_json(TRACE.as_bytes()).expect("trace");
        // Fields around `trace` are skipped, whatever they hold; so is a nested `trace`.
        let saved = format!(
            "{{\"subject\":\"s\",\"events\":7,\"trace\":{},\"x\":[{{}}]}}",
            TRACE.replacen('{', "{\"trace\":1,", 1)
        );
        assert_eq!(parse_one(&saved), Ok(one.clone()));
        assert_eq!(parse_slowly(&saved), Ok(one.clone()));
        // A field given twice: the last one counts, as it always has.
        let twice = TRACE.replacen('{', "{\"hops\":9,\"hops\":2,", 1);
        assert_eq!(parse_one(&twice).map(|m| m.hops), Ok(2));
        let twice = format!("{{\"trace\":{{\"hops\":3}},\"trace\":{TRACE}}}");
        assert_eq!(parse_one(&twice), Ok(one.clone()));
        for text in [
            r#"{"server":null,"events":[]}"#,
            r#"{"trace":null}"#,
            r#"{"trace":[{"name":"a"},{},0,[]]}"#,
            r#"[{"name":"a"},{},0,[]]"#,
            r#"{"request":{}}"#,
            r#"{"trace":{"hops":1},"server":{}}"#,
        ] {
            assert_eq!(parse_one(text), parse_slowly(text), "{text}");
            assert!(parse_one(text).is_err(), "{text}");
        }
    }

    #[test]
    fn every_captured_line_reads_the_same_in_one_pass_and_through_a_value() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let mut lines = 0;
        for entry in std::fs::read_dir(dir).expect("testdata") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("capture");
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let single = serde_json::from_str::<Line>(line)
                    .ok()
                    .and_then(Line::into_message)
                    .expect("a captured line is read in one pass");
                assert_eq!(
                    Ok(&single),
                    parse_slowly(line).as_ref(),
                    "{}",
                    path.display()
                );
                lines += 1;
            }
        }
        assert!(lines >= 30, "only {lines} captured lines");
    }
}
