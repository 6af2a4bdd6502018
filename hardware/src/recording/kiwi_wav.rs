//! Kiwi WAV: the IQ recording format of `kiwirecorder --kiwi-wav`, which public KiwiSDR TDoA
//! tooling consumes.
//!
//! RIFF/WAVE with a PCM `fmt ` chunk (2 channels I and Q, 16 bit, rate = round(fs)), then per
//! receiver frame a `kiwi` chunk of 10 bytes (u8 seconds since the last GPS solution, u8 0,
//! u32 GPS seconds of the week, u32 nanoseconds, little-endian) followed by a `data` chunk of
//! little-endian I/Q int16 pairs (512 of them from a KiwiSDR).
//!
//! sdrhub adds one optional `sdrh` chunk before the first frame: JSON naming the receiver, its
//! position, centre frequency, the exact sample rate and the recording's start time (which
//! resolves the GPS week). Readers that do not know it skip it, as RIFF readers must.
//!
//! Timing on replay follows the receiver's: when the `kiwi` chunks show fresh GPS solutions
//! (the seconds-since-solution count drops, as in files from a KiwiSDR) the samples are timed
//! by [`crate::kiwi::gps::GpsClock`] from those anchors; when every frame is stamped fresh (as
//! sdrhub writes them: each frame with its reconstructed GPS-disciplined time) each frame's
//! own stamp is used.

use super::RecordingError;
use crate::kiwi::gps::{gps_week_to_unix_ns, unix_ns_to_gps_week, GpsClock, MAX_FIX_AGE_S};
use crate::kiwi::protocol::{to_i16, SndHeader, FULL_SCALE, NO_GPS_FIX, SAMPLES_PER_FRAME};
use crate::source::{IqBlock, IqSource, ReadOutcome, ReceiverInfo, SourceBuilder, SourceError, SourceKind};
use num_complex::Complex32;
use sdrhub_dsp::geo::GeoPoint;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Bytes of a `kiwi` chunk's body.
const KIWI_CHUNK_LEN: u32 = 10;
/// Largest `data` chunk accepted: a frame is 2 KiB; a bigger chunk is a different file type.
const MAX_DATA_CHUNK: u32 = 1 << 20;

/// The GPS stamp of one frame, as in its `kiwi` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GpsStamp {
    /// Seconds since the receiver's last GPS solution (255: no fix).
    pub last_gps_solution: u8,
    /// GPS seconds of the week.
    pub gps_sec: u32,
    /// Nanoseconds.
    pub gps_nsec: u32,
}

impl GpsStamp {
    /// The stamp of a time (ns since the Unix epoch), fresh when `locked`, "no fix" otherwise.
    pub fn from_unix_ns(time_ns: i64, locked: bool) -> Self {
        let (gps_sec, gps_nsec) = unix_ns_to_gps_week(time_ns);
        Self {
            last_gps_solution: if locked { 0 } else { NO_GPS_FIX },
            gps_sec,
            gps_nsec,
        }
    }

    fn header(&self) -> SndHeader {
        SndHeader {
            last_gps_solution: self.last_gps_solution,
            gps_sec: self.gps_sec,
            gps_nsec: self.gps_nsec,
            ..SndHeader::default()
        }
    }
}

/// What sdrhub records about the receiver (the `sdrh` chunk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct KiwiWavInfo {
    /// Receiver id.
    pub receiver_id: String,
    /// Receiver name.
    #[serde(default)]
    pub name: String,
    /// Antenna latitude, degrees.
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Antenna longitude, degrees.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Centre frequency, Hz.
    pub center_hz: f64,
    /// The exact sample rate, Hz (the WAV header holds only an integer).
    pub sample_rate_hz: f64,
    /// Time of the first sample, ns since the Unix epoch.
    #[serde(default)]
    pub start_ns: Option<i64>,
}

impl KiwiWavInfo {
    /// The position, when both coordinates are known and valid.
    pub fn position(&self) -> Option<GeoPoint> {
        let point = GeoPoint::new(self.latitude?, self.longitude?);
        point.is_valid().then_some(point)
    }
}

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

/// Where one frame is in the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameIndex {
    /// Its GPS stamp.
    pub stamp: GpsStamp,
    /// Byte offset of its samples.
    offset: u64,
    /// Its samples.
    pub samples: usize,
}

