//! `--format html`: one self-contained page per trace (inline CSS, script and SVG; no URL of
//! any kind, and a Content-Security-Policy that lets nothing load or leave). The page shows
//! the route graph (`graph.rs`, drawn from `diagram.rs`'s boxes, laid out here), the
//! waterfall timeline (`timeline.rs`), details of each server and client (embedded as JSON,
//! shown by the script on hover, click, Enter or Space), the egress counts, the errors and
//! the text tree. Everything that came from the network is HTML-escaped; the JSON in the page
//! is escaped for `<script>`; sensitive header values are masked as `listen` masks them.
//! `check --html` puts a route section per case on one page ([`check_page`]).

mod graph;
mod timeline;

use std::collections::HashMap;
use std::io;

use serde_json::{Value, json};

use super::diagram::{Diagram, Shape};
use super::style::{ERROR_COLOR, LEGEND_KINDS, MISSING_COLOR, WARNING_COLOR, kind_style};
use super::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use crate::trace::event::{ConnKind, Event, TraceMessage};
use crate::trace::redact::Redactor;
use crate::trace::stitch::NodeIndex;

/// The page's Content-Security-Policy: nothing loads, nothing leaves.
pub(crate) const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

const CSS: &str = include_str!("html/page.css");
const SCRIPT: &str = include_str!("html/page.js");

/// Renders a trace as one HTML page.
#[derive(Debug, Clone, Default)]
pub struct HtmlRenderer {
    redactor: Redactor,
}

impl HtmlRenderer {
    /// A renderer masking header values with `redactor` (the default masks the usual
    /// sensitive names).
    pub fn new(redactor: Redactor) -> HtmlRenderer {
        HtmlRenderer { redactor }
    }

    /// The whole page of `report`.
    pub fn page(&self, report: &TraceReport) -> String {
        let title = format!("nats-trace: {}", report.subject);
        let mut body = String::with_capacity(4096 + report.graph.graph.node_count() * 2500);
        body.push_str("<main class=\"trace\">");
        body.push_str(&self.header(report));
        body.push_str(&self.route_fragment(report, "", 2));
        body.push_str("</main>");
        page(&title, &body)
    }

    /// The heading and the one-line verdict of a single trace.
    fn header(&self, report: &TraceReport) -> String {
        let mut h = format!(
            "<header><h1>Trace of <code>{}</code></h1><p class=\"verdict\">",
            esc(&report.subject)
        );
        h.push_str(&badges(report));
        if let Some(tp) = &report.traceparent {
            h.push_str(&format!(
                " <span>traceparent <code>{}</code></span>",
                esc(tp)
            ));
        }
        if let Some(elapsed) = report.elapsed {
            h.push_str(&format!(" <span>collected in {elapsed:.1?}</span>"));
        }
        h.push_str("</p></header>");
        h
    }

    /// Everything about one trace: graph, timeline, details, counts, errors, tree. `prefix`
    /// keeps ids unique on a page of several; `level` is the heading level of the sections.
    pub(crate) fn route_fragment(&self, report: &TraceReport, prefix: &str, level: u8) -> String {
        let d = Diagram::new(report);
        let layout = graph::Layout::of(&d);
        let ids: HashMap<NodeIndex, String> = d
            .boxes
            .iter()
            .filter_map(|b| match b.source {
                Some((ix, None)) => Some((ix, b.id.clone())),
                _ => None,
            })
            .collect();
        let description = describe(report);
        let svg = graph::svg(&d, &layout, prefix, &description);
        let waterfall = timeline::waterfall(report, &ids, prefix);
        let data = self.details(report, &d, prefix);
        let mut out = String::with_capacity(svg.len() + waterfall.svg.len() + 8192);
        let h = format!("h{level}");
        out.push_str(&format!(
            "<section class=\"graph-section\"><{h}>Route</{h}>{}<div class=\"scroll\" tabindex=\"0\" aria-label=\"route graph, scrollable\">{svg}</div>{}</section>",
            legend(),
            route_list(&d)
        ));
        out.push_str(&format!(
            "<div class=\"split\"><section class=\"timeline-section\"><{h}>Timeline</{h}>{}<div class=\"scroll\" tabindex=\"0\" aria-label=\"timeline, scrollable\">{}</div></section>",
            waterfall
                .skew_note
                .map(|n| format!("<p class=\"note clock\" role=\"note\">⚠ {}</p>", esc(&n)))
                .unwrap_or_default(),
            waterfall.svg
        ));
        out.push_str(&format!(
            "<section class=\"details-section\"><{h}>Details</{h}><div class=\"detail-body\" aria-live=\"polite\"><p>Hover over or select (Tab, then Enter) a server or client in the graph or the timeline.</p></div></section></div>"
        ));
        out.push_str(&counts_and_errors(report, &h));
        out.push_str(&tree_section(report, &h));
        out.push_str("<script type=\"application/json\" class=\"nt-data\">");
        out.push_str(&script_json(&data));
        out.push_str("</script>");
        out
    }

