//! `check --html FILE`: the suite's results as one self-contained page, drawn by
//! `render::html` — the summary, then per case its verdict, its failures and its route
//! (graph, timeline, details, counts and tree, as `--format html` shows one trace).

use std::path::Path;

use crate::ci::junit::{CaseResult, CaseStatus};
use crate::error::Error;
use crate::render::TraceReport;
use crate::render::html::{CaseSection, HtmlRenderer, check_page};

/// The route section of the case at `index` (its element ids prefixed so that they stay
/// unique on the page).
pub(crate) fn route(report: &TraceReport, index: usize) -> String {
    HtmlRenderer::default().route_fragment(report, &format!("c{index}-"), 3)
}

/// Writes the report of `results` to `path`.
pub(crate) fn write_report(
    path: &Path,
    suite: &Path,
    summary: &str,
    results: &[CaseResult],
) -> Result<(), Error> {
    let cases: Vec<CaseSection<'_>> = results.iter().map(section).collect();
    let page = check_page(&suite.display().to_string(), summary, &cases);
    std::fs::write(path, page).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "cannot write {}: {e}",
            path.display()
        )))
    })
}

fn section(result: &CaseResult) -> CaseSection<'_> {
    let (status, detail) = match &result.status {
        CaseStatus::Pass => ("PASS", Vec::new()),
        CaseStatus::Fail(failures) => ("FAIL", failures.clone()),
        CaseStatus::Incomplete(why) => ("INCOMPLETE", vec![why.clone()]),
        CaseStatus::Error(why) => ("ERROR", vec![why.clone()]),
    };
    CaseSection {
        name: &result.name,
        subject: &result.subject,
        status,
        detail,
        elapsed: result.elapsed,
        route: result.route_html.as_deref(),
    }
}
