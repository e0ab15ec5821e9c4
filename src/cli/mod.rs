//! The command line: the clap definitions, and their conversion, once, into the plain
//! [`Settings`] every layer below takes ([`parse`], [`parse_from`]). This folder and
//! `main.rs` are the only places that name clap.
//!
//! Options that connect or print are global: they may come before or after the command name
//! (`nats-trace -s URL check suite.toml`). A first word that is not a command name is the
//! subject of the short form `nats-trace [OPTIONS] SUBJECT [PAYLOAD]`; `nats-trace trace
//! SUBJECT` traces a subject named like a command.

mod argv;
pub mod shell;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::ci::expect::Expectation;
use crate::connect::secret::Secret;
use crate::listen::{DurableSettings, StreamLimits};
use crate::render::Format;
use crate::settings::{
    CheckSettings, ColorChoice, Command as Run, ConnectionOptions, ContextChoice, DemoSettings,
    OutputOptions, RenderSettings, Settings, Shell, TraceSettings,
};
use crate::settings::{ExportSettings, OtlpSettings};
use crate::settings::{ListenBounds, ListenFilters, ListenSettings};
use crate::trace::collect::{Probe, TraceContext};
use crate::trace::decode::Compression;
use crate::trace::traceparent::TraceParent;

/// Parses this process's command line into settings.
pub fn parse() -> Result<Settings, clap::Error> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the program name first) into settings.
pub fn parse_from<I, T>(args: I) -> Result<Settings, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut command = Cli::command();
    let args = argv::with_command(&command, args.into_iter().map(Into::into).collect())?;
    let matches = command.try_get_matches_from_mut(args)?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
    cli.into_settings().map_err(|e| e.format(&mut command))
}

/// Show the path a message takes through a NATS network (NATS Server 2.11+ message tracing).
///
/// `nats-trace SUBJECT` is short for `nats-trace trace SUBJECT`; to trace a subject that is
/// also a command name, use the long form (`nats-trace trace demo`). Connection and output
/// options may come before or after the command name.
#[derive(Debug, Parser)]
#[command(name = "nats-trace", version, about, long_about)]
#[command(subcommand_negates_reqs = true)]
#[command(
    override_usage = "nats-trace [OPTIONS] <SUBJECT> [PAYLOAD]\n       nats-trace [OPTIONS] <COMMAND> [ARGS]"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub trace: Option<TraceArgs>,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Show what nats-trace is doing on stderr.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,
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
    /// Trace real traffic: listen on trace destinations and print the route of every traced
    /// message (W3C traceparent sampling or ad-hoc Nats-Trace-Dest) as it completes.
    Listen(ListenArgs),
    /// Run a check suite continuously and serve Prometheus metrics of its routes
    /// (/metrics, /probe?case=NAME, /healthz, /); see docs/probe.md.
    Probe(ProbeArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) on stdout.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout: `nats-trace man | man -l -`.
    Man,
    /// Discover the network (clusters, servers, routes, gateways, leafnodes) through the
    /// system account or the monitoring ports, and draw it; with --trace or --file, the
    /// path a message took on it. See docs/explain.md.
    Topology(TopologyArgs),
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: ShellArg,
}

