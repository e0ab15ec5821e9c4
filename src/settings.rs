//! The settings boundary: plain types that say what to run and how, made once from the
//! command line by [`crate::cli`] and taken by every layer below it. Nothing here knows
//! the command-line parser, so a command can be run from a test, a benchmark or another
//! command without a command line.

use std::path::PathBuf;
use std::time::Duration;

use crate::ci::expect::Expectation;
use crate::connect::secret::Secret;
use crate::render::Format;
use crate::trace::collect::Probe;

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: ConnectionOptions,
    pub output: OutputOptions,
    /// `-v`: say what nats-trace is doing, on stderr.
    pub verbose: bool,
    pub command: Command,
}

/// What to run, with the settings of that command.
#[derive(Debug, Clone)]
pub enum Command {
    Trace(TraceSettings),
    Render(RenderSettings),
    Check(CheckSettings),
    Demo(DemoSettings),
    Completions(Shell),
    Man,
}

/// `trace`: the message to trace and what to do with its trace messages besides printing.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// The message to publish and how to collect its traces.
    pub probe: Probe,
    /// Print every trace message as `>>> {json}` before the route.
    pub raw: bool,
    /// Also write the trace messages to this file as JSON lines.
    pub save: Option<PathBuf>,
    /// Routing expectations that must hold.
    pub expect: Vec<Expectation>,
}

/// `render`: saved trace messages to render offline.
#[derive(Debug, Clone)]
pub struct RenderSettings {
    /// The files to read; standard input when empty or for `-`.
    pub files: Vec<PathBuf>,
    /// Routing expectations that must hold.
    pub expect: Vec<Expectation>,
}

/// `check`: a suite of routing checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    pub suite: PathBuf,
    /// How many cases run at once (at least 1).
    pub parallel: usize,
    /// Where to write JUnit XML, if anywhere.
    pub junit: Option<PathBuf>,
}

/// `demo`: the throwaway local topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoSettings {
    /// Keep the topology running after the trace, until Ctrl-C or SIGTERM.
    pub keep: bool,
}

/// The shells `completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Elvish,
    Fish,
    PowerShell,
    Zsh,
}

/// Which nats CLI context to connect with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ContextChoice {
    /// The one selected with `nats context select`, if any.
    #[default]
    Selected,
    /// A context by name, or the path of a context `.json` file.
    Named(String),
    /// No context at all.
    None,
}

/// How to reach and authenticate with the servers, before merging over a context.
/// `None` means not given; empty values from the environment are `None` already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// Comma-separated server URLs.
    pub server: Option<String>,
    pub context: ContextChoice,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    /// A credentials file (user JWT and nkey seed).
    pub creds: Option<PathBuf>,
    /// A file holding a user nkey seed.
    pub nkey: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    /// The TLS handshake before the server's greeting.
    pub tls_first: bool,
    pub connection_name: Option<String>,
    /// Time allowed to connect.
    pub timeout: Duration,
}

/// The time allowed to connect and to collect when nothing says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for ConnectionOptions {
    fn default() -> ConnectionOptions {
        ConnectionOptions {
            server: None,
            context: ContextChoice::Selected,
            user: None,
            password: None,
            token: None,
            creds: None,
            nkey: None,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            tls_first: false,
            connection_name: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl ConnectionOptions {
    /// Options for a server that needs no credentials: this URL, no context.
    pub fn plain(url: String, connection_name: &str, timeout: Duration) -> ConnectionOptions {
        ConnectionOptions {
            server: Some(url),
            context: ContextChoice::None,
            connection_name: Some(connection_name.to_string()),
            timeout,
            ..ConnectionOptions::default()
        }
    }
}

/// How to print a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputOptions {
    pub format: Format,
    /// Tree format: prefix each line with the time since the previous server.
    pub timestamps: bool,
    pub color: ColorChoice,
}

/// When to color the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set and not empty.
    #[default]
    Auto,
    Always,
    Never,
}
