//! The estimator: FFT cross-correlation against a reference, the band, the refined peak, and
//! the variance (see the [module documentation](super)).

use super::peak::{all_finite, peak_lag};
use super::{
    Band, DelayError, DelayEstimate, FrequencyBand, BINS_PER_CELL, MAX_CELLS, MAX_SNR, MIN_CELLS, MIN_LEN,
    MIN_POST_SNR_DB, MIN_PROMINENCE, MODEL_ERROR_RATIO,
};
use crate::Complex32;
use rustfft::{Fft, FftPlanner};
use std::f64::consts::TAU;
use std::fmt;
use std::sync::Arc;

/// Estimates delays of snippets against one reference snippet.
///
/// FFT plans and buffers are made once in [`DelayEstimator::new`]; [`Self::set_reference`] and
/// [`Self::estimate`] allocate nothing.
///
/// ```
/// use sdrhub_dsp::delay::DelayEstimator;
/// use sdrhub_dsp::Complex32;
///
/// // A chirp-like wideband waveform, and a copy 2.25 samples later (the delay is applied to
/// // the analytic waveform, so it is exact), both with a little deterministic dither.
/// let wave = |t: f64| {
///     let phase = 0.2 * t + 1.3e-4 * t * t + 0.8 * (0.05 * t).sin();
///     Complex32::new(phase.cos() as f32, phase.sin() as f32)
/// };
/// let dither = |n: usize, k: usize| (((n * 7919 + k * 104729) % 1000) as f32 / 1000.0 - 0.5) * 0.05;
/// let reference: Vec<Complex32> =
///     (0..4096).map(|n| wave(n as f64) + Complex32::new(dither(n, 1), dither(n, 2))).collect();
/// let other: Vec<Complex32> =
///     (0..4096).map(|n| wave(n as f64 - 2.25) + Complex32::new(dither(n, 3), dither(n, 4))).collect();
///
/// let mut estimator = DelayEstimator::new(4096, 16, 12_000.0);
/// estimator.set_reference(&reference).unwrap();
/// let estimate = estimator.estimate(&other).unwrap();
/// assert!((estimate.delay_samples - 2.25).abs() < 0.01, "{estimate:?}");
/// assert!((estimate.delay_s - 2.25 / 12_000.0).abs() < 1e-6);
/// assert!(estimate.std_s() < 1e-6);
/// ```
#[derive(Clone)]
pub struct DelayEstimator {
    pub(super) len: usize,
    pub(super) max_lag: usize,
    pub(super) sample_rate_hz: f64,
    pub(super) cells: usize,
    pub(super) forward: Arc<dyn Fft<f32>>,
    pub(super) inverse: Arc<dyn Fft<f32>>,
    pub(super) scratch: Vec<Complex32>,
    /// The reference snippet, kept to re-align it to each other snippet's integer lag.
    pub(super) reference: Vec<Complex32>,
    /// FFT of the whole reference.
    pub(super) reference_spectrum: Vec<Complex32>,
    /// Mean |X_ref|^2 per cell.
    pub(super) reference_cell_power: [f64; MAX_CELLS],
    pub(super) reference_set: bool,
    /// FFT of the other snippet's central part.
    pub(super) other_spectrum: Vec<Complex32>,
    /// FFT of the reference's central part shifted by the integer lag (for the variance).
    pub(super) aligned_spectrum: Vec<Complex32>,
    /// X_other conj(X_ref), FFT order.
    pub(super) cross: Vec<Complex32>,
    /// The correlation r[m] (unnormalised inverse FFT of the band's cross-spectrum).
    pub(super) correlation: Vec<Complex32>,
    /// The spectral lines' share of r at each lag of the window, -max_lag..=max_lag.
    pub(super) line_lags: Vec<num_complex::Complex64>,
}

impl fmt::Debug for DelayEstimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayEstimator")
            .field("len", &self.len)
            .field("max_lag", &self.max_lag)
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("reference_set", &self.reference_set)
            .finish_non_exhaustive()
    }
}

