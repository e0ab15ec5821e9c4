//! The serde model of one server's trace message (`MsgTraceEvent` in nats-server's
//! `server/msgtrace.go`): the reporting server, the traced request's headers, the hop
//! count and the list of typed events. Event types this version does not know are kept
//! as raw JSON, never rejected.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Header naming the subject that receives trace messages.
pub const TRACE_DEST_HEADER: &str = "Nats-Trace-Dest";
/// Header asking the servers to trace without delivering.
pub const TRACE_ONLY_HEADER: &str = "Nats-Trace-Only";
/// Header each server adds when it forwards a traced message to another server.
pub const TRACE_HOP_HEADER: &str = "Nats-Trace-Hop";
/// Header asking the servers to compress their trace messages.
pub const ACCEPT_ENCODING_HEADER: &str = "Accept-Encoding";
/// Header a server sets on a compressed trace message.
pub const CONTENT_ENCODING_HEADER: &str = "Content-Encoding";

/// The most events one trace message may hold. A server reports one ingress, a few
/// mapping/import/JetStream events and one egress per connection it forwarded to, so even a
/// server forwarding to 100,000 subscribers and servers stays below this; a message with more
/// is refused as a whole (the rest of the trace is still shown). Without this bound a 16 MiB
/// message of tiny unknown events would take gigabytes once parsed.
pub const MAX_EVENTS_PER_TRACE: usize = 250_000;

/// The kind of a server connection, as nats-server numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnKind {
    Client,
    Router,
    Gateway,
    System,
    Leafnode,
    JetStream,
    Account,
    /// A number this version does not know.
    Other(i64),
}

impl ConnKind {
    pub fn from_number(n: i64) -> ConnKind {
        match n {
            0 => ConnKind::Client,
            1 => ConnKind::Router,
            2 => ConnKind::Gateway,
            3 => ConnKind::System,
            4 => ConnKind::Leafnode,
            5 => ConnKind::JetStream,
            6 => ConnKind::Account,
            other => ConnKind::Other(other),
        }
    }

    pub fn number(self) -> i64 {
        match self {
            ConnKind::Client => 0,
            ConnKind::Router => 1,
            ConnKind::Gateway => 2,
            ConnKind::System => 3,
            ConnKind::Leafnode => 4,
            ConnKind::JetStream => 5,
            ConnKind::Account => 6,
            ConnKind::Other(n) => n,
        }
    }

    /// The name the nats CLI gives this kind (`Client`, `Router`, …).
    pub fn name(self) -> &'static str {
        match self {
            ConnKind::Client => "Client",
            ConnKind::Router => "Router",
            ConnKind::Gateway => "Gateway",
            ConnKind::System => "System",
            ConnKind::Leafnode => "Leafnode",
            ConnKind::JetStream => "JetStream",
            ConnKind::Account => "Account",
            ConnKind::Other(_) => "Unknown Kind",
        }
    }

    /// The connection id label the server uses for this kind (`cid`, `rid`, …).
    pub fn id_label(self) -> &'static str {
        match self {
            ConnKind::Client => "cid",
            ConnKind::Router => "rid",
            ConnKind::Gateway => "gid",
            ConnKind::Leafnode => "lid",
            _ => "id",
        }
    }

    /// The arrow the nats CLI draws for an egress of this kind; empty for kinds it has none for.
    pub fn arrow(self) -> &'static str {
        match self {
            ConnKind::Client => "--C",
            ConnKind::Router => "-->",
            ConnKind::Gateway => "==>",
            ConnKind::Leafnode => "~~>",
            ConnKind::JetStream => "--J",
            _ => "",
        }
    }

    /// True for the connection kinds that lead to another server.
    pub fn is_server_link(self) -> bool {
        matches!(
            self,
            ConnKind::Router | ConnKind::Gateway | ConnKind::Leafnode
        )
    }
}

impl fmt::Display for ConnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ConnKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.number())
    }
}

impl<'de> Deserialize<'de> for ConnKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ConnKind::from_number(i64::deserialize(d)?))
    }
}

