//! `sdrhub record`: one receiver of the configured sources (the simulated scene or a
//! `[[receivers]]` device) to a
//! SigMF recording, with the signals detected in it written as annotations.
//!
//! The samples go through the source's real [`IqSource`] in real time (a paced simulated
//! receiver releases each block when its last sample is due), or with `--fast` through the
//! scene's unpaced generator, as fast as it can compute them. While recording, the samples
//! also go through [`SignalFinder`], the detection `sdrhub detect` runs; each signal it finds
//! becomes one annotation, and is printed as one JSON line on stdout (the format of
//! `sdrhub detect`).
//!
//! The metadata is valid from the first moment (it is rewritten atomically at the end with the
//! annotations): an interrupted recording keeps its samples. If the source skips samples (it
//! fell behind real time), a new capture segment starts where it resumed, with its own
//! `core:datetime`.

use super::detect::{default_threads, DetectorArgs, LinePrinter, SignalFinder, SignalRecord};
use crate::config::Config;
use anyhow::{bail, Context};
use clap::Args;
use sdrhub_dsp::convert::SampleFormat;
use sdrhub_hardware::acquisition::now_ns;
use sdrhub_hardware::recording::{
    Annotation, Capture, KiwiRecorderName, KiwiWavInfo, KiwiWavWriter, RecordingMeta, SigmfWriter,
};
use sdrhub_hardware::sim::{ReceiverGenerator, Scene};
use sdrhub_hardware::source::SourceBuilder;
use sdrhub_hardware::{IqBlock, IqSource, ReadOutcome, ReceiverInfo, SourceError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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

/// Longest a source may go without delivering a sample before the recording is abandoned: a
/// live receiver that stalls this long is broken, and waiting longer only hides it.
const STALL_LIMIT: Duration = Duration::from_secs(10);

/// Longest wait in one read, so that a stall is noticed promptly.
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// Longest recording, s: one day of samples is already terabytes at typical rates.
const MAX_SECONDS: f64 = 86_400.0;

/// A generator as an unpaced source: every read returns the next block at once.
struct Unpaced {
    generator: ReceiverGenerator,
    block_samples: usize,
}

impl IqSource for Unpaced {
    fn read(&mut self, block: &mut IqBlock, _timeout: Duration) -> Result<ReadOutcome, SourceError> {
        self.generator.fill(block, self.block_samples);
        Ok(ReadOutcome::Block)
    }
}

/// `sdrhub record`: `config` already holds the detector flags.
pub fn run(args: &RecordArgs, config: &Config) -> anyhow::Result<()> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= MAX_SECONDS) {
        bail!("--seconds {}: must be in (0, {MAX_SECONDS}]", args.seconds);
    }
    // A configured hardware receiver: by id, or the first one when the scene is off.
    let configured = config.receivers.iter().find(|r| match &args.receiver {
        Some(id) => r.id() == id,
        None => !config.simulation_enabled(),
    });
    if let Some(receiver) = configured {
        if args.fast {
            bail!(
                "--fast generates the simulated scene; receiver {} is real hardware",
                receiver.id()
            );
        }
        let mut builder = crate::pipeline::sources::build_receiver(receiver, config)?.builder;
        let mut source = builder
            .open()
            .with_context(|| format!("cannot open receiver {}", receiver.id()))?;
        // Opened: a remote receiver has told its position, name and real rate by now.
        let info = builder.info();
        let hw = match receiver {
            crate::config::ReceiverConfig::Soapy(soapy) => format!("SoapySDR {}", soapy.args),
            crate::config::ReceiverConfig::Kiwisdr(kiwi) => format!("KiwiSDR {}", kiwi.url),
        };
        // The receiver's own spectrum settings (a KiwiSDR's 12 kHz needs a short FFT).
        let mut config = config.clone();
        if let crate::config::ReceiverConfig::Kiwisdr(kiwi) = receiver {
            config.dsp.fft_size = kiwi.fft_size;
            config.dsp.averages = kiwi.averages;
            config.dsp.noise_segment_bins = config.dsp.noise_segment_bins.min(kiwi.fft_size);
        }
        let config = &config;
        let description = args.description.clone().unwrap_or_else(|| {
            format!(
                "{} s of receiver {} ({hw}), recorded in real time; annotations: the signals sdrhub detected",
                args.seconds, info.id
            )
        });
        return record(args, config, &info, source.as_mut(), hw, description);
    }
    let scene = Scene::new(config.simulation.clone()).context("cannot build the simulated scene")?;
    let rx = match &args.receiver {
        None => 0,
        Some(id) => scene.receiver_index(id).with_context(|| {
            let ids: Vec<&str> = scene.receivers().iter().map(|r| &*r.id).collect();
            format!(
                "--receiver {id}: no such receiver; the receivers are {}",
                ids.join(", ")
            )
        })?,
    };
    let epoch_ns = now_ns();
    let info = scene.receiver_info(rx);
    let mut source: Box<dyn IqSource> = if args.fast {
        Box::new(Unpaced {
            generator: scene.generator(rx, epoch_ns),
            block_samples: scene.config().block_samples,
        })
    } else {
        scene
            .builder(rx, epoch_ns)
            .open()
            .with_context(|| format!("cannot open receiver {}", info.id))?
    };
    let how = if args.fast {
        "generated unpaced (--fast)"
    } else {
        "recorded in real time"
    };
    let receiver = scene.receivers()[rx].clone();
    let hw = format!(
        "sdrhub simulated scene (seed {}), receiver {} ({})",
        scene.config().seed,
        info.id,
        receiver.name
    );
    let description = args.description.clone().unwrap_or_else(|| {
        format!(
            "{} s of receiver {} of the sdrhub simulated scene, {how}; annotations: the signals sdrhub detected",
            args.seconds, info.id
        )
    });
    record(args, config, &info, source.as_mut(), hw, description)
}

