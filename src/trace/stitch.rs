//! Stitching of per-server trace messages into one route tree, ordered by `Nats-Trace-Hop`.
//!
//! A [`Stitcher`] takes trace messages in any order and tells after each one, in O(events),
//! whether the tree is complete. [`Stitcher::finish`] builds the [`TraceGraph`]: a petgraph
//! tree rooted at the origin server (the trace whose ingress is a client connection), each
//! server hanging under the egress whose `hop` equals its `Nats-Trace-Hop`. A server whose
//! trace never arrived becomes a placeholder node marked missing, so no received trace is
//! dropped; a run of such servers in a row (the ancestors of a deep trace) is one placeholder
//! that says how many and which hops, so the graph stays as big as its input. Traces that
//! cannot be placed (a second origin, a repeated hop, no hop at all) are
//! kept as detached nodes with a [`Problem`] saying why.

use compact_str::CompactString;
use foldhash::{HashMap, HashMapExt};

use petgraph::Direction;
use petgraph::graph::DiGraph;
use petgraph::visit::EdgeRef;

use crate::text::with_commas;
use crate::trace::event::{ConnKind, Egress, Event, Timestamp, TraceMessage};
use crate::trace::hop::HopMap;
pub use crate::trace::hop::{compare_hops, parent_hop};
pub use petgraph::graph::NodeIndex;

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
        }
    }
}

/// A server in the route tree.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerNode {
    /// The `Nats-Trace-Hop` this server received the message with; `""` for the origin.
    /// Hops are short, so they are kept inline rather than each in its own allocation.
    pub hop: CompactString,
    /// The server's trace message; `None` when it never arrived.
    pub trace: Option<Box<TraceMessage>>,
    /// Where the egress events of the trace are among its events.
    reported: EgressEvents,
    /// What few servers need, kept out of line so that thousands of nodes stay small.
    unusual: Option<Box<Unusual>>,
    /// True for a trace that could not be placed in the tree.
    pub detached: bool,
}

/// The parts of a [`ServerNode`] only missing servers, or servers that failed to list a
/// child, have.
#[derive(Debug, Clone, Default, PartialEq)]
struct Unusual {
    /// For a missing server: the name its neighbours know it by (may be empty).
    expected_name: CompactString,
    /// For a placeholder standing for several missing servers in a row: how many, and the
    /// hop of the last (the node's `hop` is the first's).
    run: Option<RunInfo>,
    /// Egresses standing for children that arrived but were not listed; they follow the
    /// reported ones.
    synthetic: Vec<Egress>,
}

/// What a placeholder for a run of missing servers keeps besides its first hop.
#[derive(Debug, Clone, PartialEq)]
struct RunInfo {
    count: usize,
    last: CompactString,
}

/// A placeholder standing for `servers` servers in a row that did not report: the first at
/// `first_hop` (the node's hop), each the parent of the next, the last at `last_hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MissingRun<'a> {
    pub servers: usize,
    pub first_hop: &'a str,
    pub last_hop: &'a str,
}

impl MissingRun<'_> {
    /// `4,999 servers`.
    pub fn servers_text(&self) -> String {
        format!("{} servers", with_commas(self.servers))
    }

    /// `hops 1 … 1.1.1.1`, each hop shortened to about [`SHORT_HOP`] bytes.
    pub fn hops_text(&self) -> String {
        format!(
            "hops {} … {}",
            shortened(self.first_hop),
            shortened(self.last_hop)
        )
    }
}

/// `4,999 servers at hops 1 … 1.1.1.1` (not sanitized).
impl std::fmt::Display for MissingRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.servers_text(), self.hops_text())
    }
}

/// About how many bytes of a long hop a one-line summary shows.
pub const SHORT_HOP: usize = 48;

/// A hop for one line: a long one keeps its start and end around `…`.
fn shortened(hop: &str) -> std::borrow::Cow<'_, str> {
    if hop.len() <= SHORT_HOP {
        return hop.into();
    }
    let mut head = SHORT_HOP * 2 / 3;
    while !hop.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = hop.len() - SHORT_HOP / 3;
    while !hop.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}…{}", &hop[..head], &hop[tail..]).into()
}

/// The positions of a trace's egress events among its events, found once per trace.
#[derive(Debug, Clone, PartialEq)]
enum EgressEvents {
    /// `count` egress events in a row from `first`: the usual shape, every egress after
    /// the other events, kept without an allocation.
    Run { first: u32, count: u32 },
    /// Egress events with other events between them (or too many for a `Run`).
    Scattered(Vec<usize>),
}

impl Default for EgressEvents {
    fn default() -> EgressEvents {
        EgressEvents::Run { first: 0, count: 0 }
    }
}

impl EgressEvents {
    /// Notes that the event at `position` (after those noted so far) is an egress.
    fn push(&mut self, position: usize) {
        match self {
            EgressEvents::Run { count: 0, .. } => {
                if let Ok(first) = u32::try_from(position) {
                    *self = EgressEvents::Run { first, count: 1 };
                    return;
                }
            }
            EgressEvents::Run { first, count } => {
                if *first as usize + *count as usize == position && *count < u32::MAX {
                    *count += 1;
                    return;
                }
            }
            EgressEvents::Scattered(positions) => {
                positions.push(position);
                return;
            }
        }
        let mut positions: Vec<usize> = (0..self.len()).filter_map(|i| self.position(i)).collect();
        positions.push(position);
        *self = EgressEvents::Scattered(positions);
    }

