//! The command line: the roles `sdrhub [serve]` (the default: everything in one process),
//! `sdrhub acquire`, `sdrhub gateway`, `sdrhub locate-worker` and `sdrhub history-writer` (the
//! same joined by NATS JetStream), `sdrhub config`,
//! and the tools (`detect`, `record`, `devices`, `simulate`, `locate`).

use crate::config::{Config, ConfigError, LogFormat};
use clap::{Args, Parser, Subcommand};
use figment::providers::Serialized;
use figment::Figment;
use sdrhub_dsp::convert::SampleFormat;
use std::path::PathBuf;

/// sdrhub: radio receivers in, a live and trustworthy picture of the spectrum out.
#[derive(Debug, Parser)]
#[command(name = "sdrhub", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: receivers, DSP, REST, WebSocket and the dashboard (the default).
    Serve,
    /// Run an acquisition node: receivers and DSP, every event published to the bus
    /// (--bus / bus.url); serves nothing.
    Acquire,
    /// Run a gateway: REST, WebSocket and the dashboard for the events on the bus
    /// (--bus / bus.url); no receivers.
    Gateway,
    /// Run a locate worker: TDOA across acquisition nodes from the IQ snippets on the bus
    /// (--bus / bus.url); fixes go back to the bus.
    LocateWorker,
    /// Run a history writer: every event on the bus (--bus / bus.url) stored once in the
    /// history database ([history] url, PostgreSQL in a cluster).
    HistoryWriter,
    /// Print the effective configuration (defaults, file, environment and flags merged) as TOML.
    Config,
    /// Run the detector over a recording and print one JSON line per signal found.
    Detect(DetectArgs),
    /// Record a receiver to SigMF, with the signals it detects written as annotations.
    Record(RecordArgs),
    /// List the SoapySDR devices found, with frequency ranges, sample rates, gains, antennas.
    Devices(crate::tools::devices::DevicesArgs),
    /// Serve the simulated scene's receivers as emulated KiwiSDRs on loopback and print the
    /// configuration that connects sdrhub to them.
    Simulate(SimulateArgs),
    /// Locate a transmitter by TDOA from Kiwi WAV recordings of 3 or more receivers made at
    /// the same time.
    Locate(LocateArgs),
}

/// `sdrhub locate FILES...`
#[derive(Debug, Clone, Args)]
pub struct LocateArgs {
    /// Kiwi WAV recordings, one per receiver (`sdrhub record --format kiwi-wav`, or
    /// `kiwirecorder --kiwi-wav` with --position).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// RF frequency of the signal, Hz [default: the strongest modulated signal in the first
    /// file].
    #[arg(long, value_name = "HZ")]
    pub frequency: Option<f64>,
    /// Its bandwidth, Hz: correlate exactly this band [default: the band is found from each
    /// pair's cross-spectrum, between the signal's detected neighbours].
    #[arg(long, value_name = "HZ")]
    pub bandwidth: Option<f64>,
    /// A receiver's position when its file has none: STATION=LAT,LON (STATION: the station in a
    /// kiwirecorder file name, the receiver id, or the file name's stem).
    #[arg(long, value_name = "STATION=LAT,LON")]
    pub position: Vec<String>,
    /// Uncertainty of a position given with --position, m (one standard deviation): a public
    /// receiver's listed location is often a Maidenhead locator (a 4.6 x 2.3 km square at 50 N)
    /// or coordinates rounded to 0.01 deg (1.1 x 0.7 km).
    #[arg(long, value_name = "M", default_value_t = 1000.0)]
    pub position_sigma_m: f64,
    /// Seconds of IQ correlated per fix [default: the whole span the files share, up to
    /// 2^20 samples].
    #[arg(long, value_name = "SECONDS")]
    pub window: Option<f64>,
    /// Timing error of each receiver's GPS clock, ns (one standard deviation), added to the
    /// scatter of its GPS solutions about their fit.
    #[arg(long, default_value_t = 100.0)]
    pub timing_sigma_ns: f64,
    /// How the signal travels: line-of-sight or great-circle (HF ground and sky waves).
    #[arg(long, value_enum, default_value = "line-of-sight")]
    pub propagation: PropagationArg,
    /// The true position, LAT,LON, to print the error against.
    #[arg(long, value_name = "LAT,LON")]
    pub truth: Option<String>,
    /// Draw the receivers, hyperbolas and the 68 % ellipse to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also store every fix in this history database (sqlite://PATH or postgres://...), as a
    /// localization at the time of its window; with the signal's track when it was found by
    /// detection.
    #[arg(long, value_name = "URL")]
    pub history: Option<String>,
}

/// `--propagation`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PropagationArg {
    /// Straight line between the antennas.
    LineOfSight,
    /// Along the Earth's surface.
    GreatCircle,
}

impl PropagationArg {
    /// The solver's model.
    pub fn model(self) -> sdrhub_dsp::locate::tdoa::Propagation {
        match self {
            PropagationArg::LineOfSight => sdrhub_dsp::locate::tdoa::Propagation::LineOfSight,
            PropagationArg::GreatCircle => sdrhub_dsp::locate::tdoa::Propagation::GreatCircle,
        }
    }
}

