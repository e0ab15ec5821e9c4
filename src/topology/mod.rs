//! Real local NATS topologies for the demo and the tests: `nats-server` processes on free
//! 127.0.0.1 ports in a temporary directory, each with a `server_name` and a monitoring port,
//! joined by routes, gateways and leafnodes as described by [`ServerSpec`]s. A topology is
//! ready only when every server answers `/healthz` and reports its routes, gateways and
//! leafnodes in `/routez`, `/gatewayz` and `/leafz` (polled, never a fixed sleep), and it is
//! stopped on drop, also when a test panics.
//!
//! By concern: [`spec`] describes a topology and writes each server's configuration,
//! [`launch`] finds `nats-server` and starts the processes, [`monitor`] polls the monitoring
//! endpoints (readiness, propagated interest). Every wait here blocks its thread, bounded by
//! [`READY_TIMEOUT`]; async callers run them off the runtime (`spawn_blocking`).

pub mod demo;

use std::path::Path;
use std::time::Duration;

use crate::error::Error;

pub mod launch;
pub mod monitor;
pub mod spec;

pub use launch::{RunningServer, find_nats_server};
pub use spec::{LeafRemote, ServerSpec, TopologyBuilder};

use monitor::Readiness;

/// How long a topology may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Running servers; every one is stopped when the topology is dropped (also when a test
/// panics), or earlier with [`Topology::kill`].
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

    /// An empty topology in `dir`, to which [`launch`] adds the started servers.
    fn empty(dir: tempfile::TempDir) -> Topology {
        Topology {
            servers: Vec::new(),
            dir: Some(dir),
            expectations: Vec::new(),
        }
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
            server.stop();
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for server in &mut self.servers {
            server.stop();
        }
    }
}
