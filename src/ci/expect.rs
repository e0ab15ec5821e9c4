//! Routing expectations (`--expect`, and the cases of a `check` suite): parsing `KEY OP
//! VALUE` or a bare flag, and evaluating them against a trace report. What the route means
//! (deliveries, no interest, account boundaries, JetStream actions, missing servers, errors)
//! is read from the report's analysis, never worked out again here. Each failure says what
//! was expected and what was seen.

use std::fmt;
use std::time::Duration;

use crate::duration;
use crate::text::go_quote;
use crate::trace::analysis::{Analysis, Crossing, JetStreamAction};
use crate::trace::event::{ConnKind, Event};
use crate::trace::report::TraceReport;
use crate::trace::stitch::TraceGraph;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

impl Op {
    /// Every operator by its symbol, longest first so that `>=` is not read as `>`.
    const ALL: [(&'static str, Op); 6] = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];

    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Lt => "<",
        }
    }

    fn holds<T: PartialOrd>(self, seen: T, wanted: T) -> bool {
        match self {
            Op::Eq => seen == wanted,
            Op::Ne => seen != wanted,
            Op::Ge => seen >= wanted,
            Op::Le => seen <= wanted,
            Op::Gt => seen > wanted,
            Op::Lt => seen < wanted,
        }
    }
}

/// The egress kinds `egress.<kind>` accepts, by their legend names.
const EGRESS_KINDS: [ConnKind; 5] = [
    ConnKind::Client,
    ConnKind::Router,
    ConnKind::Gateway,
    ConnKind::Leafnode,
    ConnKind::JetStream,
];

/// What an expectation looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `egress.<kind> OP N`: the number of egresses of a kind (JetStream: stream events).
    EgressCount(ConnKind, Op, u64),
    /// `servers OP N`: the number of servers the message reached (missing ones included).
    Servers(Op, u64),
    /// `server = NAME` / `server != NAME`: a server that must (not) be on the path.
    Server(bool, String),
    /// `cluster = NAME`: a cluster that must (not) be on the path.
    Cluster(bool, String),
    /// `account = NAME`: an account the message must (not) pass through.
    Account(bool, String),
    /// `stream = NAME`: a JetStream stream that must (not) store the message.
    Stream(bool, String),
    /// `subscription = SUBJECT`: a client subscription that must (not) receive the message.
    Subscription(bool, String),
    /// `latency OP DURATION`: the largest time from the origin's ingress to any egress.
    Latency(Op, Duration),
    /// `delivered OP N`: client deliveries (client egresses without an error), anywhere.
    Delivered(Op, u64),
    /// `stored OP N`: JetStream events that stored the message.
    Stored(Op, u64),
    /// `no-interest OP N`: servers with no active interest; the flag is `no-interest>=1`.
    NoInterest(Op, u64),
    /// `boundary OP N`: account boundaries the trace stops at; the flag is `boundary>=1`.
    Boundary(Op, u64),
    /// `jetstream = ACTION`: a JetStream action (stored, no-interest, rejected) that must
    /// (not) be among the trace's.
    JetStream(bool, JetStreamAction),
    /// `complete`: every server's trace arrived.
    Complete,
    /// `no-errors`: no server reported an error.
    NoErrors,
}

/// One parsed expectation, with the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub text: String,
    pub check: Check,
}

/// A failed expectation: what was expected and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub expectation: String,
    pub seen: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, saw {}", self.expectation, self.seen)
    }
}

/// The flags, and the check each stands for.
fn flag(text: &str) -> Option<Check> {
    match text {
        "complete" => Some(Check::Complete),
        "no-errors" => Some(Check::NoErrors),
        "no-interest" => Some(Check::NoInterest(Op::Ge, 1)),
        "boundary" => Some(Check::Boundary(Op::Ge, 1)),
        _ => None,
    }
}

/// A `KEY OP VALUE` expression taken apart; errors are the part after "invalid expectation".
struct Parts<'a> {
    key: &'a str,
    op: Op,
    value: &'a str,
}

