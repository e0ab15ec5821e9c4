//! Drawing a [`View`] as a picture: a Graphviz DOT graph (`dot -Tsvg`) or a Mermaid
//! flowchart. Servers are grouped by cluster, links drawn once per pair in the colour and
//! line of their kind (`render::style`, as in the route pictures); with a path, its servers
//! and links are thick, the servers it should have reached but that did not report are red
//! and dashed, and everything else is grey.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::render::{Mark, View, conn_kind};
use super::{Link, LinkKind};
use crate::render::{ERROR_COLOR, MISSING_COLOR, dot_quote, kind_style};
use crate::text::sanitize;

/// The grey of what is not on the path.
const DIM_COLOR: &str = "#bdbdbd";

/// Every server drawn (discovered, linked to, or expected on the path), with an id.
fn node_ids(view: &View<'_>, links: &[Link]) -> BTreeMap<String, usize> {
    let mut names: Vec<&str> = view
        .network
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    names.extend(links.iter().flat_map(|l| [l.a.as_str(), l.b.as_str()]));
    names.extend(view.unknown_missing());
    let mut ids = BTreeMap::new();
    for name in names {
        let next = ids.len();
        ids.entry(name.to_string()).or_insert(next);
    }
    ids
}

/// The label lines of the server `name`.
fn label(view: &View<'_>, name: &str) -> Vec<String> {
    match view.network.server(name) {
        Some(server) => {
            let mut second = server.version.clone();
            if server.jetstream {
                second.push_str(" · JetStream");
            }
            if !server.tracing {
                second.push_str(" · no tracing");
            }
            vec![server.name.clone(), second]
        }
        None => vec![name.to_string(), "did not answer".to_string()],
    }
}

/// The DOT graph.
pub fn write_dot(view: &View<'_>, out: &mut dyn Write) -> io::Result<()> {
    let links = view.network.links();
    let ids = node_ids(view, &links);
    writeln!(out, "graph nats_network {{")?;
    let title = format!("NATS network ({} servers)", view.network.servers.len());
    writeln!(
        out,
        "    graph [fontname=\"Helvetica\", labelloc=t, label={}];",
        dot_quote(&[title])
    )?;
    writeln!(
        out,
        "    node [fontname=\"Helvetica\", fontsize=11, shape=box, style=\"rounded\"];"
    )?;
    let mut placed = std::collections::BTreeSet::new();
    for (n, (cluster, servers)) in view.network.clusters().into_iter().enumerate() {
        let Some(cluster) = cluster else { continue };
        writeln!(out, "    subgraph cluster_{n} {{")?;
        writeln!(
            out,
            "        label={}; style=\"rounded\"; color=\"#9e9e9e\";",
            dot_quote(&[format!("cluster {cluster}")])
        )?;
        for server in servers {
            writeln!(out, "        {}", dot_node(view, &ids, &server.name))?;
            placed.insert(server.name.as_str());
        }
        writeln!(out, "    }}")?;
    }
    for name in ids.keys().filter(|n| !placed.contains(n.as_str())) {
        writeln!(out, "    {}", dot_node(view, &ids, name))?;
    }
    for link in &links {
        writeln!(out, "    {}", dot_edge(view, &ids, link))?;
    }
    writeln!(out, "}}")
}

fn dot_node(view: &View<'_>, ids: &BTreeMap<String, usize>, name: &str) -> String {
    let id = ids.get(name).copied().unwrap_or(0);
    let look = match view.server_mark(name) {
        Mark::Plain => String::new(),
        Mark::Path => ", penwidth=2.5".to_string(),
        Mark::Missing => format!(", style=\"rounded,dashed\", color=\"{ERROR_COLOR}\""),
        Mark::Dimmed => format!(", color=\"{DIM_COLOR}\", fontcolor=\"{MISSING_COLOR}\""),
    };
    let look = if view.network.server(name).is_none() && look.is_empty() {
        format!(", style=\"rounded,dashed\", color=\"{MISSING_COLOR}\"")
    } else {
        look
    };
    format!("s{id} [label={}{look}];", dot_quote(&label(view, name)))
}

