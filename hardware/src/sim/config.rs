//! The scene's configuration (`[simulation]`): where receivers and transmitters are, what the
//! transmitters send, and how the radio channel behaves. `Default` is the embedded default scene.

use super::error::ConfigProblem;
use super::path_loss::PathLossConfig;
use sdrhub_dsp::geo::{GeoPoint, LocalFrame};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Prefix of every key named in validation messages: the scene lives at `[simulation]` in the
/// gateway's config.
const KEY: &str = "simulation";

/// Largest `block_samples`: a block is allocated per receiver and handed through queues, so its
/// size bounds memory (4 Mi samples = 32 MiB per block).
pub const MAX_BLOCK_SAMPLES: usize = 1 << 22;

/// Most receivers a scene may hold: each one costs an acquisition thread and real-time CPU.
pub const MAX_RECEIVERS: usize = 64;

/// Shortest schedule period, s: each on-window is handled separately per block, so a period
/// far below a block's duration would cost CPU for no visible effect.
pub const MIN_SCHEDULE_PERIOD_S: f64 = 0.001;

/// Narrowest FM channel, Hz: the voice-like message needs a few hundred Hz of audio and as much
/// deviation to look like FM.
pub const MIN_FM_BANDWIDTH_HZ: f64 = 1000.0;

/// The simulated scene (`[simulation]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SceneConfig {
    /// Whether the gateway runs the scene at all. Unset: yes when no hardware or remote
    /// receivers (`[[receivers]]`) are configured, so real and simulated receivers never mix
    /// by accident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Seed of everything random: noise, FM voice tones, burst data. Same seed, same samples.
    pub seed: u64,
    /// Nominal centre frequency every receiver is tuned to, Hz.
    pub center_frequency_hz: f64,
    /// Complex sample rate of every receiver, Hz (the receiver band is centre +- rate / 2).
    pub sample_rate_hz: f64,
    /// Samples per block a paced source releases.
    pub block_samples: usize,
    /// Receiver noise density referred to the antenna, dBm/Hz (-174 is thermal noise at 290 K).
    pub noise_floor_dbm_hz: f64,
    /// Input power that reads 0 dBFS: a complex tone of amplitude 1.0.
    pub full_scale_dbm: f64,
    /// Propagation model.
    pub path_loss: PathLossConfig,
    /// Latitude of the scene centre, degrees (auto-placed receivers ring it).
    pub center_latitude: f64,
    /// Longitude of the scene centre, degrees.
    pub center_longitude: f64,
    /// Receivers placed automatically when `receivers` is empty.
    pub receiver_count: usize,
    /// Radius of the ring auto-placed receivers sit on, m.
    pub receiver_radius_m: f64,
    /// Explicit receivers; when empty, `receiver_count` receivers ring the centre.
    pub receivers: Vec<SimReceiverConfig>,
    /// Transmitters.
    pub transmitters: Vec<TransmitterConfig>,
}

/// One explicitly placed receiver (`[[simulation.receivers]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimReceiverConfig {
    /// Stable id, unique among receivers.
    pub id: String,
    /// Human-readable name; empty means the id.
    #[serde(default)]
    pub name: String,
    /// Latitude, degrees.
    pub latitude: f64,
    /// Longitude, degrees.
    pub longitude: f64,
    /// Tuning error of this receiver, Hz: every signal appears this much higher in its baseband.
    #[serde(default)]
    pub frequency_offset_hz: f64,
    /// Whether its blocks claim GPS-disciplined timestamps.
    #[serde(default = "yes")]
    pub gps_locked: bool,
}

/// What a transmitter sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    /// An unmodulated carrier.
    #[default]
    Cw,
    /// Constant-envelope FM with a voice-like message; Carson bandwidth = `bandwidth_hz`.
    Fm,
    /// Continuous-phase MSK data; main-lobe width (1.5 x symbol rate) = `bandwidth_hz`.
    Bursts,
}

/// When a transmitter is on: `on_s` seconds of every `period_s`, starting `offset_s` after the
/// scene epoch (and periodically before it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Repetition period, s.
    pub period_s: f64,
    /// On time per period, s (`on_s >= period_s` means always on).
    pub on_s: f64,
    /// Start of the first on-time after the epoch, s.
    #[serde(default)]
    pub offset_s: f64,
}

