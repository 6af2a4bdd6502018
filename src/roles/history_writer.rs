//! The `history-writer` role: fills the history database from the bus.
//!
//! ```text
//! SDRHUB_EVENTS --durable pull consumer `history.bus_consumer`, explicit acks--> history-writer
//!     --BusFeed (records)--> one transaction per batch, with the stream's mark --> PostgreSQL
//!     <--acks, once the transaction has committed--
//! ```
//!
//! Every event of the events stream is stored once, whatever crashes: the store keeps, in the
//! transaction that writes a batch, the highest stream sequence written (the stream's mark,
//! [`HistoryStore::bus_position`]), and skips any event at or below it. The writer acknowledges
//! a batch's messages only once its transaction has committed, so:
//! - a crash (of the writer, of NATS, of the network) before the commit loses nothing: NATS
//!   delivers the unacknowledged events again;
//! - a crash between the commit and the acknowledgements writes nothing twice: the events NATS
//!   delivers again are at or below the mark, and are acknowledged without being written.
//!
//! The mark, not NATS, decides: the writer processes the stream strictly in sequence order.
//! Redelivered events at or below what it has processed are acknowledged and skipped; an event
//! that comes after a gap (events delivered to a previous connection, to be redelivered only
//! after [`ACK_WAIT`]) is preceded by the missing ones, read from the stream by sequence. The
//! mark is kept per stream incarnation (`SDRHUB_EVENTS@<creation time>`), so a stream that was
//! deleted and created again (a NATS that lost its store) starts a new mark rather than being
//! taken for events already written.
//!
//! Back-pressure, who waits, who drops, who counts:
//! - NATS waits for the writer: it holds at most [`max_ack_pending`] unacknowledged events for
//!   the consumer, and the writer pulls only while its batch has room and no write is being
//!   retried. Events wait in the stream meanwhile, within its own limits (`bus.events_max_*`):
//!   an event removed from the stream before it was written is counted as `lost`.
//! - The writer waits for the database: a batch (at most `history.batch_size` records, written
//!   at the latest `history.batch_ms` after its first event) that fails is retried, with a
//!   growing delay up to [`WRITE_RETRY_MAX`], until it commits; it is never dropped, never
//!   acknowledged before, and the `history` service is `unhealthy` meanwhile.
//! - Nothing is dropped for lack of room. What is not stored is counted: messages that are not
//!   a valid event (`malformed`), republished copies of an event already read (`republished`),
//!   measurements beyond the summariser's bound.
//! - Its own health goes to the bus through a [`Publisher`] (bounded by `bus.buffer_events`,
//!   the oldest dropped and counted beyond).
//!
//! Run one writer per consumer name. A second one (started by mistake, or overlapping a restart)
//! loses and doubles nothing: NATS shares the deliveries between the two, each reads the events
//! delivered to the other from the stream as gaps, and the mark, locked in each transaction,
//! lets only the first write of an event through. It only doubles the work.

mod health;

use crate::bus::publisher::{parse_message_id, Publisher, PublisherTask};
use crate::bus::{subject, Bus, EVENTS_STREAM, MESSAGE_ID_HEADER};
use crate::config::Config;
use crate::events::{Event, Published, Timestamp};
use crate::history::feed::BusFeed;
use crate::history::record::Records;
use crate::history::{BusPosition, Entry, HistoryStore, Record};
use anyhow::Context;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use async_nats::HeaderMap;
use futures_util::StreamExt;
pub use health::WriterStats;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long NATS waits for the acknowledgement of a delivered event before delivering it
/// again: longer than a batch takes to write, so that a healthy writer never sees its own
/// events twice (those it does see again are skipped; see the module header).
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// Longest wait between two tries of a batch that failed: a database back from a restart is
/// written to within this.
pub const WRITE_RETRY_MAX: Duration = Duration::from_secs(5);
/// How often health is evaluated, windows flushed and a prune considered.
const TICK: Duration = Duration::from_millis(250);
/// Heartbeat asked of NATS on pull requests: a silent connection is noticed within two.
const PULL_HEARTBEAT: Duration = Duration::from_secs(5);
/// Node boots (`<node>.<boot>` of message ids) whose highest event number is kept to skip
/// republished copies; beyond, the map starts afresh (a copy then falls back on JetStream's own
/// duplicate window).
const ORIGINS_MAX: usize = 4096;

/// Events NATS may hold delivered and unacknowledged for the writer: the batch being written,
/// the next one pulled, and redeliveries waiting. More would only grow the client's buffer.
pub fn max_ack_pending(batch_size: usize) -> i64 {
    (4 * batch_size.max(1)) as i64
}

