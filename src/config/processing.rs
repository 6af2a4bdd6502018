//! The signal processing sections: `[dsp]` (spectrum and detection), `[tracker]` and
//! `[localization]`.

use sdrhub_dsp::detect::DetectorConfig;
use sdrhub_dsp::spectrum::SpectrumConfig;
use sdrhub_dsp::tracker::TrackerConfig;
use sdrhub_dsp::window::WindowKind;
use serde::{Deserialize, Serialize};

/// `[dsp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DspConfig {
    /// FFT length (power of two).
    pub fft_size: usize,
    /// Frames averaged per spectrum.
    pub averages: usize,
    /// `rectangular`, `hann`, `blackman-harris` or `flat-top`.
    pub window: String,
    /// False-alarm probability per bin per spectrum.
    pub pfa: f64,
    /// Over-threshold runs this close (bins) merge.
    pub merge_gap_bins: usize,
    /// Bins added on each side of a detection when measuring its power.
    pub guard_bins: usize,
    /// Bins per noise-floor reference segment.
    pub noise_segment_bins: usize,
}

impl Default for DspConfig {
    fn default() -> Self {
        let d = DetectorConfig::default();
        let s = SpectrumConfig::default();
        Self {
            fft_size: s.fft_size,
            averages: s.averages,
            window: "blackman-harris".into(),
            pfa: d.pfa,
            merge_gap_bins: d.merge_gap_bins,
            guard_bins: d.guard_bins,
            noise_segment_bins: d.noise_segment_bins,
        }
    }
}

impl DspConfig {
    /// The spectrum settings.
    pub fn spectrum(&self) -> SpectrumConfig {
        SpectrumConfig {
            fft_size: self.fft_size,
            averages: self.averages,
            window: self.window.parse().unwrap_or(WindowKind::BlackmanHarris),
        }
    }

    /// The detector settings.
    pub fn detector(&self) -> DetectorConfig {
        DetectorConfig {
            pfa: self.pfa,
            merge_gap_bins: self.merge_gap_bins,
            guard_bins: self.guard_bins,
            noise_segment_bins: self.noise_segment_bins,
        }
    }
}

/// Longest `tracker.emitter_memory_s`: a week. Longer would only keep idle emitters around
/// (and their count is capped anyway); a transmitter unheard for a week is news again.
pub const MAX_EMITTER_MEMORY_S: f64 = 7.0 * 86_400.0;

/// `[tracker]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerSettings {
    /// Frequency slack when matching detections to signals, Hz.
    pub frequency_tolerance_hz: f64,
    /// Spectra that must contain a signal before it is reported.
    pub confirm_detections: u32,
    /// Seconds without a detection after which a signal is lost.
    pub lost_after_s: f64,
    /// Frequency move that counts as a change, Hz.
    pub change_frequency_hz: f64,
    /// SNR change that counts as a change, dB.
    pub change_snr_db: f64,
    /// Relative bandwidth change that counts as a change.
    pub change_bandwidth_ratio: f64,
    /// Minimum seconds between updates of one signal.
    pub min_update_interval_s: f64,
    /// Power measurements averaged per receiver.
    pub power_window: usize,
    /// Detections this far (dB) below a strong neighbour are its sidelobes; 0 disables.
    pub sidelobe_rejection_db: f64,
    /// Seconds a lost signal's emitter is remembered, so that a transmitter keying on again
    /// within it keeps its `emitter_id`; 0 makes every transmission a new emitter.
    pub emitter_memory_s: f64,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        let t = TrackerConfig::default();
        Self {
            frequency_tolerance_hz: t.frequency_tolerance_hz,
            confirm_detections: t.confirm_detections,
            lost_after_s: t.lost_after_ns as f64 / 1e9,
            change_frequency_hz: t.change_frequency_hz,
            change_snr_db: t.change_snr_db,
            change_bandwidth_ratio: t.change_bandwidth_ratio,
            min_update_interval_s: t.min_update_interval_ns as f64 / 1e9,
            power_window: t.power_window,
            sidelobe_rejection_db: t.sidelobe_rejection_db,
            emitter_memory_s: t.emitter_memory_ns as f64 / 1e9,
        }
    }
}

impl TrackerSettings {
    /// The tracker's own config.
    pub fn tracker(&self) -> TrackerConfig {
        TrackerConfig {
            frequency_tolerance_hz: self.frequency_tolerance_hz,
            confirm_detections: self.confirm_detections,
            lost_after_ns: (self.lost_after_s * 1e9) as i64,
            change_frequency_hz: self.change_frequency_hz,
            change_snr_db: self.change_snr_db,
            change_bandwidth_ratio: self.change_bandwidth_ratio,
            min_update_interval_ns: (self.min_update_interval_s * 1e9) as i64,
            power_window: self.power_window,
            sidelobe_rejection_db: self.sidelobe_rejection_db,
            emitter_memory_ns: (self.emitter_memory_s * 1e9) as i64,
        }
    }
}