    fn len(&self) -> usize {
        match self {
            EgressEvents::Run { count, .. } => *count as usize,
            EgressEvents::Scattered(positions) => positions.len(),
        }
    }

    fn position(&self, index: usize) -> Option<usize> {
        match self {
            EgressEvents::Run { first, count } => {
                (index < *count as usize).then(|| *first as usize + index)
            }
            EgressEvents::Scattered(positions) => positions.get(index).copied(),
        }
    }
}

impl ServerNode {
    pub fn is_missing(&self) -> bool {
        self.trace.is_none()
    }

    /// The server name: from its trace, else the name its neighbours gave.
    pub fn server_name(&self) -> &str {
        match &self.trace {
            Some(t) if !t.server.name.is_empty() => &t.server.name,
            _ => self.expected_name(),
        }
    }

    /// For a missing server: the name its neighbours know it by (may be empty).
    pub fn expected_name(&self) -> &str {
        self.unusual
            .as_ref()
            .map_or("", |unusual| unusual.expected_name.as_str())
    }

    /// For a placeholder standing for more than one missing server in a row: how many and
    /// their hops. A single missing server has none.
    pub fn missing_run(&self) -> Option<MissingRun<'_>> {
        self.run().map(|run| MissingRun {
            servers: run.count,
            first_hop: &self.hop,
            last_hop: &run.last,
        })
    }

    /// How many servers that did not report this node stands for: 0 for a received trace,
    /// 1 for a placeholder, more for a run.
    pub fn missing_servers(&self) -> usize {
        match (&self.trace, self.run()) {
            (Some(_), _) => 0,
            (None, Some(run)) => run.count,
            (None, None) => 1,
        }
    }

    /// For a server that did not report: `hop 1 "leaf"`, or for a run how many servers at
    /// which hops; neutralised for printing.
    pub fn describe_missing(&self) -> String {
        match self.missing_run() {
            Some(run) => crate::text::sanitize(&run.to_string()),
            None if self.hop.is_empty() => {
                format!("hop (origin) {}", crate::text::go_quote(self.server_name()))
            }
            None => format!(
                "hop {} {}",
                crate::text::sanitize(&self.hop),
                crate::text::go_quote(self.server_name())
            ),
        }
    }

    fn run(&self) -> Option<&RunInfo> {
        self.unusual
            .as_ref()
            .and_then(|unusual| unusual.run.as_ref())
    }

    fn unusual(&mut self) -> &mut Unusual {
        self.unusual.get_or_insert_with(Box::default)
    }

    fn synthetic(&self) -> &[Egress] {
        self.unusual
            .as_ref()
            .map_or(&[], |unusual| unusual.synthetic.as_slice())
    }

    pub fn events(&self) -> &[Event] {
        self.trace
            .as_ref()
            .map(|t| t.events.as_slice())
            .unwrap_or(&[])
    }

    /// How many egresses the server has: those it reported, then the synthetic ones.
    pub fn egress_count(&self) -> usize {
        self.reported.len() + self.synthetic().len()
    }

    /// The `index`-th egress: reported ones in the server's order, then synthetic ones.
    pub fn egress(&self, index: usize) -> Option<EgressEntry<'_>> {
        let reported = self.reported.len();
        if index < reported {
            match self.events().get(self.reported.position(index)?)? {
                Event::Egress(egress) => Some(EgressEntry {
                    egress,
                    synthetic: false,
                }),
                _ => None,
            }
        } else {
            self.synthetic()
                .get(index - reported)
                .map(|egress| EgressEntry {
                    egress,
                    synthetic: true,
                })
        }
    }

    /// Every egress, in the order of [`ServerNode::egress`].
    pub fn egresses(&self) -> impl Iterator<Item = EgressEntry<'_>> {
        let reported = self
            .trace
            .iter()
            .flat_map(|t| t.egresses())
            .map(|egress| EgressEntry {
                egress,
                synthetic: false,
            });
        let synthetic = self.synthetic().iter().map(|egress| EgressEntry {
            egress,
            synthetic: true,
        });
        reported.chain(synthetic)
    }
}

/// An egress of a server, as reported or synthesised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EgressEntry<'a> {
    /// An event of the server's trace, or one made up for a child it did not list.
    pub egress: &'a Egress,
    /// True when the server did not report it and it stands for a child that did.
    pub synthetic: bool,
}

/// The stitched route tree.
#[derive(Debug, Clone)]
pub struct TraceGraph {
    /// Servers as nodes; an edge per egress that leads to another server, weighted by the
    /// index of that egress in the parent (see [`ServerNode::egress`]).
    pub graph: DiGraph<ServerNode, usize>,
    pub root: NodeIndex,
    /// Traces that could not be placed, in arrival order.
    pub detached: Vec<NodeIndex>,
    pub problems: Vec<Problem>,
    /// Counted while the nodes were made, when each trace was at hand, so that the summary
    /// lines need no second pass over thousands of traces.
    tally: Tally,
}

