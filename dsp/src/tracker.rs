//! Fusion of per-frame detections from many receivers into signals with stable ids.
//!
//! Every averaged spectrum of every receiver yields a list of [`Detection`]s. The tracker keeps
//! one [`Track`] per transmission: a detection joins the track whose frequency span it overlaps
//! (within a tolerance that covers receiver frequency errors), from whichever receiver it came.
//! A track is *tentative* until it has been seen in `confirm_detections` spectra, so a single
//! noise false alarm never reaches a user; after that it is reported once as
//! [`TrackEventKind::New`], again as [`TrackEventKind::Update`] only when it changes materially
//! (frequency, bandwidth, SNR, or the set of receivers that see it), and once as
//! [`TrackEventKind::Lost`] when no receiver has seen it for `lost_after_ns`.
//!
//! Per receiver, a track keeps a short window of power measurements; their mean and the
//! standard error of that mean are what power-based localization needs.
//!
//! A track is one transmission. Which *emitter* it is (the transmitter heard 30 s ago that
//! keyed off and on again) is decided at confirmation by the [`EmitterMemory`]; every summary
//! carries its emitter's id, transmission count and duty cycle.

use crate::detect::Detection;
use crate::emitter::{EmitterLink, EmitterMemory};

/// Tunables of the tracker (config keys `tracker.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Extra frequency slack when matching a detection to a track, Hz. Covers receiver
    /// frequency errors and estimate jitter; two carriers closer than this merge.
    pub frequency_tolerance_hz: f64,
    /// Spectra (from any receiver) that must contain a signal before it is reported.
    pub confirm_detections: u32,
    /// A receiver that has not seen a track for this long stops counting as seeing it; a track
    /// no receiver has seen for this long is lost. ns.
    pub lost_after_ns: i64,
    /// A frequency move larger than this is a material change, Hz.
    pub change_frequency_hz: f64,
    /// An SNR change larger than this is a material change, dB.
    pub change_snr_db: f64,
    /// A relative bandwidth change larger than this is a material change (0.25 = 25 %).
    pub change_bandwidth_ratio: f64,
    /// Updates of one track are at least this far apart, ns (a change of the receiver set is
    /// reported at once).
    pub min_update_interval_ns: i64,
    /// Power measurements kept per receiver per track for averaging.
    pub power_window: usize,
    /// A detection this many dB (or more) below a stronger signal's peak, and within one and a
    /// half of that signal's bandwidths of its edges, is that signal's spectral skirt or
    /// sidelobe (digital modulations have them 13-30 dB down), not a signal of its own. 0
    /// disables the rule (a weak signal right next to a strong one is then reported, and so are
    /// the strong one's sidelobes).
    pub sidelobe_rejection_db: f64,
    /// How long a lost track's emitter is remembered, so that a transmitter keying on again
    /// within it keeps its emitter id (see [`crate::emitter`]), ns. 0 forgets at once.
    pub emitter_memory_ns: i64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            frequency_tolerance_hz: 1_000.0,
            confirm_detections: 3,
            lost_after_ns: 3_000_000_000,
            change_frequency_hz: 1_000.0,
            change_snr_db: 3.0,
            change_bandwidth_ratio: 0.25,
            min_update_interval_ns: 1_000_000_000,
            power_window: 32,
            sidelobe_rejection_db: 20.0,
            emitter_memory_ns: 600_000_000_000,
        }
    }
}

/// What happened to a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackEventKind {
    /// The signal was confirmed.
    New,
    /// The signal changed materially.
    Update,
    /// No receiver has seen the signal for `lost_after_ns`.
    Lost,
}

/// A report about one track, with the track's state at that moment.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEvent {
    /// What happened.
    pub kind: TrackEventKind,
    /// The track as it was reported.
    pub summary: TrackSummary,
}

/// The user-visible state of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSummary {
    /// Stable id, assigned at confirmation, never reused.
    pub id: u64,
    /// Centre frequency, Hz (from the receiver with the best SNR).
    pub frequency_hz: f64,
    /// Occupied bandwidth, Hz.
    pub bandwidth_hz: f64,
    /// Per-bin SNR at the best receiver, dB (averaged over its recent spectra).
    pub snr_db: f64,
    /// Mean signal power at the best receiver, dBFS.
    pub power_dbfs: f64,
    /// Peak bin power at the best receiver in its latest spectrum, dBFS.
    pub peak_dbfs: f64,
    /// Index of the receiver with the best SNR.
    pub best_receiver: usize,
    /// Indices of the receivers that currently see the signal, ascending.
    pub receivers: Vec<usize>,
    /// Time the signal was first detected, ns since the epoch.
    pub first_seen_ns: i64,
    /// Time of the latest detection, ns since the epoch.
    pub last_seen_ns: i64,
    /// Stable id of the emitter this transmission is (see [`crate::emitter`]): the same over
    /// every transmission of a transmitter that keys on again within the emitter memory.
    pub emitter_id: u64,
    /// Transmissions of the emitter so far, this one included.
    pub activations: u32,
    /// When the emitter was first heard (its first transmission's `first_seen_ns`), ns.
    pub emitter_first_heard_ns: i64,
    /// Fraction of the time since the emitter was first heard that it was heard, 0..1 (see
    /// [`EmitterLink::duty_cycle`]).
    pub duty_cycle: f64,
}

