//! The shape of a route: which servers the message went through and over which connection
//! kinds, with connection ids, hops and times left out, so that two messages that took the
//! same way have the same shape. `listen`'s summary counts messages per shape; the `probe`
//! command can reuse [`fingerprint`].
//!
//! The text is the tree written on one line: `server[kind>child[…], kind, …]`, where a child
//! is a server reached over a route, gateway or leafnode, and a bare kind is a delivery to a
//! client or a JetStream store (each kind listed once). Children and kinds are sorted, so
//! arrival order does not matter. A server whose trace is missing is `?`.

use std::collections::BTreeSet;

use crate::trace::event::Event;
use crate::trace::stitch::{NodeIndex, TraceGraph};

/// The most bytes of a shape; a longer one is cut and ends in `…`.
pub const MAX_SHAPE_BYTES: usize = 512;

/// The route shape of `graph` (detached traces are not part of it).
pub fn fingerprint(graph: &TraceGraph) -> String {
    let mut out = String::new();
    write_node(graph, graph.root, &mut out);
    crate::text::cut_with_ellipsis(&mut out, MAX_SHAPE_BYTES);
    out
}

/// Writes the shape under `start` without recursion: each server's part is made from its
/// children's parts, children first.
fn write_node(graph: &TraceGraph, start: NodeIndex, out: &mut String) {
    let order: Vec<NodeIndex> = graph
        .walk(start)
        .filter_map(|step| match step {
            crate::trace::stitch::Step::Server { node, .. } => Some(node),
            crate::trace::stitch::Step::Egress { .. } => None,
        })
        .collect();
    let mut parts: std::collections::HashMap<NodeIndex, String> = std::collections::HashMap::new();
    for &ix in order.iter().rev() {
        let part = server_part(graph, ix, &mut parts);
        parts.insert(ix, part);
    }
    out.push_str(parts.get(&start).map_or("?", String::as_str));
}

/// One server's part: its name and its sorted children and delivery kinds; the children's
/// parts are taken from `parts`.
fn server_part(
    graph: &TraceGraph,
    ix: NodeIndex,
    parts: &mut std::collections::HashMap<NodeIndex, String>,
) -> String {
    let node = graph.node(ix);
    let name = if node.is_missing() {
        "?".to_string()
    } else {
        node.server_name().to_string()
    };
    let children = graph.children_by_egress(ix);
    let mut items: BTreeSet<String> = BTreeSet::new();
    for (index, child) in children.iter().enumerate() {
        let Some(entry) = node.egress(index) else {
            continue;
        };
        let kind = entry.egress.kind.name().to_ascii_lowercase();
        match child {
            Some(child) => {
                let part = parts.remove(child).unwrap_or_else(|| "?".to_string());
                items.insert(format!("{kind}>{part}"));
            }
            None => {
                items.insert(kind.to_string());
            }
        }
    }
    if node
        .events()
        .iter()
        .any(|e| matches!(e, Event::JetStream(_)))
    {
        items.insert("jetstream".to_string());
    }
    if items.is_empty() {
        return name;
    }
    let inner: Vec<String> = items.into_iter().collect();
    format!("{name}[{}]", inner.join(", "))
}
