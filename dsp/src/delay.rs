//! The delay between two receivers' copies of one signal, by cross-correlation.
//!
//! # Model and sign convention
//! Both snippets hold `len` complex baseband samples taken at the same instants by their
//! timestamps (sample n of each is at t0 + n / fs on a common clock, e.g. GPS time). The other
//! snippet holds the reference's signal delayed by d samples, with its own gain and carrier
//! phase (path loss, and the RF phase delay that survives down-conversion), plus independent
//! noise:
//!
//! ```text
//! reference[n] = s(n) + w0[n],    other[n] = a e^(j phi) s(n - d) + w1[n],    |d| < max_lag
//! ```
//!
//! **A positive delay means the signal reaches the other receiver later than the reference.**
//! The two receivers must be tuned to within a small fraction of 1 / duration of each other
//! (a frequency offset smears the correlation peak); the carrier phase is unknown and
//! irrelevant.
//!
//! # Method
//! 1. The other snippet's central part, `max_lag` samples in from each end, is correlated
//!    against the whole reference with one FFT each (FFT length = snippet length). Every lag
//!    within +-`max_lag` then sums the same number of products, so there is no triangular
//!    overlap taper to pull the peak towards zero lag, and no lag in the window wraps around.
//! 2. The occupied band is found from the cross-spectrum (see [Band](#band)); bins outside it
//!    carry only noise products and are dropped.
//! 3. The integer lag of the largest |r| is refined by maximising the band-limited continuous
//!    correlation evaluated straight from the cross-spectrum,
//!    |r(tau)| = |sum_k C(k) exp(j 2 pi f_k tau)|, C(k) = X_other(k) conj(X_ref(k)),
//!    by safeguarded Newton iteration to 1e-9 samples. This is exact for a band-limited
//!    signal at any band occupancy, unlike a parabola through three samples of |r|, whose
//!    error depends on where the true delay falls between samples (0.05 samples for a signal
//!    filling 70 % of the band, 0.17 for one filling it, in the tests). Maximising |r| rather
//!    than Re r fits the unknown carrier phase jointly with the delay.
//!
//! # Band
//! The spectrum is split into up to 32 cells. In each, the cross-spectrum derotated by the
//! integer peak lag adds up coherently where both snippets hold the signal and incoherently
//! elsewhere. The band is the contiguous run of cells with the largest total excess coherence
//! less a charge per cell (a maximum-sum subarray), provided it is statistically significant;
//! the whole spectrum is used otherwise. The search is repeated with the charge raised to half
//! the band's median excess, so that a strong signal's band does not spread into noise cells,
//! and each edge is then placed to a quarter of a cell. A caller that knows the signal's band
//! can pass it instead ([`DelayEstimator::estimate_in_band`]). That matters at low per-sample
//! SNR, where out-of-band noise still costs accuracy but the band is hard to see: there the
//! band found from the data costs 5-25 % in standard deviation, and the reported variance
//! runs 5-20 % low, because noise cells that happen to look coherent join it (see the tests).
//!
//! # Variance
//! Linearising the peak condition gives the delay error as
//! `-sum_k (w_k - w_mean) Im n_k / sum_k (w_k - w_mean)^2 Re C~_k` (samples), with C~ the
//! cross-spectrum aligned to the fitted delay and phase, n_k its noise, w_k = 2 pi f_k and
//! w_mean the Re C~-weighted mean frequency. The denominator is the measured curvature of
//! |r(tau)| at the peak; the numerator's variance is estimated from the measured phase
//! residuals Im C~_k of the aligned snippets (bins are independent because the FFT is as long
//! as the snippet). This needs no model of the spectrum: for a flat band of width B it equals
//! the Cramer-Rao bound
//!
//! ```text
//! sigma_tau^2 = 1 / (8 pi^2 B_rms^2 * B T * g),   B_rms = B / sqrt(12),
//! rho^2 = g / (1 + g),   1/g = 1/g1 + 1/g2 + 1/(g1 g2)
//! ```
//!
//! (g1, g2 the per-sample SNRs in the band, rho the normalised correlation in the band, B T the
//! number of independent samples in the band: B in Hz times the summed duration). In samples,
//! with b the RMS bandwidth in cycles per sample, K the band's FFT bins, N the FFT (and
//! snippet) length and N' = N - 2 `max_lag` the products summed, it reads
//! sigma^2 = 1 / (8 pi^2 b^2 (K N' / N) g). For an unmodulated carrier the curvature
//! vanishes. One more term is added: as the delay slides, signal enters and leaves the summed
//! window, which for a fluctuating envelope moves the peak by a random
//! (|s_a|^2 - |s_b|^2) / (2 N' P c) samples (P the signal power, c the curvature), variance
//! 1 / (2 N'^2 c^2); it matters only for narrow bands at high SNR. [`DelayEstimate`] reports
//! rho, g B T and the RMS bandwidth alongside, and [`delay_crlb_s2`] is the bound itself.
//!
//! # Per-receiver parts
//! Position solvers need a timing sigma per receiver, and delays measured against one
//! reference share its noise. The variance splits exactly along the terms of 1/g: the
//! reference's noise times the signal (1/g_ref), the other's noise times the signal (1/g_other)
//! and noise times noise (1/(g_ref g_other)), which is independent between pairs and so
//! counted with the other receiver. The per-snippet SNRs come from the noise floor outside
//! the band; when the band fills the spectrum they cannot be measured and are taken as equal.
//!
//! # Refusals
//! An estimate is refused ([`DelayError`]) rather than reported with a misleading variance
//! when the post-correlation SNR g B T is below 10 dB, or when |r| has no distinct peak: the
//! peak stands less than 5 noise standard deviations above the lowest |r| within the lag
//! window. That is the case of an unmodulated carrier, whose |r| is flat, and of any signal
//! whose correlation peak is wider than the window (about fs / B samples for a band of B Hz):
//! `max_lag` must exceed both the largest delay and that width. In practice the test also
//! refuses wideband signals below about 14 dB post-correlation SNR, which is where the
//! threshold effect (peaks on noise) sets in anyway.

