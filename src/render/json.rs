//! The versioned JSON document (`--json`): what was traced, whether it is complete, egress
//! counts, every error, timing, the route analysis (`analysis`, and each server's `outcome`,
//! `delivered` and `boundaries`), and the stitched tree with every event of every server.
//! The shape is fixed by `schema/trace-v1.schema.json`; [`SCHEMA_VERSION`] changes only when
//! a field is removed or changes meaning (new fields may appear in the same version).

use std::collections::HashMap;
use std::io::{self, Write};

use petgraph::graph::NodeIndex;
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

use super::{Renderer, TraceReport};
use crate::trace::analysis::{Analysis, Boundary, Outcome, StreamAction};
use crate::trace::event::{ConnKind, Egress, Event, Timestamp, TraceMessage};
use crate::trace::stitch::{MissingRun, Problem, ReportedError, ServerNode, Step, TraceGraph};

/// The value of the document's `schema` field.
pub const SCHEMA_VERSION: u32 = 1;

/// Renders the report as one pretty-printed JSON document.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonRenderer;

impl Renderer for JsonRenderer {
    fn render(&self, report: &TraceReport, out: &mut dyn Write) -> io::Result<()> {
        let document = Document::new(report);
        serde_json::to_writer_pretty(&mut *out, &document).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }
}

impl JsonRenderer {
    /// The same document on one line (compact), for streams of documents such as `listen`'s
    /// JSON lines.
    pub fn render_line(report: &TraceReport, out: &mut dyn Write) -> io::Result<()> {
        let document = Document::new(report);
        serde_json::to_writer(&mut *out, &document).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }
}

#[derive(Serialize)]
struct Document<'a> {
    schema: u32,
    subject: &'a str,
    /// The W3C `traceparent` of a message `listen` grouped by it; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    /// The OpenTelemetry trace-id of the message's spans (its traceparent's, else its own).
    otel_trace_id: String,
    deliver: bool,
    complete: bool,
    timing: Timing<'a>,
    egress_counts: Counts,
    errors: Vec<ReportedError>,
    missing: Vec<Missing<'a>>,
    analysis: AnalysisJson<'a>,
    root: Node<'a>,
    detached: Vec<Node<'a>>,
    problems: Vec<ProblemJson<'a>>,
}

#[derive(Serialize)]
struct Timing<'a> {
    /// Nanoseconds from publishing to the end of collection; null offline.
    collection_ns: Option<u64>,
    /// The origin server's ingress timestamp, which every `offset_ns` is relative to.
    origin_ts: Option<&'a str>,
    /// The largest offset of any reported egress or JetStream event.
    latency_ns: Option<i64>,
}

/// Kind name to count, in the tree's order (largest first, then by name).
struct Counts(Vec<(&'static str, usize)>);

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, count) in &self.0 {
            map.serialize_entry(name, count)?;
        }
        map.end()
    }
}

/// The route analysis of the whole trace; every list in tree order, then detached traces.
#[derive(Serialize)]
struct AnalysisJson<'a> {
    /// Client deliveries (client egresses without an error).
    delivered: usize,
    deliveries: Vec<At<'a, DeliveryJson<'a>>>,
    /// JetStream events that stored the message.
    stored: usize,
    jetstream: Vec<At<'a, StreamJson<'a>>>,
    /// Servers that had no active interest.
    no_interest: Vec<Missing<'a>>,
    boundaries: Vec<At<'a, BoundaryJson<'a>>>,
    missing: usize,
    errors: usize,
}

/// An item of the analysis with the server and hop it was found on.
#[derive(Serialize)]
struct At<'a, T: Serialize> {
    server: &'a str,
    hop: &'a str,
    #[serde(flatten)]
    item: T,
}

impl<'a, T: Serialize> At<'a, T> {
    fn new(node: &'a ServerNode, item: T) -> At<'a, T> {
        At {
            server: node.server_name(),
            hop: &node.hop,
            item,
        }
    }
}

#[derive(Serialize)]
struct DeliveryJson<'a> {
    name: Option<&'a str>,
    cid: u64,
    account: Option<&'a str>,
    subscription: Option<&'a str>,
    queue: Option<&'a str>,
}