/// Records `source` (described by `info`) as `args` asks.
fn record(
    args: &RecordArgs,
    config: &Config,
    info: &ReceiverInfo,
    source: &mut dyn IqSource,
    hw: String,
    description: String,
) -> anyhow::Result<()> {
    let Some(format) = args.format.sigmf() else {
        return record_kiwi_wav(args, config, info, source);
    };
    if args.kiwirecorder {
        bail!("--kiwirecorder is a way of writing Kiwi WAV: give --format kiwi-wav");
    }
    let rate = info.sample_rate_hz;
    let total = (args.seconds * rate).round().max(1.0) as u64;
    let mut meta = RecordingMeta::new(format, rate, info.center_hz);
    meta.recorder = Some(format!("sdrhub {}", env!("CARGO_PKG_VERSION")));
    meta.hw = Some(hw);
    meta.description = Some(description);
    meta.position = info.position;
    let mut writer = SigmfWriter::create(&args.out, meta, args.force)?;
    let threads = args.detector.threads.unwrap_or_else(default_threads);
    let mut finder = SignalFinder::new(config, args.detector.max_gap, threads, info.center_hz, rate)?;
    let mut signals: Vec<SignalRecord> = Vec::new();
    let bar = super::progress_bar(total, "samples");
    eprintln!(
        "sdrhub record: {} s of {} ({:.6} MHz, {rate} S/s) to {}",
        args.seconds,
        info.id,
        info.center_hz / 1e6,
        writer.data_path().display()
    );
    let started = Instant::now();
    let mut block = IqBlock::with_capacity(0);
    let mut last_data = Instant::now();
    while writer.samples() < total {
        match source.read(&mut block, READ_TIMEOUT) {
            Ok(ReadOutcome::Block) => last_data = Instant::now(),
            Ok(ReadOutcome::Timeout) => {
                if last_data.elapsed() > STALL_LIMIT {
                    bail!("{}: no samples for {} s", info.id, STALL_LIMIT.as_secs());
                }
                continue;
            }
            Ok(ReadOutcome::End) => {
                eprintln!(
                    "sdrhub record: warning: {} ended after {} samples",
                    info.id,
                    writer.samples()
                );
                break;
            }
            Err(error) => bail!("{}: {error}", info.id),
        }
        let index = writer.samples();
        if index == 0 {
            writer.meta_mut().captures[0].time_ns = Some(block.time_ns);
        } else if block.discontinuity {
            eprintln!(
                "sdrhub record: warning: {} skipped samples; a new capture segment starts at sample {index}",
                info.id
            );
            writer.meta_mut().captures.push(Capture {
                sample_start: index,
                frequency_hz: Some(block.center_hz),
                time_ns: Some(block.time_ns),
            });
            finder.restart_at(index);
        }
        let take = block.samples.len().min((total - index) as usize);
        let samples = &block.samples[..take];
        writer.write(samples)?;
        finder.push(samples);
        signals.extend(finder.take_finished());
        bar.inc(take as u64);
    }
    bar.finish_and_clear();
    let written = writer.samples();
    signals.extend(finder.finish());
    signals.sort_by_key(|s| (s.start_sample, s.id));
    let generator = format!("sdrhub {}", env!("CARGO_PKG_VERSION"));
    writer.meta_mut().annotations = signals.iter().map(|s| annotation(s, rate, &generator)).collect();
    let start_time_ns = writer.meta_mut().start_time_ns();
    let (meta_path, data_path) = (writer.meta_path().to_path_buf(), writer.data_path().to_path_buf());
    writer.finish()?;

    let mut printer = LinePrinter::new(rate, start_time_ns);
    for signal in &signals {
        printer.print(signal)?;
    }
    eprintln!(
        "sdrhub record: {written} samples ({:.3} s) in {:.3} s to {} and {}; {} signal(s) annotated",
        written as f64 / rate,
        started.elapsed().as_secs_f64(),
        meta_path.display(),
        data_path.display(),
        signals.len()
    );
    Ok(())
}

