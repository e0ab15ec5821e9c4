//! Publishing the traced message and collecting the servers' trace messages: a fresh inbox
//! prefix, the trace headers, a bounded deadline, and the completeness check after every
//! arrival, so that collection ends the moment the tree is complete.
//!
//! A new subscription's interest takes a moment to reach remote servers, so a remote
//! server can drop its trace when the message outruns the interest. The collector therefore
//! subscribes to `PREFIX.*` and publishes attempt *n* with `Nats-Trace-Dest: PREFIX.n`. When a
//! trace-only attempt is still incomplete after a quiet period (no arrival for as long as the
//! attempt has taken so far, at least [`MIN_GRACE`], doubling per attempt), it publishes
//! again; by then the wildcard's interest has propagated. The first complete attempt wins.
//!
//! A delivered message (`--deliver`, and every Trace Context probe) is published only once,
//! so re-publishing cannot rescue it. It is preceded by *warm-up* attempts: trace-only
//! copies, traced to the same collection subject, repeated as above until one is complete
//! (every server on the path could reach the collector), and only then is the real message
//! published, once. Warm-ups deliver nothing and are never chosen: their traces are told
//! apart by their own inbox subject, or in Trace Context mode by their attempt header.
//!
//! In Trace Context mode ([`TraceContext`]) the real message carries a sampled `traceparent`
//! and no `Nats-Trace-Dest`: the servers trace it to the account's `msg_trace` destination,
//! which the collector subscribes to. Other traffic's traces share that destination; only
//! those whose `request.header` carries this probe's `traceparent` and attempt id are kept.
//!
//! Every wait is bounded by the deadline. Collection also ends early, keeping what arrived,
//! on Ctrl-C ([`Collected::interrupted`]), when the connection closes, and when more than
//! [`MAX_TRACE_MESSAGES`] messages or [`MAX_COLLECTED_BYTES`] bytes arrived.

use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use tokio::time::sleep_until;

use crate::connect::Connection;
use crate::error::Error;
use crate::trace::decode::{self, Compression};
use crate::trace::event::{
    ACCEPT_ENCODING_HEADER, CONTENT_ENCODING_HEADER, TRACE_DEST_HEADER, TRACE_ONLY_HEADER,
    TraceMessage,
};
use crate::trace::stitch::Stitcher;
use crate::trace::traceparent::{TRACEPARENT_HEADER, TraceParent};
use crate::verbose::Verbose;

/// The shortest quiet period before a trace-only attempt is repeated.
pub const MIN_GRACE: Duration = Duration::from_millis(5);
/// The most attempts of one trace-only message, and the most warm-ups before a delivered one.
pub const MAX_ATTEMPTS: usize = 8;
/// The share of the timeout that warm-ups may take before the delivered message is
/// published anyway (the rest is left for its traces).
const WARMUP_SHARE: u32 = 2;
/// The header that names the attempt in Trace Context mode, where every attempt's traces
/// arrive on the same subject: `PREFIX.n`, unique to this run.
pub const ATTEMPT_HEADER: &str = "Nats-Trace-Attempt";
/// How often collection checks that the connection is still up.
const CONNECTION_CHECK: Duration = Duration::from_millis(50);
/// The most trace messages one collection keeps (over all attempts); one per server and
/// attempt is expected, so this is a network of tens of thousands of servers.
pub const MAX_TRACE_MESSAGES: usize = 100_000;
/// The decompressed bytes of trace messages after which one collection stops keeping more.
pub const MAX_COLLECTED_BYTES: usize = 256 * 1024 * 1024;

/// The message to trace and how.
#[derive(Debug, Clone)]
pub struct Probe {
    pub subject: String,
    pub payload: String,
    pub headers: Vec<(String, String)>,
    pub deliver: bool,
    pub compression: Compression,
    /// How long to wait for the traces.
    pub timeout: Duration,
    /// Trace Context mode: trace through the account's `msg_trace` destination.
    pub context: Option<TraceContext>,
}

