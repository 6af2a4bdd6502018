//! From every receiver's detections to user-facing events: the tracker turns detections into
//! signals, and signals that enough receivers see are located.
//!
//! `Fusion` is synchronous and owns no threads, so the live pipeline and offline tools (and the
//! localization accuracy tests) run exactly the same code.

use super::emitter_fixes::EmitterFixes;
use super::names::TransmitterNames;
use super::spectrum::SpectrumDetections;
use super::tdoa::{TdoaError, TdoaSolution};
use crate::config::LocalizationConfig;
use crate::events::{
    EllipseReport, Event, LocalizationMethod, LocalizationReport, SignalIdentity, SignalReport, SignalState,
    Timestamp,
};
use crate::history::live::ReceiverMeasurement;
use sdrhub_dsp::geo::GeoPoint;
use sdrhub_dsp::locate::power::{locate_power, PathLossModel, PowerObservation};
use sdrhub_dsp::tracker::{TrackEvent, TrackEventKind, TrackSummary, Tracker, TrackerConfig};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What fusion needs to know about a receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverMeta {
    /// Wire id.
    pub id: Arc<str>,
    /// Antenna position, if known (needed for localization).
    pub position: Option<GeoPoint>,
    /// Whether its latest spectrum had GPS-disciplined time (needed for TDOA).
    pub gps_locked: bool,
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
    /// Localizations published by TDOA.
    pub tdoa_localizations: u64,
    /// Why the last TDOA attempt found no position (the power method was used, if it could).
    pub last_tdoa_failure: Option<String>,
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
    tdoa_requests: Vec<TdoaRequest>,
    names: TransmitterNames,
    emitter_fixes: EmitterFixes,
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
            tdoa_requests: Vec::new(),
            names: TransmitterNames::default(),
            emitter_fixes: EmitterFixes::default(),
        }
    }

    /// Names signals after the configured transmitters whose spans hold them (the simulated
    /// scene's); known signals' names win later, where reports are labelled.
    pub fn set_names(&mut self, names: TransmitterNames) {
        self.names = names;
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
        if let Some(meta) = self.receivers.get_mut(spectrum.receiver) {
            meta.gps_locked = spectrum.gps_locked;
        }
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

    /// Every confirmed signal receiver `receiver` measured at `time_ns` (the spectrum just
    /// ingested): its live id and first-seen time, the receiver's latest power and SNR. The
    /// history database summarises these per receiver.
    pub fn measurements(&self, receiver: usize, time_ns: i64, out: &mut Vec<ReceiverMeasurement>) {
        for track in self.tracker.tracks() {
            let Some(id) = track.id() else { continue };
            let Some(summary_first_seen) = track.summary().map(|s| s.first_seen_ns) else {
                continue;
            };
            for observation in track.observations() {
                if observation.receiver != receiver || observation.last_seen_ns != time_ns {
                    continue;
                }
                let Some(power_dbfs) = observation.latest_power_db() else {
                    continue;
                };
                out.push(ReceiverMeasurement {
                    signal_id: signal_id(id),
                    first_seen_ns: summary_first_seen,
                    receiver: self
                        .receivers
                        .get(receiver)
                        .map_or_else(|| format!("rx{receiver}").into(), |r| r.id.clone()),
                    time_ns,
                    power_dbfs,
                    snr_db: observation.snr_db,
                });
            }
        }
    }

    /// An `update` report of every confirmed signal as it stands now (what the tracker would
    /// report if each had changed): for when what decorates reports changed (known signals were
    /// named), not the signals.
    pub fn current_reports(&self, out: &mut Vec<Event>) {
        for track in self.tracker.tracks() {
            if track.id().is_none() {
                continue;
            }
            if let Some(summary) = track.summary() {
                out.push(Event::SignalsDetected(signal_report(
                    &self.receivers,
                    &self.names,
                    &summary,
                    SignalState::Update,
                )));
            }
        }
    }

    /// Expires signals no receiver has seen recently; call periodically with the current time.
    pub fn tick(&mut self, now_ns: i64, out: &mut Vec<Event>) {
        self.track_events.clear();
        self.tracker.expire(now_ns, &mut self.track_events);
        self.publish_track_events(out);
        if !self.emitter_fixes.is_empty() {
            let remembered: HashSet<u64> = self.tracker.emitters().emitters().iter().map(|e| e.id).collect();
            self.emitter_fixes.retain(&remembered);
        }
    }

    /// Checks a new fix of track `id` against its emitter's earlier fix (see
    /// [`super::emitter_fixes`]): a contradiction gives the track an emitter of its own, and an
    /// `update` report says so at once. Then the fix is the emitter's latest.
    fn check_emitter_position(
        &mut self,
        id: u64,
        latitude: f64,
        longitude: f64,
        uncertainty_m: f64,
        out: &mut Vec<Event>,
    ) {
        let position = GeoPoint::new(latitude, longitude);
        let Some(summary) = self.tracker.track(id).and_then(|t| t.summary()) else {
            return;
        };
        let mut emitter = summary.emitter_id;
        if self
            .emitter_fixes
            .contradicts(emitter, id, position, uncertainty_m)
        {
            // Another remembered emitter on this frequency that was located here, if any (the
            // nearest by position); else a new one.
            let mut candidates = Vec::new();
            let now_ns = summary.last_seen_ns;
            self.tracker.emitter_candidates(id, now_ns, &mut candidates);
            let here = candidates
                .iter()
                .filter_map(|&e| {
                    self.emitter_fixes
                        .gated_distance(e, position, uncertainty_m)
                        .filter(|&d| d <= 1.0)
                        .map(|d| (e, d))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(e, _)| e);
            if let Some(fresh) = self.tracker.detach_emitter(id, here) {
                tracing::info!(
                    signal = id,
                    old = emitter,
                    new = fresh,
                    "located elsewhere: a different emitter"
                );
                emitter = fresh;
                if let Some(summary) = self.tracker.track(id).and_then(|t| t.summary()) {
                    out.push(Event::SignalsDetected(signal_report(
                        &self.receivers,
                        &self.names,
                        &summary,
                        SignalState::Update,
                    )));
                }
            }
        }
        self.emitter_fixes.record(emitter, id, position, uncertainty_m);
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
                &self.names,
                &event.summary,
                state,
            )));
        }
    }

    /// Locates every confirmed signal that enough receivers have measured well enough and that
    /// was not located within the last `interval_s`: by TDOA (a request for the worker, see
    /// [`Fusion::take_tdoa_requests`]) when at least 3 receivers with GPS-disciplined time and a
    /// known position hear it, else by power right away.
    fn locate_due(&mut self, now_ns: i64, out: &mut Vec<Event>) {
        let interval_ns = (self.localization.interval_s * 1e9) as i64;
        let mut requests = Vec::new();
        let mut power_fixes = Vec::new();
        for track in self.tracker.tracks() {
            let Some(id) = track.id() else { continue };
            if self
                .last_located
                .get(&id)
                .is_some_and(|t| now_ns - t < interval_ns)
            {
                continue;
            }
            let Some(summary) = track.summary() else { continue };
            let mut power = PowerInputs::default();
            let mut timed = Vec::new();
            for obs in track.observations() {
                let Some(meta) = self.receivers.get(obs.receiver) else {
                    continue;
                };
                let Some(position) = meta.position else { continue };
                if meta.gps_locked && now_ns - obs.last_seen_ns <= TDOA_MAX_AGE_NS {
                    timed.push(TdoaCandidate {
                        receiver: obs.receiver,
                        id: meta.id.to_string(),
                        position,
                        snr_db: obs.snr_db,
                        last_seen_ns: obs.last_seen_ns,
                    });
                }
                if obs.power_count() < self.localization.min_power_samples {
                    continue;
                }
                if let Some((power_db, sigma_db)) = obs.mean_power_db() {
                    power.observations.push(PowerObservation {
                        position,
                        power_db,
                        // The average's own error is the small part: the model's is what
                        // makes a power fix coarse.
                        sigma_db: sigma_db.hypot(self.localization.power_model_sigma_db),
                    });
                    power.used.push(obs.receiver);
                }
            }
            // The receivers that heard the same transmission: within a burst's length of the
            // latest detection (an older one is a previous transmission).
            let newest = timed.iter().map(|c| c.last_seen_ns).max().unwrap_or(now_ns);
            timed.retain(|c| newest - c.last_seen_ns <= TDOA_SAME_TRANSMISSION_NS);
            let tdoa = self.localization.tdoa && timed.len() >= TDOA_MIN_RECEIVERS;
            if !tdoa && power.observations.len() < self.localization.min_receivers {
                continue;
            }
            self.last_located.insert(id, now_ns);
            if tdoa {
                // The window starts where every receiver's latest detection of it begins.
                let start_ns = timed.iter().map(|c| c.last_seen_ns).min().unwrap_or(now_ns);
                requests.push(TdoaRequest {
                    signal: id,
                    frequency_hz: summary.frequency_hz,
                    bandwidth_hz: summary.bandwidth_hz,
                    start_ns,
                    requested_ns: now_ns,
                    receivers: timed,
                    power: (power.observations.len() >= self.localization.min_receivers).then_some(power),
                });
            } else {
                power_fixes.push((id, summary.frequency_hz, power, None));
            }
        }
        self.tdoa_requests.extend(requests);
        for (id, frequency_hz, power, tdoa_failure) in power_fixes {
            self.locate_by_power(id, frequency_hz, &power, tdoa_failure, now_ns, out);
        }
    }

    /// TDOA work created by the last calls to [`Fusion::ingest`]: run each with
    /// [`super::tdoa::solve`] on the receivers' snippets and hand the outcome to
    /// [`Fusion::complete_tdoa`].
    pub fn take_tdoa_requests(&mut self) -> Vec<TdoaRequest> {
        std::mem::take(&mut self.tdoa_requests)
    }

    /// Publishes the outcome of a TDOA request: the TDOA fix, or (when TDOA found none) the
    /// power fix, saying why TDOA was not used.
    pub fn complete_tdoa(
        &mut self,
        request: TdoaRequest,
        outcome: Result<TdoaSolution, TdoaError>,
        out: &mut Vec<Event>,
    ) {
        let now_ns = request.requested_ns;
        match outcome {
            Ok(solution) => {
                self.stats.localizations += 1;
                self.stats.tdoa_localizations += 1;
                let report = solution.report(
                    signal_id(request.signal),
                    request.frequency_hz,
                    Vec::new(),
                    Timestamp(now_ns),
                );
                let (lat, lon, uncertainty_m) = (report.latitude, report.longitude, report.uncertainty_m);
                out.push(Event::LocalizationsUpdated(report));
                self.check_emitter_position(request.signal, lat, lon, uncertainty_m, out);
            }
            Err(reason) => {
                tracing::debug!(signal = request.signal, %reason, "no TDOA position");
                self.stats.last_tdoa_failure = Some(reason.to_string());
                match &request.power {
                    Some(power) => self.locate_by_power(
                        request.signal,
                        request.frequency_hz,
                        power,
                        Some(&reason),
                        now_ns,
                        out,
                    ),
                    None => {
                        self.stats.failed_localizations += 1;
                        self.stats.last_failure = Some(format!("TDOA: {reason}"));
                    }
                }
            }
        }
    }

    fn locate_by_power(
        &mut self,
        id: u64,
        frequency_hz: f64,
        power: &PowerInputs,
        tdoa_failure: Option<&TdoaError>,
        now_ns: i64,
        out: &mut Vec<Event>,
    ) {
        match locate_power(&power.observations, &self.model) {
            Ok(fix) => {
                self.stats.localizations += 1;
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
                    receivers: power
                        .used
                        .iter()
                        .map(|&i| self.receivers[i].id.to_string())
                        .collect(),
                    excluded: Vec::new(),
                    gdop: fix.gdop,
                    note: tdoa_failure.map(|reason| format!("TDOA not used: {reason}")),
                    frequency_hz,
                    timestamp: Timestamp(now_ns),
                }));
                let p = fix.position;
                self.check_emitter_position(id, p.lat_deg, p.lon_deg, fix.uncertainty_m, out);
            }
            Err(error) => {
                tracing::debug!(signal = id, %error, "signal not located");
                self.stats.failed_localizations += 1;
                self.stats.last_failure = Some(error.to_string());
            }
        }
    }
}