impl DelayEstimator {
    /// An estimator for snippets of `len` samples at `sample_rate_hz`, searching delays within
    /// +-`max_lag` samples. The window must cover the largest possible delay (the receivers'
    /// separation over the speed of light, plus timing errors) and be wider than the
    /// correlation peak (about fs / B samples for a signal B Hz wide), or the peak is refused
    /// as indistinct. Each lag sums `len - 2 max_lag` products, so a wider window costs a
    /// little accuracy.
    ///
    /// # Panics
    /// If `len` < [`MIN_LEN`], `max_lag` is 0 or `len` <= 4 `max_lag` (the correlation sums
    /// `len - 2 max_lag` products), or `sample_rate_hz` is not positive and finite.
    pub fn new(len: usize, max_lag: usize, sample_rate_hz: f64) -> Self {
        assert!(
            len >= MIN_LEN,
            "snippets of {len} samples are shorter than {MIN_LEN}"
        );
        assert!(
            max_lag >= 1 && len > 4 * max_lag,
            "max_lag {max_lag} must be at least 1 and under a quarter of the snippet length {len}"
        );
        assert!(
            sample_rate_hz.is_finite() && sample_rate_hz > 0.0,
            "sample rate {sample_rate_hz} Hz is not positive"
        );
        let mut planner = FftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(len);
        let inverse = planner.plan_fft_inverse(len);
        let scratch_len = forward
            .get_inplace_scratch_len()
            .max(inverse.get_inplace_scratch_len());
        let zero = Complex32::new(0.0, 0.0);
        Self {
            len,
            max_lag,
            sample_rate_hz,
            cells: (len / BINS_PER_CELL).clamp(MIN_CELLS, MAX_CELLS),
            forward,
            inverse,
            scratch: vec![zero; scratch_len],
            reference: vec![zero; len],
            reference_spectrum: vec![zero; len],
            reference_cell_power: [0.0; MAX_CELLS],
            reference_set: false,
            other_spectrum: vec![zero; len],
            aligned_spectrum: vec![zero; len],
            cross: vec![zero; len],
            correlation: vec![zero; len],
            line_lags: vec![num_complex::Complex64::new(0.0, 0.0); 2 * max_lag + 1],
        }
    }

    /// Snippet length, samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: an estimator handles snippets of at least [`MIN_LEN`] samples.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Half-width of the lag window, samples.
    pub fn max_lag(&self) -> usize {
        self.max_lag
    }

    /// Sample rate, Hz.
    pub fn sample_rate_hz(&self) -> f64 {
        self.sample_rate_hz
    }

    /// Sets the snippet that delays are measured against.
    ///
    /// # Errors
    /// [`DelayError::NonFinite`] if it holds NaN or infinite samples (the reference is then
    /// unset).
    ///
    /// # Panics
    /// If `reference` is not [`Self::len`] samples long.
    pub fn set_reference(&mut self, reference: &[Complex32]) -> Result<(), DelayError> {
        assert_eq!(
            reference.len(),
            self.len,
            "the reference must have the planned length"
        );
        self.reference_set = false;
        if !all_finite(reference) {
            return Err(DelayError::NonFinite);
        }
        self.reference.copy_from_slice(reference);
        self.reference_spectrum.copy_from_slice(reference);
        self.forward
            .process_with_scratch(&mut self.reference_spectrum, &mut self.scratch);
        for cell in 0..self.cells {
            let (lo, hi) = self.cell_range(cell);
            let power: f64 = (lo..hi)
                .map(|o| self.reference_spectrum[self.bin(o)].norm_sqr() as f64)
                .sum();
            self.reference_cell_power[cell] = power / (hi - lo) as f64;
        }
        self.reference_set = true;
        Ok(())
    }

