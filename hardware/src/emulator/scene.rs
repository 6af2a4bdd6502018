//! What the emulated receiver hears: tones at fixed offsets from the centre plus complex
//! Gaussian noise, generated block by block at whatever rate the client commanded.

use num_complex::Complex64;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// One continuous-wave tone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tone {
    /// Offset from the tuned centre frequency, Hz (negative below the centre).
    pub offset_hz: f64,
    /// Peak amplitude of the complex exponential (1.0 is full scale).
    pub amplitude: f64,
}

/// The signals the emulator streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Tones, relative to whatever centre the client tunes to.
    pub tones: Vec<Tone>,
    /// RMS of the complex noise, `sqrt(E|n|^2)` (each of I and Q gets half the power).
    pub noise_rms: f64,
    /// Seed of the noise generator (each connection derives its own stream from it).
    pub seed: u64,
}

impl Default for Scene {
    /// One tone 12.5 kHz above the centre at amplitude 0.5, noise 40 dB below it.
    fn default() -> Self {
        Self {
            tones: vec![Tone {
                offset_hz: 12_500.0,
                amplitude: 0.5,
            }],
            noise_rms: 0.005,
            seed: 1,
        }
    }
}

/// Generates a scene's samples at one sample rate, continuing phase from block to block.
#[derive(Debug)]
pub struct SceneGenerator {
    /// Per tone: current phasor and per-sample rotation.
    tones: Vec<(Complex64, Complex64, f64)>,
    sigma: f64,
    rng: SmallRng,
}

impl SceneGenerator {
    /// A generator of `scene` at `sample_rate_hz`, its noise seeded with `scene.seed ^ stream`.
    pub fn new(scene: &Scene, sample_rate_hz: f64, stream: u64) -> Self {
        let tones = scene
            .tones
            .iter()
            .map(|tone| {
                let step = std::f64::consts::TAU * tone.offset_hz / sample_rate_hz;
                (
                    Complex64::new(1.0, 0.0),
                    Complex64::from_polar(1.0, step),
                    tone.amplitude,
                )
            })
            .collect();
        Self {
            tones,
            sigma: scene.noise_rms / std::f64::consts::SQRT_2,
            rng: SmallRng::seed_from_u64(scene.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        }
    }

    /// Fills `bytes` (a whole number of CF32 samples) with the next samples, little-endian.
    ///
    /// # Panics
    /// If `bytes.len()` is not a multiple of 8.
    pub fn fill_cf32_le(&mut self, bytes: &mut [u8]) {
        assert_eq!(bytes.len() % 8, 0, "CF32 samples are 8 bytes");
        for out in bytes.chunks_exact_mut(8) {
            let mut sample = Complex64::new(0.0, 0.0);
            if self.sigma > 0.0 {
                let i: f64 = self.rng.sample(StandardNormal);
                let q: f64 = self.rng.sample(StandardNormal);
                sample += Complex64::new(i, q) * self.sigma;
            }
            for (phasor, step, amplitude) in &mut self.tones {
                sample += *phasor * *amplitude;
                *phasor *= *step;
            }
            out[..4].copy_from_slice(&(sample.re as f32).to_le_bytes());
            out[4..].copy_from_slice(&(sample.im as f32).to_le_bytes());
        }
        // Rounding makes a repeatedly multiplied phasor drift off the unit circle; renormalise
        // once per block, which keeps the error far below f32 resolution.
        for (phasor, _, _) in &mut self.tones {
            *phasor /= phasor.norm();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_rotates_at_its_offset_and_keeps_its_amplitude() {
        let scene = Scene {
            tones: vec![Tone {
                offset_hz: 1_000.0,
                amplitude: 0.25,
            }],
            noise_rms: 0.0,
            seed: 0,
        };
        let rate = 100e3;
        let mut generator = SceneGenerator::new(&scene, rate, 0);
        let mut bytes = vec![0u8; 8 * 4096];
        // Many blocks, so drift of the phasor would show.
        for _ in 0..100 {
            generator.fill_cf32_le(&mut bytes);
        }
        let n0 = 99 * 4096;
        for (k, chunk) in bytes.chunks_exact(8).enumerate() {
            let re = f32::from_le_bytes(chunk[..4].try_into().unwrap()) as f64;
            let im = f32::from_le_bytes(chunk[4..].try_into().unwrap()) as f64;
            let phase = std::f64::consts::TAU * 1_000.0 * (n0 + k) as f64 / rate;
            let expected = Complex64::from_polar(0.25, phase);
            assert!((Complex64::new(re, im) - expected).norm() < 1e-5, "sample {k}");
        }
    }

    #[test]
    fn noise_has_the_configured_rms() {
        let scene = Scene {
            tones: vec![],
            noise_rms: 0.1,
            seed: 7,
        };
        let mut generator = SceneGenerator::new(&scene, 100e3, 3);
        let mut bytes = vec![0u8; 8 * 100_000];
        generator.fill_cf32_le(&mut bytes);
        let power: f64 = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .map(|x| x * x)
            .sum::<f64>()
            / 100_000.0;
        // 200k squared Gaussians: the relative standard error of the power is ~0.3 %.
        assert!((power.sqrt() - 0.1).abs() < 0.002, "rms {}", power.sqrt());
    }
}
