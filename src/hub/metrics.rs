//! What the hub and the sessions count: deliveries per event kind, bytes, drops, resyncs, and
//! the fan-out latency and queue-depth histograms behind `/api/v1/ws/stats` and `/metrics`.

use super::outbox::Outgoing;
use crate::events::{EventKind, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Counters shared by the hub and the sessions.
#[derive(Debug)]
pub struct Counters {
    /// Messages written to a client's socket, per event kind ([`EventKind::index`]).
    pub sent: [AtomicU64; EventKind::ALL.len()],
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
    /// Events the publishing thread wrote whole into a client's socket itself (the client had
    /// nothing queued; see [`crate::hub::outbox::DirectWrite`]).
    pub direct_writes: AtomicU64,
    /// Events the publishing thread started in a client's socket and its connection finished
    /// (the socket took only part of the frame).
    pub direct_writes_partial: AtomicU64,
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
            direct_writes: AtomicU64::new(0),
            direct_writes_partial: AtomicU64::new(0),
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
        if let Some(kind) = message.kind {
            self.sent[kind.index()].fetch_add(1, Ordering::Relaxed);
        }
        self.bytes_sent
            .fetch_add(message.frame.len() as u64, Ordering::Relaxed);
    }
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
    /// Events the publishing thread wrote whole into a client's socket itself.
    pub direct_writes: u64,
    /// Events the publishing thread started in a socket and the client's connection finished.
    pub direct_writes_partial: u64,
    /// Broadcast events retained for replay now.
    pub replay_retained: usize,
    /// The oldest `seq` a client can resume from (it gets every event after it).
    pub replay_from_seq: u64,
}
