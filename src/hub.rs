//! The event hub: one task owns the current state of every topic, numbers every message, and
//! fans serialized events out to the connected clients.
//!
//! Everyone else holds a cheap, cloneable [`Hub`] handle that talks to the task over two bounded
//! channels: one for publications (the pipeline, the bus follower), one for everything clients
//! and REST ask (connect, subscribe, replies, stats). The task always serves publications first,
//! so a swarm of client messages can delay neither the events other clients receive nor the
//! DSP threads that publish them; clients that send faster than the hub answers wait on their
//! own channel. Every per-client command finds its client by id in O(1). The task never awaits a client: each client has its own bounded queue, filled with
//! `try_send`; a client whose queue is full is handled by the configured
//! [`SlowClientPolicy`], so one stalled browser can never delay the others. Every event is
//! serialized once, and the same reference-counted bytes are queued for every subscriber.
//!
//! Per-client replies (the snapshot, `pong`, `error`, `subscriptions`) are numbered and queued
//! by the same task, which is what makes `seq` strictly increasing on every connection.
//!
//! Behind a bus ([`Numbering::External`], the `gateway` role) the numbers come from outside:
//! every broadcast event carries the bus stream's sequence ([`Hub::publish_numbered`]), so every
//! gateway gives an event the same `seq` and a client can resume on any of them. Only those
//! events advance `seq` there; everything else a client gets (the snapshot, replies, `resync`,
//! the gateway's own health reports) carries the `seq` of the latest bus event, so `seq` never
//! decreases and the last one a client saw is always a valid resume position.

use crate::events::{
    CurrentState, Envelope, Event, HealthReport, HealthStatus, LocalizationList, LocalizationReport,
    SignalList, SignalReport, SignalState, Snapshot, SubscriptionsReport, Timestamp, Topic, TopicSet,
    WebsdrsReport,
};
use crate::ws::outbox::{Outbox, Refused};
use actix_web::web::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Publications that may wait for the hub task; beyond this, publishers wait (back-pressure on
/// the pipeline and the bus follower, which only ever publish).
const PUBLISH_QUEUE: usize = 4096;
/// Client and REST commands that may wait for the hub task; beyond this, the sessions and
/// handlers that send them wait (their clients' messages are not read meanwhile).
const COMMAND_QUEUE: usize = 4096;

/// How long a gateway waits to catch up with a resuming client's position (`?since=` ahead of
/// what it has seen: the client comes from a gateway a few events ahead) before answering with
/// a `resync` instead.
pub const RESUME_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Who numbers broadcast events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numbering {
    /// The hub numbers every message it sends, broadcasts and replies alike (`serve`).
    #[default]
    Local,
    /// Broadcast events come numbered from the bus ([`Hub::publish_numbered`]); nothing else
    /// advances `seq` (`gateway`).
    External,
}

/// What happens to a client whose queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlowClientPolicy {
    /// Close the connection with code 1013 ("try again later") and a reason. The client
    /// reconnects (resuming with `?since=`, or with a fresh snapshot), so it never silently
    /// misses an event.
    Close,
    /// Stop queueing for the client until it has drained its queue, then send it a `resync`
    /// (a fresh state of all topics) and carry on live: the connection stays open and the
    /// client knows exactly that it skipped ahead.
    Resync,
}

/// Tunables of the hub (config keys under `server`).
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    /// Messages that may wait for one client.
    pub client_queue: usize,
    /// What to do when that queue is full.
    pub slow_client_policy: SlowClientPolicy,
    /// Localizations kept for the snapshot and REST.
    pub recent_localizations: usize,
    /// Broadcast events retained for clients resuming with `?since=` (0: no replay).
    pub replay_events: usize,
    /// ... and for at most this long, ns.
    pub replay_age_ns: i64,
    /// Who numbers broadcast events.
    pub numbering: Numbering,
}

/// Why the hub closed a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kick {
    /// WebSocket close code.
    pub code: u16,
    /// Close reason for the client.
    pub reason: String,
}

/// One serialized message on its way to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Index of the event kind in [`EVENT_NAMES`], for the per-event counters.
    pub kind: usize,
    /// The whole WebSocket text frame (header and JSON), shared by every recipient.
    pub frame: Bytes,
    /// When the envelope was made (its `timestamp`), ns since the epoch.
    pub created_ns: i64,
}