/// The key of a stream's mark in the history: its name and creation time, so that a stream
/// created anew has a mark of its own.
pub fn stream_key(name: &str, created_ns: i128) -> String {
    format!("{name}@{created_ns}")
}

/// Runs a history writer until `shutdown` completes, then writes what it holds.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let writer = RunningHistoryWriter::start(config).await?;
    shutdown.await;
    writer.stop().await;
    Ok(())
}

/// A running history writer, for tests and embedding.
#[derive(Debug)]
pub struct RunningHistoryWriter {
    /// Its id: `bus.node_id`, else `history-<host name>`; its health goes out under it.
    pub id: String,
    /// Its counters.
    pub stats: Arc<WriterStats>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    publisher_task: PublisherTask,
}

impl RunningHistoryWriter {
    /// Opens the database (creating or updating its schema), connects to the bus in the
    /// background and starts consuming the events stream.
    pub async fn start(config: Config) -> anyhow::Result<RunningHistoryWriter> {
        config.validate()?;
        anyhow::ensure!(
            config.history.enabled,
            "history.enabled is false: `sdrhub history-writer` has nothing to do"
        );
        let id = if config.bus.node_id.is_empty() {
            format!("history-{}", config.bus.node())
        } else {
            config.bus.node_id.clone()
        };
        let bus = Bus::connect(
            &config.bus,
            &format!("sdrhub history-writer {id}"),
            "history-writer",
        )
        .await?;
        let store = HistoryStore::open(&config.history).await.with_context(|| {
            format!(
                "cannot open the history database {}",
                config.history.url_redacted()
            )
        })?;
        let seed = store
            .feed_seed()
            .await
            .context("cannot read the last stored statuses")?;
        let (publisher, publisher_task) = Publisher::spawn(
            bus.clone(),
            &config.bus,
            id.clone(),
            Duration::from_secs_f64(config.server.shutdown_grace_s),
            false,
        );
        let stats = Arc::new(WriterStats::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let writer = Writer {
            feed: BusFeed::new(config.history.observation_ns(), seed),
            bus,
            store,
            publisher,
            stats: stats.clone(),
            origins: HashMap::new(),
            key: None,
            stream: None,
            processed: 0,
            batch: Batch::default(),
            retry: None,
            latest_stored: Timestamp(0),
            config: Arc::new(config),
        };
        tracing::info!(id, consumer = %writer.config.history.bus_consumer, "history writer started");
        Ok(RunningHistoryWriter {
            id,
            stats,
            stop,
            task: tokio::spawn(writer.run(stopped)),
            publisher_task,
        })
    }

    /// Stops consuming, writes the batch in hand and the open observation windows, and
    /// publishes what health is left.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        self.publisher_task.finish().await;
    }
}

/// Events read and not yet committed, with what acknowledges them.
#[derive(Default)]
struct Batch {
    entries: Vec<Entry>,
    ackers: Vec<Acker>,
    records: usize,
    /// When its first entry came: it is written at the latest `history.batch_ms` later.
    since: Option<Instant>,
    /// The highest stream sequence in it.
    highest: u64,
}

/// One event as read from the stream (delivered, or fetched by sequence to fill a gap).
struct Incoming {
    seq: u64,
    subject: String,
    headers: Option<HeaderMap>,
    payload: bytes::Bytes,
    stored: Timestamp,
}

/// A failed write waiting for its retry.
struct Retry {
    at: Instant,
    attempt: u32,
}

struct Writer {
    bus: Bus,
    config: Arc<Config>,
    store: HistoryStore,
    feed: BusFeed,
    publisher: Publisher,
    stats: Arc<WriterStats>,
    /// The highest event number read per node boot, to skip republished copies.
    origins: HashMap<String, u64>,
    /// The mark's key of the stream being consumed.
    key: Option<Arc<str>>,
    stream: Option<Stream>,
    /// The highest sequence mapped (committed or in the batch).
    processed: u64,
    batch: Batch,
    retry: Option<Retry>,
    /// NATS' time of the latest event read.
    latest_stored: Timestamp,
}

type Messages = pull::Stream;

