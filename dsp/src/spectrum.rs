//! The Welch power spectrum.
//!
//! Frames of N samples are windowed, transformed and their |X|^2 averaged over K frames. Frames
//! do not overlap, so the K periodograms are independent and each averaged bin of pure noise
//! follows a Gamma(K, 1/K) law around its mean (see [`crate::cfar`]): overlap would buy more
//! frames per second but correlated ones, and the detector's false-alarm rate relies on K being
//! the true number of independent looks.
//!
//! [`Welch::push_bytes`] takes raw device bytes and fuses their conversion with the window
//! multiply ([`crate::convert`]); the |X|^2 accumulation is compiled for AVX2 as well as the
//! SSE2 baseline and picked at run time. Nothing is allocated per block.

use crate::convert::{convert_windowed, SampleFormat};
use crate::window::WindowKind;
use num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use std::fmt;
use std::sync::Arc;

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
        Self {
            fft_size: 4096,
            averages: 8,
            window: WindowKind::BlackmanHarris,
        }
    }
}

/// Smallest FFT size accepted: below this the window's main lobe (up to 5 bins each side for
/// the flat-top) is a large part of the band and the noise-floor estimate has too few bins.
pub const MIN_FFT_SIZE: usize = 16;

/// Welch averaged periodogram with frequency-ordered output.
///
/// Output scaling: a complex tone of amplitude A exactly on a bin centre reads A^2 in that bin
/// (divide by the window's coherent gain squared); white noise of variance s^2 reads
/// s^2 * ENBW / N per bin. Summing a signal's bins and dividing by ENBW (in bins) gives its
/// power.
#[derive(Clone)]
pub struct Welch {
    fft: Arc<dyn Fft<f32>>,
    /// The window divided by its sum, so that |X|^2 needs no further scaling for a tone to read
    /// A^2; each coefficient twice, for I and Q, so the multiply needs no shuffles.
    window: Vec<[f32; 2]>,
    /// The frame being filled, already windowed; transformed in place once full.
    frame: Vec<Complex32>,
    filled: usize,
    scratch: Vec<Complex32>,
    /// Sum of |X|^2 over the frames of the current average, in FFT (not frequency) order;
    /// only the first `frames` frames' worth is meaningful (the first frame overwrites it).
    accum: Vec<f32>,
    frames: usize,
    averages: usize,
    /// The last completed average, frequency-ordered.
    psd: Vec<f32>,
    /// Averages completed since the last reset: with contiguous, non-overlapping frames this
    /// alone gives the first sample of the next one.
    completed: u64,
}

impl fmt::Debug for Welch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Welch")
            .field("fft_size", &self.frame.len())
            .field("averages", &self.averages)
            .field("filled", &self.filled)
            .field("frames", &self.frames)
            .field("completed", &self.completed)
            .finish_non_exhaustive()
    }
}

impl Welch {
    /// Plans the FFT and allocates every buffer.
    ///
    /// # Panics
    /// If `fft_size` is not a power of two >= 16 or `averages` is 0.
    pub fn new(config: &SpectrumConfig) -> Self {
        let n = config.fft_size;
        assert!(
            n.is_power_of_two() && n >= MIN_FFT_SIZE,
            "fft_size must be a power of two >= {MIN_FFT_SIZE}, got {n}"
        );
        assert!(config.averages > 0, "averages must be at least 1");
        let fft = FftPlanner::<f32>::new().plan_fft_forward(n);
        let raw: Vec<f64> = (0..n).map(|i| config.window.coefficient(i, n)).collect();
        let sum: f64 = raw.iter().sum();
        Self {
            scratch: vec![Complex32::default(); fft.get_inplace_scratch_len()],
            fft,
            window: raw.iter().map(|w| [(w / sum) as f32; 2]).collect(),
            frame: vec![Complex32::default(); n],
            filled: 0,
            accum: vec![0.0; n],
            frames: 0,
            averages: config.averages,
            psd: vec![0.0; n],
            completed: 0,
        }
    }

    /// The FFT size N.
    pub fn fft_size(&self) -> usize {
        self.frame.len()
    }