/// An opened Kiwi WAV file: its header, `sdrh` info and an index of its frames.
#[derive(Debug, Clone)]
pub struct KiwiWav {
    path: PathBuf,
    sample_rate_hz: f64,
    info: Option<KiwiWavInfo>,
    frames: Vec<FrameIndex>,
}

fn read_exact_or(file: &mut impl Read, buffer: &mut [u8], path: &Path) -> Result<bool, RecordingError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(RecordingError::io(path, e)),
        }
    }
    Ok(true)
}

impl KiwiWav {
    /// Opens and indexes `path`.
    ///
    /// # Errors
    /// When the file is not a 16-bit stereo PCM WAV with `kiwi`/`data` frames, or is cut off
    /// inside a chunk header. A final `data` chunk cut short is kept up to its last whole sample.
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        let invalid = |message: String| RecordingError::InvalidMeta {
            path: path.to_path_buf(),
            message,
        };
        let file = File::open(path).map_err(|e| RecordingError::io(path, e))?;
        let length = file.metadata().map_err(|e| RecordingError::io(path, e))?.len();
        let mut file = BufReader::new(file);
        let mut riff = [0u8; 12];
        if !read_exact_or(&mut file, &mut riff, path)? || &riff[..4] != b"RIFF" || &riff[8..] != b"WAVE" {
            return Err(invalid("not a RIFF/WAVE file".into()));
        }
        let mut position = 12u64;
        let mut sample_rate_hz = None;
        let mut info: Option<KiwiWavInfo> = None;
        let mut frames = Vec::new();
        let mut stamp: Option<GpsStamp> = None;
        let mut header = [0u8; 8];
        while position + 8 <= length {
            if !read_exact_or(&mut file, &mut header, path)? {
                break;
            }
            position += 8;
            let id = [header[0], header[1], header[2], header[3]];
            let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            let padded = u64::from(size) + u64::from(size % 2);
            match &id {
                b"fmt " => {
                    let mut fmt = vec![0u8; size as usize];
                    if !(16..=64).contains(&size) || !read_exact_or(&mut file, &mut fmt, path)? {
                        return Err(invalid("fmt chunk is malformed".into()));
                    }
                    let format = u16::from_le_bytes([fmt[0], fmt[1]]);
                    let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
                    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                    let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
                    if format != 1 || channels != 2 || bits != 16 || rate == 0 {
                        return Err(invalid(format!(
                            "not Kiwi IQ: format {format}, {channels} channel(s), {bits} bit, {rate} Hz \
                             (expected PCM, 2 channels, 16 bit)"
                        )));
                    }
                    sample_rate_hz = Some(f64::from(rate));
                    if size % 2 == 1 {
                        file.seek_relative(1).map_err(|e| RecordingError::io(path, e))?;
                    }
                }
                b"sdrh" => {
                    let mut json = vec![0u8; size.min(1 << 16) as usize];
                    if read_exact_or(&mut file, &mut json, path)? {
                        info = serde_json::from_slice(&json).ok();
                    }
                    file.seek_relative(padded as i64 - json.len() as i64)
                        .map_err(|e| RecordingError::io(path, e))?;
                }
                b"kiwi" => {
                    let mut body = [0u8; KIWI_CHUNK_LEN as usize];
                    if size != KIWI_CHUNK_LEN || !read_exact_or(&mut file, &mut body, path)? {
                        return Err(invalid(format!("kiwi chunk at byte {position} is malformed")));
                    }
                    stamp = Some(GpsStamp {
                        last_gps_solution: body[0],
                        gps_sec: u32::from_le_bytes([body[2], body[3], body[4], body[5]]),
                        gps_nsec: u32::from_le_bytes([body[6], body[7], body[8], body[9]]),
                    });
                }
                b"data" => {
                    if size > MAX_DATA_CHUNK {
                        return Err(invalid(format!(
                            "data chunk of {size} bytes at byte {position} is not a Kiwi frame"
                        )));
                    }
                    let available = (length - position).min(u64::from(size));
                    frames.push(FrameIndex {
                        stamp: stamp.take().unwrap_or(GpsStamp {
                            last_gps_solution: NO_GPS_FIX,
                            gps_sec: 0,
                            gps_nsec: 0,
                        }),
                        offset: position,
                        samples: (available / 4) as usize,
                    });
                    file.seek_relative(padded.min(length - position) as i64)
                        .map_err(|e| RecordingError::io(path, e))?;
                }
                _ => {
                    file.seek_relative(padded.min(length - position) as i64)
                        .map_err(|e| RecordingError::io(path, e))?;
                }
            }
            position += padded;
        }
        let sample_rate_hz = sample_rate_hz.ok_or_else(|| invalid("no fmt chunk".into()))?;
        frames.retain(|f| f.samples > 0);
        if frames.is_empty() {
            return Err(RecordingError::Empty(path.to_path_buf()));
        }
        let sample_rate_hz = info
            .as_ref()
            .map(|i| i.sample_rate_hz)
            .filter(|r| r.is_finite() && (r - sample_rate_hz).abs() < 1.0)
            .unwrap_or(sample_rate_hz);
        Ok(Self {
            path: path.to_path_buf(),
            sample_rate_hz,
            info,
            frames,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sample rate: the exact one from the `sdrh` chunk, else the header's integer.
    pub fn sample_rate_hz(&self) -> f64 {
        self.sample_rate_hz
    }

    /// sdrhub's `sdrh` chunk, when the file has one.
    pub fn info(&self) -> Option<&KiwiWavInfo> {
        self.info.as_ref()
    }

    /// The frames.
    pub fn frames(&self) -> &[FrameIndex] {
        &self.frames
    }

    /// Total samples.
    pub fn samples(&self) -> u64 {
        self.frames.iter().map(|f| f.samples as u64).sum()
    }

    /// Reads every frame's samples (scaled so int16 full scale is 1.0), in order.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn read_all(&self) -> Result<Vec<(GpsStamp, Vec<Complex32>)>, RecordingError> {
        let mut reader = self.reader()?;
        let mut out = Vec::with_capacity(self.frames.len());
        while let Some((stamp, samples)) = reader.next_frame()? {
            out.push((stamp, samples.to_vec()));
        }
        Ok(out)
    }

    /// A sequential reader of the frames.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn reader(&self) -> Result<KiwiWavReader, RecordingError> {
        let file = File::open(&self.path).map_err(|e| RecordingError::io(&self.path, e))?;
        Ok(KiwiWavReader {
            wav: self.clone(),
            file: BufReader::new(file),
            next: 0,
            bytes: Vec::new(),
            samples: Vec::new(),
        })
    }

