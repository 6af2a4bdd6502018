//! A gateway's side of the bus: follows the events stream and feeds the hub.
//!
//! On start it reads the stream from the beginning of its retention, so the hub's state
//! (receivers, health, active signals, recent fixes) is rebuilt from the nodes' events, then it
//! follows live events. Each event reaches the hub numbered with its stream sequence
//! ([`Hub::publish_numbered`]): every gateway gives it the same `seq`. When the connection to
//! NATS drops, the gateway keeps serving what it has, its `bus` service turns `degraded`
//! (sent to clients at once), and on reconnection it reads on from the last sequence it has;
//! the hub ignores anything it already has, so nothing reaches a client twice.

use super::merge::NodeReports;
use super::publisher::parse_message_id;
use super::{subject, Bus, LinkState, EVENTS_STREAM, MESSAGE_ID_HEADER};
use crate::config::BusConfig;
use crate::events::{Event, HealthReport, HealthStatus, Published, ServiceHealth, Timestamp, Topic};
use crate::hub::Hub;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the gateway's own services are re-evaluated (client count, catching up) and
/// silent nodes looked for.
const OWN_TICK: Duration = Duration::from_millis(250);
/// A node (or locate worker) that has sent no report for this many of the longer of
/// `server.health_interval_s` and `server.status_interval_s` is shown as gone: it reports
/// both at least that often while it runs.
const STALE_AFTER_INTERVALS: f64 = 3.0;

/// Counters of the follower, for health, `/api/v1/ws/stats`-style checks and tests.
#[derive(Debug, Default)]
pub struct FollowerStats {
    /// Stream sequence of the last event read (0: none yet).
    pub seq: AtomicU64,
    /// Whether the follower has read everything the stream held when it last (re)connected.
    pub caught_up: AtomicBool,
    /// Events skipped as a republished copy of one already read.
    pub duplicates: AtomicU64,
    /// Messages that were not a valid event for their subject.
    pub malformed: AtomicU64,
    /// Times the consumer was (re)created.
    pub subscriptions: AtomicU64,
}

/// What a follower needs to know.
#[derive(Debug, Clone)]
pub struct FollowerSettings {
    /// The bus and its streams.
    pub bus: BusConfig,
    /// How often nodes report their status and health (the longer of the two intervals): a
    /// node silent for several of them is shown as gone.
    pub report_interval: std::time::Duration,
}

/// Starts following the events stream into `hub` (which must number externally).
pub fn spawn(bus: Bus, hub: Hub, settings: FollowerSettings) -> (Arc<FollowerStats>, JoinHandle<()>) {
    let stats = Arc::new(FollowerStats::default());
    let follower = Follower {
        bus,
        hub,
        settings,
        stats: stats.clone(),
        reports: NodeReports::default(),
        seen: HashMap::new(),
        own: OwnServices::default(),
        target_seq: 0,
    };
    (stats, tokio::spawn(follower.run()))
}

struct Follower {
    bus: Bus,
    hub: Hub,
    settings: FollowerSettings,
    stats: Arc<FollowerStats>,
    reports: NodeReports,
    /// The highest event number read per node boot (`<node>.<boot>`), to skip republished
    /// copies of events read before.
    seen: HashMap<String, u64>,
    own: OwnServices,
    /// The stream's last sequence when the consumer was last created: reached = caught up.
    target_seq: u64,
}

/// The gateway's own services and since when each holds its status.
#[derive(Debug, Default)]
struct OwnServices {
    clients: usize,
    gateway_since: Option<(HealthStatus, Timestamp)>,
    bus_since: Option<(HealthStatus, Timestamp)>,
}

impl OwnServices {
    fn since(slot: &mut Option<(HealthStatus, Timestamp)>, status: HealthStatus) -> Timestamp {
        match slot {
            Some((held, since)) if *held == status => *since,
            _ => {
                let now = Timestamp::now();
                *slot = Some((status, now));
                now
            }
        }
    }
}

type Messages = async_nats::jetstream::consumer::pull::Ordered;

