//! Why a server that should have reported did not. VARZ of the missing server: did it
//! answer, does it trace, and the deny lists of its leafnode remotes (`leaf.remotes[].deny`);
//! VARZ of the server that forwarded to it (its own remotes' deny lists); LEAFZ of that
//! server: the link's account and which end made it; CONNZ `auth=1` of that server: the user
//! the leafnode logs in as; ACCOUNTZ of the link's account: imports and exports matching the
//! trace destination or the subject. LEAFZ and CONNZ report no permissions, and no endpoint
//! reports those of the user a leafnode logs in as: when no deny list names the trace
//! destination, the CONNZ line names that user as what is left to check.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Explanations;
use super::finding::{Asker, MAX_FINDINGS, line};
use crate::network::monitor::{Endpoint, Opt, Reply, Request};
use crate::network::{list, text};
use crate::subject::subject_matches;
use crate::trace::event::{ConnKind, TRACE_DEST_HEADER};
use crate::trace::report::TraceReport;

/// The most lines of deny rules, imports or exports named for one missing server.
const MAX_RULES: usize = 4;

/// A server that should have reported, and how the message was to reach it.
struct Gap {
    /// The name its neighbours know it by (may be empty).
    name: String,
    described: String,
    /// The server that forwarded the message to it, when that one reported.
    forwarder: Option<String>,
    /// The message went to it over a leafnode link.
    leafnode: bool,
    /// The account the message was in on the forwarder.
    account: String,
    subject: String,
}

/// What the lines of every missing server read, asked once for all of them.
struct Answers {
    leafz: Vec<Reply>,
    connz: Vec<Reply>,
    /// ACCOUNTZ, per account.
    accountz: Vec<(String, Vec<Reply>)>,
}

/// A deny rule of a leafnode remote (VARZ) that matches.
struct Denial {
    /// The remote's local account.
    account: String,
    pattern: String,
}

/// The servers that did not report, at most [`MAX_FINDINGS`].
fn gaps(report: &TraceReport) -> Vec<Gap> {
    let graph = &report.graph;
    graph
        .nodes()
        .filter(|&ix| graph.node(ix).is_missing())
        .take(MAX_FINDINGS)
        .map(|ix| {
            let node = graph.node(ix);
            let parent = graph
                .parent(ix)
                .map(|(p, e)| (graph.node(p), e))
                .filter(|(p, _)| !p.is_missing());
            let egress = parent
                .and_then(|(p, e)| p.egress(e))
                .map(|entry| entry.egress);
            let ingress = parent.and_then(|(p, _)| p.trace.as_ref()?.ingress());
            Gap {
                name: node.server_name().to_string(),
                described: node.describe_missing(),
                forwarder: parent.map(|(p, _)| p.server_name().to_string()),
                leafnode: egress.is_some_and(|e| e.kind == ConnKind::Leafnode),
                account: egress
                    .map(|e| e.account.to_string())
                    .filter(|a| !a.is_empty())
                    .or_else(|| ingress.map(|i| i.account.to_string()))
                    .unwrap_or_default(),
                subject: ingress.map_or_else(|| report.subject.clone(), |i| i.subject.to_string()),
            }
        })
        .collect()
}

/// The trace destination the servers were asked to publish to (`Nats-Trace-Dest`).
fn destination(report: &TraceReport) -> String {
    let graph = &report.graph;
    graph
        .nodes()
        .find_map(|ix| {
            let trace = graph.node(ix).trace.as_ref()?;
            trace
                .request
                .header_value(TRACE_DEST_HEADER)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The deny rules of `varz`'s leafnode remotes in `direction` (`exports` or `imports`) that
/// match `subject`.
fn denials(varz: &Value, direction: &str, subject: &str) -> Vec<Denial> {
    let remotes = varz.get("leaf").map(|leaf| list(leaf, "remotes"));
    remotes
        .into_iter()
        .flatten()
        .flat_map(|remote| {
            let account = text(remote, "local_account").unwrap_or_default();
            let deny = remote.get("deny").map(|d| list(d, direction));
            deny.into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|pattern| !subject.is_empty() && subject_matches(pattern, subject))
                .map(move |pattern| Denial {
                    account: account.clone(),
                    pattern: pattern.chars().take(256).collect(),
                })
        })
        .take(MAX_RULES)
        .collect()
}

/// The reply of `server` among `replies`.
fn of<'r>(replies: &'r [Reply], server: &str) -> Option<&'r Value> {
    replies
        .iter()
        .find(|r| r.server == server)
        .and_then(|r| r.data.as_ref().ok())
}

