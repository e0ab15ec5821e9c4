//! Graphviz DOT output (`--format dot`): the route graph as a left-to-right digraph, servers
//! grouped by cluster in `cluster_*` subgraphs, clients as ellipses, streams as cylinders,
//! edges styled by connection kind (the shared table of `style`), errors red, missing
//! servers dashed; a red note where a server had no active interest, an orange dashed box for
//! the account a trace stops at. Feed it to `dot -Tsvg`.

use std::io::{self, Write};

use super::diagram::{Block, Diagram, Edge, Link, Shape};
use super::style::{ERROR_COLOR, WARNING_COLOR, kind_style};
use super::{Renderer, TraceReport};
use crate::text::sanitize;

/// Renders the route graph as Graphviz DOT.
#[derive(Debug, Clone, Copy, Default)]
pub struct DotRenderer;

/// A DOT double-quoted string of `lines` joined by line breaks.
pub(crate) fn quote(lines: &[String]) -> String {
    let mut out = String::from("\"");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("\\n");
        }
        for c in sanitize(line).chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

impl Renderer for DotRenderer {
    fn render(&self, report: &TraceReport, out: &mut dyn Write) -> io::Result<()> {
        let d = Diagram::new(report);
        writeln!(out, "digraph nats_trace {{")?;
        writeln!(
            out,
            "    graph [rankdir=LR, fontname=\"Helvetica\", labelloc=t, label={}];",
            quote(std::slice::from_ref(&d.title))
        )?;
        writeln!(out, "    node [fontname=\"Helvetica\", fontsize=11];")?;
        writeln!(out, "    edge [fontname=\"Helvetica\", fontsize=9];")?;
        for (n, (cluster, members)) in d.clusters.iter().enumerate() {
            writeln!(out, "    subgraph cluster_{n} {{")?;
            writeln!(
                out,
                "        label={}; style=\"rounded\"; color=\"#9e9e9e\";",
                quote(&[format!("cluster {cluster}")])
            )?;
            for &i in members {
                writeln!(out, "        {}", box_statement(&d.boxes[i]))?;
            }
            writeln!(out, "    }}")?;
        }
        for i in d.loose_boxes() {
            writeln!(out, "    {}", box_statement(&d.boxes[i]))?;
        }
        for edge in &d.edges {
            writeln!(
                out,
                "    {} -> {} [{}];",
                d.boxes[edge.from].id,
                d.boxes[edge.to].id,
                edge_attributes(edge)
            )?;
        }
        writeln!(out, "}}")
    }
}

/// `id [label=…, shape=…, style=…];` for one box.
fn box_statement(b: &Block) -> String {
    let (shape, style) = match b.shape {
        Shape::Publisher => ("ellipse", "filled"),
        Shape::Server if b.detached => ("box", "rounded,dotted"),
        Shape::Server => ("box", "rounded"),
        Shape::Missing | Shape::Unreached => ("box", "rounded,dashed"),
        Shape::Client => ("ellipse", "solid"),
        Shape::Stream => ("cylinder", "solid"),
        Shape::NoInterest => ("note", "solid"),
        Shape::Boundary => ("box", "dashed"),
    };
    let mut attrs = format!(
        "label={}, shape={shape}, style=\"{style}\"",
        quote(&b.lines)
    );
    if b.shape == Shape::Publisher {
        attrs.push_str(", fillcolor=\"#eeeeee\"");
    }
    let color = match b.shape {
        Shape::Unreached | Shape::NoInterest => Some(ERROR_COLOR),
        Shape::Boundary => Some(WARNING_COLOR),
        _ if b.error => Some(ERROR_COLOR),
        _ => None,
    };
    if let Some(color) = color {
        attrs.push_str(&format!(", color=\"{color}\", fontcolor=\"{color}\""));
    }
    format!("{} [{attrs}];", b.id)
}

/// The attributes of one edge: label, then colour and line from the kind's style (red for
/// an error), dashed for the analysis's marks.
fn edge_attributes(edge: &Edge) -> String {
    let (color, line, penwidth) = match edge.link {
        Link::Kind(kind) => {
            let style = kind_style(kind);
            (style.color, style.dot_line, style.dot_penwidth)
        }
        Link::NoInterest => (ERROR_COLOR, "dashed", None),
        Link::Boundary => (WARNING_COLOR, "dashed", None),
    };
    let color = if edge.error { ERROR_COLOR } else { color };
    let mut attrs = format!(
        "label={}, color=\"{color}\", fontcolor=\"{color}\", style=\"{line}\"",
        quote(&edge.lines)
    );
    if let Some(width) = penwidth {
        attrs.push_str(&format!(", penwidth={width}"));
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(
            quote(&["a\"b\\c".to_string(), "x\ny".to_string()]),
            "\"a\\\"b\\\\c\\nx\\\\ny\""
        );
    }
}
