//! Stitching of per-server trace messages into one route tree, ordered by `Nats-Trace-Hop`.
//!
//! A [`Stitcher`] takes trace messages in any order and tells after each one, in O(events),
//! whether the tree is complete. [`Stitcher::finish`] builds the [`TraceGraph`]: a petgraph
//! tree rooted at the origin server (the trace whose ingress is a client connection), each
//! server hanging under the egress whose `hop` equals its `Nats-Trace-Hop`. A server whose
//! trace never arrived becomes a placeholder node marked missing, so no received trace is
//! dropped; traces that cannot be placed (a second origin, a repeated hop, no hop at all) are
//! kept as detached nodes with a [`Problem`] saying why.

use foldhash::HashMap;
use foldhash::{HashMapExt, HashSet, HashSetExt};
use std::cmp::Ordering;
use std::sync::Arc;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::event::{ConnKind, Egress, Event, Timestamp, TraceMessage};

/// The most bytes of hop text spent on placeholders for servers above a received trace that
/// never reported (the ancestors of a deep trace). Each placeholder holds its whole hop, so a
/// trace at depth *d* whose ancestors are all missing needs about *d*² bytes; past this bound
/// (thousands of missing servers in a row) the trace is shown detached instead.
pub const MAX_PLACEHOLDER_BYTES: usize = 32 * 1024 * 1024;

/// What one placeholder costs besides its hop text, for [`MAX_PLACEHOLDER_BYTES`].
const PLACEHOLDER_OVERHEAD: usize = 256;

/// The parent hop of `hop`: `"1.2"` → `"1"`, `"1"` → `""` (the origin).
pub fn parent_hop(hop: &str) -> &str {
    match hop.rfind('.') {
        Some(pos) => &hop[..pos],
        None => "",
    }
}

/// Orders hops numerically per dotted component: `1.2` < `1.10` < `2`.
pub fn compare_hops(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = compare_component(x, y);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

fn compare_component(x: &str, y: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (numeric(x), numeric(y)) {
        (true, true) => {
            let x = x.trim_start_matches('0');
            let y = y.trim_start_matches('0');
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.cmp(y),
    }
}

/// Something about the received traces that does not fit one tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A second trace claims to be the origin (client ingress, no hop).
    DuplicateOrigin { server: String },
    /// Two traces carry the same `Nats-Trace-Hop`.
    DuplicateHop { hop: String, server: String },
    /// A trace from a remote server without a `Nats-Trace-Hop` header.
    NoHop { server: String },
    /// A trace whose first event is not an ingress.
    NoIngress { server: String, hop: String },
    /// An egress whose hop does not continue its own server's hop.
    StrayEgressHop { server: String, hop: String },
    /// A trace so deep below servers that never reported that showing each of them would
    /// exceed [`MAX_PLACEHOLDER_BYTES`].
    TooManyMissingAncestors { server: String, hop: String },
}

/// A hop for a one-line message: long ones are cut, with their length said.
fn short_hop(hop: &str) -> String {
    const SHOWN: usize = 64;
    if hop.len() <= SHOWN {
        return format!("{hop:?}");
    }
    let mut end = SHOWN;
    while !hop.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &hop[..end], hop.len())
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::DuplicateOrigin { server } => {
                write!(
                    f,
                    "a second origin trace arrived (server {server:?}); shown detached"
                )
            }
            Problem::DuplicateHop { hop, server } => write!(
                f,
                "a second trace for hop {} arrived (server {server:?}); shown detached",
                short_hop(hop)
            ),
            Problem::NoHop { server } => write!(
                f,
                "a trace from server {server:?} has no Nats-Trace-Hop header; shown detached"
            ),
            Problem::NoIngress { server, hop } => write!(
                f,
                "the trace from server {server:?} (hop {}) has no ingress event",
                short_hop(hop)
            ),
            Problem::StrayEgressHop { server, hop } => write!(
                f,
                "server {server:?} reports an egress with hop {} that does not continue its own hop",
                short_hop(hop)
            ),
            Problem::TooManyMissingAncestors { server, hop } => write!(
                f,
                "the trace from server {server:?} (hop {}) is below too many servers that did not report; shown detached",
                short_hop(hop)
            ),
        }
    }
}

