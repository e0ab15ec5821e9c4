//! Real local NATS topologies for the demo and the tests: `nats-server` processes on free
//! 127.0.0.1 ports in a temporary directory, each with a `server_name` and a monitoring port,
//! joined by routes, gateways and leafnodes as described by [`ServerSpec`]s. A topology is
//! ready only when every server answers `/healthz` and reports its routes, gateways and
//! leafnodes in `/routez`, `/gatewayz` and `/leafz` (polled, never a fixed sleep), and it is
//! stopped on drop, also when a test panics.

pub mod demo;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::Error;
use crate::subject::subject_matches;

/// How long a topology may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between two polls of a monitoring endpoint.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Finds a `nats-server` ≥ 2.11: `NATS_SERVER_BIN`, then `PATH`, then the project's
/// `.tools/bin` (where `scripts/install-nats-server` puts it).
pub fn find_nats_server() -> Result<PathBuf, Error> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !runs_supported_version(&path) {
            return Err(Error::Topology(format!(
                "NATS_SERVER_BIN={} is not a runnable nats-server 2.11 or newer",
                path.display()
            )));
        }
        return Ok(path);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|dir| dir.join("nats-server")));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/nats-server"));
    candidates
        .into_iter()
        .find(|c| c.is_file() && runs_supported_version(c))
        .ok_or_else(|| {
            Error::Topology(
                "no nats-server 2.11 or newer found (set NATS_SERVER_BIN, put one on PATH, or run scripts/install-nats-server)"
                    .to_string(),
            )
        })
}

fn runs_supported_version(path: &Path) -> bool {
    Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.rsplit('v').next().map(|v| v.trim().to_string()))
        .is_some_and(|v| crate::connect::version_at_least(&v, 2, 11))
}

/// A leafnode connection from one server to another's leafnode port.
#[derive(Debug, Clone, Default)]
pub struct LeafRemote {
    /// The server to connect to (it must have `leaf_listen`).
    pub hub: String,
    /// Extra settings inside the `remotes` entry, e.g. `account: "A"`.
    pub extra: String,
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

/// Ports of one server.
#[derive(Debug, Clone, Copy)]
struct Ports {
    client: u16,
    monitor: u16,
    cluster: u16,
    gateway: u16,
    leaf: u16,
}

/// A description of a topology to launch.
#[derive(Debug, Clone, Default)]
pub struct TopologyBuilder {
    servers: Vec<ServerSpec>,
    common: String,
}

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

    /// Starts every server and waits until the topology is ready.
    pub fn start(&self) -> Result<Topology, Error> {
        let binary = find_nats_server()?;
        let mut last_error = None;
        // A port picked as free can be taken by another process before the server binds it;
        // then the whole topology is started again on new ports.
        for _ in 0..3 {
            match self.start_once(&binary) {
                Ok(topology) => return Ok(topology),
                Err(StartError::PortTaken(why)) => last_error = Some(why),
                Err(StartError::Fatal(e)) => return Err(e),
            }
        }
        Err(Error::Topology(last_error.unwrap_or_default()))
    }

