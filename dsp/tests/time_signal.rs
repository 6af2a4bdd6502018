//! Delay estimation on a long-wave time signal (issue 14, acceptance 3): a carrier with slow
//! amplitude keying and pseudo-random phase keying, as a KiwiSDR tuned to a station such as
//! DCF77 receives it in a 12 kHz channel. Nearly all its power is the carrier, which carries no
//! timing information; the keyed band is a few hundred Hz wide, so its delay is only well
//! defined when it is correlated over many seconds and the whole keyed band.
//!
//! The generator is this test's own, from the published structure of such a signal: every
//! second the carrier drops to 15 % for 100 ms (a 0 bit) or 200 ms (a 1 bit); from 200 ms the
//! phase is keyed +-15.6 degrees by a 512-chip sequence (a 9-bit maximal-length shift
//! register) at 645.8 chips/s (77.5 kHz / 120), inverted for a 1 bit. The delay is applied
//! exactly (a phase ramp on the spectrum) and each receiver adds white noise.
//!
//! Against theory: the Cramer-Rao bound for a delay between two noisy copies of a signal with
//! per-bin power S_k, noises N_a and N_b and an unknown carrier phase,
//!
//! ```text
//! var(tau) >= 1 / (2 sum_k (w_k - w_mean)^2 g_k),   g_k = combined SNR of S_k / N_a and S_k / N_b,
//! ```
//!
//! w_mean the g-weighted mean frequency (the phase is fitted jointly); for a flat band it is
//! `sdrhub_dsp::delay::delay_crlb_s2`. It is evaluated on each trial's own signal spectrum.

mod common;

use common::{complex_normal, mean_var};
use num_complex::{Complex32, Complex64};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rustfft::FftPlanner;
use sdrhub_dsp::delay::{combined_snr, DelayEstimator};
use std::f64::consts::{PI, TAU};

const FS: f64 = 12_000.0;
/// Chips per second: the carrier frequency over 120.
const CHIP_RATE: f64 = 77_500.0 / 120.0;
/// Chips per second's sequence.
const CHIPS: usize = 512;
/// Phase deviation of the keying, rad.
const DEVIATION: f64 = 15.6 * PI / 180.0;
/// Carrier level during the amplitude keying.
const KEYED_LEVEL: f64 = 0.15;

/// The 512-chip sequence: a 9-bit maximal-length shift register (x^9 + x^5 + 1), the first chip
/// of 511 repeated to fill 512.
fn chip_sequence() -> [bool; CHIPS] {
    let mut register: u16 = 0x1FF;
    let mut chips = [false; CHIPS];
    for chip in chips.iter_mut() {
        let out = register & 1;
        let feedback = (register ^ (register >> 4)) & 1;
        register = (register >> 1) | (feedback << 8);
        *chip = out == 1;
    }
    chips
}

/// `len` samples of the time signal starting `offset_s` into a second, bits drawn from `rng`.
fn time_signal(rng: &mut SmallRng, len: usize, offset_s: f64) -> Vec<Complex64> {
    let chips = chip_sequence();
    let seconds = (len as f64 / FS + offset_s).ceil() as usize + 1;
    let bits: Vec<bool> = (0..seconds).map(|_| rng.random_bool(0.5)).collect();
    (0..len)
        .map(|n| {
            let t = n as f64 / FS + offset_s;
            let second = t.floor() as usize;
            let u = t - t.floor();
            let bit = bits[second];
            let level = if u < 0.1 || (bit && u < 0.2) {
                KEYED_LEVEL
            } else {
                1.0
            };
            let chip = ((u - 0.2) * CHIP_RATE).floor();
            let phase = if (0.0..CHIPS as f64).contains(&chip) {
                if chips[chip as usize] ^ bit {
                    DEVIATION
                } else {
                    -DEVIATION
                }
            } else {
                0.0
            };
            Complex64::from_polar(level, phase)
        })
        .collect()
}

/// `signal` delayed by `delay` samples (exactly: a phase ramp on its periodic spectrum) and
/// rotated by `phase`.
fn delayed(signal: &[Complex64], delay: f64, phase: f64) -> Vec<Complex64> {
    let n = signal.len();
    let mut planner = FftPlanner::<f64>::new();
    let mut buffer = signal.to_vec();
    planner.plan_fft_forward(n).process(&mut buffer);
    for (k, x) in buffer.iter_mut().enumerate() {
        let f = if k < n - n / 2 {
            k as f64
        } else {
            k as f64 - n as f64
        } / n as f64;
        *x *= Complex64::from_polar(1.0 / n as f64, phase - TAU * f * delay);
    }
    planner.plan_fft_inverse(n).process(&mut buffer);
    buffer
}

fn with_noise(rng: &mut SmallRng, clean: &[Complex64], noise: f64) -> Vec<Complex32> {
    clean
        .iter()
        .map(|s| {
            let v = s + complex_normal(rng, noise);
            Complex32::new(v.re as f32, v.im as f32)
        })
        .collect()
}

/// The Cramer-Rao bound (samples^2) for `clean` observed through noises of per-sample power
/// `noise_a` and `noise_b`, from its own spectrum.
fn crlb_samples2(clean: &[Complex64], noise_a: f64, noise_b: f64) -> f64 {
    let n = clean.len();
    let mut spectrum = clean.to_vec();
    FftPlanner::<f64>::new()
        .plan_fft_forward(n)
        .process(&mut spectrum);
    // Per-bin signal energy and noise energy (an unnormalised FFT sums n samples' noise).
    let (na, nb) = (noise_a * n as f64, noise_b * n as f64);
    let bins: Vec<(f64, f64)> = spectrum
        .iter()
        .enumerate()
        .map(|(k, x)| {
            let f = if k < n - n / 2 {
                k as f64
            } else {
                k as f64 - n as f64
            } / n as f64;
            let s = x.norm_sqr();
            (TAU * f, combined_snr(s / na, s / nb))
        })
        .collect();
    let total: f64 = bins.iter().map(|b| b.1).sum();
    let mean_w = bins.iter().map(|b| b.0 * b.1).sum::<f64>() / total;
    let information: f64 = bins.iter().map(|(w, g)| (w - mean_w).powi(2) * g).sum();
    1.0 / (2.0 * information)
}