impl<'a> Parts<'a> {
    fn split(text: &'a str) -> Result<Parts<'a>, String> {
        let Some(op_at) = text.find(['=', '!', '<', '>']) else {
            return Err(
                "expected KEY OP VALUE (OP one of = != >= <= > <) or a flag (complete, no-errors, no-interest, boundary)"
                    .into(),
            );
        };
        let key = text[..op_at].trim();
        let rest = &text[op_at..];
        let unknown = || format!("unknown operator in {rest:?}");
        let (op, value) = Op::ALL
            .into_iter()
            .find_map(|(symbol, op)| rest.strip_prefix(symbol).map(|v| (op, v.trim())))
            .ok_or_else(unknown)?;
        if value.starts_with(['=', '!', '<', '>']) {
            return Err(unknown());
        }
        if value.is_empty() {
            return Err(format!("no value after {:?}", op.symbol()));
        }
        if key.is_empty() {
            return Err("no key before the operator".into());
        }
        Ok(Parts { key, op, value })
    }

    fn count(&self) -> Result<u64, String> {
        self.value
            .parse::<u64>()
            .map_err(|_| format!("{:?} is not a count", self.value))
    }

    /// `=` (must be there) or `!=` (must not).
    fn presence(&self, what: &str) -> Result<bool, String> {
        match self.op {
            Op::Eq => Ok(true),
            Op::Ne => Ok(false),
            op => Err(format!("{what} takes = or !=, not {}", op.symbol())),
        }
    }

    fn named(&self, what: &str) -> Result<(bool, String), String> {
        Ok((self.presence(what)?, self.value.to_string()))
    }

    fn jetstream_action(&self) -> Result<JetStreamAction, String> {
        match self
            .value
            .to_ascii_lowercase()
            .replace(['_', ' '], "-")
            .as_str()
        {
            "stored" => Ok(JetStreamAction::Stored),
            "no-interest" => Ok(JetStreamAction::NoInterest),
            "rejected" => Ok(JetStreamAction::Rejected),
            _ => Err(format!(
                "unknown JetStream action {:?} (use stored, no-interest or rejected)",
                self.value
            )),
        }
    }

    fn egress_kind(&self, wanted: &str) -> Result<ConnKind, String> {
        EGRESS_KINDS
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                format!(
                    "unknown egress kind {wanted:?} (use client, router, gateway, leafnode or jetstream)"
                )
            })
    }

    /// The check the key names, with its value.
    fn check(&self) -> Result<Check, String> {
        let op = self.op;
        let check = match self.key.to_ascii_lowercase().as_str() {
            "servers" => Check::Servers(op, self.count()?),
            "server" => self.named("server").map(|(p, v)| Check::Server(p, v))?,
            "cluster" => self.named("cluster").map(|(p, v)| Check::Cluster(p, v))?,
            "account" => self.named("account").map(|(p, v)| Check::Account(p, v))?,
            "stream" => self.named("stream").map(|(p, v)| Check::Stream(p, v))?,
            "subscription" => self
                .named("subscription")
                .map(|(p, v)| Check::Subscription(p, v))?,
            "latency" => Check::Latency(op, duration::parse(self.value)?),
            "delivered" => Check::Delivered(op, self.count()?),
            "stored" => Check::Stored(op, self.count()?),
            "no-interest" => Check::NoInterest(op, self.count()?),
            "boundary" => Check::Boundary(op, self.count()?),
            "jetstream" => Check::JetStream(self.presence("jetstream")?, self.jetstream_action()?),
            k if k.starts_with("egress.") => {
                Check::EgressCount(self.egress_kind(&k["egress.".len()..])?, op, self.count()?)
            }
            other => {
                return Err(format!(
                    "unknown key {other:?} (use egress.<kind>, servers, server, cluster, account, stream, subscription, latency, delivered, stored, no-interest, boundary, jetstream, or the flags complete, no-errors, no-interest, boundary)"
                ));
            }
        };
        Ok(check)
    }
}

impl Expectation {
    /// Parses `KEY OP VALUE` (spaces optional) or a bare flag; the error names the bad part.
    pub fn parse(text: &str) -> Result<Expectation, String> {
        let trimmed = text.trim();
        let check = match flag(trimmed) {
            Some(check) => check,
            None => Parts::split(trimmed)
                .and_then(|parts| parts.check())
                .map_err(|why| format!("invalid expectation {trimmed:?}: {why}"))?,
        };
        Ok(Expectation {
            text: trimmed.to_string(),
            check,
        })
    }

    /// Checks this expectation against a trace report.
    pub fn evaluate(&self, report: &TraceReport) -> Result<(), Failure> {
        self.evaluate_with(&Facts::of(&report.graph, report.analysis()), report)
    }

