//! `nats-trace demo`: start a throwaway supercluster with a leafnode chain, put subscribers
//! on several servers, trace one message from `e1` through it, and with `--keep` leave it
//! running until Ctrl-C or SIGTERM. With `--traffic RATE` it also publishes sampled
//! application messages (each with a fresh `traceparent`), which the servers trace to the
//! demo account's destination for `nats-trace listen`.

use std::io::Write;
use std::time::Duration;

use async_nats::HeaderMap;

use crate::commands::trace::run_trace;
use crate::error::{Error, Outcome};
use crate::settings::{ConnectionOptions, DemoSettings, OutputOptions, TraceSettings};
use crate::topology::Topology;
use crate::topology::demo::{
    self, DEMO_ORIGIN, DEMO_PAYLOAD, DEMO_SUBJECT, DEMO_TRACE_DEST, TRAFFIC_ORIGINS,
};
use crate::trace::collect::Probe;
use crate::trace::traceparent::{TRACEPARENT_HEADER, TraceParent};
use crate::verbose::Verbose;

/// Starts the demo topology, puts subscribers on several servers, and traces from `e1`.
pub(crate) async fn run_demo(
    connection: &ConnectionOptions,
    settings: &DemoSettings,
    output: &OutputOptions,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    log.say(format_args!("starting the demo topology"));
    let topology = demo::start_topology().await?;
    let subscribers = demo::subscribe(&topology).await?;
    // Interest must have reached the servers on the path before tracing.
    let topology = demo::wait_for_interest(topology).await?;
    let outcome = trace_demo(&topology, connection.timeout, output, log, out).await?;
    if settings.keep {
        print_topology(&topology, settings.traffic, out)?;
        keep_running(&topology, settings.traffic, log).await?;
        log.say(format_args!("stopping the demo topology"));
    }
    drop(subscribers);
    Ok(outcome)
}

/// Traces the demo's message from its origin. The demo's servers need no credentials: no
/// context, no auth or TLS options apply, only the timeout.
async fn trace_demo(
    topology: &Topology,
    timeout: Duration,
    output: &OutputOptions,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let connection =
        ConnectionOptions::plain(topology.url(DEMO_ORIGIN), "nats-trace demo", timeout);
    let trace = TraceSettings {
        probe: Probe {
            subject: DEMO_SUBJECT.to_string(),
            payload: DEMO_PAYLOAD.to_string(),
            headers: Vec::new(),
            deliver: false,
            compression: Default::default(),
            timeout,
            context: None,
        },
        raw: false,
        save: None,
        expect: Vec::new(),
        count: 1,
        interval: Duration::ZERO,
        explain: None,
    };
    run_trace(&connection, &trace, output, &Default::default(), log, out).await
}

/// `--keep`: waits for Ctrl-C or SIGTERM, publishing the `--traffic` meanwhile.
async fn keep_running(
    topology: &Topology,
    traffic: Option<u32>,
    log: &Verbose,
) -> Result<(), Error> {
    let Some(rate) = traffic else {
        return wait_for_stop_signal().await;
    };
    let publishers = connect_traffic(topology).await?;
    tokio::select! {
        stopped = wait_for_stop_signal() => stopped?,
        failed = publish_traffic(&publishers, rate, log) => failed?,
    }
    // What was published before the signal reaches the servers.
    for client in &publishers {
        let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
    }
    Ok(())
}

/// One client per server the traffic comes from ([`TRAFFIC_ORIGINS`]).
async fn connect_traffic(topology: &Topology) -> Result<Vec<async_nats::Client>, Error> {
    let mut clients = Vec::with_capacity(TRAFFIC_ORIGINS.len());
    for server in TRAFFIC_ORIGINS {
        let client = async_nats::ConnectOptions::new()
            .name("demo-traffic")
            .connect(topology.url(server))
            .await
            .map_err(|e| Error::Topology(format!("demo traffic publisher on {server}: {e}")))?;
        clients.push(client);
    }
    Ok(clients)
}

/// Publishes `rate` messages per second to [`DEMO_SUBJECT`], each with a fresh sampled
/// `traceparent`, taking turns among the publishers; returns only on an error.
async fn publish_traffic(
    publishers: &[async_nats::Client],
    rate: u32,
    log: &Verbose,
) -> Result<(), Error> {
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for (order, client) in (1u64..).zip(publishers.iter().cycle()) {
        ticks.tick().await;
        let traceparent = TraceParent::new_sampled()
            .map_err(|e| Error::Topology(format!("cannot make a traceparent: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT_HEADER, traceparent.to_string().as_str());
        client
            .publish_with_headers(
                DEMO_SUBJECT,
                headers,
                format!("{{\"order\":{order}}}").into(),
            )
            .await
            .map_err(|e| Error::Topology(format!("demo traffic: {e}")))?;
        log.say(format_args!(
            "traffic: order {order} with traceparent {traceparent}"
        ));
    }
    Ok(())
}

/// `--keep`: where the servers are, as URLs and as `export` lines for scripts and suites, and
/// how to watch the traced traffic.
fn print_topology(
    topology: &Topology,
    traffic: Option<u32>,
    out: &mut dyn Write,
) -> Result<(), Error> {
    writeln!(
        out,
        "\nThe demo topology is running (files in {}):",
        topology.dir().display()
    )?;
    for server in topology.servers() {
        writeln!(
            out,
            "  {:<6} {}  monitoring {}",
            server.name,
            server.url(),
            server.monitor_url()
        )?;
    }
    writeln!(
        out,
        "\nFor scripts and suites (`${{NATS_DEMO_E1}}` in examples/demo-routes.toml):"
    )?;
    for server in topology.servers() {
        writeln!(
            out,
            "export NATS_DEMO_{}={}",
            server.name.to_ascii_uppercase(),
            server.url()
        )?;
    }
    let origin = topology.url(DEMO_ORIGIN);
    writeln!(out, "\nTry: nats-trace -s {origin} {DEMO_SUBJECT}")?;
    writeln!(
        out,
        "Trace Context: nats-trace -s {origin} {DEMO_SUBJECT} --traceparent --dest {DEMO_TRACE_DEST}"
    )?;
    write_monitoring_hints(topology, &origin, out)?;
    match traffic {
        Some(rate) => writeln!(
            out,
            "Publishing {rate} sampled message(s) per second to {DEMO_SUBJECT} (from {}); watch their traces in another terminal:",
            TRAFFIC_ORIGINS.join(", ")
        )?,
        None => writeln!(
            out,
            "Watch traced traffic (add --traffic RATE to publish some) in another terminal:"
        )?,
    }
    writeln!(
        out,
        "  nats-trace -s {origin} listen --dest {DEMO_TRACE_DEST}"
    )?;
    writeln!(out, "Press Ctrl-C (or send SIGTERM) to stop it.")?;
    out.flush()?;
    Ok(())
}

/// The `topology` and `--explain` commands for the demo, through its monitoring URLs.
fn write_monitoring_hints(
    topology: &Topology,
    origin: &str,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let monitors: Vec<String> = topology.servers().iter().map(|s| s.monitor_url()).collect();
    let monitors = monitors.join(",");
    writeln!(
        out,
        "The network: nats-trace -s {origin} topology --monitor {monitors} --trace {DEMO_SUBJECT}"
    )?;
    writeln!(
        out,
        "Why nowhere: nats-trace -s {origin} orders.none --explain --monitor {monitors}"
    )?;
    Ok(())
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
#[cfg(unix)]
async fn wait_for_stop_signal() -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// Waits for Ctrl-C.
#[cfg(not(unix))]
async fn wait_for_stop_signal() -> Result<(), Error> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}
