//! JUnit XML for `nats-trace check --junit FILE`, written with `quick-junit`: one testsuite,
//! one testcase per suite case, a failure per failed or incomplete case, an error per case
//! that could not run, and the rendered tree in system-out — the shape CI systems import.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

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
    /// The route section of `check --html` (when asked for and the case ran).
    #[serde(skip)]
    pub route_html: Option<String>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The JUnit XML document for a suite run, written by `quick-junit`: one testsuite named
/// `suite`, one testcase per case (named after the case, classed by its subject), a
/// `failure` of type `expectation` or `incomplete`, or an `error`, and the tree in
/// `system-out`. Text XML cannot hold (control characters) is dropped.
pub(crate) fn to_xml(suite: &str, results: &[CaseResult]) -> Result<String, String> {
    let total: Duration = results.iter().map(|r| r.elapsed).sum();
    let mut test_suite = TestSuite::new(suite);
    test_suite.set_time(total);
    test_suite.add_test_cases(results.iter().map(test_case));
    let mut report = Report::new("nats-trace");
    report.set_time(total);
    report.add_test_suite(test_suite);
    report.to_string().map_err(|e| e.to_string())
}

/// The testcase of one result.
fn test_case(result: &CaseResult) -> TestCase {
    let mut case = TestCase::new(result.name.as_str(), test_case_status(&result.status));
    case.set_classname(result.subject.as_str())
        .set_time(result.elapsed);
    if !result.tree.is_empty() {
        case.set_system_out(result.tree.as_str());
    }
    case
}

/// Pass, or a failure (`expectation`, `incomplete`) or error, with its message and text.
fn test_case_status(status: &CaseStatus) -> TestCaseStatus {
    let (kind, kind_name, message, description) = match status {
        CaseStatus::Pass => return TestCaseStatus::success(),
        CaseStatus::Fail(failures) => (
            NonSuccessKind::Failure,
            "expectation",
            format!("{} expectation(s) failed", failures.len()),
            failures.join("\n"),
        ),
        CaseStatus::Incomplete(why) => (
            NonSuccessKind::Failure,
            "incomplete",
            why.clone(),
            why.clone(),
        ),
        CaseStatus::Error(why) => (NonSuccessKind::Error, "error", why.clone(), why.clone()),
    };
    let mut status = TestCaseStatus::non_success(kind);
    status
        .set_type(kind_name)
        .set_message(message)
        .set_description(description);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, status: CaseStatus) -> CaseResult {
        CaseResult {
            name: name.into(),
            subject: "x".into(),
            status,
            elapsed: Duration::from_millis(3),
            tree: String::new(),
            route_html: None,
        }
    }

    #[test]
    fn counts_failures_and_errors() {
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
        )
        .expect("serializes");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .expect("testsuite");
        assert_eq!(suite.attribute("name"), Some("routes"));
        assert_eq!(suite.attribute("tests"), Some("4"));
        assert_eq!(suite.attribute("failures"), Some("2"));
        assert_eq!(suite.attribute("errors"), Some("1"));
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases[0].attribute("classname"), Some("x"));
        assert_eq!(cases[0].attribute("time"), Some("0.003"));
        assert!(cases[0].children().all(|n| !n.is_element()), "{xml}");
        let child = |i: usize, tag: &str| {
            cases[i]
                .children()
                .find(|n| n.has_tag_name(tag))
                .unwrap_or_else(|| panic!("case {i} has no {tag}: {xml}"))
        };
        assert_eq!(child(1, "failure").attribute("type"), Some("expectation"));
        assert_eq!(
            child(1, "failure").attribute("message"),
            Some("1 expectation(s) failed")
        );
        assert_eq!(child(2, "failure").attribute("type"), Some("incomplete"));
        assert_eq!(
            child(3, "error").attribute("message"),
            Some("cannot connect")
        );
    }

    #[test]
    fn markup_and_control_characters_stay_well_formed() {
        let mut tricky = result("a<b & \"c\"\x1b", CaseStatus::Pass);
        tricky.tree = "<tree> & \x07bell".into();
        let xml = to_xml("s", &[tricky]).expect("serializes");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase"))
            .expect("testcase");
        assert!(
            case.attribute("name")
                .is_some_and(|n| n.starts_with("a<b & \"c\"")),
            "{xml}"
        );
        let out = case
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text())
            .expect("system-out");
        assert!(out.starts_with("<tree> & "), "{out:?}");
    }
}