/// A timestamp as the server wrote it (RFC 3339, nanoseconds), with its parsed value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timestamp {
    /// The text as received.
    pub raw: String,
    /// Nanoseconds since the Unix epoch; `None` when the text is not RFC 3339 or is Go's zero time.
    pub unix_nanos: Option<i64>,
}

impl Timestamp {
    pub fn parse(raw: &str) -> Timestamp {
        let unix_nanos = chrono::DateTime::parse_from_rfc3339(raw)
            .ok()
            // Go's zero time.Time, "0001-01-01T00:00:00Z", means "not set"; times outside
            // 1678..2262 do not fit in i64 nanoseconds and are treated the same.
            .and_then(|t| t.timestamp_nanos_opt());
        Timestamp {
            raw: raw.to_string(),
            unix_nanos,
        }
    }

    /// Nanoseconds from `origin` to this timestamp, when both are known.
    pub fn since(&self, origin: &Timestamp) -> Option<i128> {
        Some(i128::from(self.unix_nanos?) - i128::from(origin.unix_nanos?))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Timestamp::parse(&raw))
    }
}

/// Information about the server that sent a trace message (nats-server `ServerInfo`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerInfo {
    #[serde(default)]
    pub name: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub host: CompactString,
    #[serde(default)]
    pub id: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub cluster: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub domain: CompactString,
    #[serde(default, rename = "ver")]
    pub version: CompactString,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub jetstream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
}

/// Message headers in the order received, names with their case preserved, one entry per
/// value (a name with several values appears several times in a row). A flat vector rather
/// than a map of lists: a trace carries a handful of headers, and thousands of traces must
/// stay compact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers(pub Vec<(CompactString, CompactString)>);

impl Headers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (name, value) pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The values of a header, by exact name.
    pub fn get(&self, name: &str) -> impl Iterator<Item = &str> {
        self.iter().filter(move |(k, _)| *k == name).map(|(_, v)| v)
    }
}

impl Serialize for Headers {
    /// As the server writes them: a map of names to lists of values.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        let mut rest = self.0.as_slice();
        while let Some((name, _)) = rest.first() {
            let run = rest.iter().take_while(|(k, _)| k == name).count();
            let values: Vec<&str> = rest[..run].iter().map(|(_, v)| v.as_str()).collect();
            map.serialize_entry(name, &values)?;
            rest = &rest[run..];
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> serde::de::Visitor<'de> for HeadersVisitor {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header names to lists of values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Headers, A::Error> {
                let mut headers = Vec::with_capacity(map.size_hint().unwrap_or(4).min(64));
                while let Some(name) = map.next_key::<CompactString>()? {
                    map.next_value_seed(HeaderValues {
                        name,
                        headers: &mut headers,
                    })?;
                }
                Ok(Headers(headers))
            }
        }
        d.deserialize_map(HeadersVisitor)
    }
}

/// Reads the list of values of header `name` straight into `headers`, one pair per value;
/// a name without values is kept, with an empty value.
struct HeaderValues<'h> {
    name: CompactString,
    headers: &'h mut Vec<(CompactString, CompactString)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for HeaderValues<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for HeaderValues<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of header values")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let first = self.headers.len();
        while let Some(value) = seq.next_element::<CompactString>()? {
            self.headers.push((self.name.clone(), value));
        }
        if self.headers.len() == first {
            self.headers.push((self.name, CompactString::default()));
        }
        Ok(())
    }
}

/// The traced request as the reporting server saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(from = "ReceivedRequest")]
pub struct TraceRequest {
    /// Headers, with their case preserved.
    #[serde(skip_serializing_if = "Headers::is_empty")]
    header: Headers,
    #[serde(rename = "msgsize")]
    pub msg_size: u64,
    /// The `Nats-Trace-Hop` header, found once when the request is made: the stitcher needs
    /// it for every trace, and the headers are not otherwise read.
    #[serde(skip)]
    hop: CompactString,
}

/// A request as it arrives, before its hop is looked up.
#[derive(Deserialize)]
struct ReceivedRequest {
    #[serde(default)]
    header: Headers,
    #[serde(default, rename = "msgsize")]
    msg_size: u64,
}

impl From<ReceivedRequest> for TraceRequest {
    fn from(received: ReceivedRequest) -> TraceRequest {
        TraceRequest::new(received.header, received.msg_size)
    }
}