/// A server in the route tree.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerNode {
    /// The `Nats-Trace-Hop` this server received the message with; `""` for the origin.
    pub hop: String,
    /// The server's trace message; `None` when it never arrived.
    pub trace: Option<TraceMessage>,
    /// For a missing server: the name its neighbours know it by (may be empty).
    pub expected_name: String,
    /// The egresses of this server in the server's order, plus, for a missing server or one
    /// that failed to list a child, synthetic egresses standing for the children that arrived.
    pub egresses: Vec<EgressEntry>,
    /// True for a trace that could not be placed in the tree.
    pub detached: bool,
}

impl ServerNode {
    pub fn is_missing(&self) -> bool {
        self.trace.is_none()
    }

    /// The server name: from its trace, else the name its neighbours gave.
    pub fn server_name(&self) -> &str {
        match &self.trace {
            Some(t) if !t.server.name.is_empty() => &t.server.name,
            _ => &self.expected_name,
        }
    }

    pub fn events(&self) -> &[Event] {
        self.trace
            .as_ref()
            .map(|t| t.events.as_slice())
            .unwrap_or(&[])
    }
}

/// An egress of a server, as reported or synthesised.
#[derive(Debug, Clone, PartialEq)]
pub struct EgressEntry {
    /// Shared with the server's trace message.
    pub egress: Arc<Egress>,
    /// True when the server did not report it and it stands for a child that did.
    pub synthetic: bool,
}

/// The stitched route tree.
#[derive(Debug, Clone)]
pub struct TraceGraph {
    /// Servers as nodes; an edge per egress that leads to another server, weighted by the
    /// index of that egress in the parent's [`ServerNode::egresses`].
    pub graph: DiGraph<ServerNode, usize>,
    pub root: NodeIndex,
    /// Traces that could not be placed, in arrival order.
    pub detached: Vec<NodeIndex>,
    pub problems: Vec<Problem>,
}

/// One step of a depth-first walk of the tree, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A server, at `depth` hops from the origin.
    Server { node: NodeIndex, depth: usize },
    /// The `index`-th egress of `node`; a `Server` step for its child follows when it has one.
    Egress {
        node: NodeIndex,
        index: usize,
        depth: usize,
        child: Option<NodeIndex>,
    },
}

impl TraceGraph {
    pub fn node(&self, ix: NodeIndex) -> &ServerNode {
        &self.graph[ix]
    }

    /// The child reached through each egress of `ix`, indexed like its egresses.
    pub fn children_by_egress(&self, ix: NodeIndex) -> Vec<Option<NodeIndex>> {
        let mut out = vec![None; self.graph[ix].egresses.len()];
        for edge in self.graph.edges_directed(ix, Direction::Outgoing) {
            if let Some(slot) = out.get_mut(*edge.weight()) {
                *slot = Some(edge.target());
            }
        }
        out
    }

    /// The parent of `ix`, and the index of the egress leading to it.
    pub fn parent(&self, ix: NodeIndex) -> Option<(NodeIndex, usize)> {
        self.graph
            .edges_directed(ix, Direction::Incoming)
            .next()
            .map(|e| (e.source(), *e.weight()))
    }