    fn start_once(&self, binary: &Path) -> Result<Topology, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("nats-trace-topology-")
            .tempdir()
            .map_err(|e| StartError::Fatal(e.into()))?;
        let ports = allocate_ports(self.servers.len()).map_err(|e| StartError::Fatal(e.into()))?;
        let port_of: HashMap<&str, Ports> = self
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .zip(ports.iter().copied())
            .collect();
        let mut topology = Topology {
            servers: Vec::new(),
            dir: Some(dir),
            expectations: Vec::new(),
        };
        for (spec, ports) in self.servers.iter().zip(&ports) {
            let config = self.config_for(spec, *ports, &port_of, topology.dir())?;
            let config_path = topology.dir().join(format!("{}.conf", spec.name));
            let log_path = topology.dir().join(format!("{}.log", spec.name));
            std::fs::write(&config_path, config).map_err(|e| StartError::Fatal(e.into()))?;
            let log = std::fs::File::create(&log_path).map_err(|e| StartError::Fatal(e.into()))?;
            let log_err = log.try_clone().map_err(|e| StartError::Fatal(e.into()))?;
            let child = Command::new(binary)
                .arg("-c")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .map_err(|e| {
                    StartError::Fatal(Error::Topology(format!(
                        "cannot start {}: {e}",
                        binary.display()
                    )))
                })?;
            topology.servers.push(RunningServer {
                name: spec.name.clone(),
                cluster: spec.cluster.clone(),
                client_port: ports.client,
                monitor_port: ports.monitor,
                log_path,
                pid: child.id(),
                child: Some(child),
            });
            topology.expectations.push(self.expectation_for(spec));
        }
        match topology.wait_ready(READY_TIMEOUT) {
            Ok(()) => Ok(topology),
            Err(why) if why.contains("address already in use") => Err(StartError::PortTaken(why)),
            Err(why) => Err(StartError::Fatal(Error::Topology(why))),
        }
    }

    #[allow(clippy::too_many_lines)] // TODO(issue 12): split into named steps
    fn config_for(
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
            let routes: Vec<String> = self
                .servers
                .iter()
                .filter(|s| s.name != spec.name && s.cluster.as_ref() == Some(cluster))
                .map(|s| {
                    format!(
                        "\"nats-route://127.0.0.1:{}\"",
                        port_of[s.name.as_str()].cluster
                    )
                })
                .collect();
            let _ = writeln!(
                c,
                "cluster {{\n  name: {cluster:?}\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}",
                ports.cluster,
                routes.join(", ")
            );
        }
        if spec.gateway {
            let cluster = spec.cluster.as_ref().ok_or_else(|| {
                StartError::Fatal(Error::Topology(format!(
                    "{}: a gateway needs a cluster",
                    spec.name
                )))
            })?;
            let mut by_cluster: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
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
            let _ = writeln!(
                c,
                "gateway {{\n  name: {cluster:?}\n  listen: \"127.0.0.1:{}\"\n  gateways: [{}]\n}}",
                ports.gateway,
                gateways.join(", ")
            );
        }
        if spec.leaf_listen || !spec.leaf_remotes.is_empty() {
            let _ = writeln!(c, "leafnodes {{");
            if spec.leaf_listen {
                let _ = writeln!(c, "  listen: \"127.0.0.1:{}\"", ports.leaf);
            }
            if !spec.leaf_remotes.is_empty() {
                let remotes: Vec<String> = spec
                    .leaf_remotes
                    .iter()
                    .map(|r| {
                        let port =
                            port_of.get(r.hub.as_str()).map(|p| p.leaf).ok_or_else(|| {
                                StartError::Fatal(Error::Topology(format!(
                                    "{}: unknown leafnode hub {:?}",
                                    spec.name, r.hub
                                )))
                            })?;
                        Ok(format!(
                            "{{url: \"nats-leaf://127.0.0.1:{port}\"\n {}}}",
                            r.extra
                        ))
                    })
                    .collect::<Result<_, StartError>>()?;
                let _ = writeln!(c, "  remotes: [{}]", remotes.join(", "));
            }
            let _ = writeln!(c, "}}");
        }
        if spec.jetstream {
            let store = dir.join(format!("{}-js", spec.name));
            let domain = spec
                .jetstream_domain
                .as_ref()
                .map(|d| format!(", domain: {d:?}"))
                .unwrap_or_default();
            let _ = writeln!(
                c,
                "jetstream {{ store_dir: {:?}{domain} }}",
                store.display().to_string()
            );
        }
        c.push_str(&self.common);
        c.push_str(&spec.extra);
        Ok(c)
    }

    fn expectation_for(&self, spec: &ServerSpec) -> Readiness {
        let routes = match &spec.cluster {
            Some(cluster) => self
                .servers
                .iter()
                .filter(|s| s.name != spec.name && s.cluster.as_ref() == Some(cluster))
                .map(|s| s.name.clone())
                .collect(),
            None => BTreeSet::new(),
        };
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

enum StartError {
    PortTaken(String),
    Fatal(Error),
}

/// Picks distinct free loopback ports, five per server.
fn allocate_ports(servers: usize) -> std::io::Result<Vec<Ports>> {
    let listeners: Vec<TcpListener> = (0..servers * 5)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<_, _>>()?;
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    Ok(ports
        .chunks(5)
        .map(|p| Ports {
            client: p[0],
            monitor: p[1],
            cluster: p[2],
            gateway: p[3],
            leaf: p[4],
        })
        .collect())
}

/// What a server must report before the topology is ready.
#[derive(Debug, Clone)]
struct Readiness {
    routes: BTreeSet<String>,
    gateways: BTreeSet<String>,
    leafnodes: usize,
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    pub name: String,
    pub cluster: Option<String>,
    pub client_port: u16,
    pub monitor_port: u16,
    pub log_path: PathBuf,
    /// The process id.
    pub pid: u32,
    child: Option<Child>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

/// Running servers; stopped on drop unless [`Topology::keep`] was called.
#[derive(Debug)]
pub struct Topology {
    servers: Vec<RunningServer>,
    dir: Option<tempfile::TempDir>,
    expectations: Vec<Readiness>,
}

impl Topology {
    /// One server, `n1`.
    pub fn single() -> Result<Topology, Error> {
        TopologyBuilder::new().server(ServerSpec::new("n1")).start()
    }

    /// A three-server cluster `C1`: `n1`, `n2`, `n3`.
    pub fn cluster() -> Result<Topology, Error> {
        TopologyBuilder::new()
            .server(ServerSpec::new("n1").cluster("C1"))
            .server(ServerSpec::new("n2").cluster("C1"))
            .server(ServerSpec::new("n3").cluster("C1"))
            .start()
    }

    /// The builder of [`Topology::supercluster`], to add configuration before starting.
    pub fn supercluster_builder() -> TopologyBuilder {
        TopologyBuilder::new()
            .common("accounts { SYS: {} }\nsystem_account: SYS")
            .server(ServerSpec::new("e1").cluster("EAST").gateway())
            .server(ServerSpec::new("e2").cluster("EAST").gateway())
            .server(ServerSpec::new("w1").cluster("WEST").gateway())
            .server(
                ServerSpec::new("w2")
                    .cluster("WEST")
                    .gateway()
                    .leaf_listen(),
            )
            .server(ServerSpec::new("leaf1").leaf_listen().leaf_remote("w2", ""))
            .server(ServerSpec::new("leaf2").leaf_remote("leaf1", ""))
    }

    /// A supercluster — clusters `EAST` (`e1`, `e2`) and `WEST` (`w1`, `w2`) joined by
    /// gateways — with a leafnode chain `w2` ← `leaf1` ← `leaf2`.
    pub fn supercluster() -> Result<Topology, Error> {
        Topology::supercluster_builder().start()
    }

    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("."))
    }

    pub fn servers(&self) -> &[RunningServer] {
        &self.servers
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&RunningServer> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The client URL of the server called `name` (empty when there is none).
    pub fn url(&self, name: &str) -> String {
        self.server(name)
            .map(RunningServer::url)
            .unwrap_or_default()
    }

    /// Stops the server called `name` now (for fault tests).
    pub fn kill(&mut self, name: &str) {
        if let Some(server) = self.servers.iter_mut().find(|s| s.name == name) {
            if let Some(mut child) = server.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Fetches a monitoring endpoint of the server called `name` as JSON.
    pub fn monitor(&self, name: &str, path: &str) -> Result<Value, String> {
        let server = self
            .server(name)
            .ok_or_else(|| format!("no server {name:?} in this topology"))?;
        let (status, body) = http_get(server.monitor_port, path).map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{path} answered {status}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("{path}: {e}"))
    }

    /// Subscriptions matching `subject` in `account` that the server called `name` knows:
    /// its own clients' (`/subsz`), and those its routes (`/routez`) and leafnodes (`/leafz`)
    /// announced.
    pub fn interest(&self, name: &str, account: &str, subject: &str) -> Result<u64, String> {
        let local = self
            .monitor(
                name,
                &format!(
                    "/subsz?subs=1&acc={}&test={}",
                    url_encode(account),
                    url_encode(subject)
                ),
            )?
            .get("total")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let routez = self.monitor(name, "/routez?subs=detail")?;
        let routed = routez["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| {
                r["subscriptions_list_detail"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .filter(|d| route_sub_account(d).is_none_or(|a| a == account))
            .filter(|d| {
                d["subject"]
                    .as_str()
                    .is_some_and(|p| subject_matches(p, subject))
            })
            .count() as u64;
        let leafz = self.monitor(name, "/leafz?subs=1")?;
        let leafed = leafz["leafs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["account"].as_str() == Some(account))
            .flat_map(|l| l["subscriptions_list"].as_array().into_iter().flatten())
            .filter(|p| p.as_str().is_some_and(|p| subject_matches(p, subject)))
            .count() as u64;
        Ok(local + routed + leafed)
    }

    /// Waits until the server called `name` knows at least `count` subscriptions matching
    /// `subject` in `account` (see [`Topology::interest`]): the way to know that subscribers'
    /// interest has propagated before tracing.
    pub fn wait_for_interest(
        &self,
        name: &str,
        account: &str,
        subject: &str,
        count: u64,
    ) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            let seen = self.interest(name, account, subject);
            if matches!(seen, Ok(n) if n >= count) {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::Topology(format!(
                    "server {name} knows {seen:?} of {count} subscriptions on {subject} after {READY_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// An error naming the first server that has exited, with the end of its log.
    fn check_running(&mut self) -> Result<(), String> {
        for server in &mut self.servers {
            if let Some(child) = server.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "nats-server {} exited ({status}): {}",
                        server.name,
                        server.log_tail()
                    ));
                }
            }
        }
        Ok(())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        for index in 0..self.servers.len() {
            loop {
                // Any server, not only the one waited for: a server's readiness can hang on
                // another (a hub waits for its leaf), and a server that died (a port taken
                // in the meantime) says why in its own log.
                self.check_running()?;
                let server = &self.servers[index];
                match readiness_gap(server.monitor_port, &self.expectations[index]) {
                    Ok(()) => break,
                    Err(gap) if started.elapsed() > timeout => {
                        let others: Vec<String> = self
                            .servers
                            .iter()
                            .filter(|other| other.name != server.name)
                            .map(|other| format!("{}: {}", other.name, other.log_tail()))
                            .collect();
                        return Err(format!(
                            "nats-server {} not ready after {timeout:?}: {gap}; log: {}; other servers' logs: {}",
                            server.name,
                            server.log_tail(),
                            others.join(" || ")
                        ));
                    }
                    Err(_) => std::thread::sleep(POLL_INTERVAL),
                }
            }
        }
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for server in &mut self.servers {
            if let Some(mut child) = server.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// What is still missing before a server is ready, or `Ok` when nothing is.
fn readiness_gap(port: u16, expected: &Readiness) -> Result<(), String> {
    let get = |path: &str| -> Result<Value, String> {
        let (status, body) = http_get(port, path).map_err(|e| format!("{path}: {e}"))?;
        if status != 200 {
            return Err(format!("{path} answered {status}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("{path}: {e}"))
    };
    get("/healthz")?;
    if !expected.routes.is_empty() {
        let routez = get("/routez")?;
        let seen: BTreeSet<String> = routez["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["remote_name"].as_str().map(str::to_string))
            .collect();
        if !expected.routes.is_subset(&seen) {
            return Err(format!("routes to {:?}, seen {seen:?}", expected.routes));
        }
    }
    if !expected.gateways.is_empty() {
        let gatewayz = get("/gatewayz")?;
        // Every server has its own outbound connection to each other cluster; inbound ones
        // land on whichever server of this cluster the remote picked.
        let seen: BTreeSet<String> = gatewayz["outbound_gateways"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if !expected.gateways.is_subset(&seen) {
            return Err(format!(
                "outbound gateways to {:?}, seen {seen:?}",
                expected.gateways
            ));
        }
    }
    if expected.leafnodes > 0 {
        let leafz = get("/leafz")?;
        let seen = leafz["leafnodes"].as_u64().unwrap_or(0) as usize;
        if seen < expected.leafnodes {
            return Err(format!("{seen} of {} leafnodes", expected.leafnodes));
        }
    }
    Ok(())
}

/// The account of a route subscription: its `account` field, else the second token of its
/// sid (`R <account> <subject> [queue]`); `None` when neither tells.
fn route_sub_account(detail: &Value) -> Option<&str> {
    if let Some(account) = detail["account"].as_str().filter(|a| !a.is_empty()) {
        return Some(account);
    }
    let mut tokens = detail["sid"].as_str()?.split_whitespace();
    match (tokens.next(), tokens.next(), tokens.next()) {
        (Some("R"), Some(account), Some(_)) => Some(account),
        _ => None,
    }
}

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~*>".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A minimal HTTP/1.0 GET against a local monitoring port, bounded by short timeouts.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(250))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}