/// How to reach and authenticate with the NATS server (like the `nats` CLI). Flags win over
/// their environment variables, which win over the selected nats CLI context. An empty
/// value (from an empty environment variable) counts as not given.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// NATS server URLs, comma separated [default: nats://127.0.0.1:4222].
    #[arg(
        short = 's',
        long = "server",
        env = "NATS_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub server: Option<String>,

    /// nats CLI context to use (default: the one selected with `nats context select`).
    #[arg(long, env = "NATS_CONTEXT", global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Use no nats CLI context, not even the selected one.
    #[arg(long, global = true, conflicts_with = "context")]
    pub no_context: bool,

    /// User name (with --password).
    #[arg(
        long,
        env = "NATS_USER",
        global = true,
        value_name = "USER",
        hide_env_values = true
    )]
    pub user: Option<String>,

    /// Password (with --user).
    #[arg(
        long,
        env = "NATS_PASSWORD",
        global = true,
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<Secret>,

    /// Authentication token.
    #[arg(
        long,
        env = "NATS_TOKEN",
        global = true,
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<Secret>,

    /// User credentials file (JWT and nkey seed, as `nsc` writes it).
    #[arg(long, env = "NATS_CREDS", global = true, value_name = "FILE", value_parser = path_or_empty, hide_env_values = true)]
    pub creds: Option<PathBuf>,

    /// File holding a user nkey seed.
    #[arg(long, env = "NATS_NKEY", global = true, value_name = "FILE", value_parser = path_or_empty, hide_env_values = true)]
    pub nkey: Option<PathBuf>,

    /// TLS client certificate (PEM), for mutual TLS (with --tlskey).
    #[arg(long, env = "NATS_CERT", global = true, value_name = "FILE", value_parser = path_or_empty, hide_env_values = true)]
    pub tlscert: Option<PathBuf>,

    /// TLS client private key (PEM), for mutual TLS (with --tlscert).
    #[arg(long, env = "NATS_KEY", global = true, value_name = "FILE", value_parser = path_or_empty, hide_env_values = true)]
    pub tlskey: Option<PathBuf>,

    /// Certificate authorities to trust (PEM) instead of the system's.
    #[arg(long, env = "NATS_CA", global = true, value_name = "FILE", value_parser = path_or_empty, hide_env_values = true)]
    pub tlsca: Option<PathBuf>,

    /// Do the TLS handshake before the server's greeting (servers with `handshake_first`).
    #[arg(long, alias = "tls-first", global = true)]
    pub tlsfirst: bool,

    /// Name of this connection, as servers and their traces show it.
    #[arg(long, global = true, value_name = "NAME", default_value = "nats-trace")]
    pub connection_name: String,

    /// Time allowed to connect, and to collect the traces (e.g. 5s, 500ms).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,
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

    /// Trace Context mode: publish with this W3C `traceparent` (a fresh sampled one when no
    /// VALUE is given) and no Nats-Trace-Dest, and collect the traces from the account's
    /// msg_trace destination (--dest). The message is delivered. See docs/trace-context.md.
    #[arg(
        long,
        value_name = "VALUE",
        num_args = 0..=1,
        default_missing_value = "",
        requires = "dest",
        value_parser = parse_traceparent
    )]
    pub traceparent: Option<TraceParent>,

    /// With --traceparent: the account's msg_trace destination subject, where the servers
    /// publish the traces.
    #[arg(long, value_name = "SUBJECT", requires = "traceparent")]
    pub dest: Option<String>,

    /// Add a header to the traced message, as K:V (repeatable).
    #[arg(short = 'H', long = "header", value_name = "K:V", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    /// Compression the servers should use for their trace messages.
    #[arg(long, value_enum, default_value_t = CompressionArg::Snappy)]
    pub compression: CompressionArg,

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

    /// Trace N times (mtr-style) and print per server and per link the arrivals, loss % and
    /// latency min/avg/p50/p99/max, and the route shapes seen with their counts (see
    /// docs/probe.md); `--format json` gives the same statistics.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub count: u32,

    /// With --count: the pause between two traces.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s", requires = "count")]
    pub interval: Duration,
    /// After the route, explain each finding (no interest, missing server, account
    /// boundary, JetStream) from the monitoring endpoints. See docs/explain.md.
    #[arg(long)]
    pub explain: bool,

    #[command(flatten)]
    pub system: SystemArgs,

    #[command(flatten)]
    pub otlp: OtlpArgs,
}

/// How to reach the monitoring endpoints (`topology`, `trace --explain`).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Monitoring endpoints")]
pub struct SystemArgs {
    /// A monitoring URL (e.g. http://host:8222) to ask over HTTP instead of the system
    /// account (repeatable, or comma separated).
    #[arg(long = "monitor", value_name = "URL", value_delimiter = ',')]
    pub monitor: Vec<String>,

    /// A nats CLI context of a system-account user, for `$SYS` requests.
    #[arg(long, value_name = "NAME", conflicts_with = "system_creds")]
    pub system_context: Option<String>,

    /// A system-account user's credentials file, for `$SYS` requests.
    #[arg(long, value_name = "FILE")]
    pub system_creds: Option<PathBuf>,
}