/// One transmitter (`[[simulation.transmitters]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransmitterConfig {
    /// Stable id, unique among transmitters.
    pub id: String,
    /// Human-readable name; empty means the id.
    #[serde(default)]
    pub name: String,
    /// Latitude, degrees.
    pub latitude: f64,
    /// Longitude, degrees.
    pub longitude: f64,
    /// Carrier frequency, Hz.
    pub frequency_hz: f64,
    /// Occupied bandwidth, Hz (ignored for `cw`).
    #[serde(default = "default_bandwidth_hz")]
    pub bandwidth_hz: f64,
    /// Transmitted power (EIRP), dBm.
    #[serde(default = "default_power_dbm")]
    pub power_dbm: f64,
    /// Modulation.
    #[serde(default)]
    pub kind: SignalKind,
    /// On/off schedule; absent means always on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
}

fn yes() -> bool {
    true
}

fn default_bandwidth_hz() -> f64 {
    12_500.0
}

fn default_power_dbm() -> f64 {
    30.0
}

/// Paris: the default scene's centre.
const DEFAULT_CENTER: (f64, f64) = (48.8566, 2.3522);

impl Default for SceneConfig {
    /// Five receivers on a 15 km ring around Paris listening at 145 MHz +- 512 kHz, and inside
    /// the ring an always-on interfering carrier, a repeater user talking 20 s of every 30 s, and
    /// 0.3 s data bursts every 2 s. Every signal is at least 25 dB over the noise per bin of a
    /// 4096-point Blackman-Harris FFT at every receiver (see `default_scene_is_visible_...`).
    fn default() -> Self {
        let frame = LocalFrame::new(GeoPoint::new(DEFAULT_CENTER.0, DEFAULT_CENTER.1));
        // Positions are given as bearing and distance from the centre, rounded to 1e-6 degree
        // (0.1 m) so a dumped config reads cleanly.
        let at = |bearing_deg: f64, distance_m: f64| {
            let p = frame.offset(bearing_deg, distance_m);
            ((p.lat_deg * 1e6).round() / 1e6, (p.lon_deg * 1e6).round() / 1e6)
        };
        let (cw_lat, cw_lon) = at(40.0, 6_000.0);
        let (fm_lat, fm_lon) = at(200.0, 9_000.0);
        let (burst_lat, burst_lon) = at(300.0, 4_000.0);
        Self {
            enabled: None,
            seed: 1,
            center_frequency_hz: 145.0e6,
            sample_rate_hz: 1.024e6,
            block_samples: 16_384,
            noise_floor_dbm_hz: -160.0,
            full_scale_dbm: -40.0,
            path_loss: PathLossConfig::default(),
            center_latitude: DEFAULT_CENTER.0,
            center_longitude: DEFAULT_CENTER.1,
            receiver_count: 5,
            receiver_radius_m: 15_000.0,
            receivers: Vec::new(),
            transmitters: vec![
                TransmitterConfig {
                    id: "tx-carrier".into(),
                    name: "Interfering carrier".into(),
                    latitude: cw_lat,
                    longitude: cw_lon,
                    frequency_hz: 145.1125e6,
                    bandwidth_hz: 0.0,
                    power_dbm: 20.0,
                    kind: SignalKind::Cw,
                    schedule: None,
                },
                TransmitterConfig {
                    id: "tx-voice".into(),
                    name: "FM voice (repeater user)".into(),
                    latitude: fm_lat,
                    longitude: fm_lon,
                    frequency_hz: 145.35e6,
                    bandwidth_hz: 12_500.0,
                    power_dbm: 37.0,
                    kind: SignalKind::Fm,
                    schedule: Some(ScheduleConfig {
                        period_s: 30.0,
                        on_s: 20.0,
                        offset_s: 0.0,
                    }),
                },
                TransmitterConfig {
                    id: "tx-data".into(),
                    name: "Data bursts".into(),
                    latitude: burst_lat,
                    longitude: burst_lon,
                    frequency_hz: 144.8e6,
                    bandwidth_hz: 10_000.0,
                    power_dbm: 30.0,
                    kind: SignalKind::Bursts,
                    schedule: Some(ScheduleConfig {
                        period_s: 2.0,
                        on_s: 0.3,
                        offset_s: 1.0,
                    }),
                },
            ],
        }
    }
}

/// Names of the eight compass points, clockwise from North.
const COMPASS: [&str; 8] = [
    "North",
    "Northeast",
    "East",
    "Southeast",
    "South",
    "Southwest",
    "West",
    "Northwest",
];

