//! The route graph the picture formats (DOT and Mermaid) draw, built once from a report: a
//! box per server (grouped by cluster), one for the publishing client, one per receiving
//! client connection and per JetStream stream, and an edge per egress and JetStream event.
//! Labels are plain text here; each format escapes them its own way.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use super::TraceReport;
use super::json::jetstream_action;
use crate::trace::event::{ConnKind, Event};
use crate::trace::stitch::Step;

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
}

#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: ConnKind,
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

    #[allow(clippy::too_many_lines)] // TODO(issue 12): split into named steps
    pub(super) fn new(report: &TraceReport) -> Diagram {
        let graph = &report.graph;
        let mut d = Diagram {
            title: format!(
                "Trace of {}{}",
                report.subject,
                if report.deliver { " (delivered)" } else { "" }
            ),
            ..Diagram::default()
        };
        let mut counter: HashMap<char, usize> = HashMap::new();
        let mut add = |d: &mut Diagram, prefix: char, lines: Vec<String>, shape: Shape| {
            let n = counter.entry(prefix).or_default();
            d.boxes.push(Block {
                id: format!("{prefix}{n}"),
                lines,
                shape,
                error: false,
                detached: false,
            });
            *n += 1;
            d.boxes.len() - 1
        };

        let mut servers: Vec<NodeIndex> = graph
            .walk(graph.root)
            .filter_map(|s| match s {
                Step::Server { node, .. } => Some(node),
                Step::Egress { .. } => None,
            })
            .collect();
        servers.extend(graph.detached.iter().copied());

        let mut box_of: HashMap<NodeIndex, usize> = HashMap::new();
        let mut cluster_index: HashMap<String, usize> = HashMap::new();
        for &ix in &servers {
            let node = graph.node(ix);
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
            let b = add(&mut d, 's', lines, shape);
            d.boxes[b].detached = node.detached;
            d.boxes[b].error = node
                .trace
                .as_ref()
                .and_then(|t| t.ingress())
                .is_some_and(|i| !i.error.is_empty());
            box_of.insert(ix, b);
            if let Some(cluster) = node
                .trace
                .as_ref()
                .map(|t| t.server.cluster.as_str())
                .filter(|c| !c.is_empty())
            {
                let at = *cluster_index.entry(cluster.to_string()).or_insert_with(|| {
                    d.clusters.push((cluster.to_string(), Vec::new()));
                    d.clusters.len() - 1
                });
                d.clusters[at].1.push(b);
            }
        }

        // The publisher, in front of the origin.
        let root = graph.node(graph.root);
        if let Some(ingress) = root
            .trace
            .as_ref()
            .and_then(|t| t.ingress())
            .filter(|i| i.kind == ConnKind::Client)
        {
            let name = if ingress.name.is_empty() {
                "publisher".to_string()
            } else {
                ingress.name.to_string()
            };
            let p = add(
                &mut d,
                'p',
                vec![name, format!("cid:{}", ingress.cid)],
                Shape::Publisher,
            );
            let mut lines = vec![format!("publish {}", ingress.subject)];
            if !ingress.error.is_empty() {
                lines.push(format!("error: {}", ingress.error));
            }
            d.edges.push(Edge {
                from: p,
                to: box_of[&graph.root],
                kind: ConnKind::Client,
                lines,
                error: !ingress.error.is_empty(),
            });
        }

        let mut clients: HashMap<(usize, u64), usize> = HashMap::new();
        let mut streams: HashMap<String, usize> = HashMap::new();
        for &ix in &servers {
            let from = box_of[&ix];
            let node = graph.node(ix);
            for event in node.events() {
                let Event::JetStream(js) = event else {
                    continue;
                };
                let to = *streams.entry(js.stream.to_string()).or_insert_with(|| {
                    add(
                        &mut d,
                        'j',
                        vec![format!("stream {}", js.stream)],
                        Shape::Stream,
                    )
                });
                let mut lines = vec![format!("JetStream {}", jetstream_action(js))];
                if !js.subject.is_empty() {
                    lines.push(js.subject.to_string());
                }
                if !js.error.is_empty() {
                    lines.push(format!("error: {}", js.error));
                }
                d.edges.push(Edge {
                    from,
                    to,
                    kind: ConnKind::JetStream,
                    lines,
                    error: !js.error.is_empty(),
                });
            }
            let children = graph.children_by_egress(ix);
            for (entry, child) in node.egresses().zip(children) {
                let egress = &entry.egress;
                let mut lines = vec![egress.kind.name().to_string()];
                let to = match child {
                    Some(child) => box_of[&child],
                    None if egress.kind.is_server_link() => {
                        let name = if egress.name.is_empty() {
                            "unknown server".to_string()
                        } else {
                            egress.name.to_string()
                        };
                        add(
                            &mut d,
                            'u',
                            vec![name, "not reached".to_string()],
                            Shape::Unreached,
                        )
                    }
                    None => *clients.entry((from, egress.cid)).or_insert_with(|| {
                        let name = if egress.name.is_empty() {
                            egress.kind.name().to_string()
                        } else {
                            egress.name.to_string()
                        };
                        add(
                            &mut d,
                            'c',
                            vec![name, format!("{}:{}", egress.kind.id_label(), egress.cid)],
                            Shape::Client,
                        )
                    }),
                };
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
                d.edges.push(Edge {
                    from,
                    to,
                    kind: egress.kind,
                    lines,
                    error: !egress.error.is_empty(),
                });
            }
        }
        d
    }
}
