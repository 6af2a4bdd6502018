//! A validated scene: receivers and transmitters placed on the map, with the ground truth every
//! test of detection or localization compares against.

use super::config::{SceneConfig, ScheduleConfig, SignalKind};
use super::error::SceneError;
use super::generator::ReceiverGenerator;
use super::path::PathRenderer;
use super::signal::Waveform;
use super::source::SimulatedBuilder;
use crate::source::{ReceiverInfo, SourceBuilder, SourceKind};
use sdrhub_dsp::geo::{GeoPoint, LocalFrame, SPEED_OF_LIGHT_M_S};
use std::sync::Arc;

/// A receiver of the scene, with its position resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReceiver {
    /// Id (`rx1`... when auto-placed).
    pub id: Arc<str>,
    /// Human-readable name.
    pub name: String,
    /// Antenna position.
    pub position: GeoPoint,
    /// Tuning error, Hz.
    pub frequency_offset_hz: f64,
    /// Whether its blocks claim GPS-disciplined time.
    pub gps_locked: bool,
}

/// A transmitter of the scene.
#[derive(Debug, Clone, PartialEq)]
pub struct SimTransmitter {
    /// Id.
    pub id: Arc<str>,
    /// Human-readable name.
    pub name: String,
    /// Antenna position.
    pub position: GeoPoint,
    /// Carrier frequency, Hz.
    pub frequency_hz: f64,
    /// Occupied bandwidth, Hz (0 for a carrier).
    pub bandwidth_hz: f64,
    /// Transmitted power, dBm.
    pub power_dbm: f64,
    /// Modulation.
    pub kind: SignalKind,
    /// On/off schedule (`None`: always on).
    pub schedule: Option<ScheduleConfig>,
    pub(crate) waveform: Arc<Waveform>,
}

impl SimTransmitter {
    /// The tones of an FM transmitter's voice-like message, strongest first: (frequency Hz,
    /// share of the peak deviation). What a listener should hear; empty for other kinds.
    pub fn message_tones(&self) -> Vec<(f64, f64)> {
        self.waveform.modulation.fm_tones()
    }
}

#[derive(Debug)]
struct Model {
    config: SceneConfig,
    frame: LocalFrame,
    receivers: Vec<SimReceiver>,
    transmitters: Vec<SimTransmitter>,
    /// Total (I + Q) noise variance, full scale = 1.
    noise_variance: f64,
}

/// The simulated scene. Cheap to clone (shared, immutable).
///
/// Times called `scene_time_s` are seconds since the scene epoch: the instant, shared by all
/// receivers, that sample 0 of every receiver is taken at (see [`Scene::generator`]).
#[derive(Debug, Clone)]
pub struct Scene {
    model: Arc<Model>,
}

impl Scene {
    /// Validates `config` and places everything.
    pub fn new(config: SceneConfig) -> Result<Self, SceneError> {
        config.validate().map_err(SceneError::Invalid)?;
        let frame = LocalFrame::new(GeoPoint::new(config.center_latitude, config.center_longitude));
        let receivers = config
            .resolved_receivers()
            .into_iter()
            .map(|r| SimReceiver {
                name: if r.name.is_empty() { r.id.clone() } else { r.name },
                id: Arc::from(r.id),
                position: GeoPoint::new(r.latitude, r.longitude),
                frequency_offset_hz: r.frequency_offset_hz,
                gps_locked: r.gps_locked,
            })
            .collect();
        let transmitters = config
            .transmitters
            .iter()
            .enumerate()
            .map(|(index, t)| SimTransmitter {
                id: Arc::from(t.id.as_str()),
                name: if t.name.is_empty() {
                    t.id.clone()
                } else {
                    t.name.clone()
                },
                position: GeoPoint::new(t.latitude, t.longitude),
                frequency_hz: t.frequency_hz,
                bandwidth_hz: if t.kind == SignalKind::Cw {
                    0.0
                } else {
                    t.bandwidth_hz
                },
                power_dbm: t.power_dbm,
                kind: t.kind,
                schedule: t.schedule,
                waveform: Arc::new(Waveform::new(t, index, config.seed)),
            })
            .collect();
        let noise_dbfs =
            config.noise_floor_dbm_hz + 10.0 * config.sample_rate_hz.log10() - config.full_scale_dbm;
        let noise_variance = 10f64.powf(noise_dbfs / 10.0);
        Ok(Self {
            model: Arc::new(Model {
                config,
                frame,
                receivers,
                transmitters,
                noise_variance,
            }),
        })
    }

    /// The configuration the scene was built from.
    pub fn config(&self) -> &SceneConfig {
        &self.model.config
    }

    /// The local East-North plane around the scene centre.
    pub fn frame(&self) -> &LocalFrame {
        &self.model.frame
    }

    /// The receivers, in configuration (or ring) order.
    pub fn receivers(&self) -> &[SimReceiver] {
        &self.model.receivers
    }

    /// The transmitters, in configuration order.
    pub fn transmitters(&self) -> &[SimTransmitter] {
        &self.model.transmitters
    }

    /// Index of the receiver with id `id`.
    pub fn receiver_index(&self, id: &str) -> Option<usize> {
        self.model.receivers.iter().position(|r| &*r.id == id)
    }