impl TraceRequest {
    pub fn new(header: Headers, msg_size: u64) -> TraceRequest {
        let hop = header_value(&header, TRACE_HOP_HEADER)
            .unwrap_or_default()
            .into();
        TraceRequest {
            header,
            msg_size,
            hop,
        }
    }

    pub fn headers(&self) -> &Headers {
        &self.header
    }

    /// The first value of a header, looked up case-insensitively as NATS headers are.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        header_value(&self.header, name)
    }

    /// The `Nats-Trace-Hop` header; empty when there is none.
    pub fn hop(&self) -> &str {
        &self.hop
    }
}

/// The first value of header `name`: an exact match, else a case-insensitive one.
fn header_value<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.get(name).next().or_else(|| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// How the message entered the server (`in`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ingress {
    pub ts: Timestamp,
    pub kind: ConnKind,
    #[serde(default)]
    pub cid: u64,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub name: CompactString,
    #[serde(default, rename = "acc")]
    pub account: CompactString,
    #[serde(default, rename = "subj")]
    pub subject: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub error: CompactString,
}

/// A subject mapping changed the subject (`sm`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubjectMapping {
    pub ts: Timestamp,
    #[serde(default, rename = "to")]
    pub mapped_to: CompactString,
}

/// The message crossed a stream export into another account (`se`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamExport {
    pub ts: Timestamp,
    #[serde(default, rename = "acc")]
    pub account: CompactString,
    #[serde(default)]
    pub to: CompactString,
}

/// The message crossed a service import into another account (`si`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceImport {
    pub ts: Timestamp,
    #[serde(default, rename = "acc")]
    pub account: CompactString,
    #[serde(default)]
    pub from: CompactString,
    #[serde(default)]
    pub to: CompactString,
}

/// The message reached a JetStream stream (`js`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JetStream {
    pub ts: Timestamp,
    #[serde(default)]
    pub stream: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub subject: CompactString,
    #[serde(default, rename = "nointerest")]
    pub no_interest: bool,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub error: CompactString,
}

/// How the message left the server (`eg`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Egress {
    pub ts: Timestamp,
    pub kind: ConnKind,
    #[serde(default)]
    pub cid: u64,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub name: CompactString,
    /// The hop id the next server receives in `Nats-Trace-Hop`; empty for clients.
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub hop: CompactString,
    #[serde(
        default,
        rename = "acc",
        skip_serializing_if = "CompactString::is_empty"
    )]
    pub account: CompactString,
    #[serde(
        default,
        rename = "sub",
        skip_serializing_if = "CompactString::is_empty"
    )]
    pub subscription: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub queue: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub error: CompactString,
}

impl Egress {
    /// True when this egress forwarded the message to a server that should send its own trace.
    pub fn expects_trace(&self) -> bool {
        !self.hop.is_empty() && self.error.is_empty()
    }
}

/// One event in a server's trace message.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Ingress(Ingress),
    SubjectMapping(SubjectMapping),
    StreamExport(StreamExport),
    ServiceImport(ServiceImport),
    JetStream(JetStream),
    /// Kept in line with the other events: the stitched graph refers to it by position.
    Egress(Egress),
    /// An event type this version does not know, kept whole.
    Unknown {
        kind: String,
        raw: Value,
    },
}

impl Event {
    /// The `type` field of the event.
    pub fn type_name(&self) -> &str {
        match self {
            Event::Ingress(_) => "in",
            Event::SubjectMapping(_) => "sm",
            Event::StreamExport(_) => "se",
            Event::ServiceImport(_) => "si",
            Event::JetStream(_) => "js",
            Event::Egress(_) => "eg",
            Event::Unknown { kind, .. } => kind,
        }
    }

    /// The event's timestamp, when it has one.
    pub fn timestamp(&self) -> Option<Timestamp> {
        match self {
            Event::Ingress(e) => Some(e.ts.clone()),
            Event::SubjectMapping(e) => Some(e.ts.clone()),
            Event::StreamExport(e) => Some(e.ts.clone()),
            Event::ServiceImport(e) => Some(e.ts.clone()),
            Event::JetStream(e) => Some(e.ts.clone()),
            Event::Egress(e) => Some(e.ts.clone()),
            Event::Unknown { raw, .. } => {
                raw.get("ts").and_then(Value::as_str).map(Timestamp::parse)
            }
        }
    }
}

