//! The route graph the picture formats (DOT and Mermaid) draw, built once from a report in
//! one walk of the tree: a box per server (grouped by cluster), one for the publishing
//! client, one per receiving client connection and per JetStream stream, and an edge per
//! egress and JetStream event; then the analysis's marks: a note where a server had no
//! active interest, a box for the account a trace stops at. Labels are plain text here;
//! each format escapes them its own way.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use super::TraceReport;
use crate::trace::analysis::{Analysis, Crossing, Outcome};
use crate::trace::event::{ConnKind, Egress};
use crate::trace::stitch::{ServerNode, Step, TraceGraph};

/// What a box stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The client that published the traced message.
    Publisher,
    /// A server that sent its trace.
    Server,
    /// A server on the path whose trace never arrived.
    Missing,
    /// A server an egress failed to reach, so it never got the message.
    Unreached,
    /// A client connection that received the message.
    Client,
    /// A JetStream stream.
    Stream,
    /// The analysis's note that a server had no active interest.
    NoInterest,
    /// The account a trace stops at (an account boundary).
    Boundary,
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// A connection of this kind (an egress, a JetStream event, the publish).
    Kind(ConnKind),
    /// From a server to its no-interest note.
    NoInterest,
    /// From a server to the account its trace stops at.
    Boundary,
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// An identifier safe in both formats (`s0`, `c3`, …).
    pub id: String,
    pub lines: Vec<String>,
    pub shape: Shape,
    /// The server reported an ingress error.
    pub error: bool,
    /// A trace that could not be placed in the tree.
    pub detached: bool,
    /// The server this box stands for, or the server and egress that led to it (a client
    /// or an unreached server); `None` for the rest. The HTML page's details read it.
    pub source: Option<(NodeIndex, Option<usize>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub from: usize,
    pub to: usize,
    pub link: Link,
    pub lines: Vec<String>,
    pub error: bool,
}

/// The whole picture.
#[derive(Debug, Clone, Default)]
pub(crate) struct Diagram {
    pub title: String,
    pub boxes: Vec<Block>,
    /// Cluster name and the boxes of its servers, in order of first appearance.
    pub clusters: Vec<(String, Vec<usize>)>,
    pub edges: Vec<Edge>,
}

impl Diagram {
    /// Boxes that belong to no cluster.
    pub(super) fn loose_boxes(&self) -> Vec<usize> {
        let mut grouped = vec![false; self.boxes.len()];
        for (_, members) in &self.clusters {
            for &m in members {
                grouped[m] = true;
            }
        }
        (0..self.boxes.len()).filter(|&i| !grouped[i]).collect()
    }

    /// The picture of `report`: server boxes in tree order (then detached ones), the
    /// publisher, then per server its JetStream and egress edges and the analysis's marks.
    pub(super) fn new(report: &TraceReport) -> Diagram {
        let graph = &report.graph;
        let servers: Vec<NodeIndex> = graph
            .walk(graph.root)
            .filter_map(|s| match s {
                Step::Server { node, .. } => Some(node),
                Step::Egress { .. } => None,
            })
            .chain(graph.detached.iter().copied())
            .collect();
        let mut b = Builder {
            graph,
            analysis: report.analysis(),
            d: Diagram {
                title: format!(
                    "Trace of {}{}",
                    report.subject,
                    if report.deliver { " (delivered)" } else { "" }
                ),
                ..Diagram::default()
            },
            counter: HashMap::new(),
            box_of: HashMap::with_capacity(servers.len()),
            cluster_index: HashMap::new(),
            clients: HashMap::new(),
            streams: HashMap::new(),
        };
        for &ix in &servers {
            b.server_box(ix);
        }
        b.publisher();
        for &ix in &servers {
            b.jetstream_edges(ix);
            b.egress_edges(ix);
            b.marks(ix);
        }
        b.d
    }
}

/// The state of building a [`Diagram`].
struct Builder<'a> {
    graph: &'a TraceGraph,
    analysis: &'a Analysis,
    d: Diagram,
    /// The next number per box prefix.
    counter: HashMap<char, usize>,
    box_of: HashMap<NodeIndex, usize>,
    cluster_index: HashMap<String, usize>,
    /// Client boxes by sending server box and connection id.
    clients: HashMap<(usize, u64), usize>,
    streams: HashMap<String, usize>,
}