/// One receiver's view of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Receiver index.
    pub receiver: usize,
    /// Time of this receiver's latest detection of the track, ns.
    pub last_seen_ns: i64,
    /// Latest frequency estimate, Hz.
    pub frequency_hz: f64,
    /// Latest bandwidth estimate, Hz.
    pub bandwidth_hz: f64,
    /// Exponentially averaged per-bin SNR, dB.
    pub snr_db: f64,
    /// Latest peak bin power, dBFS.
    pub peak_dbfs: f64,
    powers: Vec<f64>,
    next: usize,
}

impl Observation {
    fn new(receiver: usize, window: usize) -> Self {
        Self {
            receiver,
            last_seen_ns: i64::MIN,
            frequency_hz: 0.0,
            bandwidth_hz: 0.0,
            snr_db: 0.0,
            peak_dbfs: -300.0,
            powers: Vec::with_capacity(window),
            next: 0,
        }
    }

    fn record(&mut self, time_ns: i64, merged: &Merged, window: usize) {
        let first = self.powers.is_empty();
        self.last_seen_ns = time_ns;
        self.frequency_hz = merged.frequency_hz;
        self.bandwidth_hz = merged.bandwidth_hz;
        self.peak_dbfs = merged.peak_dbfs;
        // A short exponential average keeps the reported SNR from flickering frame to frame.
        self.snr_db = if first {
            merged.snr_db
        } else {
            0.8 * self.snr_db + 0.2 * merged.snr_db
        };
        if self.powers.len() < window {
            self.powers.push(merged.power_fs);
        } else {
            self.powers[self.next] = merged.power_fs;
            self.next = (self.next + 1) % window;
        }
    }

    /// The latest power measurement, dB(FS); `None` before the first.
    pub fn latest_power_db(&self) -> Option<f64> {
        let len = self.powers.len();
        if len == 0 {
            return None;
        }
        // Filling, the ring appends (and `next` stays 0); full, `next` follows the newest.
        let latest = (self.next + len - 1) % len;
        self.powers.get(latest).map(|&p| crate::db(p))
    }

    /// Number of power measurements currently averaged.
    pub fn power_count(&self) -> usize {
        self.powers.len()
    }

    /// Mean received power over the window, dB(FS), and the standard error of that mean in dB
    /// (from the spread of the individual measurements, so it reflects the real noise of this
    /// receiver's estimates). `None` with fewer than two measurements.
    pub fn mean_power_db(&self) -> Option<(f64, f64)> {
        let n = self.powers.len();
        if n < 2 {
            return None;
        }
        let mean = self.powers.iter().sum::<f64>() / n as f64;
        if mean <= 0.0 {
            return None;
        }
        let var = self.powers.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sem_db = 10.0 / std::f64::consts::LN_10 * (var / n as f64).sqrt() / mean;
        Some((crate::db(mean), sem_db))
    }
}

/// One transmission, as seen by any number of receivers.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    id: Option<u64>,
    emitter: Option<EmitterLink>,
    hits: u32,
    first_seen_ns: i64,
    last_seen_ns: i64,
    observations: Vec<Observation>,
    /// The last reported state and when it was reported.
    reported: Option<(i64, TrackSummary)>,
}

impl Track {
    /// The stable id, once confirmed.
    pub fn id(&self) -> Option<u64> {
        self.id
    }

    /// The receivers' views of this track (only receivers that have seen it recently).
    pub fn observations(&self) -> &[Observation] {
        &self.observations
    }

    fn best(&self) -> Option<&Observation> {
        self.observations
            .iter()
            .max_by(|a, b| a.snr_db.total_cmp(&b.snr_db))
    }

    /// Frequency span used for matching, Hz.
    fn span(&self) -> (f64, f64) {
        let best = self.best();
        let (f, bw) = best.map_or((0.0, 0.0), |o| (o.frequency_hz, o.bandwidth_hz));
        (f - bw / 2.0, f + bw / 2.0)
    }

