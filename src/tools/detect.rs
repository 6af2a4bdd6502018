//! `sdrhub detect FILE`: the detector over a recording, one JSON line per signal on stdout.
//!
//! The file is streamed in chunks of whole spectra ([`CHUNK_SAMPLES`]), read and converted on
//! one thread while the spectra of the previous chunk are computed on the others
//! (`sdrhub_dsp::batch::detect_all`). Because chunks hold whole spectra, every spectrum is
//! computed from exactly the samples a single pass over the file would use: the chunk size
//! never changes the result. The samples after the last whole spectrum are not analysed.
//!
//! Per-spectrum detections go through the live pipeline's tracker ([`Tracker`]), so a signal is
//! reported once it has been detected in `tracker.confirm_detections` spectra (a lone false
//! alarm never is) and ends when it has not been detected for `--max-gap` seconds. One line per
//! signal is printed when it ends, so lines come out in the order signals end.

mod args;
mod output;

use crate::config::Config;
use anyhow::bail;
pub use args::{DetectArgs, DetectorArgs, RawFormat};
use num_complex::Complex32;
use sdrhub_dsp::batch::detect_all;
use sdrhub_dsp::detect::{Detection, DetectorConfig};
use sdrhub_dsp::spectrum::SpectrumConfig;
use sdrhub_dsp::tracker::{TrackEvent, TrackEventKind, TrackSummary, Tracker};
use sdrhub_hardware::recording::{format_datetime, looks_like_sigmf, Recording, RecordingError, Truncation};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

pub(crate) use output::LinePrinter;
use output::{file_receiver, Results};

/// Samples per chunk read from a file: 4 Mi samples, 32 MiB as `Complex32` (plus at most as much
/// again of raw bytes), large enough that thread start-up and per-chunk work vanish beside the
/// DSP, small enough for any machine. Rounded down to whole spectra (at least one).
pub const CHUNK_SAMPLES: usize = 1 << 22;

/// Largest spectrum (`fft_size` x `averages` samples): a spectrum's samples are in memory at
/// once, 512 MiB as `Complex32` at this limit.
pub const MAX_SPECTRUM_SAMPLES: usize = 1 << 26;

/// Default gap that ends a signal, s: long enough to bridge a fade or a weak spectrum or two,
/// short enough that the next burst or the next over of a conversation is a new transmission.
pub const DEFAULT_MAX_GAP_S: f64 = 0.5;

/// The default gap is at least this many spectra, so that long spectra (large FFTs, many
/// averages) still bridge a spectrum or two without a detection.
pub const MIN_GAP_SPECTRA: u64 = 3;

/// One transmission found in a stream of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// Tracker id (1, 2, ... in order of confirmation).
    pub id: u64,
    /// First sample of the first spectrum it was detected in.
    pub start_sample: u64,
    /// One past the last sample of the last spectrum it was detected in.
    pub end_sample: u64,
    /// Mean of the per-spectrum centre frequency estimates, Hz.
    pub frequency_hz: f64,
    /// Mean of the per-spectrum occupied bandwidth estimates, Hz.
    pub bandwidth_hz: f64,
    /// Mean of the per-spectrum SNRs (peak bin over the local noise floor), dB.
    pub snr_db: f64,
    /// Mean signal power with the noise removed, dBFS.
    pub power_dbfs: f64,
    /// Strongest peak bin over the signal's life, dBFS.
    pub peak_power_dbfs: f64,
    /// Spectra it was detected in.
    pub spectra: u64,
}

/// One line of `sdrhub detect`'s output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalLine {
    /// `sig-N`, numbered in order of confirmation.
    pub signal_id: String,
    /// Start, s from the first sample of the file.
    pub start_s: f64,
    /// End, s from the first sample of the file.
    pub end_s: f64,
    /// `end_s - start_s`.
    pub duration_s: f64,
    /// Start, RFC 3339 UTC, when the recording says when it began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// End, RFC 3339 UTC, when the recording says when it began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Centre frequency, Hz (absolute: recording centre + offset).
    pub frequency_hz: f64,
    /// Occupied bandwidth (99 % of the power), Hz.
    pub bandwidth_hz: f64,
    /// Per-bin SNR at the peak, dB.
    pub snr_db: f64,
    /// Total signal power with the noise removed, dBFS (0 dBFS = a full-scale complex tone).
    pub power_dbfs: f64,
    /// Strongest peak bin, dBFS.
    pub peak_power_dbfs: f64,
    /// Spectra it was detected in.
    pub spectra: u64,
}