use crate::Complex32;
use num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use std::f64::consts::{PI, TAU};
use std::fmt;
use std::sync::Arc;

/// Shortest snippet accepted: the band detector needs a few cells of a few dozen bins each.
pub const MIN_LEN: usize = 256;
/// Post-correlation SNR (g B T, dB) below which an estimate is refused: below it the variance
/// formula no longer holds (the threshold region) and the peak may be noise.
pub const MIN_POST_SNR_DB: f64 = 10.0;
/// How many noise standard deviations the correlation peak must stand above the lowest |r|
/// within the lag window. The range of |r| over a flat (carrier-only) correlation of a few
/// hundred lags stays below about 4 standard deviations, so 5 separates "no peak" from a real
/// one; for a wideband signal it means a post-correlation SNR of about 14 dB.
pub const MIN_PROMINENCE: f64 = 5.0;

/// Most cells the band detector splits the spectrum into: 32 resolves a band edge to 3 % of the
/// sample rate while leaving each cell enough bins to see the signal at low per-sample SNR.
const MAX_CELLS: usize = 32;
/// Fewest cells, for short snippets.
const MIN_CELLS: usize = 4;
/// Bins per cell aimed at before capping the count at [`MAX_CELLS`].
const BINS_PER_CELL: usize = 64;
/// A detected band must score at least this (excess coherence, in units of a noise cell's
/// standard deviation): a single noise cell exceeds 12 with probability e^-13.
const BAND_MIN_SCORE: f64 = 12.0;
/// ... and at least this many standard deviations of a run of noise cells of the same length.
const BAND_SCORE_SIGMAS: f64 = 5.0;
/// Fine cells per cell when placing the band's edges.
const FINE_PER_CELL: usize = 4;
/// Charge per cell in the band search, in noise standard deviations: a cell joins the band
/// only if its excess coherence exceeds this.
const BAND_CELL_CHARGE: f64 = 1.5;
/// Fewest cells outside the band for measuring a snippet's noise floor (their median).
const MIN_NOISE_CELLS: usize = 3;
/// Newton iterations cap; it converges in 4-6.
const NEWTON_MAX_ITERATIONS: usize = 50;
/// Newton stops when a step is shorter than this, samples: far below any achievable accuracy.
const NEWTON_TOLERANCE: f64 = 1e-9;
/// Largest SNR reported, linear: keeps noise-free input finite.
const MAX_SNR: f64 = 1e12;

