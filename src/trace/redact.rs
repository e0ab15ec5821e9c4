//! Privacy masking of the application headers that trace messages carry. Real traffic
//! (`nats-trace listen`) brings real headers — `Authorization`, cookies, API keys, session
//! ids — and every server copies them into `request.header` of its trace message. A
//! [`Redactor`] replaces the values of sensitive headers with [`MASK`] in a parsed trace
//! message (what the tree and JSON show) and in its JSON text (what `--raw` and `--save`
//! write). The header names stay, so that one can still see that a header was present.
//!
//! A name is sensitive when it is one of [`SENSITIVE_NAMES`], or contains one of
//! [`SENSITIVE_PARTS`], or was named with `--redact-header`; all case-insensitive.
//! `--show-headers` turns masking off.

use compact_str::CompactString;
use serde_json::Value;

use crate::trace::event::{Headers, TraceMessage, TraceRequest};

/// What a masked value is replaced with.
pub const MASK: &str = "[redacted]";

/// Header names whose values are always masked (compared case-insensitively).
pub const SENSITIVE_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amz-security-token",
    "x-forwarded-authorization",
    "nats-credentials",
];

/// Parts of a header name that make it sensitive (compared case-insensitively): any name
/// containing one of them is masked (`X-Session-Id`, `My-Secret`, `Refresh-Token`, …).
pub const SENSITIVE_PARTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "session",
    "credential",
    "cookie",
    "api-key",
    "api_key",
    "apikey",
    "private-key",
    "signature",
];

/// Masks sensitive header values; a no-op when masking is off (`--show-headers`).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// `--show-headers`: mask nothing.
    show_headers: bool,
    /// `--redact-header` names, lower-cased.
    extra: Vec<String>,
}

impl Redactor {
    /// A redactor masking the default list and `extra` names; nothing when `show_headers`.
    pub fn new(show_headers: bool, extra: &[String]) -> Redactor {
        Redactor {
            show_headers,
            extra: extra
                .iter()
                .map(|n| n.trim().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether the values of header `name` are masked.
    pub fn is_sensitive(&self, name: &str) -> bool {
        if self.show_headers {
            return false;
        }
        let lower = name.to_ascii_lowercase();
        SENSITIVE_NAMES.contains(&lower.as_str())
            || SENSITIVE_PARTS.iter().any(|part| lower.contains(part))
            || self.extra.contains(&lower)
    }

    /// Masks the sensitive header values of `trace`; true when it changed anything.
    pub fn redact_message(&self, trace: &mut TraceMessage) -> bool {
        if self.show_headers || !self.has_sensitive(trace.request.headers()) {
            return false;
        }
        let masked = Headers(
            trace
                .request
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = if self.is_sensitive(name) { MASK } else { value };
                    (CompactString::from(name), CompactString::from(value))
                })
                .collect(),
        );
        trace.request = TraceRequest::new(masked, trace.request.msg_size);
        true
    }

    /// The trace message's JSON text with its sensitive `request.header` values masked; the
    /// text unchanged when it has none. Text that is not a JSON object is returned as is
    /// (it was parsed before, so that does not happen).
    pub fn redact_json(&self, json: &str) -> String {
        let Ok(mut value) = serde_json::from_str::<Value>(json) else {
            return json.to_string();
        };
        let Some(header) = value
            .get_mut("request")
            .and_then(|r| r.get_mut("header"))
            .and_then(Value::as_object_mut)
        else {
            return json.to_string();
        };
        for (name, values) in header.iter_mut() {
            if self.is_sensitive(name) {
                mask_values(values);
            }
        }
        value.to_string()
    }

    fn has_sensitive(&self, headers: &Headers) -> bool {
        headers.iter().any(|(name, _)| self.is_sensitive(name))
    }
}

/// Replaces every value (a list of strings, as servers write headers, or one string).
fn mask_values(values: &mut Value) {
    match values {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| *v = Value::String(MASK.to_string())),
        other => *other = Value::String(MASK.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_with(headers: &[(&str, &str)]) -> TraceMessage {
        let header: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(vec![v.to_string()])))
            .collect();
        let json = serde_json::json!({
            "server": {"name": "n1", "id": "X"},
            "request": {"header": header, "msgsize": 10},
            "events": []
        });
        TraceMessage::from_json(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn default_names_and_parts_are_sensitive_case_insensitively() {
        let r = Redactor::new(false, &[]);
        for name in [
            "Authorization",
            "COOKIE",
            "x-api-key",
            "X-Session-Id",
            "Refresh-Token",
            "My-Secret",
        ] {
            assert!(r.is_sensitive(name), "{name}");
        }
        for name in ["traceparent", "Nats-Trace-Hop", "Content-Type", "X-Order"] {
            assert!(!r.is_sensitive(name), "{name}");
        }
    }

    #[test]
    fn extra_names_and_show_headers() {
        let r = Redactor::new(false, &["X-Customer".to_string()]);
        assert!(r.is_sensitive("x-customer"));
        let off = Redactor::new(true, &[]);
        assert!(!off.is_sensitive("Authorization"));
    }

    #[test]
    fn message_and_json_are_masked_names_kept() {
        let r = Redactor::new(false, &["X-Customer".to_string()]);
        let mut trace = trace_with(&[
            ("Authorization", "Bearer abc"),
            ("X-Customer", "alice"),
            ("Nats-Trace-Hop", "1"),
        ]);
        assert!(r.redact_message(&mut trace));
        assert_eq!(trace.request.header_value("Authorization"), Some(MASK));
        assert_eq!(trace.request.header_value("X-Customer"), Some(MASK));
        assert_eq!(trace.hop(), "1");
        let json = r#"{"request":{"header":{"Authorization":["Bearer abc"],"X-Order":["7"]},"msgsize":1}}"#;
        let masked = r.redact_json(json);
        assert!(!masked.contains("Bearer abc"));
        assert!(masked.contains("\"X-Order\":[\"7\"]"));
        assert!(masked.contains("Authorization"));
    }
}
