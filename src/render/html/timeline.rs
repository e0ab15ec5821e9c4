//! The waterfall of the HTML page: one row per server in tree order (detached traces last),
//! all on one time axis — a bar from the server's ingress to its last event, a tick per
//! client delivery and per JetStream event — as tracing UIs draw spans. Each server stamps
//! its own events, so when a server's clock is behind the one that sent it the message (it
//! received the message "before" it was sent) the row is marked and the page says so.

use std::collections::HashMap;
use std::fmt::Write;

use super::{clip, esc, kind_class};
use crate::render::TraceReport;
use crate::trace::analysis::Analysis;
use crate::trace::event::{ConnKind, Event, TraceMessage};
use crate::trace::stitch::{NodeIndex, Step, TraceGraph};

const LABEL_W: f64 = 180.0;
const BAR_W: f64 = 640.0;
const ROW_H: f64 = 24.0;
const AXIS_H: f64 = 30.0;

/// One row: a server, its depth, its times (Unix nanoseconds) and its ticks.
struct Row {
    node: NodeIndex,
    depth: usize,
    name: String,
    span: Option<(i64, i64)>,
    /// Time, colour class, words.
    ticks: Vec<(i64, &'static str, String)>,
    /// The server's clock is behind its parent's by this many nanoseconds.
    skew: Option<i64>,
}

/// The waterfall: the SVG, and the note on clocks when any disagree.
pub(super) struct Waterfall {
    pub(super) svg: String,
    pub(super) skew_note: Option<String>,
}

/// The waterfall of `report`; `ids` names each server's box (shared with the graph), so
/// both select the same details.
pub(super) fn waterfall(
    report: &TraceReport,
    ids: &HashMap<NodeIndex, String>,
    prefix: &str,
) -> Waterfall {
    let graph = &report.graph;
    let analysis = report.analysis();
    let rows: Vec<Row> = graph
        .walk(graph.root)
        .filter_map(|s| match s {
            Step::Server { node, depth } => Some((node, depth)),
            Step::Egress { .. } => None,
        })
        .chain(graph.detached.iter().map(|&d| (d, 0)))
        .map(|(node, depth)| row(graph, analysis, node, depth))
        .collect();
    let skew_note = skew_note(&rows);
    Waterfall {
        svg: draw(&rows, ids, prefix),
        skew_note,
    }
}

fn row(graph: &TraceGraph, analysis: &Analysis, node: NodeIndex, depth: usize) -> Row {
    let server = graph.node(node);
    let name = match server.server_name() {
        "" => "unknown server".to_string(),
        n => n.to_string(),
    };
    let Some(trace) = &server.trace else {
        return Row {
            node,
            depth,
            name,
            span: None,
            ticks: Vec::new(),
            skew: None,
        };
    };
    let span = visit(trace);
    let mut ticks = Vec::new();
    for delivery in analysis.deliveries_of(node) {
        if let Some((e, t)) = delivery
            .egress(graph)
            .and_then(|e| e.ts.unix_nanos.map(|t| (e, t)))
        {
            let who = if e.name.is_empty() { "client" } else { &e.name };
            let words = format!("delivered to {who} cid:{} ({})", e.cid, e.subscription);
            ticks.push((t, kind_class(ConnKind::Client), words));
        }
    }
    for event in &trace.events {
        if let (Event::JetStream(js), Some(t)) =
            (event, event.timestamp().and_then(|t| t.unix_nanos))
        {
            let class = if js.error.is_empty() {
                kind_class(ConnKind::JetStream)
            } else {
                "err"
            };
            ticks.push((t, class, format!("JetStream stream {}", js.stream)));
        }
    }
    let skew = span.and_then(|(start, _)| {
        let (parent, index) = graph.parent(node)?;
        let sent = graph.node(parent).egress(index)?.egress.ts.unix_nanos?;
        (start < sent).then_some(sent - start)
    });
    Row {
        node,
        depth,
        name,
        span,
        ticks,
        skew,
    }
}

/// The server's ingress (else the time it sent its trace) to its last event.
fn visit(trace: &TraceMessage) -> Option<(i64, i64)> {
    let start = trace
        .ingress()
        .and_then(|i| i.ts.unix_nanos)
        .or_else(|| trace.server.time.as_ref().and_then(|t| t.unix_nanos))?;
    let end = trace
        .events
        .iter()
        .filter_map(|e| e.timestamp().and_then(|t| t.unix_nanos))
        .fold(start, i64::max);
    Some((start, end))
}

fn skew_note(rows: &[Row]) -> Option<String> {
    let skewed: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.skew
                .map(|s| format!("{} ({} early)", r.name, duration(s)))
        })
        .collect();
    if skewed.is_empty() {
        return None;
    }
    let shown = skewed
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = skewed.len().saturating_sub(5);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "Server clocks disagree: {} server(s) received the message before the server that sent it had sent it, by their own clocks — {shown}{more}. Each bar is in its own server's time.",
        skewed.len()
    ))
}

