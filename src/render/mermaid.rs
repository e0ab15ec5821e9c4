//! Mermaid flowchart output (`--format mermaid`) for Markdown: the same route graph as the
//! DOT output, servers in one subgraph per cluster, links drawn by connection kind from the
//! shared table of `style` (`==>` gateway, `-.->` leafnode, `-->` the others), errors red,
//! missing servers dashed; a red note where a server had no active interest, an orange
//! dashed box for the account a trace stops at.

use std::io::{self, Write};

use super::diagram::{Block, Diagram, Edge, Link, Shape};
use super::style::{ERROR_COLOR, MISSING_COLOR, WARNING_COLOR, kind_style};
use super::{Renderer, TraceReport};
use crate::text::sanitize;

/// Renders the route graph as a Mermaid flowchart.
#[derive(Debug, Clone, Copy, Default)]
pub struct MermaidRenderer;

/// Text for a quoted Mermaid label: lines joined by `<br/>`, markup characters as entity codes.
fn label(lines: &[String]) -> String {
    let mut out = String::from("\"");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("<br/>");
        }
        for c in sanitize(line).chars() {
            match c {
                '"' => out.push_str("#quot;"),
                '#' => out.push_str("#35;"),
                '&' => out.push_str("#amp;"),
                '<' => out.push_str("#lt;"),
                '>' => out.push_str("#gt;"),
                '`' => out.push_str("#96;"),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

impl Renderer for MermaidRenderer {
    fn render(&self, report: &TraceReport, out: &mut dyn Write) -> io::Result<()> {
        let d = Diagram::new(report);
        writeln!(out, "---")?;
        // YAML single quotes have no escapes but a doubled quote.
        writeln!(out, "title: '{}'", sanitize(&d.title).replace('\'', "''"))?;
        writeln!(out, "---")?;
        writeln!(out, "flowchart LR")?;
        for (n, (cluster, members)) in d.clusters.iter().enumerate() {
            writeln!(
                out,
                "    subgraph cluster_{n} [{}]",
                label(&[format!("cluster {cluster}")])
            )?;
            for &i in members {
                writeln!(out, "        {}", box_statement(&d.boxes[i]))?;
            }
            writeln!(out, "    end")?;
        }
        for i in d.loose_boxes() {
            writeln!(out, "    {}", box_statement(&d.boxes[i]))?;
        }
        for edge in &d.edges {
            writeln!(
                out,
                "    {} {}|{}| {}",
                d.boxes[edge.from].id,
                arrow(edge),
                label(&edge.lines),
                d.boxes[edge.to].id
            )?;
        }
        write_classes(out, &d)?;
        for (i, edge) in d.edges.iter().enumerate() {
            let color = link_color(edge);
            writeln!(out, "    linkStyle {i} stroke:{color},color:{color}")?;
        }
        Ok(())
    }
}

/// `id["label"]:::class` for one box.
fn box_statement(b: &Block) -> String {
    let text = label(&b.lines);
    let shape = match b.shape {
        Shape::Publisher | Shape::Client => format!("([{text}])"),
        Shape::Server | Shape::Missing | Shape::Unreached | Shape::Boundary => {
            format!("[{text}]")
        }
        Shape::Stream => format!("[({text})]"),
        Shape::NoInterest => format!(">{text}]"),
    };
    let class = match b.shape {
        Shape::Missing => ":::missing",
        Shape::Unreached => ":::unreached",
        Shape::NoInterest => ":::nointerest",
        Shape::Boundary => ":::boundary",
        _ if b.error => ":::error",
        _ if b.detached => ":::detached",
        _ => "",
    };
    format!("{}{shape}{class}", b.id)
}

/// The class definitions; those of the analysis's marks only when the picture has them,
/// so that pictures without them stay as they were.
fn write_classes(out: &mut dyn Write, d: &Diagram) -> io::Result<()> {
    writeln!(
        out,
        "    classDef missing stroke-dasharray:5 5,stroke:{MISSING_COLOR}"
    )?;
    writeln!(
        out,
        "    classDef unreached stroke-dasharray:5 5,stroke:{ERROR_COLOR},color:{ERROR_COLOR}"
    )?;
    writeln!(
        out,
        "    classDef error stroke:{ERROR_COLOR},color:{ERROR_COLOR}"
    )?;
    writeln!(out, "    classDef detached stroke-dasharray:2 2")?;
    if d.boxes.iter().any(|b| b.shape == Shape::NoInterest) {
        writeln!(
            out,
            "    classDef nointerest stroke:{ERROR_COLOR},color:{ERROR_COLOR}"
        )?;
    }
    if d.boxes.iter().any(|b| b.shape == Shape::Boundary) {
        writeln!(
            out,
            "    classDef boundary stroke-dasharray:5 5,stroke:{WARNING_COLOR},color:{WARNING_COLOR}"
        )?;
    }
    Ok(())
}

/// The link arrow: the kind's from the style table, dotted for the analysis's marks.
fn arrow(edge: &Edge) -> &'static str {
    match edge.link {
        Link::Kind(kind) => kind_style(kind).mermaid_arrow,
        Link::NoInterest | Link::Boundary => "-.->",
    }
}

fn link_color(edge: &Edge) -> &'static str {
    match edge.link {
        _ if edge.error => ERROR_COLOR,
        Link::Kind(kind) => kind_style(kind).color,
        Link::NoInterest => ERROR_COLOR,
        Link::Boundary => WARNING_COLOR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_use_entity_codes() {
        assert_eq!(
            label(&["a\"<b>#&`".to_string(), "c".to_string()]),
            "\"a#quot;#lt;b#gt;#35;#amp;#96;<br/>c\""
        );
    }
}
