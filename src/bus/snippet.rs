//! IQ snippets on the bus, for TDOA across acquisition nodes.
//!
//! Nodes cut their snippets on one time grid, with no coordination: every `interval_s`
//! (`localization.interval_s`) of Unix time, each node cuts the window `[k * interval,
//! k * interval + tdoa_window_s)` from every GPS-timed receiver of its own that hears an active
//! signal, and publishes it on `sdrhub.snippets.<receiver>` (stream `SDRHUB_SNIPPETS`).
//! Receivers on different nodes thus deliver the same window of the same transmission, which
//! the locate worker ([`crate::roles::locate_worker`]) correlates.
//!
//! A message is the samples as little-endian `f32` pairs (I, Q) in the payload, and what they
//! are in the `Sdrhub-Snippet` header (JSON, [`SnippetMeta`]).

use super::publisher::namespaced;
use super::{subject, Bus};
use crate::events::{Event, SignalReport, SignalState};
use crate::pipeline::snippets::Snippet;
use crate::pipeline::ReceiverHandle;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use num_complex::Complex32;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Header carrying a snippet's [`SnippetMeta`].
pub const META_HEADER: &str = "Sdrhub-Snippet";
/// Longest snippet, samples: 512 KiB of payload, under NATS' default 1 MiB message limit, and
/// the same cap as the local TDOA worker's.
pub const MAX_SNIPPET: usize = 1 << 16;
/// How long after a window ends the node waits before cutting it: the receivers' blocks must
/// have arrived (a block is released when its last sample is due).
const CUT_DELAY: Duration = Duration::from_millis(300);
/// How often the cutter looks at the clock.
const CUT_TICK: Duration = Duration::from_millis(50);
/// Snippets whose acknowledgement is awaited at once; beyond, new ones are dropped and counted
/// (a snippet is useful for seconds: NATS being slow is no reason to queue them).
const MAX_IN_FLIGHT: usize = 32;
/// Signal reports the cutter may not have read yet.
pub const TAP_QUEUE: usize = 1024;

/// What a snippet is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnippetMeta {
    /// The node that cut it.
    pub node: String,
    /// The receiver.
    pub receiver: String,
    /// Antenna latitude, degrees.
    pub latitude: f64,
    /// Antenna longitude, degrees.
    pub longitude: f64,
    /// The node's id of the signal (`<node>/sig-<n>`).
    pub signal_id: String,
    /// Centre frequency of the signal, Hz.
    pub frequency_hz: f64,
    /// Its occupied bandwidth, Hz.
    pub bandwidth_hz: f64,
    /// How well this receiver hears it (per-bin SNR, dB; the best receiver's is the signal's).
    pub snr_db: f64,
    /// The grid window this snippet belongs to: its nominal start, ns since the epoch.
    pub window_ns: i64,
    /// Time of the first sample, ns since the epoch (exact).
    pub start_ns: i64,
    /// Sample rate, Hz.
    pub rate_hz: f64,
    /// Centre frequency of the samples, Hz.
    pub center_hz: f64,
}

/// Encodes a snippet: the header text and the payload.
pub fn encode(meta: &SnippetMeta, samples: &[Complex32]) -> (String, Bytes) {
    // Invariant: plain data always serializes.
    let header = serde_json::to_string(meta).expect("snippet metadata serializes");
    let mut payload = Vec::with_capacity(samples.len() * 8);
    for s in samples {
        payload.extend_from_slice(&s.re.to_le_bytes());
        payload.extend_from_slice(&s.im.to_le_bytes());
    }
    (header, Bytes::from(payload))
}