/// Records `source` to a Kiwi WAV file, printing the signals it detects: sdrhub's own (each
/// frame stamped with its reconstructed GPS time, and an `sdrh` chunk), or with
/// `--kiwirecorder` what `kiwirecorder.py --kiwi-wav` writes (the receiver's own stamps, no
/// `sdrh` chunk). An `--out` that is a directory gets the kiwirecorder file name.
fn record_kiwi_wav(
    args: &RecordArgs,
    config: &Config,
    info: &ReceiverInfo,
    source: &mut dyn IqSource,
) -> anyhow::Result<()> {
    let rate = info.sample_rate_hz;
    let total = (args.seconds * rate).round().max(1.0) as u64;
    let threads = args.detector.threads.unwrap_or_else(default_threads);
    let mut finder = SignalFinder::new(config, args.detector.max_gap, threads, info.center_hz, rate)?;
    let mut signals: Vec<SignalRecord> = Vec::new();
    let mut block = IqBlock::with_capacity(0);
    let mut last_data = Instant::now();
    let (mut written, mut locked, mut first_time) = (0u64, 0u64, None);
    let mut writer: Option<(KiwiWavWriter, std::path::PathBuf)> = None;
    while written < total {
        match source.read(&mut block, READ_TIMEOUT) {
            Ok(ReadOutcome::Block) => last_data = Instant::now(),
            Ok(ReadOutcome::Timeout) => {
                if last_data.elapsed() > STALL_LIMIT {
                    bail!("{}: no samples for {} s", info.id, STALL_LIMIT.as_secs());
                }
                continue;
            }
            Ok(ReadOutcome::End) => break,
            Err(error) => bail!("{}: {error}", info.id),
        }
        let (writer, _) = match &mut writer {
            Some(open) => open,
            // A stream's first stamps may be stale: name the file by the host clock unless the
            // block's time is GPS-locked, as kiwirecorder names it by the host clock.
            None => writer.insert(open_kiwi_wav(
                args,
                info,
                if block.gps_locked { block.time_ns } else { now_ns() },
            )?),
        };
        if block.discontinuity && written > 0 {
            finder.restart_at(written);
        }
        first_time.get_or_insert(block.time_ns);
        let take = block.samples.len().min((total - written) as usize);
        block.samples.truncate(take);
        if args.kiwirecorder {
            let Some(stamp) = block.receiver_stamp else {
                bail!(
                    "{}: --kiwirecorder needs the receiver's own GPS stamps, which only a KiwiSDR sends",
                    info.id
                );
            };
            writer.write_frame(stamp, &block.samples)?;
        } else {
            writer.write_block(&block)?;
        }
        finder.push(&block.samples);
        signals.extend(finder.take_finished());
        written += take as u64;
        if block.gps_locked {
            locked += take as u64;
        }
    }
    let Some((writer, path)) = writer else {
        bail!("{}: ended before the first sample", info.id);
    };
    let frames = writer.frames();
    writer.finish()?;
    signals.extend(finder.finish());
    signals.sort_by_key(|s| (s.start_sample, s.id));
    let mut printer = LinePrinter::new(rate, first_time);
    for signal in &signals {
        printer.print(signal)?;
    }
    eprintln!(
        "sdrhub record: {written} samples ({:.3} s, {:.0} % GPS-timed) in {frames} frames to {}; {} signal(s)",
        written as f64 / rate,
        100.0 * locked as f64 / written.max(1) as f64,
        path.display(),
        signals.len()
    );
    Ok(())
}