/// Trace Context mode (`trace --traceparent --dest`): the message carries `traceparent`
/// instead of `Nats-Trace-Dest`, is always delivered, and its traces are collected from
/// the account's trace destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The `traceparent` the message carries (sampled unless the user chose otherwise).
    pub traceparent: TraceParent,
    /// The account's `msg_trace` destination, where the servers publish the traces.
    pub dest: String,
}

impl Probe {
    /// Whether the message is delivered to its subscribers, and so published only once.
    pub fn delivers(&self) -> bool {
        self.deliver || self.context.is_some()
    }

    /// The subject the collector subscribes to: the account's destination in Trace Context
    /// mode, else every attempt's inbox subject under `prefix`.
    fn collection_subject(&self, prefix: &str) -> String {
        match &self.context {
            Some(context) => context.dest.clone(),
            None => format!("{prefix}.*"),
        }
    }
}

/// One trace message as received, decompressed.
#[derive(Debug, Clone)]
pub struct ReceivedTrace {
    /// The subject it arrived on.
    pub subject: String,
    /// Its NATS headers (for example `Content-Encoding`).
    pub headers: Vec<(String, String)>,
    /// The decompressed payload: the server's JSON.
    pub json: String,
    /// When it arrived.
    pub received_at: SystemTime,
}

/// What came back from the servers for the chosen attempt.
#[derive(Debug)]
pub struct Collected {
    /// The trace messages of the chosen attempt, in arrival order.
    pub traces: Vec<ReceivedTrace>,
    /// The stitcher fed with them.
    pub stitcher: Stitcher,
    /// Messages that could not be decoded or parsed, one line each.
    pub warnings: Vec<String>,
    /// Time from the first publish to the end of collection.
    pub elapsed: Duration,
    /// Set when the server refused the publish for lack of permission: the origin's trace
    /// shows the refusal, and the run must still end as an error.
    pub publish_denied: Option<String>,
    /// True when Ctrl-C ended the collection: what arrived so far is kept.
    pub interrupted: bool,
    /// For a delivered message: how long the warm-ups took before it was published, and
    /// how many there were.
    pub warmup: Option<WarmUp>,
}

/// What preparing a delivered message's one publish cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmUp {
    /// From the first warm-up's publish to the real message's.
    pub elapsed: Duration,
    /// How many warm-up attempts were published.
    pub attempts: usize,
    /// Whether one of them was complete (else the real message went out when the warm-ups
    /// ran out of attempts or time).
    pub complete: bool,
}

impl Collected {
    pub fn is_complete(&self) -> bool {
        self.stitcher.is_complete()
    }
}

/// A received payload decoded by its `Content-Encoding` and parsed: its JSON text and the
/// trace message, or why it could not be used.
pub fn decode_and_parse(
    content_encoding: Option<&str>,
    payload: &[u8],
) -> Result<(String, TraceMessage), String> {
    let data = decode::decode(content_encoding, payload).map_err(|e| e.to_string())?;
    let malformed = |e: serde_json::Error| format!("malformed trace message: {e}");
    // UTF-8 checked once for the whole text (then not again string by string while parsing);
    // text that is not UTF-8 is parsed as bytes, for the same error as ever.
    match String::from_utf8(data) {
        Ok(json) => {
            let message = TraceMessage::from_json_str(&json).map_err(malformed)?;
            Ok((json, message))
        }
        Err(e) => match TraceMessage::from_json(e.as_bytes()) {
            Err(e) => Err(malformed(e)),
            Ok(_) => Err("trace message is not UTF-8".to_string()),
        },
    }
}

/// One publish of the probe, and what came back for it.
struct Attempt {
    /// `PREFIX.n`: its trace destination, or in Trace Context mode its [`ATTEMPT_HEADER`].
    id: String,
    kind: AttemptKind,
    published_at: Instant,
    last_arrival: Option<Instant>,
    stitcher: Stitcher,
    traces: Vec<ReceivedTrace>,
}

/// Whether an attempt may be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptKind {
    /// A trace-only copy published to open the way for a delivered message; never chosen.
    WarmUp,
    /// The message itself (each trace-only attempt, or the one delivered publish).
    Traced,
}

