//! The history writer's counters and its own health (`bus`, `history`), published on the bus
//! as a node's are (`sdrhub.services.health.<id>`): gateways show them as `bus@<id>` and
//! `history@<id>`.

use crate::bus::LinkState;
use crate::config::Config;
use crate::events::{HealthReport, HealthStatus, ServiceHealth, Timestamp};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::time::Instant;

/// Events the writer may be behind the stream before its `bus` service says `degraded`: at
/// a busy cluster's 200 events/s, under a minute of backlog, which a healthy writer clears in
/// seconds after a restart.
pub const LAG_DEGRADED: u64 = 10_000;

/// Counters of the history writer since start, for its health and for tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Whether a pull of the events stream is running.
    pub consuming: AtomicBool,
    /// Times the consumer was (re)subscribed.
    pub subscriptions: AtomicU64,
    /// Stream sequence of the last event committed (the mark).
    pub committed: AtomicU64,
    /// Events in the stream after the last one read.
    pub lag: AtomicU64,
    /// Records in the batch being gathered or written.
    pub batched: AtomicU64,
    /// Records stored.
    pub written: AtomicU64,
    /// Records skipped by the store as already written (at or below the mark).
    pub duplicates: AtomicU64,
    /// Observations skipped because their track was never stored.
    pub orphans: AtomicU64,
    /// Transactions committed.
    pub batches: AtomicU64,
    /// Events delivered again at or below what was processed: acknowledged, not written.
    pub redelivered: AtomicU64,
    /// Events read from the stream by sequence to fill a gap in the delivery.
    pub gap_filled: AtomicU64,
    /// Republished copies of an event already read (same message id), not written.
    pub republished: AtomicU64,
    /// Messages that were not a valid event for their subject, not written.
    pub malformed: AtomicU64,
    /// Events removed from the stream (its limits) before they were written.
    pub lost: AtomicU64,
    /// Acknowledgements that could not be sent (NATS away): those events come again.
    pub ack_failures: AtomicU64,
    /// Writes that failed (each retried until it commits).
    pub write_failures: AtomicU64,
    /// Rows deleted by pruning.
    pub pruned_rows: AtomicU64,
    /// Database size at the last prune, bytes.
    pub size_bytes: AtomicU64,
    /// The last write failed.
    pub failing: AtomicBool,
    /// The last error, kept after it cleared.
    pub last_error: Mutex<Option<String>>,
}

impl WriterStats {
    pub(super) fn write_failed(&self, message: String) {
        tracing::warn!("history: {message}");
        self.write_failures.fetch_add(1, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The `bus` service: the link to NATS and how far the consumer is.
    pub fn bus_health(&self, url: &str, consumer: &str, link: &LinkState) -> (HealthStatus, String) {
        let committed = Self::get(&self.committed);
        let lag = Self::get(&self.lag);
        if !link.connected {
            return (
                HealthStatus::Degraded,
                format!(
                    "NATS at {url} unreachable since {}; events written up to seq {committed}",
                    link.since.to_rfc3339()
                ),
            );
        }
        if !self.consuming.load(Ordering::Relaxed) {
            return (
                HealthStatus::Degraded,
                format!("subscribing to {} as {consumer}", crate::bus::EVENTS_STREAM),
            );
        }
        let detail = format!(
            "consuming {} as durable {consumer}: written up to seq {committed}, {lag} behind; {} delivered again, {} read by sequence, {} republished copies and {} malformed skipped",
            crate::bus::EVENTS_STREAM,
            Self::get(&self.redelivered),
            Self::get(&self.gap_filled),
            Self::get(&self.republished),
            Self::get(&self.malformed),
        );
        let status = if lag > LAG_DEGRADED {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
        (status, detail)
    }

    /// The `history` service: unhealthy while writes fail, degraded once events were lost
    /// (gone from the stream before they were written).
    pub fn history_health(&self) -> (HealthStatus, String) {
        let lost = Self::get(&self.lost);
        let mut detail = format!(
            "{} records written in {} batches, {} waiting; {} already stored skipped; {} events lost (left the stream unwritten); {:.1} MB",
            Self::get(&self.written),
            Self::get(&self.batches),
            Self::get(&self.batched),
            Self::get(&self.duplicates),
            lost,
            Self::get(&self.size_bytes) as f64 / 1e6,
        );
        if let Some(error) = self.last_error.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            detail.push_str(&format!("; last error: {error}"));
        }
        let status = if self.failing.load(Ordering::Relaxed) {
            HealthStatus::Unhealthy
        } else if lost > 0 {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
        (status, detail)
    }
}

/// When the writer's health goes out: every `server.health_interval_s`, and at once when a
/// status changes.
#[derive(Debug)]
pub(super) struct Reporter {
    every: std::time::Duration,
    last: Option<(Instant, Vec<HealthStatus>)>,
    since: Vec<(HealthStatus, Timestamp)>,
}

impl Reporter {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            every: std::time::Duration::from_secs_f64(config.server.health_interval_s),
            last: None,
            since: Vec::new(),
        }
    }

    /// The report to publish now, if one is due.
    pub(super) fn due(
        &mut self,
        stats: &WriterStats,
        url: &str,
        link: &LinkState,
        config: &Config,
    ) -> Option<HealthReport> {
        let services = [
            ("bus", stats.bus_health(url, &config.history.bus_consumer, link)),
            ("history", stats.history_health()),
        ];
        let statuses: Vec<HealthStatus> = services.iter().map(|(_, (status, _))| *status).collect();
        let due = self
            .last
            .as_ref()
            .is_none_or(|(at, last)| at.elapsed() >= self.every || *last != statuses);
        if !due {
            return None;
        }
        self.last = Some((Instant::now(), statuses));
        self.since
            .resize(services.len(), (HealthStatus::Healthy, Timestamp::now()));
        let services = services
            .into_iter()
            .zip(self.since.iter_mut())
            .map(|((name, (status, detail)), held)| {
                if held.0 != status {
                    *held = (status, Timestamp::now());
                }
                ServiceHealth {
                    name: name.into(),
                    status,
                    detail,
                    since: held.1,
                }
            })
            .collect();
        Some(HealthReport::of(services))
    }
}