impl SignalRecord {
    /// The output line, with times from the sample rate and, when known, the time of sample 0.
    pub fn line(&self, sample_rate_hz: f64, start_time_ns: Option<i64>) -> SignalLine {
        let seconds = |sample: u64| sample as f64 / sample_rate_hz;
        let absolute = |sample: u64| {
            start_time_ns.map(|t0| format_datetime(t0 + (seconds(sample) * 1e9).round() as i64))
        };
        SignalLine {
            signal_id: crate::pipeline::fusion::signal_id(self.id),
            start_s: seconds(self.start_sample),
            end_s: seconds(self.end_sample),
            duration_s: seconds(self.end_sample - self.start_sample),
            start_time: absolute(self.start_sample),
            end_time: absolute(self.end_sample),
            frequency_hz: self.frequency_hz,
            bandwidth_hz: self.bandwidth_hz,
            snr_db: self.snr_db,
            power_dbfs: self.power_dbfs,
            peak_power_dbfs: self.peak_power_dbfs,
            spectra: self.spectra,
        }
    }
}

/// Running sums of one confirmed signal's per-spectrum measurements.
#[derive(Debug, Clone, Default)]
struct Aggregate {
    hits: u64,
    frequency_sum: f64,
    /// Sum and count of the carrier frequencies of the spectra in which the signal is mostly a
    /// carrier.
    carrier_sum: f64,
    carrier_hits: u64,
    bandwidth_sum: f64,
    snr_db_sum: f64,
    power_sum: f64,
    peak_dbfs: Option<f64>,
}

/// One confirmed signal's measurement in the current spectrum.
#[derive(Debug, Clone)]
struct Hit {
    id: u64,
    frequency_hz: f64,
    bandwidth_hz: f64,
    peak_dbfs: f64,
    /// Sum of the powers of this spectrum's detections that belong to the signal.
    power_fs: f64,
    /// Best SNR of those detections.
    snr_db: Option<f64>,
    /// The carrier of the strongest of them (and its power), if it is mostly a carrier.
    carrier_hz: Option<(f64, f64)>,
    /// The tracker's own smoothed values, used if no detection could be attributed.
    fallback_power_fs: f64,
    fallback_snr_db: f64,
}

/// Offline detection: samples in (any amount at a time), [`SignalRecord`]s out.
///
/// Time inside the tracker is counted in samples (the tracker only compares differences of its
/// timestamps with its own intervals, which are converted to samples too), so signal starts and
/// ends are exact sample indices.
#[derive(Debug)]
pub struct SignalFinder {
    spectrum: SpectrumConfig,
    detector: DetectorConfig,
    threads: usize,
    center_hz: f64,
    sample_rate_hz: f64,
    /// Samples per spectrum (`fft_size * averages`).
    spectrum_len: usize,
    confirm_detections: u64,
    lost_after: u64,
    tracker: Tracker,
    /// Samples of a spectrum not yet complete (always fewer than `spectrum_len`).
    pending: Vec<Complex32>,
    /// Sample index of the next sample pushed.
    next_sample: u64,
    aggregates: HashMap<u64, Aggregate>,
    events: Vec<TrackEvent>,
    hits: Vec<Hit>,
    finished: Vec<SignalRecord>,
    last_spectrum: Option<u64>,
    spectra: u64,
}