impl Attempt {
    fn new(id: String, kind: AttemptKind) -> Attempt {
        Attempt {
            id,
            kind,
            published_at: Instant::now(),
            last_arrival: None,
            stitcher: Stitcher::new(),
            traces: Vec::new(),
        }
    }
}

/// Whether collection goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Publishes the probe and collects its trace messages until the tree is complete or the
/// timeout passes. A delivered message is preceded by warm-ups (see the module doc).
pub async fn collect(
    conn: &mut Connection,
    probe: &Probe,
    log: &Verbose,
) -> Result<Collected, Error> {
    // Listen for Ctrl-C from now on: it ends the collection with what arrived.
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut collector = Collector::new(conn, probe, log);
    let mut subscription = collector.subscribe().await?;
    let first = if probe.delivers() {
        AttemptKind::WarmUp
    } else {
        AttemptKind::Traced
    };
    collector.publish_attempt(first, true).await?;
    collector.receive(&mut subscription, interrupt).await?;
    collector.finish()
}

/// The state of one collection: the attempts published so far and what arrived for them.
struct Collector<'a> {
    conn: &'a mut Connection,
    probe: &'a Probe,
    log: &'a Verbose,
    /// The inbox prefix; attempt *n* is `PREFIX.n`.
    prefix: String,
    started: Instant,
    deadline: Instant,
    /// When warm-ups give way to the delivered message, ready or not.
    warmup_deadline: Instant,
    attempts: Vec<Attempt>,
    warnings: Vec<String>,
    publish_denied: Option<String>,
    /// The first attempt whose tree is complete.
    winner: Option<usize>,
    /// A delivered message: set when a warm-up is complete and the message is to go out.
    real_due: bool,
    /// Whether a warm-up was complete.
    warmed: bool,
    warmup: Option<WarmUp>,
    /// False once a repeated publish failed: no more attempts.
    can_retry: bool,
    /// Trace messages and decompressed bytes received over all attempts, for the bounds.
    received: usize,
    received_bytes: usize,
    /// Trace Context mode: messages on the destination that were not this probe's, and
    /// those that could not be decoded (whose they were is unknown).
    others: usize,
    undecodable: usize,
    interrupted: bool,
}

