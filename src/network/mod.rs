//! The discovered NATS network (`nats-trace topology`, `trace --explain`): every server that
//! answered, its cluster, version, JetStream and tracing support, and its links — routes,
//! gateways (with per-account interest modes) and leafnodes (with their accounts). The model
//! is built from the monitoring endpoints' JSON ([`Network::from_replies`]), whichever way it
//! was fetched: over NATS with system-account credentials ([`sys`]) or from the monitoring
//! ports over HTTP ([`http`]); both hand [`monitor::Reply`]s to the same parser, so both yield
//! the same network. [`path`] places a trace on it; [`render`] draws it as a tree or JSON,
//! [`picture`] as DOT or Mermaid.

mod http;
pub mod monitor;
pub mod path;
pub mod picture;
pub mod render;
mod sys;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::connect::version_at_least;
use monitor::Reply;

pub use monitor::{Access, Monitor};

/// The most servers a network may have; more replies are ignored (counted as a problem).
pub const MAX_SERVERS: usize = 1024;

/// The most links of one kind a server may list; more are ignored.
const MAX_LINKS: usize = 1024;

/// Every server that answered and what it is linked to.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Network {
    /// How the network was discovered: `system account` or `monitoring URLs`.
    pub source: String,
    /// By name.
    pub servers: Vec<Server>,
    /// Endpoints that failed or answered nonsense, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// One server.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Server {
    pub name: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub version: String,
    pub jetstream: bool,
    /// nats-server 2.11 or newer: it traces messages.
    pub tracing: bool,
    /// Route peers, by server name.
    pub routes: Vec<String>,
    /// Outbound gateways, by remote cluster.
    pub gateways: Vec<Gateway>,
    /// Leafnode connections (made and accepted).
    pub leafnodes: Vec<Leafnode>,
}

/// An outbound gateway to another cluster.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Gateway {
    /// The remote cluster.
    pub cluster: String,
    /// The remote server connected to (its name when known, else its id).
    pub server: String,
    /// Per account, when asked for (`--accounts`, and always for `--explain`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<GatewayAccount>,
}

/// How a gateway sends one account's messages.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GatewayAccount {
    pub name: String,
    /// `Optimistic`, `Transitioning` or `Interest-Only`.
    pub interest_mode: String,
    /// In optimistic mode: subjects the remote said it has no interest in.
    pub no_interest_count: u64,
}

/// A leafnode connection.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Leafnode {
    /// The server at the other end.
    pub server: String,
    /// The local account the connection is bound to.
    pub account: String,
    /// True when this server made the connection (it is the spoke).
    pub spoke: bool,
}

impl Server {
    /// Every server this one is linked to, with the link's kind.
    pub fn neighbours(&self) -> impl Iterator<Item = (LinkKind, &str)> {
        let routes = self.routes.iter().map(|r| (LinkKind::Route, r.as_str()));
        let gateways = self
            .gateways
            .iter()
            .map(|g| (LinkKind::Gateway, g.server.as_str()));
        let leafs = self
            .leafnodes
            .iter()
            .map(|l| (LinkKind::Leafnode, l.server.as_str()));
        routes.chain(gateways).chain(leafs)
    }
}

/// The kinds of link between servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Route,
    Gateway,
    Leafnode,
}

impl LinkKind {
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Route => "route",
            LinkKind::Gateway => "gateway",
            LinkKind::Leafnode => "leafnode",
        }
    }
}

/// A link between two servers, once per pair and kind (`a` < `b`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Link {
    pub kind: LinkKind,
    pub a: String,
    pub b: String,
}

/// The replies of the endpoints discovery reads, by endpoint.
#[derive(Debug, Default)]
pub struct Replies {
    pub varz: Vec<Reply>,
    pub routez: Vec<Reply>,
    pub gatewayz: Vec<Reply>,
    pub leafz: Vec<Reply>,
}

impl Network {
    /// The network the replies describe: one server per VARZ reply (by name), its links from
    /// the others. Errors and nonsense become [`Network::problems`].
    pub fn from_replies(source: &str, replies: &Replies) -> Network {
        let mut network = Network {
            source: source.to_string(),
            ..Network::default()
        };
        let mut by_name: BTreeMap<String, Server> = BTreeMap::new();
        for reply in &replies.varz {
            match reply.data() {
                Ok(data) => network.add_varz(&mut by_name, reply, data),
                Err(e) => network.problem(reply, e),
            }
        }
        let ids: BTreeMap<String, String> = by_name
            .values()
            .map(|s| (s.id.clone(), s.name.clone()))
            .collect();
        network.add_links(&mut by_name, replies, &ids);
        network.servers = by_name.into_values().collect();
        network
    }