impl SceneConfig {
    /// The receivers the scene will have: `receivers` when given, else `receiver_count` placed
    /// evenly on a ring of `receiver_radius_m` around the centre, starting due North (ids `rx1`
    /// ... `rxN`, named after their compass direction when those are distinct).
    pub fn resolved_receivers(&self) -> Vec<SimReceiverConfig> {
        if !self.receivers.is_empty() {
            return self.receivers.clone();
        }
        let count = self.receiver_count;
        let frame = LocalFrame::new(GeoPoint::new(self.center_latitude, self.center_longitude));
        let bearings: Vec<f64> = (0..count).map(|i| i as f64 * 360.0 / count as f64).collect();
        let compass: Vec<&str> = bearings
            .iter()
            .map(|b| COMPASS[((b / 45.0).round() as usize) % COMPASS.len()])
            .collect();
        let distinct = compass.iter().collect::<HashSet<_>>().len() == count;
        bearings
            .iter()
            .enumerate()
            .map(|(i, &bearing)| {
                let p = frame.offset(bearing, self.receiver_radius_m);
                SimReceiverConfig {
                    id: format!("rx{}", i + 1),
                    name: if distinct {
                        format!("Sim {}", compass[i])
                    } else {
                        format!("Simulated rx{}", i + 1)
                    },
                    latitude: p.lat_deg,
                    longitude: p.lon_deg,
                    frequency_offset_hz: 0.0,
                    gps_locked: true,
                }
            })
            .collect()
    }