#[test]
fn the_chip_sequence_is_maximal_length() {
    // A maximal-length sequence of 511 has 256 ones and 255 zeros per period.
    let chips = chip_sequence();
    assert_eq!(chips[..511].iter().filter(|&&c| c).count(), 256);
    assert_eq!(chips[511], chips[0]);
}

/// Outcome of a Monte Carlo run, samples.
#[derive(Debug)]
struct Run {
    estimates: usize,
    refused: usize,
    bias: f64,
    std: f64,
    crlb_std: f64,
    reported_over_observed: f64,
    band_hz: (f64, f64),
}

/// `trials` pairs of 8 s snippets, delays uniform in +-20 samples, noise of `noise` per sample
/// (the carrier's power is 1) in each receiver.
fn monte_carlo(seed: u64, noise: f64, trials: usize) -> Run {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (len, max_lag, pad) = (96_000, 32, 64);
    let mut estimator = DelayEstimator::new(len, max_lag, FS);
    let (mut errors, mut reported, mut bound) = (Vec::new(), 0.0, 0.0);
    let (mut refused, mut band) = (0, (0.0, 0.0));
    for _ in 0..trials {
        let offset = rng.random_range(0.0..1.0);
        let clean = time_signal(&mut rng, len + 2 * pad, offset);
        let delay = rng.random_range(-20.0..20.0);
        let other_clean = delayed(&clean, delay, rng.random_range(0.0..TAU));
        let reference = with_noise(&mut rng, &clean[pad..pad + len], noise);
        let other = with_noise(&mut rng, &other_clean[pad..pad + len], noise);
        estimator.set_reference(&reference).unwrap();
        match estimator.estimate(&other) {
            Ok(e) => {
                errors.push(e.delay_samples - delay);
                reported += e.variance_s2 * FS * FS;
                bound += crlb_samples2(&clean[pad..pad + len], noise, noise);
                band.0 += e.band_low_hz;
                band.1 += e.band_high_hz;
            }
            Err(_) => refused += 1,
        }
    }
    let n = errors.len() as f64;
    let (bias, var) = mean_var(&errors);
    Run {
        estimates: errors.len(),
        refused,
        bias,
        std: var.sqrt(),
        crlb_std: (bound / n).sqrt(),
        reported_over_observed: reported / n / var,
        band_hz: (band.0 / n, band.1 / n),
    }
}

impl Run {
    fn report(&self, name: &str) {
        eprintln!(
            "time signal, {name}: {} estimates ({} refused), bias {:+.4} samples, std {:.4} samples ({:.2} us), \
             CRLB std {:.4} samples, std/CRLB {:.3}, reported/observed variance {:.3}, mean band {:.0}..{:.0} Hz",
            self.estimates,
            self.refused,
            self.bias,
            self.std,
            self.std / FS * 1e6,
            self.crlb_std,
            self.std / self.crlb_std,
            self.reported_over_observed,
            self.band_hz.0,
            self.band_hz.1
        );
    }
}

#[test]
fn a_long_wave_time_signal_is_timed_within_1_5_times_its_crlb() {
    // The keyed band's per-bin SNR where the recordings of real receivers 300-400 km from a
    // long-wave time signal put it (their cross-spectra are 98-99 % coherent over the keyed
    // band's main lobe; here 96 %): the carrier 20 dB above the noise of the whole 12 kHz
    // channel. Two seeds.
    for (seed, noise_db) in [(15, -20.0), (14, -20.0)] {
        let run = monte_carlo(seed, 10f64.powf(noise_db / 10.0), 100);
        run.report(&format!("noise {noise_db} dB"));
        assert_eq!(run.refused, 0, "{run:?}");
        assert!(run.bias.abs() < 0.25 * run.std, "{run:?}");
        let ratio = run.std / run.crlb_std;
        assert!(ratio < 1.5, "std is {ratio:.2} x the CRLB: {run:?}");
        // Never over-confident; at high SNR the variance from the phase residuals errs on the
        // safe side for a keyed carrier (its bins' noise is not independent, as the formula
        // assumes for a stationary signal), by up to 1.6 here.
        let honesty = run.reported_over_observed;
        assert!(
            honesty > 1.0 / 1.5 && honesty < 2.0,
            "reported/observed {honesty}: {run:?}"
        );
    }
}

/// Not met, measured for the README: as the keyed band's sidebands sink towards the noise bin
/// by bin, the plain correlation (every bin of the band weighted by its cross-spectrum, not by
/// its own SNR) leaves the bound: 1.7-2.1 x from the carrier 15 dB above the channel's noise
/// down to 3 dB below it (`cargo test -p sdrhub-dsp --release --test time_signal -- --ignored
/// --nocapture`).
#[test]
#[ignore = "a measurement for the README, not a requirement"]
fn a_weak_time_signal_measured() {
    for noise_db in [-15.0, -10.0, 0.0, 3.0] {
        monte_carlo(16, 10f64.powf(noise_db / 10.0), 100).report(&format!("noise {noise_db} dB"));
    }
}