impl Builder<'_> {
    fn add(&mut self, prefix: char, lines: Vec<String>, shape: Shape) -> usize {
        let n = self.counter.entry(prefix).or_default();
        self.d.boxes.push(Block {
            id: format!("{prefix}{n}"),
            lines,
            shape,
            error: false,
            detached: false,
            source: None,
        });
        *n += 1;
        self.d.boxes.len() - 1
    }

    fn edge(&mut self, from: usize, to: usize, link: Link, lines: Vec<String>, error: bool) {
        self.d.edges.push(Edge {
            from,
            to,
            link,
            lines,
            error,
        });
    }

    /// The box of a server: name, hop, version (or "trace missing"), in its cluster.
    fn server_box(&mut self, ix: NodeIndex) {
        let node = self.graph.node(ix);
        let (lines, shape) = server_lines(node);
        let b = self.add('s', lines, shape);
        self.d.boxes[b].detached = node.detached;
        self.d.boxes[b].source = Some((ix, None));
        self.d.boxes[b].error = self.analysis.node(ix).outcome == Outcome::IngressError;
        self.box_of.insert(ix, b);
        let cluster = node.trace.as_ref().map(|t| t.server.cluster.as_str());
        if let Some(cluster) = cluster.filter(|c| !c.is_empty()) {
            let clusters = &mut self.d.clusters;
            let at = *self
                .cluster_index
                .entry(cluster.to_string())
                .or_insert_with(|| {
                    clusters.push((cluster.to_string(), Vec::new()));
                    clusters.len() - 1
                });
            self.d.clusters[at].1.push(b);
        }
    }

    /// The publishing client, in front of the origin.
    fn publisher(&mut self) {
        let graph = self.graph;
        let root = graph.node(graph.root);
        let Some(ingress) = root
            .trace
            .as_ref()
            .and_then(|t| t.ingress())
            .filter(|i| i.kind == ConnKind::Client)
        else {
            return;
        };
        let name = if ingress.name.is_empty() {
            "publisher".to_string()
        } else {
            ingress.name.to_string()
        };
        let p = self.add(
            'p',
            vec![name, format!("cid:{}", ingress.cid)],
            Shape::Publisher,
        );
        let mut lines = vec![format!("publish {}", ingress.subject)];
        if !ingress.error.is_empty() {
            lines.push(format!("error: {}", ingress.error));
        }
        let to = self.box_of[&graph.root];
        let link = Link::Kind(ConnKind::Client);
        self.edge(p, to, link, lines, !ingress.error.is_empty());
    }

    /// An edge per JetStream event of `ix` to its stream's box, labelled with the action.
    fn jetstream_edges(&mut self, ix: NodeIndex) {
        let from = self.box_of[&ix];
        let (graph, analysis) = (self.graph, self.analysis);
        for stream in analysis.jetstream_of(ix) {
            let Some(js) = stream.event(graph) else {
                continue;
            };
            let to = match self.streams.get(js.stream.as_str()) {
                Some(&to) => to,
                None => {
                    let to = self.add('j', vec![format!("stream {}", js.stream)], Shape::Stream);
                    self.streams.insert(js.stream.to_string(), to);
                    to
                }
            };
            let mut lines = vec![format!("JetStream {}", stream.action.words())];
            if !js.subject.is_empty() {
                lines.push(js.subject.to_string());
            }
            if !js.error.is_empty() {
                lines.push(format!("error: {}", js.error));
            }
            let link = Link::Kind(ConnKind::JetStream);
            self.edge(from, to, link, lines, !js.error.is_empty());
        }
    }

    /// An edge per egress of `ix`: to the server it reached, to a box for a server it did
    /// not reach, or to the receiving client's box.
    fn egress_edges(&mut self, ix: NodeIndex) {
        let from = self.box_of[&ix];
        let graph = self.graph;
        let node = graph.node(ix);
        let children = graph.children_by_egress(ix);
        for (index, (entry, child)) in node.egresses().zip(children).enumerate() {
            let egress = entry.egress;
            let to = match child {
                Some(child) => self.box_of[&child],
                None if egress.kind.is_server_link() => self.unreached_box(egress),
                None => self.client_box(from, egress),
            };
            if self.d.boxes[to].source.is_none() {
                self.d.boxes[to].source = Some((ix, Some(index)));
            }
            let error = !egress.error.is_empty();
            self.edge(
                from,
                to,
                Link::Kind(egress.kind),
                egress_lines(egress),
                error,
            );
        }
    }

    fn unreached_box(&mut self, egress: &Egress) -> usize {
        let name = if egress.name.is_empty() {
            "unknown server".to_string()
        } else {
            egress.name.to_string()
        };
        self.add('u', vec![name, "not reached".to_string()], Shape::Unreached)
    }

    /// The box of the client connection `egress` went to, one per server and connection.
    fn client_box(&mut self, from: usize, egress: &Egress) -> usize {
        if let Some(&to) = self.clients.get(&(from, egress.cid)) {
            return to;
        }
        let name = if egress.name.is_empty() {
            egress.kind.name().to_string()
        } else {
            egress.name.to_string()
        };
        let id = format!("{}:{}", egress.kind.id_label(), egress.cid);
        let to = self.add('c', vec![name, id], Shape::Client);
        self.clients.insert((from, egress.cid), to);
        to
    }

    /// The analysis's marks on `ix`: a no-interest note, a box per account boundary.
    fn marks(&mut self, ix: NodeIndex) {
        let from = self.box_of[&ix];
        let analysis = self.analysis;
        if analysis.node(ix).outcome == Outcome::NoInterest {
            let note = self.add(
                'n',
                vec!["no active interest".to_string()],
                Shape::NoInterest,
            );
            self.edge(
                from,
                note,
                Link::NoInterest,
                vec!["no interest".to_string()],
                true,
            );
        }
        for boundary in analysis.boundaries_of(ix) {
            let lines = vec![
                format!("account {}", boundary.account),
                "trace stops here".to_string(),
            ];
            let to = self.add('b', lines, Shape::Boundary);
            let label = match (&boundary.crossing, &boundary.from) {
                (Crossing::ServiceImport, Some(from)) => {
                    format!("service import {from} to {}", boundary.to)
                }
                (Crossing::ServiceImport, None) => format!("service import {}", boundary.to),
                (Crossing::StreamExport, _) => format!("stream export {}", boundary.to),
            };
            self.edge(from, to, Link::Boundary, vec![label], false);
        }
    }
}

