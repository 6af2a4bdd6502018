//! The hub task's state machine: the current state of every topic, the registered clients,
//! and what each command and publication does to them.

use super::config::{HubConfig, Kick, Numbering, SlowClientPolicy, RESUME_CATCH_UP};
use super::metrics::{Counters, WsStats};
use super::outbox::{Outbox, Outgoing, Refused};
use super::parked::{Parked, ParkedClients};
use super::replay::Replay;
use super::waterfall::Waterfalls;
use super::{Command, Connection, Publication};
use crate::events::{
    AlertList, AlertReport, AlertState, CurrentState, Envelope, Event, HealthReport, HealthStatus,
    LocalizationList, LocalizationReport, SignalList, SignalReport, SignalState, Snapshot,
    SubscriptionsReport, Timestamp, Topic, TopicSet, WebsdrsReport,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

struct Client {
    id: u64,
    topics: TopicSet,
    /// What its credentials allow (its snapshots and resyncs show only these topics).
    allowed: TopicSet,
    outbox: Arc<Outbox>,
    /// Fell behind under [`SlowClientPolicy::Resync`]: nothing is queued until it drains.
    lagging: bool,
}

/// Publications served in a row, at most, before a waiting command gets its turn.
const PUBLICATIONS_PER_COMMAND: usize = 64;

pub(super) struct HubState {
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
    /// Active alerts by id.
    alerts: BTreeMap<String, AlertReport>,
    /// Where the broadcast events of state also go (the alert engine), if anywhere.
    tap: Option<super::Tap>,
    replay: Replay,
    /// Shutting down: new clients are refused.
    closing: bool,
    /// Resuming clients ahead of this gateway (only under [`Numbering::External`]).
    parked: ParkedClients,
    /// The recent waterfall of every receiver, when kept.
    waterfalls: Option<Waterfalls>,
}

impl HubState {
    pub(super) fn new(config: HubConfig, initial: CurrentState, counters: Arc<Counters>) -> Self {
        let replay = Replay::new(config.replay_events, config.replay_age_ns);
        let waterfalls = config.waterfall.map(Waterfalls::new);
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
            alerts: BTreeMap::new(),
            tap: None,
            replay,
            closing: false,
            parked: ParkedClients::default(),
            waterfalls,
        };
        for signal in initial.signals_detected.signals {
            state.signals.insert(signal.signal_id.clone(), signal);
        }
        state
            .localizations
            .extend(initial.localizations_updated.localizations);
        for alert in initial.alerts_raised.alerts {
            state.alerts.insert(alert.alert_id.clone(), alert);
        }
        state
    }

    pub(super) async fn run(
        mut self,
        mut publications: mpsc::Receiver<Publication>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        loop {
            if self
                .parked
                .next_deadline()
                .is_some_and(|d| d <= tokio::time::Instant::now())
            {
                self.expire_parked();
            }
            // Publications first (what clients ask can wait, events and the DSP cannot), but
            // at most a burst of them before one waiting command, so that a steady stream of
            // events cannot starve connects, replies and stats either.
            let mut served = 0;
            while served < PUBLICATIONS_PER_COMMAND {
                match publications.try_recv() {
                    Ok(publication) => {
                        self.publication(publication);
                        served += 1;
                    }
                    Err(_) => break,
                }
            }
            match commands.try_recv() {
                Ok(command) => {
                    self.command(command);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) if served > 0 => continue,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            // Nothing waits: sleep until something does.
            let deadline = self.parked.next_deadline();
            tokio::select! {
                biased;
                publication = publications.recv() => match publication {
                    Some(publication) => self.publication(publication),
                    // Every handle is gone.
                    None => break,
                },
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => self.expire_parked(),
            }
        }
    }

    fn publication(&mut self, publication: Publication) {
        match publication {
            Publication::Local(event) => self.publish(event, None),
            Publication::Numbered(event, seq) => self.publish_numbered(event, seq),
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
            Command::Tap(tap, reply) => {
                self.tap = Some(tap);
                let _ = reply.send(());
            }
            Command::State(reply) => {
                let _ = reply.send(self.current());
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
            Command::Waterfall { receiver, reply } => {
                let rows = self.waterfalls.as_ref().and_then(|w| w.rows(&receiver));
                let known = rows.is_some() || self.websdrs.websdrs.iter().any(|w| w.id == receiver);
                let _ = reply.send(known.then(|| rows.unwrap_or_default()));
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
            kind: Some(event.kind()),
            created_ns: now.0,
            frame: crate::frame::text(&text),
            seq: self.seq,
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
        if self.seq == 0 {
            // The first event seen: whatever came before it is not held here.
            self.replay.starts_at(seq);
        }
        self.publish(event, Some(seq));
        // Clients that resumed from a position this gateway had not reached yet.
        for parked in self.parked.take_reached(self.seq) {
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
        for parked in self.parked.take_expired(tokio::time::Instant::now()) {
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
        if let (Event::SpectrumFrame(frame), Some(waterfalls)) = (&event, self.waterfalls.as_mut()) {
            // Kept whether or not anyone watches now: the next page to open wants them.
            waterfalls.push(frame);
        }
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
            Event::AlertsRaised(alert) => {
                if alert.state == AlertState::Resolved {
                    self.alerts.remove(&alert.alert_id);
                } else {
                    self.alerts.insert(alert.alert_id.clone(), alert.clone());
                }
            }
            _ => {}
        }
        if let Some(tap) = &self.tap {
            if !topic.is_stream() && topic != Topic::AlertsRaised {
                tap.offer(&event);
            }
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

    /// Keeps a broadcast event (numbered `self.seq`) for replay.
    fn retain(&mut self, topic: Topic, message: &Outgoing) {
        self.replay.retain(self.seq, topic, message, Timestamp::now().0);
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
                let missed = self
                    .replay
                    .missed(since, self.seq, topics, self.config.client_queue);
                if let Some(missed) = missed {
                    for message in missed {
                        // Invariant: fewer messages than the new outbox's capacity.
                        outbox
                            .push(message)
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

    fn alert_list(&self) -> AlertList {
        let mut alerts: Vec<AlertReport> = self.alerts.values().cloned().collect();
        alerts.sort_by_key(|a| a.raised_at);
        AlertList { alerts }
    }

    /// Everything, for REST.
    fn current(&self) -> CurrentState {
        CurrentState {
            services_health: self.health.clone(),
            websdrs_status: self.websdrs.clone(),
            signals_detected: self.signal_list(),
            localizations_updated: self.localization_list(),
            alerts_raised: self.alert_list(),
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
            alerts_raised: show(Topic::AlertsRaised).then(|| self.alert_list()),
        }
    }

    fn stats(&self) -> WsStats {
        WsStats {
            connections: self.clients.len(),
            connections_total: self.connections_total,
            messages_sent: crate::events::EventKind::ALL
                .iter()
                .zip(&self.counters.sent)
                .map(|(kind, n)| (kind.name(), n.load(Ordering::Relaxed)))
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
            direct_writes: self.counters.direct_writes.load(Ordering::Relaxed),
            direct_writes_partial: self.counters.direct_writes_partial.load(Ordering::Relaxed),
            replay_retained: self.replay.len(),
            replay_from_seq: self.replay.evicted_through(),
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
        alerts_raised: AlertList { alerts: Vec::new() },
    }
}
