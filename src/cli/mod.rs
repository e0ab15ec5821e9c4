//! The command line: clap definitions only, no behaviour.

pub mod shell;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ci::expect::Expectation;
use crate::connect::secret::Secret;
use crate::render::Format;
use crate::trace::decode::Compression;

/// Show the path a message takes through a NATS network (NATS Server 2.11+ message tracing).
///
/// `nats-trace SUBJECT` is short for `nats-trace trace SUBJECT`; to trace a subject that is
/// also a command name, use the long form (`nats-trace trace demo`).
#[derive(Debug, Parser)]
#[command(name = "nats-trace", version, about, long_about)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub trace: Option<TraceArgs>,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trace one message and print the route it took.
    Trace(TraceArgs),
    /// Run a suite of routing checks (TOML or JSON) and report each case; for CI.
    Check(CheckArgs),
    /// Render trace messages saved by `--save` (or `--raw` output, or a JSON array) offline.
    Render(RenderArgs),
    /// Start a throwaway local topology (supercluster with a leafnode chain) and trace through it.
    Demo(DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) on stdout.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout: `nats-trace man | man -l -`.
    Man,
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// How to reach and authenticate with the NATS server (like the `nats` CLI). Flags win over
/// their environment variables, which win over the selected nats CLI context.
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectionArgs {
    /// NATS server URLs, comma separated [default: nats://127.0.0.1:4222].
    #[arg(
        short = 's',
        long = "server",
        env = "NATS_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub server: Option<String>,

    /// nats CLI context to use (default: the one selected with `nats context select`).
    #[arg(
        long,
        env = "NATS_CONTEXT",
        global = true,
        value_name = "NAME",
        help_heading = "Connection"
    )]
    pub context: Option<String>,

    /// Use no nats CLI context, not even the selected one.
    #[arg(
        long,
        global = true,
        conflicts_with = "context",
        help_heading = "Connection"
    )]
    pub no_context: bool,

    /// User name (with --password).
    #[arg(
        long,
        env = "NATS_USER",
        global = true,
        value_name = "USER",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub user: Option<String>,

    /// Password (with --user).
    #[arg(
        long,
        env = "NATS_PASSWORD",
        global = true,
        value_name = "PASSWORD",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub password: Option<Secret>,

    /// Authentication token.
    #[arg(
        long,
        env = "NATS_TOKEN",
        global = true,
        value_name = "TOKEN",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub token: Option<Secret>,

    /// User credentials file (JWT and nkey seed, as `nsc` writes it).
    #[arg(
        long,
        env = "NATS_CREDS",
        global = true,
        value_name = "FILE", value_parser = path_or_empty, hide_env_values = true,
        help_heading = "Connection"
    )]
    pub creds: Option<PathBuf>,

    /// File holding a user nkey seed.
    #[arg(
        long,
        env = "NATS_NKEY",
        global = true,
        value_name = "FILE", value_parser = path_or_empty, hide_env_values = true,
        help_heading = "Connection"
    )]
    pub nkey: Option<PathBuf>,

    /// TLS client certificate (PEM), for mutual TLS (with --tlskey).
    #[arg(
        long,
        env = "NATS_CERT",
        global = true,
        value_name = "FILE", value_parser = path_or_empty, hide_env_values = true,
        help_heading = "Connection"
    )]
    pub tlscert: Option<PathBuf>,

    /// TLS client private key (PEM), for mutual TLS (with --tlscert).
    #[arg(
        long,
        env = "NATS_KEY",
        global = true,
        value_name = "FILE", value_parser = path_or_empty, hide_env_values = true,
        help_heading = "Connection"
    )]
    pub tlskey: Option<PathBuf>,

    /// Certificate authorities to trust (PEM) instead of the system's.
    #[arg(
        long,
        env = "NATS_CA",
        global = true,
        value_name = "FILE", value_parser = path_or_empty, hide_env_values = true,
        help_heading = "Connection"
    )]
    pub tlsca: Option<PathBuf>,

    /// Do the TLS handshake before the server's greeting (servers with `handshake_first`).
    #[arg(long, alias = "tls-first", global = true, help_heading = "Connection")]
    pub tlsfirst: bool,

    /// Name of this connection, as servers and their traces show it.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "nats-trace",
        help_heading = "Connection"
    )]
    pub connection_name: Option<String>,

    /// Time allowed to connect, and to collect the traces (e.g. 5s, 500ms).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "5s", help_heading = "Connection")]
    pub timeout: Duration,

    /// Show what nats-trace is doing on stderr.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
}

/// What to trace.
#[derive(Debug, Args, Clone)]
pub struct TraceArgs {
    /// The subject to publish the traced message to.
    #[arg(value_name = "SUBJECT")]
    pub subject: String,

    /// The message body.
    #[arg(value_name = "PAYLOAD", default_value = "")]
    pub payload: String,

    /// Deliver the message to its subscribers too (default: trace only, deliver nothing).
    #[arg(long)]
    pub deliver: bool,

    /// Add a header to the traced message, as K:V (repeatable).
    #[arg(short = 'H', long = "header", value_name = "K:V", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    /// Compression the servers should use for their trace messages.
    #[arg(long, value_enum, default_value_t = Compression::Snappy)]
    pub compression: Compression,