    /// Depth-first walk from `start`, without recursion (chains may be very deep).
    pub fn walk(&self, start: NodeIndex) -> Vec<Step> {
        enum Work {
            Server(NodeIndex, usize),
            Egress(NodeIndex, usize, usize, Option<NodeIndex>),
        }
        let mut steps = Vec::with_capacity(self.graph.node_count() * 2);
        let mut stack = vec![Work::Server(start, 0)];
        while let Some(work) = stack.pop() {
            match work {
                Work::Server(node, depth) => {
                    steps.push(Step::Server { node, depth });
                    let children = self.children_by_egress(node);
                    for (index, child) in children.into_iter().enumerate().rev() {
                        stack.push(Work::Egress(node, index, depth, child));
                    }
                }
                Work::Egress(node, index, depth, child) => {
                    steps.push(Step::Egress {
                        node,
                        index,
                        depth,
                        child,
                    });
                    if let Some(child) = child {
                        stack.push(Work::Server(child, depth + 1));
                    }
                }
            }
        }
        steps
    }

    /// Every node: the tree from the root, then each detached node.
    pub fn nodes(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.node_indices()
    }

    /// True when every expected server trace arrived: no node is missing and no trace had to
    /// be detached for lack of room for its missing ancestors.
    pub fn is_complete(&self) -> bool {
        self.graph.node_weights().all(|n| !n.is_missing())
            && !self
                .problems
                .iter()
                .any(|p| matches!(p, Problem::TooManyMissingAncestors { .. }))
    }

    /// Servers whose trace did not arrive.
    pub fn missing(&self) -> impl Iterator<Item = &ServerNode> {
        self.graph.node_weights().filter(|n| n.is_missing())
    }

    /// The origin ingress timestamp, the reference for relative times.
    pub fn origin_time(&self) -> Option<Timestamp> {
        self.graph[self.root].trace.as_ref().and_then(|t| {
            t.ingress()
                .map(|i| i.ts.clone())
                .or_else(|| t.server.time.clone())
        })
    }

    /// Egress counts by kind name, JetStream counted per stream event; ordered by count
    /// (largest first), then by name.
    pub fn egress_counts(&self) -> Vec<(&'static str, usize)> {
        // Counted by kind number: the known kinds 0..=6, anything else in one "unknown" slot.
        let mut counts = [0usize; 8];
        let slot = |kind: ConnKind| match kind.number() {
            n @ 0..=6 => n as usize,
            _ => 7,
        };
        for node in self.graph.node_weights() {
            for entry in &node.egresses {
                counts[slot(entry.egress.kind)] += 1;
            }
            for event in node.events() {
                if let Event::JetStream(_) = event {
                    counts[slot(ConnKind::JetStream)] += 1;
                }
            }
        }
        let mut rows: Vec<(&'static str, usize)> = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (ConnKind::from_number(i as i64).name(), *n))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        rows
    }

    /// How many errors the servers reported (ingress, egress and JetStream), without
    /// walking the tree.
    pub fn error_count(&self) -> usize {
        self.graph
            .node_weights()
            .flat_map(|n| n.events())
            .filter(|event| match event {
                Event::Ingress(i) => !i.error.is_empty(),
                Event::Egress(e) => !e.error.is_empty(),
                Event::JetStream(j) => !j.error.is_empty(),
                _ => false,
            })
            .count()
    }

    /// Every error reported anywhere: ingress, egress and JetStream, with the server, in tree
    /// order, then detached traces.
    pub fn errors(&self) -> Vec<ReportedError> {
        let mut out = Vec::new();
        if self.error_count() == 0 {
            return out;
        }
        let order = self.walk(self.root).into_iter().filter_map(|s| match s {
            Step::Server { node, .. } => Some(node),
            Step::Egress { .. } => None,
        });
        let all: Vec<NodeIndex> = order.chain(self.detached.iter().copied()).collect();
        for ix in all {
            let node = &self.graph[ix];
            for event in node.events() {
                let (kind, message) = match event {
                    Event::Ingress(i) if !i.error.is_empty() => ("ingress", &i.error),
                    Event::Egress(e) if !e.error.is_empty() => ("egress", &e.error),
                    Event::JetStream(j) if !j.error.is_empty() => ("jetstream", &j.error),
                    _ => continue,
                };
                out.push(ReportedError {
                    server: node.server_name().to_string(),
                    hop: node.hop.clone(),
                    kind,
                    message: message.clone(),
                });
            }
        }
        out
    }
}

/// An error a server reported in its trace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportedError {
    pub server: String,
    pub hop: String,
    /// `ingress`, `egress` or `jetstream`.
    pub kind: &'static str,
    pub message: String,
}

