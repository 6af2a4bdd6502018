//! The event hub: one task owns the current state of every topic, numbers every message, and
//! fans serialized events out to the connected clients.
//!
//! Everyone else holds a cheap, cloneable [`Hub`] handle that talks to the task over two bounded
//! channels: one for publications (the pipeline, the bus follower), one for everything clients
//! and REST ask (connect, subscribe, replies, stats). The task always serves publications first,
//! so a swarm of client messages can delay neither the events other clients receive nor the
//! DSP threads that publish them; clients that send faster than the hub answers wait on their
//! own channel. Every per-client command finds its client by id in O(1).
//!
//! The task never awaits a client: each client has its own bounded [`Outbox`], filled without
//! waiting; a client whose outbox is full is handled by the configured [`SlowClientPolicy`], so
//! one stalled browser can never delay the others. Every event is serialized and framed once,
//! and the same reference-counted bytes are queued for every subscriber.
//!
//! Per-client replies (the snapshot, `error`, `subscriptions`) are numbered and queued by the
//! same task, which is what makes `seq` strictly increasing on every connection. The exception
//! is `pong`, which the session makes itself ([`Outbox::take_then_reply`]) with the `seq` of the event
//! queued before it: the cheapest and commonest client message never reaches the hub.
//!
//! Behind a bus ([`Numbering::External`], the `gateway` role) the numbers come from outside:
//! every broadcast event carries the bus stream's sequence ([`Hub::publish_numbered`]), so every
//! gateway gives an event the same `seq` and a client can resume on any of them. Only those
//! events advance `seq` there; everything else a client gets (the snapshot, replies, `resync`,
//! the gateway's own health reports) carries the `seq` of the latest bus event, so `seq` never
//! decreases and the last one a client saw is always a valid resume position.//!
//! Rooms: the handle and its commands (here), the task's state machine ([`state`]), replay of
//! missed events ([`replay`]), clients waiting for a gateway to catch up ([`parked`]), the
//! client's queue ([`outbox`]), the copy of events for the alert engine ([`Tap`]), the recent waterfall of every receiver ([`waterfall`]), counters ([`metrics`]) and tunables ([`config`]). The hub knows
//! no socket: the WebSocket transport (`crate::ws`) empties the outboxes.

pub mod config;
pub mod metrics;
pub mod outbox;
mod parked;
mod replay;
mod state;
mod tap;
mod waterfall;

pub use config::{HubConfig, Kick, Numbering, SlowClientPolicy, RESUME_CATCH_UP};
pub use metrics::{Counters, Histogram, WsStats, DEPTH_BUCKETS, LATENCY_BUCKETS_S};
pub use outbox::{Outbox, Outgoing};
pub use state::empty_snapshot;
pub use tap::Tap;
pub use waterfall::WaterfallSettings;

use crate::events::{CurrentState, Event, SpectrumFrame, TopicSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Publications that may wait for the hub task; beyond this, publishers wait (back-pressure on
/// the pipeline and the bus follower, which only ever publish).
const PUBLISH_QUEUE: usize = 4096;
/// Client and REST commands that may wait for the hub task; beyond this, the sessions and
/// handlers that send them wait (their clients' messages are not read meanwhile).
const COMMAND_QUEUE: usize = 4096;

/// A client's end of its registration with the hub.
#[derive(Debug)]
pub struct Connection {
    /// The hub's id for this client.
    pub id: u64,
    /// Messages to send, the snapshot (or the missed events) first; also carries the hub's
    /// decision to close the client (slow-client policy).
    pub outbox: Arc<Outbox>,
}

enum Publication {
    Local(Event),
    Numbered(Event, u64),
}

enum Command {
    Connect {
        topics: TopicSet,
        allowed: TopicSet,
        since: Option<u64>,
        reply: oneshot::Sender<Connection>,
    },
    Disconnect(u64),
    SetTopics {
        client: u64,
        topics: TopicSet,
    },
    Reply {
        client: u64,
        event: Event,
    },
    State(oneshot::Sender<CurrentState>),
    Stats(oneshot::Sender<WsStats>),
    Waterfall {
        receiver: String,
        reply: oneshot::Sender<Option<Vec<SpectrumFrame>>>,
    },
    CloseAll(Kick),
    Tap(Tap, oneshot::Sender<()>),
}

/// A handle on the hub task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Hub {
    publications: mpsc::Sender<Publication>,
    commands: mpsc::Sender<Command>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Connect { .. } => "Connect",
            Command::Disconnect(_) => "Disconnect",
            Command::SetTopics { .. } => "SetTopics",
            Command::Reply { .. } => "Reply",
            Command::State(_) => "State",
            Command::Stats(_) => "Stats",
            Command::Waterfall { .. } => "Waterfall",
            Command::CloseAll(_) => "CloseAll",
            Command::Tap(..) => "Tap",
        })
    }
}