impl Asker<'_> {
    /// Every missing server: VARZ first; for one that answers and traces, the deny lists
    /// of the leafnode link, then LEAFZ, CONNZ and ACCOUNTZ.
    pub(super) async fn missing(&self, ex: &mut Explanations) {
        let gaps = gaps(self.report);
        if gaps.is_empty() {
            return;
        }
        let destination = destination(self.report);
        let answers = self.missing_answers(&gaps).await;
        for gap in &gaps {
            if self.unreachable(gap, ex) {
                continue;
            }
            let denied = gap.leafnode && self.denied(gap, &destination, ex);
            if !denied {
                ex.lines.push(line(
                    "missing",
                    Endpoint::Varz,
                    Some(&gap.name),
                    self.no_denial_words(gap, &destination),
                ));
            }
            if gap.leafnode {
                self.leafz_line(gap, &answers, ex);
                if !denied {
                    self.connz_line(gap, &destination, &answers, ex);
                }
            }
            self.accountz_line(gap, &destination, &answers, ex);
        }
    }

    /// LEAFZ and CONNZ `auth=1` of every server, ACCOUNTZ of each gap's account: at once.
    async fn missing_answers(&self, gaps: &[Gap]) -> Answers {
        let accounts: BTreeSet<&str> = gaps
            .iter()
            .map(|g| g.account.as_str())
            .filter(|a| !a.is_empty())
            .collect();
        let mut requests = vec![
            Request::new(Endpoint::Leafz),
            Request::new(Endpoint::Connz).flag(Opt::Auth),
        ];
        requests.extend(
            accounts
                .iter()
                .map(|a| Request::new(Endpoint::Accountz).with(Opt::Account, a)),
        );
        let mut replies = self.monitor.ask_all(&requests).await.into_iter();
        Answers {
            leafz: replies.next().unwrap_or_default(),
            connz: replies.next().unwrap_or_default(),
            accountz: accounts
                .iter()
                .map(|a| a.to_string())
                .zip(replies)
                .collect(),
        }
    }

    /// The VARZ line of a server that cannot have traced (unnamed, silent, too old); false
    /// when it answers and traces.
    fn unreachable(&self, gap: &Gap, ex: &mut Explanations) -> bool {
        let name = &gap.name;
        let version = of(self.varz, name).and_then(|d| text(d, "version"));
        let text = match (name.is_empty(), version) {
            (true, _) => format!(
                "a server ({}) did not report and its neighbours did not name it",
                gap.described
            ),
            (false, None) => {
                format!("server {name} did not answer VARZ: it is stopped or unreachable from here")
            }
            (false, Some(v)) if !crate::connect::version_at_least(&v, 2, 11) => format!(
                "server {name} runs nats-server {v}: it does not trace messages (2.11 or newer does)"
            ),
            (false, Some(_)) => return false,
        };
        ex.lines
            .push(line("missing", Endpoint::Varz, Some(name), text));
        true
    }

    /// The deny rules on either end of the leafnode link that stop the message or its
    /// trace (VARZ of both servers); true when any does.
    fn denied(&self, gap: &Gap, destination: &str, ex: &mut Explanations) -> bool {
        let name = &gap.name;
        let before = ex.lines.len();
        let mut push = |text: String| {
            ex.lines
                .push(line("missing", Endpoint::Varz, Some(name), text));
        };
        if let Some(varz) = of(self.varz, name) {
            for d in denials(varz, "exports", destination) {
                push(format!(
                    "server {name}'s leafnode remote (account {}) denies exports of `{}`, which matches the trace destination `{destination}`: {name}'s trace cannot leave it",
                    d.account, d.pattern
                ));
            }
            for d in denials(varz, "imports", &gap.subject) {
                push(format!(
                    "server {name}'s leafnode remote (account {}) denies imports of `{}`, which matches `{}`: {name} does not take the message in",
                    d.account, d.pattern, gap.subject
                ));
            }
        }
        let forwarder = gap.forwarder.as_deref().unwrap_or_default();
        if let Some(varz) = of(self.varz, forwarder) {
            for d in denials(varz, "exports", &gap.subject) {
                push(format!(
                    "server {forwarder}'s leafnode remote (account {}) denies exports of `{}`, which matches `{}`: {forwarder} does not send the message on to {name}",
                    d.account, d.pattern, gap.subject
                ));
            }
            for d in denials(varz, "imports", destination) {
                push(format!(
                    "server {forwarder}'s leafnode remote (account {}) denies imports of `{}`, which matches the trace destination `{destination}`: {name}'s trace cannot come back through {forwarder}",
                    d.account, d.pattern
                ));
            }
        }
        ex.lines.len() > before
    }

    /// The VARZ line of a server that answers, traces, and whose link denies nothing.
    fn no_denial_words(&self, gap: &Gap, destination: &str) -> String {
        let name = &gap.name;
        let version = of(self.varz, name)
            .and_then(|d| text(d, "version"))
            .unwrap_or_default();
        if gap.leafnode {
            format!(
                "server {name} (nats-server {version}) answers but sent no trace, and no deny list of the leafnode remotes of {name} or {} names `{}` or the trace destination `{destination}`: see the permissions below, or it was slower than --timeout",
                gap.forwarder.as_deref().unwrap_or("its neighbour"),
                gap.subject
            )
        } else {
            format!(
                "server {name} (nats-server {version}) answers but sent no trace: its account permissions may deny publishing to the trace destination `{destination}`, or it was slower than --timeout"
            )
        }
    }

    /// LEAFZ of the forwarder: the link to the missing server, its account, who made it.
    fn leafz_line(&self, gap: &Gap, answers: &Answers, ex: &mut Explanations) {
        let (name, Some(forwarder)) = (&gap.name, gap.forwarder.as_deref()) else {
            return;
        };
        let Some(leafz) = of(&answers.leafz, forwarder) else {
            return;
        };
        let link = by_name_and_account(list(leafz, "leafs"), name, &gap.account);
        let text = match link {
            Some(link) => {
                let account = text(link, "account").unwrap_or_default();
                let maker = if link.get("is_spoke").and_then(Value::as_bool) == Some(true) {
                    forwarder
                } else {
                    name
                };
                format!(
                    "server {forwarder}'s leafnode link to {name} is bound to account {account} ({maker} made it); LEAFZ reports no permissions of a link"
                )
            }
            None => format!(
                "server {forwarder} lists no leafnode link to {name} now: the link went away after the message was forwarded"
            ),
        };
        ex.lines
            .push(line("missing", Endpoint::Leafz, Some(name), text));
    }

    /// CONNZ `auth=1` of the forwarder: the user the leafnode logs in as, whose permissions
    /// no endpoint reports.
    fn connz_line(&self, gap: &Gap, destination: &str, answers: &Answers, ex: &mut Explanations) {
        let (name, Some(forwarder)) = (&gap.name, gap.forwarder.as_deref()) else {
            return;
        };
        let connection = of(&answers.connz, forwarder).and_then(|connz| {
            let leafnodes = list(connz, "connections")
                .filter(|c| text(c, "kind").as_deref() == Some("Leafnode"));
            by_name_and_account(leafnodes, name, &gap.account)
        });
        let Some(user) = connection.and_then(|c| text(c, "authorized_user")) else {
            return;
        };
        let account = connection
            .and_then(|c| text(c, "account"))
            .unwrap_or_default();
        ex.lines.push(line(
            "missing",
            Endpoint::Connz,
            Some(name),
            format!(
                "{name} logs in to {forwarder} as user `{user}` of account {account}; no endpoint reports that user's permissions: they must allow publishing to the trace destination `{destination}`"
            ),
        ));
    }

    /// ACCOUNTZ of the link's account (on the missing server, else the forwarder): the
    /// imports and exports matching the subject or the trace destination.
    fn accountz_line(
        &self,
        gap: &Gap,
        destination: &str,
        answers: &Answers,
        ex: &mut Explanations,
    ) {
        let Some((_, replies)) = answers.accountz.iter().find(|(a, _)| *a == gap.account) else {
            return;
        };
        let forwarder = gap.forwarder.as_deref().unwrap_or_default();
        let Some((server, detail)) = [gap.name.as_str(), forwarder]
            .into_iter()
            .find_map(|s| Some((s, of(replies, s)?.get("account_detail")?)))
        else {
            return;
        };
        let crossings = crossings(detail, &[gap.subject.as_str(), destination]);
        let account = &gap.account;
        let text = if crossings.is_empty() {
            format!(
                "account {account} on {server} has no import or export matching `{}` or the trace destination: the message and its trace stay in {account}",
                gap.subject
            )
        } else {
            format!(
                "account {account} on {server} has {} matching `{}` or the trace destination; a crossing without allow_trace stops the trace there",
                crossings.join(", "),
                gap.subject
            )
        };
        ex.lines
            .push(line("missing", Endpoint::Accountz, Some(&gap.name), text));
    }
}