/// The typed event called `type_name`, read from `body` (the whole event object, or what is
/// left of it after its `type`); `None`, with `body` never made, for a type this version
/// does not know.
fn typed_event<'de, D: Deserializer<'de>>(
    type_name: &str,
    body: impl FnOnce() -> D,
) -> Option<Result<Event, D::Error>> {
    let event = match type_name {
        "in" => Ingress::deserialize(body()).map(Event::Ingress),
        "sm" => SubjectMapping::deserialize(body()).map(Event::SubjectMapping),
        "se" => StreamExport::deserialize(body()).map(Event::StreamExport),
        "si" => ServiceImport::deserialize(body()).map(Event::ServiceImport),
        "js" => JetStream::deserialize(body()).map(Event::JetStream),
        "eg" => Egress::deserialize(body()).map(Event::Egress),
        _ => return None,
    };
    Some(event.map_err(|e| serde::de::Error::custom(format!("bad \"{type_name}\" event: {e}"))))
}

impl Event {
    /// The event for a whole JSON value (the slow path, for an object whose `type` is not
    /// its first key, and for anything that is not an object, kept as an unknown event).
    fn from_value<E: serde::de::Error>(value: Value) -> Result<Event, E> {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match typed_event(&kind, || &value) {
            Some(event) => event.map_err(E::custom),
            None => Ok(Event::Unknown { kind, raw: value }),
        }
    }
}

/// Reads one event. nats-server writes `type` as the first key of every event, so the rest
/// of the object is deserialised straight into the typed event, without building a JSON
/// value first (most of the parsing time otherwise); any other shape takes the slow path.
struct EventVisitor;