/// Creates the Kiwi WAV file for a recording whose first sample is at `start_ns`.
fn open_kiwi_wav(
    args: &RecordArgs,
    info: &ReceiverInfo,
    start_ns: i64,
) -> anyhow::Result<(KiwiWavWriter, std::path::PathBuf)> {
    let path = if args.out.is_dir() {
        args.out
            .join(KiwiRecorderName::format(start_ns, info.center_hz, Some(&info.id)))
    } else if args.out.extension().is_some() {
        args.out.clone()
    } else {
        args.out.with_extension("wav")
    };
    if path.exists() && !args.force {
        bail!("{} exists; pass --force to overwrite it", path.display());
    }
    let rate = info.sample_rate_hz;
    let wav_info = KiwiWavInfo {
        receiver_id: info.id.to_string(),
        name: info.name.clone(),
        latitude: info.position.map(|p| p.lat_deg),
        longitude: info.position.map(|p| p.lon_deg),
        center_hz: info.center_hz,
        sample_rate_hz: rate,
        start_ns: Some(now_ns()),
    };
    // kiwirecorder writes the rate the receiver announced, rounded, and nothing about itself.
    let writer = if args.kiwirecorder {
        KiwiWavWriter::create(&path, rate, None)?
    } else {
        KiwiWavWriter::create(&path, rate, Some(&wav_info))?
    };
    eprintln!(
        "sdrhub record: {} s of {} ({:.6} MHz, {rate:.6} S/s) to {} (Kiwi WAV{})",
        args.seconds,
        info.id,
        info.center_hz / 1e6,
        path.display(),
        if args.kiwirecorder {
            ", as kiwirecorder writes it"
        } else {
            ""
        }
    );
    Ok((writer, path))
}

/// The SigMF annotation of one signal: its time span, and its occupied band (at least one bin
/// wide, so that a carrier's edges differ).
fn annotation(signal: &SignalRecord, sample_rate_hz: f64, generator: &str) -> Annotation {
    let half = signal.bandwidth_hz / 2.0;
    Annotation {
        sample_start: signal.start_sample,
        sample_count: signal.end_sample - signal.start_sample,
        freq_lower_edge_hz: signal.frequency_hz - half,
        freq_upper_edge_hz: signal.frequency_hz + half,
        // At most 20 characters, as SigMF recommends: "sig-12 145.1125 MHz".
        label: Some(format!(
            "{} {:.4} MHz",
            crate::pipeline::fusion::signal_id(signal.id),
            signal.frequency_hz / 1e6
        )),
        comment: Some(format!(
            "{:.1} Hz at {:.1} Hz; SNR {:.1} dB, power {:.1} dBFS, peak {:.1} dBFS; {:.3} s from {:.3} s",
            signal.bandwidth_hz,
            signal.frequency_hz,
            signal.snr_db,
            signal.power_dbfs,
            signal.peak_power_dbfs,
            (signal.end_sample - signal.start_sample) as f64 / sample_rate_hz,
            signal.start_sample as f64 / sample_rate_hz
        )),
        generator: Some(generator.to_string()),
    }
}
