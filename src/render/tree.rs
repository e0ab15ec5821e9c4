//! The route tree in the format of the Go NATS CLI's `nats trace`: one block per server,
//! indented four spaces per hop, egress arrows by connection kind, the legend, the egress
//! counts; then what the Go CLI leaves out: missing servers, detached traces, and a summary
//! of every error when there is more than one. What the route means (no interest, account
//! boundaries, JetStream actions) is decided by `trace::analysis`, asked server by server as
//! the tree is drawn; this file only words it.

use std::io::{self, Write};

use petgraph::graph::NodeIndex;

use super::{Palette, RenderOptions, Renderer, TraceReport};
use crate::duration::{go_string, round_to_micros};
use crate::text::{go_quote, push_go_quoted, sanitize, with_commas};
use crate::trace::analysis::{self, Boundary, Crossing, JetStreamAction};
use crate::trace::event::{ConnKind, Event, Timestamp, TraceMessage};
use crate::trace::stitch::{EgressEntry, ServerNode, Step, TraceGraph};

/// Where a server's lines go: its depth, and the time they are measured from (with `-T`).
#[derive(Clone, Copy)]
struct At<'a> {
    depth: usize,
    reference: Option<&'a Timestamp>,
}

/// Renders the route tree as text.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeRenderer {
    pub options: RenderOptions,
}

impl TreeRenderer {
    pub fn new(options: RenderOptions) -> TreeRenderer {
        TreeRenderer { options }
    }
}

impl Renderer for TreeRenderer {
    fn render(&self, report: &TraceReport, out: &mut dyn Write) -> io::Result<()> {
        let mut writer = TreeWriter {
            out,
            graph: &report.graph,
            timestamps: self.options.timestamps,
            palette: Palette {
                enabled: self.options.color,
            },
        };
        writer.write_report(report)
    }
}

struct TreeWriter<'a> {
    out: &'a mut dyn Write,
    graph: &'a TraceGraph,
    timestamps: bool,
    palette: Palette,
}

impl<'a> TreeWriter<'a> {
    fn write_report(&mut self, report: &TraceReport) -> io::Result<()> {
        let deliver = if report.deliver {
            " with delivery to the final destination"
        } else {
            ""
        };
        writeln!(
            self.out,
            "Tracing message route to subject {}{deliver}\n",
            sanitize(&report.subject)
        )?;
        self.write_tree(self.graph.root)?;
        for &detached in &self.graph.detached {
            let node = self.graph.node(detached);
            writeln!(
                self.out,
                "\n{}",
                self.palette.warning(&format!(
                    "Detached trace from server {} hop:{}:",
                    go_quote(node.server_name()),
                    go_quote(&node.hop)
                ))
            )?;
            self.write_tree(detached)?;
        }
        self.write_footer()
    }

    fn write_tree(&mut self, start: NodeIndex) -> io::Result<()> {
        for step in self.graph.walk(start) {
            match step {
                Step::Server { node, depth } => self.write_server(node, depth)?,
                Step::Egress {
                    node, index, depth, ..
                } => self.write_egress(node, index, depth)?,
            }
        }
        Ok(())
    }