/// Where a hop was announced: by which trace's which egress.
#[derive(Debug, Clone, Copy)]
struct Announcement {
    trace: usize,
    egress: usize,
    expects_trace: bool,
    /// Whether the trace for the hop has arrived.
    arrived: bool,
}

/// Collects trace messages in any order and knows, after each, whether the tree is complete.
#[derive(Debug, Default)]
pub struct Stitcher {
    traces: Vec<TraceMessage>,
    origin: Option<usize>,
    by_hop: HashMap<String, usize>,
    /// Indices of traces that cannot be placed.
    detached: Vec<usize>,
    problems: Vec<Problem>,
    /// Hops announced by egresses of placed traces: the trace and the position of the egress
    /// among its egresses, and whether that egress expects a trace back.
    announced: HashMap<String, Announcement>,
    /// Announced hops whose trace has not arrived.
    awaited: usize,
    /// Placed remote traces whose parent's trace has not arrived, by parent hop.
    orphans: HashMap<String, usize>,
    /// The sum of `orphans`.
    waiting_for_parent: usize,
}

impl Stitcher {
    pub fn new() -> Stitcher {
        Stitcher::default()
    }

    /// Number of trace messages taken so far.
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    pub fn has_origin(&self) -> bool {
        self.origin.is_some()
    }

    /// True when the origin arrived, every server it leads to reported, recursively, and
    /// every trace's parent reported.
    pub fn is_complete(&self) -> bool {
        self.origin.is_some() && self.awaited == 0 && self.waiting_for_parent == 0
    }

    /// Whether the trace for `hop` (`""`: the origin) has been placed.
    fn arrived(&self, hop: &str) -> bool {
        if hop.is_empty() {
            self.origin.is_some()
        } else {
            self.by_hop.contains_key(hop)
        }
    }

    /// Records that the trace for `hop` arrived: the traces waiting for it wait no more.
    fn parent_arrived(&mut self, hop: &str) {
        if self.orphans.is_empty() {
            return;
        }
        if let Some(n) = self.orphans.remove(hop) {
            self.waiting_for_parent -= n;
        }
    }