    /// The details of every box that stands for a server or an egress, by element id.
    fn details(&self, report: &TraceReport, d: &Diagram, prefix: &str) -> Value {
        let mut map = serde_json::Map::with_capacity(d.boxes.len());
        for b in &d.boxes {
            let detail = match b.source {
                Some((ix, None)) => self.server_details(report, ix),
                Some((ix, Some(index))) => egress_details(report, ix, index, b.shape),
                None => json!({ "t": b.lines.join(" "), "r": [] }),
            };
            map.insert(format!("{prefix}{}", b.id), detail);
        }
        Value::Object(map)
    }

    fn server_details(&self, report: &TraceReport, ix: NodeIndex) -> Value {
        let node = report.graph.node(ix);
        let outcome = report.analysis().node(ix).outcome.name();
        let Some(trace) = &node.trace else {
            let rows = vec![
                pair("Hop", &node.hop),
                pair("Missing", &node.describe_missing()),
            ];
            return json!({ "t": format!("missing server {}", node.server_name()), "r": rows });
        };
        let s = &trace.server;
        let mut rows = vec![pair("Server", &s.name), pair("Server id", &s.id)];
        for (k, v) in [
            ("Host", s.host.as_str()),
            ("Cluster", s.cluster.as_str()),
            ("Domain", s.domain.as_str()),
            ("Version", s.version.as_str()),
            ("Hop", node.hop.as_str()),
        ] {
            if !v.is_empty() {
                rows.push(pair(k, v));
            }
        }
        rows.push(pair("Outcome", outcome));
        rows.extend(ingress_rows(trace));
        rows.push(pair(
            "Message size",
            &format!("{} bytes", trace.request.msg_size),
        ));
        rows.push(pair("Egresses", &node.egress_count().to_string()));
        rows.push(pair(
            "Deliveries",
            &report.analysis().node(ix).delivered().to_string(),
        ));
        let headers: Vec<Value> = trace
            .request
            .headers()
            .iter()
            .map(|(k, v)| {
                let v = if self.redactor.is_sensitive(k) {
                    crate::trace::redact::MASK
                } else {
                    v
                };
                pair(k, v)
            })
            .collect();
        json!({ "t": format!("server {}", s.name), "r": rows, "h": headers, "e": server_errors(trace) })
    }
}

impl Renderer for HtmlRenderer {
    fn render(&self, report: &TraceReport, out: &mut dyn io::Write) -> io::Result<()> {
        out.write_all(self.page(report).as_bytes())
    }
}

/// The ingress rows of a server's details.
fn ingress_rows(trace: &TraceMessage) -> Vec<Value> {
    let Some(i) = trace.ingress() else {
        return Vec::new();
    };
    let mut rows = vec![
        pair(
            "Ingress",
            &format!(
                "{} {}:{} {}",
                i.kind.name(),
                i.kind.id_label(),
                i.cid,
                i.name
            ),
        ),
        pair("Account", &i.account),
        pair("Subject", &i.subject),
        pair("Received", &i.ts.raw),
    ];
    if !i.error.is_empty() {
        rows.push(pair("Ingress error", &i.error));
    }
    rows
}

