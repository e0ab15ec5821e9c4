//! Grouping trace messages into traced messages. The key of a trace message is the
//! (trace-id, parent-id) of the valid `traceparent` in its `request.header` — every server on
//! the path copies the application's headers into its trace — else the exact subject it
//! arrived on (ad-hoc traces: one `Nats-Trace-Dest` per message). Each group has its own
//! [`Stitcher`], asked after every arrival whether the route is complete.
//!
//! Limits: two messages sent with one `traceparent` (or ad-hoc traces of several messages
//! sent to one `Nats-Trace-Dest`) share a key. A second origin trace never joins a group that
//! has one: the first group is handed back to be emitted as it is, and a new group starts, so
//! two origins are never merged silently; but the remote servers' traces of two such
//! messages in flight at once cannot be told apart (their hops are numbered alike) and go to
//! the group pending when they arrive.
//!
//! Memory is bounded: at most `max_pending` groups (past it the least recently active one is
//! handed back), each of at most [`MAX_TRACES_PER_GROUP`] trace messages. Groups are ordered
//! by their last arrival, so the next one to settle and the one to evict are both the first
//! of that order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use foldhash::{HashMap, HashMapExt};

use super::durable::Delivery;
use crate::trace::event::TraceMessage;
use crate::trace::stitch::Stitcher;
use crate::trace::traceparent::{TRACEPARENT_HEADER, TraceParent};

/// The most trace messages one group keeps; a group that reaches it is handed back.
pub const MAX_TRACES_PER_GROUP: usize = 10_000;

/// What identifies one traced message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// The trace-id and parent-id of a valid `traceparent`.
    Context([u8; 16], [u8; 8]),
    /// The exact subject the trace message arrived on.
    Subject(String),
}

impl GroupKey {
    /// The key of `trace`, arrived on `subject`, and its `traceparent` when it has a valid one.
    pub fn of(trace: &TraceMessage, subject: &str) -> (GroupKey, Option<TraceParent>) {
        let parsed = trace
            .request
            .header_value(TRACEPARENT_HEADER)
            .and_then(|value| TraceParent::parse(value).ok());
        match parsed {
            Some(tp) => (GroupKey::Context(tp.trace_id, tp.parent_id), Some(tp)),
            None => (GroupKey::Subject(subject.to_string()), None),
        }
    }
}

/// The trace messages of one traced message so far.
#[derive(Debug)]
pub struct Group {
    pub stitcher: Stitcher,
    pub traceparent: Option<TraceParent>,
    /// The subject its first trace message arrived on.
    pub arrived_on: String,
    pub first_arrival: SystemTime,
    last_arrival: Instant,
    /// Its place in the arrival order.
    touch: u64,
    /// Durable mode: the deliveries of its trace messages, acknowledged once it is emitted.
    pub deliveries: Vec<Delivery>,
}

impl Group {
    fn new(arrived_on: &str, traceparent: Option<TraceParent>, now: Instant, touch: u64) -> Group {
        Group {
            stitcher: Stitcher::new(),
            traceparent,
            arrived_on: arrived_on.to_string(),
            first_arrival: SystemTime::now(),
            last_arrival: now,
            touch,
            deliveries: Vec::new(),
        }
    }
}

/// What adding a trace message did.
#[derive(Debug)]
pub enum Added {
    /// Its group waits for more.
    Pending,
    /// Its group is complete (handed back).
    Complete(Box<Group>),
    /// Its group reached [`MAX_TRACES_PER_GROUP`] (handed back).
    Full(Box<Group>),
    /// It is a second origin for its key: the previous group is handed back, and the new
    /// trace started a new group (which may itself be complete already).
    SecondOrigin {
        previous: Box<Group>,
        current: Option<Box<Group>>,
    },
}

/// The pending groups, by key and by last arrival.
#[derive(Debug, Default)]
pub struct Groups {
    by_key: HashMap<GroupKey, Group>,
    /// Arrival order: the first entry is the group whose last arrival is the oldest.
    by_touch: BTreeMap<u64, GroupKey>,
    next_touch: u64,
}

impl Groups {
    pub fn new() -> Groups {
        Groups {
            by_key: HashMap::new(),
            by_touch: BTreeMap::new(),
            next_touch: 0,
        }
    }

    /// Groups pending.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// True when a group of `key` is pending.
    pub fn contains(&self, key: &GroupKey) -> bool {
        self.by_key.contains_key(key)
    }

    /// Adds `trace` (arrived on `subject`) to the group of `key`.
    pub fn add(
        &mut self,
        key: GroupKey,
        traceparent: Option<TraceParent>,
        trace: TraceMessage,
        subject: &str,
    ) -> Added {
        let now = Instant::now();
        let second_origin = trace.is_origin()
            && self
                .by_key
                .get(&key)
                .is_some_and(|g| g.stitcher.has_origin());
        let previous = if second_origin {
            self.remove(&key)
        } else {
            None
        };
        let touch = self.touch();
        let group = self
            .by_key
            .entry(key.clone())
            .or_insert_with(|| Group::new(subject, traceparent, now, touch));
        self.by_touch.remove(&group.touch);
        group.touch = touch;
        group.last_arrival = now;
        group.stitcher.add(trace);
        let done = group.stitcher.is_complete();
        let full = group.stitcher.len() >= MAX_TRACES_PER_GROUP;
        self.by_touch.insert(touch, key.clone());
        let current = if done || full {
            self.remove(&key)
        } else {
            None
        };
        match (previous, current) {
            (Some(previous), current) => Added::SecondOrigin {
                previous: Box::new(previous),
                current: current.map(Box::new),
            },
            (None, Some(group)) if done => Added::Complete(Box::new(group)),
            (None, Some(group)) => Added::Full(Box::new(group)),
            (None, None) => Added::Pending,
        }
    }