#[derive(Serialize)]
struct StreamJson<'a> {
    stream: &'a str,
    action: &'static str,
}

#[derive(Serialize)]
struct BoundaryJson<'a> {
    crossing: &'static str,
    account: &'a str,
    from: Option<&'a str>,
    to: &'a str,
}

impl<'a> BoundaryJson<'a> {
    fn new(b: &'a Boundary) -> BoundaryJson<'a> {
        BoundaryJson {
            crossing: b.crossing.name(),
            account: &b.account,
            from: b.from.as_deref(),
            to: &b.to,
        }
    }
}

impl<'a> AnalysisJson<'a> {
    /// The analysis, its lists ordered by `servers` (the order the tree shows them in).
    fn new(graph: &'a TraceGraph, analysis: &'a Analysis, servers: &[NodeIndex]) -> Self {
        let mut out = AnalysisJson {
            delivered: analysis.deliveries().len(),
            deliveries: Vec::with_capacity(analysis.deliveries().len()),
            stored: analysis.stored(),
            jetstream: Vec::new(),
            no_interest: Vec::new(),
            boundaries: Vec::new(),
            missing: analysis.missing(),
            errors: analysis.errors(),
        };
        for &ix in servers {
            let node: &'a ServerNode = graph.node(ix);
            for delivery in analysis.deliveries_of(ix) {
                if let Some(egress) = delivery.egress(graph) {
                    out.deliveries
                        .push(At::new(node, DeliveryJson::new(egress)));
                }
            }
            out.jetstream.extend(
                analysis
                    .jetstream_of(ix)
                    .iter()
                    .map(|js| At::new(node, StreamJson::new(js))),
            );
            if analysis.node(ix).outcome == Outcome::NoInterest {
                out.no_interest.push(Missing {
                    server: node.server_name(),
                    hop: &node.hop,
                    run: None,
                });
            }
            out.boundaries.extend(
                analysis
                    .boundaries_of(ix)
                    .iter()
                    .map(|b| At::new(node, BoundaryJson::new(b))),
            );
        }
        out
    }
}

impl<'a> DeliveryJson<'a> {
    fn new(egress: &'a Egress) -> DeliveryJson<'a> {
        DeliveryJson {
            name: some(&egress.name),
            cid: egress.cid,
            account: some(&egress.account),
            subscription: some(&egress.subscription),
            queue: some(&egress.queue),
        }
    }
}

impl<'a> StreamJson<'a> {
    fn new(js: &'a StreamAction) -> StreamJson<'a> {
        StreamJson {
            stream: &js.stream,
            action: js.action.words(),
        }
    }
}

/// A server by name and hop (a missing one, or one with no interest).
#[derive(Serialize)]
struct Missing<'a> {
    server: &'a str,
    hop: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<MissingRun<'a>>,
}

#[derive(Serialize)]
struct ProblemJson<'a> {
    kind: &'static str,
    server: &'a str,
    hop: Option<&'a str>,
    message: String,
}

impl<'a> ProblemJson<'a> {
    fn new(problem: &'a Problem) -> ProblemJson<'a> {
        let (kind, server, hop) = match problem {
            Problem::DuplicateOrigin { server } => ("duplicate_origin", server, None),
            Problem::DuplicateHop { hop, server } => ("duplicate_hop", server, Some(hop)),
            Problem::NoHop { server } => ("no_hop", server, None),
            Problem::NoIngress { server, hop } => ("no_ingress", server, Some(hop)),
            Problem::StrayEgressHop { server, hop } => ("stray_egress_hop", server, Some(hop)),
        };
        ProblemJson {
            kind,
            server,
            hop: hop.map(String::as_str),
            message: problem.to_string(),
        }
    }
}

#[derive(Serialize)]
struct Kind {
    number: i64,
    name: &'static str,
}

impl From<ConnKind> for Kind {
    fn from(kind: ConnKind) -> Kind {
        Kind {
            number: kind.number(),
            name: kind.name(),
        }
    }
}

#[derive(Serialize)]
struct Server<'a> {
    name: &'a str,
    id: Option<&'a str>,
    host: Option<&'a str>,
    cluster: Option<&'a str>,
    domain: Option<&'a str>,
    version: Option<&'a str>,
    tags: &'a [String],
    jetstream: Option<bool>,
    time: Option<&'a str>,
}

#[derive(Serialize)]
struct Request<'a> {
    headers: &'a crate::trace::event::Headers,
    msgsize: u64,
}

