//! The receive loop of `listen`: subscribe to the trace destinations, then for each trace
//! message decode it ([`decode_and_parse`], bounded as for `trace`; a message that fails is
//! one warning), mask its sensitive headers, hand it to `--raw`/`--save`, add it to its group
//! and emit the group the moment its route is complete. A group with no new trace message for
//! `--settle` is emitted incomplete, as is the least recently active one when more than
//! `--max-pending` are in flight. Listening ends at `--count` emitted messages, after
//! `--duration`, or on Ctrl-C; on the last two the pending groups are emitted incomplete.
//!
//! Every wait is bounded: subscribing and flushing by the connection timeout, the loop by the
//! next settle time, `--duration`, `--summary-every` and Ctrl-C.
//!
//! Durable mode (`--stream`): the trace messages come from [`durable::open`] instead of
//! subscriptions; a group's trace messages are acknowledged after it was emitted (queued in
//! [`Acks`], sent at the top of the next loop turn, so after the output was flushed), a
//! redelivered or late trace message of an emitted group is acknowledged and not shown again,
//! and at the end the pending groups are not printed but handed back to the stream (`-NAK`)
//! for the next listener on the durable.

use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::SelectAll;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::sleep_until;

use super::durable::{self, Acks, Delivery, Incoming, Seen, Source};
use super::group::{Added, Group, GroupKey, Groups};
use super::{Emitted, ListenSettings, Reason, Sink, Summary};
use crate::connect::Connection;
use crate::error::Error;
use crate::trace::collect::{ReceivedTrace, content_encoding, decode_and_parse, header_pairs};
use crate::trace::event::TraceMessage;
use crate::trace::redact::Redactor;
use crate::trace::report::TraceReport;
use crate::verbose::Verbose;

/// How listening ended.
#[derive(Debug)]
pub struct Ended {
    /// Ctrl-C ended it.
    pub interrupted: bool,
    pub summary: Summary,
}

/// Listens as `settings` say on a connected client, writing to `sink`, until a bound ends it.
pub async fn listen(
    conn: &mut Connection,
    settings: &ListenSettings,
    sink: &mut dyn Sink,
    log: &Verbose,
) -> Result<Ended, Error> {
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let deadline = Instant::now() + settings.bounds.duration.unwrap_or(FOREVER);
    let mut messages = open_source(conn, settings, log).await?;
    let mut listener = Listener::new(settings, sink, log);
    if settings.durable.is_some() {
        listener.acks = Some(Acks::new(conn.client.clone()));
    }
    let interrupted = listener
        .receive(&mut messages, &mut conn.server_errors, deadline, interrupt)
        .await?;
    if listener.acks.is_some() {
        // The consumer's subscription goes first: a pull request of this listener still
        // waiting on the server would otherwise take the handed-back messages at once, and
        // they would wait for the ack wait instead of going to the next listener.
        drop(messages);
        listener.hand_back_pending().await?;
    } else if interrupted || !listener.count_reached() {
        listener.drain()?;
    }
    Ok(Ended {
        interrupted,
        summary: listener.summary,
    })
}

/// Trace messages handled between two flushes of the output at most.
const BATCH: usize = 256;

/// Far enough in the future to mean "never", small enough to add to an `Instant`.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The trace messages: from the durable consumer with `--stream`, else from subscriptions.
async fn open_source(
    conn: &Connection,
    settings: &ListenSettings,
    log: &Verbose,
) -> Result<Source, Error> {
    match &settings.durable {
        Some(durable) => {
            let bounds = (settings.settle, settings.bounds.max_pending);
            durable::open(&conn.client, durable, &settings.subjects, bounds, log).await
        }
        None => {
            let messages = subscribe(conn, &settings.subjects, log).await?;
            Ok(Box::pin(
                messages.map(|message| Ok(Incoming::Message(message, None))),
            ))
        }
    }
}

/// Subscribes to every subject and makes sure the server has the subscriptions.
async fn subscribe(
    conn: &Connection,
    subjects: &[String],
    log: &Verbose,
) -> Result<SelectAll<async_nats::Subscriber>, Error> {
    let client = &conn.client;
    let timeout = Duration::from_secs(10);
    let mut all = SelectAll::new();
    for subject in subjects {
        let subscriber = tokio::time::timeout(timeout, client.subscribe(subject.clone()))
            .await
            .map_err(|_| "the server did not answer".to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| Error::Connect(format!("cannot subscribe to {subject}: {e}")))?;
        all.push(subscriber);
        log.say(format_args!("listening for trace messages on {subject}"));
    }
    tokio::time::timeout(timeout, client.flush())
        .await
        .map_err(|_| "the server did not answer".to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| Error::Connect(format!("connection lost while subscribing: {e}")))?;
    Ok(all)
}