    /// As [`Groups::add`]; `delivery` (durable mode) goes with the group the trace joined.
    pub fn add_delivered(
        &mut self,
        key: GroupKey,
        traceparent: Option<TraceParent>,
        trace: TraceMessage,
        subject: &str,
        delivery: Option<Delivery>,
    ) -> Added {
        let Some(delivery) = delivery else {
            return self.add(key, traceparent, trace, subject);
        };
        let mut added = self.add(key.clone(), traceparent, trace, subject);
        let joined = match &mut added {
            Added::Complete(group)
            | Added::Full(group)
            | Added::SecondOrigin {
                current: Some(group),
                ..
            } => Some(&mut **group),
            Added::Pending | Added::SecondOrigin { current: None, .. } => self.by_key.get_mut(&key),
        };
        if let Some(group) = joined {
            group.deliveries.push(delivery);
        }
        added
    }

    /// When the least recently active group settles, if any is pending.
    pub fn next_settle(&self, settle: Duration) -> Option<Instant> {
        let key = self.by_touch.values().next()?;
        self.by_key.get(key).map(|g| g.last_arrival + settle)
    }

    /// The least recently active group, when it has had no arrival for `settle`.
    pub fn take_settled(&mut self, now: Instant, settle: Duration) -> Option<Group> {
        let due = self.next_settle(settle)?;
        if due > now {
            return None;
        }
        self.take_oldest()
    }

    /// The least recently active group.
    pub fn take_oldest(&mut self) -> Option<Group> {
        let key = self.by_touch.values().next()?.clone();
        self.remove(&key)
    }

    fn remove(&mut self, key: &GroupKey) -> Option<Group> {
        let group = self.by_key.remove(key)?;
        self.by_touch.remove(&group.touch);
        Some(group)
    }

    fn touch(&mut self) -> u64 {
        self.next_touch += 1;
        self.next_touch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(server: &str, hop: &str, ingress_kind: i64, egress: &[(i64, &str)]) -> TraceMessage {
        let mut header = serde_json::Map::new();
        header.insert(
            "traceparent".into(),
            serde_json::json!(["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]),
        );
        if !hop.is_empty() {
            header.insert("Nats-Trace-Hop".into(), serde_json::json!([hop]));
        }
        let mut events = vec![serde_json::json!({
            "type": "in", "ts": "2026-01-01T00:00:00Z", "kind": ingress_kind, "cid": 1,
            "name": "", "acc": "APP", "subj": "orders.new"
        })];
        for (kind, ehop) in egress {
            events.push(serde_json::json!({
                "type": "eg", "ts": "2026-01-01T00:00:00.001Z", "kind": kind, "cid": 2,
                "name": "x", "hop": ehop
            }));
        }
        let json = serde_json::json!({
            "server": {"name": server, "id": server},
            "request": {"header": header, "msgsize": 1},
            "events": events
        });
        TraceMessage::from_json(json.to_string().as_bytes()).unwrap()
    }

    fn add(groups: &mut Groups, t: TraceMessage, subject: &str) -> Added {
        let (key, tp) = GroupKey::of(&t, subject);
        groups.add(key, tp, t, subject)
    }

    #[test]
    fn a_route_completes_when_its_last_server_reports() {
        let mut groups = Groups::new();
        let origin = trace("n1", "", 0, &[(1, "1")]);
        assert!(matches!(add(&mut groups, origin, "t.a"), Added::Pending));
        // A remote trace arriving on another destination joins by its traceparent.
        let remote = trace("n2", "1", 1, &[]);
        match add(&mut groups, remote, "t.b") {
            Added::Complete(group) => {
                assert_eq!(group.stitcher.len(), 2);
                assert_eq!(group.arrived_on, "t.a");
            }
            other => panic!("{other:?}"),
        }
        assert!(groups.is_empty());
    }

    #[test]
    fn a_second_origin_is_never_merged() {
        let mut groups = Groups::new();
        add(&mut groups, trace("n1", "", 0, &[(1, "1")]), "t");
        match add(&mut groups, trace("n1", "", 0, &[(1, "1")]), "t") {
            Added::SecondOrigin { previous, current } => {
                assert_eq!(previous.stitcher.len(), 1);
                assert!(current.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn without_traceparent_the_subject_is_the_key() {
        let mut t = trace("n1", "", 0, &[(1, "1")]);
        t.request = crate::trace::event::TraceRequest::new(Default::default(), 1);
        let (key, tp) = GroupKey::of(&t, "trace.x");
        assert_eq!(key, GroupKey::Subject("trace.x".into()));
        assert!(tp.is_none());
    }

    #[test]
    fn the_least_recently_active_group_settles_and_is_evicted_first() {
        let mut groups = Groups::new();
        let mut a = trace("n1", "", 0, &[(1, "1")]);
        a.request = crate::trace::event::TraceRequest::new(Default::default(), 1);
        let b = a.clone();
        add(&mut groups, a, "t.a");
        add(&mut groups, b, "t.b");
        let oldest = groups.take_oldest().unwrap();
        assert_eq!(oldest.arrived_on, "t.a");
        assert!(
            groups
                .take_settled(Instant::now(), Duration::from_secs(60))
                .is_none()
        );
        let later = Instant::now() + Duration::from_secs(61);
        assert!(
            groups
                .take_settled(later, Duration::from_secs(60))
                .is_some()
        );
    }
}
