//! Receiver noise: complex white Gaussian samples that are a pure function of
//! (seed, receiver, sample index).
//!
//! The stream is cut into chunks with their own generator seeded from (seed, receiver, chunk),
//! so the noise of a sample does not depend on where a block started or which blocks came
//! before: a source that skips blocks, or a test that seeks, sees the same noise.

use super::fastmath::hash_words;
use num_complex::Complex32;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// Samples per independently seeded chunk: reseeding costs about as much as a few samples, so
/// this keeps it negligible while bounding what a seek must skip.
const NOISE_CHUNK_SAMPLES: u64 = 4096;

/// Complex Gaussian noise of a given total variance.
#[derive(Debug, Clone)]
pub(crate) struct NoiseStream {
    key: u64,
    /// Standard deviation of each of I and Q.
    sigma: f32,
    /// Next sample index the generator will produce.
    next: u64,
    rng: SmallRng,
}

impl NoiseStream {
    /// Noise of total (I + Q) variance `variance` for receiver `receiver` of a scene seeded with `seed`.
    pub(crate) fn new(seed: u64, receiver: usize, variance: f64) -> Self {
        // The tag keeps noise independent of other streams drawn from the same (seed, index).
        let key = hash_words(&[seed, receiver as u64, u64::from_le_bytes(*b"noise\0\0\0")]);
        let mut stream = Self {
            key,
            sigma: (variance / 2.0).sqrt() as f32,
            next: 0,
            rng: SmallRng::seed_from_u64(0),
        };
        stream.seek(0);
        stream
    }

    /// Positions the stream at sample `n`.
    fn seek(&mut self, n: u64) {
        let chunk = n / NOISE_CHUNK_SAMPLES;
        self.rng = SmallRng::seed_from_u64(hash_words(&[self.key, chunk]));
        self.next = chunk * NOISE_CHUNK_SAMPLES;
        while self.next < n {
            self.sample();
        }
    }

    #[inline]
    fn sample(&mut self) -> Complex32 {
        let re: f64 = self.rng.sample(StandardNormal);
        let im: f64 = self.rng.sample(StandardNormal);
        self.next += 1;
        Complex32::new(re as f32 * self.sigma, im as f32 * self.sigma)
    }

    /// Overwrites `out` with the noise of samples `n0 .. n0 + out.len()`.
    pub(crate) fn fill(&mut self, n0: u64, out: &mut [Complex32]) {
        if n0 != self.next {
            self.seek(n0);
        }
        for sample in out {
            if self.next % NOISE_CHUNK_SAMPLES == 0 {
                self.seek(self.next);
            }
            *sample = self.sample();
        }
    }
}
