//! Route analysis: what a stitched trace means, decided once after stitching so that every
//! renderer and `--expect` read the same verdicts instead of each working them out.
//!
//! Per server: its [`Outcome`] (delivered, stored, forwarded, no active interest, stopped at
//! an account boundary, …), its client deliveries, the account boundaries the trace stops at
//! and the action of each JetStream event. For the whole trace: the same lists, and how many
//! servers are missing and how many errors were reported. [`Analysis::of`] is one pass over
//! the nodes and their events (O(nodes + events)); detached traces are analysed like any other.
//!
//! The decisions about one event or one server ([`Boundary::at`], [`has_no_interest`],
//! [`JetStreamAction::of`]) are public on their own, so that the tree, which visits every
//! server anyway, can ask them as it draws each one without waiting for the whole trace's
//! lists; everything else reads the [`Analysis`].

use std::ops::Range;

use compact_str::CompactString;
use petgraph::graph::NodeIndex;

use crate::trace::event::{ConnKind, Egress, Event, JetStream, TraceMessage};
use crate::trace::stitch::{ServerNode, TraceGraph};

/// What became of the message at one server: the first of these that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// The server's trace did not arrive.
    #[default]
    Missing,
    /// The server refused the message on arrival (its ingress reports an error).
    IngressError,
    /// The server received the message from a client and had no subscriber, route, stream or
    /// import to pass it to (the tree's `--X No active interest`).
    NoInterest,
    /// At least one client subscription received the message (an egress to a client without
    /// an error).
    Delivered,
    /// At least one JetStream stream stored the message.
    Stored,
    /// The server passed the message on to another server (route, gateway or leafnode).
    Forwarded,
    /// The trace stops at an account boundary on this server, and nothing else was reported.
    Boundary,
    /// None of the above: every egress failed, JetStream did not store the message, or a
    /// server reached over a route, gateway or leafnode sent it nowhere.
    Dropped,
}

impl Outcome {
    /// The name in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Missing => "missing",
            Outcome::IngressError => "ingress_error",
            Outcome::NoInterest => "no_interest",
            Outcome::Delivered => "delivered",
            Outcome::Stored => "stored",
            Outcome::Forwarded => "forwarded",
            Outcome::Boundary => "boundary",
            Outcome::Dropped => "dropped",
        }
    }
}

/// What a JetStream stream did with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JetStreamAction {
    /// The stream stored it.
    Stored,
    /// An interest-based stream had no consumer for it.
    NoInterest,
    /// The stream refused it (the event reports an error).
    Rejected,
}

impl JetStreamAction {
    /// The action of one JetStream event: an error makes it rejected.
    pub fn of(js: &JetStream) -> JetStreamAction {
        if !js.error.is_empty() {
            JetStreamAction::Rejected
        } else if js.no_interest {
            JetStreamAction::NoInterest
        } else {
            JetStreamAction::Stored
        }
    }

    /// The words of the tree and of the JSON `action` field.
    pub fn words(self) -> &'static str {
        match self {
            JetStreamAction::Stored => "stored",
            JetStreamAction::NoInterest => "no interest",
            JetStreamAction::Rejected => "rejected",
        }
    }
}

/// Which kind of account boundary the trace stops at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// A service import with nothing reported after it: the exporting account's service
    /// export does not `allow_trace`, or nothing in that account has interest.
    ServiceImport,
    /// A stream export not followed by an egress in the importing account: its stream
    /// import does not `allow_trace`.
    StreamExport,
}

impl Crossing {
    /// The name in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Crossing::ServiceImport => "service_import",
            Crossing::StreamExport => "stream_export",
        }
    }
}

/// A client subscription that received the message: the `egress`-th egress of `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub node: NodeIndex,
    pub egress: u32,
}