impl<'a> Collector<'a> {
    fn new(conn: &'a mut Connection, probe: &'a Probe, log: &'a Verbose) -> Collector<'a> {
        let started = Instant::now();
        let prefix = conn.client.new_inbox();
        Collector {
            conn,
            probe,
            log,
            prefix,
            started,
            deadline: started + probe.timeout,
            warmup_deadline: started + probe.timeout / WARMUP_SHARE,
            attempts: Vec::new(),
            warnings: Vec::new(),
            publish_denied: None,
            winner: None,
            real_due: false,
            warmed: false,
            warmup: None,
            can_retry: true,
            received: 0,
            received_bytes: 0,
            others: 0,
            undecodable: 0,
            interrupted: false,
        }
    }

    /// Subscribes to the collection subject and makes sure the server has the subscription.
    async fn subscribe(&mut self) -> Result<async_nats::Subscriber, Error> {
        let client = &self.conn.client;
        let subject = self.probe.collection_subject(&self.prefix);
        let subscription = bounded(self.deadline, client.subscribe(subject.clone()))
            .await
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| Error::Connect(format!("cannot subscribe to {subject}: {e}")))?;
        bounded(self.deadline, client.flush())
            .await
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| Error::Connect(format!("connection lost before publishing: {e}")))?;
        self.log
            .say(format_args!("listening for trace messages on {subject}"));
        Ok(subscription)
    }

    /// Publishes the next attempt of `kind`; `flush` waits for the server.
    async fn publish_attempt(&mut self, kind: AttemptKind, flush: bool) -> Result<(), Error> {
        let id = format!("{}.{}", self.prefix, self.attempts.len() + 1);
        let headers = probe_headers(self.probe, kind, &id);
        self.say_publishing(kind, &id);
        if kind == AttemptKind::Traced && self.probe.delivers() {
            self.warmup_finished();
        }
        self.attempts.push(Attempt::new(id, kind));
        let client = &self.conn.client;
        let subject = &self.probe.subject;
        let payload = self.probe.payload.clone().into();
        let publishing = client.publish_with_headers(subject.clone(), headers, payload);
        bounded(self.deadline, publishing)
            .await
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| Error::Connect(format!("cannot publish to {subject}: {e}")))?;
        if !flush {
            return Ok(());
        }
        bounded(self.deadline, client.flush())
            .await
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| Error::Connect(format!("connection lost while publishing: {e}")))
    }

    /// `-v`: what is published, and where its traces go.
    fn say_publishing(&self, kind: AttemptKind, id: &str) {
        let how = match (kind, &self.probe.context) {
            (AttemptKind::WarmUp, None) => {
                format!("{TRACE_DEST_HEADER}: {id}, warm-up, trace only")
            }
            (AttemptKind::WarmUp, Some(c)) => {
                format!("{TRACE_DEST_HEADER}: {}, warm-up {id}, trace only", c.dest)
            }
            (AttemptKind::Traced, Some(c)) => {
                format!(
                    "{TRACEPARENT_HEADER}: {}, {ATTEMPT_HEADER}: {id}, delivered",
                    c.traceparent
                )
            }
            (AttemptKind::Traced, None) if self.probe.deliver => {
                format!("{TRACE_DEST_HEADER}: {id}, delivered")
            }
            (AttemptKind::Traced, None) => format!("{TRACE_DEST_HEADER}: {id}, trace only"),
        };
        self.log.say(format_args!(
            "publishing to {} with {how}",
            self.probe.subject
        ));
    }

    /// Records what the warm-ups cost, as the delivered message goes out.
    fn warmup_finished(&mut self) {
        let Some(first) = self.attempts.first() else {
            return;
        };
        let warmup = WarmUp {
            elapsed: first.published_at.elapsed(),
            attempts: self.attempts.len(),
            complete: self.warmed,
        };
        self.log.say(format_args!(
            "warm-up: {} attempt(s) in {:?}, complete: {}",
            warmup.attempts, warmup.elapsed, warmup.complete
        ));
        self.warmup = Some(warmup);
    }

    /// Waits for trace messages, server errors, retries, the deadline and Ctrl-C until an
    /// attempt is complete or collection must stop.
    async fn receive(
        &mut self,
        subscription: &mut async_nats::Subscriber,
        mut interrupt: Pin<&mut impl Future<Output = std::io::Result<()>>>,
    ) -> Result<(), Error> {
        let mut interruptible = true;
        // The client reconnects quietly: a lost connection is noticed by looking at its state.
        let mut health = tokio::time::interval(CONNECTION_CHECK);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while self.winner.is_none() {
            if self.real_due {
                self.real_due = false;
                self.publish_real().await;
                continue;
            }
            let retry_at = self.next_retry();
            let deadline = self.deadline;
            let flow = tokio::select! {
                _ = health.tick() => self.check_connection()?,
                message = subscription.next() => self.on_message(message)?,
                Some(error) = self.conn.server_errors.recv() => self.on_server_error(&error)?,
                _ = sleep_until(retry_at.unwrap_or(deadline).into()), if retry_at.is_some() => {
                    self.retry().await
                }
                _ = sleep_until(deadline.into()) => {
                    self.log.say(format_args!("timeout after {:?}", self.probe.timeout));
                    Flow::Stop
                }
                signal = &mut interrupt, if interruptible => {
                    // Without signal handling, Ctrl-C keeps its default effect.
                    interruptible = signal.is_ok();
                    self.on_interrupt(signal.is_ok())
                }
            };
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    /// Stops when the client lost its connection.
    fn check_connection(&mut self) -> Result<Flow, Error> {
        if self.conn.client.connection_state() == async_nats::connection::State::Connected {
            return Ok(Flow::Continue);
        }
        self.log.say(format_args!(
            "connection lost after {:?}",
            self.started.elapsed()
        ));
        connection_lost(self.has_traces(), &mut self.warnings)?;
        Ok(Flow::Stop)
    }

    /// Whether any trace of the message itself (not of a warm-up) arrived.
    fn has_traces(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| a.kind == AttemptKind::Traced && !a.stitcher.is_empty())
    }

    /// One message on the collection subject (`None`: the subscription ended with the
    /// connection).
    fn on_message(&mut self, message: Option<async_nats::Message>) -> Result<Flow, Error> {
        let Some(message) = message else {
            connection_lost(self.has_traces(), &mut self.warnings)?;
            return Ok(Flow::Stop);
        };
        let subject = message.subject.to_string();
        let by_subject = self.attempts.iter().position(|a| a.id == subject);
        if self.probe.context.is_none() && by_subject.is_none() {
            return Ok(Flow::Continue);
        }
        let headers = header_pairs(&message);
        let (json, trace) = match decode_and_parse(content_encoding(&headers), &message.payload) {
            Ok(decoded) => decoded,
            Err(why) => {
                self.on_undecodable(&subject, by_subject.is_some(), why);
                return Ok(Flow::Continue);
            }
        };
        let Some(index) = by_subject.or_else(|| self.attempt_by_header(&trace)) else {
            self.others += 1;
            return Ok(Flow::Continue);
        };
        if !self.within_bounds() {
            return Ok(Flow::Stop);
        }
        self.keep(index, subject, headers, json, trace);
        Ok(Flow::Continue)
    }

    /// A message that could not be decoded: a warning when it is known to be this probe's;
    /// in Trace Context mode, where it may be another message's, only counted.
    fn on_undecodable(&mut self, subject: &str, ours: bool, why: String) {
        if ours {
            self.warnings
                .push(format!("ignored a trace message on {subject}: {why}"));
        } else {
            self.log
                .say(format_args!("ignored a trace message on {subject}: {why}"));
            self.undecodable += 1;
        }
    }

    /// Trace Context mode: the attempt a trace message on the destination belongs to, by
    /// its [`ATTEMPT_HEADER`]; the message itself must also carry this probe's
    /// `traceparent`. `None` for other traffic's traces.
    fn attempt_by_header(&self, trace: &TraceMessage) -> Option<usize> {
        let context = self.probe.context.as_ref()?;
        let id = trace.request.header_value(ATTEMPT_HEADER)?;
        let index = self.attempts.iter().position(|a| a.id == id)?;
        if self.attempts[index].kind == AttemptKind::WarmUp {
            return Some(index);
        }
        let traceparent = trace.request.header_value(TRACEPARENT_HEADER)?;
        (TraceParent::parse(traceparent).ok()? == context.traceparent).then_some(index)
    }

    /// Counts one more trace message; false (with a warning) once the bounds are passed.
    /// The last message kept may pass the byte bound by at most one message's size.
    fn within_bounds(&mut self) -> bool {
        self.received += 1;
        if self.received <= MAX_TRACE_MESSAGES && self.received_bytes < MAX_COLLECTED_BYTES {
            return true;
        }
        self.warnings.push(format!(
            "stopped collecting: more than {MAX_TRACE_MESSAGES} trace messages or {} MiB arrived; showing the first {}",
            MAX_COLLECTED_BYTES / (1024 * 1024),
            self.received - 1
        ));
        false
    }

    /// Adds a decoded trace message to attempt `index`. A complete attempt of the message
    /// wins; a complete warm-up sends the delivered message on its way.
    fn keep(
        &mut self,
        index: usize,
        subject: String,
        headers: Vec<(String, String)>,
        json: String,
        trace: TraceMessage,
    ) {
        self.received_bytes = self.received_bytes.saturating_add(json.len());
        if self.publish_denied.is_none() {
            self.publish_denied = denied_by_trace(&trace, &self.probe.subject);
        }
        let attempt = &mut self.attempts[index];
        self.log.say(format_args!(
            "trace from server {:?} hop {:?} after {:?} (attempt {}{})",
            trace.server.name,
            trace.hop(),
            attempt.published_at.elapsed(),
            index + 1,
            if attempt.kind == AttemptKind::WarmUp {
                ", warm-up"
            } else {
                ""
            }
        ));
        attempt.stitcher.add(trace);
        attempt.last_arrival = Some(Instant::now());
        attempt.traces.push(ReceivedTrace {
            subject,
            headers,
            json,
            received_at: SystemTime::now(),
        });
        if !attempt.stitcher.is_complete() {
            return;
        }
        match attempt.kind {
            AttemptKind::Traced => self.winner = Some(index),
            AttemptKind::WarmUp => {
                self.warmed = true;
                self.real_due = !self.real_published();
            }
        }
    }

    /// Whether the delivered message went out already.
    fn real_published(&self) -> bool {
        self.attempts.iter().any(|a| a.kind == AttemptKind::Traced)
    }

    /// An error the server reported on the connection: fatal when it denies the inbox,
    /// remembered when it denies the publish, else a warning.
    fn on_server_error(&mut self, error: &str) -> Result<Flow, Error> {
        self.log.say(format_args!("server error: {error}"));
        let (collection, context) = match &self.probe.context {
            Some(context) => (context.dest.as_str(), true),
            None => (self.prefix.as_str(), false),
        };
        match classify_server_error(error, &self.probe.subject, collection, context) {
            ServerErrorKind::Fatal(why) => return Err(Error::Permission(why)),
            ServerErrorKind::PublishDenied(why) => self.publish_denied = Some(why),
            ServerErrorKind::DestinationDenied(why) => {
                // The servers drop the message: nothing can arrive, so stop now.
                self.warnings.push(why);
                return Ok(Flow::Stop);
            }
            ServerErrorKind::Other => self.warnings.push(format!("server error: {error}")),
        }
        Ok(Flow::Continue)
    }

    /// Publishes another attempt: a trace-only one again, another warm-up, or — when the
    /// warm-ups ran out of attempts or time — the delivered message. Not flushed: waiting
    /// for the server's answer here would stop the loop from noticing arrivals, a lost
    /// connection or Ctrl-C.
    async fn retry(&mut self) -> Flow {
        let kind = if !self.probe.delivers() {
            AttemptKind::Traced
        } else if self.attempts.len() < MAX_ATTEMPTS && Instant::now() < self.warmup_deadline {
            AttemptKind::WarmUp
        } else {
            return self.publish_real().await;
        };
        if let Err(e) = self.publish_attempt(kind, false).await {
            self.warnings.push(format!("could not publish again: {e}"));
            self.can_retry = false;
        }
        Flow::Continue
    }

    /// Publishes the delivered message, once; a failure ends the collection with an error
    /// warning (nothing of it can arrive).
    async fn publish_real(&mut self) -> Flow {
        match self.publish_attempt(AttemptKind::Traced, true).await {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.warnings
                    .push(format!("could not publish the message: {e}"));
                self.can_retry = false;
                Flow::Stop
            }
        }
    }

    /// Ctrl-C (`received`) ends the collection; a failed signal listener changes nothing.
    fn on_interrupt(&mut self, received: bool) -> Flow {
        if !received {
            return Flow::Continue;
        }
        self.log.say(format_args!(
            "interrupted after {:?}",
            self.started.elapsed()
        ));
        self.interrupted = true;
        Flow::Stop
    }

    /// When to publish the next attempt, if ever: a trace-only message is repeated while
    /// incomplete; a delivered one is warmed up until a warm-up is complete, then never
    /// repeated.
    fn next_retry(&self) -> Option<Instant> {
        if !self.can_retry {
            return None;
        }
        if !self.probe.delivers() {
            return (self.attempts.len() < MAX_ATTEMPTS)
                .then(|| quiet_retry(&self.attempts))
                .flatten();
        }
        if self.real_published() {
            return None;
        }
        quiet_retry(&self.attempts).map(|at| at.min(self.warmup_deadline))
    }

    /// The chosen attempt's traces, or the error when nothing usable arrived.
    fn finish(mut self) -> Result<Collected, Error> {
        let elapsed = self.started.elapsed();
        let count = self.attempts.len();
        let attempt = match self.chosen() {
            Some(chosen) => self.attempts.swap_remove(chosen),
            None => Attempt::new(String::new(), AttemptKind::Traced),
        };
        self.note_others();
        if self.interrupted {
            self.warnings.push(format!(
                "interrupted: showing the {} trace message(s) received so far",
                attempt.traces.len()
            ));
        } else if attempt.stitcher.is_empty() {
            return Err(self.nothing_arrived());
        }
        self.log.say(format_args!(
            "{} trace message(s) in {:?}, attempt {} of {}, complete: {}",
            attempt.traces.len(),
            elapsed,
            attempt.id.rsplit('.').next().unwrap_or_default(),
            count,
            attempt.stitcher.is_complete()
        ));
        Ok(Collected {
            traces: attempt.traces,
            stitcher: attempt.stitcher,
            warnings: self.warnings,
            elapsed,
            publish_denied: self.publish_denied,
            interrupted: self.interrupted,
            warmup: self.warmup,
        })
    }

    /// The attempt to show: the complete one, else the best of the message's own attempts
    /// (never a warm-up); `None` when the message itself was never published.
    fn chosen(&self) -> Option<usize> {
        self.winner.or_else(|| best_attempt(&self.attempts))
    }

    /// Trace Context mode, `-v`: how many other messages the destination carried meanwhile;
    /// a warning for those that could not be decoded (they may have been this probe's).
    fn note_others(&mut self) {
        let Some(context) = &self.probe.context else {
            return;
        };
        self.log.say(format_args!(
            "{} other trace message(s) on {} were not this message's",
            self.others, context.dest
        ));
        if self.undecodable > 0 {
            self.warnings.push(format!(
                "{} trace message(s) on {} could not be decoded (they may be other traffic's)",
                self.undecodable, context.dest
            ));
        }
    }

    /// The error when no trace message arrived: the refused publish, else the timeout with
    /// the first warning.
    fn nothing_arrived(self) -> Error {
        if let Some(why) = self.publish_denied {
            return Error::Permission(why);
        }
        let mut detail = crate::duration::go_string_of(self.probe.timeout);
        if let Some(first) = self.warnings.first() {
            detail.push_str(&format!(" ({first})"));
        }
        Error::NothingArrived(detail)
    }
}

