//! Writing Kiwi WAV files.

use super::{GpsStamp, KiwiWavInfo, KIWI_CHUNK_LEN};
use crate::kiwi::protocol::{to_i16, SAMPLES_PER_FRAME};
use crate::recording::RecordingError;
use crate::source::IqBlock;
use num_complex::Complex32;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Writes a Kiwi WAV file.
#[derive(Debug)]
pub struct KiwiWavWriter {
    path: PathBuf,
    file: BufWriter<File>,
    bytes_after_riff: u64,
    frames: u64,
    pending: Vec<Complex32>,
    pending_time: Option<(i64, bool)>,
    sample_rate_hz: f64,
    bytes: Vec<u8>,
}

impl KiwiWavWriter {
    /// Creates `path` (replacing it) for a stream at `sample_rate_hz`, with `info` in an `sdrh`
    /// chunk when given.
    ///
    /// # Errors
    /// When the file cannot be written, or the rate is not a positive number below 4 GHz.
    pub fn create(
        path: &Path,
        sample_rate_hz: f64,
        info: Option<&KiwiWavInfo>,
    ) -> Result<Self, RecordingError> {
        if !(1.0..4e9).contains(&sample_rate_hz) {
            return Err(RecordingError::Invalid(format!(
                "{}: sample rate {sample_rate_hz} Hz cannot be written to a WAV header",
                path.display()
            )));
        }
        let io = |e| RecordingError::io(path, e);
        let file = File::create(path).map_err(io)?;
        let mut writer = Self {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            bytes_after_riff: 0,
            frames: 0,
            pending: Vec::with_capacity(SAMPLES_PER_FRAME),
            pending_time: None,
            sample_rate_hz,
            bytes: Vec::with_capacity(SAMPLES_PER_FRAME * 4),
        };
        let rate = sample_rate_hz.round() as u32;
        let mut head = Vec::with_capacity(64);
        head.extend_from_slice(b"RIFF");
        head.extend_from_slice(&0u32.to_le_bytes()); // patched by `finish`
        head.extend_from_slice(b"WAVE");
        head.extend_from_slice(b"fmt ");
        head.extend_from_slice(&16u32.to_le_bytes());
        head.extend_from_slice(&1u16.to_le_bytes()); // PCM
        head.extend_from_slice(&2u16.to_le_bytes()); // I and Q
        head.extend_from_slice(&rate.to_le_bytes());
        head.extend_from_slice(&(rate * 4).to_le_bytes()); // bytes per second
        head.extend_from_slice(&4u16.to_le_bytes()); // block align
        head.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
        if let Some(info) = info {
            let mut json = serde_json::to_vec(info).map_err(|e| RecordingError::Invalid(e.to_string()))?;
            if json.len() % 2 == 1 {
                json.push(b' '); // RIFF chunks are padded to even length
            }
            head.extend_from_slice(b"sdrh");
            head.extend_from_slice(&(json.len() as u32).to_le_bytes());
            head.extend_from_slice(&json);
        }
        writer.file.write_all(&head).map_err(io)?;
        writer.bytes_after_riff = head.len() as u64 - 8;
        Ok(writer)
    }

    /// Writes one frame: its GPS stamp and samples (scaled so 1.0 is int16 full scale,
    /// rounded and clipped).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_frame(&mut self, stamp: GpsStamp, samples: &[Complex32]) -> Result<(), RecordingError> {
        let mut chunk = Vec::with_capacity(18);
        chunk.extend_from_slice(b"kiwi");
        chunk.extend_from_slice(&KIWI_CHUNK_LEN.to_le_bytes());
        chunk.push(stamp.last_gps_solution);
        chunk.push(0);
        chunk.extend_from_slice(&stamp.gps_sec.to_le_bytes());
        chunk.extend_from_slice(&stamp.gps_nsec.to_le_bytes());
        self.bytes.clear();
        self.bytes.extend_from_slice(b"data");
        self.bytes
            .extend_from_slice(&((samples.len() * 4) as u32).to_le_bytes());
        for s in samples {
            self.bytes.extend_from_slice(&to_i16(s.re).to_le_bytes());
            self.bytes.extend_from_slice(&to_i16(s.im).to_le_bytes());
        }
        let io = |e| RecordingError::io(&self.path, e);
        self.file.write_all(&chunk).map_err(io)?;
        self.file.write_all(&self.bytes).map_err(io)?;
        self.bytes_after_riff += (chunk.len() + self.bytes.len()) as u64;
        self.frames += 1;
        Ok(())
    }

    /// Writes a block as frames of 512 samples, each stamped with its time from the block
    /// (fresh when the block is GPS-locked). A partial frame waits for the next block; a
    /// discontinuity flushes it.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_block(&mut self, block: &IqBlock) -> Result<(), RecordingError> {
        if block.discontinuity {
            self.flush_partial()?;
        }
        let mut index = 0;
        while index < block.samples.len() {
            if self.pending.is_empty() {
                self.pending_time = Some((block.sample_time_ns(index as i64), block.gps_locked));
            }
            let take = (SAMPLES_PER_FRAME - self.pending.len()).min(block.samples.len() - index);
            self.pending
                .extend_from_slice(&block.samples[index..index + take]);
            index += take;
            if self.pending.len() == SAMPLES_PER_FRAME {
                self.flush_partial()?;
            }
        }
        Ok(())
    }

    fn flush_partial(&mut self) -> Result<(), RecordingError> {
        if let Some((time, locked)) = self.pending_time.take() {
            let samples = std::mem::take(&mut self.pending);
            self.write_frame(GpsStamp::from_unix_ns(time, locked), &samples)?;
            self.pending = samples;
            self.pending.clear();
        }
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The sample rate the file was created for.
    pub fn sample_rate_hz(&self) -> f64 {
        self.sample_rate_hz
    }

    /// Writes any partial frame, fixes the RIFF size and closes the file.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn finish(mut self) -> Result<(), RecordingError> {
        self.flush_partial()?;
        let io = |e| RecordingError::io(&self.path, e);
        self.file.flush().map_err(io)?;
        let file = self.file.get_mut();
        file.seek(SeekFrom::Start(4)).map_err(io)?;
        let size = u32::try_from(self.bytes_after_riff).unwrap_or(u32::MAX);
        file.write_all(&size.to_le_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }
}