    fn add_varz(&mut self, by_name: &mut BTreeMap<String, Server>, reply: &Reply, data: &Value) {
        if by_name.len() >= MAX_SERVERS {
            self.problems
                .push(format!("more than {MAX_SERVERS} servers; the rest ignored"));
            return;
        }
        let name = text(data, "server_name").unwrap_or_else(|| reply.server.clone());
        let version = text(data, "version").unwrap_or_default();
        let cluster = data
            .get("cluster")
            .and_then(|c| text(c, "name"))
            .filter(|c| !c.is_empty());
        let server = Server {
            id: text(data, "server_id").unwrap_or_default(),
            cluster,
            jetstream: data
                .get("jetstream")
                .and_then(|j| j.get("config"))
                .is_some_and(Value::is_object),
            tracing: version_at_least(&version, 2, 11),
            version,
            name: name.clone(),
            ..Server::default()
        };
        by_name.insert(name, server);
    }

    /// Routes, gateways and leafnodes of each server that answered VARZ.
    fn add_links(
        &mut self,
        by_name: &mut BTreeMap<String, Server>,
        replies: &Replies,
        ids: &BTreeMap<String, String>,
    ) {
        let endpoints: [(&[Reply], LinkParser); 3] = [
            (&replies.routez, routes_of),
            (&replies.gatewayz, gateways_of),
            (&replies.leafz, leafnodes_of),
        ];
        for (list, parse) in endpoints {
            for reply in list {
                let data = match reply.data() {
                    Ok(data) => data,
                    Err(e) => {
                        self.problem(reply, e);
                        continue;
                    }
                };
                if let Some(server) = by_name.get_mut(&reply.server) {
                    parse(server, data, ids);
                }
            }
        }
    }

    /// Records a problem, once per server (a server that is down fails every endpoint).
    fn problem(&mut self, reply: &Reply, text: String) {
        let prefix = format!("{}: ", crate::text::sanitize(&reply.server));
        if reply.server.is_empty() || !self.problems.iter().any(|p| p.starts_with(&prefix)) {
            self.problems.push(text);
        }
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The clusters, by name, each with its servers; servers without a cluster are under `None`.
    pub fn clusters(&self) -> BTreeMap<Option<&str>, Vec<&Server>> {
        let mut clusters: BTreeMap<Option<&str>, Vec<&Server>> = BTreeMap::new();
        for server in &self.servers {
            clusters
                .entry(server.cluster.as_deref())
                .or_default()
                .push(server);
        }
        clusters
    }

    /// Every link once (both ends report routes and leafnodes; gateways are per direction).
    pub fn links(&self) -> Vec<Link> {
        let mut links = BTreeSet::new();
        for server in &self.servers {
            for (kind, other) in server.neighbours() {
                let (a, b) = ordered(&server.name, other);
                links.insert(Link {
                    kind,
                    a: a.to_string(),
                    b: b.to_string(),
                });
            }
        }
        links.into_iter().collect()
    }
}

type LinkParser = fn(&mut Server, &Value, &BTreeMap<String, String>);

/// ROUTEZ: the route peers by name (`remote_name`, else the id's name), once each.
fn routes_of(server: &mut Server, data: &Value, ids: &BTreeMap<String, String>) {
    let mut peers = BTreeSet::new();
    for route in list(data, "routes") {
        let name = text(route, "remote_name")
            .filter(|n| !n.is_empty())
            .or_else(|| text(route, "remote_id").map(|id| name_of(&id, ids)));
        peers.extend(name);
    }
    server.routes = peers.into_iter().collect();
}

/// GATEWAYZ: the outbound gateways, each with the remote server and the accounts' modes.
fn gateways_of(server: &mut Server, data: &Value, ids: &BTreeMap<String, String>) {
    let Some(outbound) = data.get("outbound_gateways").and_then(Value::as_object) else {
        return;
    };
    for (cluster, gateway) in outbound.iter().take(MAX_LINKS) {
        let remote = gateway
            .get("connection")
            .and_then(|c| text(c, "name"))
            .map(|id| name_of(&id, ids))
            .unwrap_or_default();
        let mut accounts: Vec<GatewayAccount> = list(gateway, "accounts")
            .map(|a| GatewayAccount {
                name: text(a, "name").unwrap_or_default(),
                interest_mode: text(a, "interest_mode").unwrap_or_default(),
                no_interest_count: a
                    .get("no_interest_count")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            })
            .collect();
        accounts.sort_by(|x, y| x.name.cmp(&y.name));
        server.gateways.push(Gateway {
            cluster: cluster.clone(),
            server: remote,
            accounts,
        });
    }
    server.gateways.sort_by(|x, y| x.cluster.cmp(&y.cluster));
}

/// LEAFZ: the leafnode connections, with their accounts.
fn leafnodes_of(server: &mut Server, data: &Value, _ids: &BTreeMap<String, String>) {
    server.leafnodes = list(data, "leafs")
        .map(|l| Leafnode {
            server: text(l, "name").unwrap_or_default(),
            account: text(l, "account").unwrap_or_default(),
            spoke: l.get("is_spoke").and_then(Value::as_bool).unwrap_or(false),
        })
        .collect();
    server
        .leafnodes
        .sort_by(|x, y| (&x.server, &x.account).cmp(&(&y.server, &y.account)));
}

/// The name of the server with id `id`, or the id when it did not answer.
fn name_of(id: &str, ids: &BTreeMap<String, String>) -> String {
    ids.get(id).cloned().unwrap_or_else(|| id.to_string())
}

/// The string at `key`, bounded in length.
pub(crate) fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(|s| s.chars().take(256).collect())
}