impl Hub {
    /// Starts the hub task on the current tokio runtime. It ends when every handle is dropped.
    ///
    /// # Panics
    /// If `config.client_queue` is 0.
    pub fn spawn(config: HubConfig, initial: CurrentState) -> Hub {
        assert!(config.client_queue > 0, "client_queue must be at least 1");
        let (publications, published) = mpsc::channel(PUBLISH_QUEUE);
        let (commands, commanded) = mpsc::channel(COMMAND_QUEUE);
        let counters = Arc::new(Counters::default());
        let state = state::HubState::new(config, initial, counters.clone());
        tokio::spawn(state.run(published, commanded));
        Hub {
            publications,
            commands,
            counters,
        }
    }

    /// The counters the sessions update.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    async fn send(&self, command: Command) {
        // The hub task only ends when every handle is gone, so this cannot fail while `self`
        // exists; during shutdown a lost command is harmless.
        let _ = self.commands.send(command).await;
    }

    /// Publishes a broadcast event: updates the topic's state and sends it to subscribers.
    ///
    /// Under [`Numbering::External`] the event does not advance `seq` and is not kept for
    /// replay: it is the gateway's own news (its health), which no other gateway has.
    pub async fn publish(&self, event: Event) {
        let _ = self.publications.send(Publication::Local(event)).await;
    }

    /// Publishes a broadcast event numbered `seq` by the bus ([`Numbering::External`]): it is
    /// sent and kept for replay with that `seq`. An event whose `seq` is not above the last one
    /// is ignored, so a bus consumer that starts over after a reconnect cannot duplicate
    /// anything. Under [`Numbering::Local`] the number is ignored and the hub numbers it.
    pub async fn publish_numbered(&self, event: Event, seq: u64) {
        let _ = self.publications.send(Publication::Numbered(event, seq)).await;
    }

    /// Publishes from a non-async thread, waiting for room in the hub's publication queue.
    pub fn publish_blocking(&self, event: Event) {
        let _ = self.publications.blocking_send(Publication::Local(event));
    }

    /// Registers a client subscribed to `topics` whose credentials allow everything. Its queue
    /// starts with the snapshot.
    pub async fn connect(&self, topics: TopicSet) -> Option<Connection> {
        self.resume(topics, TopicSet::ALL, None).await
    }

    /// Registers a client that has seen every event up to `since` (`?since=`): its queue starts
    /// with every retained broadcast event after `since` on its topics, in order, when the hub
    /// still holds them all; otherwise with a `resync` (a fresh snapshot). Without `since`, with
    /// the snapshot.
    ///
    /// `allowed` is what the client's credentials allow: the snapshot or `resync` shows only
    /// those topics, now and whenever the client is resynced later. `topics` must be within it.
    pub async fn resume(
        &self,
        topics: TopicSet,
        allowed: TopicSet,
        since: Option<u64>,
    ) -> Option<Connection> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Connect {
            topics: topics.intersection(allowed),
            allowed,
            since,
            reply,
        })
        .await;
        rx.await.ok()
    }

    /// Unregisters a client.
    pub async fn disconnect(&self, client: u64) {
        self.send(Command::Disconnect(client)).await;
    }

    /// Replaces a client's topics and queues a `subscriptions` acknowledgement.
    pub async fn set_topics(&self, client: u64, topics: TopicSet) {
        self.send(Command::SetTopics { client, topics }).await;
    }

    /// Queues a per-client message (`pong`, `error`) in order with the broadcasts.
    pub async fn reply(&self, client: u64, event: Event) {
        self.send(Command::Reply { client, event }).await;
    }

    /// The current state of all topics (for REST, which checks access itself).
    pub async fn current_state(&self) -> Option<CurrentState> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::State(reply)).await;
        rx.await.ok()
    }

    /// Closes every client with `kick` and refuses new ones from now on (server shutdown).
    pub async fn close_all(&self, kick: Kick) {
        self.send(Command::CloseAll(kick)).await;
    }

    /// The recent waterfall of `receiver` (`spectrum_frames.history_s`), oldest row first: the
    /// outer `None` when the hub is gone, the inner one when it knows no such receiver (a known
    /// receiver without frames, or a hub that keeps none, has no rows).
    pub async fn waterfall(&self, receiver: &str) -> Option<Option<Vec<SpectrumFrame>>> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Waterfall {
            receiver: receiver.to_string(),
            reply,
        })
        .await;
        rx.await.ok()
    }

    /// From the return on, a copy of every broadcast event of state goes to `tap` (see [`Tap`]
    /// for what happens when its consumer falls behind). One tap at a time: a new one replaces
    /// the old.
    pub async fn tap(&self, tap: Tap) {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Tap(tap, reply)).await;
        // Answered once the hub has installed it (publications are served before commands, so
        // without the wait some could still miss it).
        let _ = rx.await;
    }

    /// Connection and delivery statistics.
    pub async fn stats(&self) -> Option<WsStats> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Stats(reply)).await;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests;