/// Why no delay was estimated.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum DelayError {
    /// A snippet holds NaN or infinite samples.
    #[error("a snippet holds non-finite samples")]
    NonFinite,
    /// The snippets barely correlate: the signal is too weak in one of them, absent, or
    /// delayed by more than the lag window.
    #[error(
        "the snippets barely correlate: post-correlation SNR {snr_db:.1} dB, at least {need_db:.0} dB needed"
    )]
    WeakCorrelation {
        /// Measured post-correlation SNR, dB.
        snr_db: f64,
        /// The minimum, [`MIN_POST_SNR_DB`].
        need_db: f64,
    },
    /// The correlation has no distinct peak: the signal carries no timing information within
    /// the lag window (an unmodulated carrier, or a band narrower than 1 / window).
    #[error(
        "the correlation has no distinct peak (it stands {prominence:.1} noise sigmas above its \
         surroundings, {need:.0} needed): the signal carries no timing information, e.g. an \
         unmodulated carrier"
    )]
    NoTimingInformation {
        /// Height of the peak above the lowest |r| nearby, in noise standard deviations.
        prominence: f64,
        /// The minimum, [`MIN_PROMINENCE`].
        need: f64,
    },
    /// The correlation peaks at the edge of the lag window: the true delay may lie outside.
    #[error(
        "the correlation peaks at lag {lag_samples} samples, at the edge of the +-{max_lag} sample \
         window: the true delay may lie outside it"
    )]
    PeakAtWindowEdge {
        /// Lag of the largest |r|, samples.
        lag_samples: isize,
        /// The window's half-width, samples.
        max_lag: usize,
    },
}

/// A frequency band within the baseband, Hz relative to the centre (DC), for
/// [`DelayEstimator::estimate_in_band`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrequencyBand {
    /// Lower edge, Hz (>= -fs / 2).
    pub low_hz: f64,
    /// Upper edge, Hz (> `low_hz`, <= fs / 2).
    pub high_hz: f64,
}

/// One delay estimate between a snippet and the reference. Every number is finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayEstimate {
    /// Delay of the other snippet's signal relative to the reference, samples; positive when it
    /// arrives later than at the reference.
    pub delay_samples: f64,
    /// The same in seconds.
    pub delay_s: f64,
    /// Variance of `delay_s`, s^2, from the measured phase residuals and peak curvature (see
    /// the [module documentation](self)); for a flat band it is the Cramer-Rao bound.
    pub variance_s2: f64,
    /// The part of `variance_s2` due to the reference snippet's noise: shared by every delay
    /// measured against the same reference.
    pub variance_reference_s2: f64,
    /// The rest of `variance_s2`: the other snippet's noise, noise times noise, and the window
    /// edges' self-noise, all independent between pairs.
    pub variance_other_s2: f64,
    /// Normalised correlation |rho| in the band at the peak, in [0, 1], less its noise bias
    /// (|rho|^2 of independent noise is about 1 / B T).
    pub correlation: f64,
    /// Combined in-band SNR g = rho^2 / (1 - rho^2) of the pair, dB (per sample).
    pub band_snr_db: f64,
    /// Post-correlation SNR g B T, dB: what the correlation peak stands above its noise.
    pub snr_db: f64,
    /// The reference snippet's in-band SNR per sample, dB, from its noise floor outside the
    /// band; `None` when the band leaves too little spectrum to measure the floor.
    pub snr_reference_db: Option<f64>,
    /// The other snippet's in-band SNR per sample, dB, likewise.
    pub snr_other_db: Option<f64>,
    /// RMS (Gabor) bandwidth of the coherent cross-spectrum about its centroid, Hz: sqrt of the
    /// peak's curvature -|r|'' / |r| over (2 pi)^2. B / sqrt(12) for a flat band of width B.
    pub bandwidth_rms_hz: f64,
    /// Lower edge of the band used, Hz relative to the centre.
    pub band_low_hz: f64,
    /// Upper edge of the band used, Hz.
    pub band_high_hz: f64,
    /// B T: independent samples in the band, the band's width times the summed duration.
    pub time_bandwidth: f64,
}

impl DelayEstimate {
    /// Standard deviation of `delay_s`, s.
    pub fn std_s(&self) -> f64 {
        self.variance_s2.sqrt()
    }
}

/// The combined SNR g of two noisy copies with per-sample SNRs `snr_a` and `snr_b` (linear,
/// >= 0): 1/g = 1/g_a + 1/g_b + 1/(g_a g_b). 0 if either is 0.
pub fn combined_snr(snr_a: f64, snr_b: f64) -> f64 {
    if snr_a <= 0.0 || snr_b <= 0.0 {
        return 0.0;
    }
    1.0 / (1.0 / snr_a + 1.0 / snr_b + 1.0 / (snr_a * snr_b))
}

