//! Grouping of over-threshold bins into detections.
//!
//! (Interface fixed by the spine issue; the implementation is filled in by the DSP work.)

use crate::spectrum::SpectrumConfig;

/// Tunables of the detector. Every field is a user-visible config key (`dsp.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// False-alarm probability per bin per averaged spectrum (e.g. 1e-6).
    pub pfa: f64,
    /// Over-threshold runs separated by at most this many bins are merged into one detection.
    pub merge_gap_bins: usize,
    /// Bins added on each side of a run when summing a detection's power, so that the window's
    /// main lobe and a modulated signal's skirts are counted (power is not under-estimated).
    pub guard_bins: usize,
    /// Bins per segment of the local noise-floor reference.
    pub noise_segment_bins: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { pfa: 1e-6, merge_gap_bins: 2, guard_bins: 4, noise_segment_bins: 64 }
    }
}

/// One signal found in one averaged spectrum of one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Estimated centre frequency, absolute (receiver centre + offset), Hz.
    pub frequency_hz: f64,
    /// Estimated occupied bandwidth, Hz (at least one bin).
    pub bandwidth_hz: f64,
    /// Total signal power with the noise removed, linear, full scale = 1.0 (a full-scale complex
    /// tone). Use this, not `power_dbfs`, when averaging.
    pub power_fs: f64,
    /// `power_fs` in dBFS.
    pub power_dbfs: f64,
    /// Peak bin power over the local noise floor at that bin, dB (the per-bin SNR).
    pub snr_db: f64,
    /// Noise power per bin at the peak, dBFS.
    pub noise_dbfs: f64,
    /// First bin (frequency-ordered index) of the over-threshold run.
    pub first_bin: usize,
    /// Last bin (inclusive) of the over-threshold run.
    pub last_bin: usize,
}

/// CFAR detector over frequency-ordered averaged power spectra.
#[derive(Debug)]
pub struct Detector {
    _private: (),
}

impl Detector {
    /// Builds a detector for spectra produced with `spectrum` (FFT size, averages, window).
    pub fn new(spectrum: &SpectrumConfig, config: &DetectorConfig) -> Self {
        let _ = (spectrum, config);
        Self { _private: () }
    }

    /// Finds the signals in `psd` (frequency-ordered, as produced by
    /// [`crate::spectrum::Welch`]) of a receiver tuned to `center_hz` sampling at
    /// `sample_rate_hz`. `out` is cleared and filled; it does not allocate once `out` has grown
    /// to the number of detections.
    pub fn detect(&mut self, psd: &[f32], center_hz: f64, sample_rate_hz: f64, out: &mut Vec<Detection>) {
        let _ = (psd, center_hz, sample_rate_hz);
        out.clear();
    }

    /// The per-bin noise floor (linear, same scale as the PSD) of the last call to `detect`.
    pub fn noise_floor(&self) -> &[f32] {
        &[]
    }
}
