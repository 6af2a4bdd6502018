//! From every receiver's detections to user-facing events: the tracker turns detections into
//! signals, and signals that enough receivers see are located.
//!
//! `Fusion` is synchronous and owns no threads, so the live pipeline and offline tools (and the
//! localization accuracy tests) run exactly the same code.

use super::spectrum::SpectrumDetections;
use crate::config::LocalizationConfig;
use crate::events::{
    EllipseReport, Event, LocalizationMethod, LocalizationReport, SignalReport, SignalState, Timestamp,
};
use sdrhub_dsp::geo::GeoPoint;
use sdrhub_dsp::locate::power::{locate_power, PathLossModel, PowerObservation};
use sdrhub_dsp::tracker::{TrackEvent, TrackEventKind, TrackSummary, Tracker, TrackerConfig};
use std::collections::HashMap;
use std::sync::Arc;

/// What fusion needs to know about a receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverMeta {
    /// Wire id.
    pub id: Arc<str>,
    /// Antenna position, if known (needed for localization).
    pub position: Option<GeoPoint>,
}

/// Counters for health reporting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FusionStats {
    /// Spectra ingested.
    pub spectra: u64,
    /// Localizations published.
    pub localizations: u64,
    /// Localization attempts that found no usable solution.
    pub failed_localizations: u64,
    /// Why the last attempt failed.
    pub last_failure: Option<String>,
}

/// The tracker plus localization policy.
#[derive(Debug)]
pub struct Fusion {
    tracker: Tracker,
    receivers: Vec<ReceiverMeta>,
    localization: LocalizationConfig,
    model: PathLossModel,
    /// When each signal was last located (ns, measurement time).
    last_located: HashMap<u64, i64>,
    track_events: Vec<TrackEvent>,
    stats: FusionStats,
}

impl Fusion {
    /// Fusion over `receivers` (indexed as in [`SpectrumDetections::receiver`]), locating with a
    /// log-distance model of exponent `path_loss_exponent` (see
    /// [`crate::config::Config::path_loss_exponent`]).
    pub fn new(
        receivers: Vec<ReceiverMeta>,
        tracker: TrackerConfig,
        localization: LocalizationConfig,
        path_loss_exponent: f64,
    ) -> Self {
        let model = PathLossModel {
            exponent: path_loss_exponent,
            ref_distance_m: localization.ref_distance_m,
        };
        Self {
            tracker: Tracker::new(tracker),
            receivers,
            localization,
            model,
            last_located: HashMap::new(),
            track_events: Vec::new(),
            stats: FusionStats::default(),
        }
    }

    /// Updates receiver `receiver`'s position (a remote receiver tells it once connected).
    pub fn set_position(&mut self, receiver: usize, position: Option<GeoPoint>) {
        if let Some(meta) = self.receivers.get_mut(receiver) {
            meta.position = position;
        }
    }

    /// Counters.
    pub fn stats(&self) -> &FusionStats {
        &self.stats
    }

    /// The tracker (for inspection).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Ingests one spectrum's detections; appends the resulting events to `out`.
    pub fn ingest(&mut self, spectrum: &SpectrumDetections, out: &mut Vec<Event>) {
        self.stats.spectra += 1;
        self.track_events.clear();
        self.tracker.update(
            spectrum.receiver,
            spectrum.time_ns,
            &spectrum.detections,
            &mut self.track_events,
        );
        self.publish_track_events(out);
        if self.localization.enabled {
            self.locate_due(spectrum.time_ns, out);
        }
    }

    /// Expires signals no receiver has seen recently; call periodically with the current time.
    pub fn tick(&mut self, now_ns: i64, out: &mut Vec<Event>) {
        self.track_events.clear();
        self.tracker.expire(now_ns, &mut self.track_events);
        self.publish_track_events(out);
    }

    fn publish_track_events(&mut self, out: &mut Vec<Event>) {
        for event in self.track_events.drain(..) {
            let state = match event.kind {
                TrackEventKind::New => SignalState::New,
                TrackEventKind::Update => SignalState::Update,
                TrackEventKind::Lost => {
                    self.last_located.remove(&event.summary.id);
                    SignalState::Lost
                }
            };
            out.push(Event::SignalsDetected(signal_report(
                &self.receivers,
                &event.summary,
                state,
            )));
        }
    }

    /// Locates every confirmed signal that enough receivers have measured well enough and that
    /// was not located within the last `interval_s`.
    fn locate_due(&mut self, now_ns: i64, out: &mut Vec<Event>) {
        let interval_ns = (self.localization.interval_s * 1e9) as i64;
        for track in self.tracker.tracks() {
            let Some(id) = track.id() else { continue };
            if self
                .last_located
                .get(&id)
                .is_some_and(|t| now_ns - t < interval_ns)
            {
                continue;
            }
            let mut used = Vec::new();
            let mut observations = Vec::new();
            for obs in track.observations() {
                let Some(position) = self.receivers.get(obs.receiver).and_then(|r| r.position) else {
                    continue;
                };
                if obs.power_count() < self.localization.min_power_samples {
                    continue;
                }
                if let Some((power_db, sigma_db)) = obs.mean_power_db() {
                    observations.push(PowerObservation {
                        position,
                        power_db,
                        sigma_db,
                    });
                    used.push(obs.receiver);
                }
            }
            if observations.len() < self.localization.min_receivers {
                continue;
            }
            self.last_located.insert(id, now_ns);
            match locate_power(&observations, &self.model) {
                Ok(fix) => {
                    self.stats.localizations += 1;
                    let frequency_hz = track.summary().map_or(0.0, |s| s.frequency_hz);
                    out.push(Event::LocalizationsUpdated(LocalizationReport {
                        signal_id: signal_id(id),
                        latitude: fix.position.lat_deg,
                        longitude: fix.position.lon_deg,
                        uncertainty_m: fix.uncertainty_m,
                        confidence: fix.confidence,
                        method: LocalizationMethod::Power,
                        ellipse: EllipseReport {
                            semi_major_m: fix.ellipse.semi_major_m,
                            semi_minor_m: fix.ellipse.semi_minor_m,
                            orientation_deg: fix.ellipse.orientation_deg,
                        },
                        receivers: used.iter().map(|&i| self.receivers[i].id.to_string()).collect(),
                        frequency_hz,
                        timestamp: Timestamp(now_ns),
                    }));
                }
                Err(error) => {
                    tracing::debug!(signal = id, %error, "signal not located");
                    self.stats.failed_localizations += 1;
                    self.stats.last_failure = Some(error.to_string());
                }
            }
        }
    }
}

/// The wire id of track `id`.
pub fn signal_id(id: u64) -> String {
    format!("sig-{id}")
}

fn signal_report(receivers: &[ReceiverMeta], s: &TrackSummary, state: SignalState) -> SignalReport {
    let id_of = |i: usize| {
        receivers
            .get(i)
            .map_or_else(|| format!("rx{i}"), |r| r.id.to_string())
    };
    SignalReport {
        signal_id: signal_id(s.id),
        state,
        frequency_hz: s.frequency_hz,
        frequency_mhz: s.frequency_hz / 1e6,
        bandwidth_hz: s.bandwidth_hz,
        snr_db: s.snr_db,
        power_dbfs: s.power_dbfs,
        peak_power_dbfs: s.peak_dbfs,
        websdr_id: id_of(s.best_receiver),
        receivers: s.receivers.iter().map(|&i| id_of(i)).collect(),
        first_seen: Timestamp(s.first_seen_ns),
        timestamp: Timestamp(s.last_seen_ns),
    }
}