    /// Static description of receiver `rx`, as its source reports it.
    ///
    /// # Panics
    /// If `rx` is out of range.
    pub fn receiver_info(&self, rx: usize) -> ReceiverInfo {
        let r = &self.model.receivers[rx];
        ReceiverInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            kind: SourceKind::Simulated,
            position: Some(r.position),
            center_hz: self.model.config.center_frequency_hz,
            sample_rate_hz: self.model.config.sample_rate_hz,
        }
    }

    /// Straight-line distance from transmitter `tx` to receiver `rx`, m.
    ///
    /// # Panics
    /// If an index is out of range (also for every other per-(tx, rx) accessor).
    pub fn distance_m(&self, tx: usize, rx: usize) -> f64 {
        self.model.transmitters[tx]
            .position
            .distance_m(self.model.receivers[rx].position)
    }

    /// True propagation delay from `tx` to `rx`, s.
    pub fn delay_s(&self, tx: usize, rx: usize) -> f64 {
        self.distance_m(tx, rx) / SPEED_OF_LIGHT_M_S
    }

    /// Path loss from `tx` to `rx` under the scene's model, dB.
    pub fn path_loss_db(&self, tx: usize, rx: usize) -> f64 {
        let t = &self.model.transmitters[tx];
        self.model
            .config
            .path_loss
            .loss_db(self.distance_m(tx, rx), t.frequency_hz)
    }

    /// Power of `tx` at `rx` while it is on, dBFS (0 dBFS = a complex tone of amplitude 1).
    pub fn received_dbfs(&self, tx: usize, rx: usize) -> f64 {
        self.model.transmitters[tx].power_dbm - self.path_loss_db(tx, rx) - self.model.config.full_scale_dbm
    }

    /// Where `tx` appears in `rx`'s baseband, Hz (carrier - centre + the receiver's tuning error).
    pub fn baseband_offset_hz(&self, tx: usize, rx: usize) -> f64 {
        self.model.transmitters[tx].frequency_hz - self.model.config.center_frequency_hz
            + self.model.receivers[rx].frequency_offset_hz
    }

    /// Total noise power (I + Q variance) of every receiver, full scale = 1.
    pub fn noise_variance(&self) -> f64 {
        self.model.noise_variance
    }

    /// Total noise power of every receiver, dBFS.
    pub fn noise_dbfs(&self) -> f64 {
        10.0 * self.model.noise_variance.log10()
    }

    /// Noise power one bin of an `fft_size`-point spectrum reads, dBFS, in the scaling of
    /// `sdrhub_dsp::spectrum::Welch` (a tone of amplitude A on a bin centre reads A^2), for a
    /// window of equivalent noise bandwidth `enbw_bins` (1 for rectangular, about 2.0 for
    /// Blackman-Harris).
    pub fn noise_dbfs_per_bin(&self, fft_size: usize, enbw_bins: f64) -> f64 {
        10.0 * (self.model.noise_variance * enbw_bins / fft_size as f64).log10()
    }

    /// Whether `tx` is radiating at `scene_time_s` (at the transmitter; see
    /// [`Scene::is_on_at_receiver`] for what a receiver sees).
    pub fn is_on(&self, tx: usize, scene_time_s: f64) -> bool {
        self.model.transmitters[tx].waveform.gate.is_on(scene_time_s)
    }

    /// Whether `rx` receives `tx` at `scene_time_s`: the gate delayed by the propagation time.
    pub fn is_on_at_receiver(&self, tx: usize, rx: usize, scene_time_s: f64) -> bool {
        self.is_on(tx, scene_time_s - self.delay_s(tx, rx))
    }

    /// Seconds from `epoch_ns` to `time_ns` (both ns since the Unix epoch).
    pub fn scene_time_s(epoch_ns: i64, time_ns: i64) -> f64 {
        (time_ns - epoch_ns) as f64 * 1e-9
    }

    /// An unpaced generator of receiver `rx`'s samples, positioned at sample 0, which is taken
    /// at `epoch_ns` (ns since the Unix epoch). Every receiver of a scene must share the epoch
    /// for their samples to be mutually consistent.
    ///
    /// # Panics
    /// If `rx` is out of range.
    pub fn generator(&self, rx: usize, epoch_ns: i64) -> ReceiverGenerator {
        let m = &self.model;
        let receiver = &m.receivers[rx];
        let fs = m.config.sample_rate_hz;
        let paths = (0..m.transmitters.len())
            .map(|tx| {
                let t = &m.transmitters[tx];
                PathRenderer::new(
                    t.waveform.clone(),
                    fs,
                    10f64.powf(self.received_dbfs(tx, rx) / 20.0),
                    self.delay_s(tx, rx),
                    self.baseband_offset_hz(tx, rx),
                    t.frequency_hz,
                )
            })
            .collect();
        ReceiverGenerator::new(
            self.receiver_info(rx),
            receiver.gps_locked,
            epoch_ns,
            m.config.seed,
            rx,
            m.noise_variance,
            paths,
        )
    }

    /// A paced source builder for receiver `rx`, with the scene epoch at `epoch_ns`.
    ///
    /// # Panics
    /// If `rx` is out of range.
    pub fn builder(&self, rx: usize, epoch_ns: i64) -> SimulatedBuilder {
        assert!(rx < self.model.receivers.len(), "receiver {rx} out of range");
        SimulatedBuilder::new(self.clone(), rx, epoch_ns)
    }

    /// Paced source builders for every receiver, sharing the scene epoch `epoch_ns` (usually
    /// the current time, [`crate::acquisition::now_ns`]).
    pub fn builders(&self, epoch_ns: i64) -> Vec<Box<dyn SourceBuilder>> {
        (0..self.model.receivers.len())
            .map(|rx| Box::new(self.builder(rx, epoch_ns)) as Box<dyn SourceBuilder>)
            .collect()
    }
}