    /// Print every decompressed trace message as `>>> {json}` before the tree.
    #[arg(long)]
    pub raw: bool,

    /// Also write every received trace message to FILE as JSON lines (for `nats-trace render`).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,

    /// A routing expectation that must hold, e.g. `egress.gateway>=1`, `latency<5ms`,
    /// `no-errors` (repeatable); exit 1 when one fails.
    #[arg(long = "expect", value_name = "EXPR", value_parser = parse_expectation)]
    pub expect: Vec<Expectation>,
}

/// What to render offline.
#[derive(Debug, Args, Clone)]
pub struct RenderArgs {
    /// Files of saved trace messages (`--save` JSON lines, a JSON array, or `--raw` output);
    /// standard input when none is given or for `-`.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// A routing expectation that must hold (repeatable, as for `trace`).
    #[arg(long = "expect", value_name = "EXPR", value_parser = parse_expectation)]
    pub expect: Vec<Expectation>,
}

/// A suite of routing checks to run.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// The suite file (`.toml` or `.json`).
    #[arg(value_name = "SUITE")]
    pub suite: PathBuf,

    /// How many cases to run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,

    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// How to print; shared by every command that renders a trace.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, global = true, default_value_t = Format::Tree)]
    pub format: Format,

    /// Short for `--format json`.
    #[arg(long, global = true, conflicts_with = "format")]
    pub json: bool,

    /// Tree format: prefix each line with the time since the message entered the previous server.
    #[arg(short = 'T', long = "timestamp", global = true)]
    pub timestamp: bool,

    /// When to use colors: auto honours NO_COLOR and is off when stdout is not a terminal.
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl OutputArgs {
    /// The chosen format, `--json` included.
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Keep the topology and its subscribers running after the trace, print the URLs, and
    /// stop everything on Ctrl-C or SIGTERM.
    #[arg(long)]
    pub keep: bool,
}

/// A path; an empty one (from an empty environment variable) counts as not given.
fn path_or_empty(text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(text))
}

fn parse_expectation(text: &str) -> Result<Expectation, String> {
    Expectation::parse(text)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text)
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once(':')
        .ok_or_else(|| format!("invalid header {text:?}: expected K:V"))?;
    let key = key.trim();
    if key.is_empty()
        || key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
    {
        return Err(format!("invalid header name {key:?}"));
    }
    if value.chars().any(|c| c == '\r' || c == '\n') {
        return Err(format!(
            "invalid header value for {key:?}: it has a line break"
        ));
    }
    Ok((key.to_string(), value.trim_start().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_form_traces() {
        let cli = Cli::try_parse_from([
            "nats-trace",
            "-s",
            "nats://h:4222",
            "orders.new",
            "hi",
            "-T",
        ])
        .expect("parses");
        let trace = cli.trace.expect("trace args");
        assert_eq!(trace.subject, "orders.new");
        assert_eq!(trace.payload, "hi");
        assert!(cli.output.timestamp);
        assert_eq!(cli.connection.server.as_deref(), Some("nats://h:4222"));
        assert!(cli.command.is_none());
    }

    #[test]
    fn the_long_form_takes_connection_options_anywhere() {
        let cli = Cli::try_parse_from([
            "nats-trace",
            "trace",
            "orders.new",
            "--timeout",
            "250ms",
            "-H",
            "A: b",
            "-H",
            "C:d",
        ])
        .expect("parses");
        assert_eq!(cli.connection.timeout, Duration::from_millis(250));
        match cli.command {
            Some(Command::Trace(t)) => {
                assert_eq!(
                    t.headers,
                    vec![("A".into(), "b".into()), ("C".into(), "d".into())]
                );
            }
            other => panic!("expected trace, got {other:?}"),
        }
    }

    #[test]
    fn render_options_are_shared_by_trace_and_render() {
        let cli = Cli::try_parse_from(["nats-trace", "x", "--json", "--save", "f.jsonl"])
            .expect("parses");
        assert_eq!(cli.output.format(), Format::Json);
        assert_eq!(
            cli.trace.and_then(|t| t.save),
            Some(PathBuf::from("f.jsonl"))
        );
        let cli = Cli::try_parse_from([
            "nats-trace",
            "render",
            "a.jsonl",
            "b.jsonl",
            "--format",
            "dot",
            "-T",
        ])
        .expect("parses");
        assert_eq!(cli.output.format(), Format::Dot);
        assert!(cli.output.timestamp);
        match cli.command {
            Some(Command::Render(r)) => assert_eq!(r.files.len(), 2),
            other => panic!("expected render, got {other:?}"),
        }
        let cli = Cli::try_parse_from(["nats-trace", "render"]).expect("parses");
        assert_eq!(cli.output.format(), Format::Tree);
        assert!(
            Cli::try_parse_from(["nats-trace", "render", "--json", "--format", "dot"]).is_err()
        );
        assert!(Cli::try_parse_from(["nats-trace", "render", "--format", "svg"]).is_err());
    }

    #[test]
    fn bad_headers_and_durations_are_usage_errors() {
        assert!(Cli::try_parse_from(["nats-trace", "x", "-H", "nocolon"]).is_err());
        assert!(Cli::try_parse_from(["nats-trace", "x", "--timeout", "soon"]).is_err());
        assert!(Cli::try_parse_from(["nats-trace"]).is_err());
    }
}