impl Outgoing {
    /// The JSON text.
    pub fn json(&self) -> &[u8] {
        &self.frame[crate::ws::frame::payload_offset(&self.frame)..]
    }
}

/// Upper bounds of a latency histogram's buckets, seconds (Prometheus `le`).
pub const LATENCY_BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Upper bounds of the queue-depth histogram's buckets, messages.
pub const DEPTH_BUCKETS: [f64; 10] = [0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

/// A fixed-bucket histogram that many tasks record into without locks.
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    bounds: [f64; N],
    /// Observations at or below each bound (not cumulative), then above the last.
    counts: [AtomicU64; N],
    over: AtomicU64,
    /// Sum of observations, in millionths of the unit.
    sum_micro: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    /// An empty histogram with these bucket bounds.
    pub fn new(bounds: [f64; N]) -> Self {
        Self {
            bounds,
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            over: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        match self.bounds.iter().position(|&b| value <= b) {
            Some(i) => self.counts[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_micro
            .fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    /// The upper bound of the bucket holding the `q` quantile (None: no observations, or it
    /// lies above the last bound).
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let (buckets, total, _) = self.cumulative();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        buckets.iter().find(|(_, n)| *n >= rank).map(|(b, _)| *b)
    }

    /// `(bound, cumulative count)` per bucket, then the total count and the sum.
    pub fn cumulative(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut running = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(&b, c)| {
                running += c.load(Ordering::Relaxed);
                (b, running)
            })
            .collect();
        let total = running + self.over.load(Ordering::Relaxed);
        (
            buckets,
            total,
            self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

/// Wire names of every server event, in counter order.
pub const EVENT_NAMES: [&str; 10] = [
    "services:health",
    "websdrs:status",
    "signals:detected",
    "localizations:updated",
    "snapshot",
    "pong",
    "error",
    "subscriptions",
    "resync",
    "spectrum:frame",
];

fn kind_index(event: &Event) -> usize {
    EVENT_NAMES.iter().position(|n| *n == event.name()).unwrap_or(0)
}

/// Counters shared by the hub and the sessions.
#[derive(Debug)]
pub struct Counters {
    /// Messages written to a client's socket, per event kind.
    pub sent: [AtomicU64; EVENT_NAMES.len()],
    /// Bytes written to clients (whole frames).
    pub bytes_sent: AtomicU64,
    /// Messages not delivered because a client's queue was full.
    pub dropped: AtomicU64,
    /// Clients closed by the slow-client policy.
    pub slow_clients_closed: AtomicU64,
    /// `resync`s sent (slow clients skipped ahead, or resumes from positions no longer retained).
    pub resyncs: AtomicU64,
    /// Connections resumed by replaying retained events.
    pub resumes: AtomicU64,
    /// Event creation (envelope) to the end of its write to a client, seconds.
    pub fanout_latency: Histogram<12>,
    /// A client's queue depth when a message is queued for it.
    pub queue_depth: Histogram<10>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            sent: Default::default(),
            bytes_sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            slow_clients_closed: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            fanout_latency: Histogram::new(LATENCY_BUCKETS_S),
            queue_depth: Histogram::new(DEPTH_BUCKETS),
        }
    }
}

impl Counters {
    /// Records a message written to a socket.
    pub fn record_sent(&self, message: &Outgoing) {
        let latency_ns = Timestamp::now().0 - message.created_ns;
        self.fanout_latency.observe(latency_ns as f64 * 1e-9);
        self.sent[message.kind].fetch_add(1, Ordering::Relaxed);
        self.bytes_sent
            .fetch_add(message.frame.len() as u64, Ordering::Relaxed);
    }
}

/// A client's end of its registration with the hub.
#[derive(Debug)]
pub struct Connection {
    /// The hub's id for this client.
    pub id: u64,
    /// Messages to send, the snapshot (or the missed events) first; also carries the hub's
    /// decision to close the client (slow-client policy).
    pub outbox: Arc<Outbox>,
}

/// `/api/v1/ws/stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WsStats {
    /// Clients connected now.
    pub connections: usize,
    /// Clients connected since start.
    pub connections_total: u64,
    /// Messages written to clients, per event.
    pub messages_sent: BTreeMap<&'static str, u64>,
    /// Bytes written to clients.
    pub bytes_sent: u64,
    /// Messages not delivered because a client's queue was full.
    pub messages_dropped: u64,
    /// Clients closed because they could not keep up.
    pub slow_clients_closed: u64,
    /// Messages waiting in client queues now, summed.
    pub queued: usize,
    /// The deepest client queue now (how far the slowest client lags, in messages).
    pub queue_depth_max: usize,
    /// Event creation to its write to a client, since start: 50th and 99th percentiles (upper
    /// bounds of the histogram buckets they fall in), milliseconds.
    pub fanout_latency_p50_ms: Option<f64>,
    /// See `fanout_latency_p50_ms`.
    pub fanout_latency_p99_ms: Option<f64>,
    /// The latest `seq` issued.
    pub seq: u64,
    /// `resync`s sent.
    pub resyncs: u64,
    /// Connections resumed by replay.
    pub resumes: u64,
    /// Broadcast events retained for replay now.
    pub replay_retained: usize,
    /// The oldest `seq` a client can resume from (it gets every event after it).
    pub replay_from_seq: u64,
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
    CloseAll(Kick),
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
            Command::CloseAll(_) => "CloseAll",
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
        let state = HubState::new(config, initial, counters.clone());
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

    /// Connection and delivery statistics.
    pub async fn stats(&self) -> Option<WsStats> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Stats(reply)).await;
        rx.await.ok()
    }
}

