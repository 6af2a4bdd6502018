//! An acquisition node's side of the bus: every broadcast event its pipeline makes goes to
//! JetStream, in order, each acknowledged before the next is sent.
//!
//! Events wait in a bounded buffer until NATS acknowledges them, so an outage (NATS restarting,
//! the network gone) loses nothing up to `bus.buffer_events`: the node keeps publishing into
//! the buffer, and once NATS is back the buffer drains in order. Beyond the bound the oldest
//! waiting event is dropped and counted (the `bus` service of the node's health says so). Each
//! event carries a message id (`<node>.<boot>.<n>`): a retry of an event NATS stored but whose
//! acknowledgement was lost is dropped by JetStream's duplicate window, and gateways skip an id
//! they have seen after it.

use super::{subject, Bus, LinkState};
use crate::config::BusConfig;
use crate::events::{Event, HealthStatus};
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Events that may wait for the publishing task to take them into its buffer; it takes them as
/// fast as they come, acknowledgements or not, so this only absorbs bursts.
const INTAKE_QUEUE: usize = 1024;
/// Waiting events beyond which the node calls its bus link degraded while connected: NATS is
/// not keeping up.
const BACKLOG_DEGRADED: u64 = 100;

/// Counters of the publisher, read by the node's health and by tests.
#[derive(Debug, Default)]
pub struct PublisherStats {
    /// Events taken from the pipeline.
    pub accepted: AtomicU64,
    /// Events NATS acknowledged (stored in the stream).
    pub acked: AtomicU64,
    /// Acknowledgements that said "duplicate" (a retry of an event already stored).
    pub duplicates: AtomicU64,
    /// Events dropped because the buffer was full.
    pub dropped: AtomicU64,
    /// Publish attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Events waiting for an acknowledgement now.
    pub waiting: AtomicU64,
    /// Stream sequence of the last acknowledged event (0: none yet).
    pub last_seq: AtomicU64,
}

/// A handle on the publishing task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Publisher {
    intake: mpsc::Sender<Event>,
    stats: Arc<PublisherStats>,
    link: tokio::sync::watch::Receiver<LinkState>,
    url: String,
    bound: usize,
    /// Where the node's snippet cutter learns which signals are active.
    signal_tap: Option<mpsc::Sender<crate::events::SignalReport>>,
}

/// One event on its way: where it goes, its bytes and its id.
#[derive(Debug, Clone)]
struct Pending {
    n: u64,
    subject: String,
    payload: Bytes,
    id: String,
}

/// A publish waiting for its acknowledgement.
type Job = Pin<Box<dyn Future<Output = Result<async_nats::jetstream::publish::PublishAck, String>> + Send>>;
/// Creating the streams.
type Setup = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The publishing task, to end it.
#[derive(Debug)]
pub struct PublisherTask {
    close: tokio::sync::oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl PublisherTask {
    /// Stops taking events and waits for the task to publish what it holds (at most
    /// [`Publisher::spawn`]'s `flush_for`).
    pub async fn finish(self) {
        let _ = self.close.send(());
        let _ = self.handle.await;
    }
}

impl Publisher {
    /// Starts the publishing task of node `node` on the current runtime. It ends when every
    /// handle is dropped or [`PublisherTask::finish`] is called, once its buffer is published
    /// or `flush_for` has passed. With `namespace`, signal ids get the node's prefix
    /// ([`namespaced`]): an acquisition node's own tracker numbers them; a locate worker
    /// publishes ids that already have one.
    pub fn spawn(
        bus: Bus,
        config: &BusConfig,
        node: String,
        flush_for: std::time::Duration,
        namespace: bool,
    ) -> (Publisher, PublisherTask) {
        let (intake, events) = mpsc::channel(INTAKE_QUEUE);
        let (close, closed) = tokio::sync::oneshot::channel();
        let stats = Arc::new(PublisherStats::default());
        let publisher = Publisher {
            intake,
            stats: stats.clone(),
            link: bus.link.clone(),
            url: bus.url.clone(),
            bound: config.buffer_events,
            signal_tap: None,
        };
        let task = Task {
            boot: sdrhub_hardware::acquisition::now_ns().unsigned_abs(),
            bus,
            config: config.clone(),
            node,
            stats,
            buffer: VecDeque::new(),
            next: 0,
            flush_for,
            namespace,
        };
        let handle = tokio::spawn(task.run(events, closed));
        (publisher, PublisherTask { close, handle })
    }

    /// This publisher, also handing every `signals:detected` it publishes to `tap` (dropped
    /// when `tap` is full).
    pub fn with_signal_tap(mut self, tap: mpsc::Sender<crate::events::SignalReport>) -> Self {
        self.signal_tap = Some(tap);
        self
    }

    /// Hands an event to the bus; waits only while the intake queue is full.
    pub async fn publish(&self, event: Event) {
        if let (Some(tap), Event::SignalsDetected(signal)) = (&self.signal_tap, &event) {
            let _ = tap.try_send(signal.clone());
        }
        // The task holds the receiver until every handle is gone.
        let _ = self.intake.send(event).await;
    }