impl Writer {
    async fn run(mut self, mut stopped: tokio::sync::oneshot::Receiver<()>) {
        let mut link = self.bus.link.clone();
        let mut messages: Option<Messages> = None;
        let mut retry_at: Option<Instant> = None;
        let mut attempt = 0u32;
        let mut tick = tokio::time::interval(TICK);
        let mut health = health::Reporter::new(&self.config);
        let mut last_prune = Instant::now();
        loop {
            if link.borrow().connected && messages.is_none() && retry_at.is_none() {
                match self.subscribe().await {
                    Ok(stream) => {
                        messages = Some(stream);
                        attempt = 0;
                        self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "cannot consume the events stream; retrying");
                        retry_at = Some(Instant::now() + crate::bus::retry_delay(attempt));
                        attempt += 1;
                    }
                }
            }
            self.stats.consuming.store(messages.is_some(), Ordering::Relaxed);
            let room = self.retry.is_none() && self.batch.records < self.config.history.batch_size;
            let write_at = match (&self.retry, self.batch.since) {
                (Some(retry), _) => Some(retry.at),
                (None, Some(since)) => Some(since + Duration::from_millis(self.config.history.batch_ms)),
                (None, None) => None,
            };
            tokio::select! {
                _ = &mut stopped => break,
                // Invariant: the branch runs only while `messages` is `Some` (its guard).
                message = async { messages.as_mut().expect("guarded by is_some").next().await }, if messages.is_some() && room => {
                    match message {
                        Some(Ok(message)) => {
                            if let Err(error) = self.take_delivered(message).await {
                                tracing::warn!(error = %format!("{error:#}"), "cannot read the events stream in order; consuming again");
                                messages = None;
                                retry_at = Some(Instant::now() + crate::bus::retry_delay(attempt));
                                attempt += 1;
                            }
                        }
                        Some(Err(error)) => {
                            tracing::warn!(%error, "the events consumer failed; consuming again");
                            messages = None;
                            retry_at = Some(Instant::now() + crate::bus::retry_delay(attempt));
                            attempt += 1;
                        }
                        None => messages = None,
                    }
                }
                _ = tokio::time::sleep_until(write_at.unwrap_or_else(Instant::now)), if write_at.is_some() => {
                    self.commit().await;
                }
                changed = link.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if link.borrow().connected {
                        tracing::info!(url = %self.bus.url, "connected to NATS");
                        retry_at = None;
                        attempt = 0;
                    } else {
                        // A new pull once back; what was delivered and not acknowledged comes
                        // again (or is read by sequence), and what is in the batch is still
                        // written: the database does not need NATS.
                        tracing::warn!(url = %self.bus.url, processed = self.processed, "lost NATS");
                        messages = None;
                    }
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    retry_at = None;
                }
                _ = tick.tick() => {
                    self.flush_observations();
                    if last_prune.elapsed() >= crate::history::writer::PRUNE_INTERVAL && self.retry.is_none() {
                        last_prune = Instant::now();
                        self.prune().await;
                    }
                    let link = link.borrow().clone();
                    if let Some(report) = health.due(&self.stats, &self.bus.url, &link, &self.config) {
                        self.publisher.publish(Event::ServicesHealth(report)).await;
                    }
                }
            }
        }
        self.finish().await;
    }

    /// The durable consumer (created from the event after the mark when missing) and a pull
    /// of its events.
    async fn subscribe(&mut self) -> anyhow::Result<Messages> {
        self.bus.ensure_streams(&self.config.bus).await?;
        let mut stream = self.bus.jetstream.get_stream(EVENTS_STREAM).await?;
        let info = stream.info().await?.clone();
        let key: Arc<str> = stream_key(EVENTS_STREAM, info.created.unix_timestamp_nanos()).into();
        if self.key.as_ref() != Some(&key) {
            // First start, or the stream was created anew: go on from its mark.
            let mark = self.store.bus_position(&key).await?.unwrap_or(0);
            if self.key.is_some() {
                tracing::warn!(stream = %key, mark, "the events stream was created anew; following its own mark");
            }
            self.commit().await;
            self.processed = mark;
            self.stats.committed.store(mark, Ordering::Relaxed);
            self.key = Some(key.clone());
        }
        let history = &self.config.history;
        let deliver_policy = match self.processed {
            0 => DeliverPolicy::All,
            seq => DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            },
        };
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                &history.bus_consumer,
                pull::Config {
                    durable_name: Some(history.bus_consumer.clone()),
                    description: Some("sdrhub history-writer: every event into the history database".into()),
                    deliver_policy,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_ack_pending: max_ack_pending(history.batch_size),
                    ..Default::default()
                },
            )
            .await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(history.batch_size.max(1))
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await?;
        tracing::info!(stream = %key, consumer = %history.bus_consumer, from = self.processed + 1, stream_last = info.state.last_sequence, "consuming the events stream");
        self.stream = Some(stream);
        Ok(messages)
    }

    /// One delivered message: skipped if processed already, else taken after any events that
    /// should have come before it.
    async fn take_delivered(&mut self, message: async_nats::jetstream::Message) -> anyhow::Result<()> {
        let (seq, pending, stored) = match message.info() {
            Ok(info) => (
                info.stream_sequence,
                info.pending,
                Timestamp(i64::try_from(info.published.unix_timestamp_nanos()).unwrap_or(i64::MAX)),
            ),
            Err(error) => anyhow::bail!("a message without JetStream metadata: {error}"),
        };
        let (message, acker) = message.split();
        if seq <= self.processed {
            // Delivered again (an acknowledgement that did not arrive, or a gap filled before).
            self.stats.redelivered.fetch_add(1, Ordering::Relaxed);
            if seq <= self.stats.committed.load(Ordering::Relaxed) {
                self.ack(&acker).await;
            } else {
                self.batch.ackers.push(acker);
            }
            return Ok(());
        }
        if seq > self.processed + 1 && !self.fill_gap(seq).await? {
            // The database stopped taking writes during the fill: this event is read again
            // (by sequence, or delivered again) once it does.
            return Ok(());
        }
        self.stats.lag.store(pending, Ordering::Relaxed);
        self.take(Incoming {
            seq,
            subject: message.subject.to_string(),
            headers: message.headers,
            payload: message.payload,
            stored,
        })
        .await;
        self.batch.ackers.push(acker);
        Ok(())
    }

    /// Reads the events between what was processed and `before` from the stream by sequence
    /// (those gone from the stream are counted as lost). `false` when it stopped early because
    /// a write is waiting for its retry (the batch would grow without bound otherwise).
    async fn fill_gap(&mut self, before: u64) -> anyhow::Result<bool> {
        let Some(stream) = self.stream.clone() else {
            anyhow::bail!("no stream to fill a gap from");
        };
        let first = {
            let mut stream = stream.clone();
            stream.info().await?.state.first_sequence
        };
        let from = self.processed + 1;
        if first > from {
            let gone = first.min(before) - from;
            self.lost(gone, from);
            self.processed = first.min(before) - 1;
        }
        for seq in self.processed + 1..before {
            if self.retry.is_some() {
                return Ok(false);
            }
            match stream.get_raw_message(seq).await {
                Ok(message) => {
                    self.stats.gap_filled.fetch_add(1, Ordering::Relaxed);
                    self.take(Incoming {
                        seq,
                        subject: message.subject.to_string(),
                        headers: Some(message.headers),
                        payload: message.payload,
                        stored: Timestamp(
                            i64::try_from(message.time.unix_timestamp_nanos()).unwrap_or(i64::MAX),
                        ),
                    })
                    .await;
                }
                Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => {
                    self.lost(1, seq);
                    self.processed = seq;
                }
                Err(error) => return Err(error).context(format!("reading event {seq} of {EVENTS_STREAM}")),
            }
        }
        Ok(self.retry.is_none())
    }

    fn lost(&self, events: u64, from: u64) {
        self.stats.lost.fetch_add(events, Ordering::Relaxed);
        tracing::warn!(
            events,
            from,
            "events left the stream before they were written to the history (bus.events_max_* limits)"
        );
    }

    /// Maps one event, in sequence order, into the batch (writing the batch when full).
    async fn take(&mut self, incoming: Incoming) {
        let records = self.records(&incoming);
        self.processed = incoming.seq;
        self.latest_stored = self.latest_stored.max(incoming.stored);
        let Some(key) = self.key.clone() else {
            return;
        };
        self.push(Entry {
            position: Some(BusPosition {
                stream: key,
                seq: incoming.seq,
            }),
            records: Records::Many(records),
        });
        self.batch.highest = incoming.seq;
        if self.batch.records >= self.config.history.batch_size {
            self.commit().await;
        }
    }

    /// The records of one event: none for a republished copy or a malformed message.
    fn records(&mut self, incoming: &Incoming) -> Vec<Record> {
        if let Some((origin, n)) = incoming
            .headers
            .as_ref()
            .and_then(|h| h.get(MESSAGE_ID_HEADER))
            .and_then(|id| parse_message_id(id.as_str()))
        {
            if !self.origins.contains_key(origin) && self.origins.len() >= ORIGINS_MAX {
                self.origins.clear();
            }
            let highest = self.origins.entry(origin.to_string()).or_insert(0);
            if n <= *highest {
                self.stats.republished.fetch_add(1, Ordering::Relaxed);
                return Vec::new();
            }
            *highest = n;
        }
        let malformed = |why: &str| {
            let count = self.stats.malformed.fetch_add(1, Ordering::Relaxed) + 1;
            if count.is_power_of_two() {
                tracing::warn!(seq = incoming.seq, subject = %incoming.subject, why, count, "skipped a malformed message");
            }
            Vec::new()
        };
        let Some((topic, key)) = subject::parse_event_subject(&incoming.subject) else {
            return malformed("not an event subject");
        };
        let event: Event = match serde_json::from_slice::<Published>(&incoming.payload) {
            Ok(published) => published.into(),
            Err(error) => return malformed(&error.to_string()),
        };
        if event.topic() != Some(topic) {
            return malformed("event of another topic");
        }
        self.feed.records(key, &event, incoming.stored)
    }

    fn push(&mut self, entry: Entry) {
        self.batch.records += entry.len().max(1);
        self.batch.since.get_or_insert_with(Instant::now);
        self.batch.entries.push(entry);
        self.stats
            .batched
            .store(self.batch.records as u64, Ordering::Relaxed);
    }

    /// Writes the batch in one transaction; once committed, acknowledges its events. A failure
    /// keeps the batch for a retry.
    async fn commit(&mut self) {
        if self.batch.entries.is_empty() && self.batch.ackers.is_empty() {
            self.batch.since = None;
            return;
        }
        match self.store.write(&self.batch.entries).await {
            Ok(outcome) => {
                let s = &self.stats;
                s.written.fetch_add(outcome.written, Ordering::Relaxed);
                s.duplicates.fetch_add(outcome.duplicates, Ordering::Relaxed);
                s.orphans.fetch_add(outcome.orphans, Ordering::Relaxed);
                s.batches.fetch_add(1, Ordering::Relaxed);
                s.failing.store(false, Ordering::Relaxed);
                s.committed.fetch_max(self.batch.highest, Ordering::Relaxed);
                self.retry = None;
                let batch = std::mem::take(&mut self.batch);
                for acker in &batch.ackers {
                    self.ack(acker).await;
                }
                s.batched.store(0, Ordering::Relaxed);
            }
            Err(error) => {
                let attempt = self.retry.as_ref().map_or(0, |r| r.attempt) + 1;
                let delay = (crate::history::writer::RETRY_DELAY * attempt).min(WRITE_RETRY_MAX);
                self.stats.write_failed(format!(
                    "write of {} records (try {attempt}; retrying in {:.1} s): {error}",
                    self.batch.records,
                    delay.as_secs_f64()
                ));
                self.retry = Some(Retry {
                    at: Instant::now() + delay,
                    attempt,
                });
            }
        }
    }

    async fn ack(&self, acker: &Acker) {
        if acker.ack().await.is_err() {
            // NATS delivers the event again; it is at or below the mark by then.
            self.stats.ack_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Closes the observation windows that ended: by the stream's clock while catching up (a
    /// backlog's windows are still being filled), by the wall clock once caught up.
    fn flush_observations(&mut self) {
        let period = self.config.history.observation_ns();
        let caught_up = self.stats.lag.load(Ordering::Relaxed) == 0;
        let now = if caught_up {
            Timestamp::now().0
        } else {
            self.latest_stored.0
        };
        let records = self.feed.flush_observations(now.saturating_sub(period));
        self.push_unpositioned(records);
    }

    fn push_unpositioned(&mut self, records: Vec<Record>) {
        if !records.is_empty() {
            self.push(Entry {
                position: None,
                records: Records::Many(records),
            });
        }
    }

    async fn prune(&mut self) {
        match self.store.prune(Timestamp::now().0).await {
            Ok(outcome) => {
                let s = &self.stats;
                s.pruned_rows
                    .fetch_add(outcome.expired_rows + outcome.oversize_rows, Ordering::Relaxed);
                s.size_bytes.store(outcome.size_bytes, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(%error, "history prune failed; retrying at the next"),
        }
    }

    /// At shutdown: the batch and the open windows are written (a few tries within the grace
    /// period); what could not be is delivered again to the next writer, except the windows.
    async fn finish(&mut self) {
        let records = self.feed.finish();
        self.push_unpositioned(records);
        let deadline = Instant::now() + Duration::from_secs_f64(self.config.server.shutdown_grace_s);
        loop {
            self.commit().await;
            if self.retry.is_none() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(crate::history::writer::RETRY_DELAY).await;
        }
        self.store.close().await;
        tracing::info!(
            committed = self.stats.committed.load(Ordering::Relaxed),
            "history writer stopped"
        );
    }
}
