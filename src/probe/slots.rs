//! Which cases are in flight and who waits for them: one case never has two probes at once.
//! A `/probe?case=NAME` request for a case in flight waits for that probe's result (bounded
//! by the probe's own bound) instead of starting another; requests for a case that is not
//! running queue it once, however many there are, and all of them get that one probe's
//! metrics. So the metrics count each probe once.

use std::collections::VecDeque;

use tokio::sync::oneshot;

/// The in-flight state of every case of the suite.
pub(crate) struct Slots {
    busy: Vec<bool>,
    waiters: Vec<Vec<oneshot::Sender<String>>>,
    /// Cases asked for by `/probe` and not running yet, each at most once.
    queued: VecDeque<usize>,
}

impl Slots {
    pub(crate) fn new(cases: usize) -> Slots {
        Slots {
            busy: vec![false; cases],
            waiters: (0..cases).map(|_| Vec::new()).collect(),
            queued: VecDeque::new(),
        }
    }

    pub(crate) fn is_busy(&self, case: usize) -> bool {
        self.busy.get(case).copied().unwrap_or(false)
    }

    /// A `/probe` request for `case`: `reply` gets the metrics of the case's next result
    /// (of the probe in flight, if there is one); the case is queued unless it is running
    /// or queued already.
    pub(crate) fn ask(&mut self, case: usize, reply: oneshot::Sender<String>) {
        let Some(waiting) = self.waiters.get_mut(case) else {
            return;
        };
        waiting.retain(|w| !w.is_closed());
        waiting.push(reply);
        if !self.busy[case] && !self.queued.contains(&case) {
            self.queued.push_back(case);
        }
    }

    /// The next queued case to start.
    pub(crate) fn next_queued(&mut self) -> Option<usize> {
        self.queued.pop_front()
    }

    /// Marks `case` as running; false (and nothing changes) when it already is. A queued
    /// case started by the schedule leaves the queue: its waiters get this probe's result.
    pub(crate) fn start(&mut self, case: usize) -> bool {
        if case >= self.busy.len() || self.busy[case] {
            return false;
        }
        self.busy[case] = true;
        self.queued.retain(|&c| c != case);
        true
    }

    /// `case`'s probe ended: it is free again; returns who waits for its result.
    pub(crate) fn finish(&mut self, case: usize) -> Vec<oneshot::Sender<String>> {
        let Some(waiting) = self.waiters.get_mut(case) else {
            return Vec::new();
        };
        self.busy[case] = false;
        std::mem::take(waiting)
    }

    /// Stopping: queued cases will not run, so their waiters are let go (they answer 503);
    /// those of the probes in flight still get their results.
    pub(crate) fn drop_queued(&mut self) {
        for case in std::mem::take(&mut self.queued) {
            self.waiters[case].clear();
        }
    }

    /// How many cases wait for room to run.
    #[cfg(test)]
    fn queued_len(&self) -> usize {
        self.queued.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(slots: &mut Slots, case: usize) -> oneshot::Receiver<String> {
        let (reply, answer) = oneshot::channel();
        slots.ask(case, reply);
        answer
    }

    #[test]
    fn a_request_for_a_case_in_flight_waits_for_that_probe() {
        let mut slots = Slots::new(2);
        assert!(slots.start(0), "the schedule starts case 0");
        let mut first = ask(&mut slots, 0);
        let mut second = ask(&mut slots, 0);
        assert_eq!(slots.next_queued(), None, "no second probe of case 0");
        assert!(!slots.start(0), "case 0 cannot start twice");
        let waiting = slots.finish(0);
        assert_eq!(waiting.len(), 2);
        for reply in waiting {
            reply.send("result".into()).unwrap();
        }
        assert_eq!(first.try_recv().unwrap(), "result");
        assert_eq!(second.try_recv().unwrap(), "result");
        assert!(slots.start(0), "free again");
    }

    #[test]
    fn requests_for_an_idle_case_queue_it_once() {
        let mut slots = Slots::new(2);
        let _a = ask(&mut slots, 1);
        let _b = ask(&mut slots, 1);
        assert_eq!(slots.queued_len(), 1);
        assert_eq!(slots.next_queued(), Some(1));
        assert!(slots.start(1));
        assert_eq!(slots.finish(1).len(), 2, "both get the one probe's result");
    }

    #[test]
    fn a_scheduled_start_serves_the_queued_requests() {
        let mut slots = Slots::new(1);
        let _a = ask(&mut slots, 0);
        assert!(slots.start(0), "the schedule got there first");
        assert_eq!(slots.next_queued(), None, "the queue let it go");
        assert_eq!(slots.finish(0).len(), 1);
    }

    #[test]
    fn stopping_lets_queued_waiters_go_and_keeps_those_in_flight() {
        let mut slots = Slots::new(2);
        assert!(slots.start(0));
        let _running = ask(&mut slots, 0);
        let mut queued = ask(&mut slots, 1);
        slots.drop_queued();
        assert!(queued.try_recv().is_err(), "closed: answers 503");
        assert_eq!(slots.next_queued(), None);
        assert_eq!(slots.finish(0).len(), 1);
    }

    #[test]
    fn waiters_that_gave_up_are_pruned_and_unknown_cases_ignored() {
        let mut slots = Slots::new(1);
        assert!(slots.start(0));
        drop(ask(&mut slots, 0));
        let _kept = ask(&mut slots, 0);
        assert_eq!(slots.finish(0).len(), 1);
        let _unknown = ask(&mut slots, 7);
        assert!(!slots.start(7));
        assert!(slots.finish(7).is_empty());
    }
}