    /// Publishes from a non-async thread.
    pub fn publish_blocking(&self, event: Event) {
        let _ = self.intake.blocking_send(event);
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<PublisherStats> {
        &self.stats
    }

    /// The node's `bus` service: how its link to NATS is doing.
    pub fn health(&self) -> (HealthStatus, String) {
        let link = self.link.borrow().clone();
        let s = &self.stats;
        let waiting = s.waiting.load(Ordering::Relaxed);
        let dropped = s.dropped.load(Ordering::Relaxed);
        let acked = s.acked.load(Ordering::Relaxed);
        let counts = format!(
            "{acked} event(s) acknowledged (stream seq {}), {waiting} waiting (bound {}), {dropped} dropped",
            s.last_seq.load(Ordering::Relaxed),
            self.bound
        );
        if !link.connected {
            return (
                HealthStatus::Degraded,
                format!(
                    "NATS at {} unreachable since {}; buffering: {counts}",
                    self.url,
                    link.since.to_rfc3339()
                ),
            );
        }
        if waiting > BACKLOG_DEGRADED || dropped > 0 {
            return (
                HealthStatus::Degraded,
                format!("publishing to {}: {counts}", self.url),
            );
        }
        (
            HealthStatus::Healthy,
            format!("publishing to {}: {counts}", self.url),
        )
    }
}

struct Task {
    boot: u64,
    bus: Bus,
    config: BusConfig,
    node: String,
    stats: Arc<PublisherStats>,
    buffer: VecDeque<Pending>,
    next: u64,
    flush_for: std::time::Duration,
    namespace: bool,
}

impl Task {
    async fn run(mut self, mut events: mpsc::Receiver<Event>, mut close: tokio::sync::oneshot::Receiver<()>) {
        let mut link = self.bus.link.clone();
        let mut streams_ready = false;
        let mut setup: Option<Setup> = None;
        let mut inflight: Option<(u64, Job)> = None;
        let mut retry_at: Option<Instant> = None;
        let mut attempt = 0u32;
        let mut closed_at: Option<Instant> = None;
        loop {
            let connected = link.borrow().connected;
            let may_start = connected && retry_at.is_none() && inflight.is_none() && setup.is_none();
            if may_start && !streams_ready {
                let (bus, config) = (self.bus.clone(), self.config.clone());
                setup = Some(Box::pin(async move {
                    bus.ensure_streams(&config).await.map_err(|e| e.to_string())
                }));
            } else if may_start && streams_ready {
                if let Some(front) = self.buffer.front() {
                    inflight = Some((front.n, publish(&self.bus, front.clone())));
                }
            }
            if let Some(closed) = closed_at {
                if self.buffer.is_empty() && inflight.is_none() {
                    break;
                }
                if closed.elapsed() > self.flush_for {
                    tracing::warn!(
                        lost = self.buffer.len(),
                        "stopping with events NATS has not acknowledged"
                    );
                    break;
                }
            }
            let flush_deadline = closed_at.map(|t| t + self.flush_for);
            tokio::select! {
                event = events.recv(), if closed_at.is_none() => match event {
                    Some(event) => self.enqueue(event, inflight.as_ref().map(|(n, _)| *n)),
                    None => closed_at = Some(Instant::now()),
                },
                _ = &mut close, if closed_at.is_none() => {
                    // What the pipeline handed over before it stopped is published too.
                    while let Ok(event) = events.try_recv() {
                        self.enqueue(event, inflight.as_ref().map(|(n, _)| *n));
                    }
                    closed_at = Some(Instant::now());
                }
                result = async { setup.as_mut().expect("guarded by is_some").await }, if setup.is_some() => {
                    setup = None;
                    match result {
                        Ok(()) => {
                            streams_ready = true;
                            attempt = 0;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot set up the JetStream streams; retrying");
                            retry_at = Some(Instant::now() + super::retry_delay(attempt));
                            attempt += 1;
                        }
                    }
                }
                result = async { inflight.as_mut().expect("guarded by is_some").1.as_mut().await }, if inflight.is_some() => {
                    let Some((n, _)) = inflight.take() else { continue };
                    match result {
                        Ok(ack) => {
                            attempt = 0;
                            if self.buffer.front().is_some_and(|p| p.n == n) {
                                self.buffer.pop_front();
                            }
                            let s = &self.stats;
                            s.acked.fetch_add(1, Ordering::Relaxed);
                            if ack.duplicate {
                                s.duplicates.fetch_add(1, Ordering::Relaxed);
                            }
                            s.last_seq.fetch_max(ack.sequence, Ordering::Relaxed);
                            s.waiting.store(self.buffer.len() as u64, Ordering::Relaxed);
                        }
                        Err(error) => {
                            self.stats.retries.fetch_add(1, Ordering::Relaxed);
                            // The stream may be what is missing (a NATS that lost its store):
                            // make sure of it again before the retry.
                            streams_ready = false;
                            if attempt == 0 {
                                tracing::warn!(%error, waiting = self.buffer.len(), "NATS did not acknowledge an event; retrying");
                            }
                            retry_at = Some(Instant::now() + super::retry_delay(attempt));
                            attempt += 1;
                        }
                    }
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    retry_at = None;
                }
                changed = link.changed() => {
                    if changed.is_err() {
                        // The client is gone: nothing can be published any more.
                        break;
                    }
                    if link.borrow().connected {
                        // Back: retry at once rather than after the backoff.
                        retry_at = None;
                        attempt = 0;
                    } else {
                        // An acknowledgement in flight will not come; the event is sent again
                        // (same id) once NATS is back, rather than after the ack timeout.
                        inflight = None;
                        setup = None;
                    }
                }
                _ = tokio::time::sleep_until(flush_deadline.unwrap_or_else(Instant::now)), if flush_deadline.is_some() => {}
            }
        }
    }

