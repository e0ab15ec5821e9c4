//! Durable mode of `listen` (`--stream NAME --durable NAME`, see `docs/listen.md`): the trace
//! messages are read from a JetStream stream that captures the trace destinations, through a
//! durable pull consumer with explicit acknowledgement, instead of a core subscription.
//!
//! This module owns the JetStream side: checking that the account has JetStream, binding to
//! the stream (or creating it with `--create-stream` and documented limits) and checking its
//! subjects cover the listened ones, creating or updating the durable consumer (ack wait,
//! max ack pending), turning its deliveries into [`Incoming`] items, and the bookkeeping of
//! acknowledgements ([`Acks`]): a trace message is acknowledged only after the traced
//! message it belongs to was emitted (printed and flushed), a redelivered message that is
//! still pending or was acknowledged already is not added twice, and a late trace message of
//! a recently emitted traced message is acknowledged without starting a new one. The receive
//! loop ([`super::engine`]) decides when; this module never prints.
//!
//! Every request to the server is bounded by [`REQUEST_TIMEOUT`].

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::pin::Pin;
use std::time::Duration;

use async_nats::Subject;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::pull::Config as ConsumerConfig;
use async_nats::jetstream::consumer::pull::MessagesErrorKind;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use async_nats::jetstream::context::{AccountErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{Config as StreamConfig, DiscardPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use futures_util::{Stream, StreamExt};

use crate::error::Error;
use crate::verbose::Verbose;

/// The bound on every JetStream API request (stream and consumer info, create, the first pull).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Added to `--settle` for the default ack wait (see [`DurableSettings::ack_wait`]).
pub const ACK_WAIT_MARGIN: Duration = Duration::from_secs(30);
/// Trace messages per traced message the consumer allows unacknowledged (see
/// [`max_ack_pending`]).
pub const TRACES_PER_GROUP: i64 = 8;
/// How many recently acknowledged stream sequences and emitted traceparents are remembered.
pub const REMEMBERED: usize = 65_536;
/// Trace messages asked for in one pull request.
const BATCH: usize = 1_000;

/// `--stream`, `--durable`, `--create-stream` and their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableSettings {
    /// The stream that captures the trace destinations.
    pub stream: String,
    /// The durable consumer's name.
    pub consumer: String,
    /// `--create-stream`: create the stream with these limits when it does not exist.
    pub create: Option<StreamLimits>,
    /// `--ack-wait`: how long the server waits for an acknowledgement before redelivering;
    /// default `--settle` + [`ACK_WAIT_MARGIN`].
    pub ack_wait: Option<Duration>,
}

impl DurableSettings {
    /// The consumer's ack wait for a listener that settles after `settle`.
    pub fn ack_wait(&self, settle: Duration) -> Duration {
        self.ack_wait.unwrap_or(settle + ACK_WAIT_MARGIN)
    }
}

/// The limits of a stream `--create-stream` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// `--stream-max-age`: trace messages older than this are removed.
    pub max_age: Duration,
    /// `--stream-max-bytes`: past it the oldest trace messages are removed.
    pub max_bytes: u64,
    /// `--stream-replicas`: copies kept by a JetStream cluster (1, 3 or 5).
    pub replicas: usize,
}

/// The default stream limits: a day of trace messages, at most 1 GiB, one copy.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

impl Default for StreamLimits {
    fn default() -> StreamLimits {
        StreamLimits {
            max_age: DEFAULT_MAX_AGE,
            max_bytes: DEFAULT_MAX_BYTES,
            replicas: 1,
        }
    }
}

/// The consumer's `max_ack_pending` for `--max-pending` groups: room for
/// [`TRACES_PER_GROUP`] trace messages each, plus one pull batch.
pub fn max_ack_pending(max_pending: usize) -> i64 {
    let groups = i64::try_from(max_pending).unwrap_or(i64::MAX / TRACES_PER_GROUP);
    groups
        .saturating_mul(TRACES_PER_GROUP)
        .saturating_add(BATCH as i64)
}

/// One delivery of a trace message by the consumer: what acknowledging it needs.
#[derive(Debug)]
pub struct Delivery {
    /// Its sequence in the stream (the same on every redelivery).
    pub sequence: u64,
    reply: Subject,
}

/// What the source of trace messages yields.
#[derive(Debug)]
pub enum Incoming {
    /// A trace message; with its delivery when it came from the durable consumer.
    Message(async_nats::Message, Option<Delivery>),
    /// Something worth one warning line (a missed heartbeat); listening goes on.
    Warning(String),
}

/// A source of trace messages: a core subscription or the durable consumer.
pub type Source = Pin<Box<dyn Stream<Item = Result<Incoming, Error>> + Send>>;