impl SignalFinder {
    /// A finder with the `[dsp]` and `[tracker]` settings of `config` for samples at
    /// `sample_rate_hz` around `center_hz`. `max_gap_s`: see [`DEFAULT_MAX_GAP_S`].
    pub fn new(
        config: &Config,
        max_gap_s: Option<f64>,
        threads: usize,
        center_hz: f64,
        sample_rate_hz: f64,
    ) -> anyhow::Result<Self> {
        let spectrum = config.dsp.spectrum();
        let spectrum_len = spectrum.fft_size.saturating_mul(spectrum.averages);
        if spectrum_len > MAX_SPECTRUM_SAMPLES {
            bail!(
                "dsp.fft_size {} x dsp.averages {} = {spectrum_len} samples per spectrum: more than the {MAX_SPECTRUM_SAMPLES} that may be held in memory; lower one of them",
                spectrum.fft_size,
                spectrum.averages
            );
        }
        let samples_of = |seconds: f64| (seconds * sample_rate_hz).round().max(1.0) as u64;
        let lost_after = match max_gap_s {
            Some(gap) => samples_of(gap),
            None => samples_of(DEFAULT_MAX_GAP_S).max(MIN_GAP_SPECTRA * spectrum_len as u64),
        };
        let mut tracker = config.tracker.tracker();
        // Sample indices stand in for nanoseconds: see the type's doc.
        tracker.lost_after_ns = i64::try_from(lost_after).unwrap_or(i64::MAX);
        tracker.min_update_interval_ns = samples_of(config.tracker.min_update_interval_s) as i64;
        let confirm_detections = u64::from(tracker.confirm_detections.max(1));
        Ok(Self {
            detector: config.dsp.detector(),
            spectrum,
            threads: threads.max(1),
            center_hz,
            sample_rate_hz,
            spectrum_len,
            confirm_detections,
            lost_after,
            tracker: Tracker::new(tracker),
            pending: Vec::new(),
            next_sample: 0,
            aggregates: HashMap::new(),
            events: Vec::new(),
            hits: Vec::new(),
            finished: Vec::new(),
            last_spectrum: None,
            spectra: 0,
        })
    }

    /// Samples per spectrum.
    pub fn spectrum_len(&self) -> usize {
        self.spectrum_len
    }

    /// The chunk size to feed for the best speed: whole spectra, about [`CHUNK_SAMPLES`].
    pub fn chunk_samples(&self) -> usize {
        (CHUNK_SAMPLES / self.spectrum_len).max(1) * self.spectrum_len
    }

    /// Spectra analysed so far.
    pub fn spectra(&self) -> u64 {
        self.spectra
    }

    /// Feeds the next samples. Whole spectra are analysed at once; the rest waits for more.
    pub fn push(&mut self, samples: &[Complex32]) {
        let mut rest = samples;
        if !self.pending.is_empty() {
            let start = self.next_sample - self.pending.len() as u64;
            let take = (self.spectrum_len - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            self.next_sample += take as u64;
            rest = &rest[take..];
            if self.pending.len() < self.spectrum_len {
                return;
            }
            let mut pending = std::mem::take(&mut self.pending);
            self.analyse(&pending, start);
            pending.clear();
            self.pending = pending;
        }
        let whole = rest.len() / self.spectrum_len * self.spectrum_len;
        if whole > 0 {
            self.analyse(&rest[..whole], self.next_sample);
        }
        self.pending.extend_from_slice(&rest[whole..]);
        self.next_sample += rest.len() as u64;
    }

    /// Drops the incomplete spectrum and makes `sample` the index of the next sample pushed:
    /// after a gap in the stream, no spectrum mixes samples from both sides of it.
    pub fn restart_at(&mut self, sample: u64) {
        self.pending.clear();
        self.next_sample = sample;
    }

    /// The signals that have ended since the last call.
    pub fn take_finished(&mut self) -> std::vec::Drain<'_, SignalRecord> {
        self.finished.drain(..)
    }

    /// Ends the stream: every signal still going ends at the last spectrum it was detected in.
    /// Returns the signals not taken yet, by start. The incomplete last spectrum is dropped.
    pub fn finish(mut self) -> Vec<SignalRecord> {
        if let Some(last) = self.last_spectrum {
            let after_everything = last.saturating_add(self.lost_after).saturating_add(1);
            self.events.clear();
            self.tracker.expire(
                i64::try_from(after_everything).unwrap_or(i64::MAX),
                &mut self.events,
            );
            self.end_lost_signals();
        }
        let mut finished = std::mem::take(&mut self.finished);
        finished.sort_by_key(|s| (s.start_sample, s.id));
        finished
    }

    /// Runs the detector over `samples` (whole spectra) whose first sample is `start`.
    fn analyse(&mut self, samples: &[Complex32], start: u64) {
        let spectra = detect_all(
            samples,
            self.center_hz,
            self.sample_rate_hz,
            &self.spectrum,
            &self.detector,
            self.threads,
        );
        for spectrum in spectra {
            self.ingest(start + spectrum.first_sample, &spectrum.detections);
        }
    }

