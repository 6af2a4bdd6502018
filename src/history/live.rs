//! The history of a running hub (`serve`): what the pipeline publishes goes into the database,
//! and what the database knows labels what the pipeline publishes.
//!
//! - [`LiveHistory::record`] maps each published event (signal reports, localizations,
//!   receiver status and service health changes) to records for the writer;
//!   [`LiveHistory::observe`] folds every receiver's measurement of every signal into
//!   per-receiver summaries; DSP threads feed occupancy to the writer themselves.
//! - [`LiveHistory::label`] sets `known` and `novel` on a `signals:detected` before it goes
//!   out: both are looked up once per signal (when it appears, or after the known signals
//!   changed) and remembered for its life.
//!
//! Back-pressure: nothing here waits on the database but [`LiveHistory::label`]'s two lookups,
//! each bounded by [`LOOKUP_TIMEOUT`] (a signal whose lookup times out goes out unlabelled and
//! the timeout is counted); records go to the writer's queue with `try_record`, which drops and
//! counts when it is full.

use super::mapping::{HealthChanges, Measurement, ObservationSummariser, StatusChanges};
use super::{mapping, HistoryConfig, HistoryError, HistoryStore, HistoryWriter, Record};
use crate::events::history::KnownMatch;
use crate::events::{Event, HealthStatus, SignalReport, SignalState, Timestamp};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

/// One receiver's measurement of one signal (what the pipeline's fusion reports after each spectrum).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverMeasurement {
    /// The signal's live id.
    pub signal_id: String,
    /// When the signal was first seen, ns.
    pub first_seen_ns: i64,
    /// The receiver.
    pub receiver: Arc<str>,
    /// When, ns.
    pub time_ns: i64,
    /// Its power at this receiver, dBFS.
    pub power_dbfs: f64,
    /// Its per-bin SNR at this receiver, dB.
    pub snr_db: f64,
}

/// Longest a `known`/`novel` lookup may delay a new signal's report: the fusion task publishes
/// it, and spectra wait behind it.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_millis(100);

/// What a live signal was labelled with, and against which version of the known signals.
#[derive(Debug, Clone)]
struct Label {
    known: Option<KnownMatch>,
    novel: bool,
    generation: u64,
}

/// State of the mapping from live events to records.
#[derive(Debug)]
struct Recording {
    status: StatusChanges,
    health: HealthChanges,
    observations: ObservationSummariser,
    labels: HashMap<String, Label>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct LiveHistory {
    store: HistoryStore,
    writer: HistoryWriter,
    recording: Mutex<Recording>,
    /// Bumped whenever known signals change: labels older than it are looked up again.
    generation: AtomicU64,
    lookup_timeouts: AtomicU64,
    lookup_failures: AtomicU64,
}

impl LiveHistory {
    /// Opens the database (creating and migrating it) and starts its writer.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub async fn open(config: &HistoryConfig) -> Result<(Arc<LiveHistory>, JoinHandle<()>), HistoryError> {
        let store = HistoryStore::open(config).await?;
        let (writer, task) = HistoryWriter::spawn(store.clone());
        let live = LiveHistory {
            recording: Mutex::new(Recording {
                status: StatusChanges::default(),
                health: HealthChanges::default(),
                observations: ObservationSummariser::new(config.observation_ns()),
                labels: HashMap::new(),
            }),
            store,
            writer,
            generation: AtomicU64::new(0),
            lookup_timeouts: AtomicU64::new(0),
            lookup_failures: AtomicU64::new(0),
        };
        Ok((Arc::new(live), task))
    }

    /// The database, for queries.
    pub fn store(&self) -> &HistoryStore {
        &self.store
    }

    /// The writer, for producers that make their own records (occupancy).
    pub fn writer(&self) -> &HistoryWriter {
        &self.writer
    }