    /// The user-visible state; `None` while tentative.
    pub fn summary(&self) -> Option<TrackSummary> {
        let id = self.id?;
        let emitter = self.emitter?;
        let best = self.best()?;
        let mut receivers: Vec<usize> = self.observations.iter().map(|o| o.receiver).collect();
        receivers.sort_unstable();
        Some(TrackSummary {
            id,
            frequency_hz: best.frequency_hz,
            bandwidth_hz: best.bandwidth_hz,
            snr_db: best.snr_db,
            power_dbfs: best.mean_power_db().map_or_else(|| best.peak_dbfs, |(p, _)| p),
            peak_dbfs: best.peak_dbfs,
            best_receiver: best.receiver,
            receivers,
            first_seen_ns: self.first_seen_ns,
            last_seen_ns: self.last_seen_ns,
            emitter_id: emitter.id,
            activations: emitter.activations,
            emitter_first_heard_ns: emitter.first_heard_ns,
            duty_cycle: emitter.duty_cycle(self.first_seen_ns, self.last_seen_ns),
        })
    }
}

/// Detections of one spectrum that belong to the same track, combined.
#[derive(Debug, Clone, Copy)]
struct Merged {
    frequency_hz: f64,
    bandwidth_hz: f64,
    power_fs: f64,
    snr_db: f64,
    peak_dbfs: f64,
}

impl Merged {
    fn from(d: &Detection) -> Self {
        Self {
            frequency_hz: d.frequency_hz,
            bandwidth_hz: d.bandwidth_hz,
            power_fs: d.power_fs,
            snr_db: d.snr_db,
            peak_dbfs: d.peak_dbfs,
        }
    }

    /// Adds a second piece of the same signal (a modulated signal whose spectrum dipped below
    /// the threshold in the middle): powers add, the span is the union, the strongest peak wins.
    fn absorb(&mut self, d: &Detection) {
        let lo = (self.frequency_hz - self.bandwidth_hz / 2.0).min(d.frequency_hz - d.bandwidth_hz / 2.0);
        let hi = (self.frequency_hz + self.bandwidth_hz / 2.0).max(d.frequency_hz + d.bandwidth_hz / 2.0);
        let total = self.power_fs + d.power_fs;
        if total > 0.0 {
            self.frequency_hz = (self.frequency_hz * self.power_fs + d.frequency_hz * d.power_fs) / total;
        }
        self.bandwidth_hz = hi - lo;
        self.power_fs = total;
        if d.snr_db > self.snr_db {
            self.snr_db = d.snr_db;
            self.peak_dbfs = d.peak_dbfs;
        }
    }
}

/// How often [`Tracker::expire`] forgets emitters unheard for longer than the memory, ns.
const PRUNE_INTERVAL_NS: i64 = 1_000_000_000;

