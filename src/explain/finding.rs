//! The questions behind each finding: which endpoint to ask, and the words for its answer.
//! No interest → SUBSZ (every account) and GATEWAYZ; an account boundary → SUBSZ and
//! ACCOUNTZ of the far account; without system credentials → CONNZ of the own account; a
//! missing server → [`super::missing`]; JetStream → [`super::jetstream`]. At most
//! [`MAX_FINDINGS`] findings of a kind.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Explanation, Explanations};
use crate::network::monitor::{Endpoint, Monitor, Opt, Reply, Request};
use crate::network::{list, text};
use crate::subject::subject_matches;
use crate::trace::analysis::Crossing;
use crate::trace::report::TraceReport;

/// The most findings of one kind that are explained.
pub(super) const MAX_FINDINGS: usize = 8;

/// The most servers named in one line.
const MAX_NAMED: usize = 5;

/// Asks the endpoints about the findings of one report.
pub(super) struct Asker<'a> {
    pub(super) monitor: &'a Monitor,
    pub(super) varz: &'a [Reply],
    pub(super) report: &'a TraceReport,
}

/// A server with no active interest: its name, the account and the subject.
struct Site {
    server: String,
    account: String,
    subject: String,
}

pub(super) fn line(
    finding: &'static str,
    endpoint: Endpoint,
    server: Option<&str>,
    text: String,
) -> Explanation {
    Explanation {
        finding,
        endpoint: endpoint.name(),
        server: server.map(str::to_string),
        text,
    }
}

/// `a, b, c` (and how many more).
fn named(names: &BTreeSet<String>) -> String {
    let mut shown: Vec<&str> = names.iter().take(MAX_NAMED).map(String::as_str).collect();
    let more = names.len().saturating_sub(MAX_NAMED);
    if more > 0 {
        shown.push("…");
    }
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" ({more} more)"));
    }
    text
}