struct Client {
    id: u64,
    topics: TopicSet,
    /// What its credentials allow (its snapshots and resyncs show only these topics).
    allowed: TopicSet,
    outbox: Arc<Outbox>,
    /// Fell behind under [`SlowClientPolicy::Resync`]: nothing is queued until it drains.
    lagging: bool,
}

/// A client waiting for a gateway to catch up with its resume position.
struct Parked {
    topics: TopicSet,
    allowed: TopicSet,
    since: u64,
    reply: oneshot::Sender<Connection>,
    deadline: tokio::time::Instant,
}

/// A broadcast event kept for replay.
struct Retained {
    seq: u64,
    topic: crate::events::Topic,
    at_ns: i64,
    message: Outgoing,
}

struct HubState {
    config: HubConfig,
    counters: Arc<Counters>,
    seq: u64,
    next_client: u64,
    connections_total: u64,
    clients: HashMap<u64, Client>,
    health: HealthReport,
    websdrs: WebsdrsReport,
    signals: BTreeMap<String, SignalReport>,
    localizations: VecDeque<LocalizationReport>,
    replay: VecDeque<Retained>,
    /// The newest broadcast `seq` no longer retained (0: none dropped yet).
    evicted_through: u64,
    /// Shutting down: new clients are refused.
    closing: bool,
    /// Resuming clients ahead of this gateway (only under [`Numbering::External`]).
    parked: Vec<Parked>,
}

impl HubState {
    fn new(config: HubConfig, initial: CurrentState, counters: Arc<Counters>) -> Self {
        let mut state = Self {
            config,
            counters,
            seq: 0,
            next_client: 1,
            connections_total: 0,
            clients: HashMap::new(),
            health: initial.services_health,
            websdrs: initial.websdrs_status,
            signals: BTreeMap::new(),
            localizations: VecDeque::new(),
            replay: VecDeque::new(),
            evicted_through: 0,
            closing: false,
            parked: Vec::new(),
        };
        for signal in initial.signals_detected.signals {
            state.signals.insert(signal.signal_id.clone(), signal);
        }
        state
            .localizations
            .extend(initial.localizations_updated.localizations);
        state
    }

