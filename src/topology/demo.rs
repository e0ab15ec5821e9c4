//! The demo's topology and subscribers: the supercluster with a leafnode chain, the
//! subscribers the demo puts on it ([`DEMO_SUBSCRIBERS`]), and the interest each server on the
//! path must know before tracing ([`DEMO_INTEREST`]). `nats-trace demo` and the tests use the
//! same tables. The topology's blocking waits run off the async runtime.

use crate::error::Error;
use crate::topology::{Topology, TopologyBuilder};

/// The subject the demo traces.
pub const DEMO_SUBJECT: &str = "orders.new";

/// The payload the demo traces.
pub const DEMO_PAYLOAD: &str = "{\"order\":42}";

/// The demo's subscribers on [`DEMO_SUBJECT`] as (server, connection name, queue group): on
/// the origin, across a route, across the gateway (two members of a queue group, of which
/// one is picked), at the end of the leafnode chain.
pub const DEMO_SUBSCRIBERS: [(&str, &str, Option<&str>); 5] = [
    ("e1", "audit", None),
    ("e2", "billing", None),
    ("w1", "shipping", Some("shippers")),
    ("w1", "shipping-2", Some("shippers")),
    ("leaf2", "edge-cache", None),
];

/// How many subscriptions on [`DEMO_SUBJECT`] each server on the path must know (its own and
/// those its routes and leafnodes announced) before the demo traces.
pub const DEMO_INTEREST: [(&str, u64); 4] = [("e1", 2), ("w2", 2), ("w1", 3), ("leaf1", 1)];

/// The account the demo's clients are in (the servers bind clients without credentials to it,
/// as `no_auth_user`): a named account, since the global account `$G` cannot take a
/// `msg_trace` setting.
pub const DEMO_ACCOUNT: &str = "APP";

/// The demo account's Trace Context destination (`msg_trace { dest }`, sampling 100 %).
pub const DEMO_TRACE_DEST: &str = "trace.demo";

/// The accounts of every demo server: the system account, and [`DEMO_ACCOUNT`] with its
/// `msg_trace` destination and the user that clients without credentials become.
const DEMO_ACCOUNTS: &str = r#"accounts {
  SYS: {}
  APP: {
    users: [{user: "demo", password: "demo"}]
    msg_trace: { dest: "trace.demo", sampling: "100%" }
  }
}
system_account: SYS
no_auth_user: "demo""#;

/// The server the demo traces from.
pub const DEMO_ORIGIN: &str = "e1";

/// The servers `demo --traffic` publishes from, in turn: each gives its messages another
/// route through the topology.
pub const TRAFFIC_ORIGINS: [&str; 3] = ["e1", "w1", "leaf2"];

/// The demo's subscribers, connected; they unsubscribe when dropped.
pub struct DemoSubscribers {
    _subscriptions: Vec<(async_nats::Client, async_nats::Subscriber)>,
}

/// The demo's topology: [`Topology::supercluster`] with its clients and leafnode connections
/// in [`DEMO_ACCOUNT`].
pub fn topology_builder() -> TopologyBuilder {
    let in_app = |mut spec: crate::topology::ServerSpec| {
        for remote in &mut spec.leaf_remotes {
            remote.extra = format!("account: {DEMO_ACCOUNT:?}");
        }
        spec
    };
    Topology::supercluster_builder()
        .common(DEMO_ACCOUNTS)
        .configure("leaf1", in_app)
        .configure("leaf2", in_app)
}

/// Starts the demo's supercluster, on a blocking thread (it waits for the servers).
pub async fn start_topology() -> Result<Topology, Error> {
    off_runtime(|| topology_builder().start()).await
}

/// Connects the demo's subscribers to `topology`.
pub async fn subscribe(topology: &Topology) -> Result<DemoSubscribers, Error> {
    let mut subscriptions = Vec::with_capacity(DEMO_SUBSCRIBERS.len());
    for (server, name, queue) in DEMO_SUBSCRIBERS {
        let fail = |e: &dyn std::fmt::Display| {
            Error::Topology(format!("demo subscriber on {server}: {e}"))
        };
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .connect(topology.url(server))
            .await
            .map_err(|e| fail(&e))?;
        let subscriber = match queue {
            Some(q) => client.queue_subscribe(DEMO_SUBJECT, q.to_string()).await,
            None => client.subscribe(DEMO_SUBJECT).await,
        }
        .map_err(|e| fail(&e))?;
        client.flush().await.map_err(|e| fail(&e))?;
        subscriptions.push((client, subscriber));
    }
    Ok(DemoSubscribers {
        _subscriptions: subscriptions,
    })
}

/// Waits, on a blocking thread, until the servers on the path know the demo's interest
/// ([`DEMO_INTEREST`]); hands the topology back.
pub async fn wait_for_interest(topology: Topology) -> Result<Topology, Error> {
    off_runtime(move || {
        for (server, count) in DEMO_INTEREST {
            topology.wait_for_interest(server, DEMO_ACCOUNT, DEMO_SUBJECT, count)?;
        }
        Ok(topology)
    })
    .await
}

/// Runs a blocking topology step on tokio's blocking threads, so that the async runtime
/// (current-thread in the binary) keeps serving the clients meanwhile.
async fn off_runtime<T: Send + 'static>(
    step: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|e| Error::Topology(format!("the topology's thread failed: {e}")))?
}