/// The state of one `listen` run.
struct Listener<'a> {
    settings: &'a ListenSettings,
    sink: &'a mut dyn Sink,
    log: &'a Verbose,
    groups: Groups,
    summary: Summary,
    redactor: Redactor,
    /// Messages emitted (after the filters).
    emitted: u64,
    /// Durable mode: the acknowledgements.
    acks: Option<Acks<GroupKey>>,
    /// Slow-consumer reports from the client library (trace messages it dropped).
    dropped_reports: u64,
}

impl<'a> Listener<'a> {
    fn new(settings: &'a ListenSettings, sink: &'a mut dyn Sink, log: &'a Verbose) -> Self {
        Listener {
            settings,
            sink,
            log,
            groups: Groups::new(),
            summary: Summary::new(),
            redactor: Redactor::new(settings.show_headers, &settings.redact_headers),
            emitted: 0,
            acks: None,
            dropped_reports: 0,
        }
    }

    /// Receives until `--count`, the deadline or Ctrl-C; true when Ctrl-C ended it.
    async fn receive(
        &mut self,
        messages: &mut Source,
        server_errors: &mut UnboundedReceiver<String>,
        deadline: Instant,
        mut interrupt: Pin<&mut impl Future<Output = std::io::Result<()>>>,
    ) -> Result<bool, Error> {
        let mut interruptible = true;
        let every = self.settings.summary_every.unwrap_or(FOREVER);
        let mut ticks = tokio::time::interval_at((Instant::now() + every).into(), every);
        while !self.count_reached() {
            self.send_acks(false).await?;
            let settle_at = self.groups.next_settle(self.settings.settle);
            tokio::select! {
                signal = &mut interrupt, if interruptible => {
                    if signal.is_ok() {
                        self.log.say(format_args!("interrupted"));
                        return Ok(true);
                    }
                    // Without signal handling, Ctrl-C keeps its default effect.
                    interruptible = false;
                }
                _ = sleep_until(deadline.into()) => break,
                message = messages.next() => match message {
                    Some(item) => self.on_ready(item, messages)?,
                    None => return Err(Error::Connect("the connection to the server was closed".into())),
                },
                Some(error) = server_errors.recv() => self.on_server_error(&error)?,
                _ = sleep_until(settle_at.unwrap_or(deadline).into()), if settle_at.is_some() => {
                    self.emit_settled()?;
                    self.sink.flush()?;
                }
                _ = ticks.tick(), if self.settings.summary_every.is_some() => {
                    self.sink.summary(&self.summary, false)?;
                }
            }
        }
        Ok(false)
    }

    fn count_reached(&self) -> bool {
        self.settings
            .bounds
            .count
            .is_some_and(|n| self.emitted >= n)
    }

    /// One trace message, unless it is a redelivery of one this listener holds or acknowledged.
    fn on_incoming(
        &mut self,
        message: async_nats::Message,
        delivery: Option<Delivery>,
    ) -> Result<(), Error> {
        if let (Some(acks), Some(d)) = (&mut self.acks, &delivery)
            && acks.arrived(d) != Seen::New
        {
            self.log.say(format_args!(
                "trace message {} redelivered; already held or acknowledged",
                d.sequence
            ));
            return Ok(());
        }
        self.on_message(message, delivery)
    }

    /// `first` and the items already waiting after it (at most [`BATCH`]), then one flush
    /// of the output: under load one write serves many messages.
    fn on_ready(
        &mut self,
        first: Result<Incoming, Error>,
        messages: &mut Source,
    ) -> Result<(), Error> {
        self.on_item(first)?;
        for _ in 1..BATCH {
            if self.count_reached() {
                break;
            }
            match messages.next().now_or_never() {
                Some(Some(item)) => self.on_item(item)?,
                // Nothing ready, or the stream ended (the loop notices that next).
                _ => break,
            }
        }
        self.sink.flush()
    }

    /// One item of the source: a trace message, or a warning about the source.
    fn on_item(&mut self, item: Result<Incoming, Error>) -> Result<(), Error> {
        match item? {
            Incoming::Message(message, delivery) => self.on_incoming(message, delivery),
            Incoming::Warning(warning) => {
                self.warning(&warning);
                Ok(())
            }
        }
    }

