//! A trace placed on the network: the servers it visited, the links it crossed (as unordered
//! server pairs with their kind) and the servers that were expected but did not report. Read
//! from the stitched graph; the drawing decides nothing else.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Link, LinkKind};
use crate::trace::event::ConnKind;
use crate::trace::report::TraceReport;

/// Where a trace went.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TracePath {
    pub subject: String,
    /// Servers that reported, by name.
    pub servers: BTreeSet<String>,
    /// Servers that were sent the message but did not report (names their neighbours gave;
    /// may be empty when unknown).
    pub missing: BTreeSet<String>,
    /// The links the message crossed.
    pub links: BTreeSet<Link>,
}

impl TracePath {
    /// The path of `report`.
    pub fn of(report: &TraceReport) -> TracePath {
        let graph = &report.graph;
        let mut path = TracePath {
            subject: report.subject.clone(),
            ..TracePath::default()
        };
        for ix in graph.nodes() {
            let node = graph.node(ix);
            let name = node.server_name().to_string();
            if node.is_missing() {
                if !name.is_empty() {
                    path.missing.insert(name.clone());
                }
            } else {
                path.servers.insert(name.clone());
            }
            for entry in node.egresses() {
                if let Some(kind) = link_kind(entry.egress.kind)
                    && !entry.egress.name.is_empty()
                {
                    let other = entry.egress.name.as_str();
                    let (a, b) = super::ordered(&name, other);
                    path.links.insert(Link {
                        kind,
                        a: a.to_string(),
                        b: b.to_string(),
                    });
                }
            }
        }
        path
    }

    /// True when the message crossed `link`.
    pub fn crossed(&self, link: &Link) -> bool {
        self.links.contains(link)
    }

    /// True when `server` reported.
    pub fn visited(&self, server: &str) -> bool {
        self.servers.contains(server)
    }
}

fn link_kind(kind: ConnKind) -> Option<LinkKind> {
    match kind {
        ConnKind::Router => Some(LinkKind::Route),
        ConnKind::Gateway => Some(LinkKind::Gateway),
        ConnKind::Leafnode => Some(LinkKind::Leafnode),
        _ => None,
    }
}