/// Every error a server reported, as `kind: text`.
fn server_errors(trace: &TraceMessage) -> Vec<String> {
    trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Ingress(i) if !i.error.is_empty() => Some(format!("ingress: {}", i.error)),
            Event::Egress(g) if !g.error.is_empty() => Some(format!(
                "egress to {} {}: {}",
                g.kind.name(),
                g.name,
                g.error
            )),
            Event::JetStream(j) if !j.error.is_empty() => {
                Some(format!("JetStream {}: {}", j.stream, j.error))
            }
            _ => None,
        })
        .collect()
}

/// The details of a client (or an unreached server) reached by an egress.
fn egress_details(report: &TraceReport, ix: NodeIndex, index: usize, shape: Shape) -> Value {
    let node = report.graph.node(ix);
    let Some(entry) = node.egress(index) else {
        return json!({ "t": "egress", "r": [] });
    };
    let e = entry.egress;
    let mut rows = vec![
        pair("Kind", e.kind.name()),
        pair(
            "Connection",
            &format!("{}:{} {}", e.kind.id_label(), e.cid, e.name),
        ),
        pair("From server", node.server_name()),
    ];
    for (k, v) in [
        ("Subscription", e.subscription.as_str()),
        ("Queue", e.queue.as_str()),
        ("Account", e.account.as_str()),
        ("Hop", e.hop.as_str()),
        ("Sent", e.ts.raw.as_str()),
    ] {
        if !v.is_empty() {
            rows.push(pair(k, v));
        }
    }
    let title = match shape {
        Shape::Unreached => format!("server {} (not reached)", e.name),
        _ => format!("{} {}", e.kind.name().to_lowercase(), e.name),
    };
    let errors: Vec<&str> = [e.error.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    json!({ "t": title, "r": rows, "e": errors })
}

fn pair(k: &str, v: &str) -> Value {
    json!([k, v])
}

/// The badges of the verdict line: complete or not, servers, deliveries, errors.
fn badges(report: &TraceReport) -> String {
    let analysis = report.analysis();
    let graph = &report.graph;
    let mut out = if report.complete {
        "<span class=\"badge ok\">complete</span>".to_string()
    } else {
        "<span class=\"badge bad\">incomplete</span>".to_string()
    };
    let servers = graph.graph.node_count() - graph.missing().count();
    out.push_str(&format!(
        " <span class=\"badge\" data-servers=\"{servers}\">{servers} server(s)</span> <span class=\"badge\" data-deliveries=\"{n}\">{n} deliver{ies}</span>",
        n = analysis.deliveries().len(),
        ies = if analysis.deliveries().len() == 1 { "y" } else { "ies" }
    ));
    let missing = graph.missing_servers();
    if missing > 0 {
        out.push_str(&format!(
            " <span class=\"badge bad\">{missing} missing</span>"
        ));
    }
    let errors = graph.error_count();
    if errors > 0 {
        out.push_str(&format!(
            " <span class=\"badge bad\">{errors} error(s)</span>"
        ));
    }
    out
}

/// The graph's `<desc>`: what is on it, in a sentence.
fn describe(report: &TraceReport) -> String {
    let analysis = report.analysis();
    format!(
        "Route of {} through {} server(s), {} delivery(ies), {} error(s), {} missing; the list after the graph says the same in text.",
        report.subject,
        report.graph.graph.node_count(),
        analysis.deliveries().len(),
        report.graph.error_count(),
        report.graph.missing_servers()
    )
}

/// The legend: each connection kind's line, with the tree's arrow.
fn legend() -> String {
    let mut out = String::from("<ul class=\"legend\" aria-label=\"legend\">");
    for kind in LEGEND_KINDS {
        let style = kind_style(kind);
        let dash = if style.dot_line == "dotted" {
            " stroke-dasharray=\"3 4\""
        } else {
            ""
        };
        out.push_str(&format!(
            "<li><svg width=\"34\" height=\"10\" aria-hidden=\"true\"><line class=\"{}\" x1=\"0\" y1=\"5\" x2=\"34\" y2=\"5\" stroke-width=\"{}\"{dash}/></svg>{} <code>{}</code></li>",
            kind_class(kind),
            style.dot_penwidth.unwrap_or(1) + 1,
            kind.name(),
            esc(style.arrow)
        ));
    }
    out.push_str("<li><svg width=\"34\" height=\"10\" aria-hidden=\"true\"><line class=\"err\" x1=\"0\" y1=\"5\" x2=\"34\" y2=\"5\" stroke-width=\"2\"/></svg>Error <code>--X</code></li>");
    out.push_str("<li><svg width=\"34\" height=\"14\" aria-hidden=\"true\"><rect class=\"missing-key\" x=\"1\" y=\"1\" width=\"32\" height=\"12\" rx=\"3\"/></svg>Missing server</li></ul>");
    out
}

/// The route as a list, for screen readers (visually hidden).
fn route_list(d: &Diagram) -> String {
    let mut out = String::from("<ul class=\"sr-only\" aria-label=\"route as text\">");
    for edge in &d.edges {
        let name = |i: usize| d.boxes[i].lines.join(" ");
        out.push_str(&format!(
            "<li>{} {} to {} {}: {}{}</li>",
            graph::shape_words(d.boxes[edge.from].shape),
            esc(&name(edge.from)),
            graph::shape_words(d.boxes[edge.to].shape),
            esc(&name(edge.to)),
            esc(&edge.lines.join(", ")),
            if edge.error { " (error)" } else { "" }
        ));
    }
    out.push_str("</ul>");
    out
}

/// The egress counts and the errors.
fn counts_and_errors(report: &TraceReport, h: &str) -> String {
    let mut out = format!(
        "<div class=\"split\"><section class=\"counts-section\"><{h}>Egress counts</{h}><table class=\"counts\">"
    );
    for (kind, n) in report.graph.egress_counts() {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{kind}</th><td data-kind=\"{kind}\">{n}</td></tr>"
        ));
    }
    out.push_str("</table></section>");
    let errors = report.graph.errors();
    out.push_str(&format!(
        "<section class=\"errors-section\"><{h}>Errors</{h}>"
    ));
    if errors.is_empty() {
        out.push_str("<p>No server reported an error.</p>");
    } else {
        out.push_str("<ul class=\"errors\">");
        for e in errors {
            out.push_str(&format!(
                "<li><strong>{}</strong> (hop {}) {}: {}</li>",
                esc(&e.server),
                esc(if e.hop.is_empty() { "origin" } else { &e.hop }),
                e.kind,
                esc(&e.message)
            ));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section></div>");
    out
}

/// The text tree (as `--format tree` prints it, without colours), with a copy button.
fn tree_section(report: &TraceReport, h: &str) -> String {
    let mut tree = Vec::new();
    let text = match TreeRenderer::new(RenderOptions::default()).render(report, &mut tree) {
        Ok(()) => String::from_utf8_lossy(&tree).into_owned(),
        Err(e) => format!("(the tree could not be rendered: {e})"),
    };
    format!(
        "<section class=\"tree-section\"><{h}>Text tree</{h}><button type=\"button\" class=\"copy\">Copy the tree</button> <span class=\"copied\" role=\"status\"></span><pre class=\"tree\" tabindex=\"0\">{}</pre></section>",
        esc_html(&text)
    )
}

/// One case of a `check --html` report.
pub(crate) struct CaseSection<'a> {
    pub name: &'a str,
    pub subject: &'a str,
    /// `PASS`, `FAIL`, `INCOMPLETE` or `ERROR`.
    pub status: &'a str,
    pub detail: Vec<String>,
    pub elapsed: std::time::Duration,
    /// The case's route fragment ([`HtmlRenderer::route_fragment`]); `None` when it did not run.
    pub route: Option<&'a str>,
}