/// The NATS headers of `message` as (name, value) pairs.
pub(crate) fn header_pairs(message: &async_nats::Message) -> Vec<(String, String)> {
    message
        .headers
        .iter()
        .flat_map(|h| h.iter())
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.to_string())))
        .collect()
}

/// The value of `Content-Encoding` among `headers`.
pub(crate) fn content_encoding(headers: &[(String, String)]) -> Option<&str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(CONTENT_ENCODING_HEADER))
        .map(|(_, v)| v.as_str())
}

/// The probe's own headers and the trace headers for attempt `id` of `kind`: ad hoc, traced
/// to `id` (a warm-up in Trace Context mode to the destination, naming itself in
/// [`ATTEMPT_HEADER`]); the Trace Context message with its `traceparent` and attempt id.
fn probe_headers(probe: &Probe, kind: AttemptKind, id: &str) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    for (key, value) in &probe.headers {
        headers.append(key.as_str(), value.as_str());
    }
    match (&probe.context, kind) {
        (None, _) => headers.insert(TRACE_DEST_HEADER, id),
        (Some(context), AttemptKind::WarmUp) => {
            headers.insert(TRACE_DEST_HEADER, context.dest.as_str());
            headers.insert(ATTEMPT_HEADER, id);
        }
        (Some(context), AttemptKind::Traced) => {
            headers.insert(TRACEPARENT_HEADER, context.traceparent.to_string().as_str());
            headers.insert(ATTEMPT_HEADER, id);
        }
    }
    if kind == AttemptKind::WarmUp || !probe.delivers() {
        headers.insert(TRACE_ONLY_HEADER, "true");
    }
    if let Some(encoding) = probe.compression.accept_encoding() {
        headers.insert(ACCEPT_ENCODING_HEADER, encoding);
    }
    headers
}

