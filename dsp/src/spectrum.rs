//! The Welch power spectrum.
//!
//! (Interface fixed by the spine issue; the implementation is filled in by the DSP work.)

use crate::window::WindowKind;
use num_complex::Complex32;

/// How spectra are computed. Every field is a user-visible config key (`dsp.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumConfig {
    /// FFT length N (a power of two).
    pub fft_size: usize,
    /// Frames K averaged into one spectrum (non-overlapping, so they are independent).
    pub averages: usize,
    /// Window applied to every frame.
    pub window: WindowKind,
}

impl Default for SpectrumConfig {
    fn default() -> Self {
        Self { fft_size: 4096, averages: 8, window: WindowKind::BlackmanHarris }
    }
}

/// Welch averaged periodogram with frequency-ordered output.
///
/// Output scaling: a complex tone of amplitude A exactly on a bin centre reads A^2 in that bin
/// (divide by the window's coherent gain squared); white noise of variance s^2 reads
/// s^2 * ENBW / N per bin. Summing a signal's bins and dividing by ENBW (in bins) gives its
/// power.
#[derive(Debug)]
pub struct Welch {
    _private: (),
}

impl Welch {
    /// Plans the FFT and allocates every buffer.
    ///
    /// # Panics
    /// If `fft_size` is not a power of two >= 16 or `averages` is 0.
    pub fn new(config: &SpectrumConfig) -> Self {
        let _ = config;
        Self { _private: () }
    }

    /// Feeds samples. Every time K frames are complete, calls `on_psd(psd, first_sample)`
    /// with the frequency-ordered spectrum (index 0 = lowest frequency, N/2 = centre) and
    /// the index, counted from the last [`Welch::reset`], of the first sample of those frames.
    pub fn push(&mut self, samples: &[Complex32], mut on_psd: impl FnMut(&[f32], u64)) {
        let _ = (samples, &mut on_psd);
    }

    /// Drops any partial frame and average (after a discontinuity) and restarts the sample count.
    pub fn reset(&mut self) {}
}