/// `sdrhub simulate`
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Emulate KiwiSDR receivers (one per receiver of the scene).
    #[arg(long)]
    pub kiwi: bool,
    /// Port of the first receiver; the others follow (0: any free ports).
    #[arg(long, default_value_t = 8073)]
    pub port: u16,
    /// IP address the emulated receivers listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,
    /// Use the configuration's [simulation] scene instead of the built-in HF scene (five
    /// receivers across France at 10 MHz).
    #[arg(long)]
    pub from_config: bool,
    /// Require this password.
    #[arg(long)]
    pub password: Option<String>,
    /// Answer every client "too busy".
    #[arg(long)]
    pub busy: bool,
    /// Receivers without a GPS fix.
    #[arg(long)]
    pub no_gps: bool,
    /// The `real-world` fault profile: receivers stamp as real KiwiSDRs do (the first frame
    /// zero, the second hours stale, a solution every 5 s, the ADC 110-190 ppm off while the
    /// nominal rate is announced).
    #[arg(long, conflicts_with = "no_gps")]
    pub real_world: bool,
}

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

/// `sdrhub record`
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Id of the receiver to record [default: the first one].
    #[arg(long)]
    pub receiver: Option<String>,
    /// Seconds to record.
    #[arg(long)]
    pub seconds: f64,
    /// Where to write: PATH.sigmf-meta and PATH.sigmf-data (PATH.wav for --format kiwi-wav; an
    /// existing directory gets the file kiwirecorder would name:
    /// YYYYMMDDTHHMMSSZ_<frequency Hz>_<receiver>_iq.wav).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// With --format kiwi-wav: write what `kiwirecorder.py --kiwi-wav` writes: the receiver's
    /// own GPS stamps as it sent them (not sdrhub's reconstruction) and no sdrh chunk, so that
    /// the file's only metadata is its kiwirecorder name.
    #[arg(long)]
    pub kiwirecorder: bool,
    /// Sample format of the dataset.
    #[arg(long, value_enum, default_value = "cf32_le")]
    pub format: RecordFormat,
    /// Generate the samples as fast as possible instead of in real time (simulated receivers).
    #[arg(long)]
    pub fast: bool,
    /// Overwrite an existing recording.
    #[arg(long)]
    pub force: bool,
    /// core:description of the recording [default: which receiver, and how it was recorded].
    #[arg(long)]
    pub description: Option<String>,
    /// Detector settings (for the annotations).
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// SigMF datatypes `sdrhub record` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordFormat {
    /// 32-bit float little-endian (exact).
    #[value(name = "cf32_le")]
    Cf32Le,
    /// Signed 16-bit little-endian (half the size; clips above full scale).
    #[value(name = "ci16_le")]
    Ci16Le,
    /// Signed 8-bit (a quarter of the size; about 48 dB of dynamic range).
    #[value(name = "ci8")]
    Ci8,
    /// Unsigned 8-bit, RTL-SDR style.
    #[value(name = "cu8")]
    Cu8,
    /// Kiwi WAV (`kiwirecorder --kiwi-wav`): 16-bit IQ frames of 512 samples, each with its GPS
    /// time, written to PATH (`.wav` added when missing). Annotations go to stdout only.
    #[value(name = "kiwi-wav")]
    KiwiWav,
}

impl RecordFormat {
    /// The SigMF datatype, `None` for Kiwi WAV.
    pub fn sigmf(self) -> Option<SampleFormat> {
        match self {
            RecordFormat::Cf32Le => Some(SampleFormat::Cf32Le),
            RecordFormat::Ci16Le => Some(SampleFormat::Cs16Le),
            RecordFormat::Ci8 => Some(SampleFormat::Cs8),
            RecordFormat::Cu8 => Some(SampleFormat::Cu8),
            RecordFormat::KiwiWav => None,
        }
    }
}

/// Flags that override the configuration (the last layer).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(short, long, global = true, env = "SDRHUB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 (server.bind).
    #[arg(long, global = true)]
    pub bind: Option<String>,
    /// Log format (log.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or sdrhub=debug (log.level).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Seed of the simulated scene (simulation.seed).
    #[arg(long, global = true)]
    pub seed: Option<u64>,
    /// Number of simulated receivers placed on a ring (simulation.receiver_count).
    #[arg(long, global = true)]
    pub receivers: Option<usize>,
    /// NATS server(s) of the acquire and gateway roles, e.g. nats://127.0.0.1:4222 (bus.url).
    #[arg(long, global = true, value_name = "URL")]
    pub bus: Option<String>,
}

impl GlobalArgs {
    /// Loads and validates the configuration with these flags as the last layer.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut overrides = Figment::new();
        if let Some(bind) = &self.bind {
            overrides = overrides.merge(Serialized::default("server.bind", bind));
        }
        if let Some(format) = self.log_format {
            overrides = overrides.merge(Serialized::default("log.format", format));
        }
        if let Some(level) = &self.log_level {
            overrides = overrides.merge(Serialized::default("log.level", level));
        }
        if let Some(seed) = self.seed {
            overrides = overrides.merge(Serialized::default("simulation.seed", seed));
        }
        if let Some(receivers) = self.receivers {
            overrides = overrides.merge(Serialized::default("simulation.receiver_count", receivers));
        }
        if let Some(bus) = &self.bus {
            overrides = overrides.merge(Serialized::default("bus.url", bus));
        }
        Config::load(self.config.as_deref(), overrides)
    }
}
