//! The write path: a cheap handle in front of a bounded queue, and the one task that empties it
//! into the database.
//!
//! Who waits, who drops, who counts:
//! - Producers call [`HistoryWriter::try_record`] / [`HistoryWriter::try_entry`] from anywhere
//!   (DSP threads, the hub's loop, the bus consumer); it never waits. When `history.queue`
//!   entries are waiting, the new one is dropped and counted in `dropped`.
//! - The writer task waits on the database. It takes a first entry, then more until
//!   `history.batch_size` records or `history.batch_ms` after the first, and writes them in one
//!   transaction. A failed batch is retried [`WRITE_ATTEMPTS`] times, [`RETRY_DELAY`] apart,
//!   then dropped and counted in `failed` (its records would otherwise block every later one).
//! - Every [`PRUNE_INTERVAL`], between batches, it prunes by age and size
//!   ([`HistoryStore::prune`]); the queue absorbs what arrives meanwhile.
//!
//! The task ends once every handle is dropped and the queue is written.

use super::record::{Entry, Record};
use super::store::HistoryStore;
use crate::events::{HealthStatus, Timestamp};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Tries of one batch before it is dropped.
pub const WRITE_ATTEMPTS: u32 = 3;
/// Wait between tries: long enough for a restarting PostgreSQL or a busy SQLite lock to clear,
/// short enough that the queue (65 536 by default) does not fill at a busy hub's rate.
pub const RETRY_DELAY: Duration = Duration::from_millis(500);
/// Time between prunes: retention is in days, so once a minute keeps each prune small.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

enum Command {
    Entry(Entry),
    /// Answer once everything queued before is written (or dropped).
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, Default)]
struct Shared {
    accepted: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    duplicates: AtomicU64,
    orphans: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
    pruned_rows: AtomicU64,
    size_bytes: AtomicU64,
    /// The last write or prune failed.
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// The writer's counters since start, for `services:health` (service `history`) and
/// `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterCounters {
    /// Entries waiting in the queue.
    pub queued: usize,
    /// Records accepted into the queue.
    pub accepted: u64,
    /// Records stored.
    pub written: u64,
    /// Records dropped because the queue was full (or the writer had stopped).
    pub dropped: u64,
    /// Records skipped as already stored (bus redelivery).
    pub duplicates: u64,
    /// Observations skipped because their track was never stored.
    pub orphans: u64,
    /// Records dropped because their batch failed [`WRITE_ATTEMPTS`] times.
    pub failed: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Rows deleted by pruning (age and size).
    pub pruned_rows: u64,
    /// Database size at the last prune, bytes.
    pub size_bytes: u64,
    /// Whether the last write or prune failed.
    pub failing: bool,
    /// The last error, kept after it cleared.
    pub last_error: Option<String>,
}

impl WriterCounters {
    /// The `history` service's health: unhealthy while writes fail, degraded once records
    /// were lost, else healthy; with the counts in words.
    pub fn health(&self) -> (HealthStatus, String) {
        let status = if self.failing {
            HealthStatus::Unhealthy
        } else if self.dropped > 0 || self.failed > 0 {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
        let mut detail = format!(
            "{} records written in {} batches, {} queued, {} dropped (queue full), {} failed, {:.1} MB",
            self.written,
            self.batches,
            self.queued,
            self.dropped,
            self.failed,
            self.size_bytes as f64 / 1e6
        );
        if let Some(error) = &self.last_error {
            detail.push_str(&format!("; last error: {error}"));
        }
        (status, detail)
    }
}

/// A cheap handle to the writer task.
#[derive(Debug, Clone)]
pub struct HistoryWriter {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Entry(entry) => write!(f, "Entry({} records)", entry.len()),
            Command::Flush(_) => write!(f, "Flush"),
        }
    }
}

impl HistoryWriter {
    /// Starts the writer task of `store` (on the current tokio runtime), with the queue and
    /// batch settings of its config.
    pub fn spawn(store: HistoryStore) -> (HistoryWriter, JoinHandle<()>) {
        let config = store.config().clone();
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(run(
            store,
            rx,
            shared.clone(),
            config.batch_size.max(1),
            Duration::from_millis(config.batch_ms),
        ));
        (HistoryWriter { tx, shared }, task)
    }

