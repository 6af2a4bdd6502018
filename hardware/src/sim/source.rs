//! The scene's receivers as real-time [`IqSource`]s.

use super::generator::ReceiverGenerator;
use super::scene::Scene;
use crate::acquisition::now_ns;
use crate::source::{IqBlock, IqSource, ReadOutcome, ReceiverInfo, SourceBuilder, SourceError};
use std::time::Duration;

/// A source more than this far behind real time (the host was suspended, or the CPU cannot keep
/// up) skips ahead to the newest due block and flags a discontinuity, as a real receiver's
/// overflowing buffer would, instead of falling ever further behind.
const MAX_LAG_NS: i64 = 1_000_000_000;

/// Opens paced sources for one receiver of a scene.
#[derive(Debug, Clone)]
pub struct SimulatedBuilder {
    scene: Scene,
    receiver: usize,
    epoch_ns: i64,
}

impl SimulatedBuilder {
    pub(crate) fn new(scene: Scene, receiver: usize, epoch_ns: i64) -> Self {
        Self {
            scene,
            receiver,
            epoch_ns,
        }
    }
}

impl SourceBuilder for SimulatedBuilder {
    fn info(&self) -> ReceiverInfo {
        self.scene.receiver_info(self.receiver)
    }

    /// Opens the stream at the block in progress now, on the grid of whole blocks from the
    /// epoch, so a reopened source continues the same sample timeline.
    fn open(&mut self) -> Result<Box<dyn IqSource>, SourceError> {
        let mut source = SimulatedSource::new(&self.scene, self.receiver, self.epoch_ns);
        source.skip_to_block_in_progress(now_ns());
        Ok(Box::new(source))
    }
}

/// One receiver of a scene, releasing each block when the wall clock passes the time of its
/// last sample, as a real receiver would.
#[derive(Debug, Clone)]
pub struct SimulatedSource {
    generator: ReceiverGenerator,
    block_samples: usize,
    sample_rate_hz: f64,
    /// Samples were skipped since the last block.
    skipped: bool,
}

impl SimulatedSource {
    /// A source for receiver `rx` of `scene`, starting at sample 0 (taken at `epoch_ns`).
    ///
    /// # Panics
    /// If `rx` is out of range.
    pub fn new(scene: &Scene, rx: usize, epoch_ns: i64) -> Self {
        Self {
            generator: scene.generator(rx, epoch_ns),
            block_samples: scene.config().block_samples,
            sample_rate_hz: scene.config().sample_rate_hz,
            skipped: false,
        }
    }

    /// Moves to the block whose time span contains `time_ns` (0 before the epoch).
    fn skip_to_block_in_progress(&mut self, time_ns: i64) {
        let elapsed_s = Scene::scene_time_s(self.generator.epoch_ns(), time_ns).max(0.0);
        let block = (elapsed_s * self.sample_rate_hz / self.block_samples as f64).floor() as u64;
        self.generator.seek(block * self.block_samples as u64);
    }

    /// When the next block is complete (the time just after its last sample), ns since the Unix epoch.
    pub fn next_due_ns(&self) -> i64 {
        self.generator
            .sample_time_ns(self.generator.position() + self.block_samples as u64)
    }
}

impl IqSource for SimulatedSource {
    fn read(&mut self, block: &mut IqBlock, timeout: Duration) -> Result<ReadOutcome, SourceError> {
        let due = self.next_due_ns();
        let mut now = now_ns();
        if now < due {
            let timeout_ns = i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX);
            let deadline = now.saturating_add(timeout_ns);
            // Sleep until the block is due or the timeout ends, whichever is first; the loop
            // guards against a sleep that returns early.
            while now < due.min(deadline) {
                std::thread::sleep(Duration::from_nanos((due.min(deadline) - now) as u64));
                now = now_ns();
            }
            if now < due {
                return Ok(ReadOutcome::Timeout);
            }
        } else if now - due > MAX_LAG_NS {
            let before = self.generator.position();
            // The newest block that is complete: the one in progress, minus one.
            self.skip_to_block_in_progress(now);
            let in_progress = self.generator.position();
            self.generator
                .seek(in_progress.saturating_sub(self.block_samples as u64).max(before));
            self.skipped = self.generator.position() != before;
            tracing::warn!(
                receiver = %self.generator.receiver_id(),
                lag_ms = (now - due) / 1_000_000,
                "simulated source fell behind real time; skipping ahead"
            );
        }
        self.generator.fill(block, self.block_samples);
        block.discontinuity = std::mem::take(&mut self.skipped);
        Ok(ReadOutcome::Block)
    }
}
