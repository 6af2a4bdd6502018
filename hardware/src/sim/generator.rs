//! Unpaced generation of one receiver's samples, as fast as the CPU allows.

use super::noise::NoiseStream;
use super::path::PathRenderer;
use crate::source::{IqBlock, ReceiverInfo};
use num_complex::Complex32;
use std::sync::Arc;

/// Phasors are re-anchored from the absolute sample index at least this often, whatever the
/// block size, so f64 recurrence error stays below 1e-11 however large a block is.
const RENDER_CHUNK_SAMPLES: usize = 16_384;

/// Generates the samples of one receiver of a [`super::Scene`] on demand.
///
/// Sample n is taken at `epoch_ns + n / sample_rate`; its value depends only on the scene
/// configuration, the receiver, the epoch and n (and whether noise is on): seeking, skipping or
/// changing block sizes only changes anchoring round-off, below 1e-6 of full scale, and
/// equal-length blocks at the same index are bit-identical.
#[derive(Debug, Clone)]
pub struct ReceiverGenerator {
    info: ReceiverInfo,
    gps_locked: bool,
    epoch_ns: i64,
    next: u64,
    seq: u64,
    noise: NoiseStream,
    noise_enabled: bool,
    paths: Vec<PathRenderer>,
}

impl ReceiverGenerator {
    pub(crate) fn new(
        info: ReceiverInfo,
        gps_locked: bool,
        epoch_ns: i64,
        seed: u64,
        receiver: usize,
        noise_variance: f64,
        paths: Vec<PathRenderer>,
    ) -> Self {
        Self {
            info,
            gps_locked,
            epoch_ns,
            next: 0,
            seq: 0,
            noise: NoiseStream::new(seed, receiver, noise_variance),
            noise_enabled: true,
            paths,
        }
    }

    /// The receiver's static description.
    pub fn info(&self) -> &ReceiverInfo {
        &self.info
    }

    /// The receiver's id.
    pub fn receiver_id(&self) -> &Arc<str> {
        &self.info.id
    }

    /// Turns receiver noise on (the default) or off; off gives the bare signals, for tests that
    /// need exact waveforms.
    pub fn set_noise(&mut self, enabled: bool) {
        self.noise_enabled = enabled;
    }

    /// Index of the next sample [`Self::fill`] produces.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Makes sample `n` the next one produced (the block sequence number is unchanged).
    pub fn seek(&mut self, n: u64) {
        self.next = n;
    }

    /// The scene epoch, ns since the Unix epoch.
    pub fn epoch_ns(&self) -> i64 {
        self.epoch_ns
    }

    /// Time of sample `n`, ns since the Unix epoch.
    pub fn sample_time_ns(&self, n: u64) -> i64 {
        self.epoch_ns + (n as f64 * 1e9 / self.info.sample_rate_hz).round() as i64
    }

    /// Fills `block` with the next `n` samples and every metadata field (`seq` counts calls from
    /// 0; `discontinuity` is false).
    pub fn fill(&mut self, block: &mut IqBlock, n: usize) {
        block.receiver_id = self.info.id.clone();
        block.center_hz = self.info.center_hz;
        block.sample_rate_hz = self.info.sample_rate_hz;
        block.time_ns = self.sample_time_ns(self.next);
        block.gps_locked = self.gps_locked;
        block.seq = self.seq;
        block.discontinuity = false;
        block.receiver_stamp = None;
        self.seq += 1;
        block.samples.clear();
        block.samples.resize(n, Complex32::new(0.0, 0.0));
        self.fill_samples(&mut block.samples);
    }

    /// Overwrites `out` with the next `out.len()` samples.
    pub fn fill_samples(&mut self, out: &mut [Complex32]) {
        for chunk in out.chunks_mut(RENDER_CHUNK_SAMPLES) {
            let n0 = self.next;
            if self.noise_enabled {
                self.noise.fill(n0, chunk);
            } else {
                chunk.fill(Complex32::new(0.0, 0.0));
            }
            for path in &mut self.paths {
                path.render(n0, chunk);
            }
            self.next += chunk.len() as u64;
        }
    }
}
