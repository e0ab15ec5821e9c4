//! Stitching of per-server trace messages into one route tree, ordered by `Nats-Trace-Hop`.
//!
//! A [`Stitcher`] takes trace messages in any order and tells after each one, in O(events),
//! whether the tree is complete. [`Stitcher::finish`] builds the [`TraceGraph`]: a petgraph
//! tree rooted at the origin server (the trace whose ingress is a client connection), each
//! server hanging under the egress whose `hop` equals its `Nats-Trace-Hop`. A server whose
//! trace never arrived becomes a placeholder node marked missing, so no received trace is
//! dropped; traces that cannot be placed (a second origin, a repeated hop, no hop at all) are
//! kept as detached nodes with a [`Problem`] saying why.

use compact_str::CompactString;
use foldhash::{HashSet, HashSetExt};

use petgraph::Direction;
use petgraph::graph::DiGraph;
use petgraph::visit::EdgeRef;

use crate::trace::event::{ConnKind, Egress, Event, Timestamp, TraceMessage};
use crate::trace::hop::HopMap;
pub use crate::trace::hop::{compare_hops, parent_hop};
pub use petgraph::graph::NodeIndex;

/// The most bytes of hop text spent on placeholders for servers above a received trace that
/// never reported (the ancestors of a deep trace). Each placeholder holds its whole hop, so a
/// trace at depth *d* whose ancestors are all missing needs about *d*² bytes; past this bound
/// (thousands of missing servers in a row) the trace is shown detached instead.
pub const MAX_PLACEHOLDER_BYTES: usize = 32 * 1024 * 1024;