/// The multi-receiver signal tracker.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    emitters: EmitterMemory,
    /// When the emitter memory was last pruned, ns.
    pruned_ns: i64,
    /// Indices of the current spectrum's detections, strongest first.
    order: Vec<usize>,
    merged: Vec<(usize, Merged)>,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            emitters: EmitterMemory::new(config.emitter_memory_ns),
            pruned_ns: i64::MIN,
            config,
            tracks: Vec::new(),
            next_id: 1,
            order: Vec::new(),
            merged: Vec::new(),
        }
    }

    /// The tracker's configuration.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// All tracks, tentative ones included (their `id()` is `None`).
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// The confirmed track with this id.
    pub fn track(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == Some(id))
    }

    /// The remembered emitters (see [`crate::emitter`]).
    pub fn emitters(&self) -> &EmitterMemory {
        &self.emitters
    }

    /// The other idle emitters confirmed track `id` could be by frequency and bandwidth at
    /// `now_ns`, nearest first (see [`EmitterMemory::candidates`]); empty without such a track.
    pub fn emitter_candidates(&self, id: u64, now_ns: i64, out: &mut Vec<u64>) {
        out.clear();
        let Some(track) = self.track(id) else { return };
        let (Some(best), Some(link)) = (track.best(), track.emitter) else {
            return;
        };
        self.emitters
            .candidates(best.frequency_hz, best.bandwidth_hz, now_ns, out);
        out.retain(|&e| e != link.id);
    }

    /// Gives confirmed track `id` another emitter: fusion found it somewhere its remembered
    /// emitter was not (see [`EmitterMemory::detach`]): emitter `to` when it is idle, else a new
    /// one. The emitter is in the track's next summary; `None` when there is no such track.
    pub fn detach_emitter(&mut self, id: u64, to: Option<u64>) -> Option<u64> {
        let track = self.tracks.iter_mut().find(|t| t.id == Some(id))?;
        let old = track.emitter?;
        let best = track.best()?;
        let link = self.emitters.detach(
            old.id,
            to,
            best.frequency_hz,
            best.bandwidth_hz,
            track.first_seen_ns,
        );
        track.emitter = Some(link);
        Some(link.id)
    }

    /// Feeds the detections of one spectrum of `receiver` (whose first sample is at `time_ns`)
    /// and appends what changed to `events`.
    pub fn update(
        &mut self,
        receiver: usize,
        time_ns: i64,
        detections: &[Detection],
        events: &mut Vec<TrackEvent>,
    ) {
        let tol = self.config.frequency_tolerance_hz;
        self.merged.clear();
        // Strongest first, so a signal's main lobe claims its track before its sidelobes.
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(0..detections.len());
        order.sort_by(|&a, &b| detections[b].peak_dbfs.total_cmp(&detections[a].peak_dbfs));
        for d in order.iter().map(|&i| &detections[i]) {
            if self.is_skirt(receiver, d) || self.merged_skirt(d) {
                continue;
            }
            let (lo, hi) = (
                d.frequency_hz - d.bandwidth_hz / 2.0 - tol,
                d.frequency_hz + d.bandwidth_hz / 2.0 + tol,
            );
            // The overlapping track whose centre is nearest wins.
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    let (tlo, thi) = t.span();
                    tlo <= hi && thi >= lo
                })
                .min_by(|(_, a), (_, b)| {
                    let da = (a.best().map_or(0.0, |o| o.frequency_hz) - d.frequency_hz).abs();
                    let db = (b.best().map_or(0.0, |o| o.frequency_hz) - d.frequency_hz).abs();
                    da.total_cmp(&db)
                })
                .map(|(i, _)| i);
            match best {
                Some(track) => match self.merged.iter_mut().find(|(t, _)| *t == track) {
                    Some((_, m)) => m.absorb(d),
                    None => self.merged.push((track, Merged::from(d))),
                },
                None => {
                    // A new tentative track, unless an earlier detection of this same spectrum
                    // already opened one that this detection overlaps.
                    let open = self.merged.iter_mut().find(|(t, m)| {
                        self.tracks[*t].hits == 0
                            && (m.frequency_hz - d.frequency_hz).abs()
                                <= (m.bandwidth_hz + d.bandwidth_hz) / 2.0 + tol
                    });
                    match open {
                        Some((_, m)) => m.absorb(d),
                        None => {
                            self.tracks.push(Track {
                                id: None,
                                emitter: None,
                                hits: 0,
                                first_seen_ns: time_ns,
                                last_seen_ns: time_ns,
                                observations: Vec::new(),
                                reported: None,
                            });
                            self.merged.push((self.tracks.len() - 1, Merged::from(d)));
                        }
                    }
                }
            }
        }
        self.order = order;
        let window = self.config.power_window.max(2);
        for (index, merged) in std::mem::take(&mut self.merged) {
            let track = &mut self.tracks[index];
            track.hits += 1;
            track.last_seen_ns = track.last_seen_ns.max(time_ns);
            let obs = match track.observations.iter().position(|o| o.receiver == receiver) {
                Some(i) => &mut track.observations[i],
                None => {
                    track.observations.push(Observation::new(receiver, window));
                    // Invariant: just pushed.
                    track.observations.last_mut().expect("just pushed")
                }
            };
            obs.record(time_ns, &merged, window);
            self.report(index, time_ns, events);
        }
        self.expire(time_ns, events);
    }

    /// Whether `d` is the sidelobe or skirt of a much stronger track (see
    /// [`TrackerConfig::sidelobe_rejection_db`]).
    fn is_skirt(&self, receiver: usize, d: &Detection) -> bool {
        let rejection = self.config.sidelobe_rejection_db;
        if rejection <= 0.0 {
            return false;
        }
        let tol = self.config.frequency_tolerance_hz;
        self.tracks.iter().any(|t| {
            let Some(best) = t.best() else { return false };
            // Compare levels as this receiver sees them when it sees the track at all.
            let peak = t
                .observations
                .iter()
                .find(|o| o.receiver == receiver)
                .unwrap_or(best)
                .peak_dbfs;
            let (lo, hi) = t.span();
            let reach = 1.5 * best.bandwidth_hz + tol;
            let beside = d.frequency_hz >= lo - reach && d.frequency_hz <= hi + reach;
            let overlaps = d.frequency_hz + d.bandwidth_hz / 2.0 + tol >= lo
                && d.frequency_hz - d.bandwidth_hz / 2.0 - tol <= hi;
            beside && !overlaps && peak - d.peak_dbfs >= rejection
        })
    }

    /// Whether `d` is the skirt of a stronger detection of this same spectrum that opened a new
    /// track (on the first spectrum of a signal, its track has no observation yet).
    fn merged_skirt(&self, d: &Detection) -> bool {
        let rejection = self.config.sidelobe_rejection_db;
        rejection > 0.0
            && self.merged.iter().any(|(_, m)| {
                let reach = m.bandwidth_hz / 2.0 + 1.5 * m.bandwidth_hz + self.config.frequency_tolerance_hz;
                (d.frequency_hz - m.frequency_hz).abs() <= reach && m.peak_dbfs - d.peak_dbfs >= rejection
            })
    }

    /// Forgets receivers that stopped seeing a track and reports tracks no receiver sees any
    /// more. Call it periodically with the current time even when no spectra arrive (a dead
    /// receiver must not keep its signals alive).
    pub fn expire(&mut self, now_ns: i64, events: &mut Vec<TrackEvent>) {
        // Forgetting is a scan of every remembered emitter: once a second is plenty (the memory
        // is minutes long), and keeps it off the per-spectrum path.
        if now_ns.saturating_sub(self.pruned_ns) >= PRUNE_INTERVAL_NS {
            self.emitters.prune(now_ns);
            self.pruned_ns = now_ns;
        }
        let lost_after = self.config.lost_after_ns;
        let mut index = 0;
        while index < self.tracks.len() {
            let track = &mut self.tracks[index];
            let before = track.observations.len();
            track
                .observations
                .retain(|o| now_ns - o.last_seen_ns <= lost_after);
            if track.observations.is_empty() {
                let track = self.tracks.swap_remove(index);
                if let Some(emitter) = track.emitter {
                    let (frequency_hz, bandwidth_hz) = track
                        .reported
                        .as_ref()
                        .map_or((0.0, 0.0), |(_, s)| (s.frequency_hz, s.bandwidth_hz));
                    self.emitters.release(
                        emitter.id,
                        frequency_hz,
                        bandwidth_hz,
                        track.first_seen_ns,
                        track.last_seen_ns,
                    );
                }
                // Tentative tracks vanish silently: they were never reported.
                if let Some((_, mut summary)) = track.reported {
                    summary.last_seen_ns = track.last_seen_ns;
                    // The emitter as it is now (fusion may have reassigned it since the last
                    // report).
                    if let Some(e) = track.emitter {
                        summary.emitter_id = e.id;
                        summary.activations = e.activations;
                        summary.emitter_first_heard_ns = e.first_heard_ns;
                        summary.duty_cycle = e.duty_cycle(track.first_seen_ns, track.last_seen_ns);
                    }
                    events.push(TrackEvent {
                        kind: TrackEventKind::Lost,
                        summary,
                    });
                }
                continue;
            }
            if track.observations.len() != before {
                self.report(index, now_ns, events);
            }
            index += 1;
        }
    }

    /// Confirms a tentative track or reports a material change of a confirmed one.
    fn report(&mut self, index: usize, time_ns: i64, events: &mut Vec<TrackEvent>) {
        let config = &self.config;
        let track = &mut self.tracks[index];
        if track.id.is_none() {
            if track.hits < config.confirm_detections {
                return;
            }
            track.id = Some(self.next_id);
            self.next_id += 1;
            if let Some(best) = track.best() {
                track.emitter = Some(self.emitters.acquire(
                    best.frequency_hz,
                    best.bandwidth_hz,
                    track.first_seen_ns,
                    time_ns,
                ));
            }
        }
        let Some(summary) = track.summary() else { return };
        let kind = match &track.reported {
            None => TrackEventKind::New,
            Some((last_time_ns, last)) => {
                let receivers_changed = last.receivers != summary.receivers;
                let due = time_ns - last_time_ns >= config.min_update_interval_ns;
                let moved = (summary.frequency_hz - last.frequency_hz).abs() > config.change_frequency_hz
                    || (summary.snr_db - last.snr_db).abs() > config.change_snr_db
                    || (summary.bandwidth_hz - last.bandwidth_hz).abs()
                        > config.change_bandwidth_ratio * last.bandwidth_hz.max(1.0);
                if !(receivers_changed || (due && moved)) {
                    return;
                }
                TrackEventKind::Update
            }
        };
        track.reported = Some((time_ns, summary.clone()));
        events.push(TrackEvent { kind, summary });
    }
}

#[cfg(test)]
mod emitter_tests;
#[cfg(test)]
mod tests;
