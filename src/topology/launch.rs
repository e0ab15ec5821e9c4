//! Starting the processes of a topology: finding a `nats-server` ≥ 2.11, picking free ports,
//! writing each server's configuration and log into the topology's temporary directory,
//! spawning the servers and waiting until they are ready (started again on new ports when a
//! port was taken in the meantime), and stopping them.

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use super::spec::{ServerSpec, TopologyBuilder};
use super::{READY_TIMEOUT, Topology};
use crate::error::Error;

/// How often a whole topology is started before a taken port is given up on.
const START_ATTEMPTS: usize = 3;

/// Finds a `nats-server` ≥ 2.11: `NATS_SERVER_BIN`, then `PATH`, then the project's
/// `.tools/bin` (where `scripts/install-nats-server` puts it).
pub fn find_nats_server() -> Result<PathBuf, Error> {
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
    let mut candidates: Vec<PathBuf> = Vec::new();
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

/// Ports of one server.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ports {
    pub(super) client: u16,
    pub(super) monitor: u16,
    pub(super) cluster: u16,
    pub(super) gateway: u16,
    pub(super) leaf: u16,
}

pub(super) enum StartError {
    PortTaken(String),
    Fatal(Error),
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> StartError {
        StartError::Fatal(e.into())
    }
}

/// Starts every server of `builder` and waits until the topology is ready.
pub(super) fn start(builder: &TopologyBuilder) -> Result<Topology, Error> {
    let binary = find_nats_server()?;
    let mut last_error = None;
    // A port picked as free can be taken by another process before the server binds it;
    // then the whole topology is started again on new ports.
    for _ in 0..START_ATTEMPTS {
        match start_once(builder, &binary) {
            Ok(topology) => return Ok(topology),
            Err(StartError::PortTaken(why)) => last_error = Some(why),
            Err(StartError::Fatal(e)) => return Err(e),
        }
    }
    Err(Error::Topology(last_error.unwrap_or_default()))
}

fn start_once(builder: &TopologyBuilder, binary: &Path) -> Result<Topology, StartError> {
    let dir = tempfile::Builder::new()
        .prefix("nats-trace-topology-")
        .tempdir()?;
    let ports = allocate_ports(builder.servers.len())?;
    let port_of: HashMap<&str, Ports> = builder
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .zip(ports.iter().copied())
        .collect();
    let mut topology = Topology::empty(dir);
    for (spec, ports) in builder.servers.iter().zip(&ports) {
        let config = builder.config_for(spec, *ports, &port_of, topology.dir())?;
        let server = spawn(binary, spec, *ports, &config, topology.dir())?;
        topology.servers.push(server);
        topology.expectations.push(builder.expectation_for(spec));
    }
    match topology.wait_ready(READY_TIMEOUT) {
        Ok(()) => Ok(topology),
        Err(why) if why.contains("address already in use") => Err(StartError::PortTaken(why)),
        Err(why) => Err(StartError::Fatal(Error::Topology(why))),
    }
}

/// Writes `config` as `<name>.conf` into `dir` and starts `binary` on it, its output going
/// to `<name>.log`.
fn spawn(
    binary: &Path,
    spec: &ServerSpec,
    ports: Ports,
    config: &str,
    dir: &Path,
) -> Result<RunningServer, StartError> {
    let config_path = dir.join(format!("{}.conf", spec.name));
    let log_path = dir.join(format!("{}.log", spec.name));
    std::fs::write(&config_path, config)?;
    let log = std::fs::File::create(&log_path)?;
    let log_err = log.try_clone()?;
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
    Ok(RunningServer {
        name: spec.name.clone(),
        cluster: spec.cluster.clone(),
        client_port: ports.client,
        monitor_port: ports.monitor,
        log_path,
        pid: child.id(),
        child: Some(child),
    })
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

    /// The last five lines of its log, on one line.
    pub(super) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// How the process ended, when it has (`None` while it runs or once stopped).
    pub(super) fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Kills the process and reaps it (nothing when it was stopped before).
    pub(super) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