/// What [`TraceGraph`]'s summaries report, counted once in [`Stitcher::finish`].
#[derive(Debug, Clone, Default)]
struct Tally {
    /// Egresses (and JetStream events) by kind slot: the kinds 0..=6, then all others.
    kinds: [usize; 8],
    /// Ingress, egress and JetStream errors.
    errors: usize,
    /// Servers whose trace did not arrive, in node order.
    missing: Vec<NodeIndex>,
}

impl Tally {
    fn slot(kind: ConnKind) -> usize {
        match kind.number() {
            n @ 0..=6 => n as usize,
            _ => 7,
        }
    }

    /// Counts one event of a server's trace.
    fn event(&mut self, event: &Event) {
        match event {
            Event::Ingress(i) => self.errors += usize::from(!i.error.is_empty()),
            Event::Egress(e) => {
                self.kinds[Tally::slot(e.kind)] += 1;
                self.errors += usize::from(!e.error.is_empty());
            }
            Event::JetStream(j) => {
                self.kinds[Tally::slot(ConnKind::JetStream)] += 1;
                self.errors += usize::from(!j.error.is_empty());
            }
            _ => {}
        }
    }
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
        let mut out = Vec::new();
        self.fill_children(ix, &mut out);
        out
    }

    /// [`TraceGraph::children_by_egress`] into a buffer the caller reuses.
    fn fill_children(&self, ix: NodeIndex, out: &mut Vec<Option<NodeIndex>>) {
        out.clear();
        out.resize(self.graph[ix].egress_count(), None);
        for edge in self.graph.edges_directed(ix, Direction::Outgoing) {
            if let Some(slot) = out.get_mut(*edge.weight()) {
                *slot = Some(edge.target());
            }
        }
    }

    /// The parent of `ix`, and the index of the egress leading to it.
    pub fn parent(&self, ix: NodeIndex) -> Option<(NodeIndex, usize)> {
        self_parent(&self.graph, ix)
    }

    /// Depth-first walk from `start` in display order, step by step, without recursion
    /// (chains may be very deep) and without materialising the whole order.
    pub fn walk(&self, start: NodeIndex) -> Walk<'_> {
        Walk {
            graph: self,
            stack: vec![WalkWork::Server(start, 0)],
            children: Vec::new(),
        }
    }

    /// Every node, in the order they were made (petgraph index order): the root, the placed
    /// traces in arrival order, the placeholders, then the detached traces. For display
    /// order, use [`TraceGraph::walk`].
    pub fn nodes(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.node_indices()
    }

    /// True when every expected server trace arrived: no node is missing.
    pub fn is_complete(&self) -> bool {
        self.tally.missing.is_empty()
    }

    /// Placeholders for servers whose trace did not arrive, in node order; a placeholder may
    /// stand for a run of several (see [`ServerNode::missing_run`]).
    pub fn missing(&self) -> impl Iterator<Item = &ServerNode> {
        self.tally.missing.iter().map(|&ix| &self.graph[ix])
    }

    /// How many servers did not report (a run counts each of its servers).
    pub fn missing_servers(&self) -> usize {
        self.missing().map(ServerNode::missing_servers).sum()
    }

    /// `2 server trace(s) did not arrive: hop 1 "leaf", 4,999 servers at hops …`, safe to
    /// print; `None` when every trace arrived. The tree's `INCOMPLETE:` line and `check`'s
    /// incomplete cases say the same.
    pub fn missing_summary(&self) -> Option<String> {
        let list: Vec<String> = self.missing().map(ServerNode::describe_missing).collect();
        (!list.is_empty()).then(|| {
            format!(
                "{} server trace(s) did not arrive: {}",
                with_commas(self.missing_servers()),
                list.join(", ")
            )
        })
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
        let mut rows: Vec<(&'static str, usize)> = self
            .tally
            .kinds
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
        self.tally.errors
    }

    /// Every error reported anywhere: ingress, egress and JetStream, with the server, in tree
    /// order, then detached traces.
    pub fn errors(&self) -> Vec<ReportedError> {
        let mut out = Vec::new();
        if self.error_count() == 0 {
            return out;
        }
        let order = self.walk(self.root).filter_map(|s| match s {
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
                    hop: node.hop.to_string(),
                    kind,
                    message: message.to_string(),
                });
            }
        }
        out
    }
}

/// What is left to visit in a [`Walk`].
#[derive(Debug, Clone, Copy)]
enum WalkWork {
    Server(NodeIndex, usize),
    Egress(NodeIndex, usize, usize, Option<NodeIndex>),
}

/// The depth-first walk of [`TraceGraph::walk`]: an explicit stack, one buffer reused for
/// each server's children.
#[derive(Debug)]
pub struct Walk<'a> {
    graph: &'a TraceGraph,
    stack: Vec<WalkWork>,
    children: Vec<Option<NodeIndex>>,
}

impl Iterator for Walk<'_> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        match self.stack.pop()? {
            WalkWork::Server(node, depth) => {
                self.graph.fill_children(node, &mut self.children);
                self.stack.reserve(self.children.len());
                for (index, child) in self.children.iter().enumerate().rev() {
                    self.stack
                        .push(WalkWork::Egress(node, index, depth, *child));
                }
                Some(Step::Server { node, depth })
            }
            WalkWork::Egress(node, index, depth, child) => {
                if let Some(child) = child {
                    self.stack.push(WalkWork::Server(child, depth + 1));
                }
                Some(Step::Egress {
                    node,
                    index,
                    depth,
                    child,
                })
            }
        }
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
}