/// What `topology` discovers and draws.
#[derive(Debug, Args, Clone)]
pub struct TopologyArgs {
    #[command(flatten)]
    pub system: SystemArgs,

    /// Show each gateway's per-account interest mode.
    #[arg(long)]
    pub accounts: bool,

    /// Trace a message to SUBJECT (trace only) and draw its path on the network.
    #[arg(long, value_name = "SUBJECT", conflicts_with = "file")]
    pub trace: Option<String>,

    /// Draw the path of a saved trace (`--save` file) on the network.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl SystemArgs {
    fn into_access(self) -> crate::network::Access {
        crate::network::Access {
            monitor: self
                .monitor
                .into_iter()
                .filter(|u| !u.trim().is_empty())
                .collect(),
            system_context: non_empty(self.system_context),
            system_creds: non_empty_path(self.system_creds),
        }
    }
}

impl TopologyArgs {
    fn into_settings(self, timeout: Duration) -> crate::network::TopologySettings {
        crate::network::TopologySettings {
            access: self.system.into_access(),
            accounts: self.accounts,
            trace: self.trace.map(|subject| Probe {
                subject,
                payload: String::new(),
                headers: Vec::new(),
                deliver: false,
                compression: Compression::default(),
                timeout,
                context: None,
            }),
            file: self.file,
        }
    }
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

    #[command(flatten)]
    pub otlp: OtlpArgs,
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

    /// Also write the results as one self-contained HTML page to this file: each case with
    /// its verdict, its failures and its route (see docs/html.md).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Compare each case's route with its snapshot in FILE (JSON); a changed route fails
    /// its case (exit 1) and prints a diff. See docs/probe.md.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,

    /// With --snapshot: write the routes seen to FILE instead of comparing.
    #[arg(long, requires = "snapshot")]
    pub update_snapshots: bool,

    /// How much of a route a snapshot keeps: `cluster` (which server of a cluster is
    /// reached does not matter) or `server` (every server by name). Comparing uses the
    /// file's own level.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = SnapshotLevelArg::Cluster)]
    pub snapshot_level: SnapshotLevelArg,
}

/// `probe`: the suite to run continuously and where to serve its metrics (docs/probe.md).
#[derive(Debug, Args, Clone)]
pub struct ProbeArgs {
    /// The suite file (`.toml` or `.json`), as for `check`; a case may set its own
    /// `interval`.
    #[arg(value_name = "SUITE")]
    pub suite: PathBuf,

    /// Where to serve /metrics, /probe?case=NAME, /healthz and / (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = crate::probe::DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,

    /// How often each case runs (after its last probe ended).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub interval: Duration,

    /// How many cases run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,

    /// The one line per probe on stderr: text, or JSON lines.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormatArg::Text)]
    pub log_format: LogFormatArg,

    /// Count route changes against the routes in this snapshot file (`check
    /// --update-snapshots` writes it); without it, against the first route seen.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,

    /// Without --snapshot: how much of a route counts (`cluster` or `server`).
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = SnapshotLevelArg::Cluster)]
    pub snapshot_level: SnapshotLevelArg,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

/// `--snapshot-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotLevelArg {
    Cluster,
    Server,
}

impl From<SnapshotLevelArg> for crate::trace::route::SnapshotLevel {
    fn from(arg: SnapshotLevelArg) -> crate::trace::route::SnapshotLevel {
        match arg {
            SnapshotLevelArg::Cluster => crate::trace::route::SnapshotLevel::Cluster,
            SnapshotLevelArg::Server => crate::trace::route::SnapshotLevel::Server,
        }
    }
}

/// How to print; shared by every command that renders a trace.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, global = true, default_value_t = FormatArg::Tree)]
    pub format: FormatArg,

    /// Short for `--format json`.
    #[arg(long, global = true, conflicts_with = "format")]
    pub json: bool,

    /// Tree format: prefix each line with the time since the message entered the previous server.
    #[arg(short = 'T', long = "timestamp", global = true)]
    pub timestamp: bool,

    /// When to use colors: auto honours NO_COLOR and is off when stdout is not a terminal.
    #[arg(long, value_enum, global = true, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Keep the topology and its subscribers running after the trace, print the URLs, and
    /// stop everything on Ctrl-C or SIGTERM.
    #[arg(long)]
    pub keep: bool,

    /// With --keep: publish RATE sampled application messages per second (fresh W3C
    /// `traceparent`s), traced to the demo account's msg_trace destination `trace.demo`,
    /// for `nats-trace listen` in another terminal.
    #[arg(long, value_name = "RATE", requires = "keep", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub traffic: Option<u32>,
}