/// The Cramer-Rao lower bound on the variance (s^2) of a delay measured between two copies of a
/// Gaussian signal that fills a flat band of `bandwidth_hz`, observed for `duration_s`, with
/// per-sample in-band SNRs `snr_a` and `snr_b` (linear):
///
/// ```text
/// sigma^2 = 1 / (8 pi^2 B_rms^2 * B T * g),   B_rms = B / sqrt(12),   g = combined_snr(g_a, g_b)
/// ```
///
/// Valid above about 10 dB post-correlation SNR (g B T); below it, estimators leave the bound
/// (the threshold effect). Infinite, not NaN, for a zero SNR, bandwidth or duration.
pub fn delay_crlb_s2(bandwidth_hz: f64, duration_s: f64, snr_a: f64, snr_b: f64) -> f64 {
    let g = combined_snr(snr_a, snr_b);
    let b_rms2 = bandwidth_hz * bandwidth_hz / 12.0;
    let information = 8.0 * PI * PI * b_rms2 * bandwidth_hz * duration_s * g;
    if information > 0.0 {
        1.0 / information
    } else {
        f64::INFINITY
    }
}

/// A contiguous run of frequency-ordered positions [lo, hi): position o is the frequency
/// (o - len / 2) / len cycles per sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Band {
    lo: usize,
    hi: usize,
}