    /// Checks every value; each problem names its key (`simulation.sample_rate_hz must be > 0`).
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: String, message: String| {
            if !ok {
                problems.push(ConfigProblem::new(key, message));
            }
        };
        let positive = |x: f64| x.is_finite() && x > 0.0;
        check(
            positive(self.center_frequency_hz),
            format!("{KEY}.center_frequency_hz"),
            format!("must be > 0 (got {})", self.center_frequency_hz),
        );
        check(
            positive(self.sample_rate_hz),
            format!("{KEY}.sample_rate_hz"),
            format!("must be > 0 (got {})", self.sample_rate_hz),
        );
        check(
            (1..=MAX_BLOCK_SAMPLES).contains(&self.block_samples),
            format!("{KEY}.block_samples"),
            format!("must be in 1..={MAX_BLOCK_SAMPLES} (got {})", self.block_samples),
        );
        check(
            self.noise_floor_dbm_hz.is_finite(),
            format!("{KEY}.noise_floor_dbm_hz"),
            "must be a finite number".into(),
        );
        check(
            self.full_scale_dbm.is_finite(),
            format!("{KEY}.full_scale_dbm"),
            "must be a finite number".into(),
        );
        if let PathLossConfig::LogDistance {
            exponent,
            ref_distance_m,
        } = self.path_loss
        {
            check(
                positive(exponent),
                format!("{KEY}.path_loss.exponent"),
                format!("must be > 0 (got {exponent})"),
            );
            check(
                positive(ref_distance_m),
                format!("{KEY}.path_loss.ref_distance_m"),
                format!("must be > 0 (got {ref_distance_m})"),
            );
        }
        check(
            GeoPoint::new(self.center_latitude, self.center_longitude).is_valid(),
            format!("{KEY}.center_latitude"),
            format!(
                "/ center_longitude must be in -90..=90 / -180..=180 (got {}, {})",
                self.center_latitude, self.center_longitude
            ),
        );
        if self.receivers.is_empty() {
            check(
                (1..=MAX_RECEIVERS).contains(&self.receiver_count),
                format!("{KEY}.receiver_count"),
                format!(
                    "must be in 1..={MAX_RECEIVERS} when {KEY}.receivers is empty (got {})",
                    self.receiver_count
                ),
            );
            check(
                positive(self.receiver_radius_m),
                format!("{KEY}.receiver_radius_m"),
                format!("must be > 0 (got {})", self.receiver_radius_m),
            );
        } else {
            check(
                self.receivers.len() <= MAX_RECEIVERS,
                format!("{KEY}.receivers"),
                format!(
                    "must hold at most {MAX_RECEIVERS} receivers (got {})",
                    self.receivers.len()
                ),
            );
        }
        let half_band = self.sample_rate_hz / 2.0;
        let mut receivers = Placed::new("receiver");
        for (i, rx) in self.receivers.iter().enumerate() {
            let key = format!("{KEY}.receivers[{i}]");
            receivers.check(&mut check, &key, &rx.id, rx.latitude, rx.longitude);
            check(
                rx.frequency_offset_hz.is_finite() && rx.frequency_offset_hz.abs() < half_band,
                format!("{key}.frequency_offset_hz"),
                format!(
                    "must be within +-sample_rate_hz/2 = {half_band} (got {})",
                    rx.frequency_offset_hz
                ),
            );
        }
        // Every receiver must see every transmitter whole, whatever its tuning error.
        let (min_offset, max_offset) = self
            .receivers
            .iter()
            .map(|r| r.frequency_offset_hz)
            .filter(|o| o.is_finite())
            .fold((0.0f64, 0.0f64), |(lo, hi), o| (lo.min(o), hi.max(o)));
        let mut transmitters = Placed::new("transmitter");
        for (i, tx) in self.transmitters.iter().enumerate() {
            let key = format!("{KEY}.transmitters[{i}]");
            transmitters.check(&mut check, &key, &tx.id, tx.latitude, tx.longitude);
            check(
                tx.power_dbm.is_finite(),
                format!("{key}.power_dbm"),
                format!("must be a finite number (got {})", tx.power_dbm),
            );
            let occupied = match tx.kind {
                SignalKind::Cw => 0.0,
                SignalKind::Fm | SignalKind::Bursts => {
                    check(
                        positive(tx.bandwidth_hz),
                        format!("{key}.bandwidth_hz"),
                        format!("must be > 0 for kind {:?} (got {})", tx.kind, tx.bandwidth_hz),
                    );
                    if tx.kind == SignalKind::Fm {
                        check(
                            tx.bandwidth_hz >= MIN_FM_BANDWIDTH_HZ,
                            format!("{key}.bandwidth_hz"),
                            format!(
                                "must be >= {MIN_FM_BANDWIDTH_HZ} for kind fm (got {})",
                                tx.bandwidth_hz
                            ),
                        );
                    }
                    tx.bandwidth_hz.max(0.0)
                }
            };
            let low = tx.frequency_hz - occupied / 2.0 - self.center_frequency_hz + min_offset;
            let high = tx.frequency_hz + occupied / 2.0 - self.center_frequency_hz + max_offset;
            check(
                tx.frequency_hz.is_finite() && low >= -half_band && high <= half_band,
                format!("{key}.frequency_hz"),
                format!(
                    "= {} Hz (occupying {occupied} Hz) is outside the receiver band {} Hz +- {half_band} Hz",
                    tx.frequency_hz, self.center_frequency_hz
                ),
            );
            if let Some(s) = tx.schedule {
                check(
                    s.period_s.is_finite() && s.period_s >= MIN_SCHEDULE_PERIOD_S,
                    format!("{key}.schedule.period_s"),
                    format!("must be >= {MIN_SCHEDULE_PERIOD_S} (got {})", s.period_s),
                );
                check(
                    positive(s.on_s),
                    format!("{key}.schedule.on_s"),
                    format!("must be > 0 (got {})", s.on_s),
                );
                check(
                    s.offset_s.is_finite(),
                    format!("{key}.schedule.offset_s"),
                    format!("must be a finite number (got {})", s.offset_s),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The receivers, or the transmitters, of the scene as validation meets them: the checks both
/// kinds share.
struct Placed<'a> {
    /// The kind, for messages.
    what: &'static str,
    /// The ids seen so far.
    ids: HashSet<&'a str>,
}

impl<'a> Placed<'a> {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            ids: HashSet::new(),
        }
    }

    /// `id` is not empty and not used by another of this kind, and the coordinates are valid;
    /// the problems go to `check` under `key`.
    fn check(
        &mut self,
        check: &mut impl FnMut(bool, String, String),
        key: &str,
        id: &'a str,
        latitude: f64,
        longitude: f64,
    ) {
        check(!id.is_empty(), format!("{key}.id"), "must not be empty".into());
        check(
            self.ids.insert(id),
            format!("{key}.id"),
            format!("duplicates {} id {id:?}", self.what),
        );
        check(
            GeoPoint::new(latitude, longitude).is_valid(),
            format!("{key}.latitude"),
            format!("/ longitude must be in -90..=90 / -180..=180 (got {latitude}, {longitude})"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(config: &SceneConfig) -> Vec<String> {
        config
            .validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn default_scene_is_valid() {
        assert_eq!(keys(&SceneConfig::default()), Vec::<String>::new());
    }

    #[test]
    fn validation_names_the_bad_key() {
        let mut config = SceneConfig {
            sample_rate_hz: 0.0,
            ..SceneConfig::default()
        };
        config.transmitters.clear();
        let problems = keys(&config);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("simulation.sample_rate_hz must be > 0")),
            "{problems:?}"
        );

        let config = SceneConfig {
            receiver_count: 0,
            ..SceneConfig::default()
        };
        assert!(keys(&config)
            .iter()
            .any(|p| p.starts_with("simulation.receiver_count must be in 1..=")));

        let mut config = SceneConfig::default();
        config.transmitters[1].frequency_hz = 146.0e6;
        let problems = keys(&config);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("simulation.transmitters[1].frequency_hz"),
            "{problems:?}"
        );
        assert!(problems[0].contains("outside the receiver band"), "{problems:?}");

        // A transmitter whose edge leaves the band only through a receiver's tuning error.
        let mut config = SceneConfig::default();
        config.transmitters[1].frequency_hz = 145.5e6; // top edge 145.50625 MHz of 145.512 MHz
        config.receivers = config.resolved_receivers();
        config.receivers[3].frequency_offset_hz = 10e3;
        assert!(keys(&config)[0].starts_with("simulation.transmitters[1].frequency_hz"));

        let mut config = SceneConfig::default();
        config.receivers = config.resolved_receivers();
        config.receivers[2].id = "rx1".into();
        config.transmitters[2].id = "tx-carrier".into();
        config.transmitters[0].schedule = Some(ScheduleConfig {
            period_s: 0.0,
            on_s: 1.0,
            offset_s: 0.0,
        });
        let problems = keys(&config);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("simulation.receivers[2].id duplicates")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("simulation.transmitters[2].id duplicates")),
            "{problems:?}"
        );
        assert!(problems
            .iter()
            .any(|p| p.starts_with("simulation.transmitters[0].schedule.period_s")));

        let config = SceneConfig {
            path_loss: PathLossConfig::LogDistance {
                exponent: -1.0,
                ref_distance_m: 100.0,
            },
            ..SceneConfig::default()
        };
        assert!(keys(&config)[0].starts_with("simulation.path_loss.exponent must be > 0"));
    }

