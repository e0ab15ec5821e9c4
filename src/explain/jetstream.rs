//! Why a JetStream stream did not store the message, from JSZ (streams with their config
//! and state): interest retention without consumers, limits of a stream that rejected it,
//! and an expected-stream mismatch (the message's `Nats-Expected-Stream` names another
//! stream than the one whose subjects hold it: which stream that is, and what the named
//! one holds, if it exists). One JSZ request for all findings.

use serde_json::Value;

use super::Explanations;
use super::finding::{Asker, MAX_FINDINGS, line};
use crate::network::monitor::{Endpoint, Opt, Request};
use crate::network::{list, text};
use crate::subject::subject_matches;
use crate::trace::analysis::{JetStreamAction, StreamAction};

/// The header naming the stream a publisher expects its message in.
const EXPECTED_STREAM_HEADER: &str = "Nats-Expected-Stream";

/// The most streams or subjects named in one line.
const MAX_NAMED: usize = 4;

/// One JetStream finding, read from the trace.
struct Rejection {
    server: String,
    stream: String,
    action: JetStreamAction,
    error: String,
    subject: String,
    /// `Nats-Expected-Stream` of the message, when set.
    expected: Option<String>,
}

impl Asker<'_> {
    /// JSZ of each stream that did not store the message.
    pub(super) async fn jetstream(&self, ex: &mut Explanations) {
        let rejections: Vec<Rejection> = self
            .report
            .analysis()
            .jetstream()
            .iter()
            .filter(|js| js.action != JetStreamAction::Stored)
            .take(MAX_FINDINGS)
            .map(|action| self.rejection(action))
            .collect();
        if rejections.is_empty() {
            return;
        }
        let request = Request::new(Endpoint::Jsz)
            .flag(Opt::Accounts)
            .flag(Opt::Streams)
            .flag(Opt::Consumers)
            .flag(Opt::Config);
        let replies = self.monitor.ask(&request).await;
        let data = Self::data(&replies, ex);
        let streams: Vec<&Value> = data
            .iter()
            .flat_map(|(_, jsz)| list(jsz, "account_details"))
            .flat_map(|a| list(a, "stream_detail"))
            .collect();
        for rejection in rejections {
            let text = match &rejection.expected {
                Some(expected) if is_mismatch(&rejection.error) => {
                    mismatch_words(&rejection, expected, &streams)
                }
                _ => stream_words(&rejection, find_stream(&streams, &rejection.stream)),
            };
            ex.lines.push(line(
                "jetstream",
                Endpoint::Jsz,
                Some(&rejection.server),
                text,
            ));
        }
    }

    fn rejection(&self, action: &StreamAction) -> Rejection {
        let graph = &self.report.graph;
        let node = graph.node(action.node);
        let event = action.event(graph);
        let expected = node
            .trace
            .as_ref()
            .and_then(|t| t.request.header_value(EXPECTED_STREAM_HEADER))
            .map(|s| s.chars().take(256).collect());
        Rejection {
            server: node.server_name().to_string(),
            stream: action.stream.to_string(),
            action: action.action,
            error: event.map(|js| js.error.to_string()).unwrap_or_default(),
            subject: event
                .map(|js| js.subject.to_string())
                .filter(|s| !s.is_empty())
                .or_else(|| Some(node.trace.as_ref()?.ingress()?.subject.to_string()))
                .unwrap_or_else(|| self.report.subject.clone()),
            expected,
        }
    }
}

/// The server's error for a `Nats-Expected-Stream` that names another stream
/// ("expected stream does not match").
fn is_mismatch(error: &str) -> bool {
    error.to_ascii_lowercase().contains("expected stream")
}

/// The stream called `name` in the JSZ replies.
fn find_stream<'v>(streams: &[&'v Value], name: &str) -> Option<&'v Value> {
    streams
        .iter()
        .copied()
        .find(|s| text(s, "name").as_deref() == Some(name))
}