impl Delivery {
    /// The egress event of this delivery.
    pub fn egress<'a>(&self, graph: &'a TraceGraph) -> Option<&'a Egress> {
        let index = usize::try_from(self.egress).ok()?;
        graph
            .node(self.node)
            .egress(index)
            .map(|entry| entry.egress)
    }
}

/// An account boundary the trace stops at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundary {
    pub node: NodeIndex,
    /// The position of the service import or stream export among the server's events.
    pub event: usize,
    pub crossing: Crossing,
    /// The account on the far side: the exporting account of a service import, the
    /// importing account of a stream export.
    pub account: CompactString,
    /// The subject the service import maps from; `None` for a stream export.
    pub from: Option<CompactString>,
    /// The subject in `account`.
    pub to: CompactString,
}

impl Boundary {
    /// The boundary at the event at `position` of a server's `events`, when the trace
    /// stops there: a service import with nothing reported after it (the exporting account
    /// did not report), or a stream export not followed at once by an egress in the importing
    /// account (the server reports a stream export per importing subscription, and when the
    /// import allows tracing the egress to that subscription follows it).
    pub fn at(node: NodeIndex, events: &[Event], position: usize) -> Option<Boundary> {
        let boundary = |crossing, account: &CompactString, from: Option<&CompactString>, to| {
            Some(Boundary {
                node,
                event: position,
                crossing,
                account: account.clone(),
                from: from.cloned(),
                to,
            })
        };
        match events.get(position)? {
            Event::ServiceImport(s) if position + 1 == events.len() => boundary(
                Crossing::ServiceImport,
                &s.account,
                Some(&s.from),
                s.to.clone(),
            ),
            Event::StreamExport(s)
                if !matches!(
                    events.get(position + 1),
                    Some(Event::Egress(e)) if e.account == s.account
                ) =>
            {
                boundary(Crossing::StreamExport, &s.account, None, s.to.clone())
            }
            _ => None,
        }
    }
}

/// True when the server had no active interest (the tree's `--X No active interest`): it
/// received the message from a client without an error, and reported no egress, no
/// JetStream event and no account boundary. Cheap for a server with egresses.
pub fn has_no_interest(node: &ServerNode) -> bool {
    let Some(trace) = &node.trace else {
        return false;
    };
    node.egress_count() == 0
        && trace
            .ingress()
            .is_some_and(|i| i.kind == ConnKind::Client && i.error.is_empty())
        && !trace.events.iter().enumerate().any(|(position, event)| {
            matches!(event, Event::JetStream(_))
                || Boundary::at(NodeIndex::end(), &trace.events, position).is_some()
        })
}

/// One JetStream event and what the stream did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAction {
    pub node: NodeIndex,
    /// The position of the JetStream event among the server's events.
    pub event: usize,
    pub stream: CompactString,
    pub action: JetStreamAction,
}

impl StreamAction {
    /// The JetStream event itself.
    pub fn event<'a>(&self, graph: &'a TraceGraph) -> Option<&'a JetStream> {
        match graph.node(self.node).events().get(self.event)? {
            Event::JetStream(js) => Some(js),
            _ => None,
        }
    }
}

/// The verdicts of one server. Its boundaries and JetStream actions are ranges of the
/// whole trace's lists, so that a server costs no allocation of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAnalysis {
    pub outcome: Outcome,
    deliveries: Range<u32>,
    boundaries: Range<u32>,
    jetstream: Range<u32>,
}

impl NodeAnalysis {
    /// How many client subscriptions received the message from this server (client
    /// egresses without an error).
    pub fn delivered(&self) -> usize {
        self.deliveries.len()
    }
}

/// The verdicts of a whole trace; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// By node index.
    nodes: Vec<NodeAnalysis>,
    deliveries: Vec<Delivery>,
    boundaries: Vec<Boundary>,
    jetstream: Vec<StreamAction>,
    no_interest: Vec<NodeIndex>,
    missing: usize,
    errors: usize,
}

