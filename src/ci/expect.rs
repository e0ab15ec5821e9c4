//! Routing expectations (`--expect`, and the cases of a `check` suite): parsing `KEY OP
//! VALUE` or a bare flag, and evaluating them against a stitched trace. Each failure says
//! what was expected and what was seen.

use std::fmt;
use std::time::Duration;

use crate::duration;
use crate::trace::event::{ConnKind, Event};
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

impl Expectation {
    /// Parses `KEY OP VALUE` (spaces optional) or a bare flag; the error names the bad part.
    #[allow(clippy::too_many_lines)] // TODO(issue 12): split into named steps
    pub fn parse(text: &str) -> Result<Expectation, String> {
        let trimmed = text.trim();
        let bad = |why: String| Err(format!("invalid expectation {trimmed:?}: {why}"));
        match trimmed {
            "complete" => {
                return Ok(Expectation {
                    text: trimmed.into(),
                    check: Check::Complete,
                });
            }
            "no-errors" => {
                return Ok(Expectation {
                    text: trimmed.into(),
                    check: Check::NoErrors,
                });
            }
            _ => {}
        }
        let Some(op_at) = trimmed.find(['=', '!', '<', '>']) else {
            return bad(
                "expected KEY OP VALUE (OP one of = != >= <= > <) or a flag (complete, no-errors)"
                    .into(),
            );
        };
        let key = trimmed[..op_at].trim();
        let rest = &trimmed[op_at..];
        let (op, value) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("!=", Op::Ne),
            ("=", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .into_iter()
        .find_map(|(symbol, op)| rest.strip_prefix(symbol).map(|v| (op, v.trim())))
        .map_or((None, ""), |(op, v)| (Some(op), v));
        let Some(op) = op else {
            return bad(format!("unknown operator in {rest:?}"));
        };
        if value.starts_with(['=', '!', '<', '>']) {
            return bad(format!("unknown operator in {rest:?}"));
        }
        if value.is_empty() {
            return bad(format!("no value after {:?}", op.symbol()));
        }
        let count = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("invalid expectation {trimmed:?}: {value:?} is not a count"))
        };
        let presence = |what: &str| match op {
            Op::Eq => Ok(true),
            Op::Ne => Ok(false),
            _ => Err(format!(
                "invalid expectation {trimmed:?}: {what} takes = or !=, not {}",
                op.symbol()
            )),
        };
        let check = match key.to_ascii_lowercase().as_str() {
            "servers" => Check::Servers(op, count()?),
            "server" => Check::Server(presence("server")?, value.to_string()),
            "cluster" => Check::Cluster(presence("cluster")?, value.to_string()),
            "account" => Check::Account(presence("account")?, value.to_string()),
            "stream" => Check::Stream(presence("stream")?, value.to_string()),
            "subscription" => Check::Subscription(presence("subscription")?, value.to_string()),
            "latency" => Check::Latency(
                op,
                duration::parse(value)
                    .map_err(|e| format!("invalid expectation {trimmed:?}: {e}"))?,
            ),
            k if k.starts_with("egress.") => {
                let wanted = &k["egress.".len()..];
                let Some(kind) = EGRESS_KINDS
                    .into_iter()
                    .find(|kind| kind.name().eq_ignore_ascii_case(wanted))
                else {
                    return bad(format!(
                        "unknown egress kind {wanted:?} (use client, router, gateway, leafnode or jetstream)"
                    ));
                };
                Check::EgressCount(kind, op, count()?)
            }
            "" => return bad("no key before the operator".into()),
            other => {
                return bad(format!(
                    "unknown key {other:?} (use egress.<kind>, servers, server, cluster, account, stream, subscription, latency, or the flags complete, no-errors)"
                ));
            }
        };
        Ok(Expectation {
            text: trimmed.to_string(),
            check,
        })
    }

    /// Checks this expectation against a stitched trace.
    #[allow(clippy::too_many_lines)] // TODO(issue 12): split into named steps
    pub fn evaluate(&self, graph: &TraceGraph) -> Result<(), Failure> {
        let fail = |seen: String| {
            Err(Failure {
                expectation: self.text.clone(),
                seen,
            })
        };
        let facts = Facts::of(graph);
        match &self.check {
            Check::EgressCount(kind, op, wanted) => {
                let seen = graph
                    .egress_counts()
                    .into_iter()
                    .find(|(name, _)| *name == kind.name())
                    .map_or(0, |(_, n)| n as u64);
                if op.holds(seen, *wanted) {
                    Ok(())
                } else {
                    fail(format!("{seen} {} egress(es)", kind.name()))
                }
            }
            Check::Servers(op, wanted) => {
                let seen = facts.servers.len() as u64;
                if op.holds(seen, *wanted) {
                    Ok(())
                } else {
                    fail(format!("{seen} server(s): {}", list(&facts.servers)))
                }
            }
            Check::Server(present, name) => {
                presence(*present, name, &facts.servers, "servers", fail)
            }
            Check::Cluster(present, name) => {
                presence(*present, name, &facts.clusters, "clusters", fail)
            }
            Check::Account(present, name) => {
                presence(*present, name, &facts.accounts, "accounts", fail)
            }
            Check::Stream(present, name) => {
                presence(*present, name, &facts.streams, "streams", fail)
            }
            Check::Subscription(present, name) => {
                presence(*present, name, &facts.subscriptions, "subscriptions", fail)
            }
            Check::Latency(op, wanted) => match facts.latency_nanos {
                Some(seen) => {
                    let wanted_nanos = wanted.as_nanos() as i128;
                    if op.holds(seen, wanted_nanos) {
                        Ok(())
                    } else {
                        fail(format!("latency {}", duration::go_string(seen)))
                    }
                }
                None => fail("no egress with a timestamp".into()),
            },
            Check::Complete => {
                let missing: Vec<String> = graph
                    .missing()
                    .map(|n| format!("hop {:?} {:?}", n.hop, n.server_name()))
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    fail(format!("missing traces: {}", missing.join(", ")))
                }
            }
            Check::NoErrors => {
                let errors = graph.errors();
                if errors.is_empty() {
                    Ok(())
                } else {
                    fail(format!(
                        "{} error(s): {}",
                        errors.len(),
                        errors
                            .iter()
                            .map(|e| format!("{}: {}", e.server, crate::text::sanitize(&e.message)))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))
                }
            }
        }
    }
}

