//! Recording what a listener hears: the channel's IQ as a SigMF recording (`cf32_le` at the
//! channel rate, centred on the passband) and the audio as a 16-bit WAV, side by side in
//! `audio.recordings_dir`, named `<UTC time>_<receiver>_<kHz>_<mode>`. The listener thread
//! writes both as the audio is made (nothing waits for the disk but that thread), up to
//! `audio.max_record_s`, and while the recording files of the directory together stay under
//! `audio.max_recordings_bytes` ([`Space`]); the SigMF metadata names the signal listened to.

use crate::events::RecordedReport;
use sdrhub_dsp::Complex32;
use sdrhub_hardware::recording::{format_datetime, Annotation, RecordingMeta, SigmfWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes of one channel IQ sample on disk (`cf32_le`).
const IQ_SAMPLE_BYTES: u64 = 8;
/// Bytes of one audio sample on disk (16-bit WAV).
const AUDIO_SAMPLE_BYTES: u64 = 2;

/// The room the recordings have in their directory together (`audio.max_recordings_bytes`),
/// shared by every listener's recorder. Each recording start measures the directory (so
/// recordings deleted by hand give their room back); each block written is counted at once.
#[derive(Debug)]
pub struct Space {
    max_bytes: u64,
    used: AtomicU64,
}

impl Space {
    /// Room for `max_bytes` of recording files.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            used: AtomicU64::new(0),
        }
    }

    /// The limit, bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The bytes of the recording files in `dir` now (recordings in progress included, less
    /// what their writers still buffer).
    pub fn measure(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| is_recording_file(&entry.file_name().to_string_lossy()))
            .filter_map(|entry| entry.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|meta| meta.len())
            .sum()
    }

    /// Counts what `dir` holds now; the count.
    fn refresh(&self, dir: &Path) -> u64 {
        let used = Self::measure(dir);
        self.used.store(used, Ordering::Relaxed);
        used
    }

    /// Counts `bytes` more written; `false` once the count reaches the limit.
    fn take(&self, bytes: u64) -> bool {
        self.used.fetch_add(bytes, Ordering::Relaxed) + bytes < self.max_bytes
    }
}

/// Recordings started within one second (record, stop, record again; two listeners on one
/// frequency) would have one name: the later ones get `_2`, `_3`, ... (no file is overwritten).
const SAME_NAME_MAX: usize = 1000;

/// `base`, or `base_N` with the smallest N from 2 whose files are all absent from `dir`.
fn free_name(dir: &Path, base: &str) -> Result<String, String> {
    let taken = |name: &str| {
        [".wav", ".sigmf-meta", ".sigmf-data"]
            .iter()
            .any(|ext| dir.join(format!("{name}{ext}")).exists())
    };
    std::iter::once(base.to_string())
        .chain((2..=SAME_NAME_MAX).map(|n| format!("{base}_{n}")))
        .find(|name| !taken(name))
        .ok_or_else(|| {
            format!(
                "{SAME_NAME_MAX} recordings named {base} in {} already",
                dir.display()
            )
        })
}

/// `bytes` in MiB, for messages.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// What a recording is of.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The receiver.
    pub receiver: String,
    /// The listened frequency, Hz.
    pub frequency_hz: f64,
    /// The mode's name.
    pub mode: &'static str,
    /// The passband relative to the frequency, Hz.
    pub passband_hz: [f64; 2],
    /// The signal listened to, if the client named it.
    pub signal_id: Option<String>,
}

/// A recording in progress.
pub struct Recorder {
    name: String,
    subject: Subject,
    iq: SigmfWriter,
    wav: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    wav_path: PathBuf,
    audio_rate_hz: f64,
    audio_samples: u64,
    limit_samples: u64,
    max_s: f64,
    space: Arc<Space>,
    stopped: Option<String>,
    started_ns: i64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("name", &self.name).finish()
    }
}

/// Whether `name` is a file a recording is made of (no path, one of its extensions).
pub fn is_recording_file(name: &str) -> bool {
    !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && [".wav", ".sigmf-meta", ".sigmf-data"]
            .iter()
            .any(|e| name.ends_with(e))
}

