//! What a topology is made of: [`ServerSpec`]s collected by a [`TopologyBuilder`], and the
//! `nats-server` configuration each server gets from them (listen ports, cluster routes,
//! gateways, leafnode remotes, JetStream) together with what it must report to be ready.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use super::Topology;
use super::launch::{self, Ports, StartError};
use super::monitor::Readiness;
use crate::error::Error;

/// A leafnode connection from one server to another's leafnode port.
#[derive(Debug, Clone, Default)]
pub struct LeafRemote {
    /// The server to connect to (it must have `leaf_listen`).
    pub hub: String,
    /// Extra settings inside the `remotes` entry, e.g. `account: "A"`.
    pub extra: String,
    /// `user:password@` before the host in the remote's URL (empty: none).
    pub userinfo: String,
}

/// One server of a topology.
#[derive(Debug, Clone, Default)]
pub struct ServerSpec {
    pub name: String,
    /// Servers with the same cluster name are joined by routes.
    pub cluster: Option<String>,
    /// Join the supercluster: a gateway named after the cluster to every other gateway cluster.
    pub gateway: bool,
    /// Accept leafnode connections.
    pub leaf_listen: bool,
    /// Leafnode connections this server makes.
    pub leaf_remotes: Vec<LeafRemote>,
    /// Enable JetStream (store in the topology's temp dir).
    pub jetstream: bool,
    /// The JetStream domain, when JetStream is enabled in one.
    pub jetstream_domain: Option<String>,
    /// Configuration appended verbatim to this server's config.
    pub extra: String,
}

impl ServerSpec {
    pub fn new(name: &str) -> ServerSpec {
        ServerSpec {
            name: name.to_string(),
            ..ServerSpec::default()
        }
    }

    pub fn cluster(mut self, cluster: &str) -> ServerSpec {
        self.cluster = Some(cluster.to_string());
        self
    }

    pub fn gateway(mut self) -> ServerSpec {
        self.gateway = true;
        self
    }

    pub fn leaf_listen(mut self) -> ServerSpec {
        self.leaf_listen = true;
        self
    }

    pub fn leaf_remote(mut self, hub: &str, extra: &str) -> ServerSpec {
        self.leaf_remotes.push(LeafRemote {
            hub: hub.to_string(),
            extra: extra.to_string(),
            userinfo: String::new(),
        });
        self
    }

    /// A leafnode connection to `hub` that links the system accounts (as
    /// [`SYSTEM_USER`], see [`TopologyBuilder::system_account`]), so that `$SYS` requests
    /// reach this server.
    pub fn system_leaf_remote(mut self, hub: &str) -> ServerSpec {
        self.leaf_remotes.push(LeafRemote {
            hub: hub.to_string(),
            extra: "account: SYS".to_string(),
            userinfo: format!("{SYSTEM_USER}:{SYSTEM_PASSWORD}@"),
        });
        self
    }

    pub fn jetstream(mut self) -> ServerSpec {
        self.jetstream = true;
        self
    }

    /// Enables JetStream in the JetStream domain `domain`.
    pub fn jetstream_domain(mut self, domain: &str) -> ServerSpec {
        self.jetstream = true;
        self.jetstream_domain = Some(domain.to_string());
        self
    }

    pub fn extra(mut self, config: &str) -> ServerSpec {
        self.extra.push_str(config);
        self.extra.push('\n');
        self
    }
}

/// A description of a topology to launch.
#[derive(Debug, Clone, Default)]
pub struct TopologyBuilder {
    pub(super) servers: Vec<ServerSpec>,
    common: String,
    /// The body of every server's `accounts { … }` block with the system account and its
    /// user, when [`TopologyBuilder::system_account`] was asked for.
    system_accounts: Option<String>,
}

/// The user of the system account `SYS` that [`TopologyBuilder::system_account`] adds.
pub const SYSTEM_USER: &str = "sys";

/// The password of [`SYSTEM_USER`].
pub const SYSTEM_PASSWORD: &str = "sys";

