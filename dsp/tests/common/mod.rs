//! Simulated receiver snippets shared by the delay and TDOA tests and the benchmark: a
//! band-limited Gaussian signal delayed exactly (a phase ramp on its spectrum) and observed
//! through independent white noise.
#![allow(dead_code)]

use num_complex::{Complex32, Complex64};
use rand::rngs::SmallRng;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// One realisation of a band-limited complex Gaussian signal, kept as its spectrum on a
/// periodic buffer so that any delay can be applied exactly.
pub struct BandSignal {
    spectrum: Vec<Complex64>,
    inverse: Arc<dyn Fft<f64>>,
    /// Snippets are taken from this offset into the buffer, so that delays of up to it (either
    /// sign) never wrap into them.
    margin: usize,
    /// Snippet length, samples.
    pub len: usize,
    /// Fraction of the sample rate the signal occupies.
    pub occupancy: f64,
}

impl BandSignal {
    /// A signal of unit power per sample filling [`low`, `high`) (cycles per sample, within
    /// +-0.5), for snippets of `len` samples delayed by up to +-`max_delay` samples.
    pub fn new(rng: &mut SmallRng, len: usize, max_delay: f64, low: f64, high: f64) -> Self {
        let buffer = (len + 2 * (max_delay.ceil() as usize + 8)).next_power_of_two();
        let mut spectrum = vec![Complex64::new(0.0, 0.0); buffer];
        let mut count = 0usize;
        for (k, s) in spectrum.iter_mut().enumerate() {
            let f = signed(k, buffer) as f64 / buffer as f64;
            if f >= low && f < high {
                *s = complex_normal(rng, 1.0);
                count += 1;
            }
        }
        // The unnormalised inverse FFT gives power `count` per sample.
        let scale = 1.0 / (count as f64).sqrt();
        spectrum.iter_mut().for_each(|s| *s *= scale);
        let inverse = FftPlanner::<f64>::new().plan_fft_inverse(buffer);
        Self {
            spectrum,
            inverse,
            margin: (buffer - len) / 2,
            len,
            occupancy: count as f64 / buffer as f64,
        }
    }

    /// The snippet a receiver sees when the signal reaches it `delay` samples late, with carrier
    /// phase `phase` (rad) and amplitude `amplitude`, without noise.
    pub fn snippet(&self, delay: f64, phase: f64, amplitude: f64) -> Vec<Complex64> {
        let n = self.spectrum.len();
        let mut buffer: Vec<Complex64> = self
            .spectrum
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let f = signed(k, n) as f64 / n as f64;
                s * Complex64::from_polar(amplitude, phase - std::f64::consts::TAU * f * delay)
            })
            .collect();
        self.inverse.process(&mut buffer);
        buffer[self.margin..self.margin + self.len].to_vec()
    }
}

/// `clean` plus complex white noise of variance `noise_power`, as f32 samples.
pub fn noisy(rng: &mut SmallRng, clean: &[Complex64], noise_power: f64) -> Vec<Complex32> {
    clean
        .iter()
        .map(|s| {
            let v = s + complex_normal(rng, noise_power);
            Complex32::new(v.re as f32, v.im as f32)
        })
        .collect()
}

/// Noise power per sample that gives in-band SNR `snr` (linear) for a unit-power signal
/// occupying `occupancy` of the band.
pub fn noise_power_for(snr: f64, occupancy: f64) -> f64 {
    1.0 / (snr * occupancy)
}

pub fn complex_normal(rng: &mut SmallRng, power: f64) -> Complex64 {
    let s = (0.5 * power).sqrt();
    let (re, im): (f64, f64) = (StandardNormal.sample(rng), StandardNormal.sample(rng));
    Complex64::new(s * re, s * im)
}

pub fn db_to_linear(db: f64) -> f64 {
    10f64.powf(db / 10.0)
}

/// A random phase, rad.
pub fn random_phase(rng: &mut SmallRng) -> f64 {
    rng.random_range(0.0..std::f64::consts::TAU)
}

fn signed(k: usize, n: usize) -> isize {
    if k < n - n / 2 {
        k as isize
    } else {
        k as isize - n as isize
    }
}

/// Mean and (unbiased) variance.
pub fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}