/// The connection closed while collecting: an error when nothing of the message arrived
/// yet (`has_traces` false), else a warning (what arrived is still shown).
fn connection_lost(has_traces: bool, warnings: &mut Vec<String>) -> Result<(), Error> {
    if !has_traces {
        return Err(Error::Connect(
            "the connection to the server was lost while collecting traces, before any trace message arrived".into(),
        ));
    }
    warnings.push(
        "the connection to the server was lost while collecting traces; showing what arrived before"
            .to_string(),
    );
    Ok(())
}

/// Waits for `future` until `deadline`.
async fn bounded<T>(deadline: Instant, future: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout_at(deadline.into(), future)
        .await
        .map_err(|_| "the server did not answer before the timeout".to_string())
}

/// The origin server reports a refused publish as its ingress error.
fn denied_by_trace(trace: &TraceMessage, subject: &str) -> Option<String> {
    let error = &trace.ingress()?.error;
    (trace.is_origin() && error.contains("Permissions Violation for Publish")).then(|| {
        format!(
            "no permission to publish to {subject} ({})",
            crate::text::sanitize(error)
        )
    })
}

/// When to publish after the last attempt: once it has been quiet for as long as it has
/// taken so far (at least [`MIN_GRACE`]), doubled per attempt.
fn quiet_retry(attempts: &[Attempt]) -> Option<Instant> {
    let current = attempts.last()?;
    let last_event = current.last_arrival.unwrap_or(current.published_at);
    let taken = last_event.duration_since(current.published_at);
    let quiet = taken.max(MIN_GRACE) * (1 << (attempts.len() - 1).min(16));
    Some(last_event + quiet)
}