impl TopologyBuilder {
    pub fn new() -> TopologyBuilder {
        TopologyBuilder::default()
    }

    pub fn server(mut self, spec: ServerSpec) -> TopologyBuilder {
        self.servers.push(spec);
        self
    }

    /// Changes the spec of the server called `name` (no-op when there is none), e.g. to give
    /// one server of a predefined topology JetStream.
    pub fn configure(
        mut self,
        name: &str,
        change: impl FnOnce(ServerSpec) -> ServerSpec,
    ) -> TopologyBuilder {
        if let Some(spec) = self.servers.iter_mut().find(|s| s.name == name) {
            *spec = change(std::mem::take(spec));
        }
        self
    }

    /// Configuration appended to every server (accounts, system account, …).
    pub fn common(mut self, config: &str) -> TopologyBuilder {
        self.common.push_str(config);
        self.common.push('\n');
        self
    }

    /// Gives every server the accounts `accounts` (the body of an `accounts { … }` block)
    /// plus the system account `SYS` with the user [`SYSTEM_USER`], for `$SYS` requests.
    /// Written after [`TopologyBuilder::common`], so it replaces an `accounts` block there
    /// (nats-server keeps the last).
    pub fn system_account(mut self, accounts: &str) -> TopologyBuilder {
        self.system_accounts = Some(accounts.to_string());
        self
    }

    /// Starts every server and waits until the topology is ready (blocking, bounded by
    /// [`super::READY_TIMEOUT`]).
    pub fn start(&self) -> Result<Topology, Error> {
        launch::start(self)
    }

    /// The configuration file of `spec`, whose ports are `ports`; `port_of` has every
    /// server's ports, `dir` is the topology's directory.
    pub(super) fn config_for(
        &self,
        spec: &ServerSpec,
        ports: Ports,
        port_of: &HashMap<&str, Ports>,
        dir: &Path,
    ) -> Result<String, StartError> {
        let mut c = String::new();
        let _ = writeln!(c, "server_name: {:?}", spec.name);
        let _ = writeln!(c, "listen: \"127.0.0.1:{}\"", ports.client);
        let _ = writeln!(c, "http: \"127.0.0.1:{}\"", ports.monitor);
        if let Some(cluster) = &spec.cluster {
            c.push_str(&self.cluster_block(spec, cluster, ports, port_of));
        }
        if spec.gateway {
            c.push_str(&self.gateway_block(spec, ports, port_of)?);
        }
        if spec.leaf_listen || !spec.leaf_remotes.is_empty() {
            c.push_str(&leafnodes_block(spec, ports, port_of)?);
        }
        if spec.jetstream {
            c.push_str(&jetstream_block(spec, dir));
        }
        c.push_str(&self.common);
        if let Some(accounts) = &self.system_accounts {
            let _ = writeln!(
                c,
                "accounts {{\n  SYS: {{ users: [{{user: {SYSTEM_USER:?}, password: {SYSTEM_PASSWORD:?}}}] }}\n{accounts}\n}}\nsystem_account: SYS"
            );
        }
        c.push_str(&spec.extra);
        Ok(c)
    }

    /// The other servers of `spec`'s cluster.
    fn cluster_peers<'a>(&'a self, spec: &'a ServerSpec) -> impl Iterator<Item = &'a ServerSpec> {
        self.servers
            .iter()
            .filter(|s| s.name != spec.name && s.cluster.is_some() && s.cluster == spec.cluster)
    }

    /// `cluster { … }`: routes to every other server of the cluster.
    fn cluster_block(
        &self,
        spec: &ServerSpec,
        cluster: &str,
        ports: Ports,
        port_of: &HashMap<&str, Ports>,
    ) -> String {
        let routes: Vec<String> = self
            .cluster_peers(spec)
            .map(|s| {
                format!(
                    "\"nats-route://127.0.0.1:{}\"",
                    port_of[s.name.as_str()].cluster
                )
            })
            .collect();
        format!(
            "cluster {{\n  name: {cluster:?}\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}\n",
            ports.cluster,
            routes.join(", ")
        )
    }