/// `listen`: where to listen, what to show, and when to stop (see docs/listen.md).
#[derive(Debug, Args, Clone)]
pub struct ListenArgs {
    /// Subjects to listen on for trace messages (wildcards allowed: `trace.>` also collects
    /// ad-hoc traces sent to subjects under it).
    #[arg(value_name = "SUBJECT")]
    pub subjects: Vec<String>,

    /// The account's trace destination (its `msg_trace { dest }`); listened on like SUBJECT.
    #[arg(long, value_name = "SUBJ")]
    pub dest: Option<String>,

    /// Show a message incomplete after this long without a new trace message for it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub settle: Duration,

    /// Show only messages whose origin subject matches PATTERN (NATS wildcards).
    #[arg(long = "subject", value_name = "PATTERN")]
    pub subject_filter: Option<String>,

    /// Show only messages that were in account NAME on some server.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,

    /// Show only messages that passed through server NAME (`--server` is the connection URL).
    #[arg(long, value_name = "SERVER")]
    pub via: Option<String>,

    /// Show only messages where a server reported an error.
    #[arg(long)]
    pub only_errors: bool,

    /// Show only messages whose route is incomplete.
    #[arg(long)]
    pub only_incomplete: bool,

    /// Show only messages whose latency (origin ingress to the last egress) is at least DURATION.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub min_latency: Option<Duration>,

    /// Stop after N messages were shown.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after DURATION (pending messages are shown incomplete).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Messages in flight at most; past it the least recently active is shown incomplete.
    #[arg(long, value_name = "N", default_value_t = crate::listen::DEFAULT_MAX_PENDING, value_parser = parse_positive)]
    pub max_pending: usize,

    /// A routing expectation every message must meet (repeatable, as for `trace`); a failure
    /// is one stderr line naming the message, and the exit code is 1.
    #[arg(long = "expect", value_name = "EXPR", value_parser = parse_expectation)]
    pub expect: Vec<Expectation>,

    /// Also print the summary every DURATION (it is always printed at exit).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub summary_every: Option<Duration>,

    /// Print every trace message as `>>> {json}` as it arrives (sensitive headers masked).
    #[arg(long)]
    pub raw: bool,

    /// Write every trace message to FILE as JSON lines, for `render` (sensitive headers masked).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,

    /// Mask the values of header NAME too (repeatable; case-insensitive). Authorization,
    /// cookies, API keys and names containing token, secret, password, session … are
    /// always masked (see docs/listen.md).
    #[arg(long = "redact-header", value_name = "NAME")]
    pub redact_headers: Vec<String>,

    /// Show every header value as it is: mask nothing.
    #[arg(long, conflicts_with = "redact_headers")]
    pub show_headers: bool,

    /// Write one self-contained HTML page per traced message into directory DIR (created
    /// when missing); needed by --format html (see docs/html.md).
    #[arg(long, value_name = "DIR")]
    pub html_dir: Option<PathBuf>,

    #[command(flatten)]
    pub durable: Box<DurableArgs>,

    #[command(flatten)]
    pub otlp: OtlpArgs,
}

/// OpenTelemetry export (see docs/otel.md); for `trace`, `render` and `listen`.
#[derive(Debug, Args, Clone, Default)]
pub struct OtlpArgs {
    /// Also send the hops as OpenTelemetry spans (OTLP/HTTP protobuf) to URL, e.g.
    /// http://localhost:4318/v1/traces; the output is unchanged. Default: the
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces
    /// (also read: OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _CERTIFICATE, _COMPRESSION,
    /// OTEL_SERVICE_NAME).
    /// A failed export is one warning line.
    #[arg(long, value_name = "URL", help_heading = "OpenTelemetry")]
    pub otlp_endpoint: Option<String>,

