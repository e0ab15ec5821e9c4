//! `nats-trace listen`: trace real traffic. Servers trace the application's own messages
//! (W3C `traceparent` with the sampled flag, in an account with a `msg_trace` destination,
//! ADR-41 "Trace Context activation"; or ad-hoc `Nats-Trace-Dest` headers) and publish one
//! trace message per server to a destination subject. `listen` subscribes there and turns
//! the stream of trace messages back into traced messages:
//!
//! - [`group`]: which trace messages belong to one traced message (by `traceparent`, else
//!   by the subject they arrived on), bounded by `--max-pending`;
//! - [`engine`]: the receive loop — decode, mask, group, stitch, emit when complete or
//!   settled, the bounds (`--count`, `--duration`, Ctrl-C);
//! - [`filter`]: which emitted messages are shown (`--subject`, `--account`, `--via`, …);
//! - [`shape`]: a route's shape (servers and connection kinds, ids ignored), for the summary
//!   and later `probe`;
//! - [`summary`]: the bounded per-subject statistics printed at exit and every
//!   `--summary-every`;
//! - [`durable`]: durable mode (`--stream`, `--durable`): the trace messages come from a
//!   JetStream stream through a durable consumer, acknowledged once their message was emitted.
//!
//! Printing is the `listen` command's, through the [`Sink`] trait.

pub mod durable;
pub mod engine;
pub mod filter;
pub mod group;
pub mod shape;
pub mod summary;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::ci::expect::Expectation;
use crate::error::Error;
use crate::trace::collect::ReceivedTrace;
use crate::trace::report::TraceReport;

pub use durable::{DurableSettings, StreamLimits};
pub use filter::Filters;
pub use summary::Summary;

/// The default quiet period after which a traced message is emitted incomplete.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);
/// The default bound on traced messages in flight.
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// Everything `listen` needs besides the connection and output options.
#[derive(Debug, Clone)]
pub struct ListenSettings {
    /// The subjects to subscribe to (the positional SUBJECTs and `--dest`).
    pub subjects: Vec<String>,
    /// Emit a group incomplete after this long without a new trace message for it.
    pub settle: Duration,
    pub filters: Filters,
    pub bounds: Bounds,
    /// Expectations every emitted message must meet.
    pub expect: Vec<Expectation>,
    /// Print the summary this often too (besides at exit).
    pub summary_every: Option<Duration>,
    /// Print every trace message as `>>> {json}` as it arrives.
    pub raw: bool,
    /// Append every trace message to this file as JSON lines (`render` reads it).
    pub save: Option<PathBuf>,
    /// `--show-headers`: mask no header value.
    pub show_headers: bool,
    /// `--redact-header`: more header names whose values are masked.
    pub redact_headers: Vec<String>,
    /// `--stream`/`--durable`: read the trace messages from a JetStream stream through a
    /// durable consumer instead of subscribing.
    pub durable: Option<DurableSettings>,
    /// `--html-dir`: write one HTML page per emitted message into this directory.
    pub html_dir: Option<PathBuf>,
}

/// When listening ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Stop after this many messages were emitted (after the filters).
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Traced messages in flight; past it the least recently active is emitted incomplete.
    pub max_pending: usize,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            count: None,
            duration: None,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

/// Why a traced message was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Every server's trace arrived.
    Complete,
    /// No trace message for it arrived within `--settle`.
    Settled,
    /// A second origin trace arrived for the same key: the first message is emitted as it
    /// is and the second starts a new group.
    SecondOrigin,
    /// `--max-pending` was reached and it was the least recently active.
    Evicted,
    /// It reached the most trace messages one group keeps.
    Full,
    /// Listening ended (Ctrl-C, `--duration`) while it was pending.
    Ended,
}

impl Reason {
    /// Words for the header line.
    pub fn words(self) -> &'static str {
        match self {
            Reason::Complete => "complete",
            Reason::Settled => "settled",
            Reason::SecondOrigin => "a second message with the same key arrived",
            Reason::Evicted => "evicted (--max-pending)",
            Reason::Full => "too many trace messages",
            Reason::Ended => "listening ended",
        }
    }
}

/// One traced message, ready to print.
#[derive(Debug)]
pub struct Emitted {
    pub report: TraceReport,
    pub reason: Reason,
    /// The subject its first trace message arrived on.
    pub arrived_on: String,
    /// When its first trace message arrived.
    pub first_arrival: SystemTime,
    /// How many trace messages it is made of.
    pub traces: usize,
}

/// Where `listen` writes what it finds; the command implements it.
pub trait Sink {
    /// A traced message that passed the filters.
    fn message(&mut self, emitted: &Emitted) -> Result<(), Error>;
    /// A trace message as it arrived (headers masked), for `--raw` and `--save`.
    fn trace(&mut self, received: &ReceivedTrace) -> Result<(), Error>;
    /// One warning line (an unusable trace message, a server error).
    fn warning(&mut self, text: &str);
    /// The summary so far (`last`: at exit), flushed.
    fn summary(&mut self, summary: &Summary, last: bool) -> Result<(), Error>;
    /// Makes everything written so far reach the output. The engine calls it whenever no
    /// further trace message is ready, so output is immediate when traffic is light and
    /// written in batches (not one `write` per message) under load.
    fn flush(&mut self) -> Result<(), Error>;
}