/// Evaluates every expectation, returning the failures.
pub(crate) fn evaluate_all(expectations: &[Expectation], graph: &TraceGraph) -> Vec<Failure> {
    expectations
        .iter()
        .filter_map(|e| e.evaluate(graph).err())
        .collect()
}

fn presence(
    present: bool,
    name: &str,
    seen: &[String],
    what: &str,
    fail: impl Fn(String) -> Result<(), Failure>,
) -> Result<(), Failure> {
    if seen.iter().any(|s| s == name) == present {
        Ok(())
    } else {
        fail(format!("{what} {}", list(seen)))
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items
            .iter()
            .map(|s| crate::text::go_quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What the trace shows, gathered once per evaluation.
struct Facts {
    servers: Vec<String>,
    clusters: Vec<String>,
    accounts: Vec<String>,
    streams: Vec<String>,
    subscriptions: Vec<String>,
    latency_nanos: Option<i128>,
}

impl Facts {
    fn of(graph: &TraceGraph) -> Facts {
        let mut facts = Facts {
            servers: Vec::new(),
            clusters: Vec::new(),
            accounts: Vec::new(),
            streams: Vec::new(),
            subscriptions: Vec::new(),
            latency_nanos: None,
        };
        let origin = graph.origin_time();
        fn add(list: &mut Vec<String>, value: &str) {
            if !value.is_empty() && !list.iter().any(|v| v == value) {
                list.push(value.to_string());
            }
        }
        for ix in graph.nodes().filter(|ix| !graph.node(*ix).detached) {
            let node = graph.node(ix);
            add(&mut facts.servers, node.server_name());
            if let Some(trace) = &node.trace {
                add(&mut facts.clusters, &trace.server.cluster);
            }
            for event in node.events() {
                match event {
                    Event::Ingress(i) => add(&mut facts.accounts, &i.account),
                    Event::ServiceImport(s) => add(&mut facts.accounts, &s.account),
                    Event::StreamExport(s) => add(&mut facts.accounts, &s.account),
                    Event::JetStream(j) if j.error.is_empty() && !j.no_interest => {
                        add(&mut facts.streams, &j.stream)
                    }
                    Event::Egress(e) => {
                        add(&mut facts.accounts, &e.account);
                        if e.kind == ConnKind::Client && e.error.is_empty() {
                            add(&mut facts.subscriptions, &e.subscription);
                        }
                    }
                    _ => {}
                }
            }
            for entry in node.egresses() {
                if let Some(nanos) = origin.as_ref().and_then(|o| entry.egress.ts.since(o)) {
                    facts.latency_nanos = Some(facts.latency_nanos.map_or(nanos, |l| l.max(nanos)));
                }
            }
        }
        // Sorted, so that messages do not depend on the order traces arrived in.
        for list in [
            &mut facts.servers,
            &mut facts.clusters,
            &mut facts.accounts,
            &mut facts.streams,
            &mut facts.subscriptions,
        ] {
            list.sort();
        }
        facts
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
}
