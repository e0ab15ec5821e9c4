//! Mermaid flowchart output (`--format mermaid`) for Markdown: the same route graph as the
//! DOT output, servers in one subgraph per cluster, links drawn by connection kind (`==>`
//! gateway, `-.->` leafnode, `-->` the others), errors red, missing servers dashed.

use std::io::{self, Write};

use super::diagram::{Diagram, Shape};
use super::{Renderer, TraceReport};
use crate::text::sanitize;
use crate::trace::event::ConnKind;

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

fn link_color(kind: ConnKind) -> &'static str {
    match kind {
        ConnKind::Client => "#2e7d32",
        ConnKind::Router => "#00838f",
        ConnKind::Gateway => "#8e24aa",
        ConnKind::Leafnode => "#1565c0",
        ConnKind::JetStream => "#ef6c00",
        _ => "#616161",
    }
}

impl Renderer for MermaidRenderer {
    fn render(&self, report: &TraceReport, out: &mut dyn Write) -> io::Result<()> {
        let d = Diagram::new(report);
        writeln!(out, "---")?;
        // YAML single quotes have no escapes but a doubled quote.
        writeln!(out, "title: '{}'", sanitize(&d.title).replace('\'', "''"))?;
        writeln!(out, "---")?;
        writeln!(out, "flowchart LR")?;
        let write_box = |out: &mut dyn Write, indent: &str, i: usize| -> io::Result<()> {
            let b = &d.boxes[i];
            let text = label(&b.lines);
            let shape = match b.shape {
                Shape::Publisher | Shape::Client => format!("([{text}])"),
                Shape::Server | Shape::Missing | Shape::Unreached => format!("[{text}]"),
                Shape::Stream => format!("[({text})]"),
            };
            let class = match b.shape {
                Shape::Missing => ":::missing",
                Shape::Unreached => ":::unreached",
                _ if b.error => ":::error",
                _ if b.detached => ":::detached",
                _ => "",
            };
            writeln!(out, "{indent}{}{shape}{class}", b.id)
        };
        for (n, (cluster, members)) in d.clusters.iter().enumerate() {
            writeln!(
                out,
                "    subgraph cluster_{n} [{}]",
                label(&[format!("cluster {cluster}")])
            )?;
            for &i in members {
                write_box(out, "        ", i)?;
            }
            writeln!(out, "    end")?;
        }
        for i in d.loose_boxes() {
            write_box(out, "    ", i)?;
        }
        for edge in &d.edges {
            let arrow = match edge.kind {
                ConnKind::Gateway => "==>",
                ConnKind::Leafnode => "-.->",
                _ => "-->",
            };
            writeln!(
                out,
                "    {} {arrow}|{}| {}",
                d.boxes[edge.from].id,
                label(&edge.lines),
                d.boxes[edge.to].id
            )?;
        }
        writeln!(
            out,
            "    classDef missing stroke-dasharray:5 5,stroke:#757575"
        )?;
        writeln!(
            out,
            "    classDef unreached stroke-dasharray:5 5,stroke:#d32f2f,color:#d32f2f"
        )?;
        writeln!(out, "    classDef error stroke:#d32f2f,color:#d32f2f")?;
        writeln!(out, "    classDef detached stroke-dasharray:2 2")?;
        for (i, edge) in d.edges.iter().enumerate() {
            let color = if edge.error {
                "#d32f2f"
            } else {
                link_color(edge.kind)
            };
            writeln!(out, "    linkStyle {i} stroke:{color},color:{color}")?;
        }
        Ok(())
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