    async fn run(
        mut self,
        mut publications: mpsc::Receiver<Publication>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        loop {
            let deadline = self.parked.iter().map(|p| p.deadline).min();
            let command = tokio::select! {
                // Publications first: what clients ask can wait, events and the DSP cannot.
                biased;
                publication = publications.recv() => {
                    match publication {
                        Some(Publication::Local(event)) => self.publish(event, None),
                        Some(Publication::Numbered(event, seq)) => self.publish_numbered(event, seq),
                        // Every handle is gone.
                        None => break,
                    }
                    continue;
                }
                command = commands.recv() => match command {
                    Some(command) => command,
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => {
                    self.expire_parked();
                    continue;
                }
            };
            self.command(command);
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Connect {
                topics,
                allowed,
                since,
                reply,
            } => {
                let may_park = self.config.numbering == Numbering::External;
                self.connect(topics, allowed, since, reply, may_park)
            }
            Command::Disconnect(id) => {
                self.clients.remove(&id);
            }
            Command::SetTopics { client, topics } => {
                let Some(c) = self.clients.get_mut(&client) else {
                    return;
                };
                // The session checked them against the token; the hub holds to it regardless.
                c.topics = topics.intersection(c.allowed);
                let ack = SubscriptionsReport {
                    events: c.topics.topics().map(|t| t.as_str()).collect(),
                };
                self.reply(client, &Event::Subscriptions(ack));
            }
            Command::Reply { client, event } => self.reply(client, &event),
            Command::State(reply) => {
                let _ = reply.send(self.current());
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
            Command::CloseAll(kick) => {
                self.closing = true;
                // Dropping their replies tells parked clients the hub takes no clients.
                self.parked.clear();
                for client in self.clients.values() {
                    client.outbox.kick(kick.clone());
                }
            }
        }
    }

    /// The envelope of `event`: numbered next under [`Numbering::Local`], with the latest bus
    /// event's `seq` under [`Numbering::External`].
    fn envelope(&mut self, event: &Event) -> Outgoing {
        if self.config.numbering == Numbering::Local {
            self.seq += 1;
        }
        self.seal(event)
    }

    /// The envelope of `event` with the current `seq`.
    fn seal(&self, event: &Event) -> Outgoing {
        let now = Timestamp::now();
        let text = Envelope {
            event,
            timestamp: now,
            seq: self.seq,
        }
        .to_json();
        Outgoing {
            kind: kind_index(event),
            created_ns: now.0,
            frame: crate::ws::frame::text(&text),
        }
    }

    fn publish_numbered(&mut self, event: Event, seq: u64) {
        if self.config.numbering == Numbering::Local {
            self.publish(event, None);
            return;
        }
        if seq <= self.seq {
            tracing::debug!(seq, last = self.seq, "ignored: already published");
            return;
        }
        if self.seq == 0 && self.replay.is_empty() {
            // The first event seen: whatever came before it is not held here.
            self.evicted_through = seq - 1;
        }
        self.publish(event, Some(seq));
        // Clients that resumed from a position this gateway had not reached yet.
        let (ready, waiting): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| p.since <= self.seq);
        self.parked = waiting;
        for parked in ready {
            self.connect(
                parked.topics,
                parked.allowed,
                Some(parked.since),
                parked.reply,
                false,
            );
        }
    }

    /// Answers the parked clients whose wait is over with what the hub can give them.
    fn expire_parked(&mut self) {
        let now = tokio::time::Instant::now();
        let (due, waiting): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| p.deadline <= now);
        self.parked = waiting;
        for parked in due {
            self.connect(
                parked.topics,
                parked.allowed,
                Some(parked.since),
                parked.reply,
                false,
            );
        }
    }