impl Asker<'_> {
    /// How many servers answered VARZ.
    pub(super) fn servers(&self) -> usize {
        self.varz.iter().filter(|r| r.data.is_ok()).count()
    }

    /// The replies' data; their errors become notes (once per server).
    pub(super) fn data<'r>(
        replies: &'r [Reply],
        ex: &mut Explanations,
    ) -> Vec<(&'r str, &'r Value)> {
        let mut data = Vec::new();
        for reply in replies {
            match reply.data() {
                Ok(value) => data.push((reply.server.as_str(), value)),
                Err(e) if !ex.notes.contains(&e) => ex.notes.push(e),
                Err(_) => {}
            }
        }
        data
    }

    /// The servers without active interest, once per account and subject.
    fn sites(&self) -> Vec<Site> {
        let graph = &self.report.graph;
        let mut seen = BTreeSet::new();
        let mut sites = Vec::new();
        for &ix in self.report.analysis().no_interest() {
            let node = graph.node(ix);
            let Some(ingress) = node.trace.as_ref().and_then(|t| t.ingress()) else {
                continue;
            };
            let key = (ingress.account.to_string(), ingress.subject.to_string());
            if sites.len() < MAX_FINDINGS && seen.insert(key.clone()) {
                sites.push(Site {
                    server: node.server_name().to_string(),
                    account: key.0,
                    subject: key.1,
                });
            }
        }
        sites
    }

    /// SUBSZ for every account; GATEWAYZ for the server's gateways.
    pub(super) async fn no_interest(&self, ex: &mut Explanations) {
        for site in self.sites() {
            let request = Request::new(Endpoint::Subsz)
                .flag(Opt::Subscriptions)
                .with(Opt::Test, &site.subject);
            let replies = self.monitor.ask(&request).await;
            let by_account = matching_subscriptions(&Self::data(&replies, ex));
            ex.lines.push(self.interest_words(&site, &by_account));
            self.gateway(&site, ex).await;
        }
    }

    fn interest_words(
        &self,
        site: &Site,
        by_account: &BTreeMap<String, BTreeSet<String>>,
    ) -> Explanation {
        let (subject, account) = (&site.subject, &site.account);
        let text = if let Some(servers) = by_account.get(account) {
            format!(
                "matching subscriptions exist in account {account} on {}, but their interest did not reach {} (a gateway, leafnode or permission in between)",
                named(servers),
                site.server
            )
        } else if let Some((other, servers)) = by_account.iter().next() {
            format!(
                "no subscription matches `{subject}` in account {account}; matching subscriptions exist in account {other} on {}, but {account} does not import them",
                named(servers)
            )
        } else {
            format!(
                "no subscription matches `{subject}` in account {account} on any of {} servers",
                self.servers()
            )
        };
        line("no_interest", Endpoint::Subsz, Some(&site.server), text)
    }

    /// GATEWAYZ of the server: the account's interest mode on each outbound gateway.
    async fn gateway(&self, site: &Site, ex: &mut Explanations) {
        let request = Request::new(Endpoint::Gatewayz).flag(Opt::Accounts);
        let replies = self.monitor.ask(&request).await;
        let data = Self::data(&replies, ex);
        let Some((_, data)) = data.iter().find(|(s, _)| *s == site.server) else {
            return;
        };
        let Some(outbound) = data.get("outbound_gateways").and_then(Value::as_object) else {
            return;
        };
        for (cluster, gateway) in outbound.iter().take(MAX_FINDINGS) {
            let mode =
                list(gateway, "accounts").find(|a| text(a, "name").as_ref() == Some(&site.account));
            let text = match mode {
                Some(a) => gateway_words(&site.account, cluster, a),
                None => format!(
                    "the gateway to {cluster} was not crossed: it has no interest state for account {} yet (nothing in {cluster} subscribed)",
                    site.account
                ),
            };
            ex.lines.push(line(
                "gateway",
                Endpoint::Gatewayz,
                Some(&site.server),
                text,
            ));
        }
    }

    /// SUBSZ in the far account of each boundary, and ACCOUNTZ for its export or import.
    pub(super) async fn boundaries(&self, ex: &mut Explanations) {
        let analysis = self.report.analysis();
        for boundary in analysis.boundaries().iter().take(MAX_FINDINGS) {
            let server = self
                .report
                .graph
                .node(boundary.node)
                .server_name()
                .to_string();
            let origin = self
                .report
                .graph
                .node(boundary.node)
                .trace
                .as_ref()
                .and_then(|t| t.ingress())
                .map(|i| i.account.to_string())
                .unwrap_or_default();
            let far = boundary.account.to_string();
            let text = match boundary.crossing {
                Crossing::ServiceImport => self.service_words(&far, &boundary.to, ex).await,
                Crossing::StreamExport => {
                    self.stream_words(&far, &origin, &boundary.to, &server, ex)
                        .await
                }
            };
            ex.lines
                .push(line("boundary", text.0, Some(&server), text.1));
        }
    }

    /// A service import the trace stopped at: does the exporting account have interest?
    async fn service_words(
        &self,
        exporter: &str,
        subject: &str,
        ex: &mut Explanations,
    ) -> (Endpoint, String) {
        let request = Request::new(Endpoint::Subsz)
            .flag(Opt::Subscriptions)
            .with(Opt::Test, subject)
            .with(Opt::Account, exporter);
        let replies = self.monitor.ask(&request).await;
        let by_account = matching_subscriptions(&Self::data(&replies, ex));
        let text = match by_account.get(exporter) {
            Some(servers) => format!(
                "account {exporter} has subscriptions matching `{subject}` on {} but did not report: its service export does not allow_trace",
                named(servers)
            ),
            None => format!(
                "nothing in account {exporter} subscribes to `{subject}` on any of {} servers, so the service import leads nowhere",
                self.servers()
            ),
        };
        (Endpoint::Subsz, text)
    }

    /// A stream export the trace stopped at: the importing account's stream import.
    async fn stream_words(
        &self,
        importer: &str,
        exporter: &str,
        subject: &str,
        server: &str,
        ex: &mut Explanations,
    ) -> (Endpoint, String) {
        let request = Request::new(Endpoint::Accountz).with(Opt::Account, importer);
        let replies = self.monitor.ask(&request).await;
        let data = Self::data(&replies, ex);
        let import = data
            .iter()
            .find(|(s, _)| *s == server)
            .and_then(|(_, d)| d.get("account_detail"))
            .and_then(|detail| {
                list(detail, "imports").find(|i| {
                    text(i, "type").as_deref() == Some("stream")
                        && text(i, "account").as_deref() == Some(exporter)
                })
            })
            .and_then(|i| text(i, "subject"));
        let text = match import {
            Some(import) => format!(
                "account {importer} imports the stream `{import}` from {exporter} without allow_trace, so its subscriber on `{subject}` is not traced"
            ),
            None => format!(
                "account {importer} receives `{subject}` from {exporter} through a stream import that does not allow_trace"
            ),
        };
        (Endpoint::Accountz, text)
    }

    /// Without system credentials: CONNZ of the own account for each no-interest finding.
    pub(super) async fn own_account(&self, ex: &mut Explanations) {
        for site in self.sites() {
            let request = Request::new(Endpoint::Connz).flag(Opt::Subscriptions);
            let replies = self.monitor.ask(&request).await;
            let data = Self::data(&replies, ex);
            let mut servers = BTreeSet::new();
            for (server, value) in &data {
                let subscribes = list(value, "connections").any(|c| {
                    list(c, "subscriptions_list")
                        .filter_map(Value::as_str)
                        .any(|p| subject_matches(p, &site.subject))
                });
                if subscribes {
                    servers.insert((*server).to_string());
                }
            }
            let text = if servers.is_empty() {
                format!(
                    "no connection of your account subscribes to a subject matching `{}` on any of {} servers",
                    site.subject,
                    data.len()
                )
            } else {
                format!(
                    "connections of your account subscribe to `{}` on {}, but their interest did not reach {}",
                    site.subject,
                    named(&servers),
                    site.server
                )
            };
            ex.lines.push(line(
                "no_interest",
                Endpoint::Connz,
                Some(&site.server),
                text,
            ));
        }
    }
}

/// SUBSZ replies → the servers with matching subscriptions, by account.
fn matching_subscriptions(data: &[(&str, &Value)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_account: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (server, value) in data {
        for sub in list(value, "subscriptions_list") {
            let account = text(sub, "account").unwrap_or_default();
            by_account
                .entry(account)
                .or_default()
                .insert((*server).to_string());
        }
    }
    by_account
}

fn gateway_words(account: &str, cluster: &str, mode: &Value) -> String {
    let interest_mode = text(mode, "interest_mode").unwrap_or_default();
    let no_interest = mode
        .get("no_interest_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if interest_mode == "Optimistic" {
        format!(
            "the gateway to {cluster} sends account {account} optimistically; {cluster} said it has no interest in {no_interest} subject(s)"
        )
    } else {
        format!(
            "the gateway to {cluster} was not crossed: account {account} is {interest_mode} there, and {cluster} registered no matching subscription"
        )
    }
}
