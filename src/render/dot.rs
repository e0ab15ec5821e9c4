//! Graphviz DOT output (`--format dot`): the route graph as a left-to-right digraph, servers
//! grouped by cluster in `cluster_*` subgraphs, clients as ellipses, streams as cylinders,
//! edges styled by connection kind, errors red, missing servers dashed. Feed it to
//! `dot -Tsvg`.

use std::io::{self, Write};

use super::diagram::{Diagram, Shape};
use super::{Renderer, TraceReport};
use crate::text::sanitize;
use crate::trace::event::ConnKind;

/// Renders the route graph as Graphviz DOT.
#[derive(Debug, Clone, Copy, Default)]
pub struct DotRenderer;

const RED: &str = "#d32f2f";

/// The color and line style of an edge of `kind`.
fn edge_style(kind: ConnKind) -> (&'static str, &'static str) {
    match kind {
        ConnKind::Client => ("#2e7d32", "solid"),
        ConnKind::Router => ("#00838f", "solid"),
        ConnKind::Gateway => ("#8e24aa", "bold"),
        ConnKind::Leafnode => ("#1565c0", "dotted"),
        ConnKind::JetStream => ("#ef6c00", "solid"),
        _ => ("#616161", "solid"),
    }
}

/// A DOT double-quoted string of `lines` joined by line breaks.
fn quote(lines: &[String]) -> String {
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
        let write_box = |out: &mut dyn Write, indent: &str, i: usize| -> io::Result<()> {
            let b = &d.boxes[i];
            let (shape, style) = match b.shape {
                Shape::Publisher => ("ellipse", "filled"),
                Shape::Server => (
                    "box",
                    if b.detached {
                        "rounded,dotted"
                    } else {
                        "rounded"
                    },
                ),
                Shape::Missing => ("box", "rounded,dashed"),
                Shape::Unreached => ("box", "rounded,dashed"),
                Shape::Client => ("ellipse", "solid"),
                Shape::Stream => ("cylinder", "solid"),
            };
            let mut attrs = format!(
                "label={}, shape={shape}, style=\"{style}\"",
                quote(&b.lines)
            );
            if b.shape == Shape::Publisher {
                attrs.push_str(", fillcolor=\"#eeeeee\"");
            }
            if b.error || b.shape == Shape::Unreached {
                attrs.push_str(&format!(", color=\"{RED}\", fontcolor=\"{RED}\""));
            }
            writeln!(out, "{indent}{} [{attrs}];", b.id)
        };
        for (n, (cluster, members)) in d.clusters.iter().enumerate() {
            writeln!(out, "    subgraph cluster_{n} {{")?;
            writeln!(
                out,
                "        label={}; style=\"rounded\"; color=\"#9e9e9e\";",
                quote(&[format!("cluster {cluster}")])
            )?;
            for &i in members {
                write_box(out, "        ", i)?;
            }
            writeln!(out, "    }}")?;
        }
        for i in d.loose_boxes() {
            write_box(out, "    ", i)?;
        }
        for edge in &d.edges {
            let (color, style) = edge_style(edge.kind);
            let color = if edge.error { RED } else { color };
            let mut attrs = format!(
                "label={}, color=\"{color}\", fontcolor=\"{color}\", style=\"{style}\"",
                quote(&edge.lines)
            );
            if edge.kind == ConnKind::Gateway {
                attrs.push_str(", penwidth=2");
            }
            writeln!(
                out,
                "    {} -> {} [{attrs}];",
                d.boxes[edge.from].id, d.boxes[edge.to].id
            )?;
        }
        writeln!(out, "}}")
    }
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