    /// Make message header NAME a span attribute too (repeatable; besides traceparent,
    /// tracestate and Nats-*); values of sensitive headers stay masked.
    #[arg(
        long = "otlp-header",
        value_name = "NAME",
        help_heading = "OpenTelemetry"
    )]
    pub otlp_headers: Vec<String>,
}

impl OtlpArgs {
    /// The OTLP settings: the endpoint from the flag or the environment.
    fn into_settings(self) -> Result<OtlpSettings, clap::Error> {
        let export = ExportSettings::resolve(self.otlp_endpoint, |name| std::env::var(name).ok())
            .map_err(|why| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{why}\n"))
        })?;
        Ok(OtlpSettings {
            export,
            span_headers: self.otlp_headers,
        })
    }
}

/// `listen --stream`: durable mode (see docs/listen.md, "Durable mode").
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Durable mode")]
pub struct DurableArgs {
    /// Read the trace messages from JetStream stream NAME (which captures the listened
    /// subjects) through the durable consumer --durable, acknowledging each message's trace
    /// messages after it was shown: a restarted listener loses and repeats nothing.
    #[arg(long, value_name = "NAME", requires = "durable", value_parser = parse_stream_name)]
    pub stream: Option<String>,

    /// The durable consumer's name (with --stream); one listener per durable.
    #[arg(long, value_name = "NAME", requires = "stream", value_parser = parse_stream_name)]
    pub durable: Option<String>,

    /// Create the --stream when it does not exist, on the listened subjects, file storage,
    /// discarding the oldest when a limit is reached.
    #[arg(long, requires = "stream")]
    pub create_stream: bool,

    /// With --create-stream: keep trace messages this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "24h", requires = "create_stream")]
    pub stream_max_age: Duration,

    /// With --create-stream: keep at most SIZE bytes of trace messages (e.g. 1G, 512M).
    #[arg(long, value_name = "SIZE", value_parser = crate::listen::durable::parse_size, default_value = "1G", requires = "create_stream")]
    pub stream_max_bytes: u64,

    /// With --create-stream: copies the JetStream cluster keeps (1, 3 or 5).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5), requires = "create_stream")]
    pub stream_replicas: u8,

    /// With --stream: how long the server waits for an acknowledgement before delivering a
    /// trace message again [default: --settle + 30s]; must be longer than --settle.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "stream")]
    pub ack_wait: Option<Duration>,
}

impl DurableArgs {
    /// The durable settings, when --stream was given.
    fn into_settings(self) -> Option<DurableSettings> {
        let create = self.create_stream.then_some(StreamLimits {
            max_age: self.stream_max_age,
            max_bytes: self.stream_max_bytes,
            replicas: usize::from(self.stream_replicas),
        });
        let ack_wait = self.ack_wait;
        self.stream
            .zip(self.durable)
            .map(|(stream, consumer)| DurableSettings {
                stream,
                consumer,
                create,
                ack_wait,
            })
    }
}

impl ListenArgs {
    /// The listen settings: the subjects (SUBJECTs, then --dest), filters, bounds.
    fn into_settings(self) -> ListenSettings {
        let mut subjects = self.subjects;
        subjects.extend(self.dest);
        ListenSettings {
            subjects,
            settle: self.settle,
            filters: ListenFilters {
                subject: self.subject_filter,
                account: self.account,
                via: self.via,
                only_errors: self.only_errors,
                only_incomplete: self.only_incomplete,
                min_latency: self.min_latency,
            },
            bounds: ListenBounds {
                count: self.count,
                duration: self.duration,
                max_pending: self.max_pending,
            },
            expect: self.expect,
            summary_every: self.summary_every,
            raw: self.raw,
            save: self.save,
            show_headers: self.show_headers,
            redact_headers: self.redact_headers,
            durable: self.durable.into_settings(),
            html_dir: self.html_dir,
        }
    }
}

/// `--format`: the output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// The route tree of the Go NATS CLI's `nats trace`, with legend and egress counts.
    Tree,
    /// One versioned JSON document (see `docs/output-formats.md` and `schema/`).
    Json,
    /// A Graphviz DOT digraph (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (for Markdown).
    Mermaid,
    /// OpenTelemetry spans: one OTLP/JSON export request per message (see `docs/otel.md`).
    Otlp,
    /// One self-contained HTML page: route graph, timeline, details, text tree (see
    /// `docs/html.md`). For `listen`, with `--html-dir DIR`.
    Html,
}

