//! Clients resuming on a gateway from a position it has not reached yet (they come from a
//! gateway a few events ahead): they wait up to [`RESUME_CATCH_UP`](super::RESUME_CATCH_UP)
//! for this one to catch up, then get what it has (the missed events, or a `resync`).

use super::Connection;
use crate::events::TopicSet;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A client waiting for the gateway to reach `since`.
pub(super) struct Parked {
    /// Topics it subscribes to.
    pub(super) topics: TopicSet,
    /// Topics its credentials allow.
    pub(super) allowed: TopicSet,
    /// The last `seq` it saw.
    pub(super) since: u64,
    /// Where its registration goes.
    pub(super) reply: oneshot::Sender<Connection>,
    /// When it stops waiting.
    pub(super) deadline: Instant,
}

/// The waiting clients.
#[derive(Default)]
pub(super) struct ParkedClients(Vec<Parked>);

impl ParkedClients {
    /// Adds a waiting client.
    pub(super) fn push(&mut self, parked: Parked) {
        self.0.push(parked);
    }

    /// When the first wait ends, if anyone waits.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.0.iter().map(|p| p.deadline).min()
    }

    /// Takes the clients whose position the gateway has now reached.
    pub(super) fn take_reached(&mut self, seq: u64) -> Vec<Parked> {
        self.take_where(|p| p.since <= seq)
    }

    /// Takes the clients whose wait is over at `now`.
    pub(super) fn take_expired(&mut self, now: Instant) -> Vec<Parked> {
        self.take_where(|p| p.deadline <= now)
    }

    /// Lets every waiting client go unanswered (dropping its reply says the hub takes none).
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    fn take_where(&mut self, done: impl Fn(&Parked) -> bool) -> Vec<Parked> {
        let (taken, waiting) = std::mem::take(&mut self.0).into_iter().partition(done);
        self.0 = waiting;
        taken
    }
}
