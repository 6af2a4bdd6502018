//! Broadcast events kept for clients that reconnect with `?since=<seq>`: bounded by count
//! (`server.replay_events`) and age (`server.replay_age_s`); beyond either the oldest go, and
//! a resume from before them gets a `resync` instead.

use super::outbox::Outgoing;
use crate::events::{Topic, TopicSet};
use std::collections::VecDeque;

/// A broadcast event kept for replay.
struct Retained {
    seq: u64,
    topic: Topic,
    at_ns: i64,
    message: Outgoing,
}

/// See the module documentation.
pub(super) struct Replay {
    events: VecDeque<Retained>,
    /// The newest `seq` no longer retained (0: none dropped yet).
    evicted_through: u64,
    max_events: usize,
    max_age_ns: i64,
}

impl Replay {
    /// Keeps at most `max_events` events for at most `max_age_ns` (0 events: no replay).
    pub(super) fn new(max_events: usize, max_age_ns: i64) -> Self {
        Self {
            events: VecDeque::new(),
            evicted_through: 0,
            max_events,
            max_age_ns,
        }
    }

    /// Events held now.
    pub(super) fn len(&self) -> usize {
        self.events.len()
    }

    /// The oldest `seq` a client can resume from (it gets every event after it).
    pub(super) fn evicted_through(&self) -> u64 {
        self.evicted_through
    }

    /// A gateway's first event is numbered `seq`: whatever came before it is not held here.
    pub(super) fn starts_at(&mut self, seq: u64) {
        if self.events.is_empty() {
            self.evicted_through = seq.saturating_sub(1);
        }
    }

    /// Keeps the event numbered `seq` (at `now_ns`), dropping the oldest beyond the limits.
    pub(super) fn retain(&mut self, seq: u64, topic: Topic, message: &Outgoing, now_ns: i64) {
        if self.max_events == 0 {
            self.evicted_through = seq;
            return;
        }
        self.events.push_back(Retained {
            seq,
            topic,
            at_ns: now_ns,
            message: message.clone(),
        });
        while self.events.len() > self.max_events
            || self
                .events
                .front()
                .is_some_and(|r| now_ns - r.at_ns > self.max_age_ns)
        {
            if let Some(old) = self.events.pop_front() {
                self.evicted_through = old.seq;
            }
        }
    }

    /// Every retained event after `since` on `topics`, in order, when a client that saw
    /// everything up to `since` can be resumed: nothing after it has been dropped, it is not
    /// from the future (`latest`: the newest `seq`; a restart resets it), and the events fit
    /// in `room` messages. `None` means the client needs a `resync`.
    pub(super) fn missed(
        &self,
        since: u64,
        latest: u64,
        topics: TopicSet,
        room: usize,
    ) -> Option<Vec<Outgoing>> {
        if since < self.evicted_through || since > latest {
            return None;
        }
        let missed: Vec<Outgoing> = self
            .events
            .iter()
            .filter(|r| r.seq > since && topics.contains(r.topic))
            .map(|r| r.message.clone())
            .collect();
        (missed.len() < room).then_some(missed)
    }
}