/// `--compression`: what the servers should compress their trace messages with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    Snappy,
    Gzip,
    None,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Format {
        match arg {
            FormatArg::Tree => Format::Tree,
            FormatArg::Json => Format::Json,
            FormatArg::Dot => Format::Dot,
            FormatArg::Mermaid => Format::Mermaid,
            FormatArg::Otlp => Format::Otlp,
            FormatArg::Html => Format::Html,
        }
    }
}

impl From<CompressionArg> for Compression {
    fn from(arg: CompressionArg) -> Compression {
        match arg {
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::None => Compression::None,
        }
    }
}

impl From<ColorArg> for ColorChoice {
    fn from(arg: ColorArg) -> ColorChoice {
        match arg {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        }
    }
}

/// `completions SHELL`: the shells clap_complete writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Elvish,
    Fish,
    #[value(name = "powershell")]
    PowerShell,
    Zsh,
}

impl From<ShellArg> for Shell {
    fn from(arg: ShellArg) -> Shell {
        match arg {
            ShellArg::Bash => Shell::Bash,
            ShellArg::Elvish => Shell::Elvish,
            ShellArg::Fish => Shell::Fish,
            ShellArg::PowerShell => Shell::PowerShell,
            ShellArg::Zsh => Shell::Zsh,
        }
    }
}

impl Cli {
    /// The settings this command line asks for.
    fn into_settings(self) -> Result<Settings, clap::Error> {
        let otlp = self.otlp_args().cloned();
        let otlp = otlp.map(OtlpArgs::into_settings).transpose()?;
        let connection = self.connection.into_options();
        let output = self.output.into_options();
        let command = match (self.command, self.trace) {
            (None, Some(trace)) => Run::Trace(trace.into_settings(connection.timeout)),
            (Some(command), None) => command.into_settings(connection.timeout),
            (Some(_), Some(_)) => return Err(trace_options_misplaced()),
            (None, None) => {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "nothing to do: give a subject to trace (see --help)\n",
                ));
            }
        };
        Ok(Settings {
            connection,
            output,
            verbose: self.verbose,
            command,
            otlp: otlp.unwrap_or_default(),
        })
    }

    /// The OpenTelemetry flags of the command, for those that have them.
    fn otlp_args(&self) -> Option<&OtlpArgs> {
        match (&self.command, &self.trace) {
            (None, Some(trace)) | (Some(Command::Trace(trace)), None) => Some(&trace.otlp),
            (Some(Command::Render(render)), None) => Some(&render.otlp),
            (Some(Command::Listen(listen)), None) => Some(&listen.otlp),
            _ => None,
        }
    }
}

/// The error for trace options given before another command's name (caught earlier by
/// [`argv::with_command`]; this is the backstop).
fn trace_options_misplaced() -> clap::Error {
    clap::Error::raw(
        clap::error::ErrorKind::ArgumentConflict,
        "options of `trace` cannot come before another command's name\n",
    )
}

impl Command {
    /// The settings of this command; `timeout` bounds a trace's collection.
    fn into_settings(self, timeout: Duration) -> Run {
        match self {
            Command::Trace(trace) => Run::Trace(trace.into_settings(timeout)),
            Command::Check(check) => Run::Check(CheckSettings {
                suite: check.suite,
                parallel: usize::from(check.parallel),
                junit: check.junit,
                html: check.html,
                snapshot: check
                    .snapshot
                    .map(|path| crate::ci::snapshot::SnapshotSettings {
                        path,
                        update: check.update_snapshots,
                        level: check.snapshot_level.into(),
                    }),
            }),
            Command::Render(render) => Run::Render(RenderSettings {
                files: render.files,
                expect: render.expect,
            }),
            Command::Demo(demo) => Run::Demo(DemoSettings {
                keep: demo.keep,
                traffic: demo.traffic,
            }),
            Command::Listen(listen) => Run::Listen(listen.into_settings()),
            Command::Probe(probe) => Run::Probe(crate::settings::ProbeSettings {
                suite: probe.suite,
                listen: probe.listen,
                interval: probe.interval,
                parallel: usize::from(probe.parallel),
                log_format: match probe.log_format {
                    LogFormatArg::Text => crate::settings::LogFormat::Text,
                    LogFormatArg::Json => crate::settings::LogFormat::Json,
                },
                snapshot: probe.snapshot,
                snapshot_level: probe.snapshot_level.into(),
            }),
            Command::Completions(args) => Run::Completions(args.shell.into()),
            Command::Man => Run::Man,
            Command::Topology(topology) => Run::Topology(topology.into_settings(timeout)),
        }
    }
}