/// What one placeholder costs besides its hop text, for [`MAX_PLACEHOLDER_BYTES`].
const PLACEHOLDER_OVERHEAD: usize = 256;

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
    /// Egresses standing for children that arrived but were not listed; they follow the
    /// reported ones.
    synthetic: Vec<Egress>,
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

    /// Every node: the tree from the root, then each detached node.
    pub fn nodes(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.node_indices()
    }

    /// True when every expected server trace arrived: no node is missing and no trace had to
    /// be detached for lack of room for its missing ancestors.
    pub fn is_complete(&self) -> bool {
        self.tally.missing.is_empty()
            && !self
                .problems
                .iter()
                .any(|p| matches!(p, Problem::TooManyMissingAncestors { .. }))
    }

    /// Servers whose trace did not arrive.
    pub fn missing(&self) -> impl Iterator<Item = &ServerNode> {
        self.tally.missing.iter().map(|&ix| &self.graph[ix])
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

    /// Problems found so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
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

    /// Builds the route tree from everything taken.
    #[allow(clippy::too_many_lines)] // TODO(issue 12): split into named steps
    pub fn finish(self) -> TraceGraph {
        let Stitcher {
            mut received,
            mut tally,
            origin,
            by_hop,
            mut detached,
            mut problems,
            waiting_for_parent,
            ..
        } = self;
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

        // Placed remote traces, in arrival order.
        let mut is_detached = vec![false; count];
        for &i in &detached {
            is_detached[i] = true;
        }
        let mut placed: Vec<usize> = (0..count)
            .filter(|&i| Some(i) != origin && !is_detached[i])
            .collect();
        // Placeholders for missing ancestors are only needed when a trace waits for its
        // parent; those whose missing ancestors would not fit in the placeholder budget join
        // the detached ones.
        let too_deep = if waiting_for_parent == 0 {
            HashSet::new()
        } else {
            let pairs: Vec<(usize, &str)> = placed
                .iter()
                .map(|&i| (i, received[i].hop.as_str()))
                .collect();
            over_placeholder_budget(&pairs)
        };
        if !too_deep.is_empty() {
            for &index in placed.iter().filter(|i| too_deep.contains(*i)) {
                let server = received[index]
                    .trace
                    .as_ref()
                    .map(|t| t.server.name.to_string())
                    .unwrap_or_default();
                problems.push(Problem::TooManyMissingAncestors {
                    server,
                    hop: received[index].hop.to_string(),
                });
                detached.push(index);
            }
            placed.retain(|i| !too_deep.contains(i));
        }

        // A node per placed trace; `trace_of_node` says which trace each node holds.
        let mut node_of_trace: Vec<Option<NodeIndex>> = vec![None; count];
        let mut trace_of_node: Vec<Option<usize>> = Vec::with_capacity(count + 1);
        trace_of_node.push(origin);
        if let Some(i) = origin {
            node_of_trace[i] = Some(root);
        }
        for &index in &placed {
            let ix = graph.add_node(received[index].take_node(false));
            node_of_trace[index] = Some(ix);
            trace_of_node.push(Some(index));
        }
        let mut nodes = NodesByHop {
            root,
            by_hop: &by_hop,
            node_of_trace: &node_of_trace,
            placeholders: HopMap::default(),
        };
        // Placeholders for parents that never arrived, walking up from each received trace
        // until an existing node: each placeholder is made once.
        if waiting_for_parent > 0 {
            for &index in &placed {
                let Some(ix) = node_of_trace[index] else {
                    continue;
                };
                let mut child = graph[ix].hop.clone();
                loop {
                    let parent = parent_hop(&child);
                    if nodes.get(parent).is_some() {
                        break;
                    }
                    let parent = CompactString::from(parent);
                    let ix = graph.add_node(make_node(
                        None,
                        parent.clone(),
                        EgressEvents::default(),
                        false,
                    ));
                    tally.missing.push(ix);
                    trace_of_node.push(None);
                    nodes.placeholders.insert(parent.clone(), ix);
                    child = parent;
                }
            }
        }
        // Where each hop was announced: the node and index of the egress with that hop.
        let announcer = |a: &Announcement| node_of_trace[a.trace].map(|ix| (ix, a.egress));
        // Placeholders for egresses whose server never reported, in egress order (a trace
        // detached for the placeholder budget arrived but has no node: it gets one too).
        let mut unreported: Vec<(&CompactString, (NodeIndex, usize))> = by_hop
            .iter()
            .filter_map(|(hop, state)| state.announcement.map(|a| (hop, state.trace, a)))
            .filter(|(hop, trace, a)| {
                // Only a hop whose trace did not arrive (or was detached) can lack a node;
                // the lookup also skips hops given a placeholder as a missing parent above.
                a.expects_trace
                    && (trace.is_none() || !too_deep.is_empty())
                    && nodes.get(hop).is_none()
            })
            .filter_map(|(hop, _, a)| announcer(&a).map(|at| (hop, at)))
            .collect();
        unreported.sort_unstable_by_key(|(_, at)| *at);
        for (hop, (parent, index)) in unreported {
            let mut node = make_node(None, hop.clone(), EgressEvents::default(), false);
            node.unusual().expected_name = graph[parent]
                .egress(index)
                .map(|e| e.egress.name.clone())
                .unwrap_or_default();
            let ix = graph.add_node(node);
            tally.missing.push(ix);
            trace_of_node.push(None);
            nodes.placeholders.insert(hop.clone(), ix);
        }
        // Link every non-root node to its parent through the egress that announced it, or,
        // when the parent is missing or did not list it, through a synthetic egress; those
        // are added per parent in hop order.
        let mut unlisted: Vec<(NodeIndex, NodeIndex)> = Vec::new();
        for (position, trace) in trace_of_node.iter().enumerate().skip(1) {
            let child = NodeIndex::new(position);
            let at = match trace {
                Some(index) => received[*index]
                    .link
                    .and_then(|(t, e)| node_of_trace[t].map(|p| (p, e))),
                None => by_hop
                    .get(graph[child].hop.as_str())
                    .and_then(|state| state.announcement.as_ref())
                    .and_then(announcer),
            };
            match at {
                Some((parent, index)) => {
                    graph.add_edge(parent, child, index);
                }
                None => {
                    // Placeholders were made for every missing parent, so the lookup finds
                    // one; the root stands in should that ever not hold.
                    let parent = nodes.get(parent_hop(&graph[child].hop));
                    debug_assert!(parent.is_some(), "no parent node for {}", graph[child].hop);
                    unlisted.push((parent.unwrap_or(root), child));
                }
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
            tally.kinds[Tally::slot(egress.kind)] += 1;
            let parent_node = &mut graph[parent];
            parent_node.unusual().synthetic.push(egress);
            let index = parent_node.egress_count() - 1;
            graph.add_edge(parent, child, index);
        }
        // Names for missing servers: a missing child is named by its parent's egress, a
        // missing parent by what its first child's ingress says.
        for position in 0..graph.node_count() {
            let ix = NodeIndex::new(position);
            if !graph[ix].is_missing() || !graph[ix].expected_name().is_empty() {
                continue;
            }
            let from_parent = self_parent(&graph, ix)
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
        let detached_nodes = detached
            .into_iter()
            .filter_map(|i| {
                let trace = &mut received[i];
                (trace.trace.is_some()).then(|| graph.add_node(trace.take_node(true)))
            })
            .collect();
        TraceGraph {
            graph,
            root,
            detached: detached_nodes,
            problems,
            tally,
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

/// The node of each hop while the graph is built: the root, the placed traces (through the
/// stitcher's own table) and the placeholders made so far.
struct NodesByHop<'a> {
    root: NodeIndex,
    by_hop: &'a HopMap<HopState>,
    node_of_trace: &'a [Option<NodeIndex>],
    placeholders: HopMap<NodeIndex>,
}

impl NodesByHop<'_> {
    fn get(&self, hop: &str) -> Option<NodeIndex> {
        if hop.is_empty() {
            return Some(self.root);
        }
        self.by_hop
            .get(hop)
            .and_then(|state| state.trace)
            .and_then(|i| self.node_of_trace[i])
            .or_else(|| self.placeholders.get(hop).copied())
    }
}

/// The arrival indices of placed traces whose missing ancestors would push the placeholders
/// past [`MAX_PLACEHOLDER_BYTES`]. Shallow traces are considered first, so that a trace
/// refused here is missing for its descendants too. Stops walking up as soon as the budget
/// is spent, so the time is bounded as well.
fn over_placeholder_budget(placed: &[(usize, &str)]) -> HashSet<usize> {
    // The root (the origin, or its placeholder) is always there.
    let mut present: HashSet<&str> = placed.iter().map(|(_, hop)| *hop).collect();
    present.insert("");
    let mut order: Vec<(usize, usize, &str)> = placed
        .iter()
        .map(|(i, hop)| (hop.bytes().filter(|b| *b == b'.').count(), *i, *hop))
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