    /// One trace message: decoded, masked, passed on raw, grouped.
    fn on_message(
        &mut self,
        message: async_nats::Message,
        delivery: Option<Delivery>,
    ) -> Result<(), Error> {
        let subject = message.subject.to_string();
        let headers = header_pairs(&message);
        let (json, mut trace) = match decode_and_parse(content_encoding(&headers), &message.payload)
        {
            Ok(decoded) => decoded,
            Err(why) => {
                self.warning(&format!("ignored a trace message on {subject}: {why}"));
                self.done_with(delivery);
                return Ok(());
            }
        };
        let (key, traceparent) = GroupKey::of(&trace, &subject);
        if self.is_late(&key, &trace) {
            self.log.say(format_args!(
                "a late trace message of a message already shown; acknowledged, not shown again"
            ));
            self.done_with(delivery);
            return Ok(());
        }
        let masked = self.redactor.redact_message(&mut trace);
        if self.settings.raw || self.settings.save.is_some() {
            let json = if masked {
                self.redactor.redact_json(&json)
            } else {
                json
            };
            self.sink.trace(&ReceivedTrace {
                subject: subject.clone(),
                headers,
                json,
                received_at: SystemTime::now(),
            })?;
        }
        let added = self
            .groups
            .add_delivered(key, traceparent, trace, &subject, delivery);
        self.on_added(added)?;
        self.evict_past_bound()
    }

    /// Emits what adding a trace message completed or displaced.
    fn on_added(&mut self, added: Added) -> Result<(), Error> {
        match added {
            Added::Pending => Ok(()),
            Added::Complete(group) => self.emit(*group, Reason::Complete),
            Added::Full(group) => self.emit(*group, Reason::Full),
            Added::SecondOrigin { previous, current } => {
                self.log.say(format_args!(
                    "a second origin trace arrived for the key of a pending message; emitting the first"
                ));
                self.emit(*previous, Reason::SecondOrigin)?;
                match current {
                    Some(group) => self.emit(*group, Reason::Complete),
                    None => Ok(()),
                }
            }
        }
    }