/// Decodes a snippet from its header text and payload.
///
/// # Errors
/// Bad metadata, or a payload that is not whole `f32` pairs.
pub fn decode(header: &str, payload: &[u8]) -> Result<(SnippetMeta, Snippet), String> {
    let meta: SnippetMeta = serde_json::from_str(header).map_err(|e| format!("bad {META_HEADER}: {e}"))?;
    if payload.len() % 8 != 0 || payload.is_empty() || payload.len() / 8 > MAX_SNIPPET {
        return Err(format!(
            "payload of {} bytes is not 1..=65536 IQ pairs",
            payload.len()
        ));
    }
    if !(meta.rate_hz.is_finite() && meta.rate_hz > 0.0) {
        return Err(format!("bad rate_hz {}", meta.rate_hz));
    }
    let samples = payload
        .chunks_exact(8)
        .map(|c| {
            Complex32::new(
                f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let snippet = Snippet {
        samples,
        start_ns: meta.start_ns,
        rate_hz: meta.rate_hz,
        center_hz: meta.center_hz,
    };
    Ok((meta, snippet))
}

/// The grid window a time falls in: `(start of the window, ns)`.
pub fn window_of(time_ns: i64, interval_ns: i64) -> i64 {
    time_ns.div_euclid(interval_ns) * interval_ns
}

/// Counters of a node's snippet cutter.
#[derive(Debug, Default)]
pub struct CutterStats {
    /// Snippets published (acknowledged).
    pub published: AtomicU64,
    /// Snippets not published: NATS slow or away, or the window no longer held.
    pub dropped: AtomicU64,
}

/// Starts a node's snippet cutter over `receivers`, told of the node's signals by `reports`
/// (its publisher's tap, [`super::publisher::Publisher::with_signal_tap`]).
pub fn spawn_cutter(
    bus: Bus,
    node: String,
    receivers: Vec<ReceiverHandle>,
    reports: mpsc::Receiver<SignalReport>,
    interval: Duration,
    window_s: f64,
) -> (Arc<CutterStats>, tokio::task::JoinHandle<()>) {
    let stats = Arc::new(CutterStats::default());
    let cutter = Cutter {
        bus,
        node,
        receivers,
        interval_ns: i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX).max(1),
        window_s,
        active: HashMap::new(),
        stats: stats.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
    };
    (stats, tokio::spawn(cutter.run(reports)))
}

struct Cutter {
    bus: Bus,
    node: String,
    receivers: Vec<ReceiverHandle>,
    interval_ns: i64,
    window_s: f64,
    /// Signals the node's tracker reports active, by id.
    active: HashMap<String, SignalReport>,
    stats: Arc<CutterStats>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl Cutter {
    async fn run(mut self, mut reports: mpsc::Receiver<SignalReport>) {
        let now = sdrhub_hardware::acquisition::now_ns();
        let mut next = window_of(now, self.interval_ns) + self.interval_ns;
        let mut tick = tokio::time::interval(CUT_TICK);
        loop {
            tokio::select! {
                report = reports.recv() => match report {
                    Some(report) if report.state == SignalState::Lost => {
                        self.active.remove(&report.signal_id);
                    }
                    Some(report) => {
                        self.active.insert(report.signal_id.clone(), report);
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    let now = sdrhub_hardware::acquisition::now_ns();
                    let window_len_ns = (self.window_s * 1e9) as i64;
                    while now >= next + window_len_ns + CUT_DELAY.as_nanos() as i64 {
                        self.cut_window(next);
                        next += self.interval_ns;
                    }
                }
            }
        }
    }

    /// Cuts and publishes window `start_ns` from every receiver of this node that hears an
    /// active signal.
    fn cut_window(&self, start_ns: i64) {
        for signal in self.active.values() {
            for (rank, id) in signal.receivers.iter().enumerate() {
                let Some(receiver) = self.receivers.iter().find(|r| *r.info.id == **id) else {
                    continue;
                };
                let info = receiver.current_info();
                let Some(position) = info.position else { continue };
                let len = ((self.window_s * info.sample_rate_hz) as usize).min(MAX_SNIPPET);
                let snippet = match receiver.snippets.cut(start_ns, len) {
                    Ok(snippet) => snippet,
                    Err(error) => {
                        tracing::debug!(receiver = %id, %error, "no snippet for this window");
                        continue;
                    }
                };
                let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let Event::SignalsDetected(named) =
                    namespaced(Event::SignalsDetected(signal.clone()), &self.node)
                else {
                    continue;
                };
                let meta = SnippetMeta {
                    node: self.node.clone(),
                    receiver: id.clone(),
                    latitude: position.lat_deg,
                    longitude: position.lon_deg,
                    signal_id: named.signal_id,
                    frequency_hz: signal.frequency_hz,
                    bandwidth_hz: signal.bandwidth_hz,
                    // The best receiver's SNR is the signal's; the others are ranked below it,
                    // so the best becomes the correlation reference.
                    snr_db: if *id == signal.websdr_id {
                        signal.snr_db
                    } else {
                        signal.snr_db - 1.0 - rank as f64 * 0.01
                    },
                    window_ns: start_ns,
                    start_ns: snippet.start_ns,
                    rate_hz: snippet.rate_hz,
                    center_hz: snippet.center_hz,
                };
                let (header, payload) = encode(&meta, &snippet.samples);
                let jetstream = self.bus.jetstream.clone();
                let stats = self.stats.clone();
                let subject = subject::snippet_subject(id);
                tokio::spawn(async move {
                    let _permit = permit;
                    let message = PublishMessage::build()
                        .payload(payload)
                        .header(META_HEADER, header.as_str());
                    let acked = match jetstream.send_publish(subject, message).await {
                        Ok(ack) => ack.await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if acked { &stats.published } else { &stats.dropped };
                    counter.fetch_add(1, Ordering::Relaxed);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_round_trip_and_bad_ones_are_refused() {
        let meta = SnippetMeta {
            node: "edge-1".into(),
            receiver: "rx1".into(),
            latitude: 48.9,
            longitude: 2.35,
            signal_id: "edge-1/sig-2".into(),
            frequency_hz: 144.94e6,
            bandwidth_hz: 12.5e3,
            snr_db: 30.0,
            window_ns: 2_000_000_000,
            start_ns: 2_000_001_953,
            rate_hz: 256e3,
            center_hz: 145e6,
        };
        let samples: Vec<Complex32> = (0..1000)
            .map(|i| Complex32::new(i as f32, -(i as f32) * 0.5))
            .collect();
        let (header, payload) = encode(&meta, &samples);
        assert!(
            !header.contains('\n') && !header.contains('\r'),
            "a header is one line"
        );
        let (back, snippet) = decode(&header, &payload).unwrap();
        assert_eq!(back, meta);
        assert_eq!(snippet.samples, samples);
        assert_eq!(
            (snippet.start_ns, snippet.rate_hz, snippet.center_hz),
            (2_000_001_953, 256e3, 145e6)
        );
        assert!(decode(&header, &payload[..payload.len() - 3]).is_err());
        assert!(decode("{}", &payload).is_err());
        assert!(decode(&header, &[]).is_err());
    }

    #[test]
    fn windows_are_on_one_grid_for_every_node() {
        let interval = 2_000_000_000;
        assert_eq!(window_of(5_300_000_000, interval), 4_000_000_000);
        assert_eq!(window_of(4_000_000_000, interval), 4_000_000_000);
        assert_eq!(window_of(-1, interval), -interval);
    }
}