    /// The time lines of `node` are measured from: the origin's ingress for the root, the
    /// parent's egress for every other server (as the nats CLI does).
    /// Only needed with `-T`; `None` otherwise or when unknown.
    fn reference_time(&self, node: NodeIndex) -> Option<&'a Timestamp> {
        if !self.timestamps {
            return None;
        }
        let graph: &'a TraceGraph = self.graph;
        match graph.parent(node) {
            Some((parent, index)) => graph.node(parent).egress(index).map(|e| &e.egress.ts),
            None => graph
                .node(node)
                .trace
                .as_ref()
                .and_then(|t| t.ingress().map(|i| &i.ts).or(t.server.time.as_ref())),
        }
    }

    fn line(
        &mut self,
        depth: usize,
        reference: Option<&Timestamp>,
        at: Option<&Timestamp>,
        text: &str,
    ) -> io::Result<()> {
        const SPACES: &str = "                                                                ";
        let mut indent = depth * 4;
        while indent > 0 {
            let chunk = indent.min(SPACES.len());
            self.out.write_all(&SPACES.as_bytes()[..chunk])?;
            indent -= chunk;
        }
        if self.timestamps {
            let stamp = match at.zip(reference).and_then(|(t, r)| t.since(r)) {
                Some(nanos) if nanos < 0 => "Skew".to_string(),
                Some(nanos) => go_string(round_to_micros(nanos)),
                None => "?".to_string(),
            };
            writeln!(self.out, "[{stamp}] {text}")
        } else {
            self.out.write_all(text.as_bytes())?;
            self.out.write_all(b"\n")
        }
    }

    /// One server's block: its ingress, then its events in the nats CLI's order (mappings,
    /// service imports, stream exports, JetStream, unknown events), with the analysis's
    /// boundary and no-interest lines where they belong.
    fn write_server(&mut self, ix: NodeIndex, depth: usize) -> io::Result<()> {
        let node = self.graph.node(ix);
        let reference = self.reference_time(ix);
        let Some(trace) = &node.trace else {
            let text = self.palette.warning(&missing_line(node));
            return self.line(depth, reference, None, &text);
        };
        let at = At { depth, reference };
        self.write_ingress(trace, at)?;
        self.write_mappings(trace, at)?;
        self.write_service_imports(ix, trace, at)?;
        self.write_stream_exports(ix, trace, at)?;
        self.write_jetstream(trace, at)?;
        self.write_unknown_events(trace, at)?;
        if analysis::has_no_interest(node) {
            let text = self.palette.error("--X No active interest");
            self.line(depth, reference, None, &text)?;
        }
        Ok(())
    }

    fn write_ingress(&mut self, trace: &TraceMessage, at: At<'a>) -> io::Result<()> {
        let p = self.palette;
        let Some(ingress) = trace.ingress() else {
            let text = format!(
                "!!! No ingress event server:{} version:{}",
                go_quote(&trace.server.name),
                go_quote(&trace.server.version)
            );
            return self.line(at.depth, at.reference, None, &p.warning(&text));
        };
        let mut text = String::with_capacity(128);
        push_kind_and_name(&mut text, ingress.kind, &ingress.name, Some(ingress.cid));
        if !trace.server.cluster.is_empty()
            && matches!(ingress.kind, ConnKind::Gateway | ConnKind::Client)
        {
            push_pair(&mut text, "cluster", &trace.server.cluster);
        }
        push_pair(&mut text, "server", &trace.server.name);
        push_pair(&mut text, "version", &trace.server.version);
        self.line(at.depth, at.reference, Some(&ingress.ts), &text)?;
        if !ingress.error.is_empty() {
            let text = p.error(&format!("--X Error: {}", sanitize(&ingress.error)));
            self.line(at.depth, at.reference, Some(&ingress.ts), &text)?;
        }
        Ok(())
    }

    fn write_mappings(&mut self, trace: &TraceMessage, at: At<'a>) -> io::Result<()> {
        for event in &trace.events {
            if let Event::SubjectMapping(m) = event {
                let text = format!("    Mapping subject:{}", go_quote(&m.mapped_to));
                self.line(at.depth, at.reference, Some(&m.ts), &text)?;
            }
        }
        Ok(())
    }

    fn write_service_imports(
        &mut self,
        ix: NodeIndex,
        trace: &TraceMessage,
        at: At<'a>,
    ) -> io::Result<()> {
        for (position, event) in trace.events.iter().enumerate() {
            if let Event::ServiceImport(s) = event {
                let text = format!(
                    "    Service Import from:{} to:{} account:{}",
                    go_quote(&s.from),
                    go_quote(&s.to),
                    go_quote(&s.account)
                );
                self.line(at.depth, at.reference, Some(&s.ts), &text)?;
                self.write_boundary(ix, trace, position, at)?;
            }
        }
        Ok(())
    }

    fn write_stream_exports(
        &mut self,
        ix: NodeIndex,
        trace: &TraceMessage,
        at: At<'a>,
    ) -> io::Result<()> {
        for (position, event) in trace.events.iter().enumerate() {
            if let Event::StreamExport(s) = event {
                let text = format!(
                    "    Stream Export subject:{} account:{}",
                    go_quote(&s.to),
                    go_quote(&s.account)
                );
                self.line(at.depth, at.reference, Some(&s.ts), &text)?;
                self.write_boundary(ix, trace, position, at)?;
            }
        }
        Ok(())
    }

    /// The warning under the import or export at `position` when the analysis finds the
    /// trace stops there.
    fn write_boundary(
        &mut self,
        ix: NodeIndex,
        trace: &TraceMessage,
        position: usize,
        at: At<'a>,
    ) -> io::Result<()> {
        let Some(boundary) = Boundary::at(ix, &trace.events, position) else {
            return Ok(());
        };
        // A service import with nothing after it cannot tell a missing allow_trace from no
        // interest, so it says both rather than "No active interest".
        let text = match boundary.crossing {
            Crossing::ServiceImport => format!(
                "    !!! Trace stops at the account boundary: nothing reported in account {} (its service export does not allow_trace, or nothing there has interest)",
                go_quote(&boundary.account)
            ),
            Crossing::StreamExport => format!(
                "    !!! Trace stops at the account boundary: the stream import of account {} does not allow_trace",
                go_quote(&boundary.account)
            ),
        };
        let text = self.palette.warning(&text);
        self.line(at.depth, at.reference, None, &text)
    }

    fn write_jetstream(&mut self, trace: &TraceMessage, at: At<'a>) -> io::Result<()> {
        let p = self.palette;
        for js in trace.jetstream() {
            let text = format!(
                "{} JetStream action:{} stream:{} subject:{}",
                p.arrow(ConnKind::JetStream),
                go_quote(JetStreamAction::of(js).words()),
                go_quote(&js.stream),
                go_quote(&js.subject)
            );
            self.line(at.depth, at.reference, Some(&js.ts), &text)?;
            if !js.error.is_empty() {
                let text = p.error(&format!("--X Error: {}", sanitize(&js.error)));
                self.line(at.depth, at.reference, Some(&js.ts), &text)?;
            }
        }
        Ok(())
    }

    fn write_unknown_events(&mut self, trace: &TraceMessage, at: At<'a>) -> io::Result<()> {
        for event in &trace.events {
            if let Event::Unknown { kind, raw } = event {
                let text = format!(
                    "    Event {} {}",
                    go_quote(kind),
                    sanitize(&raw.to_string())
                );
                self.line(at.depth, at.reference, event.timestamp().as_ref(), &text)?;
            }
        }
        Ok(())
    }

    fn write_egress(&mut self, ix: NodeIndex, index: usize, depth: usize) -> io::Result<()> {
        let graph = self.graph;
        let reference = self.reference_time(ix);
        let Some(EgressEntry { egress, synthetic }) = graph.node(ix).egress(index) else {
            return Ok(());
        };
        let p = self.palette;
        let id = if synthetic { None } else { Some(egress.cid) };
        let mut text = String::with_capacity(128);
        text.push_str(&p.arrow(egress.kind));
        text.push(' ');
        push_kind_and_name(&mut text, egress.kind, &egress.name, id);
        for (label, value) in [
            ("account", &egress.account),
            ("subject", &egress.subscription),
            ("queue", &egress.queue),
        ] {
            if !value.is_empty() {
                push_pair(&mut text, label, value);
            }
        }
        let at = (!synthetic).then_some(&egress.ts);
        self.line(depth, reference, at, &text)?;
        if !egress.error.is_empty() {
            let text = p.error(&format!("  --X Error: {}", sanitize(&egress.error)));
            self.line(depth, reference, at, &text)?;
        }
        Ok(())
    }

    fn write_footer(&mut self) -> io::Result<()> {
        let p = self.palette;
        let arrow = |k: ConnKind| p.arrow(k);
        writeln!(
            self.out,
            "\nLegend: Client: {} Router: {} Gateway: {} Leafnode: {} JetStream: {} Error: {}\n",
            arrow(ConnKind::Client),
            arrow(ConnKind::Router),
            arrow(ConnKind::Gateway),
            arrow(ConnKind::Leafnode),
            arrow(ConnKind::JetStream),
            p.error("--X"),
        )?;
        let counts = self.graph.egress_counts();
        if !counts.is_empty() {
            writeln!(self.out, "Egress Count:\n")?;
            let width = counts.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
            for (name, count) in &counts {
                writeln!(
                    self.out,
                    "{:>w$}: {}",
                    name,
                    with_commas(*count),
                    w = width + 2
                )?;
            }
        }
        let streams = counts
            .iter()
            .find(|(name, _)| *name == ConnKind::JetStream.name())
            .map(|(_, count)| *count)
            .unwrap_or(0);
        if streams > 1 {
            writeln!(
                self.out,
                "{}",
                p.warning(&format!(
                    "WARNING: The message was received by {streams} streams"
                ))
            )?;
        }
        let errors = self.graph.error_count();
        if errors > 1 {
            writeln!(self.out, "\n{}\n", p.error(&format!("Errors: {errors}")))?;
            for line in self.error_lines() {
                writeln!(self.out, "  {line}")?;
            }
        }
        if let Some(summary) = self.graph.missing_summary() {
            writeln!(
                self.out,
                "\n{}",
                p.warning(&format!("INCOMPLETE: {summary}"))
            )?;
        }
        for problem in &self.graph.problems {
            writeln!(
                self.out,
                "{}",
                p.warning(&format!("WARNING: {}", sanitize(&problem.to_string())))
            )?;
        }
        Ok(())
    }
}