    /// Checks this expectation, with the facts of the report gathered once by the caller.
    fn evaluate_with(&self, facts: &Facts, report: &TraceReport) -> Result<(), Failure> {
        let analysis = report.analysis();
        let seen = match &self.check {
            Check::EgressCount(kind, op, wanted) => {
                egress_count(&report.graph, *kind, *op, *wanted)
            }
            Check::Servers(op, wanted) => count(*op, *wanted, facts.servers.len(), || {
                format!(
                    "{} server(s): {}",
                    facts.servers.len(),
                    list(&facts.servers)
                )
            }),
            Check::Server(present, name) => presence(*present, name, &facts.servers, "servers"),
            Check::Cluster(present, name) => presence(*present, name, &facts.clusters, "clusters"),
            Check::Account(present, name) => presence(*present, name, &facts.accounts, "accounts"),
            Check::Stream(present, name) => presence(*present, name, &facts.streams, "streams"),
            Check::Subscription(present, name) => {
                presence(*present, name, &facts.subscriptions, "subscriptions")
            }
            Check::Latency(op, wanted) => latency(facts.latency_nanos, *op, *wanted),
            Check::Delivered(op, wanted) => delivered(report, *op, *wanted),
            Check::Stored(op, wanted) => count(*op, *wanted, analysis.stored(), || {
                format!(
                    "{} stored JetStream event(s){}",
                    analysis.stored(),
                    jetstream_listing(analysis)
                )
            }),
            Check::NoInterest(op, wanted) => no_interest(report, *op, *wanted),
            Check::Boundary(op, wanted) => boundaries(report, *op, *wanted),
            Check::JetStream(present, action) => jetstream(analysis, *present, *action),
            Check::Complete => complete(&report.graph),
            Check::NoErrors => no_errors(&report.graph),
        };
        match seen {
            None => Ok(()),
            Some(seen) => Err(Failure {
                expectation: self.text.clone(),
                seen,
            }),
        }
    }
}

/// Evaluates every expectation against `report`, returning the failures.
pub(crate) fn evaluate_all(expectations: &[Expectation], report: &TraceReport) -> Vec<Failure> {
    if expectations.is_empty() {
        return Vec::new();
    }
    let facts = Facts::of(&report.graph, report.analysis());
    expectations
        .iter()
        .filter_map(|e| e.evaluate_with(&facts, report).err())
        .collect()
}

// Each check below returns `None` when it holds, else what was seen.

fn count(op: Op, wanted: u64, seen: usize, describe: impl FnOnce() -> String) -> Option<String> {
    (!op.holds(seen as u64, wanted)).then(describe)
}

fn egress_count(graph: &TraceGraph, kind: ConnKind, op: Op, wanted: u64) -> Option<String> {
    let seen = graph
        .egress_counts()
        .into_iter()
        .find(|(name, _)| *name == kind.name())
        .map_or(0, |(_, n)| n);
    count(op, wanted, seen, || {
        format!("{seen} {} egress(es)", kind.name())
    })
}

fn presence(present: bool, name: &str, seen: &[String], what: &str) -> Option<String> {
    (seen.iter().any(|s| s == name) != present).then(|| format!("{what} {}", list(seen)))
}

fn latency(seen: Option<i128>, op: Op, wanted: Duration) -> Option<String> {
    let Some(seen) = seen else {
        return Some("no egress with a timestamp".into());
    };
    let wanted_nanos = i128::try_from(wanted.as_nanos()).unwrap_or(i128::MAX);
    (!op.holds(seen, wanted_nanos)).then(|| format!("latency {}", duration::go_string(seen)))
}

/// The client deliveries, naming up to a few of them.
fn delivered(report: &TraceReport, op: Op, wanted: u64) -> Option<String> {
    let deliveries = report.analysis().deliveries();
    count(op, wanted, deliveries.len(), || {
        let names: Vec<String> = deliveries
            .iter()
            .filter_map(|d| {
                let egress = d.egress(&report.graph)?;
                let server = report.graph.node(d.node).server_name();
                Some(format!(
                    "{} on {}",
                    go_quote(&egress.subscription),
                    go_quote(server)
                ))
            })
            .collect();
        format!(
            "{} client delivery(ies){}",
            deliveries.len(),
            listing(&names)
        )
    })
}