impl Analysis {
    /// Analyses every node of `graph` once, in node order.
    pub fn of(graph: &TraceGraph) -> Analysis {
        let mut analysis = Analysis {
            nodes: Vec::with_capacity(graph.graph.node_count()),
            missing: graph.missing_servers(),
            errors: graph.error_count(),
            ..Analysis::default()
        };
        for ix in graph.nodes() {
            let node = analysis.server(ix, graph.node(ix));
            if node.outcome == Outcome::NoInterest {
                analysis.no_interest.push(ix);
            }
            analysis.nodes.push(node);
        }
        analysis
    }

    /// The verdicts of one server, adding its deliveries, boundaries and JetStream actions to
    /// the trace's lists.
    fn server(&mut self, ix: NodeIndex, node: &ServerNode) -> NodeAnalysis {
        let Some(trace) = &node.trace else {
            return NodeAnalysis::default();
        };
        let boundaries_start = self.boundaries.len();
        let jetstream_start = self.jetstream.len();
        let deliveries_start = self.deliveries.len();
        let egresses = self.events(ix, node, trace);
        let mut analysis = NodeAnalysis {
            outcome: Outcome::Dropped,
            deliveries: range(deliveries_start, self.deliveries.len()),
            boundaries: range(boundaries_start, self.boundaries.len()),
            jetstream: range(jetstream_start, self.jetstream.len()),
        };
        analysis.outcome = self.outcome(trace, node, &analysis, &egresses);
        analysis
    }

    /// Records the boundaries, JetStream actions and client deliveries among the events of
    /// `trace`, in one pass; then the deliveries of the egresses the stitcher added.
    fn events(&mut self, ix: NodeIndex, node: &ServerNode, trace: &TraceMessage) -> Egresses {
        let events = &trace.events;
        let mut seen = Egresses::default();
        let mut reported = 0;
        for (position, event) in events.iter().enumerate() {
            match event {
                Event::Egress(egress) => {
                    self.egress(ix, reported, egress, &mut seen);
                    reported += 1;
                }
                Event::ServiceImport(_) | Event::StreamExport(_) => {
                    self.boundaries.extend(Boundary::at(ix, events, position));
                }
                Event::JetStream(js) => self.jetstream.push(StreamAction {
                    node: ix,
                    event: position,
                    stream: js.stream.clone(),
                    action: JetStreamAction::of(js),
                }),
                _ => {}
            }
        }
        for index in reported..node.egress_count() {
            if let Some(entry) = node.egress(index) {
                self.egress(ix, index, entry.egress, &mut seen);
            }
        }
        seen
    }

    /// Records the `index`-th egress of `ix`: a delivery when it went to a client without an
    /// error; whether it forwarded the message to another server.
    fn egress(&mut self, ix: NodeIndex, index: usize, egress: &Egress, seen: &mut Egresses) {
        if !egress.error.is_empty() {
            return;
        }
        if egress.kind == ConnKind::Client {
            seen.delivered += 1;
            self.deliveries.push(Delivery {
                node: ix,
                egress: u32::try_from(index).unwrap_or(u32::MAX),
            });
        } else if egress.kind.is_server_link() {
            seen.forwarded = true;
        }
    }

    /// The first outcome of [`Outcome`]'s list that applies to a server that reported.
    fn outcome(
        &self,
        trace: &TraceMessage,
        node: &ServerNode,
        analysis: &NodeAnalysis,
        egresses: &Egresses,
    ) -> Outcome {
        let ingress = trace.ingress();
        let jetstream = self.slice_of_jetstream(&analysis.jetstream);
        if ingress.is_some_and(|i| !i.error.is_empty()) {
            Outcome::IngressError
        } else if has_no_interest(node) {
            Outcome::NoInterest
        } else if egresses.delivered > 0 {
            Outcome::Delivered
        } else if jetstream
            .iter()
            .any(|js| js.action == JetStreamAction::Stored)
        {
            Outcome::Stored
        } else if egresses.forwarded {
            Outcome::Forwarded
        } else if !analysis.boundaries.is_empty() {
            Outcome::Boundary
        } else {
            Outcome::Dropped
        }
    }

