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
    /// How many times the message was published.
    pub attempts: usize,
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

/// Why a received payload could not be used.
pub fn decode_and_parse(
    content_encoding: Option<&str>,
    payload: &[u8],
) -> Result<(String, TraceMessage), String> {
    let data = decode::decode(content_encoding, payload).map_err(|e| e.to_string())?;
    let message =
        TraceMessage::from_json(&data).map_err(|e| format!("malformed trace message: {e}"))?;
    let json = String::from_utf8(data).map_err(|_| "trace message is not UTF-8".to_string())?;
    Ok((json, message))
}

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

/// Publishes the probe and collects its trace messages until the tree is complete or the
/// timeout passes.
#[allow(clippy::too_many_lines)] // TODO(issue 12): split into named steps
pub async fn collect(
    conn: &mut Connection,
    probe: &Probe,
    log: &Verbose,
) -> Result<Collected, Error> {
    // Listen for Ctrl-C from now on: it ends the collection with what arrived.
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut interruptible = true;
    let mut interrupted = false;

    let started = Instant::now();
    let deadline = started + probe.timeout;
    let prefix = conn.client.new_inbox();
    let mut subscription = bounded(deadline, conn.client.subscribe(format!("{prefix}.*")))
        .await
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| Error::Connect(format!("cannot subscribe to the trace inbox: {e}")))?;
    bounded(deadline, conn.client.flush())
        .await
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| Error::Connect(format!("connection lost before publishing: {e}")))?;
    log.say(format_args!("listening for trace messages on {prefix}.*"));

    let mut attempts: Vec<Attempt> = Vec::new();
    let mut warnings = Vec::new();
    let mut publish_denied: Option<String> = None;
    let mut winner: Option<usize> = None;
    let mut can_retry = true;
    let mut received = 0usize;
    let mut received_bytes = 0usize;

    publish(conn, probe, &prefix, &mut attempts, log, deadline, true).await?;

    // The client reconnects quietly: a lost connection is noticed by looking at its state.
    let mut health = tokio::time::interval(CONNECTION_CHECK);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    while winner.is_none() {
        let retry_at = next_retry(probe, &attempts).filter(|_| can_retry);
        tokio::select! {
            _ = health.tick() => {
                if conn.client.connection_state() != async_nats::connection::State::Connected {
                    log.say(format_args!("connection lost after {:?}", started.elapsed()));
                    connection_lost(&attempts, &mut warnings)?;
                    break;
                }
            }
            message = subscription.next() => {
                let Some(message) = message else {
                    connection_lost(&attempts, &mut warnings)?;
                    break;
                };
                let subject = message.subject.to_string();
                let Some(index) = attempts.iter().position(|a| a.dest == subject) else {
                    continue;
                };
                received += 1;
                // Checked before decoding: the last message kept may pass the byte bound by
                // at most one message's size.
                if received > MAX_TRACE_MESSAGES || received_bytes >= MAX_COLLECTED_BYTES {
                    warnings.push(format!(
                        "stopped collecting: more than {MAX_TRACE_MESSAGES} trace messages or {} MiB arrived; showing the first {}",
                        MAX_COLLECTED_BYTES / (1024 * 1024),
                        received - 1
                    ));
                    break;
                }
                let headers: Vec<(String, String)> = message
                    .headers
                    .iter()
                    .flat_map(|h| h.iter())
                    .flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.to_string())))
                    .collect();
                let encoding = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(CONTENT_ENCODING_HEADER))
                    .map(|(_, v)| v.as_str());
                match decode_and_parse(encoding, &message.payload) {
                    Ok((json, trace)) => {
                        received_bytes = received_bytes.saturating_add(json.len());
                        if publish_denied.is_none() {
                            publish_denied = denied_by_trace(&trace, &probe.subject);
                        }
                        let attempt = &mut attempts[index];
                        log.say(format_args!(
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
                            winner = Some(index);
                        }
                    }
                    Err(why) => warnings.push(format!("ignored a trace message on {subject}: {why}")),
                }
            }
            Some(error) = conn.server_errors.recv() => {
                log.say(format_args!("server error: {error}"));
                match classify_server_error(&error, &probe.subject, &prefix) {
                    ServerErrorKind::Fatal(why) => return Err(Error::Permission(why)),
                    ServerErrorKind::PublishDenied(why) => publish_denied = Some(why),
                    ServerErrorKind::Other => warnings.push(format!("server error: {error}")),
                }
            }
            _ = sleep_until(retry_at.unwrap_or(deadline).into()), if retry_at.is_some() => {
                // Not flushed: waiting for the server's answer here would stop the loop from
                // noticing arrivals, a lost connection or Ctrl-C.
                if let Err(e) = publish(conn, probe, &prefix, &mut attempts, log, deadline, false).await {
                    warnings.push(format!("could not publish again: {e}"));
                    can_retry = false;
                }
            }
            _ = sleep_until(deadline.into()) => {
                log.say(format_args!("timeout after {:?}", probe.timeout));
                break;
            }
            signal = &mut interrupt, if interruptible => {
                if signal.is_ok() {
                    log.say(format_args!("interrupted after {:?}", started.elapsed()));
                    interrupted = true;
                    break;
                }
                // No signal handling here: Ctrl-C keeps its default effect.
                interruptible = false;
            }
        }
    }

    let elapsed = started.elapsed();
    let count = attempts.len();
    let chosen = winner.unwrap_or_else(|| best_attempt(&attempts));
    let attempt = attempts.swap_remove(chosen);
    if interrupted {
        warnings.push(format!(
            "interrupted: showing the {} trace message(s) received so far",
            attempt.traces.len()
        ));
    } else if attempt.stitcher.is_empty() {
        if let Some(why) = publish_denied {
            return Err(Error::Permission(why));
        }
        let mut detail = crate::duration::go_string_of(probe.timeout);
        if let Some(first) = warnings.first() {
            detail.push_str(&format!(" ({first})"));
        }
        return Err(Error::NothingArrived(detail));
    }
    log.say(format_args!(
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
        warnings,
        attempts: count,
        elapsed,
        publish_denied,
        interrupted,
    })
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

async fn publish(
    conn: &Connection,
    probe: &Probe,
    prefix: &str,
    attempts: &mut Vec<Attempt>,
    log: &Verbose,
    deadline: Instant,
    flush: bool,
) -> Result<(), Error> {
    let dest = format!("{prefix}.{}", attempts.len() + 1);
    let mut headers = async_nats::HeaderMap::new();
    for (key, value) in &probe.headers {
        headers.append(key.as_str(), value.as_str());
    }
    headers.insert(TRACE_DEST_HEADER, dest.as_str());
    if !probe.deliver {
        headers.insert(TRACE_ONLY_HEADER, "true");
    }
    if let Some(encoding) = probe.compression.accept_encoding() {
        headers.insert(ACCEPT_ENCODING_HEADER, encoding);
    }
    log.say(format_args!(
        "publishing to {} with {TRACE_DEST_HEADER}: {dest}{}",
        probe.subject,
        if probe.deliver { "" } else { ", trace only" }
    ));
    attempts.push(Attempt::new(dest));
    let publishing = conn.client.publish_with_headers(
        probe.subject.clone(),
        headers,
        probe.payload.clone().into(),
    );
    bounded(deadline, publishing)
        .await
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| Error::Connect(format!("cannot publish to {}: {e}", probe.subject)))?;
    if !flush {
        return Ok(());
    }
    bounded(deadline, conn.client.flush())
        .await
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| Error::Connect(format!("connection lost while publishing: {e}")))
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
