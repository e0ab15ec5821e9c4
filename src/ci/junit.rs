//! JUnit XML for `nats-trace check --junit FILE`: one testsuite, one testcase per suite case,
//! a failure per failed or incomplete case, an error per case that could not run, and the
//! rendered tree in system-out — the shape CI systems import.

use std::fmt::Write as _;
use std::time::Duration;

/// How one case of a check ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "status", content = "detail")]
pub(crate) enum CaseStatus {
    Pass,
    /// Expectations that failed, one line each.
    Fail(Vec<String>),
    /// Why the trace is incomplete.
    Incomplete(String),
    /// Why the case could not run.
    Error(String),
}

/// The result of one case.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CaseResult {
    pub name: String,
    pub subject: String,
    #[serde(flatten)]
    pub status: CaseStatus,
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// The rendered tree, without colors (empty when the case did not run).
    pub tree: String,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 cannot hold.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c as u32, 0xfffe | 0xffff) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML document for a suite run.
pub(crate) fn to_xml(suite: &str, results: &[CaseResult]) -> String {
    let count = |f: fn(&CaseStatus) -> bool| results.iter().filter(|r| f(&r.status)).count();
    let failures = count(|s| matches!(s, CaseStatus::Fail(_) | CaseStatus::Incomplete(_)));
    let errors = count(|s| matches!(s, CaseStatus::Error(_)));
    let total: f64 = results.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"nats-trace\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.6}\">",
        results.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.6}\">",
        escape(suite),
        results.len()
    );
    for result in results {
        let _ = write!(
            xml,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.6}\">",
            escape(&result.name),
            escape(&result.subject),
            result.elapsed.as_secs_f64()
        );
        match &result.status {
            CaseStatus::Pass => {}
            CaseStatus::Fail(failures) => {
                let _ = write!(
                    xml,
                    "\n      <failure message=\"{}\" type=\"expectation\">{}</failure>",
                    escape(&format!("{} expectation(s) failed", failures.len())),
                    escape(&failures.join("\n"))
                );
            }
            CaseStatus::Incomplete(why) => {
                let _ = write!(
                    xml,
                    "\n      <failure message=\"{}\" type=\"incomplete\">{}</failure>",
                    escape(why),
                    escape(why)
                );
            }
            CaseStatus::Error(why) => {
                let _ = write!(
                    xml,
                    "\n      <error message=\"{}\" type=\"error\">{}</error>",
                    escape(why),
                    escape(why)
                );
            }
        }
        if !result.tree.is_empty() {
            let _ = write!(
                xml,
                "\n      <system-out>{}</system-out>",
                escape(&result.tree)
            );
        }
        if !matches!(result.status, CaseStatus::Pass) || !result.tree.is_empty() {
            xml.push_str("\n    ");
        }
        xml.push_str("</testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b & \"c\"\x1b"), "a&lt;b &amp; &quot;c&quot;\\x1b");
    }

    #[test]
    fn counts_failures_and_errors() {
        let result = |name: &str, status| CaseResult {
            name: name.into(),
            subject: "x".into(),
            status,
            elapsed: Duration::from_millis(3),
            tree: String::new(),
        };
        let xml = to_xml(
            "routes",
            &[
                result("ok", CaseStatus::Pass),
                result(
                    "bad",
                    CaseStatus::Fail(vec!["expected servers=2, saw 1 server(s)".into()]),
                ),
                result("gone", CaseStatus::Incomplete("hop 1 missing".into())),
                result("down", CaseStatus::Error("cannot connect".into())),
            ],
        );
        assert!(
            xml.contains("tests=\"4\" failures=\"2\" errors=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"ok\" classname=\"x\" time=\"0.003000\"></testcase>"),
            "{xml}"
        );
        assert!(xml.contains("<error message=\"cannot connect\""), "{xml}");
    }
}