    /// One spectrum's detections into the tracker and the signals' running sums.
    fn ingest(&mut self, time: u64, detections: &[Detection]) {
        self.spectra += 1;
        self.last_spectrum = Some(time);
        let now = i64::try_from(time).unwrap_or(i64::MAX);
        self.events.clear();
        self.tracker.update(0, now, detections, &mut self.events);

        self.hits.clear();
        for track in self.tracker.tracks() {
            let (Some(id), Some(obs)) = (track.id(), track.observations().first()) else {
                continue;
            };
            if obs.last_seen_ns != now {
                continue;
            }
            self.hits.push(Hit {
                id,
                frequency_hz: obs.frequency_hz,
                bandwidth_hz: obs.bandwidth_hz,
                peak_dbfs: obs.peak_dbfs,
                power_fs: 0.0,
                snr_db: None,
                carrier_hz: None,
                fallback_power_fs: obs
                    .mean_power_db()
                    .map_or_else(|| 10f64.powf(obs.peak_dbfs / 10.0), |(p, _)| 10f64.powf(p / 10.0)),
                fallback_snr_db: obs.snr_db,
            });
        }
        // Each detection belongs to the nearest signal whose measured span covers it (the
        // tracker merges the pieces of one signal into that span).
        let bin_hz = self.sample_rate_hz / self.spectrum.fft_size as f64;
        for d in detections {
            let nearest = self
                .hits
                .iter_mut()
                .filter(|h| (d.frequency_hz - h.frequency_hz).abs() <= h.bandwidth_hz.max(bin_hz))
                .min_by(|a, b| {
                    let da = (d.frequency_hz - a.frequency_hz).abs();
                    let db = (d.frequency_hz - b.frequency_hz).abs();
                    da.total_cmp(&db)
                });
            if let Some(hit) = nearest {
                hit.power_fs += d.power_fs;
                hit.snr_db = Some(hit.snr_db.map_or(d.snr_db, |s| s.max(d.snr_db)));
                if hit.carrier_hz.is_none_or(|(_, p)| d.power_fs > p) {
                    hit.carrier_hz = d.carrier_hz.map(|f| (f, d.power_fs));
                }
            }
        }
        for hit in &self.hits {
            let a = self.aggregates.entry(hit.id).or_default();
            a.hits += 1;
            a.frequency_sum += hit.frequency_hz;
            if let Some((carrier, _)) = hit.carrier_hz {
                a.carrier_sum += carrier;
                a.carrier_hits += 1;
            }
            a.bandwidth_sum += hit.bandwidth_hz;
            a.snr_db_sum += hit.snr_db.unwrap_or(hit.fallback_snr_db);
            a.power_sum += if hit.snr_db.is_some() {
                hit.power_fs
            } else {
                hit.fallback_power_fs
            };
            a.peak_dbfs = Some(a.peak_dbfs.map_or(hit.peak_dbfs, |p| p.max(hit.peak_dbfs)));
        }
        self.end_lost_signals();
    }

    /// Turns the tracker's `Lost` events into finished signals.
    fn end_lost_signals(&mut self) {
        let mut events = std::mem::take(&mut self.events);
        for event in events.drain(..) {
            if event.kind == TrackEventKind::Lost {
                let record = self.record(&event.summary);
                self.finished.push(record);
            }
        }
        self.events = events;
    }

    fn record(&mut self, summary: &TrackSummary) -> SignalRecord {
        let start_sample = u64::try_from(summary.first_seen_ns).unwrap_or(0);
        let end_sample = u64::try_from(summary.last_seen_ns).unwrap_or(0) + self.spectrum_len as u64;
        let aggregate = self.aggregates.remove(&summary.id).unwrap_or_default();
        if aggregate.hits == 0 {
            return SignalRecord {
                id: summary.id,
                start_sample,
                end_sample,
                frequency_hz: summary.frequency_hz,
                bandwidth_hz: summary.bandwidth_hz,
                snr_db: summary.snr_db,
                power_dbfs: summary.power_dbfs,
                peak_power_dbfs: summary.peak_dbfs,
                spectra: self.confirm_detections,
            };
        }
        let n = aggregate.hits as f64;
        // A signal that is mostly a carrier in most of its spectra (a keyed time signal, AM) is
        // reported at its carrier; otherwise at the centre of its occupied band.
        let frequency_hz = if 2 * aggregate.carrier_hits > aggregate.hits {
            aggregate.carrier_sum / aggregate.carrier_hits as f64
        } else {
            aggregate.frequency_sum / n
        };
        SignalRecord {
            id: summary.id,
            start_sample,
            end_sample,
            frequency_hz,
            bandwidth_hz: aggregate.bandwidth_sum / n,
            snr_db: aggregate.snr_db_sum / n,
            power_dbfs: sdrhub_dsp::db(aggregate.power_sum / n),
            peak_power_dbfs: aggregate.peak_dbfs.unwrap_or(summary.peak_dbfs),
            // The spectra before confirmation: the track was confirmed at its
            // `confirm_detections`-th, which is the first one aggregated.
            spectra: aggregate.hits + self.confirm_detections - 1,
        }
    }
}

