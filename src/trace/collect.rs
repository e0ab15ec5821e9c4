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
//! With `--deliver` it never publishes twice.
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
use crate::verbose::Verbose;

/// The shortest quiet period before a trace-only attempt is repeated.
pub const MIN_GRACE: Duration = Duration::from_millis(5);
/// The most attempts of one trace-only message.
pub const MAX_ATTEMPTS: usize = 8;
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

/// One publish of the probe, to its own inbox subject, and what came back for it.
struct Attempt {
    dest: String,
    published_at: Instant,
    last_arrival: Option<Instant>,
    stitcher: Stitcher,
    traces: Vec<ReceivedTrace>,
}

impl Attempt {
    fn new(dest: String) -> Attempt {
        Attempt {
            dest,
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
/// timeout passes.
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
    collector.publish_attempt(true).await?;
    collector.receive(&mut subscription, interrupt).await?;
    collector.finish()
}

/// The state of one collection: the attempts published so far and what arrived for them.
struct Collector<'a> {
    conn: &'a mut Connection,
    probe: &'a Probe,
    log: &'a Verbose,
    /// The inbox prefix; attempt *n* is traced to `PREFIX.n`.
    prefix: String,
    started: Instant,
    deadline: Instant,
    attempts: Vec<Attempt>,
    warnings: Vec<String>,
    publish_denied: Option<String>,
    /// The first attempt whose tree is complete.
    winner: Option<usize>,
    /// False once a repeated publish failed: no more attempts.
    can_retry: bool,
    /// Trace messages and decompressed bytes received over all attempts, for the bounds.
    received: usize,
    received_bytes: usize,
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
            attempts: Vec::new(),
            warnings: Vec::new(),
            publish_denied: None,
            winner: None,
            can_retry: true,
            received: 0,
            received_bytes: 0,
            interrupted: false,
        }
    }

    /// Subscribes to `PREFIX.*` and makes sure the server has the subscription.
    async fn subscribe(&mut self) -> Result<async_nats::Subscriber, Error> {
        let client = &self.conn.client;
        let subscription = bounded(
            self.deadline,
            client.subscribe(format!("{}.*", self.prefix)),
        )
        .await
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| Error::Connect(format!("cannot subscribe to the trace inbox: {e}")))?;
        bounded(self.deadline, client.flush())
            .await
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| Error::Connect(format!("connection lost before publishing: {e}")))?;
        self.log.say(format_args!(
            "listening for trace messages on {}.*",
            self.prefix
        ));
        Ok(subscription)
    }

    /// Publishes the next attempt to its own inbox subject; `flush` waits for the server.
    async fn publish_attempt(&mut self, flush: bool) -> Result<(), Error> {
        let dest = format!("{}.{}", self.prefix, self.attempts.len() + 1);
        let headers = probe_headers(self.probe, &dest);
        self.log.say(format_args!(
            "publishing to {} with {TRACE_DEST_HEADER}: {dest}{}",
            self.probe.subject,
            if self.probe.deliver {
                ""
            } else {
                ", trace only"
            }
        ));
        self.attempts.push(Attempt::new(dest));
        let client = &self.conn.client;
        let subject = &self.probe.subject;
        let publishing = client.publish_with_headers(
            subject.clone(),
            headers,
            self.probe.payload.clone().into(),
        );
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
        connection_lost(&self.attempts, &mut self.warnings)?;
        Ok(Flow::Stop)
    }

    /// One message on the inbox (`None`: the subscription ended with the connection).
    fn on_message(&mut self, message: Option<async_nats::Message>) -> Result<Flow, Error> {
        let Some(message) = message else {
            connection_lost(&self.attempts, &mut self.warnings)?;
            return Ok(Flow::Stop);
        };
        let subject = message.subject.to_string();
        let Some(index) = self.attempts.iter().position(|a| a.dest == subject) else {
            return Ok(Flow::Continue);
        };
        if !self.within_bounds() {
            return Ok(Flow::Stop);
        }
        let headers = header_pairs(&message);
        let encoding = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(CONTENT_ENCODING_HEADER))
            .map(|(_, v)| v.as_str());
        match decode_and_parse(encoding, &message.payload) {
            Ok((json, trace)) => self.keep(index, subject, headers, json, trace),
            Err(why) => self
                .warnings
                .push(format!("ignored a trace message on {subject}: {why}")),
        }
        Ok(Flow::Continue)
    }

    /// Counts one more trace message; false (with a warning) once the bounds are passed.
    /// Checked before decoding: the last message kept may pass the byte bound by at most one
    /// message's size.
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

    /// Adds a decoded trace message to attempt `index`; that attempt wins when its tree is
    /// complete.
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
            "trace from server {:?} hop {:?} after {:?} (attempt {})",
            trace.server.name,
            trace.hop(),
            attempt.published_at.elapsed(),
            index + 1
        ));
        attempt.stitcher.add(trace);
        attempt.last_arrival = Some(Instant::now());
        attempt.traces.push(ReceivedTrace {
            subject,
            headers,
            json,
            received_at: SystemTime::now(),
        });
        if attempt.stitcher.is_complete() {
            self.winner = Some(index);
        }
    }

    /// An error the server reported on the connection: fatal when it denies the inbox,
    /// remembered when it denies the publish, else a warning.
    fn on_server_error(&mut self, error: &str) -> Result<Flow, Error> {
        self.log.say(format_args!("server error: {error}"));
        match classify_server_error(error, &self.probe.subject, &self.prefix) {
            ServerErrorKind::Fatal(why) => return Err(Error::Permission(why)),
            ServerErrorKind::PublishDenied(why) => self.publish_denied = Some(why),
            ServerErrorKind::Other => self.warnings.push(format!("server error: {error}")),
        }
        Ok(Flow::Continue)
    }

    /// Publishes another attempt. Not flushed: waiting for the server's answer here would
    /// stop the loop from noticing arrivals, a lost connection or Ctrl-C.
    async fn retry(&mut self) -> Flow {
        if let Err(e) = self.publish_attempt(false).await {
            self.warnings.push(format!("could not publish again: {e}"));
            self.can_retry = false;
        }
        Flow::Continue
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

    /// When to publish the next attempt, if ever.
    fn next_retry(&self) -> Option<Instant> {
        if !self.can_retry {
            return None;
        }
        next_retry(self.probe, &self.attempts)
    }

    /// The chosen attempt's traces, or the error when nothing usable arrived.
    fn finish(mut self) -> Result<Collected, Error> {
        let elapsed = self.started.elapsed();
        let count = self.attempts.len();
        let chosen = self.winner.unwrap_or_else(|| best_attempt(&self.attempts));
        let attempt = self.attempts.swap_remove(chosen);
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
            chosen + 1,
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
        })
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
fn header_pairs(message: &async_nats::Message) -> Vec<(String, String)> {
    message
        .headers
        .iter()
        .flat_map(|h| h.iter())
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.to_string())))
        .collect()
}