fn dot_edge(view: &View<'_>, ids: &BTreeMap<String, usize>, link: &Link) -> String {
    let style = kind_style(conn_kind(link.kind));
    let id = |n: &str| ids.get(n).copied().unwrap_or(0);
    let (color, width) = match view.link_mark(link) {
        Mark::Plain => (style.color, style.dot_penwidth.map_or(1.0, f32::from)),
        Mark::Path => (style.color, 3.0),
        Mark::Missing => (ERROR_COLOR, 3.0),
        Mark::Dimmed => (DIM_COLOR, 1.0),
    };
    format!(
        "s{} -- s{} [label=\"{}\", color=\"{color}\", style=\"{}\", penwidth={width}];",
        id(&link.a),
        id(&link.b),
        link.kind.name(),
        style.dot_line
    )
}

/// A Mermaid label: no quotes or markup.
fn mermaid_text(text: &str) -> String {
    sanitize(text)
        .chars()
        .map(|c| match c {
            '"' | '<' | '>' | '[' | ']' | '{' | '}' | '|' | '`' => '\'',
            c => c,
        })
        .collect()
}

/// The Mermaid flowchart.
pub fn write_mermaid(view: &View<'_>, out: &mut dyn Write) -> io::Result<()> {
    let links = view.network.links();
    let ids = node_ids(view, &links);
    writeln!(out, "flowchart LR")?;
    let mut placed = std::collections::BTreeSet::new();
    for (n, (cluster, servers)) in view.network.clusters().into_iter().enumerate() {
        let Some(cluster) = cluster else { continue };
        writeln!(
            out,
            "    subgraph c{n}[\"cluster {}\"]",
            mermaid_text(cluster)
        )?;
        for server in servers {
            writeln!(out, "        {}", mermaid_node(view, &ids, &server.name))?;
            placed.insert(server.name.as_str());
        }
        writeln!(out, "    end")?;
    }
    for name in ids.keys().filter(|n| !placed.contains(n.as_str())) {
        writeln!(out, "    {}", mermaid_node(view, &ids, name))?;
    }
    for (index, link) in links.iter().enumerate() {
        let id = |n: &str| ids.get(n).copied().unwrap_or(0);
        let arrow = match link.kind {
            LinkKind::Route => "---",
            LinkKind::Gateway => "===",
            LinkKind::Leafnode => "-.-",
        };
        writeln!(
            out,
            "    s{} {arrow}|{}| s{}",
            id(&link.a),
            link.kind.name(),
            id(&link.b)
        )?;
        writeln!(
            out,
            "    linkStyle {index} {}",
            mermaid_link_style(view, link)
        )?;
    }
    write_mermaid_classes(view, &ids, out)
}

fn mermaid_node(view: &View<'_>, ids: &BTreeMap<String, usize>, name: &str) -> String {
    let id = ids.get(name).copied().unwrap_or(0);
    let lines: Vec<String> = label(view, name).iter().map(|l| mermaid_text(l)).collect();
    format!("s{id}[\"{}\"]", lines.join("<br/>"))
}

fn mermaid_link_style(view: &View<'_>, link: &Link) -> String {
    let color = kind_style(conn_kind(link.kind)).color;
    match view.link_mark(link) {
        Mark::Plain => format!("stroke:{color}"),
        Mark::Path => format!("stroke:{color},stroke-width:4px"),
        Mark::Missing => format!("stroke:{ERROR_COLOR},stroke-width:4px"),
        Mark::Dimmed => format!("stroke:{DIM_COLOR}"),
    }
}

/// The classes of path, missing and dimmed servers.
fn write_mermaid_classes(
    view: &View<'_>,
    ids: &BTreeMap<String, usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if view.path.is_none() {
        return Ok(());
    }
    writeln!(out, "    classDef path stroke-width:3px")?;
    writeln!(
        out,
        "    classDef missing stroke:{ERROR_COLOR},stroke-dasharray:5 5"
    )?;
    writeln!(
        out,
        "    classDef dim stroke:{DIM_COLOR},color:{MISSING_COLOR}"
    )?;
    for (name, id) in ids {
        let class = match view.server_mark(name) {
            Mark::Path => "path",
            Mark::Missing => "missing",
            Mark::Dimmed | Mark::Plain => "dim",
        };
        writeln!(out, "    class s{id} {class}")?;
    }
    Ok(())
}