/// The attempt of the message (never a warm-up) that got furthest: an origin first, then
/// the most traces, then the earliest.
fn best_attempt(attempts: &[Attempt]) -> Option<usize> {
    let mut best: Option<(usize, (bool, usize))> = None;
    for (index, attempt) in attempts.iter().enumerate() {
        if attempt.kind == AttemptKind::WarmUp {
            continue;
        }
        let key = (attempt.stitcher.has_origin(), attempt.stitcher.len());
        if best.is_none_or(|(_, best_key)| key > best_key) {
            best = Some((index, key));
        }
    }
    best.map(|(index, _)| index)
}

enum ServerErrorKind {
    /// The trace cannot work at all.
    Fatal(String),
    /// Publishing the message was denied; its trace may still report it.
    PublishDenied(String),
    /// Trace Context mode: the publisher may not publish to the trace destination, so the
    /// servers drop the message (nats-server 2.11.15 and later).
    DestinationDenied(String),
    Other,
}

/// What a server error means for a probe of `subject` collected on `collection`: the
/// inbox prefix (ad hoc) or the account's destination (`context`).
fn classify_server_error(
    error: &str,
    subject: &str,
    collection: &str,
    context: bool,
) -> ServerErrorKind {
    let lower = error.to_ascii_lowercase();
    if !lower.contains("permissions violation") {
        return ServerErrorKind::Other;
    }
    let shown = crate::text::sanitize(error);
    let quoted = |s: &str| error.contains(&format!("\"{s}\""));
    let names_collection = if context {
        quoted(collection)
    } else {
        error.contains(collection)
    };
    let what = if context {
        format!("the trace destination {collection}")
    } else {
        format!("the trace inbox {collection}.*")
    };
    if lower.contains("subscription") && names_collection {
        ServerErrorKind::Fatal(format!("no permission to subscribe to {what} ({shown})"))
    } else if lower.contains("publish") && names_collection && context {
        ServerErrorKind::DestinationDenied(format!("no permission to publish to {what} ({shown})"))
    } else if lower.contains("publish") && names_collection {
        ServerErrorKind::Fatal(format!(
            "no permission to publish trace messages to {what} ({shown})"
        ))
    } else if lower.contains("publish") && quoted(subject) {
        ServerErrorKind::PublishDenied(format!("no permission to publish to {subject} ({shown})"))
    } else {
        ServerErrorKind::Other
    }
}
