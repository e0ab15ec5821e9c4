//! A report's route as a flat list of server visits ([`Route`]), read from the analysis, and
//! its fingerprint ([`Fingerprint`]): the route with connection ids, hops and timings left
//! out, at a [`SnapshotLevel`] that tolerates legitimate variation. `trace --count`
//! ([`crate::trace::stats`]), `check --snapshot` and `probe` all read these, so the three
//! agree on what "the same route" means.
//!
//! Bounds: a route keeps at most [`MAX_ROUTE_HOPS`] servers (the rest are counted), and a
//! fingerprint at most [`MAX_FINGERPRINT_LINES`] lines of at most [`MAX_LABEL_BYTES`] bytes
//! of each name, so hostile traces cannot make them large.

use std::collections::{BTreeSet, HashMap};

use crate::trace::analysis::{JetStreamAction, Outcome};
use crate::trace::event::ConnKind;
use crate::trace::report::TraceReport;
use crate::trace::stitch::{NodeIndex, Step, TraceGraph};

/// The most servers a [`Route`] keeps.
pub const MAX_ROUTE_HOPS: usize = 256;
/// The most lines of a [`Fingerprint`]; longer ones end in a `… N more line(s)` line.
pub const MAX_FINGERPRINT_LINES: usize = 256;
/// The most bytes of a server or cluster name in a route (longer ones are cut, ending in `…`).
pub const MAX_LABEL_BYTES: usize = 64;

/// How much of a route its fingerprint keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotLevel {
    /// Servers by cluster: which server of a cluster the message lands on, and the route
    /// hops inside one cluster, do not matter.
    #[default]
    Cluster,
    /// Every server by name, and every connection between them.
    Server,
}

impl SnapshotLevel {
    /// The name in snapshot files and `--snapshot-level`.
    pub fn name(self) -> &'static str {
        match self {
            SnapshotLevel::Cluster => "cluster",
            SnapshotLevel::Server => "server",
        }
    }

    /// The level named `text` (`cluster` or `server`).
    pub fn parse(text: &str) -> Option<SnapshotLevel> {
        match text {
            "cluster" => Some(SnapshotLevel::Cluster),
            "server" => Some(SnapshotLevel::Server),
            _ => None,
        }
    }
}

/// One server the message visited (or that should have reported and did not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHop {
    /// The server's name; for a missing server the name it was expected under, or `?`.
    pub server: String,
    /// The server's cluster, or its name when it is in none (a lone server or a leaf).
    pub cluster: String,
    /// What the analysis says became of the message there.
    pub outcome: Outcome,
    /// The position in [`Route::hops`] of the server it came from.
    pub parent: Option<usize>,
    /// The kind of connection it came over.
    pub via: Option<ConnKind>,
    /// Hops from the origin.
    pub depth: usize,
    /// Nanoseconds from the origin's ingress to this server's ingress.
    pub arrival_nanos: Option<i128>,
    /// Nanoseconds from the parent's egress to this server's ingress (the link's latency).
    pub link_nanos: Option<i128>,
    /// What the message ended in here: `client`, `jetstream STREAM ACTION`, failed egresses.
    pub ends: BTreeSet<String>,
}

impl RouteHop {
    /// True when the server's trace did not arrive.
    pub fn is_missing(&self) -> bool {
        self.outcome == Outcome::Missing
    }
}

/// A report's route, origin first, in display order (detached traces are not part of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    pub hops: Vec<RouteHop>,
    /// Servers past [`MAX_ROUTE_HOPS`], left out.
    pub left_out: usize,
}

impl Route {
    /// The route of `report`, read from its graph and its analysis.
    pub fn of(report: &TraceReport) -> Route {
        let graph = &report.graph;
        let origin = graph.origin_time();
        let mut route = Route::default();
        let mut positions: HashMap<NodeIndex, usize> = HashMap::new();
        for step in graph.walk(graph.root) {
            let Step::Server { node, depth } = step else {
                continue;
            };
            if route.hops.len() >= MAX_ROUTE_HOPS {
                route.left_out += 1;
                continue;
            }
            let hop = visit(report, node, depth, origin.as_ref(), &positions);
            positions.insert(node, route.hops.len());
            route.hops.push(hop);
        }
        route
    }
}

