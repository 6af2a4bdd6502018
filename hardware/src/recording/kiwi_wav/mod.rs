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
//! resolves the GPS week). Readers that do not know it skip it, as RIFF readers must. Files
//! from `kiwirecorder` have none: what they say about themselves is in their name
//! ([`KiwiRecorderName`]: station, RF frequency, start date), which [`KiwiWav`] reads too.
//!
//! Timing ([`KiwiWav::timing`]): when the `kiwi` chunks show the receiver's solution cycle (the
//! seconds-since-solution count drops, as in files from a KiwiSDR), every sample is timed by
//! the robust fit of [`crate::kiwi::timing`] over the whole file; when every frame is stamped
//! fresh (as sdrhub writes them: each frame with its reconstructed GPS-disciplined time) each
//! frame's own stamp is used. The GPS week, which the stamps lack, is the one of the date in
//! the `sdrh` chunk or the file name, never the clock of the machine reading the file.

mod replay;
mod writer;

pub use replay::{KiwiWavBuilder, KiwiWavSource};
pub use writer::KiwiWavWriter;

use super::kiwi_name::KiwiRecorderName;
use super::RecordingError;
use crate::kiwi::gps::unix_ns_to_gps_week;
use crate::kiwi::protocol::{FULL_SCALE, NO_GPS_FIX};
use crate::kiwi::timing::{AnchorRule, StampCounts, TimingFit, TimingFitter, TimingProblem};
use num_complex::Complex32;
use sdrhub_dsp::geo::GeoPoint;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes of a `kiwi` chunk's body.
pub(crate) const KIWI_CHUNK_LEN: u32 = 10;
/// How far beyond its first and last anchor a file's fitted clock times samples, s: a KiwiSDR
/// solves every 2-5 s, so a recording's ends lie within one interval of an anchor; further out
/// a change of clock (lost frames, a restart) would go unseen.
pub const EXTRAPOLATION_S: f64 = 10.0;
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

/// An opened Kiwi WAV file: its header, `sdrh` info, what its name says, and an index of its
/// frames.
#[derive(Debug, Clone)]
pub struct KiwiWav {
    path: PathBuf,
    sample_rate_hz: f64,
    info: Option<KiwiWavInfo>,
    name: Option<KiwiRecorderName>,
    frames: Vec<FrameIndex>,
}

/// The GPS timing of a whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTiming {
    /// The fitted clock, or why the file's timing cannot be trusted.
    pub fit: Result<TimingFit, TimingProblem>,
    /// What the stamps held.
    pub counts: StampCounts,
    /// How anchors were found.
    pub rule: AnchorRule,
    /// Whether the GPS week is known (a date in the `sdrh` chunk or the file name); without
    /// one, times are only right relative to other files resolved the same way.
    pub date_known: bool,
    /// The samples the fit may time, [first, end): from [`EXTRAPOLATION_S`] before the first
    /// anchor to as far after the last, but not past a rejected solution beyond them (after
    /// which the stream may have jumped: lost frames, a restart). Empty without a fit.
    pub usable: (u64, u64),
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
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(KiwiRecorderName::parse);
        Ok(Self {
            path: path.to_path_buf(),
            sample_rate_hz,
            info,
            name,
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

    /// What the file name says, when it is a `kiwirecorder` name.
    pub fn recorder_name(&self) -> Option<&KiwiRecorderName> {
        self.name.as_ref()
    }

    /// The receiver's id: from the `sdrh` chunk, else the station in a `kiwirecorder` name,
    /// else the file name's stem.
    pub fn receiver_id(&self) -> String {
        if let Some(info) = self.info.as_ref().filter(|i| !i.receiver_id.is_empty()) {
            return info.receiver_id.clone();
        }
        if let Some(station) = self.name.as_ref().and_then(|n| n.station.clone()) {
            return station;
        }
        self.path
            .file_stem()
            .map_or_else(|| "kiwi-wav".to_string(), |s| s.to_string_lossy().into_owned())
    }

    /// The RF frequency of the IQ centre: from the `sdrh` chunk, else the `kiwirecorder` name;
    /// `None` when the file does not say.
    pub fn center_hz(&self) -> Option<f64> {
        self.info
            .as_ref()
            .map(|i| i.center_hz)
            .or_else(|| self.name.as_ref().map(|n| n.frequency_hz))
    }

    /// When the recording started (ns since the Unix epoch), to resolve the GPS week: from the
    /// `sdrh` chunk, else the `kiwirecorder` name; `None` when the file does not say. (Never
    /// the file's modification time or the clock of the machine reading it: a file copied or
    /// read years later must date the same.)
    pub fn date_hint_ns(&self) -> Option<i64> {
        self.info
            .as_ref()
            .and_then(|i| i.start_ns)
            .or_else(|| self.name.as_ref().map(|n| n.start_ns))
    }

    /// How the stamps are to be read: a receiver's solution cycle (the seconds-since-solution
    /// count drops somewhere), or every frame fresh (sdrhub's own files).
    pub fn anchor_rule(&self) -> AnchorRule {
        let cycle = self.frames.windows(2).any(|w| {
            let (a, b) = (w[0].stamp.last_gps_solution, w[1].stamp.last_gps_solution);
            a != NO_GPS_FIX && b < a
        });
        if cycle {
            AnchorRule::SolutionCycle
        } else {
            AnchorRule::EveryFreshFrame
        }
    }

    /// Index of the first sample of each frame.
    pub fn frame_starts(&self) -> impl Iterator<Item = u64> + '_ {
        self.frames.iter().scan(0u64, |next, f| {
            let start = *next;
            *next += f.samples as u64;
            Some(start)
        })
    }

    /// The GPS timing of the whole file: the robust fit of its stamps against sample count
    /// (see [`crate::kiwi::timing`]), nominal rate the header's.
    pub fn timing(&self) -> FileTiming {
        let rule = self.anchor_rule();
        let hint = self.date_hint_ns();
        let mut fitter = TimingFitter::new(rule, self.sample_rate_hz, hint.unwrap_or(0), 0);
        for (frame, start) in self.frames.iter().zip(self.frame_starts()) {
            let s = frame.stamp;
            fitter.push(start, s.last_gps_solution, s.gps_sec, s.gps_nsec);
        }
        let fit = fitter.fit();
        let total = self.samples();
        let usable = match &fit {
            Ok(fit) => {
                let margin = (EXTRAPOLATION_S * fit.rate_hz) as u64;
                let (first, last) = fit.span_samples;
                let rejected = fitter.rejected_samples();
                let lo = if rejected.iter().any(|&s| s < first) {
                    first
                } else {
                    first.saturating_sub(margin)
                };
                let hi = match rejected.iter().filter(|&&s| s > last).min() {
                    Some(_) => last,
                    None => last.saturating_add(margin),
                };
                (lo.min(total), hi.min(total))
            }
            Err(_) => (0, 0),
        };
        FileTiming {
            fit,
            counts: fitter.counts(),
            rule,
            date_known: hint.is_some(),
            usable,
        }
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
