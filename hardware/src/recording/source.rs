//! A recording replayed as an [`IqSource`], so recordings run through the live pipeline.

use super::reader::{Recording, RecordingReader};
use crate::acquisition::now_ns;
use crate::source::{IqBlock, IqSource, ReadOutcome, ReceiverInfo, SourceBuilder, SourceError, SourceKind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Samples per block by default: the simulated scene's default block size, 16 ms at 1 MS/s.
pub const DEFAULT_BLOCK_SAMPLES: usize = 16_384;

/// Largest block: a block is allocated per receiver and handed through queues, so its size
/// bounds memory (4 Mi samples = 32 MiB), as for the simulated scene.
pub const MAX_BLOCK_SAMPLES: usize = 1 << 22;

/// Which clock a replay's block timestamps follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplayClock {
    /// The recording's own: its first capture's `core:datetime` plus the sample index over the
    /// rate. A recording without a datetime starts at the moment the source is opened.
    #[default]
    Recorded,
    /// The moment the source is (first) opened plus the sample index over the rate: a replay
    /// that looks live to the rest of the pipeline.
    Opened,
}

/// Opens replays of one recording. After a read error the acquisition worker reopens the
/// source; the replay resumes at the first sample not yet delivered.
#[derive(Debug, Clone)]
pub struct RecordingBuilder {
    recording: Recording,
    id: Arc<str>,
    name: String,
    block_samples: usize,
    paced: bool,
    clock: ReplayClock,
    /// Samples delivered so far, shared with the open source (for resuming after a fault).
    position: Arc<AtomicU64>,
    /// Time of sample 0, fixed at the first open.
    start_ns: Option<i64>,
}

impl RecordingBuilder {
    /// A builder for `recording`: id and name from the file name, [`DEFAULT_BLOCK_SAMPLES`],
    /// unpaced (blocks as fast as they are read), [`ReplayClock::Recorded`].
    pub fn new(recording: Recording) -> Self {
        let path = recording.meta_path().unwrap_or(recording.data_path());
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let id = super::reader::sigmf_base(Path::new(&file_name))
            .to_string_lossy()
            .into_owned();
        Self {
            recording,
            id: Arc::from(id),
            name: file_name,
            block_samples: DEFAULT_BLOCK_SAMPLES,
            paced: false,
            clock: ReplayClock::Recorded,
            position: Arc::new(AtomicU64::new(0)),
            start_ns: None,
        }
    }

    /// Sets the receiver id (unique in one hub).
    pub fn id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the human-readable name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the samples per block, clamped to `1..=MAX_BLOCK_SAMPLES`.
    pub fn block_samples(mut self, samples: usize) -> Self {
        self.block_samples = samples.clamp(1, MAX_BLOCK_SAMPLES);
        self
    }

    /// Releases each block only when its last sample is due in real time since the open (as
    /// the receiver that recorded it did), instead of as fast as it can be read.
    pub fn paced(mut self, paced: bool) -> Self {
        self.paced = paced;
        self
    }

    /// Chooses the clock of the block timestamps.
    pub fn clock(mut self, clock: ReplayClock) -> Self {
        self.clock = clock;
        self
    }

    /// The recording.
    pub fn recording(&self) -> &Recording {
        &self.recording
    }
}

impl SourceBuilder for RecordingBuilder {
    fn info(&self) -> ReceiverInfo {
        let meta = self.recording.meta();
        ReceiverInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: SourceKind::File,
            position: meta.position,
            center_hz: meta.center_hz(),
            sample_rate_hz: meta.sample_rate_hz,
        }
    }

    fn open(&mut self) -> Result<Box<dyn IqSource>, SourceError> {
        let mut reader = self
            .recording
            .reader()
            .map_err(|e| SourceError::Open(e.to_string()))?;
        let resume = self.position.load(Ordering::Acquire);
        reader
            .seek(resume)
            .map_err(|e| SourceError::Open(e.to_string()))?;
        let opened = now_ns();
        let start_ns = *self.start_ns.get_or_insert(match self.clock {
            ReplayClock::Recorded => self.recording.meta().start_time_ns().unwrap_or(opened),
            ReplayClock::Opened => opened,
        });
        Ok(Box::new(RecordingSource {
            info: self.info(),
            reader,
            block_samples: self.block_samples,
            paced: self.paced,
            start_ns,
            opened: Instant::now(),
            first_sample: resume,
            position: self.position.clone(),
            seq: 0,
        }))
    }
}

/// A replay of a recording, block by block (see [`RecordingBuilder`]).
#[derive(Debug)]
pub struct RecordingSource {
    info: ReceiverInfo,
    reader: RecordingReader,
    block_samples: usize,
    paced: bool,
    start_ns: i64,
    /// When this source was opened, and the sample it started at: the pacing reference.
    opened: Instant,
    first_sample: u64,
    position: Arc<AtomicU64>,
    seq: u64,
}

impl RecordingSource {
    /// When the next block is due, measured from the open (pacing only).
    fn next_due(&self) -> Duration {
        let end = self.reader.position() + (self.block_samples as u64).min(self.reader.remaining());
        Duration::from_secs_f64((end - self.first_sample) as f64 / self.info.sample_rate_hz)
    }
}

impl IqSource for RecordingSource {
    fn read(&mut self, block: &mut IqBlock, timeout: Duration) -> Result<ReadOutcome, SourceError> {
        if self.reader.remaining() == 0 {
            return Ok(ReadOutcome::End);
        }
        if self.paced {
            let due = self.next_due();
            let deadline = self.opened.elapsed() + timeout;
            // Sleep until the block is due or the timeout ends; the loop guards against a sleep
            // that returns early.
            loop {
                let elapsed = self.opened.elapsed();
                if elapsed >= due {
                    break;
                }
                if elapsed >= deadline {
                    return Ok(ReadOutcome::Timeout);
                }
                std::thread::sleep(due.min(deadline) - elapsed);
            }
        }
        let index = self.reader.position();
        self.reader
            .read(self.block_samples, &mut block.samples)
            .map_err(|e| SourceError::Stream(e.to_string()))?;
        self.position.store(self.reader.position(), Ordering::Release);
        block.receiver_id = self.info.id.clone();
        block.center_hz = self.info.center_hz;
        block.sample_rate_hz = self.info.sample_rate_hz;
        block.time_ns = self.start_ns + (index as f64 * 1e9 / self.info.sample_rate_hz).round() as i64;
        block.gps_locked = false;
        block.seq = self.seq;
        block.discontinuity = false;
        block.receiver_stamp = None;
        self.seq += 1;
        Ok(ReadOutcome::Block)
    }
}