    /// Updates the state and sends `event` to its subscribers; with `seq` (a bus event), under
    /// that number and kept for replay.
    fn publish(&mut self, event: Event, seq: Option<u64>) {
        let Some(topic) = event.topic() else {
            tracing::warn!(event = event.name(), "ignored: not a broadcast event");
            return;
        };
        if topic.is_stream() && !self.clients.values().any(|c| c.topics.contains(topic)) {
            // Nobody asked for this stream: nothing to serialize, number or keep.
            return;
        }
        match &event {
            Event::ServicesHealth(report) => self.health = report.clone(),
            Event::WebsdrsStatus(report) => self.websdrs = report.clone(),
            Event::SignalsDetected(signal) => {
                if signal.state == SignalState::Lost {
                    self.signals.remove(&signal.signal_id);
                } else {
                    self.signals.insert(signal.signal_id.clone(), signal.clone());
                }
            }
            Event::LocalizationsUpdated(fix) => {
                self.localizations.retain(|l| l.signal_id != fix.signal_id);
                self.localizations.push_front(fix.clone());
                self.localizations.truncate(self.config.recent_localizations);
            }
            _ => {}
        }
        // Streams are not replayed: a resuming client wants the next frame, not old ones.
        let replayed = !topic.is_stream();
        let message = match (self.config.numbering, seq) {
            (Numbering::Local, _) => {
                let message = self.envelope(&event);
                if replayed {
                    self.retain(topic, &message);
                }
                message
            }
            (Numbering::External, Some(seq)) => {
                self.seq = seq;
                let message = self.seal(&event);
                if replayed {
                    self.retain(topic, &message);
                }
                message
            }
            // The gateway's own news: delivered, not numbered, not replayed.
            (Numbering::External, None) => self.seal(&event),
        };
        let mut gone = Vec::new();
        let mut drained = Vec::new();
        for client in self.clients.values_mut() {
            if !client.topics.contains(topic) {
                continue;
            }
            if client.lagging {
                if client.outbox.depth() > 0 {
                    // Still draining what it was sent before it fell behind.
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    drained.push(client.id);
                }
                continue;
            }
            if !deliver(&self.counters, &self.config, client, message.clone()) {
                gone.push(client.id);
            }
        }
        for id in drained {
            // Drained: the fresh state (which includes this event) replaces what it missed.
            let Some(allowed) = self.clients.get(&id).map(|c| c.allowed) else {
                continue;
            };
            let resync = self.envelope(&Event::Resync(Box::new(self.snapshot(allowed))));
            self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
            if let Some(client) = self.clients.get_mut(&id) {
                client.lagging = false;
                if !deliver(&self.counters, &self.config, client, resync) {
                    gone.push(id);
                }
            }
        }
        for id in gone {
            self.clients.remove(&id);
        }
    }

    /// Keeps a broadcast event for replay, dropping the oldest beyond the count and age limits.
    fn retain(&mut self, topic: crate::events::Topic, message: &Outgoing) {
        if self.config.replay_events == 0 {
            self.evicted_through = self.seq;
            return;
        }
        let now = Timestamp::now().0;
        self.replay.push_back(Retained {
            seq: self.seq,
            topic,
            at_ns: now,
            message: message.clone(),
        });
        while self.replay.len() > self.config.replay_events
            || self
                .replay
                .front()
                .is_some_and(|r| now - r.at_ns > self.config.replay_age_ns)
        {
            if let Some(old) = self.replay.pop_front() {
                self.evicted_through = old.seq;
            }
        }
    }

    fn reply(&mut self, client: u64, event: &Event) {
        if !self.clients.contains_key(&client) {
            return;
        }
        let message = self.envelope(event);
        let Some(target) = self.clients.get_mut(&client) else {
            return;
        };
        if !deliver(&self.counters, &self.config, target, message) {
            self.clients.remove(&client);
        }
    }

    /// Registers a client. With `may_park`, a client resuming from a position ahead of this
    /// hub waits (up to [`RESUME_CATCH_UP`]) for the hub to reach it instead of being resynced.
    fn connect(
        &mut self,
        topics: TopicSet,
        allowed: TopicSet,
        since: Option<u64>,
        reply: oneshot::Sender<Connection>,
        may_park: bool,
    ) {
        if self.closing {
            // Dropping `reply` tells the caller the hub is not taking clients.
            return;
        }
        if let Some(since) = since.filter(|&since| may_park && since > self.seq) {
            self.parked.push(Parked {
                topics,
                allowed,
                since,
                reply,
                deadline: tokio::time::Instant::now() + RESUME_CATCH_UP,
            });
            return;
        }
        let id = self.next_client;
        self.next_client += 1;
        let outbox = Arc::new(Outbox::new(self.config.client_queue));
        match since {
            None => {
                let snapshot = self.envelope(&Event::Snapshot(Box::new(self.snapshot(allowed))));
                // Invariant: the outbox was just created with room for at least one message.
                outbox
                    .push(snapshot)
                    .expect("a new outbox has room for the snapshot");
            }
            Some(since) => {
                // Resumable when nothing after `since` has been dropped, `since` is not from
                // the future (a server restart resets seq), and the missed events fit the queue.
                let missed: Vec<&Retained> = self
                    .replay
                    .iter()
                    .filter(|r| r.seq > since && topics.contains(r.topic))
                    .collect();
                if since >= self.evicted_through
                    && since <= self.seq
                    && missed.len() < self.config.client_queue
                {
                    for retained in missed {
                        // Invariant: fewer messages than the new outbox's capacity.
                        outbox
                            .push(retained.message.clone())
                            .expect("the missed events fit the new outbox");
                    }
                    self.counters.resumes.fetch_add(1, Ordering::Relaxed);
                } else {
                    let resync = self.envelope(&Event::Resync(Box::new(self.snapshot(allowed))));
                    self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
                    // Invariant: the outbox was just created with room for at least one message.
                    outbox.push(resync).expect("a new outbox has room for the resync");
                }
            }
        }
        let connection = Connection {
            id,
            outbox: outbox.clone(),
        };
        if reply.send(connection).is_ok() {
            self.connections_total += 1;
            self.clients.insert(
                id,
                Client {
                    id,
                    topics,
                    allowed,
                    outbox,
                    lagging: false,
                },
            );
        }
    }