    /// Problems found so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Takes one trace message.
    pub fn add(&mut self, trace: TraceMessage) {
        let index = self.traces.len();
        let hop = trace.hop();
        let name = || trace.server.name.clone();
        if trace.ingress().is_none() {
            self.problems.push(Problem::NoIngress {
                server: name(),
                hop: hop.to_string(),
            });
        }
        let placed = if hop.is_empty() {
            if trace.ingress().is_none_or(|i| i.kind != ConnKind::Client) {
                self.problems.push(Problem::NoHop { server: name() });
                false
            } else if self.origin.is_some() {
                self.problems
                    .push(Problem::DuplicateOrigin { server: name() });
                false
            } else {
                self.origin = Some(index);
                self.parent_arrived("");
                true
            }
        } else if self.by_hop.contains_key(hop) {
            self.problems.push(Problem::DuplicateHop {
                hop: hop.to_string(),
                server: name(),
            });
            false
        } else {
            let parent = parent_hop(hop);
            if !self.arrived(parent) {
                *self.orphans.entry(parent.to_string()).or_default() += 1;
                self.waiting_for_parent += 1;
            }
            self.parent_arrived(hop);
            if let Some(a) = self.announced.get_mut(hop) {
                if a.expects_trace {
                    self.awaited -= 1;
                }
                a.arrived = true;
            }
            self.by_hop.insert(hop.to_string(), index);
            true
        };
        if placed {
            self.announced.reserve(trace.egresses().count());
            for (position, egress) in trace.egresses().enumerate() {
                if egress.hop.is_empty() {
                    continue;
                }
                if parent_hop(&egress.hop) != hop {
                    self.problems.push(Problem::StrayEgressHop {
                        server: trace.server.name.clone(),
                        hop: egress.hop.clone(),
                    });
                    continue;
                }
                let expects_trace = egress.expects_trace();
                let arrived = !self.by_hop.is_empty() && self.by_hop.contains_key(&egress.hop);
                match self.announced.get_mut(&egress.hop) {
                    None => {
                        if expects_trace && !arrived {
                            self.awaited += 1;
                        }
                        self.announced.insert(
                            egress.hop.clone(),
                            Announcement {
                                trace: index,
                                egress: position,
                                expects_trace,
                                arrived,
                            },
                        );
                    }
                    // A hop listed twice: the egress that expects a trace back is the one.
                    Some(first) if !first.expects_trace && expects_trace => {
                        if !arrived {
                            self.awaited += 1;
                        }
                        *first = Announcement {
                            trace: index,
                            egress: position,
                            expects_trace,
                            arrived,
                        };
                    }
                    Some(_) => {}
                }
            }
            // The awaited traces will land here: make room once rather than regrow.
            self.by_hop.reserve(self.awaited);
        } else {
            self.detached.push(index);
        }
        self.traces.push(trace);
    }