/// What is known of one hop: the trace that arrived with it, the egress that announced it.
/// One table entry for both, so that each arrival and each announcement is a single lookup.
#[derive(Debug, Clone, Copy, Default)]
struct HopState {
    /// Arrival index of the placed trace received with this hop.
    trace: Option<usize>,
    announcement: Option<Announcement>,
}

/// One trace taken by the [`Stitcher`], and what was learnt of it when it arrived.
#[derive(Debug)]
struct Received {
    /// Boxed: a pointer moves into the trace's node cheaper than the message; taken out
    /// when the node is made.
    trace: Option<Box<TraceMessage>>,
    /// The hop it arrived with (empty for the origin).
    hop: CompactString,
    /// For a placed remote trace, the egress of a placed trace that announced its hop:
    /// (arrival index of the announcing trace, position among its egresses).
    link: Option<(usize, usize)>,
    /// Where its egress events are among its events.
    egresses: EgressEvents,
}

impl Received {
    /// The node for this trace, which it gives up.
    fn take_node(&mut self, detached: bool) -> ServerNode {
        make_node(
            self.trace.take(),
            std::mem::take(&mut self.hop),
            std::mem::take(&mut self.egresses),
            detached,
        )
    }
}

/// Collects trace messages in any order and knows, after each, whether the tree is complete.
///
/// Everything [`Stitcher::finish`] needs to link a server to its parent is found while the
/// traces arrive (each arrival looks up its own hop and the hops it announces, nothing
/// else), so that finishing touches each trace once and looks nothing up by hop unless a
/// server is missing.
#[derive(Debug, Default)]
pub struct Stitcher {
    /// Every trace taken, by arrival index, with what was learnt of it on arrival.
    received: Vec<Received>,
    /// Counts over every trace taken, for the graph's summaries.
    tally: Tally,
    origin: Option<usize>,
    /// Every hop seen: placed remote traces by their hop, and the hops announced by
    /// egresses of placed traces (the trace, the position of the egress among its
    /// egresses, and whether that egress expects a trace back).
    by_hop: HopMap<HopState>,
    /// Indices of traces that cannot be placed.
    detached: Vec<usize>,
    problems: Vec<Problem>,
    /// Announced hops whose trace has not arrived.
    awaited: usize,
    /// Placed remote traces whose parent's trace has not arrived, by parent hop.
    orphans: HopMap<usize>,
    /// The sum of `orphans`.
    waiting_for_parent: usize,
}

impl Stitcher {
    pub fn new() -> Stitcher {
        Stitcher::default()
    }

    /// Number of trace messages taken so far.
    pub fn len(&self) -> usize {
        self.received.len()
    }

    pub fn is_empty(&self) -> bool {
        self.received.is_empty()
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
            self.trace_at(hop).is_some()
        }
    }

    /// The arrival index of the placed remote trace received with `hop`.
    fn trace_at(&self, hop: &str) -> Option<usize> {
        self.by_hop.get(hop).and_then(|state| state.trace)
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

    /// Takes one trace message.
    pub fn add(&mut self, trace: TraceMessage) {
        let index = self.received.len();
        let hop = trace.hop();
        let mut link = None;
        let name = || trace.server.name.to_string();
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
        } else {
            let state = self.by_hop.entry(hop.into()).or_default();
            if state.trace.is_some() {
                self.problems.push(Problem::DuplicateHop {
                    hop: hop.to_string(),
                    server: name(),
                });
                false
            } else {
                state.trace = Some(index);
                if let Some(a) = state.announcement {
                    if a.expects_trace {
                        self.awaited -= 1;
                    }
                    link = Some((a.trace, a.egress));
                }
                let parent = parent_hop(hop);
                if !self.arrived(parent) {
                    *self.orphans.entry(parent.into()).or_default() += 1;
                    self.waiting_for_parent += 1;
                }
                self.parent_arrived(hop);
                true
            }
        };
        if !placed {
            self.detached.push(index);
        }
        let egresses = self.scan_events(index, hop, &trace, placed);
        self.received.push(Received {
            hop: hop.into(),
            link,
            egresses,
            trace: Some(Box::new(trace)),
        });
    }

    /// The one pass over the events of trace `index` (received with `hop`): counts them,
    /// notes where its egress events are and, when the trace is placed, records the hops
    /// its egresses lead to, linking the traces of those hops that already arrived.
    fn scan_events(
        &mut self,
        index: usize,
        hop: &str,
        trace: &TraceMessage,
        placed: bool,
    ) -> EgressEvents {
        if placed {
            // The server says how many servers it forwarded to: room for their hops.
            let hint = usize::try_from(trace.hops).unwrap_or(usize::MAX);
            self.by_hop.reserve(hint.min(trace.events.len()));
        }
        let mut reported = EgressEvents::default();
        let mut egress_index = 0;
        for (position, event) in trace.events.iter().enumerate() {
            self.tally.event(event);
            let Event::Egress(egress) = event else {
                continue;
            };
            reported.push(position);
            egress_index += 1;
            if placed && !egress.hop.is_empty() {
                self.announce(index, hop, egress_index - 1, egress, &trace.server.name);
            }
        }
        // The awaited traces will arrive: make room once rather than regrow.
        self.received.reserve(self.awaited);
        reported
    }

    /// Records that the `position`-th egress of the placed trace `index` (received with
    /// `hop`, from server `server`) leads to `egress.hop`.
    fn announce(
        &mut self,
        index: usize,
        hop: &str,
        position: usize,
        egress: &Egress,
        server: &str,
    ) {
        if parent_hop(&egress.hop) != hop {
            self.problems.push(Problem::StrayEgressHop {
                server: server.to_string(),
                hop: egress.hop.to_string(),
            });
            return;
        }
        let expects_trace = egress.expects_trace();
        let announcement = Announcement {
            trace: index,
            egress: position,
            expects_trace,
        };
        let state = self.by_hop.entry(egress.hop.as_str().into()).or_default();
        match state.announcement {
            // A hop listed twice: the egress that expects a trace back is the one.
            Some(first) if first.expects_trace || !expects_trace => return,
            _ => {}
        }
        state.announcement = Some(announcement);
        match state.trace {
            Some(child) => self.received[child].link = Some((index, position)),
            None if expects_trace => self.awaited += 1,
            None => {}
        }
    }

    /// Builds the route tree from everything taken: a node per placed trace, placeholders
    /// for the servers that did not report (one per run of missing ancestors, one per
    /// announced hop whose trace did not arrive), the edges, the names of missing servers,
    /// then the detached traces.
    pub fn finish(self) -> TraceGraph {
        let Stitcher {
            received,
            tally,
            origin,
            by_hop,
            detached,
            problems,
            waiting_for_parent,
            ..
        } = self;
        let mut build = Build::new(received, tally, by_hop, origin, &detached);
        if waiting_for_parent > 0 {
            build.add_missing_ancestors();
        }
        build.add_unreported();
        build.link();
        build.name_missing();
        build.into_graph(detached, problems)
    }
}