    fn signal_list(&self) -> SignalList {
        let mut signals: Vec<SignalReport> = self.signals.values().cloned().collect();
        signals.sort_by(|a, b| a.frequency_hz.total_cmp(&b.frequency_hz));
        SignalList { signals }
    }

    fn localization_list(&self) -> LocalizationList {
        LocalizationList {
            localizations: self.localizations.iter().cloned().collect(),
        }
    }

    /// Everything, for REST.
    fn current(&self) -> CurrentState {
        CurrentState {
            services_health: self.health.clone(),
            websdrs_status: self.websdrs.clone(),
            signals_detected: self.signal_list(),
            localizations_updated: self.localization_list(),
        }
    }

    /// What a client whose credentials allow `allowed` may see (only those topics are built).
    fn snapshot(&self, allowed: TopicSet) -> Snapshot {
        let show = |topic: Topic| allowed.contains(topic);
        Snapshot {
            services_health: show(Topic::ServicesHealth).then(|| self.health.clone()),
            websdrs_status: show(Topic::WebsdrsStatus).then(|| self.websdrs.clone()),
            signals_detected: show(Topic::SignalsDetected).then(|| self.signal_list()),
            localizations_updated: show(Topic::LocalizationsUpdated).then(|| self.localization_list()),
        }
    }

    fn stats(&self) -> WsStats {
        WsStats {
            connections: self.clients.len(),
            connections_total: self.connections_total,
            messages_sent: EVENT_NAMES
                .iter()
                .zip(&self.counters.sent)
                .map(|(name, n)| (*name, n.load(Ordering::Relaxed)))
                .collect(),
            bytes_sent: self.counters.bytes_sent.load(Ordering::Relaxed),
            messages_dropped: self.counters.dropped.load(Ordering::Relaxed),
            slow_clients_closed: self.counters.slow_clients_closed.load(Ordering::Relaxed),
            queued: self.clients.values().map(|c| c.outbox.depth()).sum(),
            queue_depth_max: self.clients.values().map(|c| c.outbox.depth()).max().unwrap_or(0),
            fanout_latency_p50_ms: self.counters.fanout_latency.quantile_bound(0.5).map(|s| s * 1e3),
            fanout_latency_p99_ms: self.counters.fanout_latency.quantile_bound(0.99).map(|s| s * 1e3),
            seq: self.seq,
            resyncs: self.counters.resyncs.load(Ordering::Relaxed),
            resumes: self.counters.resumes.load(Ordering::Relaxed),
            replay_retained: self.replay.len(),
            replay_from_seq: self.evicted_through,
        }
    }
}

/// Queues `message` for `client`; false if the client must be removed.
fn deliver(counters: &Counters, config: &HubConfig, client: &mut Client, message: Outgoing) -> bool {
    match client.outbox.push(message) {
        Ok(depth) => {
            // One lock per delivery: the depth comes back from the push.
            counters.queue_depth.observe(depth as f64);
            true
        }
        Err(Refused::Closed) => false,
        Err(Refused::Full) => {
            counters.queue_depth.observe(client.outbox.capacity() as f64);
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            match config.slow_client_policy {
                SlowClientPolicy::Resync => {
                    if !client.lagging {
                        tracing::info!(client = client.id, "a client fell behind; it will be resynced");
                    }
                    client.lagging = true;
                    true
                }
                SlowClientPolicy::Close => {
                    counters.slow_clients_closed.fetch_add(1, Ordering::Relaxed);
                    let queued = config.client_queue;
                    tracing::info!(client = client.id, queued, "closing a client that cannot keep up");
                    let reason = format!("slow consumer: {queued} messages queued");
                    client.outbox.kick(Kick { code: 1013, reason });
                    false
                }
            }
        }
    }
}