    /// The delay of `other` relative to the reference, with the band found from the data.
    ///
    /// # Errors
    /// See [`DelayError`]: non-finite samples, a weak correlation, no distinct correlation
    /// peak, or a peak at the edge of the lag window.
    ///
    /// # Panics
    /// If no reference is set or `other` is not [`Self::len`] samples long.
    pub fn estimate(&mut self, other: &[Complex32]) -> Result<DelayEstimate, DelayError> {
        let within = Band { lo: 0, hi: self.len };
        self.estimate_with(other, BandChoice::Detect { within })
    }

    /// The delay of `other` relative to the reference, using only the frequencies in `band`
    /// (for instance the band a detector reported for the signal).
    ///
    /// # Errors
    /// As [`Self::estimate`].
    ///
    /// # Panics
    /// As [`Self::estimate`], and if `band` is not within +-fs / 2 with `low_hz` < `high_hz`.
    pub fn estimate_in_band(
        &mut self,
        other: &[Complex32],
        band: FrequencyBand,
    ) -> Result<DelayEstimate, DelayError> {
        let band = self.positions(band);
        self.estimate_with(other, BandChoice::Given(band))
    }

    /// The delay of `other` relative to the reference, with the band found from the data as
    /// [`Self::estimate`] does, but only within `region` (the part of the spectrum the signal
    /// has to itself, without its neighbours); the whole region when no band stands out.
    ///
    /// # Errors
    /// As [`Self::estimate`].
    ///
    /// # Panics
    /// As [`Self::estimate_in_band`].
    pub fn estimate_within(
        &mut self,
        other: &[Complex32],
        region: FrequencyBand,
    ) -> Result<DelayEstimate, DelayError> {
        let within = self.positions(region);
        self.estimate_with(other, BandChoice::Detect { within })
    }

    /// The frequency-ordered positions of `band`.
    fn positions(&self, band: FrequencyBand) -> Band {
        let nyquist = 0.5 * self.sample_rate_hz;
        assert!(
            band.low_hz >= -nyquist && band.low_hz < band.high_hz && band.high_hz <= nyquist,
            "band {band:?} is not an interval within +-{nyquist} Hz"
        );
        let (n, half) = (self.len as f64, (self.len / 2) as f64);
        let lo = ((band.low_hz / self.sample_rate_hz * n).ceil() + half).clamp(0.0, n) as usize;
        let hi = ((band.high_hz / self.sample_rate_hz * n).floor() + half + 1.0).clamp(0.0, n) as usize;
        if hi > lo {
            Band { lo, hi }
        } else {
            // Narrower than a bin: the nearest bin.
            let o = ((band.low_hz + band.high_hz) / 2.0 / self.sample_rate_hz * n + half)
                .round()
                .clamp(0.0, n - 1.0) as usize;
            Band { lo: o, hi: o + 1 }
        }
    }

