//! The settings boundary: plain types that say what to run and how, made once from the
//! command line by the CLI layer (`src/cli/`) and taken by every layer below it. The settings a layer
//! owns are defined there and named here ([`ConnectionOptions`] in `connect`,
//! [`CheckSettings`] in `ci`, [`ListenSettings`] in `listen`), so that no layer below imports this module. Nothing here knows
//! the command-line parser, so a command can be run from a test, a benchmark or another
//! command without a command line.

use std::path::PathBuf;

use crate::ci::expect::Expectation;
use crate::render::Format;
use crate::trace::collect::Probe;

pub use crate::ci::check::CheckSettings;
pub use crate::connect::options::{ConnectionOptions, ContextChoice, DEFAULT_TIMEOUT};
pub use crate::export::{ExportSettings, OtlpSettings};
pub use crate::listen::{Bounds as ListenBounds, Filters as ListenFilters, ListenSettings};
pub use crate::network::{Access, TopologySettings};
pub use crate::probe::{LogFormat, ProbeSettings};

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connection: ConnectionOptions,
    pub output: OutputOptions,
    /// `-v`: say what nats-trace is doing, on stderr.
    pub verbose: bool,
    pub command: Command,
    /// OTLP export and span headers (`trace`, `render`, `listen`; default for the others).
    pub otlp: OtlpSettings,
}

/// What to run, with the settings of that command.
#[derive(Debug, Clone)]
pub enum Command {
    Trace(TraceSettings),
    Render(RenderSettings),
    Check(CheckSettings),
    Demo(DemoSettings),
    Listen(ListenSettings),
    Probe(ProbeSettings),
    Completions(Shell),
    Man,
    Topology(TopologySettings),
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
    /// `--count N`: trace this many times and print route statistics (1: one trace).
    pub count: u32,
    /// `--interval`: the pause between the traces of `--count`.
    pub interval: std::time::Duration,
    /// `--explain`: explain the findings through these monitoring endpoints.
    pub explain: Option<Access>,
}

/// `render`: saved trace messages to render offline.
#[derive(Debug, Clone)]
pub struct RenderSettings {
    /// The files to read; standard input when empty or for `-`.
    pub files: Vec<PathBuf>,
    /// Routing expectations that must hold.
    pub expect: Vec<Expectation>,
}

/// `demo`: the throwaway local topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoSettings {
    /// Keep the topology running after the trace, until Ctrl-C or SIGTERM.
    pub keep: bool,
    /// With `keep`: publish this many sampled application messages per second (with fresh
    /// `traceparent`s), traced to the demo account's destination, until stopped.
    pub traffic: Option<u32>,
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