/// The array at `key` (empty when absent), bounded in length.
pub(crate) fn list<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .take(MAX_LINKS)
}

fn ordered<'a>(x: &'a str, y: &'a str) -> (&'a str, &'a str) {
    if x <= y { (x, y) } else { (y, x) }
}

/// The way to the monitoring endpoints `access` names: HTTP for `--monitor` URLs, else a
/// `$SYS` client (system context or creds, else the user's own connection).
pub async fn open(
    connection: &crate::connect::options::ConnectionOptions,
    access: &Access,
    log: &crate::verbose::Verbose,
) -> Result<Monitor, crate::error::Error> {
    if access.monitor.is_empty() {
        let sys = sys::SysMonitor::connect(connection, access, log).await?;
        Ok(Monitor::Sys(sys))
    } else {
        Ok(Monitor::Http(http::HttpMonitor::new(
            &access.monitor,
            connection.timeout.min(std::time::Duration::from_secs(2)),
        )))
    }
}

/// Asks every server's VARZ, which tells the monitor how many servers there are (and, over
/// NATS, whether the client is in the system account).
pub async fn ask_varz(monitor: &mut Monitor) -> Vec<Reply> {
    let varz = monitor
        .ask(&monitor::Request::new(monitor::Endpoint::Varz))
        .await;
    match monitor {
        Monitor::Sys(sys) => sys.learn(&varz),
        Monitor::Http(http) => http.learn(&varz),
    }
    varz
}

/// Discovers the network: VARZ first (which servers there are), then ROUTEZ, GATEWAYZ (with
/// the accounts' interest modes when `accounts`) and LEAFZ at once.
pub async fn discover(monitor: &mut Monitor, accounts: bool) -> Network {
    use monitor::{Endpoint, Opt, Request};
    let varz = ask_varz(monitor).await;
    let mut gatewayz = Request::new(Endpoint::Gatewayz);
    if accounts {
        gatewayz = gatewayz.flag(Opt::Accounts);
    }
    let requests = [
        Request::new(Endpoint::Routez),
        gatewayz,
        Request::new(Endpoint::Leafz),
    ];
    let (routez, gatewayz, leafz) = if monitor.is_privileged() {
        let mut answers = monitor.ask_all(&requests).await.into_iter();
        let mut next = || answers.next().unwrap_or_default();
        (next(), next(), next())
    } else {
        Default::default()
    };
    let replies = Replies {
        varz,
        routez,
        gatewayz,
        leafz,
    };
    let mut network = Network::from_replies(monitor.source(), &replies);
    if !monitor.is_privileged() {
        network.problems = vec![NEEDS_SYSTEM.to_string()];
    }
    network
}

/// The one line said when the endpoints need system credentials.
pub const NEEDS_SYSTEM: &str = "the monitoring endpoints need system credentials: --system-context NAME, --system-creds FILE, or --monitor URL…";

/// `topology`: how to reach the endpoints, what to show, and the trace to draw on it.
#[derive(Debug, Clone, Default)]
pub struct TopologySettings {
    pub access: Access,
    /// Each gateway's per-account interest mode.
    pub accounts: bool,
    /// `--trace SUBJECT`: trace a message live and draw its path.
    pub trace: Option<crate::trace::collect::Probe>,
    /// `--file FILE`: draw the path of a saved trace.
    pub file: Option<std::path::PathBuf>,
}