    fn recording(&self) -> MutexGuard<'_, Recording> {
        // Nothing panics while holding the lock; a poisoned state is still a valid state.
        self.recording.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Known signals were created, changed or deleted: live signals are labelled again.
    pub fn known_signals_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Bumped by every [`LiveHistory::known_signals_changed`]: the fusion task compares it to
    /// the value it last saw and then reports every active signal again, so a steady carrier
    /// (which may not change materially for hours) carries a new name at once rather than at
    /// its next update.
    pub fn known_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Sets `known` and `novel` on a signal report before it is published, and its `name` to
    /// the known signal's when there is one.
    pub async fn label(&self, report: &mut SignalReport) {
        let generation = self.generation.load(Ordering::Acquire);
        let cached = self.recording().labels.get(&report.signal_id).cloned();
        let label = match cached {
            Some(label) if label.generation == generation => label,
            cached => {
                let novel = match &cached {
                    // Novelty is decided once, when the signal appears.
                    Some(label) => label.novel,
                    None => self
                        .bounded(self.store.novelty(
                            report.frequency_hz,
                            report.bandwidth_hz,
                            report.first_seen,
                        ))
                        .await
                        .unwrap_or(false),
                };
                let known = self
                    .bounded(self.store.known_for(report.frequency_hz))
                    .await
                    .flatten();
                let label = Label {
                    known,
                    novel,
                    generation,
                };
                self.recording()
                    .labels
                    .insert(report.signal_id.clone(), label.clone());
                label
            }
        };
        report.known = label.known;
        report.novel = label.novel;
        // An operator's name for the frequency wins over the configuration's.
        if let Some(known) = &report.known {
            report.identity.name = Some(known.name.clone());
        }
        if report.state == SignalState::Lost {
            self.recording().labels.remove(&report.signal_id);
        }
    }

    /// A lookup bounded by [`LOOKUP_TIMEOUT`]; `None` (counted) when it fails or times out.
    async fn bounded<T>(
        &self,
        lookup: impl std::future::Future<Output = Result<T, HistoryError>>,
    ) -> Option<T> {
        match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.lookup_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "history lookup failed");
                None
            }
            Err(_) => {
                self.lookup_timeouts.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Hands what a published event says to the writer.
    pub fn record(&self, event: &Event) {
        let records: Vec<Record> = match event {
            Event::SignalsDetected(report) => vec![mapping::signal_record(report)],
            Event::LocalizationsUpdated(fix) => vec![mapping::localization_record(fix)],
            Event::WebsdrsStatus(report) => self.recording().status.changes(report, Timestamp::now()),
            Event::ServicesHealth(report) => self.recording().health.changes(report),
            _ => Vec::new(),
        };
        for record in records {
            self.writer.try_record(record);
        }
    }

    /// Folds receivers' measurements into per-receiver summaries; closed windows go to the
    /// writer.
    pub fn observe(&self, measurements: &[ReceiverMeasurement]) {
        if measurements.is_empty() {
            return;
        }
        let mut closed = Vec::new();
        {
            let mut recording = self.recording();
            for m in measurements {
                recording.observations.observe(
                    &Measurement {
                        signal_id: &m.signal_id,
                        first_seen_ns: m.first_seen_ns,
                        receiver: &m.receiver,
                        time_ns: m.time_ns,
                        power_dbfs: m.power_dbfs,
                        snr_db: m.snr_db,
                    },
                    &mut closed,
                );
            }
        }
        for record in closed {
            self.writer.try_record(record);
        }
    }

    /// Closes the observation windows that ended before `now_ns` (signals gone quiet).
    pub fn tick(&self, now_ns: i64) {
        let mut closed = Vec::new();
        self.recording().observations.flush_before(now_ns, &mut closed);
        for record in closed {
            self.writer.try_record(record);
        }
    }

    /// The `history` service's status and detail for `services:health`.
    pub fn health(&self) -> (HealthStatus, String) {
        let (status, mut detail) = self.writer.counters().health();
        let timeouts = self.lookup_timeouts.load(Ordering::Relaxed);
        let failures = self.lookup_failures.load(Ordering::Relaxed);
        if timeouts + failures > 0 {
            detail.push_str(&format!(
                "; {timeouts} label lookup(s) timed out and {failures} failed (those signals went out unlabelled)"
            ));
        }
        (status, detail)
    }

    /// Label lookups that timed out, and that failed.
    pub fn lookup_problems(&self) -> (u64, u64) {
        (
            self.lookup_timeouts.load(Ordering::Relaxed),
            self.lookup_failures.load(Ordering::Relaxed),
        )
    }

    /// Writes what is summarised so far and waits for the writer to commit everything queued.
    pub async fn flush(&self) -> bool {
        let mut closed = Vec::new();
        self.recording().observations.finish(&mut closed);
        for record in closed {
            self.writer.try_record(record);
        }
        self.writer.flush().await
    }
}