    #[test]
    fn auto_placed_receivers_ring_the_centre_with_compass_names() {
        let config = SceneConfig::default();
        let receivers = config.resolved_receivers();
        let centre = GeoPoint::new(config.center_latitude, config.center_longitude);
        let ids: Vec<_> = receivers.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["rx1", "rx2", "rx3", "rx4", "rx5"]);
        assert_eq!(receivers[0].name, "Sim North");
        for r in &receivers {
            // Plane radius 15 km; the chord differs by centimetres. Tolerance 1 m.
            let d = centre.distance_m(GeoPoint::new(r.latitude, r.longitude));
            assert!((d - 15_000.0).abs() < 1.0, "{} at {d} m", r.id);
        }
        let twelve = SceneConfig {
            receiver_count: 12,
            ..SceneConfig::default()
        }
        .resolved_receivers();
        assert_eq!(twelve[11].name, "Simulated rx12");
    }

    #[test]
    fn config_round_trips_through_serde_and_rejects_unknown_keys() {
        let config = SceneConfig::default();
        let json = serde_json::to_string(&config).expect("serializes");
        let back: SceneConfig = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, config);

        let partial: SceneConfig =
            serde_json::from_str(r#"{"seed": 7, "path_loss": {"model": "free-space"}}"#).expect("parses");
        assert_eq!(partial.seed, 7);
        assert_eq!(partial.path_loss, PathLossConfig::FreeSpace);
        assert_eq!(partial.transmitters, config.transmitters);

        let tx: TransmitterConfig = serde_json::from_str(
            r#"{"id": "a", "latitude": 1, "longitude": 2, "frequency_hz": 1e8, "kind": "bursts"}"#,
        )
        .expect("parses");
        assert_eq!(
            (tx.kind, tx.bandwidth_hz, tx.schedule),
            (SignalKind::Bursts, 12_500.0, None)
        );

        assert!(serde_json::from_str::<SceneConfig>(r#"{"sead": 7}"#).is_err());
        assert!(
            serde_json::from_str::<SceneConfig>(r#"{"path_loss": {"model": "log-distance", "n": 3}}"#)
                .is_err()
        );
    }
}