/// `[localization]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalizationConfig {
    /// Locate signals at all.
    pub enabled: bool,
    /// Receivers that must see a signal before it is located (at least 3).
    pub min_receivers: usize,
    /// Power measurements each receiver must have averaged first.
    pub min_power_samples: usize,
    /// Seconds between localizations of one signal.
    pub interval_s: f64,
    /// Path-loss exponent n of the log-distance model (2 = free space). Unset: the simulated
    /// scene's own model when the receivers are simulated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_loss_exponent: Option<f64>,
    /// Reference distance d0 of the model, m (powers closer than this are not extrapolated).
    pub ref_distance_m: f64,
    /// Locate by time differences of arrival when at least 3 receivers with GPS-disciplined
    /// time hear a signal (else, and when TDOA finds no position, by power).
    pub tdoa: bool,
    /// Longest stretch of IQ correlated per TDOA localization, s (capped at 65536 samples).
    pub tdoa_window_s: f64,
    /// Timing error of each receiver's clock, ns (a GPS-disciplined KiwiSDR: about 100 ns),
    /// added to the correlation's own error.
    pub timing_sigma_ns: f64,
    /// How far real received power strays from the path-loss model, dB (log-normal shadowing:
    /// terrain, buildings, antennas), added to each receiver's measured power error for the
    /// power method. 6 dB: the location variability of ITU-R P.1546 is 5.5 dB at VHF/UHF; 0
    /// trusts the model exactly (only right in a simulation without shadowing).
    pub power_model_sigma_db: f64,
    /// How signals travel, for TDOA: `line-of-sight` (straight line; VHF and up, and the
    /// simulated scenes) or `great-circle` (along the surface: HF ground and sky waves).
    pub propagation: PropagationSetting,
}

/// `localization.propagation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PropagationSetting {
    /// The straight line between the antennas.
    #[default]
    LineOfSight,
    /// The great circle along the Earth's surface.
    GreatCircle,
}

impl PropagationSetting {
    /// The solver's model.
    pub fn model(self) -> sdrhub_dsp::locate::tdoa::Propagation {
        match self {
            PropagationSetting::LineOfSight => sdrhub_dsp::locate::tdoa::Propagation::LineOfSight,
            PropagationSetting::GreatCircle => sdrhub_dsp::locate::tdoa::Propagation::GreatCircle,
        }
    }
}

impl Default for LocalizationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_receivers: 3,
            min_power_samples: 8,
            interval_s: 2.0,
            path_loss_exponent: None,
            ref_distance_m: 1.0,
            tdoa: true,
            tdoa_window_s: 0.5,
            timing_sigma_ns: 100.0,
            power_model_sigma_db: 6.0,
            propagation: PropagationSetting::LineOfSight,
        }
    }
}

impl DspConfig {
    /// Every problem of `[dsp]`, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        p.check(
            self.fft_size.is_power_of_two() && (64..=1 << 20).contains(&self.fft_size),
            format!(
                "dsp.fft_size = {}: must be a power of two in 64..=1048576",
                self.fft_size
            ),
        );
        p.range("dsp.averages", self.averages, 1, 4096);
        p.check(
            self.window.parse::<WindowKind>().is_ok(),
            format!(
                "dsp.window = {:?}: must be rectangular, hann, blackman-harris or flat-top",
                self.window
            ),
        );
        p.check(
            self.pfa > 0.0 && self.pfa < 0.1,
            format!("dsp.pfa = {}: must be in (0, 0.1)", self.pfa),
        );
        p.check(
            self.noise_segment_bins >= 16 && self.noise_segment_bins <= self.fft_size,
            format!(
                "dsp.noise_segment_bins = {}: must be in 16..=dsp.fft_size",
                self.noise_segment_bins
            ),
        );
        p.into_vec()
    }
}

impl TrackerSettings {
    /// Every problem of `[tracker]`, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        p.check(
            self.frequency_tolerance_hz >= 0.0,
            format!(
                "tracker.frequency_tolerance_hz = {}: must be >= 0",
                self.frequency_tolerance_hz
            ),
        );
        p.check(
            self.lost_after_s > 0.0,
            format!("tracker.lost_after_s = {}: must be > 0", self.lost_after_s),
        );
        p.check(
            self.confirm_detections >= 1,
            format!(
                "tracker.confirm_detections = {}: must be >= 1",
                self.confirm_detections
            ),
        );
        p.interval(
            "tracker.sidelobe_rejection_db",
            self.sidelobe_rejection_db,
            0.0,
            100.0,
        );
        p.range("tracker.power_window", self.power_window, 2, 4096);
        p.interval(
            "tracker.emitter_memory_s",
            self.emitter_memory_s,
            0.0,
            MAX_EMITTER_MEMORY_S,
        );
        p.into_vec()
    }
}

impl LocalizationConfig {
    /// Every problem of `[localization]`, each naming its key; `power_window` is
    /// `tracker.power_window`, which bounds `min_power_samples`.
    pub fn problems(&self, power_window: usize) -> Vec<String> {
        let mut p = super::Problems::default();
        p.check(
            self.min_receivers >= 3,
            format!(
                "localization.min_receivers = {}: must be >= 3 (three unknowns)",
                self.min_receivers
            ),
        );
        p.check(
            self.min_power_samples >= 2 && self.min_power_samples <= power_window,
            format!(
                "localization.min_power_samples = {}: must be in 2..=tracker.power_window ({})",
                self.min_power_samples, power_window
            ),
        );
        if let Some(n) = self.path_loss_exponent {
            p.check(
                (1.0..=6.0).contains(&n),
                format!("localization.path_loss_exponent = {n}: must be in [1, 6]"),
            );
        }
        p.check(
            self.ref_distance_m > 0.0,
            format!(
                "localization.ref_distance_m = {}: must be > 0",
                self.ref_distance_m
            ),
        );
        p.interval("localization.tdoa_window_s", self.tdoa_window_s, 0.01, 10.0);
        p.interval("localization.timing_sigma_ns", self.timing_sigma_ns, 0.0, 1e6);
        p.interval(
            "localization.power_model_sigma_db",
            self.power_model_sigma_db,
            0.0,
            30.0,
        );
        p.check(
            self.interval_s > 0.0,
            format!("localization.interval_s = {}: must be > 0", self.interval_s),
        );
        p.into_vec()
    }
}