/// Receivers a TDOA fix needs: two delays against a reference fix a 2-D position.
pub const TDOA_MIN_RECEIVERS: usize = 3;
/// A receiver whose latest detection of a signal is older than this is not asked for a TDOA
/// snippet of it: the signal may have ended there.
const TDOA_MAX_AGE_NS: i64 = 2_000_000_000;

/// Detections of a signal at different receivers this close in time belong to the same
/// transmission (propagation across a continent takes under 20 ms; spectra last up to 0.35 s).
const TDOA_SAME_TRANSMISSION_NS: i64 = 400_000_000;

/// Power measurements for a fix.
#[derive(Debug, Clone, Default)]
pub struct PowerInputs {
    observations: Vec<PowerObservation>,
    used: Vec<usize>,
}

/// A receiver that can take part in a TDOA fix of a signal.
#[derive(Debug, Clone, PartialEq)]
pub struct TdoaCandidate {
    /// Receiver index.
    pub receiver: usize,
    /// Wire id.
    pub id: String,
    /// Position.
    pub position: GeoPoint,
    /// Its per-bin SNR of the signal, dB.
    pub snr_db: f64,
    /// Start of its latest spectrum with the signal, ns.
    pub last_seen_ns: i64,
}

/// A signal to locate by TDOA.
#[derive(Debug, Clone)]
pub struct TdoaRequest {
    /// Track id.
    pub signal: u64,
    /// Centre frequency, Hz.
    pub frequency_hz: f64,
    /// Occupied bandwidth, Hz.
    pub bandwidth_hz: f64,
    /// Where the snippets start, ns since the epoch.
    pub start_ns: i64,
    /// When the localization was decided (its timestamp).
    pub requested_ns: i64,
    /// GPS-timed receivers that hear it.
    pub receivers: Vec<TdoaCandidate>,
    /// The power fallback, when enough receivers measured the power.
    pub power: Option<PowerInputs>,
}

/// The wire id of track `id`.
pub fn signal_id(id: u64) -> String {
    format!("sig-{id}")
}

/// The wire id of emitter `id`.
pub fn emitter_id(id: u64) -> String {
    format!("em-{id}")
}

fn signal_report(
    receivers: &[ReceiverMeta],
    names: &TransmitterNames,
    s: &TrackSummary,
    state: SignalState,
) -> SignalReport {
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
        // Decorated on the way out when a history database is open (crate::history::live).
        known: None,
        novel: false,
        identity: Box::new(SignalIdentity {
            emitter_id: emitter_id(s.emitter_id),
            activations: s.activations,
            first_heard: Some(Timestamp(s.emitter_first_heard_ns)),
            last_heard: Some(Timestamp(s.last_seen_ns)),
            duty_cycle: s.duty_cycle,
            // Known signals' names replace this where reports are labelled.
            name: names.name_for(s.frequency_hz).map(str::to_owned),
        }),
    }
}