    /// Queues one record; never waits. `false` when it was dropped (queue full or writer
    /// stopped), which is counted.
    pub fn try_record(&self, record: Record) -> bool {
        self.try_entry(Entry::one(record))
    }

    /// Queues the records of one event (written in one transaction, with its bus position);
    /// never waits. `false` when they were dropped, which is counted.
    pub fn try_entry(&self, entry: Entry) -> bool {
        let records = entry.len() as u64;
        match self.tx.try_send(Command::Entry(entry)) {
            Ok(()) => {
                self.shared.accepted.fetch_add(records, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.shared.dropped.fetch_add(records, Ordering::Relaxed);
                false
            }
        }
    }

    /// Waits until everything queued before this call is written (or dropped after failing):
    /// for shutdown and tests. `false` when the writer has stopped.
    pub async fn flush(&self) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).await.is_err() {
            return false;
        }
        wait.await.is_ok()
    }

    /// The counters now.
    pub fn counters(&self) -> WriterCounters {
        let s = &self.shared;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WriterCounters {
            queued: self.tx.max_capacity() - self.tx.capacity(),
            accepted: get(&s.accepted),
            written: get(&s.written),
            dropped: get(&s.dropped),
            duplicates: get(&s.duplicates),
            orphans: get(&s.orphans),
            failed: get(&s.failed),
            batches: get(&s.batches),
            pruned_rows: get(&s.pruned_rows),
            size_bytes: get(&s.size_bytes),
            failing: s.failing.load(Ordering::Relaxed),
            last_error: s.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

impl Shared {
    fn error(&self, message: String) {
        tracing::warn!("history: {message}");
        self.failing.store(true, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }
}

async fn run(
    store: HistoryStore,
    mut rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    batch_size: usize,
    batch_time: Duration,
) {
    let mut batch: Vec<Entry> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut prune = tokio::time::interval(PRUNE_INTERVAL);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = rx.recv() => {
                let Some(command) = command else {
                    break;
                };
                let mut records = 0;
                let mut open = take(command, &mut batch, &mut flushes, &mut records);
                let deadline = Instant::now() + batch_time;
                while open && records < batch_size {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(command)) => open = take(command, &mut batch, &mut flushes, &mut records),
                        Ok(None) | Err(_) => break,
                    }
                }
                write(&store, &shared, &mut batch).await;
                for done in flushes.drain(..) {
                    let _ = done.send(());
                }
            }
            _ = prune.tick() => match store.prune(Timestamp::now().0).await {
                Ok(outcome) => {
                    shared
                        .pruned_rows
                        .fetch_add(outcome.expired_rows + outcome.oversize_rows, Ordering::Relaxed);
                    shared.size_bytes.store(outcome.size_bytes, Ordering::Relaxed);
                }
                Err(e) => shared.error(format!("prune: {e}")),
            },
        }
    }
    write(&store, &shared, &mut batch).await;
}

/// Adds a command to the batch; `false` when the batch must be written now (a flush).
fn take(
    command: Command,
    batch: &mut Vec<Entry>,
    flushes: &mut Vec<oneshot::Sender<()>>,
    records: &mut usize,
) -> bool {
    match command {
        Command::Entry(entry) => {
            *records += entry.len().max(1);
            batch.push(entry);
            true
        }
        Command::Flush(done) => {
            flushes.push(done);
            false
        }
    }
}

/// Writes and empties the batch, retrying; counts the outcome.
async fn write(store: &HistoryStore, shared: &Shared, batch: &mut Vec<Entry>) {
    if batch.is_empty() {
        return;
    }
    let records: u64 = batch.iter().map(|e| e.len() as u64).sum();
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.write(batch).await {
            Ok(outcome) => {
                shared.written.fetch_add(outcome.written, Ordering::Relaxed);
                shared.duplicates.fetch_add(outcome.duplicates, Ordering::Relaxed);
                shared.orphans.fetch_add(outcome.orphans, Ordering::Relaxed);
                shared.batches.fetch_add(1, Ordering::Relaxed);
                shared.failing.store(false, Ordering::Relaxed);
                batch.clear();
                return;
            }
            Err(e) => {
                shared.error(format!(
                    "write of {records} records (try {attempt} of {WRITE_ATTEMPTS}): {e}"
                ));
                if attempt < WRITE_ATTEMPTS {
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    }
    shared.failed.fetch_add(records, Ordering::Relaxed);
    batch.clear();
}