    /// `--max-pending`: the least recently active group goes when there are too many.
    fn evict_past_bound(&mut self) -> Result<(), Error> {
        while self.groups.len() > self.settings.bounds.max_pending {
            match self.groups.take_oldest() {
                Some(group) => self.emit(group, Reason::Evicted)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Every group that has had no arrival for `--settle`.
    fn emit_settled(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        while let Some(group) = self.groups.take_settled(now, self.settings.settle) {
            self.emit(group, Reason::Settled)?;
        }
        Ok(())
    }

    /// At the end: every pending group, as it is.
    fn drain(&mut self) -> Result<(), Error> {
        while let Some(group) = self.groups.take_oldest() {
            self.emit(group, Reason::Ended)?;
        }
        Ok(())
    }

    /// Stitches `group` into a report and, when it passes the filters and `--count` allows,
    /// counts it and hands it to the sink.
    fn emit(&mut self, mut group: Group, reason: Reason) -> Result<(), Error> {
        if reason == Reason::Evicted {
            self.summary.evicted();
        }
        if self.count_reached() {
            self.hand_back(&mut group);
            return Ok(());
        }
        self.acknowledge(&mut group);
        let traces = group.stitcher.len();
        let mut report = TraceReport::from_graph(group.stitcher.finish());
        report.traceparent = group.traceparent.map(|tp| tp.to_string());
        if !self.settings.filters.pass(&report) {
            return Ok(());
        }
        let emitted = Emitted {
            report,
            reason,
            arrived_on: group.arrived_on,
            first_arrival: group.first_arrival,
            traces,
        };
        self.summary.record(&emitted);
        self.emitted += 1;
        self.sink.message(&emitted)
    }

    /// Durable mode: `group` is emitted (or filtered out), so its trace messages are done
    /// with, and its traceparent is remembered so late trace messages are not shown again.
    fn acknowledge(&mut self, group: &mut Group) {
        let key = group
            .traceparent
            .map(|tp| GroupKey::Context(tp.trace_id, tp.parent_id));
        let deliveries = std::mem::take(&mut group.deliveries);
        if let Some(acks) = &mut self.acks {
            acks.ack(deliveries, key);
        }
    }

    /// Durable mode: `group` is not emitted; the server delivers its trace messages again.
    fn hand_back(&mut self, group: &mut Group) {
        let deliveries = std::mem::take(&mut group.deliveries);
        if let Some(acks) = &mut self.acks {
            acks.nak(deliveries);
        }
    }

    /// Durable mode: a trace message that needs no group (unusable, or late) is done with.
    fn done_with(&mut self, delivery: Option<Delivery>) {
        if let (Some(acks), Some(delivery)) = (&mut self.acks, delivery) {
            acks.ack(vec![delivery], None);
        }
    }

    /// Durable mode: a trace message of a traced message emitted recently, which no pending
    /// group waits for, arrived late. Only keys of a `traceparent` are remembered, and an
    /// origin trace is always a new traced message.
    fn is_late(&self, key: &GroupKey, trace: &TraceMessage) -> bool {
        !trace.is_origin()
            && self.acks.as_ref().is_some_and(|acks| acks.was_emitted(key))
            && !self.groups.contains(key)
    }

    /// Durable mode, at the end: the pending groups are not printed but handed back to the
    /// stream, and every answer reaches the server before listening ends.
    async fn hand_back_pending(&mut self) -> Result<(), Error> {
        while let Some(mut group) = self.groups.take_oldest() {
            self.hand_back(&mut group);
        }
        self.send_acks(true).await
    }

    /// Durable mode: sends the queued answers (`flush`: and waits until the server has them).
    async fn send_acks(&mut self, flush: bool) -> Result<(), Error> {
        match &mut self.acks {
            Some(acks) => acks.send(flush).await,
            None => Ok(()),
        }
    }

    /// A server error on the connection: fatal when it refuses a subscription, else a warning.
    fn on_server_error(&mut self, error: &str) -> Result<(), Error> {
        if error == crate::connect::SLOW_CONSUMER {
            self.on_slow_consumer();
            return Ok(());
        }
        let lower = error.to_ascii_lowercase();
        if lower.contains("permissions violation") && lower.contains("subscription") {
            return Err(Error::Permission(format!(
                "no permission to subscribe to a trace destination ({})",
                crate::text::sanitize(error)
            )));
        }
        self.warning(&format!("server error: {error}"));
        Ok(())
    }

    /// The client dropped trace messages (listening fell behind): one warning line the first
    /// time, and each report counted as a warning in the summary (its count is a lower bound:
    /// the client library may drop reports too).
    fn on_slow_consumer(&mut self) {
        if self.dropped_reports == 0 {
            self.sink.warning(
                "listen fell behind and the client dropped trace messages (slow consumer); routes may be shown incomplete or split",
            );
        }
        self.dropped_reports += 1;
        self.summary.warning();
    }

    fn warning(&mut self, text: &str) {
        self.summary.warning();
        self.sink.warning(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::Bounds;

    /// A sink that keeps the warnings.
    #[derive(Default)]
    struct Warnings(Vec<String>);

    impl Sink for Warnings {
        fn message(&mut self, _: &Emitted) -> Result<(), Error> {
            Ok(())
        }
        fn trace(&mut self, _: &ReceivedTrace) -> Result<(), Error> {
            Ok(())
        }
        fn warning(&mut self, text: &str) {
            self.0.push(text.to_string());
        }
        fn summary(&mut self, _: &Summary, _: bool) -> Result<(), Error> {
            Ok(())
        }
        fn flush(&mut self) -> Result<(), Error> {
            Ok(())
        }
    }

    fn settings() -> ListenSettings {
        ListenSettings {
            subjects: vec!["trace.app".into()],
            settle: Duration::from_secs(1),
            filters: Default::default(),
            bounds: Bounds {
                count: None,
                duration: None,
                max_pending: 10,
            },
            expect: Vec::new(),
            summary_every: None,
            raw: false,
            save: None,
            show_headers: false,
            redact_headers: Vec::new(),
            durable: None,
            html_dir: None,
        }
    }

    #[test]
    fn dropped_trace_messages_warn_once_and_count_every_report() {
        let settings = settings();
        let log = Verbose::new(false);
        let mut sink = Warnings::default();
        let mut listener = Listener::new(&settings, &mut sink, &log);
        for _ in 0..3 {
            listener
                .on_server_error(crate::connect::SLOW_CONSUMER)
                .unwrap();
        }
        assert_eq!(listener.summary.to_json(true).warnings, 3);
        drop(listener);
        assert_eq!(sink.0.len(), 1, "{:?}", sink.0);
        assert!(sink.0[0].starts_with("listen fell behind"), "{:?}", sink.0);
    }
}