#[derive(Serialize)]
struct Node<'a> {
    server: Server<'a>,
    hop: &'a str,
    missing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<MissingRun<'a>>,
    detached: bool,
    /// How many servers this server says it forwarded the message to.
    hops: Option<u64>,
    /// What became of the message here (see `trace::analysis::Outcome`).
    outcome: &'static str,
    /// Client deliveries from this server.
    delivered: u32,
    /// Account boundaries the trace stops at on this server.
    boundaries: Vec<BoundaryJson<'a>>,
    request: Option<Request<'a>>,
    ingress: Option<Ingress<'a>>,
    subject_mappings: Vec<Mapping<'a>>,
    service_imports: Vec<ServiceImport<'a>>,
    stream_exports: Vec<StreamExport<'a>>,
    jetstream: Vec<JetStream<'a>>,
    unknown_events: Vec<Unknown<'a>>,
    egresses: Vec<EgressJson<'a>>,
}

#[derive(Serialize)]
struct Ingress<'a> {
    kind: Kind,
    name: Option<&'a str>,
    cid: u64,
    account: &'a str,
    subject: &'a str,
    error: Option<&'a str>,
    ts: &'a str,
    offset_ns: Option<i64>,
}

#[derive(Serialize)]
struct Mapping<'a> {
    to: &'a str,
    ts: &'a str,
    offset_ns: Option<i64>,
}

#[derive(Serialize)]
struct ServiceImport<'a> {
    account: &'a str,
    from: &'a str,
    to: &'a str,
    ts: &'a str,
    offset_ns: Option<i64>,
}

#[derive(Serialize)]
struct StreamExport<'a> {
    account: &'a str,
    to: &'a str,
    ts: &'a str,
    offset_ns: Option<i64>,
}

#[derive(Serialize)]
struct JetStream<'a> {
    stream: &'a str,
    subject: Option<&'a str>,
    action: &'static str,
    no_interest: bool,
    error: Option<&'a str>,
    ts: &'a str,
    offset_ns: Option<i64>,
}

#[derive(Serialize)]
struct Unknown<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    offset_ns: Option<i64>,
    event: Value,
}

#[derive(Serialize)]
struct EgressJson<'a> {
    kind: Kind,
    name: Option<&'a str>,
    cid: Option<u64>,
    hop: Option<&'a str>,
    account: Option<&'a str>,
    subscription: Option<&'a str>,
    queue: Option<&'a str>,
    error: Option<&'a str>,
    ts: Option<&'a str>,
    offset_ns: Option<i64>,
    synthetic: bool,
    link: Option<Box<Node<'a>>>,
}

