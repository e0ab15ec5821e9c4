//! What each command does, from its [`Settings`] to an [`Outcome`]: one runner per command
//! (`trace`, `render`, `demo`, `listen` here; `check` in [`crate::ci::check`]) and the dispatch to it,
//! plus the printing steps they share (the route in the chosen format, failed expectations).

mod demo;
mod explain;
mod listen;
mod otlp;
mod probe;
mod render;
mod topology;
mod trace;
mod trace_count;

use std::io::{IsTerminal, Write};

use crate::ci::expect::{self, Expectation};
use crate::error::{Error, Outcome};
use crate::render::TraceReport;
use crate::settings::{ColorChoice, Command, OutputOptions, Settings};
use crate::verbose::Verbose;

/// Runs the command `settings` ask for, writing results to `out`.
pub fn run(settings: Settings, out: &mut dyn Write) -> Result<Outcome, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let log = Verbose::new(settings.verbose);
    let connection = &settings.connection;
    let output = &settings.output;
    match &settings.command {
        Command::Trace(trace) => {
            let otlp = &settings.otlp;
            runtime.block_on(trace::run_trace(connection, trace, output, otlp, &log, out))
        }
        Command::Render(render) => render::run_render(render, output, &settings.otlp, &log, out),
        Command::Check(check) => runtime.block_on(crate::ci::check::run_check(
            connection,
            check,
            output.format,
            &log,
            out,
        )),
        Command::Demo(demo) => {
            runtime.block_on(demo::run_demo(connection, demo, output, &log, out))
        }
        Command::Listen(listen) => {
            let otlp = &settings.otlp;
            runtime.block_on(listen::run_listen(
                connection, listen, output, otlp, &log, out,
            ))
        }
        Command::Probe(probe) => runtime.block_on(probe::run(connection, probe, &log, out)),
        Command::Completions(shell) => {
            crate::cli::shell::completions(*shell, out)?;
            Ok(Outcome::Complete)
        }
        Command::Man => {
            crate::cli::shell::man_page(out)?;
            Ok(Outcome::Complete)
        }
        Command::Topology(topology) => runtime.block_on(topology::run_topology(
            connection, topology, output, &log, out,
        )),
    }
}

/// Whether to color stdout: `always`, `never`, or under `auto` only on a terminal without
/// `NO_COLOR`.
pub(crate) fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Prints `report` in the chosen format; the outcome is complete or incomplete.
fn render_report(
    report: &TraceReport,
    output: &OutputOptions,
    span_headers: &[String],
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let renderer = otlp::renderer(output, span_headers);
    renderer.render(report, out)?;
    out.flush()?;
    Ok(if report.complete {
        Outcome::Complete
    } else {
        Outcome::Incomplete
    })
}

/// Prints each failed expectation on stderr; the outcome is a failed expectation when any
/// failed.
fn report_expectations(expectations: &[Expectation], report: &TraceReport) -> Outcome {
    let failures = expect::evaluate_all(expectations, report);
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

/// One `nats-trace: warning:` line on stderr, its text neutralised (it can quote the
/// network); a closed stderr is no reason to fail.
pub(crate) fn print_warning(text: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "nats-trace: warning: {}",
        crate::text::sanitize(text)
    );
}