/// The hop of the server at `node`.
fn visit(
    report: &TraceReport,
    node: NodeIndex,
    depth: usize,
    origin: Option<&crate::trace::event::Timestamp>,
    positions: &HashMap<NodeIndex, usize>,
) -> RouteHop {
    let graph = &report.graph;
    let server = graph.node(node);
    let arrived = server
        .trace
        .as_ref()
        .and_then(|t| t.ingress())
        .map(|i| &i.ts);
    let parent = graph.parent(node);
    let sent = parent.and_then(|(p, index)| graph.node(p).egress(index));
    let name = if server.is_missing() {
        server.expected_name()
    } else {
        server.server_name()
    };
    let cluster = server
        .trace
        .as_ref()
        .map(|t| t.server.cluster.as_str())
        .filter(|c| !c.is_empty())
        .unwrap_or(name);
    RouteHop {
        server: label(if name.is_empty() { "?" } else { name }),
        cluster: label(if cluster.is_empty() { "?" } else { cluster }),
        outcome: report.analysis().node(node).outcome,
        parent: parent.and_then(|(p, _)| positions.get(&p).copied()),
        via: sent.map(|entry| entry.egress.kind),
        depth,
        arrival_nanos: arrived.zip(origin).and_then(|(a, o)| a.since(o)),
        link_nanos: arrived.zip(sent).and_then(|(a, s)| a.since(&s.egress.ts)),
        ends: ends_of(report, graph, node),
    }
}

/// What the message ended in at `node`: deliveries, JetStream actions, failed egresses and
/// links to servers that are not in the graph.
fn ends_of(report: &TraceReport, graph: &TraceGraph, node: NodeIndex) -> BTreeSet<String> {
    let mut ends = BTreeSet::new();
    let children = graph.children_by_egress(node);
    for (index, entry) in graph.node(node).egresses().enumerate() {
        let kind = kind_name(entry.egress.kind);
        if !entry.egress.error.is_empty() {
            ends.insert(format!("{kind} (error)"));
        } else if entry.egress.kind == ConnKind::Client {
            ends.insert(kind);
        } else if children.get(index).copied().flatten().is_none() {
            ends.insert(format!("{kind}> ?"));
        }
    }
    for js in report.analysis().jetstream_of(node) {
        let action = match js.action {
            JetStreamAction::Stored => "stored",
            JetStreamAction::NoInterest => "no-interest",
            JetStreamAction::Rejected => "rejected",
        };
        ends.insert(format!("jetstream {} {action}", label(&js.stream)));
    }
    ends
}

/// The lower-case name of a connection kind (`route`, `gateway`, `leafnode`, `client`, …).
pub fn kind_name(kind: ConnKind) -> String {
    match kind {
        ConnKind::Router => "route".to_string(),
        other => other.name().to_ascii_lowercase().replace(' ', "-"),
    }
}

/// `text`, terminal-safe and cut to [`MAX_LABEL_BYTES`].
fn label(text: &str) -> String {
    let mut out = crate::text::sanitize(text);
    crate::text::cut_with_ellipsis(&mut out, MAX_LABEL_BYTES);
    out
}

/// A route with ids and timings left out, as indented lines (children and ends sorted, so
/// arrival order does not matter).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    pub lines: Vec<String>,
}

impl Fingerprint {
    /// The fingerprint of `route` at `level`.
    pub fn of(route: &Route, level: SnapshotLevel) -> Fingerprint {
        let (labels, owner) = grouped(route, level);
        let mut blocks: Vec<Option<Vec<String>>> = vec![None; route.hops.len()];
        let mut children: Vec<Vec<(String, Vec<String>)>> = vec![Vec::new(); route.hops.len()];
        for (position, hop) in route.hops.iter().enumerate().rev() {
            if owner[position] != position {
                continue;
            }
            let block = block_of(position, &labels[position], route, &owner, &mut children);
            match hop.parent.map(|p| owner[p]) {
                Some(parent) => {
                    let kind = hop.via.map_or_else(|| "?".to_string(), kind_name);
                    children[parent].push((kind, block));
                }
                None => blocks[position] = Some(block),
            }
        }
        let mut lines = blocks.into_iter().flatten().next().unwrap_or_default();
        if route.left_out > 0 {
            lines.push(format!("… {} more server(s)", route.left_out));
        }
        cut(&mut lines);
        Fingerprint { lines }
    }

    /// The fingerprint of a report at `level`.
    pub fn of_report(report: &TraceReport, level: SnapshotLevel) -> Fingerprint {
        Fingerprint::of(&Route::of(report), level)
    }