impl Follower {
    async fn run(mut self) {
        let mut link = self.bus.link.clone();
        let mut messages: Option<Messages> = None;
        let mut retry_at: Option<Instant> = None;
        let mut attempt = 0u32;
        let mut tick = tokio::time::interval(OWN_TICK);
        let mut last_own = self.own_statuses();
        loop {
            let connected = link.borrow().connected;
            if connected && messages.is_none() && retry_at.is_none() {
                match self.subscribe().await {
                    Ok(stream) => {
                        messages = Some(stream);
                        attempt = 0;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot follow the events stream; retrying");
                        retry_at = Some(Instant::now() + super::retry_delay(attempt));
                        attempt += 1;
                    }
                }
            }
            tokio::select! {
                message = async { messages.as_mut().expect("guarded by is_some").next().await }, if messages.is_some() => {
                    match message {
                        Some(Ok(message)) => self.handle(message).await,
                        Some(Err(error)) => {
                            tracing::warn!(%error, "the events consumer failed; following again");
                            messages = None;
                            retry_at = Some(Instant::now() + super::retry_delay(attempt));
                            attempt += 1;
                        }
                        None => messages = None,
                    }
                }
                changed = link.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let state = link.borrow().clone();
                    if state.connected {
                        tracing::info!(url = %self.bus.url, seq = self.seq(), "connected to NATS; following the events stream");
                        retry_at = None;
                        attempt = 0;
                    } else {
                        tracing::warn!(url = %self.bus.url, seq = self.seq(), "lost NATS; serving the events read so far");
                        // A new consumer from the last sequence read, once connected again.
                        messages = None;
                        self.stats.caught_up.store(false, Ordering::Relaxed);
                    }
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    retry_at = None;
                }
                _ = tick.tick() => {
                    self.own.clients = self.hub.stats().await.map_or(0, |s| s.connections);
                    let state = link.borrow().clone();
                    self.look_for_silent_nodes(&state).await;
                }
            }
            // The gateway's own news (the bus lost or back, caught up) goes out at once,
            // unnumbered: no other gateway has it.
            let own = self.own_statuses();
            if own != last_own {
                last_own = own;
                let health = self.health(&link.borrow().clone());
                self.hub.publish(Event::ServicesHealth(health)).await;
            }
        }
    }

    /// Shows nodes that stopped reporting as gone (and back once they report), to this
    /// gateway's clients at once. Only while this gateway follows the stream live: while it
    /// is cut off or catching up, every node would look silent.
    async fn look_for_silent_nodes(&mut self, link: &LinkState) {
        if !link.connected || !self.stats.caught_up.load(Ordering::Relaxed) {
            return;
        }
        let after_ns = (STALE_AFTER_INTERVALS * self.settings.report_interval.as_secs_f64() * 1e9) as i64;
        if self
            .reports
            .mark_stale(sdrhub_hardware::acquisition::now_ns(), after_ns)
        {
            tracing::info!(nodes = ?self.reports.nodes().collect::<Vec<_>>(), "a node went silent or came back");
            self.hub
                .publish(Event::WebsdrsStatus(self.reports.websdrs()))
                .await;
            let health = self.health(link);
            self.hub.publish(Event::ServicesHealth(health)).await;
        }
    }

    fn seq(&self) -> u64 {
        self.stats.seq.load(Ordering::Relaxed)
    }

    /// A new ordered consumer from the event after the last one read (from the start of the
    /// stream's retention the first time).
    async fn subscribe(&mut self) -> Result<Messages, String> {
        self.bus
            .ensure_streams(&self.settings.bus)
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = self
            .bus
            .jetstream
            .get_stream(EVENTS_STREAM)
            .await
            .map_err(|e| e.to_string())?;
        let info = stream.info().await.map_err(|e| e.to_string())?;
        let last = info.state.last_sequence;
        let seq = self.seq();
        if last < seq {
            tracing::error!(
                stream_last = last,
                read = seq,
                "the events stream is behind this gateway (was it deleted?); events numbered up to {seq} again are skipped"
            );
        }
        self.target_seq = last;
        self.stats.caught_up.store(last <= seq, Ordering::Relaxed);
        let deliver_policy = if seq == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            }
        };
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy,
                description: Some("sdrhub gateway".into()),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let messages = consumer.messages().await.map_err(|e| e.to_string())?;
        self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
        tracing::info!(from = seq + 1, stream_last = last, "following {EVENTS_STREAM}");
        Ok(messages)
    }

    /// One stream message: checked, merged and handed to the hub under its sequence.
    async fn handle(&mut self, message: async_nats::jetstream::Message) {
        let Ok(info) = message.info() else {
            self.stats.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let seq = info.stream_sequence;
        if seq <= self.seq() {
            return;
        }
        let stored_ns = i64::try_from(info.published.unix_timestamp_nanos()).unwrap_or(i64::MAX);
        self.stats.seq.store(seq, Ordering::Relaxed);
        if seq >= self.target_seq || info.pending == 0 {
            self.stats.caught_up.store(true, Ordering::Relaxed);
        }
        if let Some(id) = message
            .headers
            .as_ref()
            .and_then(|h| h.get(MESSAGE_ID_HEADER))
            .and_then(|id| parse_message_id(id.as_str()))
        {
            let (origin, n) = id;
            let highest = self.seen.entry(origin.to_string()).or_insert(0);
            if n <= *highest {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(seq, origin, n, "skipped a republished event");
                return;
            }
            *highest = n;
        }
        let Some((topic, key)) = subject::parse_event_subject(message.subject.as_str()) else {
            self.malformed(seq, message.subject.as_str(), "not an event subject");
            return;
        };
        let event: Event = match serde_json::from_slice::<Published>(&message.payload) {
            Ok(published) => published.into(),
            Err(error) => {
                self.malformed(seq, message.subject.as_str(), &error.to_string());
                return;
            }
        };
        if event.topic() != Some(topic) {
            self.malformed(seq, message.subject.as_str(), "event of another topic");
            return;
        }
        let event = match event {
            Event::WebsdrsStatus(report) => {
                self.reports.set_websdrs(key, report, stored_ns);
                Event::WebsdrsStatus(self.reports.websdrs())
            }
            Event::ServicesHealth(report) => {
                self.reports.set_health(key, report, stored_ns);
                let link = self.bus.link.borrow().clone();
                Event::ServicesHealth(self.health(&link))
            }
            other => other,
        };
        debug_assert!(topic != Topic::ServicesHealth || matches!(event, Event::ServicesHealth(_)));
        self.hub.publish_numbered(event, seq).await;
    }

    fn malformed(&self, seq: u64, subject: &str, why: &str) {
        let count = self.stats.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        if count.is_power_of_two() {
            tracing::warn!(seq, subject, why, count, "skipped a malformed message on the bus");
        }
    }

    /// The statuses of the gateway's own services: what, when changed, is news.
    fn own_statuses(&self) -> (HealthStatus, bool, bool) {
        let link = self.bus.link.borrow();
        (
            self.bus_status(&link).0,
            link.connected,
            self.stats.caught_up.load(Ordering::Relaxed),
        )
    }

    fn bus_status(&self, link: &LinkState) -> (HealthStatus, String) {
        let seq = self.seq();
        if !link.connected {
            return (
                HealthStatus::Degraded,
                format!(
                    "NATS at {} unreachable since {}: serving events up to seq {seq}; reconnecting",
                    self.bus.url,
                    link.since.to_rfc3339()
                ),
            );
        }
        if !self.stats.caught_up.load(Ordering::Relaxed) {
            return (
                HealthStatus::Degraded,
                format!(
                    "catching up with {EVENTS_STREAM}: seq {seq} of {}",
                    self.target_seq
                ),
            );
        }
        (
            HealthStatus::Healthy,
            format!(
                "following {EVENTS_STREAM} at {} (seq {seq}; {} outage(s) since start)",
                self.bus.url, link.outages
            ),
        )
    }

    /// The merged report: this gateway's services, then every node's.
    fn health(&mut self, link: &LinkState) -> HealthReport {
        let (bus_status, bus_detail) = self.bus_status(link);
        let own = [
            ServiceHealth {
                name: "gateway".into(),
                status: HealthStatus::Healthy,
                detail: format!("serving {} WebSocket client(s)", self.own.clients),
                since: OwnServices::since(&mut self.own.gateway_since, HealthStatus::Healthy),
            },
            ServiceHealth {
                name: "bus".into(),
                status: bus_status,
                detail: bus_detail,
                since: OwnServices::since(&mut self.own.bus_since, bus_status),
            },
        ];
        self.reports.health(&own)
    }
}