impl<'a> TreeWriter<'a> {
    /// One line per reported error, in the order of [`TraceGraph::errors`] (tree order, then
    /// detached traces), each naming the server and the connection or stream it concerns.
    fn error_lines(&self) -> Vec<String> {
        let graph = self.graph;
        let servers = graph
            .walk(graph.root)
            .filter_map(|step| match step {
                Step::Server { node, .. } => Some(node),
                Step::Egress { .. } => None,
            })
            .chain(graph.detached.iter().copied());
        let mut lines = Vec::new();
        for ix in servers {
            let node = graph.node(ix);
            let server = format!("server:{}", go_quote(node.server_name()));
            for event in node.events() {
                let (what, error) = match event {
                    Event::Ingress(i) if !i.error.is_empty() => (
                        format!(
                            "ingress from {}",
                            kind_and_name(i.kind, &i.name, Some(i.cid))
                        ),
                        &i.error,
                    ),
                    Event::Egress(e) if !e.error.is_empty() => (
                        format!("egress to {}", kind_and_name(e.kind, &e.name, Some(e.cid))),
                        &e.error,
                    ),
                    Event::JetStream(j) if !j.error.is_empty() => (
                        format!("JetStream stream:{}", go_quote(&j.stream)),
                        &j.error,
                    ),
                    _ => continue,
                };
                lines.push(format!("{server} {what}: {}", sanitize(error)));
            }
        }
        lines
    }
}