/// Binds to (or creates) the stream and the durable consumer and starts pulling.
pub async fn open(
    client: &async_nats::Client,
    settings: &DurableSettings,
    subjects: &[String],
    (settle, max_pending): (Duration, usize),
    log: &Verbose,
) -> Result<Source, Error> {
    let ack_wait = settings.ack_wait(settle);
    if ack_wait <= settle {
        return Err(Error::Usage(format!(
            "--ack-wait ({ack_wait:?}) must be longer than --settle ({settle:?}): else the server delivers trace messages of pending groups again"
        )));
    }
    let mut context = jetstream::new(client.clone());
    context.set_timeout(REQUEST_TIMEOUT);
    check_jetstream(&context).await?;
    let stream = bind_stream(&context, settings, subjects, log).await?;
    let config = consumer_config(settings, subjects, &stream, (settle, max_pending));
    let consumer = bounded(
        stream.create_consumer(config),
        "creating the durable consumer",
    )
    .await?
    .map_err(|e| {
        Error::Connect(format!(
            "cannot create durable consumer {} on stream {}: {e}",
            settings.consumer, settings.stream
        ))
    })?;
    log.say(format_args!(
        "reading stream {} through durable consumer {} (ack wait {:?}, max ack pending {})",
        settings.stream,
        settings.consumer,
        settings.ack_wait(settle),
        max_ack_pending(max_pending)
    ));
    let messages = bounded(
        consumer
            .stream()
            .max_messages_per_batch(BATCH)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages(),
        "starting to pull",
    )
    .await?
    .map_err(|e| {
        Error::Connect(format!(
            "cannot pull from consumer {}: {e}",
            settings.consumer
        ))
    })?;
    Ok(Box::pin(messages.map(incoming)))
}

/// A request bounded by [`REQUEST_TIMEOUT`] (the client's own bounds come on top).
async fn bounded<T>(request: impl Future<Output = T>, doing: &str) -> Result<T, Error> {
    tokio::time::timeout(REQUEST_TIMEOUT, request)
        .await
        .map_err(|_| Error::Connect(format!("the server did not answer while {doing}")))
}

/// The account has JetStream, else one clear line.
async fn check_jetstream(context: &Context) -> Result<(), Error> {
    let no_jetstream = || {
        Error::Connect(
            "--stream needs JetStream, and the server has none for this account (enable jetstream on the server and the account)".into(),
        )
    };
    match bounded(context.query_account(), "asking for JetStream").await? {
        Ok(_) => Ok(()),
        Err(e) => match e.kind() {
            AccountErrorKind::JetStreamUnavailable => Err(no_jetstream()),
            AccountErrorKind::JetStream(api)
                if [
                    ErrorCode::JETSTREAM_NOT_ENABLED,
                    ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT,
                ]
                .contains(&api.error_code()) =>
            {
                Err(no_jetstream())
            }
            _ => Err(Error::Connect(format!("cannot use JetStream: {e}"))),
        },
    }
}

/// The stream `settings` name: existing (its subjects must cover every listened subject),
/// or created with `--create-stream`.
async fn bind_stream(
    context: &Context,
    settings: &DurableSettings,
    subjects: &[String],
    log: &Verbose,
) -> Result<jetstream::stream::Stream, Error> {
    let name = &settings.stream;
    match bounded(context.get_stream(name), "looking up the stream").await? {
        Ok(stream) => {
            check_subjects(
                name,
                &stream.cached_info().config.subjects,
                subjects,
                settings,
            )?;
            log.say(format_args!("bound to existing stream {name}"));
            Ok(stream)
        }
        Err(e) if is_not_found(&e) => match settings.create {
            Some(limits) => create_stream(context, name, subjects, limits, log).await,
            None => Err(Error::Usage(format!(
                "stream {name} does not exist; give --create-stream to create it"
            ))),
        },
        Err(e) => Err(Error::Connect(format!("cannot look up stream {name}: {e}"))),
    }
}