impl Recorder {
    /// Starts a recording in `dir` (created if need be) of `subject`: IQ at `channel_rate_hz`
    /// centred `channel_offset_hz` from the listened frequency, audio at `audio_rate_hz`, from
    /// `started_ns` (antenna time), at most `max_s` seconds and while `space` has room.
    ///
    /// # Errors
    /// When the directory or files cannot be created (the message names the path), or the
    /// directory's recordings already fill `space` (the message names the limit's key).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        dir: &Path,
        subject: Subject,
        channel_rate_hz: f64,
        channel_offset_hz: f64,
        audio_rate_hz: f64,
        started_ns: i64,
        max_s: f64,
        space: Arc<Space>,
    ) -> Result<Recorder, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let used = space.refresh(dir);
        if used >= space.max_bytes() {
            return Err(format!(
                "the recordings in {} take {} of audio.max_recordings_bytes ({}): delete old recordings to record again",
                dir.display(),
                mib(used),
                mib(space.max_bytes())
            ));
        }
        let stamp = format_datetime(started_ns).replace([':', '-'], "");
        // Whole seconds, without the zone letter (which a time on a whole second would keep).
        let stamp = stamp
            .split('.')
            .next()
            .unwrap_or(&stamp)
            .trim_end_matches('Z')
            .to_string();
        let name = free_name(
            dir,
            &format!(
                "{stamp}_{}_{:.0}kHz_{}",
                subject
                    .receiver
                    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
                subject.frequency_hz / 1e3,
                subject.mode
            ),
        )?;
        let centre = subject.frequency_hz + channel_offset_hz;
        let mut meta = RecordingMeta::new(sdrhub_dsp::convert::SampleFormat::Cf32Le, channel_rate_hz, centre);
        meta.captures[0].time_ns = Some(started_ns);
        meta.recorder = Some(format!("sdrhub {}", env!("CARGO_PKG_VERSION")));
        meta.hw = Some(subject.receiver.clone());
        meta.description = Some(format!(
            "what a listener heard: {:.4} MHz in {} on {}{}; the audio is {name}.wav",
            subject.frequency_hz / 1e6,
            subject.mode,
            subject.receiver,
            subject
                .signal_id
                .as_deref()
                .map(|s| format!(", signal {s}"))
                .unwrap_or_default()
        ));
        let base = dir.join(&name);
        let iq = SigmfWriter::create(&base, meta, false).map_err(|e| e.to_string())?;
        let wav_path = dir.join(format!("{name}.wav"));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: audio_rate_hz.round() as u32,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let wav = hound::WavWriter::create(&wav_path, spec)
            .map_err(|e| format!("cannot create {}: {e}", wav_path.display()))?;
        Ok(Recorder {
            name,
            subject,
            iq,
            wav,
            wav_path,
            audio_rate_hz,
            audio_samples: 0,
            limit_samples: (max_s * audio_rate_hz) as u64,
            max_s,
            space,
            stopped: None,
            started_ns,
        })
    }

    /// Adds the channel IQ and audio of one block; `false` once the length limit or the
    /// recordings' space limit is reached (the caller then finishes the recording).
    ///
    /// # Errors
    /// When a write fails (the disk is full).
    pub fn write(&mut self, channel: &[Complex32], audio: &[f32]) -> Result<bool, String> {
        self.iq.write(channel).map_err(|e| e.to_string())?;
        for &sample in audio {
            let value = (sample * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
            self.wav
                .write_sample(value)
                .map_err(|e| format!("{}: {e}", self.wav_path.display()))?;
        }
        self.audio_samples += audio.len() as u64;
        let bytes = channel.len() as u64 * IQ_SAMPLE_BYTES + audio.len() as u64 * AUDIO_SAMPLE_BYTES;
        if !self.space.take(bytes) {
            self.stopped = Some(format!(
                "the recordings reached audio.max_recordings_bytes ({}): delete old recordings to record again",
                mib(self.space.max_bytes())
            ));
        } else if self.audio_samples >= self.limit_samples {
            self.stopped = Some(format!("audio.max_record_s ({} s) reached", self.max_s));
        }
        Ok(self.stopped.is_none())
    }

    /// Closes both files: the SigMF metadata gets an annotation over the whole recording.
    ///
    /// # Errors
    /// When a file cannot be completed.
    pub fn finish(mut self) -> Result<RecordedReport, String> {
        let samples = self.iq.samples();
        let [low, high] = self.subject.passband_hz;
        self.iq.meta_mut().annotations.push(Annotation {
            sample_start: 0,
            sample_count: samples,
            freq_lower_edge_hz: self.subject.frequency_hz + low,
            freq_upper_edge_hz: self.subject.frequency_hz + high,
            label: Some(
                self.subject
                    .signal_id
                    .clone()
                    .unwrap_or_else(|| self.subject.mode.to_string()),
            ),
            comment: Some(format!("listened in {}", self.subject.mode)),
            generator: Some("sdrhub".into()),
        });
        self.iq.finish().map_err(|e| e.to_string())?;
        self.wav
            .finalize()
            .map_err(|e| format!("{}: {e}", self.wav_path.display()))?;
        let url = |ext: &str| format!("/api/v1/recordings/{}.{ext}", self.name);
        Ok(RecordedReport {
            name: self.name.clone(),
            receiver: self.subject.receiver.clone(),
            frequency_hz: self.subject.frequency_hz,
            mode: self.subject.mode,
            signal_id: self.subject.signal_id.clone(),
            started: crate::events::Timestamp(self.started_ns),
            seconds: self.audio_samples as f64 / self.audio_rate_hz,
            wav: url("wav"),
            sigmf_meta: url("sigmf-meta"),
            sigmf_data: url("sigmf-data"),
            history: None,
            stopped: self.stopped.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            receiver: "rx1".into(),
            frequency_hz: 145e6,
            mode: "nfm",
            passband_hz: [-6e3, 6e3],
            signal_id: None,
        }
    }

    #[test]
    fn recordings_started_in_the_same_second_get_names_of_their_own() {
        let dir = std::env::temp_dir().join(format!("sdrhub-recorder-names-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let space = Arc::new(Space::new(1 << 30));
        let start = |at_ns| Recorder::start(&dir, subject(), 24e3, 0.0, 12e3, at_ns, 10.0, space.clone());
        let first = start(1_800_000_000_000_000_000).unwrap();
        // 300 ms later: the same second.
        let second = start(1_800_000_000_300_000_000).unwrap();
        let third = start(1_800_000_000_600_000_000).unwrap();
        let names: Vec<String> = [first, second, third]
            .into_iter()
            .map(|r| r.finish().unwrap().name)
            .collect();
        assert_eq!(names[1], format!("{}_2", names[0]));
        assert_eq!(names[2], format!("{}_3", names[0]));
        for name in &names {
            for ext in [".wav", ".sigmf-meta", ".sigmf-data"] {
                assert!(dir.join(format!("{name}{ext}")).is_file(), "{name}{ext}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