impl<'de> serde::de::Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a trace event")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut seen = serde_json::Map::new();
        let Some(first) = map.next_key::<CompactString>()? else {
            return Event::from_value(Value::Object(seen));
        };
        let first_value: Value = map.next_value()?;
        if first == "type" {
            if let Value::String(type_name) = &first_value {
                let rest = &mut map;
                let rest = move || serde::de::value::MapAccessDeserializer::new(rest);
                if let Some(event) = typed_event(type_name, rest) {
                    return event;
                }
            }
        }
        seen.insert(first.into(), first_value);
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            seen.insert(key, value);
        }
        Event::from_value(Value::Object(seen))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Event, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Event::from_value(Value::Array(items))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Event, E> {
        Event::from_value(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Event, E> {
        Event::from_value(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Event, E> {
        Event::from_value(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Event, E> {
        Event::from_value(Value::from(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Event, E> {
        Event::from_value(Value::from(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Event, E> {
        Event::from_value(Value::Null)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EventVisitor)
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn tagged<T: Serialize, S: Serializer>(
            s: S,
            tag: &str,
            inner: &T,
        ) -> Result<S::Ok, S::Error> {
            let mut value = serde_json::to_value(inner).map_err(serde::ser::Error::custom)?;
            if let Value::Object(map) = &mut value {
                map.insert("type".to_string(), Value::String(tag.to_string()));
            }
            value.serialize(s)
        }
        match self {
            Event::Ingress(e) => tagged(s, "in", e),
            Event::SubjectMapping(e) => tagged(s, "sm", e),
            Event::StreamExport(e) => tagged(s, "se", e),
            Event::ServiceImport(e) => tagged(s, "si", e),
            Event::JetStream(e) => tagged(s, "js", e),
            Event::Egress(e) => tagged(s, "eg", e),
            Event::Unknown { raw, .. } => raw.serialize(s),
        }
    }
}

/// One server's trace message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TraceMessage {
    /// Boxed: the server's details are only read when rendering, and a small
    /// `TraceMessage` is cheap to move through the stitcher.
    #[serde(default)]
    pub server: Box<ServerInfo>,
    #[serde(default)]
    pub request: TraceRequest,
    /// How many other servers this server forwarded the message to.
    #[serde(default)]
    pub hops: u64,
    #[serde(default, deserialize_with = "bounded_events")]
    pub events: Vec<Event>,
}

/// A trace message's event list on its own, bounded as in [`TraceMessage`]: for readers that
/// take a trace message's fields one by one (saved lines, in `capture`).
pub(crate) struct EventList(pub(crate) Vec<Event>);

impl<'de> Deserialize<'de> for EventList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded_events(d).map(EventList)
    }
}

/// Deserialises the event list, failing as soon as it holds more than
/// [`MAX_EVENTS_PER_TRACE`] events, before they are all in memory.
fn bounded_events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Event>, D::Error> {
    struct Bounded;
    impl<'de> serde::de::Visitor<'de> for Bounded {
        type Value = Vec<Event>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of events")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<Event>, A::Error> {
            let mut events = SCRATCH_EVENTS.take();
            events.clear();
            while let Some(event) = seq.next_element()? {
                if events.len() == MAX_EVENTS_PER_TRACE {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_EVENTS_PER_TRACE} events in one trace message"
                    )));
                }
                events.push(event);
            }
            let mut exact = Vec::with_capacity(events.len());
            exact.append(&mut events);
            if events.capacity() <= SCRATCH_EVENTS_KEPT {
                SCRATCH_EVENTS.set(events);
            }
            Ok(exact)
        }
    }
    d.deserialize_seq(Bounded)
}

/// The most events the scratch list keeps room for between trace messages.
const SCRATCH_EVENTS_KEPT: usize = 4096;

thread_local! {
    /// Where a trace message's events are read before they move to a list of their exact
    /// size: the list of a message read from a stream would otherwise keep the room its
    /// growth left (twice the events, at worst), for as long as the trace is kept.
    static SCRATCH_EVENTS: std::cell::Cell<Vec<Event>> = const { std::cell::Cell::new(Vec::new()) };
}

impl TraceMessage {
    /// Parses a decompressed trace message.
    pub fn from_json(data: &[u8]) -> Result<TraceMessage, serde_json::Error> {
        serde_json::from_slice(data)
    }

    /// [`TraceMessage::from_json`] for text already known to be UTF-8, which is then not
    /// checked again string by string (the same result, faster).
    pub fn from_json_str(text: &str) -> Result<TraceMessage, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The ingress event: the first event, when it is one.
    pub fn ingress(&self) -> Option<&Ingress> {
        match self.events.first() {
            Some(Event::Ingress(ingress)) => Some(ingress),
            _ => None,
        }
    }

    /// The hop id this server received the message with; empty for the origin server.
    pub fn hop(&self) -> &str {
        self.request.hop()
    }

    /// True when this is the origin server's trace: it received the message from a client.
    pub fn is_origin(&self) -> bool {
        self.ingress().is_some_and(|i| i.kind == ConnKind::Client) && self.hop().is_empty()
    }

    pub fn egresses(&self) -> impl Iterator<Item = &Egress> {
        self.events.iter().filter_map(|e| match e {
            Event::Egress(eg) => Some(eg),
            _ => None,
        })
    }

    pub fn jetstream(&self) -> impl Iterator<Item = &JetStream> {
        self.events.iter().filter_map(|e| match e {
            Event::JetStream(js) => Some(js),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_event_types_are_kept() {
        let msg = TraceMessage::from_json(
            br#"{"server":{"name":"a","id":"X","ver":"2.99.0"},"request":{},
                "events":[{"type":"in","ts":"2026-01-01T00:00:00Z","kind":0,"cid":1,"acc":"$G","subj":"x"},
                          {"type":"zz","ts":"2026-01-01T00:00:00.5Z","what":42}]}"#,
        )
        .expect("parses");
        assert_eq!(msg.events.len(), 2);
        match &msg.events[1] {
            Event::Unknown { kind, raw } => {
                assert_eq!(kind, "zz");
                assert_eq!(raw["what"], 42);
            }
            other => panic!("expected unknown event, got {other:?}"),
        }
        let ts = msg.events[1]
            .timestamp()
            .expect("unknown event keeps its ts");
        assert_eq!(
            ts.since(&msg.ingress().expect("ingress").ts),
            Some(500_000_000)
        );
    }

    #[test]
    fn unknown_connection_kind_is_kept() {
        let msg = TraceMessage::from_json(
            br#"{"events":[{"type":"in","ts":"2026-01-01T00:00:00Z","kind":42}]}"#,
        )
        .expect("parses");
        assert_eq!(msg.ingress().map(|i| i.kind), Some(ConnKind::Other(42)));
    }

    #[test]
    fn go_zero_time_is_not_a_time() {
        assert_eq!(Timestamp::parse("0001-01-01T00:00:00Z").unix_nanos, None);
        assert_eq!(Timestamp::parse("garbage").unix_nanos, None);
        assert_eq!(
            Timestamp::parse("1970-01-01T01:00:00.000000001+01:00").unix_nanos,
            Some(1)
        );
    }

    #[test]
    fn hop_header_is_found_case_insensitively() {
        let msg = TraceMessage::from_json(
            br#"{"request":{"header":{"nats-trace-hop":["1.2"]}},"events":[]}"#,
        )
        .expect("parses");
        assert_eq!(msg.hop(), "1.2");
    }

    #[test]
    fn too_many_events_are_refused_with_a_clear_message() {
        let event = r#"{"type":"zz"}"#;
        let json = |n: usize| format!(r#"{{"events":[{}]}}"#, vec![event; n].join(","));
        let ok =
            TraceMessage::from_json(json(MAX_EVENTS_PER_TRACE).as_bytes()).expect("at the bound");
        assert_eq!(ok.events.len(), MAX_EVENTS_PER_TRACE);
        let err = TraceMessage::from_json(json(MAX_EVENTS_PER_TRACE + 1).as_bytes())
            .expect_err("over the bound");
        assert!(err.to_string().contains("more than 250000 events"), "{err}");
    }

    #[test]
    fn events_parse_the_same_whether_or_not_type_comes_first() {
        let first = TraceMessage::from_json(
            br#"{"events":[{"type":"eg","ts":"2026-01-01T00:00:00Z","kind":1,"cid":3,"name":"n2","hop":"1"},
                           {"type":"zz","b":1,"a":[2]}]}"#,
        )
        .expect("type first");
        let later = TraceMessage::from_json(
            br#"{"events":[{"ts":"2026-01-01T00:00:00Z","kind":1,"type":"eg","cid":3,"name":"n2","hop":"1"},
                           {"b":1,"type":"zz","a":[2]}]}"#,
        )
        .expect("type later");
        assert_eq!(first, later);
        assert!(matches!(&first.events[0], Event::Egress(e) if e.hop == "1" && e.cid == 3));
        let Event::Unknown { kind, raw } = &first.events[1] else {
            panic!("expected an unknown event, got {:?}", first.events[1]);
        };
        assert_eq!(kind, "zz");
        assert_eq!(raw, &serde_json::json!({"type": "zz", "b": 1, "a": [2]}));
    }

    #[test]
    fn events_that_are_not_objects_are_kept_as_unknown() {
        let msg = TraceMessage::from_json(br#"{"events":[42,"x",null,[1],{},{"type":7}]}"#)
            .expect("parses");
        let kinds: Vec<&str> = msg.events.iter().map(Event::type_name).collect();
        assert_eq!(kinds, ["", "", "", "", "", ""]);
        assert!(matches!(&msg.events[0], Event::Unknown { raw, .. } if raw == 42));
        assert!(matches!(&msg.events[5], Event::Unknown { raw, .. } if raw["type"] == 7));
    }

    #[test]
    fn a_known_event_with_wrong_field_types_is_an_error() {
        // With `type` first (the direct path) and later (through a JSON value) alike.
        for json in [
            &br#"{"events":[{"type":"eg","ts":"x","kind":"route"}]}"#[..],
            &br#"{"events":[{"kind":"route","type":"eg","ts":"x"}]}"#[..],
        ] {
            let err = TraceMessage::from_json(json).expect_err("kind must be a number");
            assert!(
                err.to_string()
                    .starts_with("bad \"eg\" event: invalid type"),
                "{err}"
            );
        }
    }
}