fn is_not_found(error: &jetstream::context::GetStreamError) -> bool {
    matches!(error.kind(), GetStreamErrorKind::JetStream(api) if api.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// An existing stream must capture every listened subject; with `--create-stream`, its
/// subjects must be exactly the listened ones (it is the stream that option would create).
fn check_subjects(
    name: &str,
    stream_subjects: &[String],
    subjects: &[String],
    settings: &DurableSettings,
) -> Result<(), Error> {
    let listed = || stream_subjects.join(", ");
    if settings.create.is_some() {
        let have: HashSet<&String> = stream_subjects.iter().collect();
        let want: HashSet<&String> = subjects.iter().collect();
        if have != want {
            return Err(Error::Usage(format!(
                "stream {name} exists with subjects [{}], not [{}]: give another --stream name, or drop --create-stream to read it",
                listed(),
                subjects.join(", ")
            )));
        }
    }
    for subject in subjects {
        if !stream_subjects.iter().any(|s| covers(s, subject)) {
            return Err(Error::Usage(format!(
                "stream {name} does not capture {subject} (its subjects: [{}])",
                listed()
            )));
        }
    }
    Ok(())
}

/// True when every subject `subject` (a subscription subject) matches is matched by
/// `pattern`.
fn covers(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for wanted in pattern.split('.') {
        match (wanted, tokens.next()) {
            (">", Some(_)) => return true,
            (_, Some(">")) | (_, None) => return false,
            ("*", Some(_)) => {}
            (w, Some(t)) if w == t => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

/// `--create-stream`: a file-backed stream of the listened subjects with `limits`, discarding
/// the oldest trace messages when full.
async fn create_stream(
    context: &Context,
    name: &str,
    subjects: &[String],
    limits: StreamLimits,
    log: &Verbose,
) -> Result<jetstream::stream::Stream, Error> {
    let config = StreamConfig {
        name: name.to_string(),
        description: Some("trace messages for nats-trace listen".into()),
        subjects: subjects.to_vec(),
        max_age: limits.max_age,
        max_bytes: i64::try_from(limits.max_bytes).unwrap_or(i64::MAX),
        discard: DiscardPolicy::Old,
        storage: StorageType::File,
        num_replicas: limits.replicas,
        ..Default::default()
    };
    let created = bounded(context.create_stream(config), "creating the stream")
        .await?
        .map_err(|e| Error::Connect(format!("cannot create stream {name}: {e}")))?;
    log.say(format_args!(
        "created stream {name} on [{}]",
        subjects.join(", ")
    ));
    Ok(created)
}

/// The durable consumer: explicit acks, from the first stored message, filtered to the
/// listened subjects when the stream captures more.
fn consumer_config(
    settings: &DurableSettings,
    subjects: &[String],
    stream: &jetstream::stream::Stream,
    (settle, max_pending): (Duration, usize),
) -> ConsumerConfig {
    let mut config = ConsumerConfig {
        durable_name: Some(settings.consumer.clone()),
        description: Some("nats-trace listen".into()),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: settings.ack_wait(settle),
        max_ack_pending: max_ack_pending(max_pending),
        ..Default::default()
    };
    let stream_subjects: HashSet<&String> = stream.cached_info().config.subjects.iter().collect();
    if stream_subjects != subjects.iter().collect() {
        match subjects {
            [one] => config.filter_subject = one.clone(),
            many => config.filter_subjects = many.to_vec(),
        }
    }
    config
}

/// One item of the consumer's message stream.
fn incoming(
    item: Result<jetstream::Message, jetstream::consumer::pull::MessagesError>,
) -> Result<Incoming, Error> {
    match item {
        Ok(message) => {
            let sequence = message.info().map(|i| i.stream_sequence).map_err(|e| {
                Error::Connect(format!("a delivery without JetStream metadata: {e}"))
            })?;
            let mut message = message.message;
            let reply = message.reply.take();
            match reply {
                Some(reply) => Ok(Incoming::Message(
                    message,
                    Some(Delivery { sequence, reply }),
                )),
                None => Err(Error::Connect("a delivery without a reply subject".into())),
            }
        }
        Err(e) if e.kind() == MessagesErrorKind::MissingHeartbeat => Ok(Incoming::Warning(
            "missed a heartbeat of the durable consumer; still pulling".into(),
        )),
        Err(e) => Err(Error::Connect(format!(
            "reading from the durable consumer failed: {e}"
        ))),
    }
}

/// A set that remembers the last `capacity` values inserted.
#[derive(Debug)]
pub struct Recent<T> {
    set: HashSet<T>,
    order: VecDeque<T>,
    capacity: usize,
}

impl<T: Hash + Eq + Clone> Recent<T> {
    pub fn new(capacity: usize) -> Recent<T> {
        Recent {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub fn contains(&self, value: &T) -> bool {
        self.set.contains(value)
    }

    pub fn insert(&mut self, value: T) {
        if self.capacity == 0 || !self.set.insert(value.clone()) {
            return;
        }
        self.order.push_back(value);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
    }
}

/// How a delivery is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Done with: never deliver it again.
    Ack,
    /// Not emitted (listening ended while its group was pending): deliver it again now,
    /// to the next listener on this durable.
    Nak,
}

/// What the durable consumer's deliveries need: the answers to send (after the output they
/// follow was flushed), the stream sequences held in pending groups, and the recently
/// acknowledged sequences and emitted keys (of type `K`).
#[derive(Debug)]
pub struct Acks<K> {
    client: async_nats::Client,
    to_send: Vec<(Subject, Answer)>,
    pending: HashSet<u64>,
    acked: Recent<u64>,
    emitted: Recent<K>,
}

/// Whether a delivery is new to this listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    /// Redelivered while its group is still pending: ignored (the first delivery is kept).
    Pending,
    /// Redelivered after it was acknowledged (the acknowledgement was lost or late):
    /// acknowledged again, not added.
    Acked,
}

impl<K: Hash + Eq + Clone> Acks<K> {
    pub fn new(client: async_nats::Client) -> Acks<K> {
        Acks {
            client,
            to_send: Vec::new(),
            pending: HashSet::new(),
            acked: Recent::new(REMEMBERED),
            emitted: Recent::new(REMEMBERED),
        }
    }

    /// Whether `delivery` was seen; a new one is now held as pending, a re-acknowledged one is
    /// answered.
    pub fn arrived(&mut self, delivery: &Delivery) -> Seen {
        if self.pending.contains(&delivery.sequence) {
            return Seen::Pending;
        }
        if self.acked.contains(&delivery.sequence) {
            self.to_send.push((delivery.reply.clone(), Answer::Ack));
            return Seen::Acked;
        }
        self.pending.insert(delivery.sequence);
        Seen::New
    }

    /// True when `key` belongs to a traced message emitted recently.
    pub fn was_emitted(&self, key: &K) -> bool {
        self.emitted.contains(key)
    }

    /// `deliveries` are done with (their traced message was emitted, filtered out, or they
    /// could not be used); `key`, when given, is remembered as emitted.
    pub fn ack(&mut self, deliveries: Vec<Delivery>, key: Option<K>) {
        if let Some(key) = key {
            self.emitted.insert(key);
        }
        for delivery in deliveries {
            self.pending.remove(&delivery.sequence);
            self.acked.insert(delivery.sequence);
            self.to_send.push((delivery.reply, Answer::Ack));
        }
    }

    /// `deliveries` were not emitted: the server delivers them again at once.
    pub fn nak(&mut self, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            self.pending.remove(&delivery.sequence);
            self.to_send.push((delivery.reply, Answer::Nak));
        }
    }

    /// Sends the answers queued so far (publishes, then lets the client's task write them;
    /// `flush` also waits, bounded, until the server has them, as before exiting).
    pub async fn send(&mut self, flush: bool) -> Result<(), Error> {
        let sent = !self.to_send.is_empty();
        for (reply, answer) in self.to_send.drain(..) {
            let payload = match answer {
                Answer::Ack => "+ACK",
                Answer::Nak => "-NAK",
            };
            self.client
                .publish(reply, payload.into())
                .await
                .map_err(|e| Error::Connect(format!("cannot acknowledge a trace message: {e}")))?;
        }
        if sent && !flush {
            // The client writes from its own task: let it run now, so that acknowledgements
            // leave right after the output they follow, not after the next batch of trace
            // messages (see "the window" in docs/listen.md).
            tokio::task::yield_now().await;
        }
        if flush {
            bounded(self.client.flush(), "acknowledging")
                .await?
                .map_err(|e| Error::Connect(format!("cannot acknowledge trace messages: {e}")))?;
        }
        Ok(())
    }
}

/// `--stream-max-bytes`: a whole number of bytes, or with a suffix `K`, `M`, `G`, `T` (powers
/// of 1024; `KiB`, `MB`… are read the same).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("{text:?} is not a size (e.g. 1G, 512M, 1048576)")),
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{text:?} is not a size of at least one byte"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_subject_covers_what_it_captures() {
        assert!(covers("trace.app", "trace.app"));
        assert!(covers("trace.>", "trace.app"));
        assert!(covers("trace.>", "trace.*.x"));
        assert!(covers("trace.>", "trace.>"));
        assert!(covers("trace.*", "trace.*"));
        assert!(covers(">", "a.b"));
        assert!(!covers("trace.app", "trace.>"));
        assert!(!covers("trace.*", "trace.>"));
        assert!(!covers("trace.*", "trace.a.b"));
        assert!(!covers("trace.app", "trace"));
        assert!(!covers("trace.app.x", "trace.app"));
        assert!(!covers("trace.a", "trace.*"));
    }

    #[test]
    fn recent_forgets_the_oldest() {
        let mut recent = Recent::new(2);
        recent.insert(1);
        recent.insert(2);
        recent.insert(2);
        recent.insert(3);
        assert!(!recent.contains(&1));
        assert!(recent.contains(&2) && recent.contains(&3));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1Q").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn ack_pending_has_room_for_every_pending_group() {
        assert_eq!(max_ack_pending(10_000), 81_000);
        assert!(max_ack_pending(usize::MAX) > 0);
    }
}