fn no_interest(report: &TraceReport, op: Op, wanted: u64) -> Option<String> {
    let servers = report.analysis().no_interest();
    count(op, wanted, servers.len(), || {
        let names: Vec<String> = servers
            .iter()
            .map(|&ix| go_quote(report.graph.node(ix).server_name()))
            .collect();
        format!(
            "{} server(s) with no active interest{}",
            servers.len(),
            listing(&names)
        )
    })
}

fn boundaries(report: &TraceReport, op: Op, wanted: u64) -> Option<String> {
    let boundaries = report.analysis().boundaries();
    count(op, wanted, boundaries.len(), || {
        let names: Vec<String> = boundaries
            .iter()
            .map(|b| {
                let what = match b.crossing {
                    Crossing::ServiceImport => "service import",
                    Crossing::StreamExport => "stream export",
                };
                format!(
                    "{what} {} into account {} on {}",
                    go_quote(&b.to),
                    go_quote(&b.account),
                    go_quote(report.graph.node(b.node).server_name())
                )
            })
            .collect();
        format!(
            "{} account boundary stop(s){}",
            boundaries.len(),
            listing(&names)
        )
    })
}

fn jetstream(analysis: &Analysis, present: bool, action: JetStreamAction) -> Option<String> {
    let found = analysis.jetstream().iter().any(|js| js.action == action);
    (found != present).then(|| match analysis.jetstream() {
        [] => "no JetStream event".to_string(),
        _ => format!("JetStream{}", jetstream_listing(analysis)),
    })
}

/// `: "ORDERS" stored, "EVENTS" no interest`, or nothing without JetStream events.
fn jetstream_listing(analysis: &Analysis) -> String {
    let actions: Vec<String> = analysis
        .jetstream()
        .iter()
        .map(|js| format!("{} {}", go_quote(&js.stream), js.action.words()))
        .collect();
    listing(&actions)
}

fn complete(graph: &TraceGraph) -> Option<String> {
    let missing: Vec<String> = graph
        .missing()
        .map(|n| match n.missing_run() {
            Some(run) => run.to_string(),
            None => format!("hop {:?} {:?}", n.hop.as_str(), n.server_name()),
        })
        .collect();
    (!missing.is_empty()).then(|| format!("missing traces: {}", missing.join(", ")))
}

fn no_errors(graph: &TraceGraph) -> Option<String> {
    let errors = graph.errors();
    (!errors.is_empty()).then(|| {
        let each: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.server, crate::text::sanitize(&e.message)))
            .collect();
        format!("{} error(s): {}", errors.len(), each.join("; "))
    })
}