/// Every core, or 1 if that cannot be known.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Opens the file as SigMF or, with `--rate` and `--format`, as raw samples.
fn open(args: &DetectArgs, truncation: Truncation) -> anyhow::Result<Recording> {
    let file = &args.file;
    let recording = match (args.rate, args.format) {
        (Some(rate), Some(format)) => Recording::open_raw(
            file,
            format.into(),
            rate,
            args.center_freq.unwrap_or(0.0),
            truncation,
        )?,
        (None, None) => {
            if file.is_file() && !looks_like_sigmf(file) {
                bail!(
                    "{}: not a SigMF recording (there is no {}.sigmf-meta); for a raw IQ file give --rate and --format",
                    file.display(),
                    file.display()
                );
            }
            Recording::open_sigmf(file, truncation)?
        }
        (Some(_), None) => bail!(
            "{}: --rate is for raw files and needs --format too",
            file.display()
        ),
        (None, Some(_)) => bail!(
            "{}: --format is for raw files and needs --rate too",
            file.display()
        ),
    };
    Ok(recording)
}

/// `sdrhub detect`: `config` already holds the detector flags (see
/// [`DetectorArgs::apply`]).
pub fn run(args: &DetectArgs, config: &Config) -> anyhow::Result<()> {
    if is_kiwi_wav(&args.file) {
        return run_kiwi_wav(args, config);
    }
    let truncation = if args.allow_truncated {
        Truncation::IgnorePartialSample
    } else {
        Truncation::Refuse
    };
    let recording = open(args, truncation)?;
    let meta = recording.meta();
    if recording.stray_bytes() > 0 {
        eprintln!(
            "sdrhub detect: warning: {}: truncated; the last {} byte(s) (a partial sample) are ignored",
            recording.data_path().display(),
            recording.stray_bytes()
        );
    }
    if meta.captures.len() > 1 {
        eprintln!(
            "sdrhub detect: warning: {} capture segments; the whole recording is analysed as one, tuned as the first",
            meta.captures.len()
        );
    }
    let sample_rate_hz = meta.sample_rate_hz;
    let center_hz = args.center_freq.unwrap_or_else(|| meta.center_hz());
    let threads = args.detector.threads.unwrap_or_else(default_threads);
    let mut config = config.clone();
    super::fit_spectrum_to_channel(&mut config, sample_rate_hz, Some(&args.detector));
    let mut finder = SignalFinder::new(&config, args.detector.max_gap, threads, center_hz, sample_rate_hz)?;
    if recording.samples() < finder.spectrum_len() as u64 {
        eprintln!(
            "sdrhub detect: warning: {}: {} samples is less than one spectrum ({} samples: fft_size x averages); nothing to analyse",
            recording.data_path().display(),
            recording.samples(),
            finder.spectrum_len()
        );
    }
    let chunk = finder.chunk_samples();
    let mut reader = recording.reader()?;
    let mut results = Results::new(
        args,
        &config,
        &file_receiver(&args.file),
        sample_rate_hz,
        meta.start_time_ns(),
    )?;
    let bar = super::progress_bar(recording.samples(), "samples");
    let started = Instant::now();
    let mut analysed = 0u64;

    std::thread::scope(|scope| -> anyhow::Result<()> {
        // Two buffers circulate: the reader fills one while the detector works on the other.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<Vec<Complex32>, RecordingError>>(1);
        let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<Complex32>>(2);
        for _ in 0..2 {
            // Invariant: the channel has room for both buffers and its receiver is alive.
            empty_tx.send(Vec::new()).expect("room for two buffers");
        }
        scope.spawn(move || {
            while let Ok(mut buffer) = empty_rx.recv() {
                match reader.read(chunk, &mut buffer) {
                    Ok(0) => break,
                    Ok(_) => {
                        if full_tx.send(Ok(buffer)).is_err() {
                            break;
                        }
                    }
                    Err(error) => {
                        let _ = full_tx.send(Err(error));
                        break;
                    }
                }
            }
        });
        for buffer in full_rx {
            let buffer = buffer?;
            finder.push(&buffer);
            analysed += buffer.len() as u64;
            bar.inc(buffer.len() as u64);
            for signal in finder.take_finished() {
                results.emit(&signal)?;
            }
            if results.done() {
                break;
            }
            // The reader may have stopped (end of file): then the buffer is not needed.
            let _ = empty_tx.send(buffer);
        }
        Ok(())
    })?;

    let spectra = finder.spectra();
    for signal in finder.finish() {
        results.emit(&signal)?;
    }
    bar.finish_and_clear();
    let printed = results.finish()?;
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "sdrhub detect: {analysed} samples ({:.3} s of signal, {spectra} spectra) in {elapsed:.3} s: {:.1} MS/s; {} signal(s)",
        analysed as f64 / sample_rate_hz,
        analysed as f64 / elapsed.max(1e-9) / 1e6,
        printed
    );
    Ok(())
}