    fn estimate_with(
        &mut self,
        other: &[Complex32],
        choice: BandChoice,
    ) -> Result<DelayEstimate, DelayError> {
        assert!(self.reference_set, "set a reference before estimating delays");
        assert_eq!(other.len(), self.len, "snippets must have the planned length");
        if !all_finite(other) {
            return Err(DelayError::NonFinite);
        }
        let (len, max_lag) = (self.len, self.max_lag);
        let summed = len - 2 * max_lag;

        // The other snippet's central part, so that every lag in the window sums `summed`
        // products against the reference without wrapping.
        let zero = Complex32::new(0.0, 0.0);
        self.other_spectrum.fill(zero);
        self.other_spectrum[max_lag..len - max_lag].copy_from_slice(&other[max_lag..len - max_lag]);
        self.forward
            .process_with_scratch(&mut self.other_spectrum, &mut self.scratch);
        for ((c, x), y) in self
            .cross
            .iter_mut()
            .zip(&self.other_spectrum)
            .zip(&self.reference_spectrum)
        {
            *c = x * y.conj();
        }

        let full = Band { lo: 0, hi: len };
        let band = match choice {
            BandChoice::Given(band) => band,
            BandChoice::Detect { within } => {
                // Nothing outside the region takes part, not even in finding the band.
                if within != full {
                    for o in (0..within.lo).chain(within.hi..len) {
                        let k = self.bin(o);
                        self.cross[k] = zero;
                    }
                }
                // The region's correlation: its peak lag lets the band detector derotate the
                // cross-spectrum.
                self.correlation.copy_from_slice(&self.cross);
                self.inverse
                    .process_with_scratch(&mut self.correlation, &mut self.scratch);
                let lag = peak_lag(&self.correlation, max_lag);
                let clip = |b: Band| Band {
                    lo: b.lo.max(within.lo),
                    hi: b.hi.min(within.hi),
                };
                match self.detect_band(lag) {
                    Some(band) if clip(band).lo < clip(band).hi => clip(band),
                    _ => within,
                }
            }
        };
        let (lag, tau) = self.peak_in(band)?;
        let stats = self.statistics(band, tau, tau - lag as f64);
        let bins = band.bins() as f64;
        let time_bandwidth = bins * summed as f64 / len as f64;

        // rho^2 from the aligned snippets, less its noise bias (1 - rho^2) / BT.
        let rho2_measured = if stats.aligned_energy > 0.0 && stats.other_energy > 0.0 {
            (stats.aligned_peak * stats.aligned_peak / (stats.aligned_energy * stats.other_energy)).min(1.0)
        } else {
            0.0
        };
        let rho2 = ((rho2_measured - 1.0 / time_bandwidth) / (1.0 - 1.0 / time_bandwidth)).clamp(0.0, 1.0);
        let g = if rho2 < 1.0 {
            (rho2 / (1.0 - rho2)).min(MAX_SNR)
        } else {
            MAX_SNR
        };
        let snr_db = crate::db(g * time_bandwidth);
        if snr_db.is_nan() || snr_db < MIN_POST_SNR_DB {
            return Err(DelayError::WeakCorrelation {
                snr_db,
                need_db: MIN_POST_SNR_DB,
            });
        }

        // Distinct peak: it must stand well above the lowest |r| within the lag window (where
        // every lag sums the same products), measured in the noise standard deviation of r. A
        // carrier's |r| is flat there; so is any peak wider than the window.
        if !(stats.curvature_sum > 0.0 && stats.coherent_sum > 0.0) {
            return Err(DelayError::NoTimingInformation {
                prominence: 0.0,
                need: MIN_PROMINENCE,
            });
        }
        let curvature = stats.curvature_sum / stats.coherent_sum;
        let prominence = self.prominence(band, lag);
        if prominence.is_nan() || prominence < MIN_PROMINENCE {
            return Err(DelayError::NoTimingInformation {
                prominence: prominence.max(0.0),
                need: MIN_PROMINENCE,
            });
        }

        // Noise through the phase residuals, plus the self-noise of the window's edges: as the
        // delay slides, signal enters and leaves the summed window, and for an envelope that
        // fluctuates (a Gaussian-like signal) that moves the peak by
        // (|s_a|^2 - |s_b|^2) / (2 N' P curvature), variance 1 / (2 N'^2 curvature^2).
        // Negligible unless the band is narrow and the SNR high.
        // The residuals summed in groups of adjacent bins replace the bin-by-bin ones when they
        // are significantly larger: then the phase errors are not white noise but vary smoothly
        // across the band (multipath, dispersion, the receivers' filters), and the delay is
        // less certain than noise alone would make it.
        let white = stats.residual_sum;
        let model_error = stats.grouped_residual_sum > MODEL_ERROR_RATIO * white;
        let residual = if model_error {
            stats.grouped_residual_sum
        } else {
            white
        };
        let scale = len as f64 / summed as f64 / (stats.curvature_sum * stats.curvature_sum);
        let noise_variance = scale * white;
        let model_variance = scale * (residual - white);
        let edge_variance = 1.0 / (2.0 * (summed as f64 * curvature).powi(2));
        let variance_samples = noise_variance + model_variance + edge_variance;
        if !(variance_samples.is_finite() && variance_samples > 0.0) {
            return Err(DelayError::NoTimingInformation {
                prominence,
                need: MIN_PROMINENCE,
            });
        }

        let snr_reference = self.snippet_snr(band, stats.reference_energy, true);
        let snr_other = self.snippet_snr(band, stats.other_energy, false);
        // Share of the variance due to the reference's noise: (1/g_ref) / (1/g); with the
        // per-snippet SNRs unknown, both are taken equal, g_each = g + sqrt(g^2 + g).
        let reference_share = match (snr_reference, snr_other) {
            (Some(a), Some(b)) => (1.0 / a) / (1.0 / a + 1.0 / b + 1.0 / (a * b)),
            _ => {
                let each = g + (g * g + g).sqrt();
                each / (2.0 * each + 1.0)
            }
        };
        let fs = self.sample_rate_hz;
        let variance_s2 = variance_samples / (fs * fs);
        // The edge term depends on where this pair's delay puts the window's edges, and a model
        // error is this pair's (one pair cannot tell whose response is distorted): both counted
        // with the other snippet, independent between pairs.
        let variance_reference_s2 = reference_share * noise_variance / (fs * fs);
        let half = (len / 2) as f64;
        Ok(DelayEstimate {
            delay_samples: tau,
            delay_s: tau / fs,
            variance_s2,
            variance_reference_s2,
            variance_other_s2: variance_s2 - variance_reference_s2,
            correlation: rho2.sqrt(),
            band_snr_db: crate::db(g),
            snr_db,
            snr_reference_db: snr_reference.map(crate::db),
            snr_other_db: snr_other.map(crate::db),
            bandwidth_rms_hz: curvature.sqrt() / TAU * fs,
            band_low_hz: (band.lo as f64 - half) / len as f64 * fs,
            band_high_hz: (band.hi as f64 - half) / len as f64 * fs,
            time_bandwidth,
            model_error_s2: model_variance / (fs * fs),
        })
    }

