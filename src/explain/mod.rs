//! `trace --explain` (and `explain = true` in check cases): after a trace, one explanation
//! line per finding of the analysis, each naming the monitoring endpoint it came from. The
//! analysis decides what the findings are ([`crate::trace::analysis`]); this module only asks
//! the endpoints about them ([`finding`]) and words the answers. A trace without findings
//! asks nothing. Without system credentials only CONNZ of the own account answers, and one
//! note says which findings need more.

mod finding;
mod jetstream;
mod missing;

use std::io::{self, Write};

use serde::Serialize;

use crate::network::monitor::Monitor;
use crate::trace::report::TraceReport;

/// One explanation: the finding it explains, the endpoint it came from, the server it is
/// about (when one), and the words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// `no_interest`, `missing`, `boundary`, `gateway` or `jetstream`.
    pub finding: &'static str,
    /// `SUBSZ`, `CONNZ`, `VARZ`, `LEAFZ`, `ACCOUNTZ`, `GATEWAYZ` or `JSZ`.
    pub endpoint: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub text: String,
}

/// Every explanation of a trace, and what could not be explained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Explanations {
    pub lines: Vec<Explanation>,
    /// One line each: endpoints that failed, findings that need system credentials.
    pub notes: Vec<String>,
}

impl Explanations {
    /// True when the trace had nothing to explain.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.notes.is_empty()
    }

    /// The `Explanation` section of the tree.
    pub fn write_tree(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.lines.is_empty() {
            return Ok(());
        }
        writeln!(out, "\nExplanation")?;
        for line in &self.lines {
            writeln!(
                out,
                "  [{}] {}",
                line.endpoint,
                crate::text::sanitize(&line.text)
            )?;
        }
        Ok(())
    }

    /// The lines of a check case: `endpoint: text`.
    pub fn case_lines(&self) -> Vec<String> {
        self.lines
            .iter()
            .map(|l| format!("[{}] {}", l.endpoint, l.text))
            .chain(self.notes.iter().cloned())
            .collect()
    }
}

/// True when the analysis of `report` has anything to explain (no interest, a missing
/// server, an account boundary, a JetStream stream that did not store it).
pub fn has_findings(report: &TraceReport) -> bool {
    let analysis = report.analysis();
    !analysis.no_interest().is_empty()
        || analysis.missing() > 0
        || !analysis.boundaries().is_empty()
        || analysis
            .jetstream()
            .iter()
            .any(|js| js.action != crate::trace::analysis::JetStreamAction::Stored)
}

/// Explains every finding of `report` through `monitor` (already asked VARZ, see
/// [`crate::network::ask_varz`]).
pub async fn explain(
    report: &TraceReport,
    monitor: &Monitor,
    varz: &[crate::network::monitor::Reply],
) -> Explanations {
    let mut explanations = Explanations::default();
    let ask = finding::Asker {
        monitor,
        varz,
        report,
    };
    if monitor.is_privileged() {
        ask.no_interest(&mut explanations).await;
        ask.missing(&mut explanations).await;
        ask.boundaries(&mut explanations).await;
        ask.jetstream(&mut explanations).await;
    } else {
        ask.own_account(&mut explanations).await;
        explanations.notes.push(String::from(
            "only your own account's connections were asked (CONNZ); explaining other accounts, missing servers, account boundaries, gateways and JetStream needs system credentials: --system-context NAME, --system-creds FILE, or --monitor URL"
        ));
    }
    explanations
}

/// The explanations of `report`: none without findings; a note when the endpoints cannot
/// be reached.
pub async fn explain_report(
    connection: &crate::connect::options::ConnectionOptions,
    access: &crate::network::Access,
    report: &TraceReport,
    log: &crate::verbose::Verbose,
) -> Explanations {
    if !has_findings(report) {
        return Explanations::default();
    }
    let mut monitor = match crate::network::open(connection, access, log).await {
        Ok(monitor) => monitor,
        Err(e) => {
            return note(format!(
                "--explain: cannot reach the monitoring endpoints: {e}"
            ));
        }
    };
    let varz = crate::network::ask_varz(&mut monitor).await;
    if monitor.is_privileged() && !varz.iter().any(|r| r.data.is_ok()) {
        let why = varz
            .iter()
            .find_map(|r| r.data().err())
            .unwrap_or_else(|| "no server answered".to_string());
        return note(format!("--explain: no monitoring endpoint answered: {why}"));
    }
    explain(report, &monitor, &varz).await
}

fn note(text: String) -> Explanations {
    Explanations {
        lines: Vec::new(),
        notes: vec![text],
    }
}