/// A [`TraceGraph`] under construction in [`Stitcher::finish`].
struct Build {
    graph: DiGraph<ServerNode, usize>,
    root: NodeIndex,
    received: Vec<Received>,
    tally: Tally,
    by_hop: HopMap<HopState>,
    /// The node of each placed trace, by arrival index.
    node_of_trace: Vec<Option<NodeIndex>>,
    /// The trace each node holds, by node index (`None`: a placeholder).
    trace_of_node: Vec<Option<usize>>,
    /// Placeholders by their (first) hop.
    placeholders: HopMap<NodeIndex>,
    /// The parent of each node placed below a server that did not report, as worked out by
    /// [`Build::add_missing_ancestors`].
    below_missing: HashMap<NodeIndex, NodeIndex>,
}

impl Build {
    /// The root (the origin's node, or a placeholder for it) and a node per placed remote
    /// trace, in arrival order.
    fn new(
        mut received: Vec<Received>,
        mut tally: Tally,
        by_hop: HopMap<HopState>,
        origin: Option<usize>,
        detached: &[usize],
    ) -> Build {
        let count = received.len();
        let mut graph: DiGraph<ServerNode, usize> = DiGraph::with_capacity(count + 1, count);
        let root = graph.add_node(match origin {
            Some(i) => received[i].take_node(false),
            None => make_node(
                None,
                CompactString::default(),
                EgressEvents::default(),
                false,
            ),
        });
        if graph[root].is_missing() {
            tally.missing.push(root);
        }
        let mut is_detached = vec![false; count];
        for &i in detached {
            is_detached[i] = true;
        }
        let mut node_of_trace: Vec<Option<NodeIndex>> = vec![None; count];
        let mut trace_of_node: Vec<Option<usize>> = Vec::with_capacity(count + 1);
        trace_of_node.push(origin);
        if let Some(i) = origin {
            node_of_trace[i] = Some(root);
        }
        for index in (0..count).filter(|&i| Some(i) != origin && !is_detached[i]) {
            node_of_trace[index] = Some(graph.add_node(received[index].take_node(false)));
            trace_of_node.push(Some(index));
        }
        Build {
            graph,
            root,
            received,
            tally,
            by_hop,
            node_of_trace,
            trace_of_node,
            placeholders: HopMap::default(),
            below_missing: HashMap::new(),
        }
    }

    /// The node of the root or of the placed trace received with `hop`.
    fn placed(&self, hop: &str) -> Option<NodeIndex> {
        if hop.is_empty() {
            return Some(self.root);
        }
        self.by_hop
            .get(hop)
            .and_then(|state| state.trace)
            .and_then(|i| self.node_of_trace[i])
    }

    /// A placeholder node for a server (or a run of servers) that did not report.
    fn add_placeholder(&mut self, hop: CompactString, run: Option<RunInfo>) -> NodeIndex {
        let mut node = make_node(None, hop.clone(), EgressEvents::default(), false);
        if run.is_some() {
            node.unusual().run = run;
        }
        let ix = self.graph.add_node(node);
        self.tally.missing.push(ix);
        self.trace_of_node.push(None);
        self.placeholders.insert(hop, ix);
        ix
    }