impl TraceArgs {
    /// The trace request: the probe (collected within `timeout`) and what to do besides
    /// printing.
    fn into_settings(self, timeout: Duration) -> TraceSettings {
        TraceSettings {
            probe: Probe {
                subject: self.subject,
                payload: self.payload,
                headers: self.headers,
                deliver: self.deliver,
                compression: self.compression.into(),
                timeout,
                context: self
                    .traceparent
                    .zip(self.dest)
                    .map(|(traceparent, dest)| TraceContext { traceparent, dest }),
            },
            raw: self.raw,
            save: self.save,
            expect: self.expect,
            count: self.count,
            interval: self.interval,
            explain: self.explain.then(|| self.system.into_access()),
        }
    }
}

impl ConnectionArgs {
    /// The connection options, with empty values (from empty environment variables) dropped.
    fn into_options(self) -> ConnectionOptions {
        let context = match (self.no_context, non_empty(self.context)) {
            (true, _) => ContextChoice::None,
            (false, Some(name)) => ContextChoice::Named(name),
            (false, None) => ContextChoice::Selected,
        };
        ConnectionOptions {
            server: non_empty(self.server),
            context,
            user: non_empty(self.user),
            password: self.password.filter(|p| !p.is_empty()),
            token: self.token.filter(|t| !t.is_empty()),
            creds: non_empty_path(self.creds),
            nkey: non_empty_path(self.nkey),
            tls_cert: non_empty_path(self.tlscert),
            tls_key: non_empty_path(self.tlskey),
            tls_ca: non_empty_path(self.tlsca),
            tls_first: self.tlsfirst,
            connection_name: Some(self.connection_name),
            timeout: self.timeout,
        }
    }
}

impl OutputArgs {
    fn into_options(self) -> OutputOptions {
        OutputOptions {
            format: if self.json {
                Format::Json
            } else {
                self.format.into()
            },
            timestamps: self.timestamp,
            color: self.color.into(),
        }
    }
}

/// `None` for a missing or blank text.
fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// A path, where an empty one is allowed: an empty environment variable (`NATS_CREDS=`) is
/// not a usage error; [`non_empty_path`] drops it when making the settings.
fn path_or_empty(text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(text))
}

/// `None` for a missing or empty path.
fn non_empty_path(path: Option<PathBuf>) -> Option<PathBuf> {
    path.filter(|p| !p.as_os_str().is_empty())
}

fn parse_expectation(text: &str) -> Result<Expectation, String> {
    Expectation::parse(text)
}

/// A whole number of at least 1.
fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a whole number of at least 1")),
    }
}

/// `--traceparent VALUE`, validated by the W3C rules; without a value (empty), a fresh
/// sampled one.
fn parse_traceparent(text: &str) -> Result<TraceParent, String> {
    if text.is_empty() {
        return TraceParent::new_sampled()
            .map_err(|e| format!("cannot make a random traceparent: {e}"));
    }
    TraceParent::parse(text).map_err(|e| format!("invalid traceparent {text:?}: {e}"))
}

/// A JetStream stream or consumer name: no `.`, `*`, `>`, path separators or white space.
fn parse_stream_name(text: &str) -> Result<String, String> {
    let bad = text.is_empty()
        || text.len() > 255
        || text.chars().any(|c| {
            matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control()
        });
    if bad {
        return Err(format!(
            "{text:?} is not a JetStream name (no '.', '*', '>', '/', '\\' or spaces)"
        ));
    }
    Ok(text.to_string())
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