    /// The lines joined with ` | `, for a log line or a label.
    pub fn one_line(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.trim_start())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// A short stable hash of the lines (16 hex digits, FNV-1a), for log lines.
    pub fn hash(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for line in &self.lines {
            for byte in line.bytes().chain(std::iter::once(b'\n')) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    }
}

/// The label of every hop at `level`, and the hop each is folded into: at cluster level a
/// server reached over a route inside its parent's cluster is folded into that parent.
fn grouped(route: &Route, level: SnapshotLevel) -> (Vec<String>, Vec<usize>) {
    let mut labels = Vec::with_capacity(route.hops.len());
    let mut owner: Vec<usize> = Vec::with_capacity(route.hops.len());
    for (position, hop) in route.hops.iter().enumerate() {
        let folded = match (level, hop.parent) {
            (SnapshotLevel::Cluster, Some(parent))
                if hop.via == Some(ConnKind::Router)
                    && !hop.is_missing()
                    && route.hops[parent].cluster == hop.cluster =>
            {
                owner[parent]
            }
            _ => position,
        };
        owner.push(folded);
        labels.push(match level {
            SnapshotLevel::Cluster => hop.cluster.clone(),
            SnapshotLevel::Server => hop.server.clone(),
        });
    }
    (labels, owner)
}

/// The lines of the group led by `position`: its label and outcomes, then its ends and its
/// children's blocks, sorted, indented by two spaces.
fn block_of(
    position: usize,
    label: &str,
    route: &Route,
    owner: &[usize],
    children: &mut [Vec<(String, Vec<String>)>],
) -> Vec<String> {
    let mut outcomes = BTreeSet::new();
    let mut items: BTreeSet<Vec<String>> = BTreeSet::new();
    for (member, hop) in route.hops.iter().enumerate() {
        if owner[member] != position {
            continue;
        }
        outcomes.insert(hop.outcome.name());
        for end in &hop.ends {
            items.insert(vec![format!("-> {end}")]);
        }
    }
    if outcomes.len() > 1 {
        outcomes.remove(Outcome::Forwarded.name());
    }
    for (kind, block) in std::mem::take(&mut children[position]) {
        let mut lines = Vec::with_capacity(block.len());
        for (i, line) in block.into_iter().enumerate() {
            lines.push(if i == 0 {
                format!("{kind}> {line}")
            } else {
                line
            });
        }
        items.insert(lines);
    }
    let outcomes: Vec<&str> = outcomes.into_iter().collect();
    let mut lines = vec![format!("{label} ({})", outcomes.join(", "))];
    for item in items {
        lines.extend(item.into_iter().map(|l| format!("  {l}")));
        if lines.len() > MAX_FINGERPRINT_LINES {
            break;
        }
    }
    lines
}

/// Cuts `lines` to [`MAX_FINGERPRINT_LINES`], saying how many were left out.
fn cut(lines: &mut Vec<String>) {
    if lines.len() > MAX_FINGERPRINT_LINES {
        let more = lines.len() - (MAX_FINGERPRINT_LINES - 1);
        lines.truncate(MAX_FINGERPRINT_LINES - 1);
        lines.push(format!("… {more} more line(s)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(server: &str, cluster: &str, parent: Option<usize>, via: Option<ConnKind>) -> RouteHop {
        RouteHop {
            server: server.to_string(),
            cluster: cluster.to_string(),
            outcome: Outcome::Delivered,
            parent,
            via,
            depth: parent.map_or(0, |_| 1),
            arrival_nanos: None,
            link_nanos: None,
            ends: ["client".to_string()].into_iter().collect(),
        }
    }

    #[test]
    fn cluster_level_ignores_which_server_of_a_cluster_is_reached() {
        let a = Route {
            hops: vec![
                hop("e1", "EAST", None, None),
                hop("w1", "WEST", Some(0), Some(ConnKind::Gateway)),
            ],
            left_out: 0,
        };
        let mut b = a.clone();
        b.hops[1] = RouteHop {
            outcome: Outcome::Forwarded,
            ends: BTreeSet::new(),
            ..hop("w2", "WEST", Some(0), Some(ConnKind::Gateway))
        };
        b.hops
            .push(hop("w1", "WEST", Some(1), Some(ConnKind::Router)));
        let level = SnapshotLevel::Cluster;
        assert_eq!(Fingerprint::of(&a, level), Fingerprint::of(&b, level));
        assert_eq!(
            Fingerprint::of(&a, level).lines,
            [
                "EAST (delivered)",
                "  -> client",
                "  gateway> WEST (delivered)",
                "    -> client"
            ]
        );
        let level = SnapshotLevel::Server;
        assert_ne!(Fingerprint::of(&a, level), Fingerprint::of(&b, level));
    }

    #[test]
    fn long_routes_are_cut() {
        let mut route = Route::default();
        for i in 0..300_usize {
            let parent = i.checked_sub(1);
            let via = parent.map(|_| ConnKind::Leafnode);
            route
                .hops
                .push(hop(&format!("s{i}"), &format!("s{i}"), parent, via));
        }
        let print = Fingerprint::of(&route, SnapshotLevel::Server);
        assert_eq!(print.lines.len(), MAX_FINGERPRINT_LINES);
        assert!(print.lines[MAX_FINGERPRINT_LINES - 1].starts_with("… "));
        assert_eq!(print.hash().len(), 16);
    }
}