    /// `gateway { … }`: one gateway per other cluster, listing its servers' gateway ports.
    fn gateway_block(
        &self,
        spec: &ServerSpec,
        ports: Ports,
        port_of: &HashMap<&str, Ports>,
    ) -> Result<String, StartError> {
        let cluster = spec.cluster.as_ref().ok_or_else(|| {
            StartError::Fatal(Error::Topology(format!(
                "{}: a gateway needs a cluster",
                spec.name
            )))
        })?;
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for other in self.servers.iter().filter(|s| s.gateway) {
            if let Some(other_cluster) = &other.cluster {
                by_cluster.entry(other_cluster).or_default().push(format!(
                    "\"nats://127.0.0.1:{}\"",
                    port_of[other.name.as_str()].gateway
                ));
            }
        }
        let gateways: Vec<String> = by_cluster
            .iter()
            .filter(|(name, _)| **name != cluster.as_str())
            .map(|(name, urls)| format!("{{name: {name:?}, urls: [{}]}}", urls.join(", ")))
            .collect();
        Ok(format!(
            "gateway {{\n  name: {cluster:?}\n  listen: \"127.0.0.1:{}\"\n  gateways: [{}]\n}}\n",
            ports.gateway,
            gateways.join(", ")
        ))
    }

    /// What `spec`'s server must report before the topology is ready: routes to its cluster
    /// peers, outbound gateways to the other clusters, and its leafnode connections (made and
    /// accepted).
    pub(super) fn expectation_for(&self, spec: &ServerSpec) -> Readiness {
        let routes = self.cluster_peers(spec).map(|s| s.name.clone()).collect();
        let gateways = if spec.gateway {
            self.servers
                .iter()
                .filter(|s| s.gateway && s.cluster != spec.cluster)
                .filter_map(|s| s.cluster.clone())
                .collect()
        } else {
            BTreeSet::new()
        };
        let incoming = self
            .servers
            .iter()
            .flat_map(|s| s.leaf_remotes.iter())
            .filter(|r| r.hub == spec.name)
            .count();
        Readiness {
            routes,
            gateways,
            leafnodes: incoming + spec.leaf_remotes.len(),
        }
    }
}

/// `leafnodes { … }`: the leafnode port it listens on and the remotes it connects to.
fn leafnodes_block(
    spec: &ServerSpec,
    ports: Ports,
    port_of: &HashMap<&str, Ports>,
) -> Result<String, StartError> {
    let mut c = String::from("leafnodes {\n");
    if spec.leaf_listen {
        let _ = writeln!(c, "  listen: \"127.0.0.1:{}\"", ports.leaf);
    }
    if !spec.leaf_remotes.is_empty() {
        let remotes: Vec<String> = spec
            .leaf_remotes
            .iter()
            .map(|r| {
                let port = port_of.get(r.hub.as_str()).map(|p| p.leaf).ok_or_else(|| {
                    StartError::Fatal(Error::Topology(format!(
                        "{}: unknown leafnode hub {:?}",
                        spec.name, r.hub
                    )))
                })?;
                Ok(format!(
                    "{{url: \"nats-leaf://{}127.0.0.1:{port}\"\n {}}}",
                    r.userinfo, r.extra
                ))
            })
            .collect::<Result<_, StartError>>()?;
        let _ = writeln!(c, "  remotes: [{}]", remotes.join(", "));
    }
    c.push_str("}\n");
    Ok(c)
}

/// `jetstream { … }`: a store in the topology's directory, in the spec's domain if any.
fn jetstream_block(spec: &ServerSpec, dir: &Path) -> String {
    let store = dir.join(format!("{}-js", spec.name));
    let domain = spec
        .jetstream_domain
        .as_ref()
        .map(|d| format!(", domain: {d:?}"))
        .unwrap_or_default();
    format!(
        "jetstream {{ store_dir: {:?}{domain} }}\n",
        store.display().to_string()
    )
}