    /// Feeds samples. Every time K frames are complete, calls `on_psd(psd, first_sample)`
    /// with the frequency-ordered spectrum (index 0 = lowest frequency, N/2 = centre) and
    /// the index, counted from the last [`Welch::reset`], of the first sample of those frames.
    ///
    /// Blocks of any length are accepted; a partial frame is kept for the next call. Allocates
    /// nothing.
    pub fn push(&mut self, samples: &[Complex32], mut on_psd: impl FnMut(&[f32], u64)) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.frame.len() - self.filled).min(rest.len());
            let (now, later) = rest.split_at(take);
            let span = self.filled..self.filled + take;
            apply_window(&mut self.frame[span.clone()], now, &self.window[span]);
            rest = later;
            self.frame_filled(take, &mut on_psd);
        }
    }

    /// Like [`Welch::push`], for raw interleaved samples in `format`: the conversion is fused
    /// with the window multiply ([`crate::convert::convert_windowed`]), so the spectra are
    /// bit-identical to converting first and calling [`Welch::push`], in one pass over the
    /// bytes. Trailing bytes that do not make a whole sample are ignored (keep them for the
    /// next call); returns how many bytes were consumed. Allocates nothing.
    pub fn push_bytes(
        &mut self,
        format: SampleFormat,
        bytes: &[u8],
        mut on_psd: impl FnMut(&[f32], u64),
    ) -> usize {
        let size = format.bytes_per_sample();
        let consumed = bytes.len() / size * size;
        let mut rest = &bytes[..consumed];
        while !rest.is_empty() {
            let take = (self.frame.len() - self.filled).min(rest.len() / size);
            let (now, later) = rest.split_at(take * size);
            let span = self.filled..self.filled + take;
            convert_windowed(format, now, &self.window[span.clone()], &mut self.frame[span]);
            rest = later;
            self.frame_filled(take, &mut on_psd);
        }
        consumed
    }

    /// Books `take` more windowed samples into the frame; once it is full, transforms it and
    /// accumulates its |X|^2, and once K frames are in, hands the average to `on_psd`.
    fn frame_filled(&mut self, take: usize, on_psd: &mut impl FnMut(&[f32], u64)) {
        let n = self.frame.len();
        self.filled += take;
        if self.filled < n {
            return;
        }
        self.fft.process_with_scratch(&mut self.frame, &mut self.scratch);
        accumulate_power(&mut self.accum, &self.frame, self.frames == 0);
        self.filled = 0;
        self.frames += 1;
        if self.frames == self.averages {
            self.finish_average();
            let first_sample = (self.completed - 1) * (self.averages * n) as u64;
            on_psd(&self.psd, first_sample);
        }
    }

    /// Moves the accumulated average into `psd` in frequency order (fftshift) and clears it.
    fn finish_average(&mut self) {
        let half = self.frame.len() / 2;
        let scale = 1.0 / self.averages as f32;
        let (negative, positive) = self.psd.split_at_mut(half);
        for (dst, &acc) in negative.iter_mut().zip(&self.accum[half..]) {
            *dst = acc * scale;
        }
        for (dst, &acc) in positive.iter_mut().zip(&self.accum[..half]) {
            *dst = acc * scale;
        }
        self.frames = 0;
        self.completed += 1;
    }

    /// Drops any partial frame and average (after a discontinuity) and restarts the sample count.
    pub fn reset(&mut self) {
        self.filled = 0;
        self.frames = 0;
        self.completed = 0;
    }
}

/// `frame[i] = x[i] * window[i]`.
fn apply_window(frame: &mut [Complex32], x: &[Complex32], window: &[[f32; 2]]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise the
        // same safe code as the fallback.
        unsafe { apply_window_avx2(frame, x, window) };
        return;
    }
    apply_window_generic(frame, x, window);
}

/// [`apply_window`] compiled for AVX2 (8 lanes instead of the baseline's 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn apply_window_avx2(frame: &mut [Complex32], x: &[Complex32], window: &[[f32; 2]]) {
    apply_window_generic(frame, x, window);
}

#[inline(always)]
fn apply_window_generic(frame: &mut [Complex32], x: &[Complex32], window: &[[f32; 2]]) {
    for ((dst, &x), w) in frame.iter_mut().zip(x).zip(window) {
        *dst = Complex32::new(x.re * w[0], x.im * w[1]);
    }
}

