//! Drawing a [`Network`] (and, when given, a [`TracePath`] on it) as a tree for the terminal
//! or as one JSON document; DOT and Mermaid are in [`super::picture`]. Servers and links the
//! message passed are marked `*` (bold in colour), servers it should have reached but that
//! did not report `!`, everything else plain (dimmed in colour). The arrows and colours are
//! the route tree's (`render::style`).

use std::io::{self, Write};

use owo_colors::{OwoColorize, Style};
use serde::Serialize;

use super::path::TracePath;
use super::{Link, LinkKind, Network, Server};
use crate::render::Palette;
use crate::text::sanitize;
use crate::trace::event::ConnKind;

/// The version of the topology JSON document.
pub const TOPOLOGY_SCHEMA_VERSION: u32 = 1;

/// What to draw: the network, the path on it, colours.
pub struct View<'a> {
    pub network: &'a Network,
    pub path: Option<&'a TracePath>,
    pub color: bool,
}

/// How a server or link stands to the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    /// No path to draw.
    Plain,
    /// On the path.
    Path,
    /// Expected on the path but did not report.
    Missing,
    /// Not on the path.
    Dimmed,
}

impl View<'_> {
    /// The mark of the server `name`.
    pub fn server_mark(&self, name: &str) -> Mark {
        match self.path {
            None => Mark::Plain,
            Some(p) if p.visited(name) => Mark::Path,
            Some(p) if p.missing.contains(name) => Mark::Missing,
            Some(_) => Mark::Dimmed,
        }
    }

    /// The mark of `link`.
    pub fn link_mark(&self, link: &Link) -> Mark {
        match self.path {
            None => Mark::Plain,
            Some(p) if p.crossed(link) => {
                let missing = |s: &str| p.missing.contains(s);
                if missing(&link.a) || missing(&link.b) {
                    Mark::Missing
                } else {
                    Mark::Path
                }
            }
            Some(_) => Mark::Dimmed,
        }
    }

    /// Expected servers that are not in the network at all (did not answer).
    pub fn unknown_missing(&self) -> Vec<&str> {
        self.path
            .map(|p| {
                p.missing
                    .iter()
                    .filter(|m| self.network.server(m).is_none())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn paint(&self, text: &str, mark: Mark) -> String {
        let prefix = match mark {
            Mark::Plain => "",
            Mark::Path => "* ",
            Mark::Missing => "! ",
            Mark::Dimmed => "  ",
        };
        let text = format!("{prefix}{text}");
        if !self.color {
            return text;
        }
        let style = match mark {
            Mark::Plain => Style::new(),
            Mark::Path => Style::new().bold(),
            Mark::Missing => Style::new().red().bold(),
            Mark::Dimmed => Style::new().dimmed(),
        };
        text.style(style).to_string()
    }
}

/// The connection kind of a link kind, for its arrow and colour.
pub(crate) fn conn_kind(kind: LinkKind) -> ConnKind {
    match kind {
        LinkKind::Route => ConnKind::Router,
        LinkKind::Gateway => ConnKind::Gateway,
        LinkKind::Leafnode => ConnKind::Leafnode,
    }
}

/// The tree: a headline, then each cluster with its servers and their links.
pub fn write_tree(view: &View<'_>, out: &mut dyn Write) -> io::Result<()> {
    write_headline(view, out)?;
    for (cluster, servers) in view.network.clusters() {
        match cluster {
            Some(name) => writeln!(out, "\nCluster {}", sanitize(name))?,
            None => writeln!(out, "\nServers without a cluster")?,
        }
        for server in servers {
            write_server(view, server, out)?;
        }
    }
    let unknown = view.unknown_missing();
    if !unknown.is_empty() {
        writeln!(out, "\nExpected on the path but not discovered")?;
        for name in unknown {
            writeln!(out, "  {}", view.paint(&sanitize(name), Mark::Missing))?;
        }
    }
    write_problems(view.network, out)
}

fn write_headline(view: &View<'_>, out: &mut dyn Write) -> io::Result<()> {
    let network = view.network;
    let clusters = network.clusters().keys().filter(|c| c.is_some()).count();
    writeln!(
        out,
        "Network: {} server(s) in {clusters} cluster(s), discovered through {}",
        network.servers.len(),
        network.source
    )?;
    if let Some(path) = view.path {
        writeln!(
            out,
            "Path of {}: * on the path, ! expected but did not report",
            sanitize(&path.subject)
        )?;
    }
    Ok(())
}

/// One server's line and one line per link.
fn write_server(view: &View<'_>, server: &Server, out: &mut dyn Write) -> io::Result<()> {
    let mut facts = vec![format!("nats-server {}", server.version)];
    if server.jetstream {
        facts.push("JetStream".to_string());
    }
    facts.push(
        if server.tracing {
            "traces"
        } else {
            "does not trace (< 2.11)"
        }
        .to_string(),
    );
    let line = format!("{} ({})", server.name, facts.join(", "));
    writeln!(
        out,
        "  {}",
        view.paint(&sanitize(&line), view.server_mark(&server.name))
    )?;
    let palette = Palette {
        enabled: view.color,
    };
    for (kind, other) in server.neighbours() {
        let (a, b) = super::ordered(&server.name, other);
        let link = Link {
            kind,
            a: a.to_string(),
            b: b.to_string(),
        };
        let mut detail = link_detail(server, kind, other);
        if view.network.server(other).is_none() {
            detail.push_str(" (did not answer)");
        }
        let text = format!("{} {other}{detail}", kind.name());
        let arrow = palette.arrow(conn_kind(kind));
        writeln!(
            out,
            "      {arrow} {}",
            view.paint(&sanitize(&text), view.link_mark(&link))
        )?;
    }
    Ok(())
}

/// What a link line adds: a gateway's cluster and account modes, a leafnode's account.
fn link_detail(server: &Server, kind: LinkKind, other: &str) -> String {
    match kind {
        LinkKind::Route => String::new(),
        LinkKind::Gateway => server
            .gateways
            .iter()
            .find(|g| g.server == other)
            .map(|g| {
                let accounts: Vec<String> = g
                    .accounts
                    .iter()
                    .map(|a| match a.no_interest_count {
                        0 => format!("{} {}", a.name, a.interest_mode),
                        n => format!("{} {} ({n} without interest)", a.name, a.interest_mode),
                    })
                    .collect();
                let mut detail = format!(" (cluster {})", g.cluster);
                if !accounts.is_empty() {
                    detail.push_str(&format!(" [{}]", accounts.join(", ")));
                }
                detail
            })
            .unwrap_or_default(),
        LinkKind::Leafnode => server
            .leafnodes
            .iter()
            .find(|l| l.server == other)
            .map(|l| {
                let side = if l.spoke { "made" } else { "accepted" };
                format!(" (account {}, {side} here)", l.account)
            })
            .unwrap_or_default(),
    }
}

fn write_problems(network: &Network, out: &mut dyn Write) -> io::Result<()> {
    if network.problems.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nProblems")?;
    for problem in &network.problems {
        writeln!(out, "  {}", sanitize(problem))?;
    }
    Ok(())
}

/// One link in the JSON document.
#[derive(Serialize)]
struct JsonLink<'a> {
    #[serde(flatten)]
    link: &'a Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    mark: Option<Mark>,
}

/// The JSON document.
#[derive(Serialize)]
struct JsonDocument<'a> {
    version: u32,
    network: &'a Network,
    links: Vec<JsonLink<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a TracePath>,
}

/// The network, its links (marked when a path is given) and the path, as one JSON document.
pub fn write_json(view: &View<'_>, out: &mut dyn Write) -> io::Result<()> {
    let links = view.network.links();
    let document = JsonDocument {
        version: TOPOLOGY_SCHEMA_VERSION,
        network: view.network,
        links: links
            .iter()
            .map(|link| JsonLink {
                link,
                mark: view.path.map(|_| view.link_mark(link)),
            })
            .collect(),
        path: view.path,
    };
    serde_json::to_writer_pretty(&mut *out, &document).map_err(io::Error::other)?;
    writeln!(out)
}