    /// Whether the stamps come from a receiver's solution cycle (the seconds-since-solution
    /// count drops somewhere), so anchors must be found, rather than every frame being fresh.
    fn has_solution_cycle(&self) -> bool {
        self.frames.windows(2).any(|w| {
            let (a, b) = (w[0].stamp.last_gps_solution, w[1].stamp.last_gps_solution);
            a != NO_GPS_FIX && b < a
        })
    }

    /// Unix time (ns) the GPS week is resolved near: the recording's start from the `sdrh`
    /// chunk, else the file's modification time.
    fn week_hint_ns(&self) -> i64 {
        self.info
            .as_ref()
            .and_then(|i| i.start_ns)
            .or_else(|| {
                let modified = std::fs::metadata(&self.path).ok()?.modified().ok()?;
                let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
                Some(since.as_nanos() as i64)
            })
            .unwrap_or(0)
    }
}

/// Reads a Kiwi WAV's frames in order.
#[derive(Debug)]
pub struct KiwiWavReader {
    wav: KiwiWav,
    file: BufReader<File>,
    next: usize,
    bytes: Vec<u8>,
    samples: Vec<Complex32>,
}

impl KiwiWavReader {
    /// The next frame's stamp and samples; `None` at the end.
    ///
    /// # Errors
    /// When the file cannot be read (or shrank since it was opened).
    pub fn next_frame(&mut self) -> Result<Option<(GpsStamp, &[Complex32])>, RecordingError> {
        let Some(frame) = self.wav.frames.get(self.next).copied() else {
            return Ok(None);
        };
        self.next += 1;
        let path = &self.wav.path;
        self.file
            .seek(SeekFrom::Start(frame.offset))
            .map_err(|e| RecordingError::io(path, e))?;
        self.bytes.resize(frame.samples * 4, 0);
        self.file
            .read_exact(&mut self.bytes)
            .map_err(|e| RecordingError::io(path, e))?;
        let scale = 1.0 / FULL_SCALE;
        self.samples.clear();
        self.samples.extend(self.bytes.chunks_exact(4).map(|b| {
            Complex32::new(
                f32::from(i16::from_le_bytes([b[0], b[1]])) * scale,
                f32::from(i16::from_le_bytes([b[2], b[3]])) * scale,
            )
        }));
        Ok(Some((frame.stamp, &self.samples)))
    }
}