    /// Placeholders for the servers above placed traces that never reported: one per run
    /// of them, so that a trace thousands of hops below the last server that reported
    /// costs one node, not one per hop (see [`plan_missing_ancestors`]).
    fn add_missing_ancestors(&mut self) {
        let root = self.root;
        let placed: Vec<NodeIndex> = (self.node_of_trace.iter().flatten().copied())
            .filter(|&ix| ix != root)
            .collect();
        let plan = plan_missing_ancestors(&self.graph, self.root, placed);
        let mut made = Vec::with_capacity(plan.placeholders.len());
        for placeholder in &plan.placeholders {
            let run = (placeholder.count > 1).then(|| RunInfo {
                count: placeholder.count,
                last: placeholder.last.clone(),
            });
            made.push(self.add_placeholder(placeholder.first.clone(), run));
        }
        let resolve = |at: Planned| match at {
            Planned::Node(ix) => ix,
            Planned::Placeholder(i) => made[i],
        };
        for (i, placeholder) in plan.placeholders.iter().enumerate() {
            self.below_missing
                .insert(made[i], resolve(placeholder.parent));
        }
        for (child, parent) in plan.parents {
            self.below_missing.insert(child, resolve(parent));
        }
    }

    /// Placeholders for egresses whose server never reported, in egress order (hops given
    /// a placeholder as a missing ancestor already have one).
    fn add_unreported(&mut self) {
        let mut unreported: Vec<(CompactString, (NodeIndex, usize))> = self
            .by_hop
            .iter()
            .filter(|(hop, state)| state.trace.is_none() && !self.placeholders.contains_key(*hop))
            .filter_map(|(hop, state)| state.announcement.map(|a| (hop, a)))
            .filter(|(_, a)| a.expects_trace)
            .filter_map(|(hop, a)| self.announcer(&a).map(|at| (hop.clone(), at)))
            .collect();
        unreported.sort_unstable_by_key(|(_, at)| *at);
        for (hop, (parent, index)) in unreported {
            let expected_name = self.graph[parent]
                .egress(index)
                .map(|e| e.egress.name.clone())
                .unwrap_or_default();
            let ix = self.add_placeholder(hop, None);
            self.graph[ix].unusual().expected_name = expected_name;
        }
    }

    /// The node and egress index that announced a hop.
    fn announcer(&self, a: &Announcement) -> Option<(NodeIndex, usize)> {
        self.node_of_trace[a.trace].map(|ix| (ix, a.egress))
    }

    /// Links every non-root node to its parent through the egress that announced it, or,
    /// when the parent is missing or did not list it, through a synthetic egress; those are
    /// added per parent in hop order.
    fn link(&mut self) {
        let mut unlisted: Vec<(NodeIndex, NodeIndex)> = Vec::new();
        for position in 1..self.trace_of_node.len() {
            let child = NodeIndex::new(position);
            match self.announced_parent(child) {
                Some((parent, index)) => {
                    self.graph.add_edge(parent, child, index);
                }
                None => unlisted.push((self.unlisted_parent(child), child)),
            }
        }
        let graph = &self.graph;
        unlisted.sort_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                compare_hops(
                    last_component(&graph[a.1].hop),
                    last_component(&graph[b.1].hop),
                )
            })
        });
        for (parent, child) in unlisted {
            let egress = synthetic_egress(&self.graph[child], &self.graph[child].hop);
            self.tally.kinds[Tally::slot(egress.kind)] += 1;
            let parent_node = &mut self.graph[parent];
            parent_node.unusual().synthetic.push(egress);
            let index = parent_node.egress_count() - 1;
            self.graph.add_edge(parent, child, index);
        }
    }

    /// The parent of `child` and the index of the egress that announced it, if one did.
    fn announced_parent(&self, child: NodeIndex) -> Option<(NodeIndex, usize)> {
        match self.trace_of_node[child.index()] {
            Some(index) => self.received[index]
                .link
                .and_then(|(t, e)| self.node_of_trace[t].map(|p| (p, e))),
            None => self
                .by_hop
                .get(self.graph[child].hop.as_str())
                .and_then(|state| state.announcement.as_ref())
                .and_then(|a| self.announcer(a)),
        }
    }

    /// The parent of a `child` no egress announced: a placeholder above it, or its parent's
    /// trace, which did not list it.
    fn unlisted_parent(&self, child: NodeIndex) -> NodeIndex {
        let parent = self
            .below_missing
            .get(&child)
            .copied()
            .or_else(|| self.placed(parent_hop(&self.graph[child].hop)));
        // Placeholders were made for every missing parent, so one is found; the root stands
        // in should that ever not hold.
        debug_assert!(parent.is_some(), "no parent for {}", self.graph[child].hop);
        parent.unwrap_or(self.root)
    }

    /// Names for missing servers: a missing child is named by its parent's egress, a missing
    /// parent by what its first child's ingress says. A run of missing servers stays
    /// unnamed: those names would be one server's of many.
    fn name_missing(&mut self) {
        let graph = &mut self.graph;
        for position in 0..graph.node_count() {
            let ix = NodeIndex::new(position);
            let node = &graph[ix];
            if !node.is_missing() || !node.expected_name().is_empty() || node.run().is_some() {
                continue;
            }
            let from_parent = self_parent(graph, ix)
                .and_then(|(p, i)| graph[p].egress(i).map(|e| e.egress.name.clone()));
            let from_child = graph
                .edges_directed(ix, Direction::Outgoing)
                .filter_map(|e| graph[e.target()].trace.as_ref())
                .filter_map(|t| t.ingress())
                .map(|i| i.name.clone())
                .find(|n| !n.is_empty());
            graph[ix].unusual().expected_name = from_parent
                .filter(|n| !n.is_empty())
                .or(from_child)
                .unwrap_or_default();
        }
    }

    /// The finished graph, with a node for each detached trace.
    fn into_graph(mut self, detached: Vec<usize>, problems: Vec<Problem>) -> TraceGraph {
        let detached_nodes = detached
            .into_iter()
            .filter_map(|i| {
                let trace = &mut self.received[i];
                (trace.trace.is_some()).then(|| self.graph.add_node(trace.take_node(true)))
            })
            .collect();
        TraceGraph {
            graph: self.graph,
            root: self.root,
            detached: detached_nodes,
            problems,
            tally: self.tally,
        }
    }
}