    fn slice_of_jetstream(&self, range: &Range<u32>) -> &[StreamAction] {
        slice(&self.jetstream, range)
    }

    /// The verdicts of the server at `ix`; a default (missing) one for an unknown index.
    pub fn node(&self, ix: NodeIndex) -> &NodeAnalysis {
        static UNKNOWN: NodeAnalysis = NodeAnalysis {
            outcome: Outcome::Missing,
            deliveries: 0..0,
            boundaries: 0..0,
            jetstream: 0..0,
        };
        self.nodes.get(ix.index()).unwrap_or(&UNKNOWN)
    }

    /// The account boundaries the trace stops at on the server at `ix`, in event order.
    pub fn boundaries_of(&self, ix: NodeIndex) -> &[Boundary] {
        slice(&self.boundaries, &self.node(ix).boundaries)
    }

    /// The client deliveries from the server at `ix`, in egress order.
    pub fn deliveries_of(&self, ix: NodeIndex) -> &[Delivery] {
        slice(&self.deliveries, &self.node(ix).deliveries)
    }

    /// The JetStream actions on the server at `ix`, in event order.
    pub fn jetstream_of(&self, ix: NodeIndex) -> &[StreamAction] {
        self.slice_of_jetstream(&self.node(ix).jetstream)
    }

    /// Every client delivery, by server in node order.
    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    /// Every account boundary the trace stops at, by server in node order.
    pub fn boundaries(&self) -> &[Boundary] {
        &self.boundaries
    }

    /// Every JetStream event and its action, by server in node order.
    pub fn jetstream(&self) -> &[StreamAction] {
        &self.jetstream
    }

    /// How many JetStream events stored the message.
    pub fn stored(&self) -> usize {
        self.jetstream
            .iter()
            .filter(|js| js.action == JetStreamAction::Stored)
            .count()
    }

    /// The servers that reported no active interest, in node order.
    pub fn no_interest(&self) -> &[NodeIndex] {
        &self.no_interest
    }

    /// How many servers on the path did not send their trace.
    pub fn missing(&self) -> usize {
        self.missing
    }

    /// How many errors the servers reported (ingress, egress and JetStream).
    pub fn errors(&self) -> usize {
        self.errors
    }
}

/// What the egresses of one server show.
#[derive(Debug, Default)]
struct Egresses {
    delivered: u32,
    forwarded: bool,
}

fn slice<'a, T>(list: &'a [T], range: &Range<u32>) -> &'a [T] {
    list.get(range.start as usize..range.end as usize)
        .unwrap_or(&[])
}