/// The probe's own headers and the trace headers for an attempt traced to `dest`.
fn probe_headers(probe: &Probe, dest: &str) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    for (key, value) in &probe.headers {
        headers.append(key.as_str(), value.as_str());
    }
    headers.insert(TRACE_DEST_HEADER, dest);
    if !probe.deliver {
        headers.insert(TRACE_ONLY_HEADER, "true");
    }
    if let Some(encoding) = probe.compression.accept_encoding() {
        headers.insert(ACCEPT_ENCODING_HEADER, encoding);
    }
    headers
}

/// The connection closed while collecting: an error when nothing arrived yet, else a warning
/// (what arrived is still shown).
fn connection_lost(attempts: &[Attempt], warnings: &mut Vec<String>) -> Result<(), Error> {
    if attempts.iter().all(|a| a.stitcher.is_empty()) {
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

/// When to publish another attempt, if ever.
fn next_retry(probe: &Probe, attempts: &[Attempt]) -> Option<Instant> {
    if probe.deliver || attempts.len() >= MAX_ATTEMPTS {
        return None;
    }
    let current = attempts.last()?;
    let last_event = current.last_arrival.unwrap_or(current.published_at);
    let taken = last_event.duration_since(current.published_at);
    let quiet = taken.max(MIN_GRACE) * (1 << (attempts.len() - 1));
    Some(last_event + quiet)
}

/// The attempt that got furthest: an origin first, then the most traces, then the earliest.
fn best_attempt(attempts: &[Attempt]) -> usize {
    let mut best = 0;
    for (index, attempt) in attempts.iter().enumerate() {
        let key = (attempt.stitcher.has_origin(), attempt.stitcher.len());
        let best_key = (
            attempts[best].stitcher.has_origin(),
            attempts[best].stitcher.len(),
        );
        if key > best_key {
            best = index;
        }
    }
    best
}

enum ServerErrorKind {
    /// The trace cannot work at all.
    Fatal(String),
    /// Publishing the message was denied; its trace may still report it.
    PublishDenied(String),
    Other,
}

fn classify_server_error(error: &str, subject: &str, prefix: &str) -> ServerErrorKind {
    let lower = error.to_ascii_lowercase();
    if !lower.contains("permissions violation") {
        return ServerErrorKind::Other;
    }
    let shown = crate::text::sanitize(error);
    if lower.contains("subscription") && error.contains(prefix) {
        ServerErrorKind::Fatal(format!(
            "no permission to subscribe to the trace inbox {prefix}.* ({shown})"
        ))
    } else if lower.contains("publish") && error.contains(prefix) {
        ServerErrorKind::Fatal(format!(
            "no permission to publish trace messages to the inbox {prefix}.* ({shown})"
        ))
    } else if lower.contains("publish") && error.contains(&format!("\"{subject}\"")) {
        ServerErrorKind::PublishDenied(format!("no permission to publish to {subject} ({shown})"))
    } else {
        ServerErrorKind::Other
    }
}