    /// Builds the route tree from everything taken.
    pub fn finish(self) -> TraceGraph {
        let Stitcher {
            traces,
            origin,
            by_hop,
            detached,
            problems,
            announced: announcements,
            waiting_for_parent,
            ..
        } = self;
        let mut slots: Vec<Option<TraceMessage>> = traces.into_iter().map(Some).collect();
        let mut graph: DiGraph<ServerNode, usize> =
            DiGraph::with_capacity(slots.len() + 1, slots.len());
        let mut node_of_hop: HashMap<String, NodeIndex> = HashMap::with_capacity(by_hop.len() + 1);

        let make_node = |trace: Option<TraceMessage>, hop: String, detached: bool| {
            let egresses = trace
                .as_ref()
                .map(|t| {
                    t.egress_handles()
                        .map(|e| EgressEntry {
                            egress: Arc::clone(e),
                            synthetic: false,
                        })
                        .collect()
                })
                .unwrap_or_default();
            ServerNode {
                hop,
                trace,
                expected_name: String::new(),
                egresses,
                detached,
            }
        };

        let root_trace = origin.and_then(|i| slots[i].take());
        let root = graph.add_node(make_node(root_trace, String::new(), false));
        node_of_hop.insert(String::new(), root);

        // Place received remote traces in arrival order, except those whose missing
        // ancestors would not fit in the placeholder budget: they join the detached ones.
        let mut node_of_trace: Vec<Option<NodeIndex>> = vec![None; slots.len()];
        if let Some(i) = origin {
            node_of_trace[i] = Some(root);
        }
        let mut placed: Vec<(usize, String)> =
            by_hop.into_iter().map(|(hop, i)| (i, hop)).collect();
        placed.sort_unstable_by_key(|(i, _)| *i);
        // Placeholders for missing ancestors are only needed when a trace waits for its parent.
        let too_deep = if waiting_for_parent == 0 {
            HashSet::new()
        } else {
            over_placeholder_budget(&placed)
        };
        let mut problems = problems;
        let mut detached = detached;
        if !too_deep.is_empty() {
            for (index, hop) in placed.iter().filter(|(i, _)| too_deep.contains(i)) {
                let server = slots[*index]
                    .as_ref()
                    .map(|t| t.server.name.clone())
                    .unwrap_or_default();
                problems.push(Problem::TooManyMissingAncestors {
                    server,
                    hop: hop.clone(),
                });
                detached.push(*index);
            }
            placed.retain(|(i, _)| !too_deep.contains(i));
        }
        let mut placed_hops: Vec<NodeIndex> = Vec::with_capacity(placed.len());
        for (index, hop) in placed {
            let trace = slots[index].take();
            let ix = graph.add_node(make_node(trace, hop.clone(), false));
            node_of_trace[index] = Some(ix);
            node_of_hop.insert(hop, ix);
            placed_hops.push(ix);
        }
        // Placeholders for parents that never arrived, walking up from each received trace
        // until an existing node: each placeholder is made once.
        for ix in placed_hops {
            if node_of_hop.contains_key(parent_hop(&graph[ix].hop)) {
                continue;
            }
            let mut child = graph[ix].hop.clone();
            loop {
                let parent = parent_hop(&child).to_string();
                if node_of_hop.contains_key(&parent) {
                    break;
                }
                let ix = graph.add_node(make_node(None, parent.clone(), false));
                node_of_hop.insert(parent.clone(), ix);
                child = parent;
            }
        }
        // Where each hop was announced: the node and index of the egress with that hop.
        let announcer = |a: &Announcement| node_of_trace[a.trace].map(|ix| (ix, a.egress));
        // Placeholders for egresses whose server never reported, in egress order (a trace
        // detached for the placeholder budget arrived but has no node: it gets one too).
        let mut unreported: Vec<(&String, (NodeIndex, usize))> = announcements
            .iter()
            .filter(|(hop, a)| {
                // Only a hop whose trace did not arrive (or was detached) can lack a node;
                // the lookup also skips hops given a placeholder as a missing parent above.
                a.expects_trace
                    && (!a.arrived || !too_deep.is_empty())
                    && !node_of_hop.contains_key(*hop)
            })
            .filter_map(|(hop, a)| announcer(a).map(|at| (hop, at)))
            .collect();
        unreported.sort_unstable_by_key(|(_, at)| *at);
        for (hop, (parent, index)) in unreported {
            let mut node = make_node(None, hop.clone(), false);
            node.expected_name = graph[parent].egresses[index].egress.name.clone();
            let ix = graph.add_node(node);
            node_of_hop.insert(hop.clone(), ix);
        }
        // Link every non-root node to its parent through the egress that announced it, or,
        // when the parent is missing or did not list it, through a synthetic egress; those
        // are added per parent in hop order.
        let mut unlisted: Vec<(NodeIndex, NodeIndex)> = Vec::new();
        let children: Vec<NodeIndex> = graph.node_indices().filter(|ix| *ix != root).collect();
        for child in children {
            let child_hop = graph[child].hop.as_str();
            match announcements.get(child_hop).and_then(announcer) {
                Some((parent, index)) => {
                    graph.add_edge(parent, child, index);
                }
                None => unlisted.push((node_of_hop[parent_hop(child_hop)], child)),
            }
        }
        unlisted.sort_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                compare_hops(
                    last_component(&graph[a.1].hop),
                    last_component(&graph[b.1].hop),
                )
            })
        });
        for (parent, child) in unlisted {
            let egress = synthetic_egress(&graph[child], &graph[child].hop);
            let parent_node = &mut graph[parent];
            parent_node.egresses.push(EgressEntry {
                egress: Arc::new(egress),
                synthetic: true,
            });
            let index = parent_node.egresses.len() - 1;
            graph.add_edge(parent, child, index);
        }
        // Names for missing servers: a missing child is named by its parent's egress, a
        // missing parent by what its first child's ingress says.
        for ix in graph.node_indices().collect::<Vec<_>>() {
            if !graph[ix].is_missing() || !graph[ix].expected_name.is_empty() {
                continue;
            }
            let from_parent =
                self_parent(&graph, ix).map(|(p, i)| graph[p].egresses[i].egress.name.clone());
            let from_child = graph
                .edges_directed(ix, Direction::Outgoing)
                .filter_map(|e| graph[e.target()].trace.as_ref())
                .filter_map(|t| t.ingress())
                .map(|i| i.name.clone())
                .find(|n| !n.is_empty());
            graph[ix].expected_name = from_parent
                .filter(|n| !n.is_empty())
                .or(from_child)
                .unwrap_or_default();
        }
        let detached_nodes = detached
            .into_iter()
            .filter_map(|i| slots[i].take())
            .map(|trace| {
                let hop = trace.hop().to_string();
                graph.add_node(make_node(Some(trace), hop, true))
            })
            .collect();
        TraceGraph {
            graph,
            root,
            detached: detached_nodes,
            problems,
        }
    }
}