    /// The correlation over `band`, its integer peak lag and the refined delay, with the
    /// reference's central part aligned to that lag in `aligned_spectrum` (so that its phase
    /// residuals against the other snippet hold the noise only, not the reference's edges the
    /// other snippet lacks).
    fn peak_in(&mut self, band: Band) -> Result<(isize, f64), DelayError> {
        let (len, max_lag) = (self.len, self.max_lag);
        let zero = Complex32::new(0.0, 0.0);
        self.correlation.fill(zero);
        for o in band.lo..band.hi {
            let k = self.bin(o);
            self.correlation[k] = self.cross[k];
        }
        self.inverse
            .process_with_scratch(&mut self.correlation, &mut self.scratch);
        let lag = peak_lag(&self.correlation, max_lag);
        if lag.unsigned_abs() >= max_lag {
            return Err(DelayError::PeakAtWindowEdge {
                lag_samples: lag,
                max_lag,
            });
        }
        let tau = self.refine(band, lag).ok_or(DelayError::NoTimingInformation {
            prominence: 0.0,
            need: MIN_PROMINENCE,
        })?;
        self.aligned_spectrum.fill(zero);
        for n in max_lag..len - max_lag {
            self.aligned_spectrum[n] = self.reference[(n as isize - lag) as usize];
        }
        self.forward
            .process_with_scratch(&mut self.aligned_spectrum, &mut self.scratch);
        Ok((lag, tau))
    }

    /// FFT bin of frequency-ordered position `o`.
    pub(super) fn bin(&self, o: usize) -> usize {
        let half = self.len / 2;
        if o < half {
            o + self.len - half
        } else {
            o - half
        }
    }

    /// Frequency-ordered positions of cell `cell`.
    pub(super) fn cell_range(&self, cell: usize) -> (usize, usize) {
        (cell * self.len / self.cells, (cell + 1) * self.len / self.cells)
    }
}

/// How the band is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BandChoice {
    /// Found from the cross-spectrum, within these positions.
    Detect {
        /// The positions the band may occupy.
        within: Band,
    },
    /// Given by the caller.
    Given(Band),
}