impl Band {
    fn bins(self) -> usize {
        self.hi - self.lo
    }
    /// Its centre position, about which frequencies are measured for numerical conditioning.
    fn centre(self) -> f64 {
        0.5 * (self.lo + self.hi - 1) as f64
    }
}

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
    len: usize,
    max_lag: usize,
    sample_rate_hz: f64,
    cells: usize,
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
    scratch: Vec<Complex32>,
    /// The reference snippet, kept to re-align it to each other snippet's integer lag.
    reference: Vec<Complex32>,
    /// FFT of the whole reference.
    reference_spectrum: Vec<Complex32>,
    /// Mean |X_ref|^2 per cell.
    reference_cell_power: [f64; MAX_CELLS],
    reference_set: bool,
    /// FFT of the other snippet's central part.
    other_spectrum: Vec<Complex32>,
    /// FFT of the reference's central part shifted by the integer lag (for the variance).
    aligned_spectrum: Vec<Complex32>,
    /// X_other conj(X_ref), FFT order.
    cross: Vec<Complex32>,
    /// The correlation r[m] (unnormalised inverse FFT of the band's cross-spectrum).
    correlation: Vec<Complex32>,
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
        self.estimate_with(other, None)
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
        let nyquist = 0.5 * self.sample_rate_hz;
        assert!(
            band.low_hz >= -nyquist && band.low_hz < band.high_hz && band.high_hz <= nyquist,
            "band {band:?} is not an interval within +-{nyquist} Hz"
        );
        let (n, half) = (self.len as f64, (self.len / 2) as f64);
        let lo = ((band.low_hz / self.sample_rate_hz * n).ceil() + half).clamp(0.0, n) as usize;
        let hi = ((band.high_hz / self.sample_rate_hz * n).floor() + half + 1.0).clamp(0.0, n) as usize;
        let band = if hi > lo {
            Band { lo, hi }
        } else {
            // Narrower than a bin: the nearest bin.
            let o = ((band.low_hz + band.high_hz) / 2.0 / self.sample_rate_hz * n + half)
                .round()
                .clamp(0.0, n - 1.0) as usize;
            Band { lo: o, hi: o + 1 }
        };
        self.estimate_with(other, Some(band))
    }

    fn estimate_with(
        &mut self,
        other: &[Complex32],
        band: Option<Band>,
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

        // Full-band correlation: its peak lag lets the band detector derotate the cross-spectrum.
        self.correlation.copy_from_slice(&self.cross);
        self.inverse
            .process_with_scratch(&mut self.correlation, &mut self.scratch);
        let full = Band { lo: 0, hi: len };
        let band = band.unwrap_or_else(|| {
            let lag = peak_lag(&self.correlation, max_lag);
            self.detect_band(lag).unwrap_or(full)
        });
        if band != full {
            self.correlation.fill(zero);
            for o in band.lo..band.hi {
                let k = self.bin(o);
                self.correlation[k] = self.cross[k];
            }
            self.inverse
                .process_with_scratch(&mut self.correlation, &mut self.scratch);
        }
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

        // The reference's central part shifted by the integer lag: aligned with the other
        // snippet's central part to within a fraction of a sample, so that its phase residuals
        // hold the noise only, not the reference's edges the other snippet lacks.
        self.aligned_spectrum.fill(zero);
        for n in max_lag..len - max_lag {
            self.aligned_spectrum[n] = self.reference[(n as isize - lag) as usize];
        }
        self.forward
            .process_with_scratch(&mut self.aligned_spectrum, &mut self.scratch);

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
        let lowest = (0..=max_lag)
            .flat_map(|m| [m, (len - m) % len])
            .map(|k| self.correlation[k].norm() as f64)
            .fold(f64::INFINITY, f64::min);
        let peak = self.correlation[lag.rem_euclid(len as isize) as usize].norm() as f64;
        let noise = (stats.reference_energy * stats.other_energy / bins).sqrt();
        let prominence = if noise > 0.0 { (peak - lowest) / noise } else { 0.0 };
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
        let noise_variance =
            len as f64 / summed as f64 * stats.residual_sum / (stats.curvature_sum * stats.curvature_sum);
        let edge_variance = 1.0 / (2.0 * (summed as f64 * curvature).powi(2));
        let variance_samples = noise_variance + edge_variance;
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
        // The edge term depends on where this pair's delay puts the window's edges: independent
        // between pairs, so counted with the other snippet.
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
        })
    }

    /// FFT bin of frequency-ordered position `o`.
    fn bin(&self, o: usize) -> usize {
        let half = self.len / 2;
        if o < half {
            o + self.len - half
        } else {
            o - half
        }
    }

    /// Frequency-ordered positions of cell `cell`.
    fn cell_range(&self, cell: usize) -> (usize, usize) {
        (cell * self.len / self.cells, (cell + 1) * self.len / self.cells)
    }

    /// The band: the run of cells with the largest total excess coherence, if significant, with
    /// its edges then placed to a quarter of a cell.
    fn detect_band(&self, lag: isize) -> Option<Band> {
        let len = self.len;
        let fine_cells = FINE_PER_CELL * self.cells;
        let fine_range = |j: usize| (j * len / fine_cells, (j + 1) * len / fine_cells);
        // Per fine cell, the cross-spectrum's sum lined up on the integer lag (C(k) goes as
        // exp(-j 2 pi f_k d), so multiplying by exp(+j 2 pi f_k lag) leaves a phase that varies
        // by under pi / cells across a cell), and its incoherent power sum.
        let mut sums = [Complex64::new(0.0, 0.0); FINE_PER_CELL * MAX_CELLS];
        let mut powers = [0.0; FINE_PER_CELL * MAX_CELLS];
        let step = cis(TAU * lag as f64 / len as f64);
        let half = (len / 2) as f64;
        for j in 0..fine_cells {
            let (lo, hi) = fine_range(j);
            let mut phasor = cis(TAU * lag as f64 * (lo as f64 - half) / len as f64);
            for o in lo..hi {
                let c = widen(self.cross[self.bin(o)]);
                sums[j] += c * phasor;
                powers[j] += c.norm_sqr();
                phasor *= step;
            }
        }
        // Coherent over incoherent power, minus 1: mean 0 and standard deviation about 1 for a
        // cell of noise, about (bins - 1) gamma^2 for a cell of signal with coherence gamma^2.
        let excess = |sum: Complex64, power: f64| {
            if power > 0.0 {
                sum.norm_sqr() / power - 1.0
            } else {
                0.0
            }
        };
        let mut coarse = [0.0; MAX_CELLS];
        for (cell, z) in coarse.iter_mut().enumerate().take(self.cells) {
            let parts = cell * FINE_PER_CELL..(cell + 1) * FINE_PER_CELL;
            *z = excess(sums[parts.clone()].iter().sum(), powers[parts].iter().sum());
        }
        let coarse = &coarse[..self.cells];
        let (first, end) = max_sum_run(coarse, BAND_CELL_CHARGE);
        let cells = end - first;
        let score: f64 = coarse[first..end].iter().sum();
        if cells == 0 || score < BAND_MIN_SCORE.max(BAND_SCORE_SIGMAS * (cells as f64).sqrt()) {
            return None;
        }
        // Again with the charge raised to half the band's typical excess (see below): a strong
        // signal's band then does not wander through noise cells that happen to look coherent.
        let charge = (0.5 * median(coarse[first..end].iter().copied())).max(BAND_CELL_CHARGE);
        let (first, end) = match max_sum_run(coarse, charge) {
            (a, b) if b > a => (a, b),
            _ => (first, end),
        };

        // Edges to a quarter cell, each within a cell of where the coarse search put it. A fine
        // cell is worth including when its excess coherence exceeds half the band's typical
        // one: adding noise n and information d improves n / d^2 when d / n beats half the
        // band's ratio.
        let mut fine = [0.0; FINE_PER_CELL * MAX_CELLS];
        for (j, z) in fine.iter_mut().enumerate().take(fine_cells) {
            *z = excess(sums[j], powers[j]);
        }
        let (lo_fine, hi_fine) = (first * FINE_PER_CELL, end * FINE_PER_CELL);
        let charge = (0.5 * median(fine[lo_fine..hi_fine].iter().copied()))
            .max(BAND_CELL_CHARGE / FINE_PER_CELL as f64);
        let gain = |j: usize| fine[j] - charge;
        // Left edge: the start s in [lo - 4, lo + 4] maximising the sum of gains from s to lo + 4.
        let left_min = lo_fine.saturating_sub(FINE_PER_CELL);
        let left_max = (lo_fine + FINE_PER_CELL).min(hi_fine - 1);
        let left = (left_min..=left_max)
            .max_by(|&a, &b| {
                let sa: f64 = (a..left_max).map(gain).sum();
                let sb: f64 = (b..left_max).map(gain).sum();
                sa.total_cmp(&sb)
            })
            .unwrap_or(lo_fine);
        let right_min = (hi_fine - FINE_PER_CELL).max(left + 1);
        let right_max = (hi_fine + FINE_PER_CELL).min(fine_cells);
        let right = (right_min..=right_max)
            .max_by(|&a, &b| {
                let sa: f64 = (right_min..a).map(gain).sum();
                let sb: f64 = (right_min..b).map(gain).sum();
                sa.total_cmp(&sb)
            })
            .unwrap_or(hi_fine);
        Some(Band {
            lo: fine_range(left).0,
            hi: fine_range(right - 1).1,
        })
    }

    /// r(tau) = sum over the band of C(k) exp(j w_k tau) and its first two derivatives, with
    /// w_k = 2 pi (o - centre) / len (the band's centre frequency only rotates r, so |r| and
    /// its extremum do not depend on it).
    fn correlation_at(&self, band: Band, tau: f64) -> [Complex64; 3] {
        let len = self.len as f64;
        let centre = band.centre();
        let step = cis(TAU * tau / len);
        let mut phasor = cis(TAU * tau * (band.lo as f64 - centre) / len);
        let mut w = TAU * (band.lo as f64 - centre) / len;
        let dw = TAU / len;
        let (mut r0, mut r1, mut r2) = (
            Complex64::new(0.0, 0.0),
            Complex64::new(0.0, 0.0),
            Complex64::new(0.0, 0.0),
        );
        for o in band.lo..band.hi {
            let term = widen(self.cross[self.bin(o)]) * phasor;
            r0 += term;
            r1 += term * w;
            r2 += term * (w * w);
            phasor *= step;
            w += dw;
        }
        let j = Complex64::new(0.0, 1.0);
        [r0, j * r1, -r2]
    }

    /// d|r|^2/dtau and d2|r|^2/dtau2 at `tau`.
    fn slope_and_curvature(&self, band: Band, tau: f64) -> (f64, f64) {
        let [r, r1, r2] = self.correlation_at(band, tau);
        let slope = 2.0 * (r.conj() * r1).re;
        let curvature = 2.0 * (r1.norm_sqr() + (r.conj() * r2).re);
        (slope, curvature)
    }

    /// The maximum of |r(tau)| within a sample of `lag`, by Newton's method safeguarded by
    /// bisection on the sign of the slope. `None` if the slope does not change sign there (no
    /// single peak).
    fn refine(&self, band: Band, lag: isize) -> Option<f64> {
        // The peak lies on the side of `lag` towards which |r| rises, within a sample. (Not
        // lag +- 1: for a wideband signal lag + 1 can already be past the main lobe's null.)
        let centre = lag as f64;
        let (mut lo, mut hi) = match self.slope_and_curvature(band, centre).0 {
            s if s > 0.0 => (centre, self.falling_end(band, centre, 1.0)?),
            s if s < 0.0 => (self.falling_end(band, centre, -1.0)?, centre),
            _ => return Some(centre),
        };
        // Start from the parabola through the three samples of |r| around the peak.
        let len = self.len as isize;
        let magnitude = |m: isize| self.correlation[m.rem_euclid(len) as usize].norm() as f64;
        let (y0, y1, y2) = (magnitude(lag - 1), magnitude(lag), magnitude(lag + 1));
        let denominator = y0 - 2.0 * y1 + y2;
        let offset = if denominator < 0.0 {
            (0.5 * (y0 - y2) / denominator).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let mut tau = (lag as f64 + offset).clamp(lo, hi);
        for _ in 0..NEWTON_MAX_ITERATIONS {
            let (slope, curvature) = self.slope_and_curvature(band, tau);
            if slope > 0.0 {
                lo = tau;
            } else {
                hi = tau;
            }
            let newton = tau - slope / curvature;
            let next = if curvature < 0.0 && newton > lo && newton < hi {
                newton
            } else {
                0.5 * (lo + hi)
            };
            let step = (next - tau).abs();
            tau = next;
            if step < NEWTON_TOLERANCE || hi - lo < NEWTON_TOLERANCE {
                break;
            }
        }
        tau.is_finite().then_some(tau)
    }

    /// The point `centre` + `direction` (or half-way there) at which |r|^2 falls away from
    /// `centre`'s side, i.e. where its slope has the sign of -`direction`.
    fn falling_end(&self, band: Band, centre: f64, direction: f64) -> Option<f64> {
        [1.0, 0.5]
            .into_iter()
            .map(|d| centre + direction * d)
            .find(|&end| {
                let slope = self.slope_and_curvature(band, end).0;
                slope * direction < 0.0
            })
    }

    /// The sums behind the variance and the correlation coefficient at the fitted delay `tau`
    /// (fractional part `fraction` relative to the integer lag the aligned reference has).
    fn statistics(&self, band: Band, tau: f64, fraction: f64) -> Statistics {
        let len = self.len as f64;
        let centre = band.centre();
        let dw = TAU / len;
        let w0 = TAU * (band.lo as f64 - centre) / len;
        // Phase of r at the peak, to align the estimator's cross-spectrum.
        let theta = self.correlation_at(band, tau)[0].arg();
        let (step, mut phasor) = (cis(dw * tau), cis(w0 * tau - theta));
        let (step_f, mut phasor_f) = (cis(dw * fraction), cis(w0 * fraction));
        let mut s = Statistics::default();
        // Sums of w^p Re, and of w^p Im^2, Im Re, Re^2 of the aligned snippets' cross-spectrum.
        let mut re = [0.0; 3];
        let (mut im2, mut imre, mut re2) = ([0.0; 3], [0.0; 3], [0.0; 3]);
        let mut aligned_sum = Complex64::new(0.0, 0.0);
        let mut w = w0;
        for o in band.lo..band.hi {
            let k = self.bin(o);
            let (x_ref, x_other, x_aligned) = (
                widen(self.reference_spectrum[k]),
                widen(self.other_spectrum[k]),
                widen(self.aligned_spectrum[k]),
            );
            let powers = [1.0, w, w * w];
            let coherent = (widen(self.cross[k]) * phasor).re;
            let z = x_other * x_aligned.conj() * phasor_f;
            aligned_sum += z;
            for p in 0..3 {
                re[p] += powers[p] * coherent;
                im2[p] += powers[p] * z.im * z.im;
                imre[p] += powers[p] * z.im * z.re;
                re2[p] += powers[p] * z.re * z.re;
            }
            s.reference_energy += x_ref.norm_sqr();
            s.other_energy += x_other.norm_sqr();
            s.aligned_energy += x_aligned.norm_sqr();
            phasor *= step;
            phasor_f *= step_f;
            w += dw;
        }
        // Curvature of |r| at its peak: sum (w - w_mean)^2 Re C~ with the Re C~-weighted mean.
        let mean_w = if re[0] != 0.0 { re[1] / re[0] } else { 0.0 };
        s.coherent_sum = re[0];
        s.curvature_sum = re[2] - mean_w * re[1];
        // Im of the aligned cross-spectrum after removing its own phase theta_a:
        // Im(z e^-j theta_a) = Im z cos - Re z sin; then centred on mean_w and squared.
        let (sin, cos) = aligned_sum.arg().sin_cos();
        let residual = |p: usize| cos * cos * im2[p] - 2.0 * sin * cos * imre[p] + sin * sin * re2[p];
        s.residual_sum = (residual(2) - 2.0 * mean_w * residual(1) + mean_w * mean_w * residual(0)).max(0.0);
        s.aligned_peak = aligned_sum.norm();
        s
    }

    /// A snippet's in-band SNR from its noise floor: the median cell power outside the band.
    fn snippet_snr(&self, band: Band, band_energy: f64, reference: bool) -> Option<f64> {
        let mut floor = [0.0; MAX_CELLS];
        let mut count = 0;
        for cell in 0..self.cells {
            let (lo, hi) = self.cell_range(cell);
            if hi <= band.lo || lo >= band.hi {
                floor[count] = if reference {
                    self.reference_cell_power[cell]
                } else {
                    (lo..hi)
                        .map(|o| self.other_spectrum[self.bin(o)].norm_sqr() as f64)
                        .sum::<f64>()
                        / (hi - lo) as f64
                };
                count += 1;
            }
        }
        if count < MIN_NOISE_CELLS {
            return None;
        }
        let median = median(floor[..count].iter().copied());
        let noise = median * band.bins() as f64;
        let snr = (band_energy - noise) / noise;
        (snr.is_finite() && snr > 0.0).then_some(snr.min(MAX_SNR))
    }
}

