//! What each command does, from parsed arguments to an [`Outcome`]: connect, collect,
//! stitch and render for `trace`; launch a topology and trace through it for `demo`.

use std::io::{IsTerminal, Write};

use crate::cli::{Cli, ColorChoice, Command, ConnectionArgs, DemoArgs, OutputArgs, TraceArgs};
use crate::collect::{self, Probe};
use crate::connect;
use crate::error::{Error, Outcome};
use crate::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use crate::subject::validate_publish_subject;
use crate::topology::Topology;
use crate::verbose::Verbose;

/// Runs the command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match (cli.command, cli.trace) {
        (Some(Command::Trace(trace)), _) | (None, Some(trace)) => {
            runtime.block_on(run_trace(&cli.connection, &trace, &cli.output, out))
        }
        (Some(Command::Demo(demo)), _) => {
            runtime.block_on(run_demo(&cli.connection, &demo, &cli.output, out))
        }
        (Some(Command::Completions(args)), _) => {
            crate::shell::completions(args.shell, out)?;
            Ok(Outcome::Complete)
        }
        (Some(Command::Man), _) => {
            crate::shell::man_page(out)?;
            Ok(Outcome::Complete)
        }
        (None, None) => Err(Error::Usage(
            "nothing to do: give a subject to trace (see --help)".into(),
        )),
    }
}

/// Whether to color stdout: `always`, `never`, or under `auto` only on a terminal without
/// `NO_COLOR`.
pub fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Traces one message and renders its route.
pub async fn run_trace(
    connection: &ConnectionArgs,
    trace: &TraceArgs,
    output: &OutputArgs,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    validate_publish_subject(&trace.subject)?;
    let log = Verbose::new(connection.verbose);
    let mut conn = connect::connect(connection).await?;
    let info = conn.client.server_info();
    log.say(format_args!(
        "connected to {} (server {} version {})",
        conn.display_url, info.server_name, info.version
    ));
    let probe = Probe {
        subject: trace.subject.clone(),
        payload: trace.payload.clone(),
        headers: trace.headers.clone(),
        deliver: trace.deliver,
        compression: trace.compression,
        timeout: connection.timeout,
    };
    let collected = collect::collect(&mut conn, &probe, &log).await?;
    for warning in &collected.warnings {
        let _ = writeln!(
            std::io::stderr().lock(),
            "nats-trace: warning: {}",
            crate::text::sanitize(warning)
        );
    }
    if trace.raw {
        for received in &collected.traces {
            writeln!(out, ">>> {}", crate::text::sanitize(&received.json))?;
        }
    }
    let complete = collected.is_complete();
    let collected_interrupted = collected.interrupted;
    let publish_denied = collected.publish_denied.clone();
    let report = TraceReport {
        subject: trace.subject.clone(),
        deliver: trace.deliver,
        graph: collected.stitcher.finish(),
        elapsed: Some(collected.elapsed),
    };
    let renderer = TreeRenderer::new(RenderOptions {
        timestamps: trace.timestamp,
        color: color_enabled(output.color),
    });
    renderer.render(&report, out)?;
    out.flush()?;
    if let Some(why) = publish_denied {
        // The tree shows the refusal; the run still failed.
        return Err(Error::Permission(why));
    }
    Ok(if collected_interrupted {
        Outcome::Interrupted
    } else if complete {
        Outcome::Complete
    } else {
        Outcome::Incomplete
    })
}

/// The subject the demo traces.
pub const DEMO_SUBJECT: &str = "orders.new";

/// Starts the demo topology, puts subscribers on several servers, and traces from `e1`.
pub async fn run_demo(
    connection: &ConnectionArgs,
    demo: &DemoArgs,
    output: &OutputArgs,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let log = Verbose::new(connection.verbose);
    log.say(format_args!("starting the demo topology"));
    let mut topology = Topology::supercluster()?;
    // Subscribers: on the origin, across a route, across the gateway, at the end of the
    // leafnode chain; queue members on w1 of which one is picked.
    let mut subscribers = Vec::new();
    for (server, name, queue) in [
        ("e1", "audit", None),
        ("e2", "billing", None),
        ("w1", "shipping", Some("shippers")),
        ("w1", "shipping-2", Some("shippers")),
        ("leaf2", "edge-cache", None),
    ] {
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .connect(topology.url(server))
            .await
            .map_err(|e| Error::Topology(format!("demo subscriber on {server}: {e}")))?;
        let subscriber = match queue {
            Some(q) => client.queue_subscribe(DEMO_SUBJECT, q.to_string()).await,
            None => client.subscribe(DEMO_SUBJECT).await,
        }
        .map_err(|e| Error::Topology(format!("demo subscriber on {server}: {e}")))?;
        client
            .flush()
            .await
            .map_err(|e| Error::Topology(format!("demo subscriber on {server}: {e}")))?;
        subscribers.push((client, subscriber));
    }
    // Interest must have reached the servers on the path before tracing.
    for (server, count) in [("e1", 2), ("w2", 2), ("w1", 3), ("leaf1", 1)] {
        topology.wait_for_interest(server, "$G", DEMO_SUBJECT, count)?;
    }
    // The demo's servers need no credentials: no context, no auth or TLS options apply.
    let trace_connection = ConnectionArgs {
        server: Some(topology.url("e1")),
        no_context: true,
        connection_name: Some("nats-trace demo".into()),
        timeout: connection.timeout,
        verbose: connection.verbose,
        ..ConnectionArgs::default()
    };
    let trace = TraceArgs {
        subject: DEMO_SUBJECT.to_string(),
        payload: "{\"order\":42}".to_string(),
        deliver: false,
        timestamp: false,
        headers: Vec::new(),
        compression: Default::default(),
        raw: false,
    };
    let outcome = run_trace(&trace_connection, &trace, output, out).await?;
    if demo.keep {
        let dir = topology.keep();
        writeln!(
            out,
            "\nThe demo topology keeps running (files in {}):",
            dir.display()
        )?;
        let mut pids = Vec::new();
        for server in topology.servers() {
            writeln!(
                out,
                "  {:<6} {}  monitoring {}",
                server.name,
                server.url(),
                server.monitor_url()
            )?;
            pids.push(server.pid.to_string());
        }
        writeln!(
            out,
            "Try: nats-trace -s {} {DEMO_SUBJECT}",
            topology.url("e1")
        )?;
        writeln!(out, "Stop it with: kill {}", pids.join(" "))?;
    }
    drop(subscribers);
    Ok(outcome)
}