/// Replays a Kiwi WAV file as an [`IqSource`] of kind [`SourceKind::File`], one block per
/// frame, timed from its GPS stamps, as fast as it reads.
#[derive(Debug, Clone)]
pub struct KiwiWavBuilder {
    wav: KiwiWav,
    id: Arc<str>,
    name: String,
    position: Option<GeoPoint>,
    center_hz: f64,
}

impl KiwiWavBuilder {
    /// A builder for `wav`; id, name, position and frequency from its `sdrh` chunk, else the
    /// file name, no position and 0 Hz (override with the setters).
    pub fn new(wav: KiwiWav) -> Self {
        let stem = wav
            .path
            .file_stem()
            .map_or_else(|| "kiwi-wav".to_string(), |s| s.to_string_lossy().into_owned());
        let info = wav.info.clone().unwrap_or_default();
        Self {
            id: Arc::from(if info.receiver_id.is_empty() {
                stem.clone()
            } else {
                info.receiver_id.clone()
            }),
            name: if info.name.is_empty() {
                stem
            } else {
                info.name.clone()
            },
            position: info.position(),
            center_hz: info.center_hz,
            wav,
        }
    }

    /// Sets the receiver position (when the file has none, or it is wrong).
    pub fn position(mut self, position: GeoPoint) -> Self {
        self.position = Some(position);
        self
    }

    /// Sets the centre frequency.
    pub fn center_hz(mut self, center_hz: f64) -> Self {
        self.center_hz = center_hz;
        self
    }

    /// The file.
    pub fn wav(&self) -> &KiwiWav {
        &self.wav
    }
}

impl SourceBuilder for KiwiWavBuilder {
    fn info(&self) -> ReceiverInfo {
        ReceiverInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: SourceKind::File,
            position: self.position,
            center_hz: self.center_hz,
            sample_rate_hz: self.wav.sample_rate_hz,
        }
    }

    fn open(&mut self) -> Result<Box<dyn IqSource>, SourceError> {
        let reader = self.wav.reader().map_err(|e| SourceError::Open(e.to_string()))?;
        Ok(Box::new(KiwiWavSource {
            reader,
            id: self.id.clone(),
            center_hz: self.center_hz,
            clock: GpsClock::new(self.wav.sample_rate_hz),
            anchored: self.wav.has_solution_cycle(),
            week_hint_ns: self.wav.week_hint_ns(),
            sample: 0,
            seq: 0,
        }))
    }
}

/// A Kiwi WAV file being replayed.
#[derive(Debug)]
pub struct KiwiWavSource {
    reader: KiwiWavReader,
    id: Arc<str>,
    center_hz: f64,
    clock: GpsClock,
    anchored: bool,
    week_hint_ns: i64,
    sample: u64,
    seq: u64,
}

impl IqSource for KiwiWavSource {
    fn read(&mut self, block: &mut IqBlock, _timeout: Duration) -> Result<ReadOutcome, SourceError> {
        let rate = self.reader.wav.sample_rate_hz;
        let Some((stamp, samples)) = self
            .reader
            .next_frame()
            .map_err(|e| SourceError::Stream(e.to_string()))?
        else {
            return Ok(ReadOutcome::End);
        };
        let header = stamp.header();
        let (time_ns, locked) = if self.anchored {
            let time = self.clock.frame_time(self.sample, &header, self.week_hint_ns);
            (time.time_ns, time.gps_locked)
        } else if header.has_gps_time() {
            (
                gps_week_to_unix_ns(stamp.gps_sec, stamp.gps_nsec, self.week_hint_ns),
                stamp.last_gps_solution <= MAX_FIX_AGE_S,
            )
        } else {
            (
                self.week_hint_ns + (self.sample as f64 * 1e9 / rate).round() as i64,
                false,
            )
        };
        block.receiver_id = self.id.clone();
        block.center_hz = self.center_hz;
        block.sample_rate_hz = if self.anchored { self.clock.rate_hz() } else { rate };
        block.time_ns = time_ns;
        block.gps_locked = locked;
        block.seq = self.seq;
        block.discontinuity = false;
        block.samples.clear();
        block.samples.extend_from_slice(samples);
        self.sample += samples.len() as u64;
        self.seq += 1;
        Ok(ReadOutcome::Block)
    }
}