/// `accum[i] (+)= |frame[i]|^2`; the first frame of an average overwrites the accumulator,
/// which saves clearing it.
fn accumulate_power(accum: &mut [f32], frame: &[Complex32], first: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise the
        // same safe code as the fallback.
        unsafe { accumulate_power_avx2(accum, frame, first) };
        return;
    }
    accumulate_power_generic(accum, frame, first);
}

/// [`accumulate_power`] compiled for AVX2 (8 lanes instead of the baseline's 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_power_avx2(accum: &mut [f32], frame: &[Complex32], first: bool) {
    accumulate_power_generic(accum, frame, first);
}

#[inline(always)]
fn accumulate_power_generic(accum: &mut [f32], frame: &[Complex32], first: bool) {
    if first {
        for (acc, x) in accum.iter_mut().zip(frame) {
            *acc = x.norm_sqr();
        }
    } else {
        for (acc, x) in accum.iter_mut().zip(frame) {
            *acc += x.norm_sqr();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    fn complex_noise(rng: &mut SmallRng, len: usize, variance: f64) -> Vec<Complex32> {
        let s = (variance / 2.0).sqrt();
        (0..len)
            .map(|_| {
                let (re, im): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
                Complex32::new((s * re) as f32, (s * im) as f32)
            })
            .collect()
    }

    /// The documented estimator written out longhand: direct DFT in f64 of each windowed frame,
    /// |X|^2 / (sum w)^2 averaged over K frames, then reordered by frequency.
    fn naive_welch(x: &[Complex32], n: usize, k: usize, window: WindowKind) -> Vec<f64> {
        let w: Vec<f64> = (0..n).map(|i| window.coefficient(i, n)).collect();
        let sum: f64 = w.iter().sum();
        let mut out = vec![0.0; n];
        for frame in x.chunks_exact(n).take(k) {
            for (j, o) in out.iter_mut().enumerate() {
                // Frequency-ordered index j is DFT bin j - N/2 (mod N).
                let bin = (j + n / 2) % n;
                let (mut re, mut im) = (0.0, 0.0);
                for (t, (s, wt)) in frame.iter().zip(&w).enumerate() {
                    let ph = -2.0 * std::f64::consts::PI * ((bin * t) % n) as f64 / n as f64;
                    let (xr, xi) = (s.re as f64 * wt, s.im as f64 * wt);
                    re += xr * ph.cos() - xi * ph.sin();
                    im += xr * ph.sin() + xi * ph.cos();
                }
                *o += (re * re + im * im) / (sum * sum) / k as f64;
            }
        }
        out
    }

    /// Welch against a direct DFT, every window, noise plus an off-bin tone: every bin within
    /// 1e-4 relative. (K = 4 averages keep every bin well away from zero, where an f32 FFT's
    /// absolute rounding error would dominate a relative comparison.)
    #[test]
    fn welch_matches_direct_dft() {
        let (n, k) = (256, 4);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut x = complex_noise(&mut rng, n * k, 1e-2);
        for (t, s) in x.iter_mut().enumerate() {
            *s += Complex32::from_polar(0.5, (2.0 * std::f64::consts::PI * 0.1234 * t as f64) as f32);
        }
        for window in WindowKind::ALL {
            let reference = naive_welch(&x, n, k, window);
            let mut welch = Welch::new(&SpectrumConfig {
                fft_size: n,
                averages: k,
                window,
            });
            let mut calls = 0;
            welch.push(&x, |psd, first| {
                calls += 1;
                assert_eq!(first, 0);
                for (j, (&got, &want)) in psd.iter().zip(&reference).enumerate() {
                    let rel = (got as f64 - want).abs() / want;
                    assert!(rel < 1e-4, "{window} bin {j}: {got} vs {want} (rel {rel:e})");
                }
            });
            assert_eq!(calls, 1);
        }
    }

    /// Scaling: a full-scale tone on a bin centre reads 1.0 (to 1e-5) in that bin, at the
    /// frequency-ordered index N/2 + bin; noise of variance s^2 reads s^2 * ENBW / N on average
    /// (to 2 %: the mean of 64 Ki bins x 8 averages has a ~0.5 % standard deviation).
    #[test]
    fn tone_and_noise_scaling() {
        let n = 1024;
        for window in WindowKind::ALL {
            let config = SpectrumConfig {
                fft_size: n,
                averages: 2,
                window,
            };
            let mut welch = Welch::new(&config);
            let bin = -100i64;
            let tone: Vec<Complex32> = (0..2 * n)
                .map(|t| {
                    let ph = 2.0 * std::f64::consts::PI * (bin * t as i64) as f64 / n as f64;
                    Complex32::from_polar(1.0, ph as f32)
                })
                .collect();
            welch.push(&tone, |psd, _| {
                let j = (n as i64 / 2 + bin) as usize;
                assert!((psd[j] - 1.0).abs() < 1e-5, "{window}: {}", psd[j]);
            });

            let config = SpectrumConfig {
                fft_size: n,
                averages: 8,
                window,
            };
            let mut welch = Welch::new(&config);
            let mut rng = SmallRng::seed_from_u64(2);
            let variance = 0.25;
            let noise = complex_noise(&mut rng, n * 8 * 8, variance);
            let (mut sum, mut count) = (0.0, 0);
            welch.push(&noise, |psd, _| {
                sum += psd.iter().map(|&p| p as f64).sum::<f64>();
                count += psd.len();
            });
            let expected = variance * window.enbw_bins() / n as f64;
            let ratio = sum / count as f64 / expected;
            assert!(
                (ratio - 1.0).abs() < 0.02,
                "{window}: noise reads {ratio} x expected"
            );
        }
    }

    /// Blocks of any length give the same spectra, and the same first-sample indices, as one
    /// big block; a reset drops the partial frame and restarts the count.
    #[test]
    fn any_block_length_gives_same_spectra() {
        let config = SpectrumConfig {
            fft_size: 64,
            averages: 3,
            window: WindowKind::Hann,
        };
        let mut rng = SmallRng::seed_from_u64(3);
        let x = complex_noise(&mut rng, 64 * 3 * 5 + 17, 1.0);
        let mut whole = Vec::new();
        Welch::new(&config).push(&x, |psd, first| whole.push((psd.to_vec(), first)));
        assert_eq!(whole.len(), 5);
        assert_eq!(
            whole.iter().map(|w| w.1).collect::<Vec<_>>(),
            [0, 192, 384, 576, 768]
        );

        for block in [1, 7, 63, 64, 65, 500] {
            let mut welch = Welch::new(&config);
            let mut pieces = Vec::new();
            for chunk in x.chunks(block) {
                welch.push(chunk, |psd, first| pieces.push((psd.to_vec(), first)));
            }
            assert_eq!(pieces, whole, "block {block}");
        }

        let mut welch = Welch::new(&config);
        let mut after_reset = Vec::new();
        welch.push(&x[..100], |_, _| panic!("no complete average yet"));
        welch.reset();
        welch.push(&x, |psd, first| after_reset.push((psd.to_vec(), first)));
        assert_eq!(after_reset, whole);
    }

    /// Raw CS16 and CU8 bytes through `push_bytes`, in blocks of any byte length (odd ones
    /// included, the unconsumed tail carried over by the caller), give bit-identical spectra to
    /// converting first and calling `push`.
    #[test]
    fn push_bytes_matches_convert_then_push() {
        let config = SpectrumConfig {
            fft_size: 64,
            averages: 2,
            window: WindowKind::BlackmanHarris,
        };
        let mut rng = SmallRng::seed_from_u64(4);
        for format in [SampleFormat::Cs16Le, SampleFormat::Cu8, SampleFormat::Cf32Be] {
            let bytes: Vec<u8> = (0..64 * 2 * 3 * format.bytes_per_sample() + 5)
                .map(|_| rng.random::<u8>() & 0x7f)
                .collect();
            let mut samples = Vec::new();
            crate::convert::convert(format, &bytes, &mut samples);
            let mut want = Vec::new();
            Welch::new(&config).push(&samples, |psd, first| want.push((psd.to_vec(), first)));
            assert_eq!(want.len(), 3);
            for block in [1, 3, 64, 1000] {
                let mut welch = Welch::new(&config);
                let mut got = Vec::new();
                let mut pending = Vec::new();
                for chunk in bytes.chunks(block) {
                    pending.extend_from_slice(chunk);
                    let used =
                        welch.push_bytes(format, &pending, |psd, first| got.push((psd.to_vec(), first)));
                    pending.drain(..used);
                }
                assert_eq!(got, want, "{format:?} block {block}");
            }
        }
    }
}
