//! The flags of `sdrhub detect`, and the detector settings it shares with `sdrhub record`.

use crate::config::{Config, ConfigError};
use clap::Args;
use sdrhub_dsp::convert::SampleFormat;
use std::path::PathBuf;

/// Detector settings shared by `detect` and `record`; each overrides its `[dsp]` key.
#[derive(Debug, Clone, Args)]
pub struct DetectorArgs {
    /// FFT size, a power of two in 64..=1048576 (dsp.fft_size).
    #[arg(long)]
    pub fft_size: Option<usize>,
    /// Frames averaged per spectrum (dsp.averages).
    #[arg(long)]
    pub averages: Option<usize>,
    /// Window: rectangular, hann, blackman-harris or flat-top (dsp.window).
    #[arg(long)]
    pub window: Option<String>,
    /// False-alarm probability per bin per spectrum, in (0, 0.1) (dsp.pfa).
    #[arg(long)]
    pub pfa: Option<f64>,
    /// A signal not detected for this many seconds has ended [default: 0.5 s or three spectra,
    /// whichever is longer].
    #[arg(long, value_name = "SECONDS")]
    pub max_gap: Option<f64>,
    /// Threads for the detector [default: every core].
    #[arg(long)]
    pub threads: Option<usize>,
}

impl DetectorArgs {
    /// Applies these flags to `config` (the last layer) and validates the result.
    pub fn apply(&self, config: &mut Config) -> Result<(), ConfigError> {
        let d = &mut config.dsp;
        if let Some(fft_size) = self.fft_size {
            d.fft_size = fft_size;
        }
        if let Some(averages) = self.averages {
            d.averages = averages;
        }
        if let Some(window) = &self.window {
            d.window = window.clone();
        }
        if let Some(pfa) = self.pfa {
            d.pfa = pfa;
        }
        // The noise-floor segment cannot be wider than the spectrum; a small FFT narrows it.
        d.noise_segment_bins = d.noise_segment_bins.min(d.fft_size);
        let mut problems = Vec::new();
        if let Some(gap) = self.max_gap {
            if !(gap.is_finite() && gap > 0.0) {
                problems.push(format!("--max-gap {gap}: must be a number of seconds > 0"));
            }
        }
        if self.threads == Some(0) {
            problems.push("--threads 0: must be at least 1".into());
        }
        match config.validate() {
            Ok(()) if problems.is_empty() => Ok(()),
            Ok(()) => Err(ConfigError::Invalid(problems)),
            Err(ConfigError::Invalid(more)) => {
                problems.extend(more);
                Err(ConfigError::Invalid(problems))
            }
            Err(other) => Err(other),
        }
    }
}

/// `sdrhub detect FILE`
#[derive(Debug, Clone, Args)]
pub struct DetectArgs {
    /// The recording: a SigMF recording (its base name, .sigmf-meta or .sigmf-data file), a
    /// Kiwi WAV file (`kiwirecorder --kiwi-wav`, `sdrhub record --format kiwi-wav`), or a raw
    /// IQ file with --rate and --format.
    pub file: PathBuf,
    /// Sample rate of a raw file, Hz (e.g. 2.4e6).
    #[arg(long, value_name = "HZ")]
    pub rate: Option<f64>,
    /// Sample format of a raw file.
    #[arg(long, value_enum)]
    pub format: Option<RawFormat>,
    /// Centre frequency of a raw file, Hz [default: 0, i.e. baseband]; for a SigMF recording it
    /// replaces the recorded core:frequency.
    #[arg(long, value_name = "HZ", allow_negative_numbers = true)]
    pub center_freq: Option<f64>,
    /// Read a truncated file (not a whole number of samples) up to its last whole sample
    /// instead of refusing it.
    #[arg(long)]
    pub allow_truncated: bool,
    /// Also store every signal found in this history database (sqlite://PATH or
    /// postgres://...), as a signal track of the recording's receiver, timed by the recording.
    #[arg(long, value_name = "URL")]
    pub history: Option<String>,
    /// Receiver id stored with --history [default: the recording's: its Kiwi WAV receiver id,
    /// else the file's base name].
    #[arg(long, value_name = "ID")]
    pub receiver: Option<String>,
    /// Time of the first sample (RFC 3339, e.g. 2024-05-01T12:00:00Z), for --history on a raw
    /// file or a recording without core:datetime; it replaces the recorded one.
    #[arg(long, value_name = "TIME")]
    pub start_time: Option<String>,
    /// Detector settings.
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// Sample formats of raw IQ files (interleaved I, Q).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RawFormat {
    /// Unsigned 8-bit (RTL-SDR).
    #[value(alias = "cu8_le")]
    Cu8,
    /// Signed 8-bit (HackRF).
    #[value(alias = "ci8")]
    Cs8,
    /// Signed 16-bit little-endian.
    #[value(alias = "ci16_le")]
    Cs16le,
    /// Signed 16-bit big-endian.
    #[value(alias = "ci16_be")]
    Cs16be,
    /// 32-bit float little-endian.
    #[value(alias = "cf32_le")]
    Cf32le,
    /// 32-bit float big-endian.
    #[value(alias = "cf32_be")]
    Cf32be,
}

impl From<RawFormat> for SampleFormat {
    fn from(format: RawFormat) -> Self {
        match format {
            RawFormat::Cu8 => SampleFormat::Cu8,
            RawFormat::Cs8 => SampleFormat::Cs8,
            RawFormat::Cs16le => SampleFormat::Cs16Le,
            RawFormat::Cs16be => SampleFormat::Cs16Be,
            RawFormat::Cf32le => SampleFormat::Cf32Le,
            RawFormat::Cf32be => SampleFormat::Cf32Be,
        }
    }
}