/// A duration in the unit that suits it.
pub(super) fn duration(nanos: i64) -> String {
    let n = nanos.unsigned_abs() as f64;
    let sign = if nanos < 0 { "-" } else { "" };
    if n < 1e3 {
        format!("{sign}{n:.0} ns")
    } else if n < 1e6 {
        format!("{sign}{:.1} µs", n / 1e3)
    } else if n < 1e9 {
        format!("{sign}{:.2} ms", n / 1e6)
    } else {
        format!("{sign}{:.2} s", n / 1e9)
    }
}

/// The time axis: from the earliest start to the latest end.
struct Axis {
    t0: i64,
    span: f64,
}

impl Axis {
    fn of(rows: &[Row]) -> Axis {
        let spans = rows.iter().filter_map(|r| r.span);
        let t0 = spans.clone().map(|s| s.0).min().unwrap_or(0);
        let t1 = spans.map(|s| s.1).max().unwrap_or(t0);
        let ticks = rows.iter().flat_map(|r| r.ticks.iter().map(|t| t.0));
        let t1 = ticks.fold(t1, i64::max);
        Axis {
            t0,
            span: (t1.saturating_sub(t0)).max(1) as f64,
        }
    }

    fn x(&self, t: i64) -> f64 {
        LABEL_W + (t.saturating_sub(self.t0)) as f64 / self.span * BAR_W
    }
}

fn draw(rows: &[Row], ids: &HashMap<NodeIndex, String>, prefix: &str) -> String {
    let axis = Axis::of(rows);
    let height = AXIS_H + rows.len() as f64 * ROW_H + 8.0;
    let width = LABEL_W + BAR_W + 60.0;
    let mut out = String::with_capacity(400 + rows.len() * 600);
    let _ = write!(
        out,
        "<svg class=\"waterfall\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"group\" aria-labelledby=\"{prefix}wt\"><title id=\"{prefix}wt\">Timeline: a bar per server from ingress to its last event, a tick per delivery, over {}</title>",
        duration(axis.span as i64)
    );
    for i in 0..=4 {
        let x = LABEL_W + BAR_W * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<g class=\"tick\"><line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{height:.1}\"/><text x=\"{x:.1}\" y=\"14\">+{}</text></g>",
            AXIS_H - 8.0,
            duration((axis.span * f64::from(i) / 4.0) as i64)
        );
    }
    for (n, r) in rows.iter().enumerate() {
        let id = ids.get(&r.node).map_or("", String::as_str);
        draw_row(&mut out, r, &axis, AXIS_H + n as f64 * ROW_H, prefix, id);
    }
    out.push_str("</svg>");
    out
}

fn draw_row(out: &mut String, r: &Row, axis: &Axis, y: f64, prefix: &str, id: &str) {
    let words = match r.span {
        Some((s, e)) => format!(
            "{}: from +{} for {}, {} tick(s)",
            r.name,
            duration(s - axis.t0),
            duration(e - s),
            r.ticks.len()
        ),
        None => format!("{}: trace missing", r.name),
    };
    let class = match (r.span.is_some(), r.skew.is_some()) {
        (false, _) => "row missing",
        (true, true) => "row skew",
        (true, false) => "row",
    };
    let _ = write!(
        out,
        "<g class=\"{class}\" data-node=\"{prefix}{id}\" tabindex=\"0\" role=\"button\" aria-label=\"{w}\"><title>{w}</title><rect class=\"band\" x=\"0\" y=\"{y:.1}\" width=\"{:.0}\" height=\"{ROW_H}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}{}</text>",
        LABEL_W + BAR_W + 60.0,
        6.0 + (r.depth.min(12) as f64) * 10.0,
        y + 16.0,
        esc(&clip(&r.name, 20usize.saturating_sub(r.depth.min(12)))),
        if r.skew.is_some() { " ⚠" } else { "" },
        w = esc(&words),
    );
    match r.span {
        Some((s, e)) => {
            let x0 = axis.x(s);
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"2\"/>",
                y + 5.0,
                (axis.x(e) - x0).max(2.0),
                ROW_H - 10.0
            );
        }
        None => {
            let _ = write!(
                out,
                "<text class=\"missing-note\" x=\"{:.1}\" y=\"{:.1}\">trace missing</text>",
                LABEL_W + 4.0,
                y + 16.0
            );
        }
    }
    for (t, class, words) in &r.ticks {
        let x = axis.x(*t);
        let _ = write!(
            out,
            "<line class=\"mark {class}\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{} at +{}</title></line>",
            y + 2.0,
            y + ROW_H - 2.0,
            esc(words),
            duration(t - axis.t0)
        );
    }
    out.push_str("</g>");
}