/// A server node for `trace` (or a placeholder) whose egress events are where `reported`
/// says.
fn make_node(
    trace: Option<Box<TraceMessage>>,
    hop: CompactString,
    reported: EgressEvents,
    detached: bool,
) -> ServerNode {
    ServerNode {
        hop,
        trace,
        reported,
        unusual: None,
        detached,
    }
}

/// A node [`plan_missing_ancestors`] links to: one that exists, or a placeholder it plans.
#[derive(Debug, Clone, Copy)]
enum Planned {
    Node(NodeIndex),
    Placeholder(usize),
}

/// A placeholder for `count` servers in a row that did not report, from hop `first` down
/// to hop `last`, below `parent`.
#[derive(Debug)]
struct PlannedPlaceholder {
    first: CompactString,
    last: CompactString,
    count: usize,
    parent: Planned,
}

/// The placeholders for missing ancestors, and the parent of each placed trace that hangs
/// below one.
#[derive(Debug, Default)]
struct MissingPlan {
    placeholders: Vec<PlannedPlaceholder>,
    parents: Vec<(NodeIndex, Planned)>,
}

/// A server of the tree [`plan_missing_ancestors`] builds: the root, a placed trace, or a
/// missing server where the routes to two placed traces part.
#[derive(Debug, Clone, Copy)]
struct Fork<'h> {
    hop: &'h str,
    depth: usize,
    at: Planned,
}

/// Works out which servers above the placed traces never reported, without looking at each
/// of them: the placed hops sorted in tree order give, between neighbours, the servers
/// where routes part (their deepest common ancestor); between a server and the next one
/// known below it lies a run of servers that did not report, which becomes one placeholder
/// with its first and last hop and how many servers it stands for. A missing server where
/// routes part ends the run above it. Time and memory are linear in the hop text (plus
/// the sort), however deep the traces are.
fn plan_missing_ancestors(
    graph: &DiGraph<ServerNode, usize>,
    root: NodeIndex,
    mut placed: Vec<NodeIndex>,
) -> MissingPlan {
    placed.sort_unstable_by(|a, b| tree_order(&graph[*a].hop, &graph[*b].hop));
    let mut plan = MissingPlan::default();
    let mut stack = vec![Fork {
        hop: "",
        depth: 0,
        at: Planned::Node(root),
    }];
    for ix in placed {
        let hop = graph[ix].hop.as_str();
        let top = stack[stack.len() - 1];
        let fork = common_ancestor(top.hop, hop);
        let fork_depth = depth(fork);
        while stack.len() >= 2 && stack[stack.len() - 2].depth >= fork_depth {
            let child = stack.pop().unwrap_or(top);
            plan.hang(stack[stack.len() - 1], child);
        }
        let top = stack[stack.len() - 1];
        if top.depth > fork_depth {
            // The routes to `top` and `hop` part at a server that did not report.
            stack.pop();
            plan.placeholders.push(PlannedPlaceholder {
                first: CompactString::default(),
                last: CompactString::default(),
                count: 0,
                parent: Planned::Node(root),
            });
            let fork = Fork {
                hop: fork,
                depth: fork_depth,
                at: Planned::Placeholder(plan.placeholders.len() - 1),
            };
            plan.hang(fork, top);
            stack.push(fork);
        }
        stack.push(Fork {
            hop,
            depth: depth(hop),
            at: Planned::Node(ix),
        });
    }
    while stack.len() >= 2 {
        if let Some(child) = stack.pop() {
            plan.hang(stack[stack.len() - 1], child);
        }
    }
    plan
}

impl MissingPlan {
    /// Records that `child` hangs below `parent`, with the servers between them (if any) a
    /// run of missing servers. A missing fork is the last server of the run above it.
    fn hang(&mut self, parent: Fork<'_>, child: Fork<'_>) {
        let first = ancestor_at(child.hop, parent.depth + 1);
        match child.at {
            Planned::Placeholder(i) => {
                self.placeholders[i] = PlannedPlaceholder {
                    first: first.into(),
                    last: child.hop.into(),
                    count: child.depth - parent.depth,
                    parent: parent.at,
                };
            }
            Planned::Node(ix) if child.depth > parent.depth + 1 => {
                self.placeholders.push(PlannedPlaceholder {
                    first: first.into(),
                    last: parent_hop(child.hop).into(),
                    count: child.depth - parent.depth - 1,
                    parent: parent.at,
                });
                let run = Planned::Placeholder(self.placeholders.len() - 1);
                self.parents.push((ix, run));
            }
            Planned::Node(ix) => {
                if let Planned::Placeholder(_) = parent.at {
                    self.parents.push((ix, parent.at));
                }
            }
        }
    }
}