/// An empty state: every topic known but with nothing to report yet.
pub fn empty_snapshot() -> CurrentState {
    CurrentState {
        services_health: HealthReport {
            status: HealthStatus::Healthy,
            services: Vec::new(),
        },
        websdrs_status: WebsdrsReport { websdrs: Vec::new() },
        signals_detected: SignalList { signals: Vec::new() },
        localizations_updated: LocalizationList {
            localizations: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{SignalReport, Topic};
    use std::collections::VecDeque;

    fn hub(numbering: Numbering) -> Hub {
        Hub::spawn(
            HubConfig {
                client_queue: 64,
                slow_client_policy: SlowClientPolicy::Close,
                recent_localizations: 10,
                replay_events: 100,
                replay_age_ns: 300_000_000_000,
                numbering,
            },
            empty_snapshot(),
        )
    }

    fn gateway_hub() -> Hub {
        hub(Numbering::External)
    }

    fn signal(id: &str) -> Event {
        Event::SignalsDetected(SignalReport::example(id, "rx1"))
    }

    /// `(event, seq, signal_id)` of every message queued for `connection` by now.
    async fn drain(hub: &Hub, connection: &Connection) -> Vec<(String, u64, String)> {
        // The hub answers in order: once it has answered this, it has queued everything before.
        hub.stats().await.unwrap();
        let mut queued = VecDeque::new();
        std::future::poll_fn(|cx| {
            let _ = connection.outbox.poll_take(cx, &mut queued);
            std::task::Poll::Ready(())
        })
        .await;
        queued
            .iter()
            .map(|m| {
                let v: serde_json::Value = serde_json::from_slice(m.json()).unwrap();
                (
                    v["event"].as_str().unwrap().to_string(),
                    v["seq"].as_u64().unwrap(),
                    v["data"]["signal_id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn a_gateway_numbers_events_as_the_bus_does_and_ignores_what_it_has() {
        let hub = gateway_hub();
        let client = hub.connect(TopicSet::ALL).await.unwrap();
        hub.publish_numbered(signal("a"), 5).await;
        hub.publish_numbered(signal("b"), 7).await;
        // A consumer that starts over after a reconnect hands in old events again.
        hub.publish_numbered(signal("a-again"), 5).await;
        hub.publish_numbered(signal("b-again"), 7).await;
        hub.publish_numbered(signal("c"), 8).await;
        // Replies and the gateway's own news carry the latest bus seq and do not advance it.
        hub.reply(
            client.id,
            Event::Pong(crate::events::Pong {
                server_time: Timestamp(0),
            }),
        )
        .await;
        // Replies and publications travel on separate queues: wait for the reply to be queued
        // before publishing more (publications are never held back by client commands).
        hub.stats().await.unwrap();
        hub.publish(signal("local")).await;
        hub.publish_numbered(signal("d"), 9).await;
        let stats = hub.stats().await.unwrap();
        assert_eq!(stats.seq, 9);
        let got = drain(&hub, &client).await;
        let got: Vec<(&str, u64, &str)> = got.iter().map(|(e, s, i)| (e.as_str(), *s, i.as_str())).collect();
        assert_eq!(
            got,
            [
                ("snapshot", 0, ""),
                ("signals:detected", 5, "a"),
                ("signals:detected", 7, "b"),
                ("signals:detected", 8, "c"),
                ("pong", 8, ""),
                ("signals:detected", 8, "local"),
                ("signals:detected", 9, "d"),
            ]
        );
        // Before seq 5 nothing is held; from 5 on, bus events are replayed, local ones not.
        assert_eq!(stats.replay_from_seq, 4);
        let resumed = hub.resume(TopicSet::ALL, TopicSet::ALL, Some(7)).await.unwrap();
        let replayed: Vec<u64> = drain(&hub, &resumed).await.iter().map(|m| m.1).collect();
        assert_eq!(replayed, [8, 9]);
        let too_old = hub.resume(TopicSet::ALL, TopicSet::ALL, Some(3)).await.unwrap();
        assert_eq!(drain(&hub, &too_old).await[0].0, "resync");
        let topics = TopicSet::NONE.with(Topic::ServicesHealth);
        let filtered = hub.resume(topics, TopicSet::ALL, Some(5)).await.unwrap();
        assert!(drain(&hub, &filtered).await.is_empty());
    }

    #[tokio::test]
    async fn a_client_ahead_of_the_gateway_waits_for_it_to_catch_up() {
        let hub = gateway_hub();
        hub.publish_numbered(signal("a"), 1).await;
        // A client that saw seq 3 on a gateway further ahead.
        let waiting = {
            let hub = hub.clone();
            tokio::spawn(async move { hub.resume(TopicSet::ALL, TopicSet::ALL, Some(3)).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "answered before the gateway reached seq 3"
        );
        hub.publish_numbered(signal("b"), 2).await;
        hub.publish_numbered(signal("c"), 3).await;
        hub.publish_numbered(signal("d"), 4).await;
        let connection = waiting.await.unwrap().unwrap();
        let got: Vec<(u64, String)> = drain(&hub, &connection)
            .await
            .into_iter()
            .map(|m| (m.1, m.2))
            .collect();
        // Nothing before its position, nothing twice: the events after 3.
        assert_eq!(got, [(4, "d".to_string())]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_ahead_of_a_gateway_that_does_not_catch_up_gets_a_resync() {
        let hub = gateway_hub();
        hub.publish_numbered(signal("a"), 1).await;
        let started = tokio::time::Instant::now();
        let connection = hub.resume(TopicSet::ALL, TopicSet::ALL, Some(50)).await.unwrap();
        assert!(started.elapsed() >= RESUME_CATCH_UP);
        let got = drain(&hub, &connection).await;
        assert_eq!((got[0].0.as_str(), got[0].1), ("resync", 1));
    }

    #[tokio::test]
    async fn serve_numbering_is_unchanged_by_bus_numbers() {
        let hub = hub(Numbering::Local);
        let client = hub.connect(TopicSet::ALL).await.unwrap();
        hub.publish_numbered(signal("a"), 100).await;
        hub.publish(signal("b")).await;
        let seqs: Vec<u64> = drain(&hub, &client).await.iter().map(|m| m.1).collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_restricted_client_is_resynced_with_its_topics_only() {
        let hub = Hub::spawn(
            HubConfig {
                client_queue: 2,
                slow_client_policy: SlowClientPolicy::Resync,
                recent_localizations: 10,
                replay_events: 100,
                replay_age_ns: 300_000_000_000,
                numbering: Numbering::Local,
            },
            empty_snapshot(),
        );
        let allowed = TopicSet::NONE.with(Topic::SignalsDetected);
        let client = hub.resume(allowed, allowed, None).await.unwrap();
        let take = || async {
            hub.stats().await.unwrap();
            let mut queued = VecDeque::new();
            std::future::poll_fn(|cx| {
                let _ = client.outbox.poll_take(cx, &mut queued);
                std::task::Poll::Ready(())
            })
            .await;
            queued
                .iter()
                .map(|m| serde_json::from_slice::<serde_json::Value>(m.json()).unwrap())
                .collect::<Vec<_>>()
        };
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v["data"].as_object().unwrap().keys().cloned().collect()
        };
        // The snapshot and one event fill the queue of 2; the next ones find it full.
        for n in 0..3 {
            hub.publish(signal(&format!("s{n}"))).await;
        }
        let first = take().await;
        assert_eq!(first[0]["event"], "snapshot");
        assert_eq!(keys(&first[0]), ["signals:detected"]);
        // Drained: the next event brings a resync, again with the allowed topic only.
        hub.publish(signal("s3")).await;
        let second = take().await;
        assert_eq!(second[0]["event"], "resync");
        assert_eq!(keys(&second[0]), ["signals:detected"]);
    }

    #[test]
    fn histogram_quantiles_name_the_bucket_they_fall_in() {
        let histogram = Histogram::new(LATENCY_BUCKETS_S);
        assert_eq!(histogram.quantile_bound(0.5), None);
        for _ in 0..98 {
            histogram.observe(0.0003);
        }
        histogram.observe(0.02);
        histogram.observe(0.02);
        assert_eq!(histogram.quantile_bound(0.5), Some(0.0005));
        assert_eq!(histogram.quantile_bound(0.99), Some(0.025));
        histogram.observe(60.0);
        assert_eq!(histogram.quantile_bound(1.0), None, "beyond the last bound");
    }
}