fn some(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

impl<'a> Document<'a> {
    fn new(report: &'a TraceReport) -> Document<'a> {
        let graph = &report.graph;
        let builder = NodeBuilder {
            graph,
            analysis: report.analysis(),
            origin: graph.origin_time(),
        };
        let mut order = Vec::with_capacity(graph.graph.node_count());
        let root = builder.tree(graph.root, &mut order);
        let detached = graph
            .detached
            .iter()
            .map(|&ix| builder.tree(ix, &mut order))
            .collect();
        Document {
            schema: SCHEMA_VERSION,
            subject: &report.subject,
            traceparent: report.traceparent.as_deref(),
            otel_trace_id: report.otel_trace_id_hex(),
            deliver: report.deliver,
            complete: report.complete,
            timing: builder.timing(report),
            egress_counts: Counts(graph.egress_counts()),
            errors: graph.errors(),
            missing: graph
                .missing()
                .map(|n| Missing {
                    server: n.server_name(),
                    hop: &n.hop,
                    run: n.missing_run(),
                })
                .collect(),
            analysis: AnalysisJson::new(graph, report.analysis(), &order),
            root,
            detached,
            problems: graph.problems.iter().map(ProblemJson::new).collect(),
        }
    }
}

struct NodeBuilder<'a> {
    graph: &'a TraceGraph,
    analysis: &'a Analysis,
    origin: Option<Timestamp>,
}

impl<'a> NodeBuilder<'a> {
    fn offset(&self, ts: Option<&Timestamp>) -> Option<i64> {
        let nanos = ts?.since(self.origin.as_ref()?)?;
        i64::try_from(nanos).ok()
    }

    fn timing(&self, report: &TraceReport) -> Timing<'a> {
        let graph = self.graph;
        let latency_ns = graph
            .graph
            .node_weights()
            .flat_map(|n| {
                n.events()
                    .iter()
                    .filter(|e| matches!(e, Event::Egress(_) | Event::JetStream(_)))
            })
            .filter_map(|e| self.offset(e.timestamp().as_ref()))
            .max();
        Timing {
            collection_ns: report
                .elapsed
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            origin_ts: graph
                .node(graph.root)
                .trace
                .as_ref()
                .and_then(|t| t.ingress().map(|i| i.ts.raw.as_str())),
            latency_ns,
        }
    }

    /// The tree under `start`, built children first so that deep chains need no recursion;
    /// its servers are appended to `order` in tree order.
    fn tree(&self, start: NodeIndex, order: &mut Vec<NodeIndex>) -> Node<'a> {
        let first = order.len();
        order.extend(self.graph.walk(start).filter_map(|step| match step {
            Step::Server { node, .. } => Some(node),
            Step::Egress { .. } => None,
        }));
        let mut built: HashMap<NodeIndex, Node<'a>> = HashMap::with_capacity(order.len() - first);
        for &ix in order[first..].iter().rev() {
            let node = self.node(ix, &mut built);
            built.insert(ix, node);
        }
        match built.remove(&start) {
            Some(node) => node,
            None => self.node(start, &mut built),
        }
    }

    /// One server: what it is, its analysis, its events by type, its egresses with the
    /// servers they lead to (taken from `built`).
    fn node(&self, ix: NodeIndex, built: &mut HashMap<NodeIndex, Node<'a>>) -> Node<'a> {
        let graph: &'a TraceGraph = self.graph;
        let node: &'a ServerNode = graph.node(ix);
        let trace = node.trace.as_deref();
        let analysis = self.analysis.node(ix);
        let mut out = Node {
            server: server(node),
            hop: &node.hop,
            missing: node.is_missing(),
            run: node.missing_run(),
            detached: node.detached,
            hops: trace.map(|t| t.hops),
            outcome: analysis.outcome.name(),
            delivered: u32::try_from(analysis.delivered()).unwrap_or(u32::MAX),
            boundaries: self
                .analysis
                .boundaries_of(ix)
                .iter()
                .map(BoundaryJson::new)
                .collect(),
            request: trace.map(|t| Request {
                headers: t.request.headers(),
                msgsize: t.request.msg_size,
            }),
            ingress: None,
            subject_mappings: Vec::new(),
            service_imports: Vec::new(),
            stream_exports: Vec::new(),
            jetstream: Vec::new(),
            unknown_events: Vec::new(),
            egresses: Vec::new(),
        };
        if let Some(trace) = trace {
            self.events(ix, trace, &mut out);
        }
        self.egresses(ix, built, &mut out);
        out
    }

    /// Sorts the events of `trace` into the node's lists (egresses excepted).
    fn events(&self, ix: NodeIndex, trace: &'a TraceMessage, out: &mut Node<'a>) {
        let mut actions = self.analysis.jetstream_of(ix).iter();
        for event in &trace.events {
            let offset_ns = self.offset(event.timestamp().as_ref());
            match event {
                Event::Ingress(i) if out.ingress.is_none() => {
                    out.ingress = Some(Ingress {
                        kind: i.kind.into(),
                        name: some(&i.name),
                        cid: i.cid,
                        account: &i.account,
                        subject: &i.subject,
                        error: some(&i.error),
                        ts: &i.ts.raw,
                        offset_ns,
                    });
                }
                Event::SubjectMapping(m) => out.subject_mappings.push(Mapping {
                    to: &m.mapped_to,
                    ts: &m.ts.raw,
                    offset_ns,
                }),
                Event::ServiceImport(s) => out.service_imports.push(ServiceImport {
                    account: &s.account,
                    from: &s.from,
                    to: &s.to,
                    ts: &s.ts.raw,
                    offset_ns,
                }),
                Event::StreamExport(s) => out.stream_exports.push(StreamExport {
                    account: &s.account,
                    to: &s.to,
                    ts: &s.ts.raw,
                    offset_ns,
                }),
                // The analysis lists the JetStream events in event order, with their action.
                Event::JetStream(js) => out.jetstream.push(JetStream {
                    stream: &js.stream,
                    subject: some(&js.subject),
                    action: actions.next().map_or("", |a| a.action.words()),
                    no_interest: js.no_interest,
                    error: some(&js.error),
                    ts: &js.ts.raw,
                    offset_ns,
                }),
                Event::Unknown { kind, raw } => out.unknown_events.push(Unknown {
                    kind,
                    offset_ns,
                    event: raw.clone(),
                }),
                // Egresses come from the node (with the synthetic ones); a second ingress
                // is kept as an unknown event so nothing is lost.
                Event::Egress(_) => {}
                Event::Ingress(_) => out.unknown_events.push(Unknown {
                    kind: event.type_name(),
                    offset_ns,
                    event: serde_json::to_value(event).unwrap_or(Value::Null),
                }),
            }
        }
    }

    /// The egresses of `ix`, each with the server it leads to.
    fn egresses(
        &self,
        ix: NodeIndex,
        built: &mut HashMap<NodeIndex, Node<'a>>,
        out: &mut Node<'a>,
    ) {
        let graph: &'a TraceGraph = self.graph;
        let children = graph.children_by_egress(ix);
        for (entry, child) in graph.node(ix).egresses().zip(children) {
            let egress = entry.egress;
            let synthetic = entry.synthetic;
            out.egresses.push(EgressJson {
                kind: egress.kind.into(),
                name: some(&egress.name),
                cid: (!synthetic).then_some(egress.cid),
                hop: some(&egress.hop),
                account: some(&egress.account),
                subscription: some(&egress.subscription),
                queue: some(&egress.queue),
                error: some(&egress.error),
                ts: (!synthetic).then_some(egress.ts.raw.as_str()),
                offset_ns: if synthetic {
                    None
                } else {
                    self.offset(Some(&egress.ts))
                },
                synthetic,
                link: child.and_then(|c| built.remove(&c)).map(Box::new),
            });
        }
    }
}

/// What the node says about its server (only the name for a missing one).
fn server(node: &ServerNode) -> Server<'_> {
    match node.trace.as_deref() {
        Some(t) => Server {
            name: node.server_name(),
            id: some(&t.server.id),
            host: some(&t.server.host),
            cluster: some(&t.server.cluster),
            domain: some(&t.server.domain),
            version: some(&t.server.version),
            tags: &t.server.tags,
            jetstream: Some(t.server.jetstream),
            time: t.server.time.as_ref().map(|ts| ts.raw.as_str()),
        },
        None => Server {
            name: node.server_name(),
            id: None,
            host: None,
            cluster: None,
            domain: None,
            version: None,
            tags: &[],
            jetstream: None,
            time: None,
        },
    }
}