/// Whether `path` is a WAV file (a Kiwi WAV recording, by its RIFF/WAVE header).
fn is_kiwi_wav(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 12];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head[..4] == b"RIFF" && &head[8..] == b"WAVE")
}

/// `sdrhub detect` over a Kiwi WAV recording: frames in order, timed from their GPS stamps
/// (the robust fit of the whole file), at the RF frequency and date its `sdrh` chunk or
/// kiwirecorder name gives.
fn run_kiwi_wav(args: &DetectArgs, config: &Config) -> anyhow::Result<()> {
    use sdrhub_hardware::recording::{KiwiWav, KiwiWavBuilder};
    use sdrhub_hardware::source::SourceBuilder;
    let wav = KiwiWav::open(&args.file)?;
    let date_known = wav.date_hint_ns().is_some();
    if wav.center_hz().is_none() && args.center_freq.is_none() {
        eprintln!(
            "sdrhub detect: warning: {}: no centre frequency (no sdrh chunk, not a kiwirecorder name): frequencies are relative to 0 Hz; give --center-freq",
            args.file.display()
        );
    }
    if !date_known {
        eprintln!(
            "sdrhub detect: warning: {}: no date (no sdrh chunk, not a kiwirecorder name): its GPS stamps cannot be dated, so no start_time/end_time is reported",
            args.file.display()
        );
    }
    let timing = wav.timing();
    if let Err(problem) = &timing.fit {
        eprintln!(
            "sdrhub detect: warning: {}: GPS timing not trusted ({problem}); times are the receiver's own stamps",
            args.file.display()
        );
    }
    let mut builder = KiwiWavBuilder::new(wav);
    if let Some(center) = args.center_freq {
        builder = builder.center_hz(center);
    }
    let info = builder.info();
    let threads = args.detector.threads.unwrap_or_else(default_threads);
    let mut config = config.clone();
    super::fit_spectrum_to_channel(&mut config, info.sample_rate_hz, Some(&args.detector));
    let mut finder = SignalFinder::new(
        &config,
        args.detector.max_gap,
        threads,
        info.center_hz,
        info.sample_rate_hz,
    )?;
    let mut source = builder.open()?;
    let mut block = sdrhub_hardware::IqBlock::with_capacity(512);
    let mut results: Option<Results> = None;
    let mut analysed = 0u64;
    let started = Instant::now();
    while source.read(&mut block, std::time::Duration::ZERO)? == sdrhub_hardware::ReadOutcome::Block {
        let results = match &mut results {
            Some(results) => results,
            // Timed by its first frame's GPS stamp, when the recording's date is known.
            None => results.insert(Results::new(
                args,
                &config,
                &info.id,
                block.sample_rate_hz,
                date_known.then_some(block.time_ns),
            )?),
        };
        finder.push(&block.samples);
        analysed += block.samples.len() as u64;
        for signal in finder.take_finished() {
            results.emit(&signal)?;
        }
    }
    let mut results = match results {
        Some(results) => results,
        None => Results::new(args, &config, &info.id, info.sample_rate_hz, None)?,
    };
    for signal in finder.finish() {
        results.emit(&signal)?;
    }
    let printed = results.finish()?;
    eprintln!(
        "sdrhub detect: {analysed} samples ({:.3} s of Kiwi WAV) in {:.3} s; {} signal(s)",
        analysed as f64 / info.sample_rate_hz,
        started.elapsed().as_secs_f64(),
        printed
    );
    Ok(())
}
