//! What each command does, from parsed arguments to an [`Outcome`]: connect, collect,
//! stitch and render for `trace`; read saved traces, stitch and render for `render`; launch
//! a topology and trace through it for `demo`.

use std::io::{IsTerminal, Write};

use crate::ci::expect::{self, Expectation};
use crate::cli::{
    Cli, ColorChoice, Command, ConnectionArgs, DemoArgs, OutputArgs, RenderArgs, TraceArgs,
};
use crate::connect;
use crate::error::{Error, Outcome};
use crate::render::{RenderOptions, TraceReport};
use crate::subject::validate_publish_subject;
use crate::topology::Topology;
use crate::trace::capture;
use crate::trace::collect::{self, Probe};
use crate::trace::stitch::Stitcher;
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
        (Some(Command::Render(render)), _) => run_render(&render, &cli.output, out),
        (Some(Command::Check(check)), _) => runtime.block_on(crate::ci::check::run_check(
            &cli.connection,
            &check,
            &cli.output,
            out,
        )),
        (Some(Command::Demo(demo)), _) => {
            runtime.block_on(run_demo(&cli.connection, &demo, &cli.output, out))
        }
        (Some(Command::Completions(args)), _) => {
            crate::cli::shell::completions(args.shell, out)?;
            Ok(Outcome::Complete)
        }
        (Some(Command::Man), _) => {
            crate::cli::shell::man_page(out)?;
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

/// A live trace, collected and stitched: what `trace` prints and `check` judges.
pub struct LiveTrace {
    pub report: TraceReport,
    /// The trace messages of the chosen attempt, decompressed.
    pub traces: Vec<collect::ReceivedTrace>,
    /// Messages that could not be used, one line each.
    pub warnings: Vec<String>,
    /// Set when the server refused to let the message be published.
    pub publish_denied: Option<String>,
    /// Set when Ctrl-C ended the collection early.
    pub interrupted: bool,
}

/// Connects, publishes `probe` and collects and stitches its traces.
pub async fn trace_live(
    connection: &ConnectionArgs,
    probe: &Probe,
    log: &Verbose,
) -> Result<LiveTrace, Error> {
    validate_publish_subject(&probe.subject)?;
    let mut conn = connect::connect(connection).await?;
    let info = conn.client.server_info();
    log.say(format_args!(
        "connected to {} (server {} version {})",
        conn.display_url, info.server_name, info.version
    ));
    let collected = collect::collect(&mut conn, probe, log).await?;
    let complete = collected.is_complete();
    Ok(LiveTrace {
        report: TraceReport {
            subject: probe.subject.clone(),
            deliver: probe.deliver,
            complete,
            graph: collected.stitcher.finish(),
            elapsed: Some(collected.elapsed),
        },
        traces: collected.traces,
        warnings: collected.warnings,
        publish_denied: collected.publish_denied,
        interrupted: collected.interrupted,
    })
}

/// Traces one message, renders its route and checks the expectations.
pub async fn run_trace(
    connection: &ConnectionArgs,
    trace: &TraceArgs,
    output: &OutputArgs,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let log = Verbose::new(connection.verbose);
    let probe = Probe {
        subject: trace.subject.clone(),
        payload: trace.payload.clone(),
        headers: trace.headers.clone(),
        deliver: trace.deliver,
        compression: trace.compression,
        timeout: connection.timeout,
    };
    let live = trace_live(connection, &probe, &log).await?;
    for warning in &live.warnings {
        let _ = writeln!(
            std::io::stderr().lock(),
            "nats-trace: warning: {}",
            crate::text::sanitize(warning)
        );
    }
    if trace.raw {
        for received in &live.traces {
            writeln!(out, ">>> {}", crate::text::sanitize(&received.json))?;
        }
    }
    if let Some(path) = &trace.save {
        capture::save_to_file(path, &live.traces)?;
        log.say(format_args!(
            "saved {} trace message(s) to {}",
            live.traces.len(),
            path.display()
        ));
    }
    let outcome = render_report(&live.report, output, out)?;
    if let Some(why) = live.publish_denied {
        // The tree shows the refusal; the run still failed.
        return Err(Error::Permission(why));
    }
    if live.interrupted {
        return Ok(Outcome::Interrupted);
    }
    Ok(outcome.worst(report_expectations(&trace.expect, &live.report)))
}

/// Prints each failed expectation on stderr; the outcome is a failed expectation when any
/// failed.
fn report_expectations(expectations: &[Expectation], report: &TraceReport) -> Outcome {
    let failures = expect::evaluate_all(expectations, &report.graph);
    for failure in &failures {
        let _ = writeln!(
            std::io::stderr().lock(),
            "nats-trace: expectation failed: {}",
            crate::text::sanitize(&failure.to_string())
        );
    }
    if failures.is_empty() {
        Outcome::Complete
    } else {
        Outcome::ExpectationFailed
    }
}

/// Renders trace messages saved earlier, with the same stitching, output and exit codes as
/// a live trace.
pub fn run_render(
    render: &RenderArgs,
    output: &OutputArgs,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let inputs = capture::read_inputs(&render.files)?;
    for warning in &inputs.warnings {
        let _ = writeln!(
            std::io::stderr().lock(),
            "nats-trace: warning: {}",
            crate::text::sanitize(warning)
        );
    }
    let mut stitcher = Stitcher::new();
    for message in inputs.messages {
        stitcher.add(message);
    }
    let complete = stitcher.is_complete();
    let mut report = TraceReport::from_graph(stitcher.finish());
    report.complete = complete;
    let outcome = render_report(&report, output, out)?;
    Ok(outcome.worst(report_expectations(&render.expect, &report)))
}

/// Prints `report` in the chosen format; the outcome is complete or incomplete.
fn render_report(
    report: &TraceReport,
    output: &OutputArgs,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let renderer = output.format().renderer(RenderOptions {
        timestamps: output.timestamp,
        color: color_enabled(output.color),
    });
    renderer.render(report, out)?;
    out.flush()?;
    Ok(if report.complete {
        Outcome::Complete
    } else {
        Outcome::Incomplete
    })
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_stop_signal() -> Result<(), Error> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// The subject the demo traces.
pub const DEMO_SUBJECT: &str = "orders.new";

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

/// Starts the demo topology, puts subscribers on several servers, and traces from `e1`.
#[allow(clippy::too_many_lines)] // TODO(issue 12): split into named steps
pub async fn run_demo(
    connection: &ConnectionArgs,
    demo: &DemoArgs,
    output: &OutputArgs,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let log = Verbose::new(connection.verbose);
    log.say(format_args!("starting the demo topology"));
    let topology = Topology::supercluster()?;
    let mut subscribers = Vec::new();
    for (server, name, queue) in DEMO_SUBSCRIBERS {
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
    for (server, count) in DEMO_INTEREST {
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
        headers: Vec::new(),
        compression: Default::default(),
        raw: false,
        save: None,
        expect: Vec::new(),
    };
    let outcome = run_trace(&trace_connection, &trace, output, out).await?;
    if demo.keep {
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
            topology.url("e1")
        )?;
        writeln!(out, "Press Ctrl-C (or send SIGTERM) to stop it.")?;
        out.flush()?;
        wait_for_stop_signal().await?;
        log.say(format_args!("stopping the demo topology"));
    }
    drop(subscribers);
    Ok(outcome)
}