/// Sums over the band at the fitted delay.
#[derive(Debug, Default)]
struct Statistics {
    /// sum Re C~ = |r| at the peak.
    coherent_sum: f64,
    /// sum (w - w_mean)^2 Re C~ = -|r|'' at the peak.
    curvature_sum: f64,
    /// sum (w - w_mean)^2 (Im of the aligned cross-spectrum)^2.
    residual_sum: f64,
    /// |sum| of the aligned cross-spectrum.
    aligned_peak: f64,
    /// sum |X_ref|^2 (whole reference).
    reference_energy: f64,
    /// sum |X_other|^2 (central part).
    other_energy: f64,
    /// sum |X_aligned|^2 (the reference's shifted central part).
    aligned_energy: f64,
}

/// The contiguous run [first, end) of `values` with the largest sum of value - `charge`
/// (Kadane's algorithm); empty if all are below the charge.
fn max_sum_run(values: &[f64], charge: f64) -> (usize, usize) {
    let (mut best, mut best_range) = (0.0, (0, 0));
    let (mut run, mut run_start) = (0.0, 0);
    for (i, &v) in values.iter().enumerate() {
        if run <= 0.0 {
            run = 0.0;
            run_start = i;
        }
        run += v - charge;
        if run > best {
            best = run;
            best_range = (run_start, i + 1);
        }
    }
    best_range
}