/// Orders hops so that every hop comes right before the hops below it: byte order, with
/// the `.` between components before any other byte.
fn tree_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |b: u8| if b == b'.' { 0u16 } else { u16::from(b) + 1 };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

/// How many hops from the origin the server with `hop` is: its ancestors, the origin
/// included. `parent_hop` cuts at the last `.`, and a leading `.` leaves the origin.
fn depth(hop: &str) -> usize {
    match hop.as_bytes().split_first() {
        None => 0,
        Some((_, rest)) => rest.iter().filter(|b| **b == b'.').count() + 1,
    }
}

/// The ancestor of `hop` (or `hop` itself) at `depth` (at least 1, at most `hop`'s depth).
fn ancestor_at(hop: &str, depth: usize) -> &str {
    let cut = hop
        .bytes()
        .enumerate()
        .skip(1)
        .filter(|(_, b)| *b == b'.')
        .map(|(i, _)| i)
        .nth(depth.saturating_sub(1));
    cut.map_or(hop, |i| &hop[..i])
}

/// The deepest server that both `a` and `b` are at or below (`""`: the origin).
fn common_ancestor<'h>(a: &'h str, b: &str) -> &'h str {
    if a.is_empty() || b.is_empty() {
        return "";
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let common = x.iter().zip(y).take_while(|(p, q)| p == q).count();
    let ends = |h: &[u8]| h.len() == common || h[common] == b'.';
    if common > 0 && ends(x) && ends(y) {
        return &a[..common];
    }
    match x[..common].iter().rposition(|b| *b == b'.') {
        Some(cut) if cut > 0 => &a[..cut],
        _ => "",
    }
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
        name: child.server_name().into(),
        hop: hop.into(),
        account: CompactString::default(),
        subscription: CompactString::default(),
        queue: CompactString::default(),
        error: CompactString::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn noted(positions: &[usize]) -> EgressEvents {
        let mut found = EgressEvents::default();
        for &position in positions {
            found.push(position);
        }
        found
    }

    #[test]
    fn hops_in_tree_order_their_depth_and_common_ancestors() {
        let mut hops = vec!["2", "1.1", "1", "1.10", "1-1", "1.1.1", ".1", "10"];
        hops.sort_by(|a, b| tree_order(a, b));
        // Each hop right before those below it (`1.…` before `1-1`).
        assert_eq!(hops, [".1", "1", "1.1", "1.1.1", "1.10", "1-1", "10", "2"]);
        assert_eq!(depth(""), 0);
        assert_eq!(depth("1"), 1);
        assert_eq!(depth("1.2.3"), 3);
        // `parent_hop(".1")` is the origin, `parent_hop("..1")` is ".".
        assert_eq!(depth(".1"), 1);
        assert_eq!(depth("..1"), 2);
        assert_eq!(ancestor_at("1.2.3", 1), "1");
        assert_eq!(ancestor_at("1.2.3", 2), "1.2");
        assert_eq!(ancestor_at("1.2.3", 3), "1.2.3");
        assert_eq!(ancestor_at("..1", 1), ".");
        assert_eq!(common_ancestor("1.2.3", "1.2.4"), "1.2");
        assert_eq!(common_ancestor("1.2", "1.2.4"), "1.2");
        assert_eq!(common_ancestor("1.2.4", "1.2"), "1.2");
        assert_eq!(common_ancestor("1.22", "1.2"), "1");
        assert_eq!(common_ancestor("1", "2"), "");
        assert_eq!(common_ancestor("1.é", "1.è"), "1");
        assert_eq!(common_ancestor(".1", ".2"), "");
        assert_eq!(common_ancestor("", "1"), "");
    }

    #[test]
    fn a_run_is_described_in_one_short_line() {
        let long = vec!["12"; 100].join(".");
        let run = MissingRun {
            servers: 1234,
            first_hop: "1",
            last_hop: &long,
        };
        let text = run.to_string();
        assert!(
            text.starts_with("1,234 servers at hops 1 … 12.12."),
            "{text}"
        );
        assert!(text.ends_with(".12.12"), "{text}");
        assert!(text.len() < 100, "{text}");
        assert_eq!(shortened("1.2"), "1.2");
        // 32 bytes of head (16 characters), `…`, 16 bytes of tail.
        assert_eq!(shortened(&"é".repeat(40)).chars().count(), 16 + 1 + 8);
    }

    #[test]
    fn egress_positions_in_a_row_need_no_list() {
        assert_eq!(noted(&[]), EgressEvents::Run { first: 0, count: 0 });
        assert_eq!(noted(&[2, 3, 4]), EgressEvents::Run { first: 2, count: 3 });
        let scattered = noted(&[1, 3, 4]);
        assert_eq!(scattered, EgressEvents::Scattered(vec![1, 3, 4]));
        assert_eq!(scattered.len(), 3);
        assert_eq!(scattered.position(1), Some(3));
        assert_eq!(scattered.position(3), None);
        assert_eq!(noted(&[5]).position(0), Some(5));
        assert_eq!(noted(&[5]).position(1), None);
    }
}