/// The link or connection to `name` among `links`: the one bound to `account` when there
/// are several (a leafnode may link the system account too), else the first.
fn by_name_and_account<'v>(
    links: impl Iterator<Item = &'v Value>,
    name: &str,
    account: &str,
) -> Option<&'v Value> {
    let mut first = None;
    for link in links.filter(|l| text(l, "name").as_deref() == Some(name)) {
        if text(link, "account").as_deref() == Some(account) {
            return Some(link);
        }
        first = first.or(Some(link));
    }
    first
}

/// The imports and exports of an ACCOUNTZ `account_detail` whose subject matches one of
/// `subjects`, worded (`stream import `feed.>` from SRC`), at most [`MAX_RULES`].
fn crossings(detail: &Value, subjects: &[&str]) -> Vec<String> {
    let matches = |entry: &Value| {
        text(entry, "subject").is_some_and(|pattern| {
            subjects
                .iter()
                .any(|s| !s.is_empty() && subject_matches(&pattern, s))
        })
    };
    let imports = list(detail, "imports").filter(|i| matches(i)).map(|i| {
        format!(
            "{} import `{}` from {}",
            text(i, "type").unwrap_or_default(),
            text(i, "subject").unwrap_or_default(),
            text(i, "account").unwrap_or_default()
        )
    });
    let exports = list(detail, "exports").filter(|e| matches(e)).map(|e| {
        format!(
            "{} export `{}`",
            text(e, "type").unwrap_or_default(),
            text(e, "subject").unwrap_or_default()
        )
    });
    imports.chain(exports).take(MAX_RULES).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_rules_match_the_subject_they_stop() {
        let varz = serde_json::json!({"leaf": {"remotes": [
            {"local_account": "APP", "deny": {"exports": ["_INBOX.>", "leaf.secret"], "imports": ["blocked.>"]}},
            {"local_account": "B"}
        ]}});
        let found = denials(&varz, "exports", "_INBOX.abc.1");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].account, "APP");
        assert_eq!(found[0].pattern, "_INBOX.>");
        assert_eq!(
            denials(&varz, "imports", "blocked.x")[0].pattern,
            "blocked.>"
        );
        assert!(denials(&varz, "imports", "open.x").is_empty());
        assert!(denials(&varz, "exports", "").is_empty());
        assert!(denials(&serde_json::json!({}), "exports", "x").is_empty());
    }

    #[test]
    fn the_link_in_the_account_wins_over_the_first() {
        let leafs = serde_json::json!([
            {"name": "leaf1", "account": "SYS"},
            {"name": "leaf1", "account": "APP"},
            {"name": "leaf2", "account": "APP"}
        ]);
        let links = leafs.as_array().expect("array");
        let found = by_name_and_account(links.iter(), "leaf1", "APP");
        assert_eq!(found, Some(&links[1]));
        let found = by_name_and_account(links.iter(), "leaf1", "B");
        assert_eq!(found, Some(&links[0]));
        assert_eq!(by_name_and_account(links.iter(), "leaf3", "APP"), None);
    }

    #[test]
    fn crossings_name_the_matching_imports_and_exports() {
        let detail = serde_json::json!({
            "imports": [{"subject": "feed.>", "account": "SRC", "type": "stream"},
                        {"subject": "svc.>", "account": "SVC", "type": "service"}],
            "exports": [{"subject": "feed.x", "type": "stream"}]
        });
        assert_eq!(
            crossings(&detail, &["feed.x", ""]),
            vec!["stream import `feed.>` from SRC", "stream export `feed.x`"]
        );
        assert!(crossings(&detail, &["other"]).is_empty());
    }
}