/// The `check --html` page: the summary line, then each case with its failures and route.
pub(crate) fn check_page(suite: &str, summary: &str, cases: &[CaseSection<'_>]) -> String {
    let mut body = format!(
        "<main class=\"check\"><header><h1>Check <code>{}</code></h1><p class=\"verdict\">{}</p></header>",
        esc(suite),
        esc(summary)
    );
    for case in cases {
        let pass = case.status == "PASS";
        body.push_str(&format!(
            "<details class=\"case trace {}\"{}><summary><span class=\"badge {}\">{}</span> <strong>{}</strong> <code>{}</code> ({:.1?})</summary>",
            case.status.to_lowercase(),
            if pass { "" } else { " open" },
            if pass { "ok" } else { "bad" },
            case.status,
            esc(case.name),
            esc(case.subject),
            case.elapsed
        ));
        if !case.detail.is_empty() {
            body.push_str("<ul class=\"failures\">");
            for line in &case.detail {
                body.push_str(&format!("<li>{}</li>", esc(line)));
            }
            body.push_str("</ul>");
        }
        body.push_str(case.route.unwrap_or(""));
        body.push_str("</details>");
    }
    body.push_str("</main>");
    page(&format!("nats-trace check: {suite}"), &body)
}

/// A whole document around `body`: the policy, the styles, the script.
pub(crate) fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + SCRIPT.len() + 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
    ));
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><meta name=\"color-scheme\" content=\"light dark\"><link rel=\"icon\" href=\"data:,\">");
    out.push_str(&format!(
        "<meta name=\"generator\" content=\"nats-trace {}\"><title>{}</title><style>",
        env!("CARGO_PKG_VERSION"),
        esc(title)
    ));
    out.push_str(&colour_variables());
    out.push_str(CSS);
    out.push_str("</style></head><body>");
    out.push_str(body);
    out.push_str("<script>");
    out.push_str(SCRIPT);
    out.push_str("</script></body></html>\n");
    out
}