/// The lines and shape of a server's box.
fn server_lines(node: &ServerNode) -> (Vec<String>, Shape) {
    let name = match node.server_name() {
        "" => "unknown server".to_string(),
        name => name.to_string(),
    };
    let mut lines = vec![name];
    if let Some(run) = node.missing_run() {
        lines = vec![run.servers_text(), run.hops_text()];
    } else if !node.hop.is_empty() {
        lines.push(format!("hop {}", node.hop));
    }
    let shape = match &node.trace {
        Some(trace) => {
            if !trace.server.version.is_empty() {
                lines.push(format!("v{}", trace.server.version));
            }
            Shape::Server
        }
        None => {
            lines.push("trace missing".to_string());
            Shape::Missing
        }
    };
    if node.detached {
        lines.push("detached".to_string());
    }
    (lines, shape)
}

/// The label of an egress edge: kind, subscription, queue, account, error.
fn egress_lines(egress: &Egress) -> Vec<String> {
    let mut lines = vec![egress.kind.name().to_string()];
    if !egress.subscription.is_empty() {
        lines.push(egress.subscription.to_string());
    }
    if !egress.queue.is_empty() {
        lines.push(format!("queue {}", egress.queue));
    }
    if !egress.account.is_empty() {
        lines.push(format!("account {}", egress.account));
    }
    if !egress.error.is_empty() {
        lines.push(format!("error: {}", egress.error));
    }
    lines
}
