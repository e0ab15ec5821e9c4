//! `nats-trace demo`: start a throwaway supercluster with a leafnode chain, put subscribers
//! on several servers, trace one message from `e1` through it, and with `--keep` leave it
//! running until Ctrl-C or SIGTERM.

use std::io::Write;
use std::time::Duration;

use crate::commands::trace::run_trace;
use crate::error::{Error, Outcome};
use crate::settings::{ConnectionOptions, DemoSettings, OutputOptions, TraceSettings};
use crate::topology::Topology;
use crate::topology::demo::{self, DEMO_ORIGIN, DEMO_PAYLOAD, DEMO_SUBJECT};
use crate::trace::collect::Probe;
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
        print_topology(&topology, out)?;
        wait_for_stop_signal().await?;
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
    };
    run_trace(&connection, &trace, output, log, out).await
}

/// `--keep`: where the servers are, as URLs and as `export` lines for scripts and suites.
fn print_topology(topology: &Topology, out: &mut dyn Write) -> Result<(), Error> {
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
    writeln!(
        out,
        "\nTry: nats-trace -s {} {DEMO_SUBJECT}",
        topology.url(DEMO_ORIGIN)
    )?;
    writeln!(out, "Press Ctrl-C (or send SIGTERM) to stop it.")?;
    out.flush()?;
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