/// A stream's configured subjects, `a, b` (at most [`MAX_NAMED`]).
fn subjects_of(stream: &Value) -> String {
    let subjects: Vec<String> = stream
        .get("config")
        .map(|c| list(c, "subjects"))
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .take(MAX_NAMED)
        .map(|s| format!("`{}`", s.chars().take(256).collect::<String>()))
        .collect();
    if subjects.is_empty() {
        "no subjects".to_string()
    } else {
        subjects.join(", ")
    }
}

/// The expected-stream mismatch: which stream holds the subject, and what the expected
/// one is.
fn mismatch_words(rejection: &Rejection, expected: &str, streams: &[&Value]) -> String {
    let subject = &rejection.subject;
    let mut holders: Vec<String> = streams
        .iter()
        .filter(|s| {
            s.get("config")
                .map(|c| list(c, "subjects"))
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|p| subject_matches(p, subject))
        })
        .filter_map(|s| {
            Some(format!(
                "{} (subjects {})",
                text(s, "name")?,
                subjects_of(s)
            ))
        })
        .take(MAX_NAMED)
        .collect();
    holders.dedup();
    let held = if holders.is_empty() {
        format!("the stream {} that took it", rejection.stream)
    } else {
        format!("stream {}", holders.join(", "))
    };
    let named = match find_stream(streams, expected) {
        Some(stream) => format!("stream {expected} exists but holds {}", subjects_of(stream)),
        None => format!("no stream {expected} exists"),
    };
    format!(
        "the message expects stream {expected} (Nats-Expected-Stream), but `{subject}` is held by {held}, which refused it ({}); {named}",
        rejection.error
    )
}

fn stream_words(rejection: &Rejection, stream: Option<&Value>) -> String {
    let name = &rejection.stream;
    let config = stream.and_then(|s| s.get("config"));
    let retention = config
        .and_then(|c| text(c, "retention"))
        .unwrap_or_default();
    let consumers = stream
        .and_then(|s| s.get("state"))
        .and_then(|s| s.get("consumer_count"))
        .and_then(Value::as_u64);
    let limits = config
        .map(|c| {
            let number = |k: &str| c.get(k).and_then(Value::as_i64).unwrap_or(-1);
            format!(
                "max_msgs {}, max_bytes {}, max_msg_size {}, discard {}",
                number("max_msgs"),
                number("max_bytes"),
                number("max_msg_size"),
                text(c, "discard").unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "its configuration was not found".to_string());
    match rejection.action {
        JetStreamAction::NoInterest => format!(
            "stream {name} has {retention} retention and {} consumer(s): with no consumer interested, it keeps nothing",
            consumers.map_or_else(|| "no known".to_string(), |c| c.to_string())
        ),
        _ => format!(
            "stream {name} rejected the message ({}); limits: {limits}",
            rejection.error
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(expected: Option<&str>) -> Rejection {
        Rejection {
            server: "s1".to_string(),
            stream: "ORDERS".to_string(),
            action: JetStreamAction::Rejected,
            error: "expected stream does not match".to_string(),
            subject: "js.x".to_string(),
            expected: expected.map(str::to_string),
        }
    }

    #[test]
    fn a_mismatch_names_the_holding_and_the_expected_stream() {
        let orders = serde_json::json!({"name": "ORDERS", "config": {"subjects": ["js.>"]}});
        let other = serde_json::json!({"name": "OTHER", "config": {"subjects": ["other.>"]}});
        let text = mismatch_words(&rejection(Some("OTHER")), "OTHER", &[&orders, &other]);
        assert_eq!(
            text,
            "the message expects stream OTHER (Nats-Expected-Stream), but `js.x` is held by stream ORDERS (subjects `js.>`), which refused it (expected stream does not match); stream OTHER exists but holds `other.>`"
        );
        let text = mismatch_words(&rejection(Some("GONE")), "GONE", &[&orders]);
        assert!(text.ends_with("; no stream GONE exists"), "{text}");
        assert!(is_mismatch("Expected stream does not match"));
        assert!(!is_mismatch("maximum messages exceeded"));
    }
}