fn range(start: usize, end: usize) -> Range<u32> {
    let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    narrow(start)..narrow(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::stitch::stitch;

    fn graph(lines: &[&str]) -> TraceGraph {
        stitch(
            lines
                .iter()
                .map(|l| TraceMessage::from_json(l.as_bytes()).expect("test trace parses")),
        )
    }

    const TS: &str = "2024-01-01T00:00:00.000000001Z";

    fn origin(events: &str) -> String {
        format!(
            r#"{{"server":{{"name":"n1","id":"N1","ver":"2.11.0"}},"request":{{"header":{{}},"msgsize":1}},"hops":0,"events":[{{"type":"in","ts":"{TS}","kind":0,"cid":1,"acc":"A","subj":"s"}}{events}]}}"#
        )
    }

    #[test]
    fn a_client_ingress_with_nothing_after_it_is_no_interest() {
        let g = graph(&[&origin("")]);
        let a = Analysis::of(&g);
        assert_eq!(a.node(g.root).outcome, Outcome::NoInterest);
        assert_eq!(a.no_interest(), &[g.root]);
        assert!(a.deliveries().is_empty());
    }

    #[test]
    fn client_egresses_without_errors_are_deliveries() {
        let g = graph(&[&origin(&format!(
            r#",{{"type":"eg","ts":"{TS}","kind":0,"cid":2,"sub":"s"}},{{"type":"eg","ts":"{TS}","kind":0,"cid":3,"sub":"s","error":"denied"}}"#
        ))]);
        let a = Analysis::of(&g);
        assert_eq!(a.node(g.root).outcome, Outcome::Delivered);
        assert_eq!(a.node(g.root).delivered(), 1);
        assert_eq!(a.deliveries_of(g.root).len(), 1);
        assert_eq!(a.deliveries().len(), 1);
        assert_eq!(a.deliveries()[0].egress(&g).map(|e| e.cid), Some(2));
        assert!(a.no_interest().is_empty());
    }

    #[test]
    fn a_service_import_with_nothing_after_it_is_a_boundary() {
        let g = graph(&[&origin(&format!(
            r#",{{"type":"si","ts":"{TS}","acc":"B","from":"svc.a","to":"svc.b"}}"#
        ))]);
        let a = Analysis::of(&g);
        assert_eq!(a.node(g.root).outcome, Outcome::Boundary);
        let b = &a.boundaries_of(g.root)[0];
        assert_eq!(b.crossing, Crossing::ServiceImport);
        assert_eq!(
            (b.account.as_str(), b.from.as_deref(), b.to.as_str()),
            ("B", Some("svc.a"), "svc.b")
        );
        assert!(a.no_interest().is_empty());
    }

    #[test]
    fn a_stream_export_followed_by_its_egress_is_no_boundary() {
        let traced = origin(&format!(
            r#",{{"type":"se","ts":"{TS}","acc":"A2","to":"t"}},{{"type":"eg","ts":"{TS}","kind":0,"cid":2,"acc":"A2","sub":"t"}}"#
        ));
        let untraced = origin(&format!(
            r#",{{"type":"se","ts":"{TS}","acc":"A2","to":"t"}}"#
        ));
        let a = Analysis::of(&graph(&[&traced]));
        assert!(a.boundaries().is_empty());
        assert_eq!(a.deliveries().len(), 1);
        let a = Analysis::of(&graph(&[&untraced]));
        assert_eq!(a.boundaries()[0].crossing, Crossing::StreamExport);
        assert_eq!(a.boundaries()[0].from, None);
    }

    #[test]
    fn jetstream_actions_are_decided_once() {
        let g = graph(&[&origin(&format!(
            r#",{{"type":"js","ts":"{TS}","stream":"S1","subject":"s"}},{{"type":"js","ts":"{TS}","stream":"S2","nointerest":true}},{{"type":"js","ts":"{TS}","stream":"S3","error":"no"}}"#
        ))]);
        let a = Analysis::of(&g);
        let actions: Vec<_> = a
            .jetstream_of(g.root)
            .iter()
            .map(|js| (js.stream.as_str(), js.action.words()))
            .collect();
        assert_eq!(
            actions,
            [("S1", "stored"), ("S2", "no interest"), ("S3", "rejected")]
        );
        assert_eq!(a.stored(), 1);
        assert_eq!(a.node(g.root).outcome, Outcome::Stored);
        assert_eq!(a.errors(), 1);
    }

    #[test]
    fn an_ingress_error_comes_first() {
        let g = graph(&[&format!(
            r#"{{"server":{{"name":"n1"}},"request":{{"header":{{}},"msgsize":1}},"events":[{{"type":"in","ts":"{TS}","kind":0,"cid":1,"subj":"s","error":"denied"}}]}}"#
        )]);
        let a = Analysis::of(&g);
        assert_eq!(a.node(g.root).outcome, Outcome::IngressError);
        assert!(a.no_interest().is_empty());
    }
}