/// The median of at most `FINE_PER_CELL * MAX_CELLS` values (0 for none), without allocating.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut buffer = [0.0; FINE_PER_CELL * MAX_CELLS];
    let mut count = 0;
    for v in values.take(buffer.len()) {
        buffer[count] = v;
        count += 1;
    }
    let sorted = &mut buffer[..count];
    sorted.sort_unstable_by(f64::total_cmp);
    match count {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// The lag within +-`max_lag` of the largest |r|.
fn peak_lag(correlation: &[Complex32], max_lag: usize) -> isize {
    let len = correlation.len() as isize;
    (-(max_lag as isize)..=max_lag as isize)
        .max_by(|&a, &b| {
            let (ra, rb) = (
                correlation[a.rem_euclid(len) as usize].norm_sqr(),
                correlation[b.rem_euclid(len) as usize].norm_sqr(),
            );
            ra.total_cmp(&rb)
        })
        .unwrap_or(0)
}

fn cis(x: f64) -> Complex64 {
    let (s, c) = x.sin_cos();
    Complex64::new(c, s)
}

fn widen(c: Complex32) -> Complex64 {
    Complex64::new(c.re as f64, c.im as f64)
}

fn all_finite(samples: &[Complex32]) -> bool {
    samples.iter().all(|s| s.re.is_finite() && s.im.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlb_matches_the_textbook_formula() {
        // 1 kHz flat band, 0.5 s, both copies at 10 dB: 1/g = 0.1 + 0.1 + 0.01 = 0.21.
        let var = delay_crlb_s2(1e3, 0.5, 10.0, 10.0);
        let b_rms = 1e3 / 12f64.sqrt();
        let want = 0.21 / (8.0 * PI * PI * b_rms * b_rms * 500.0);
        assert!((var / want - 1.0).abs() < 1e-12, "{var} vs {want}");
        assert_eq!(delay_crlb_s2(1e3, 0.5, 0.0, 10.0), f64::INFINITY);
        assert_eq!(combined_snr(0.0, 1.0), 0.0);
        // Equal SNRs g: 1/g_pair = 2/g + 1/g^2.
        assert!((combined_snr(1.0, 1.0) - 1.0 / 3.0).abs() < 1e-15);
    }
}