/// `: a, b, c` for at most five items (`, …` after them), or nothing for none.
fn listing(items: &[String]) -> String {
    const SHOWN: usize = 5;
    if items.is_empty() {
        return String::new();
    }
    let mut text = format!(": {}", items[..items.len().min(SHOWN)].join(", "));
    if items.len() > SHOWN {
        text.push_str(", …");
    }
    text
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items
            .iter()
            .map(|s| go_quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What the trace shows beyond the analysis's verdicts (names on the path, latency),
/// gathered once per evaluation. Detached traces are left out.
struct Facts {
    servers: Vec<String>,
    clusters: Vec<String>,
    accounts: Vec<String>,
    streams: Vec<String>,
    subscriptions: Vec<String>,
    latency_nanos: Option<i128>,
}

impl Facts {
    fn of(graph: &TraceGraph, analysis: &Analysis) -> Facts {
        let mut facts = Facts {
            servers: Vec::new(),
            clusters: Vec::new(),
            accounts: Vec::new(),
            streams: Vec::new(),
            subscriptions: Vec::new(),
            latency_nanos: None,
        };
        let origin = graph.origin_time();
        for ix in graph.nodes().filter(|ix| !graph.node(*ix).detached) {
            let node = graph.node(ix);
            add(&mut facts.servers, node.server_name());
            if let Some(trace) = &node.trace {
                add(&mut facts.clusters, &trace.server.cluster);
            }
            for event in node.events() {
                facts.account_of(event);
            }
            for entry in node.egresses() {
                if let Some(nanos) = origin.as_ref().and_then(|o| entry.egress.ts.since(o)) {
                    facts.latency_nanos = Some(facts.latency_nanos.map_or(nanos, |l| l.max(nanos)));
                }
            }
        }
        facts.verdicts(graph, analysis);
        facts.sort();
        facts
    }

    fn account_of(&mut self, event: &Event) {
        match event {
            Event::Ingress(i) => add(&mut self.accounts, &i.account),
            Event::ServiceImport(s) => add(&mut self.accounts, &s.account),
            Event::StreamExport(s) => add(&mut self.accounts, &s.account),
            Event::Egress(e) => add(&mut self.accounts, &e.account),
            _ => {}
        }
    }

    /// The streams that stored the message and the subscriptions that received it, from
    /// the analysis.
    fn verdicts(&mut self, graph: &TraceGraph, analysis: &Analysis) {
        let placed = |ix| !graph.node(ix).detached;
        for js in analysis.jetstream() {
            if js.action == JetStreamAction::Stored && placed(js.node) {
                add(&mut self.streams, &js.stream);
            }
        }
        for delivery in analysis.deliveries() {
            if let Some(egress) = delivery.egress(graph).filter(|_| placed(delivery.node)) {
                add(&mut self.subscriptions, &egress.subscription);
            }
        }
    }

    /// Sorted, so that messages do not depend on the order traces arrived in.
    fn sort(&mut self) {
        for list in [
            &mut self.servers,
            &mut self.clusters,
            &mut self.accounts,
            &mut self.streams,
            &mut self.subscriptions,
        ] {
            list.sort();
        }
    }
}

fn add(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key_and_operator() {
        let cases = [
            (
                "egress.gateway>=1",
                Check::EgressCount(ConnKind::Gateway, Op::Ge, 1),
            ),
            (
                "egress.Client = 2",
                Check::EgressCount(ConnKind::Client, Op::Eq, 2),
            ),
            (
                "egress.jetstream!=0",
                Check::EgressCount(ConnKind::JetStream, Op::Ne, 0),
            ),
            ("servers > 3", Check::Servers(Op::Gt, 3)),
            ("servers<=6", Check::Servers(Op::Le, 6)),
            ("server=w1", Check::Server(true, "w1".into())),
            ("server != w1", Check::Server(false, "w1".into())),
            ("cluster=WEST", Check::Cluster(true, "WEST".into())),
            ("account=$G", Check::Account(true, "$G".into())),
            ("stream=ORDERS", Check::Stream(true, "ORDERS".into())),
            (
                "subscription=orders.*",
                Check::Subscription(true, "orders.*".into()),
            ),
            (
                "latency<5ms",
                Check::Latency(Op::Lt, Duration::from_millis(5)),
            ),
            (
                "latency < 500us",
                Check::Latency(Op::Lt, Duration::from_micros(500)),
            ),
            ("complete", Check::Complete),
            ("no-errors", Check::NoErrors),
            ("no-interest", Check::NoInterest(Op::Ge, 1)),
            ("boundary", Check::Boundary(Op::Ge, 1)),
            ("no-interest=0", Check::NoInterest(Op::Eq, 0)),
            ("boundary = 0", Check::Boundary(Op::Eq, 0)),
            ("delivered>=2", Check::Delivered(Op::Ge, 2)),
            ("delivered=0", Check::Delivered(Op::Eq, 0)),
            ("stored>0", Check::Stored(Op::Gt, 0)),
            (
                "jetstream=stored",
                Check::JetStream(true, JetStreamAction::Stored),
            ),
            (
                "jetstream != no-interest",
                Check::JetStream(false, JetStreamAction::NoInterest),
            ),
            (
                "jetstream=no_interest",
                Check::JetStream(true, JetStreamAction::NoInterest),
            ),
            (
                "jetstream=Rejected",
                Check::JetStream(true, JetStreamAction::Rejected),
            ),
        ];
        for (text, check) in cases {
            assert_eq!(
                Expectation::parse(text).map(|e| e.check),
                Ok(check),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_expressions_name_the_bad_part() {
        let cases = [
            ("egress.carrier>=1", "unknown egress kind \"carrier\""),
            ("speed>1", "unknown key \"speed\""),
            ("servers>=many", "\"many\" is not a count"),
            ("server>w1", "server takes = or !="),
            ("latency<soon", "invalid duration"),
            ("servers>=", "no value after \">=\""),
            ("=3", "no key before the operator"),
            ("servers", "expected KEY OP VALUE"),
            ("servers=>3", "unknown operator"),
            ("delivered>=some", "\"some\" is not a count"),
            ("jetstream=lost", "unknown JetStream action \"lost\""),
            ("jetstream>=stored", "jetstream takes = or !="),
            ("boundary=B", "\"B\" is not a count"),
            ("no-interests", "expected KEY OP VALUE"),
        ];
        for (text, wanted) in cases {
            let err = Expectation::parse(text).expect_err(text);
            assert!(err.contains(wanted), "{text}: {err}");
            assert!(
                err.starts_with(&format!("invalid expectation \"{text}\"")),
                "{err}"
            );
        }
    }

    const TS: &str = "2024-01-01T00:00:00.000000001Z";

    /// A report of one server's trace whose events follow its client ingress.
    fn report(events: &str) -> TraceReport {
        let line = format!(
            r#"{{"server":{{"name":"n1"}},"request":{{"header":{{}},"msgsize":1}},"events":[{{"type":"in","ts":"{TS}","kind":0,"cid":1,"acc":"A","subj":"s"}}{events}]}}"#
        );
        let trace = crate::trace::event::TraceMessage::from_json(line.as_bytes()).unwrap();
        TraceReport::from_graph(crate::trace::stitch::stitch([trace]))
    }

    /// The failures of `expressions` against `report`, as printed.
    fn failures(report: &TraceReport, expressions: &[&str]) -> Vec<String> {
        let expectations: Vec<Expectation> = expressions
            .iter()
            .map(|e| Expectation::parse(e).unwrap())
            .collect();
        evaluate_all(&expectations, report)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn no_interest_and_deliveries_come_from_the_analysis() {
        let nothing = report("");
        assert!(failures(&nothing, &["no-interest", "delivered=0", "boundary=0"]).is_empty());
        assert_eq!(
            failures(&nothing, &["delivered>=1", "no-interest=0"]),
            [
                "expected delivered>=1, saw 0 client delivery(ies)",
                "expected no-interest=0, saw 1 server(s) with no active interest: \"n1\"",
            ]
        );
        let delivered = report(&format!(
            r#",{{"type":"eg","ts":"{TS}","kind":0,"cid":2,"sub":"s.>"}},{{"type":"eg","ts":"{TS}","kind":0,"cid":3,"sub":"s","error":"denied"}}"#
        ));
        assert!(failures(&delivered, &["delivered=1", "no-interest=0"]).is_empty());
        assert_eq!(
            failures(&delivered, &["delivered>=2", "no-interest"]),
            [
                "expected delivered>=2, saw 1 client delivery(ies): \"s.>\" on \"n1\"",
                "expected no-interest, saw 0 server(s) with no active interest",
            ]
        );
    }

    #[test]
    fn boundaries_come_from_the_analysis() {
        let stopped = report(&format!(
            r#",{{"type":"si","ts":"{TS}","acc":"B","from":"svc.add","to":"svc.add"}}"#
        ));
        assert!(failures(&stopped, &["boundary", "boundary=1", "no-interest=0"]).is_empty());
        assert_eq!(
            failures(&stopped, &["boundary=0"]),
            [
                "expected boundary=0, saw 1 account boundary stop(s): service import \"svc.add\" into account \"B\" on \"n1\""
            ]
        );
    }

    #[test]
    fn jetstream_actions_come_from_the_analysis() {
        let js = report(&format!(
            r#",{{"type":"js","ts":"{TS}","stream":"ORDERS","subject":"s"}},{{"type":"js","ts":"{TS}","stream":"EVENTS","nointerest":true}}"#
        ));
        assert!(
            failures(
                &js,
                &[
                    "stored=1",
                    "jetstream=stored",
                    "jetstream=no-interest",
                    "jetstream!=rejected",
                    "stream=ORDERS",
                    "stream!=EVENTS",
                ]
            )
            .is_empty()
        );
        assert_eq!(
            failures(&js, &["stored>=2", "jetstream=rejected"]),
            [
                "expected stored>=2, saw 1 stored JetStream event(s): \"ORDERS\" stored, \"EVENTS\" no interest",
                "expected jetstream=rejected, saw JetStream: \"ORDERS\" stored, \"EVENTS\" no interest",
            ]
        );
        assert_eq!(
            failures(&report(""), &["jetstream=stored"]),
            ["expected jetstream=stored, saw no JetStream event"]
        );
    }

    #[test]
    fn long_lists_are_cut_after_five() {
        let items: Vec<String> = (0..7).map(|i| i.to_string()).collect();
        assert_eq!(listing(&items), ": 0, 1, 2, 3, 4, …");
        assert_eq!(listing(&[]), "");
    }
}