    /// Takes an event into the buffer, dropping the oldest waiting one (not the one in flight)
    /// when it is full.
    fn enqueue(&mut self, event: Event, inflight: Option<u64>) {
        let event = if self.namespace {
            namespaced(event, &self.node)
        } else {
            event
        };
        if event.topic().is_some_and(|t| !t.on_bus()) {
            // Opt-in streams (spectrum frames) are ephemeral and too heavy for a durable
            // stream, and alerts are each hub's own: they stay on the node.
            return;
        }
        let Some(subject) = subject::event_subject(&event, &self.node) else {
            tracing::warn!(event = event.name(), "not a broadcast event; not published");
            return;
        };
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        if self.buffer.len() >= self.config.buffer_events {
            let victim = usize::from(self.buffer.front().map(|p| p.n) == inflight);
            if self.buffer.remove(victim).is_some() {
                let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        bound = self.config.buffer_events,
                        "bus buffer full: dropping the oldest events NATS has not acknowledged"
                    );
                }
            }
        }
        self.next += 1;
        self.buffer.push_back(Pending {
            n: self.next,
            subject,
            // Invariant: events are plain data (see `Envelope::to_json`).
            payload: Bytes::from(serde_json::to_vec(&event).expect("events serialize")),
            id: format!("{}.{}.{}", self.node, self.boot, self.next),
        });
        self.stats
            .waiting
            .store(self.buffer.len() as u64, Ordering::Relaxed);
    }
}

fn publish(bus: &Bus, pending: Pending) -> Job {
    let jetstream = bus.jetstream.clone();
    Box::pin(async move {
        let ack = jetstream
            .send_publish(
                pending.subject,
                PublishMessage::build()
                    .payload(pending.payload)
                    .message_id(pending.id),
            )
            .await
            .map_err(|e| e.to_string())?;
        ack.await.map_err(|e| e.to_string())
    })
}

/// `event` with its signal id made unique across nodes: every node numbers its signals from
/// `sig-1`, so a node's signals are `<node>/sig-<n>` on the bus (and its emitters, numbered
/// by its own tracker too, `<node>/em-<n>`).
pub fn namespaced(event: Event, node: &str) -> Event {
    match event {
        Event::SignalsDetected(mut signal) => {
            signal.signal_id = format!("{node}/{}", signal.signal_id);
            if !signal.identity.emitter_id.is_empty() {
                signal.identity.emitter_id = format!("{node}/{}", signal.identity.emitter_id);
            }
            Event::SignalsDetected(signal)
        }
        Event::LocalizationsUpdated(mut fix) => {
            fix.signal_id = format!("{node}/{}", fix.signal_id);
            Event::LocalizationsUpdated(fix)
        }
        other => other,
    }
}

/// The parts of a message id: node, boot and the node's event number.
pub fn parse_message_id(id: &str) -> Option<(&str, u64)> {
    let (origin, n) = id.rsplit_once('.')?;
    Some((origin, n.parse().ok()?))
}

impl crate::pipeline::EventSink for Publisher {
    fn publish(
        &self,
        event: crate::events::Event,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(Publisher::publish(self, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_name_the_node_boot_and_number() {
        assert_eq!(parse_message_id("edge-1.1700.42"), Some(("edge-1.1700", 42)));
        assert_eq!(parse_message_id("garbage"), None);
        assert_eq!(parse_message_id("a.b.x"), None);
    }

    #[test]
    fn a_nodes_signals_and_emitters_are_namespaced_on_the_bus() {
        let signal = crate::events::SignalReport::example("sig-3", "rx1");
        let Event::SignalsDetected(out) = namespaced(Event::SignalsDetected(signal), "edge-1") else {
            panic!("a signal stays a signal");
        };
        assert_eq!(out.signal_id, "edge-1/sig-3");
        assert_eq!(out.identity.emitter_id, "edge-1/em-1");
    }
}