fn display_hop(hop: &str) -> String {
    if hop.is_empty() {
        "(origin)".to_string()
    } else {
        sanitize(hop)
    }
}

fn missing_line(node: &ServerNode) -> String {
    if let Some(run) = node.missing_run() {
        return format!(
            "!!! Missing trace: {} did not report",
            sanitize(&run.to_string())
        );
    }
    let who = if node.server_name().is_empty() {
        "an unknown server".to_string()
    } else {
        format!("server {}", go_quote(node.server_name()))
    };
    format!(
        "!!! Missing trace: {who} at hop {} did not report",
        display_hop(&node.hop)
    )
}

/// Appends `Router "n2" rid:7`, or `Router rid:7` when the connection has no name.
fn push_kind_and_name(text: &mut String, kind: ConnKind, name: &str, id: Option<u64>) {
    text.push_str(kind.name());
    if !name.is_empty() {
        text.push(' ');
        push_go_quoted(text, name);
    }
    if let Some(id) = id {
        text.push(' ');
        text.push_str(kind.id_label());
        text.push(':');
        push_decimal(text, id);
    }
}

/// `Router "n2" rid:7`, or `Router rid:7` when the connection has no name.
fn kind_and_name(kind: ConnKind, name: &str, id: Option<u64>) -> String {
    let mut text = String::new();
    push_kind_and_name(&mut text, kind, name, id);
    text
}

/// Appends the decimal digits of `n` (cheaper than `write!` on the hot path).
fn push_decimal(text: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        text.push(char::from(d));
    }
}

/// Appends ` label:"value"`.
fn push_pair(text: &mut String, label: &str, value: &str) {
    text.push(' ');
    text.push_str(label);
    text.push(':');
    push_go_quoted(text, value);
}