/// The arrival indices of placed traces whose missing ancestors would push the placeholders
/// past [`MAX_PLACEHOLDER_BYTES`]. Shallow traces are considered first, so that a trace
/// refused here is missing for its descendants too. Stops walking up as soon as the budget
/// is spent, so the time is bounded as well.
fn over_placeholder_budget(placed: &[(usize, String)]) -> HashSet<usize> {
    // The root (the origin, or its placeholder) is always there.
    let mut present: HashSet<&str> = placed.iter().map(|(_, hop)| hop.as_str()).collect();
    present.insert("");
    let mut order: Vec<(usize, usize, &str)> = placed
        .iter()
        .map(|(i, hop)| (hop.bytes().filter(|b| *b == b'.').count(), *i, hop.as_str()))
        .collect();
    order.sort_unstable();
    let mut created: HashSet<&str> = HashSet::new();
    let mut spent = 0usize;
    let mut refused = HashSet::new();
    let mut chain: Vec<&str> = Vec::new();
    for (_, index, hop) in order {
        chain.clear();
        let mut cost = 0usize;
        let mut child = hop;
        let mut fits = true;
        loop {
            let parent = parent_hop(child);
            if present.contains(parent) || created.contains(parent) {
                break;
            }
            cost += parent.len() + PLACEHOLDER_OVERHEAD;
            if spent + cost > MAX_PLACEHOLDER_BYTES {
                fits = false;
                break;
            }
            chain.push(parent);
            if parent.is_empty() {
                break;
            }
            child = parent;
        }
        if fits {
            spent += cost;
            created.extend(chain.iter().copied());
        } else {
            refused.insert(index);
            present.remove(hop);
        }
    }
    refused
}

/// The last dotted component of a hop (`"1.2.10"` → `"10"`).
fn last_component(hop: &str) -> &str {
    hop.rsplit('.').next().unwrap_or(hop)
}

/// The parent of `ix` in a graph under construction, and the egress index leading to it.
fn self_parent(graph: &DiGraph<ServerNode, usize>, ix: NodeIndex) -> Option<(NodeIndex, usize)> {
    graph
        .edges_directed(ix, Direction::Incoming)
        .next()
        .map(|e| (e.source(), *e.weight()))
}

/// The egress a missing parent must have had to reach `child`: the link kind is the child's
/// ingress kind, the name the child's server name.
fn synthetic_egress(child: &ServerNode, hop: &str) -> Egress {
    let ingress = child.trace.as_ref().and_then(|t| t.ingress());
    Egress {
        ts: Timestamp::default(),
        kind: ingress.map(|i| i.kind).unwrap_or(ConnKind::Router),
        cid: 0,
        name: child.server_name().to_string(),
        hop: hop.to_string(),
        account: String::new(),
        subscription: String::new(),
        queue: String::new(),
        error: String::new(),
    }
}

/// Stitches a complete set of trace messages in one call.
pub fn stitch(traces: impl IntoIterator<Item = TraceMessage>) -> TraceGraph {
    let mut stitcher = Stitcher::new();
    for trace in traces {
        stitcher.add(trace);
    }
    stitcher.finish()
}