/// The light colours of `style.rs` as CSS variables (page.css lightens them for dark).
fn colour_variables() -> String {
    let mut out = String::from(":root{");
    for kind in LEGEND_KINDS.into_iter().chain([ConnKind::System]) {
        out.push_str(&format!(
            "--{}:{};",
            kind_class(kind),
            kind_style(kind).color
        ));
    }
    out.push_str(&format!(
        "--err:{ERROR_COLOR};--warn:{WARNING_COLOR};--missing:{MISSING_COLOR};}}"
    ));
    out
}

/// The CSS class of a connection kind's colour.
pub(crate) fn kind_class(kind: ConnKind) -> &'static str {
    match kind {
        ConnKind::Client => "k-client",
        ConnKind::Router => "k-router",
        ConnKind::Gateway => "k-gateway",
        ConnKind::Leafnode => "k-leafnode",
        ConnKind::JetStream => "k-jetstream",
        _ => "k-other",
    }
}

/// `text` made safe for HTML text and attribute values: control characters escaped as the
/// terminal formats do, then `& < > " '` as entities.
pub(crate) fn esc(text: &str) -> String {
    esc_html(&crate::text::sanitize(text))
}

/// `& < > " '` as entities; line breaks kept (for text that is already terminal-safe, such as
/// the tree).
fn esc_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// JSON that is safe inside `<script>`: no `<`, `>` or `&` (so no `</script>` and no
/// comment), and no U+2028/U+2029.
pub(crate) fn script_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_script_json_are_escaped() {
        assert_eq!(
            esc("<b a=\"x\">&'\u{1b}"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;\\x1b"
        );
        let json = script_json(&json!({"a": "</script><!--&\u{2028}\u{2029}"}));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert!(!json.contains('\u{2028}') && !json.contains('\u{2029}'));
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["a"], "</script><!--&\u{2028}\u{2029}");
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("äöü", 3), "äöü");
    }
}
