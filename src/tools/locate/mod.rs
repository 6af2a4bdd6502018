//! `sdrhub locate FILES...`: TDOA over Kiwi WAV recordings made at the same time by different
//! receivers (`sdrhub record --format kiwi-wav`, or `kiwirecorder --kiwi-wav`).
//!
//! 1. **Files** ([`load`]): each file's GPS stamps are fitted against its sample count by the
//!    robust fit of `sdrhub_hardware::kiwi::timing` (zero, stale, out-of-order and
//!    inconsistent stamps rejected); a file whose timing cannot be trusted is left out with the
//!    reason. The receiver is named by the file's `sdrh` chunk, else the station in a
//!    kiwirecorder name; its position comes from the file or `--position STATION=LAT,LON`.
//! 2. **Signal**: `--frequency` (RF, Hz), or the strongest modulated signal the detector finds
//!    in the first file (a carrier has no timing information). Its delay band is found from
//!    each pair's cross-spectrum within the part of the channel it has to itself (between its
//!    detected neighbours), or is exactly `--frequency` +- `--bandwidth` / 2 when given.
//! 3. **Windows**: the GPS-time span all files share (and the signal is on in) is cut, by
//!    default, as one window (at most [`MAX_WINDOW_SAMPLES`]): a narrowband keyed signal such as
//!    a long-wave time signal has a distinct correlation peak only over many seconds. Every file
//!    is resampled onto one common time grid by its own fitted clock, so receivers whose ADCs run
//!    hundreds of ppm apart line up to the nanosecond. `--window S` cuts shorter windows; each is
//!    solved and the one with the smallest uncertainty is reported.
//! 4. **Fix**: the live pipeline's code ([`crate::pipeline::tdoa::solve`]), with each
//!    receiver's timing sigma made of `--timing-sigma-ns` (its GPS clock), the scatter of its
//!    GPS solutions about their fit, and `--position-sigma-m` (as a range) for positions typed on
//!    the command line. `--map` draws it.

mod load;
mod map;
mod report;

pub use load::Loaded;

use super::detect::{default_threads, SignalFinder, SignalRecord};
use crate::config::Config;
use crate::events::Timestamp;
use crate::history::Record;
use crate::pipeline::snippets::Snippet;
use crate::pipeline::tdoa::{solve, ReceiverSnippet, SignalBand, TdoaSolution};
use anyhow::{bail, Context};
use clap::Args;
use load::PositionSource;
use sdrhub_dsp::geo::{GeoPoint, SPEED_OF_LIGHT_M_S};
use sdrhub_dsp::resample::Resampler;
use sdrhub_dsp::Complex32;
use std::path::PathBuf;

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

/// Most samples in one window: 2^20 (87 s at 12 kHz) keeps the correlation's buffers near
/// 70 MB; longer recordings are cut into several windows.
pub const MAX_WINDOW_SAMPLES: usize = 1 << 20;
/// Longest `--window`, s.
const MAX_WINDOW_S: f64 = 600.0;
/// Shortest shared span worth correlating, samples (the delay estimator's minimum is smaller,
/// but a window this short holds too little signal to time a real transmitter).
const MIN_WINDOW_SAMPLES: usize = 4096;
/// A signal wider than this many bins is modulated: a carrier is a bin or two wide and has no
/// timing information.
const MODULATED_MIN_BINS: f64 = 8.0;

/// `sdrhub locate`.
pub fn run(args: &LocateArgs, config: &Config) -> anyhow::Result<()> {
    if args.files.len() < 3 {
        bail!(
            "TDOA needs recordings from at least 3 receivers; {} given",
            args.files.len()
        );
    }
    if let Some(window) = args.window {
        if !(window.is_finite() && window > 0.0 && window <= MAX_WINDOW_S) {
            bail!("--window {window}: must be in (0, {MAX_WINDOW_S}] seconds");
        }
    }
    if !(args.position_sigma_m.is_finite() && args.position_sigma_m >= 0.0) {
        bail!("--position-sigma-m {}: must be >= 0", args.position_sigma_m);
    }
    if !(args.timing_sigma_ns.is_finite() && args.timing_sigma_ns >= 0.0) {
        bail!("--timing-sigma-ns {}: must be >= 0", args.timing_sigma_ns);
    }
    let positions = parse_positions(&args.position)?;
    let mut loaded = Vec::new();
    for path in &args.files {
        loaded.push(Loaded::open(path, &positions).with_context(|| path.display().to_string())?);
    }
    let mut excluded: Vec<(String, String)> = Vec::new();
    let usable: Vec<&Loaded> = loaded
        .iter()
        .filter(|l| match (&l.timing.fit, l.time_span()) {
            (Err(problem), _) => {
                excluded.push((l.id.clone(), format!("GPS timing not trusted: {problem}")));
                false
            }
            (Ok(_), None) => {
                excluded.push((l.id.clone(), "no samples within its GPS-timed span".into()));
                false
            }
            (Ok(_), Some(_)) => true,
        })
        .collect();
    if usable.len() < 3 {
        report::files_to_stderr(&loaded);
        bail!(
            "{} GPS-timed receiver(s) of {}, TDOA needs 3: {}",
            usable.len(),
            loaded.len(),
            excluded
                .iter()
                .map(|(id, why)| format!("{id}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    if usable.iter().any(|l| l.date_hint_ns.is_none()) {
        eprintln!(
            "sdrhub locate: warning: a file has no date (no sdrh chunk, no kiwirecorder name): its GPS week is taken to be the others'"
        );
    }
    let first = usable[0];
    let center_hz = first.center_hz.unwrap_or(0.0);
    // Invariant: `usable` files have a fit (filtered above).
    let rate = first.fit().map(|f| f.rate_hz).unwrap_or(first.nominal_rate_hz);
    let (target, band, activity) = choose_signal(args, config, first, center_hz, rate)?;
    eprintln!("sdrhub locate: {target}");

    // The GPS time all files share, and the signal is on in.
    let spans: Vec<(i64, i64)> = usable.iter().filter_map(|l| l.time_span()).collect();
    let mut span_start = spans.iter().map(|s| s.0).max().unwrap_or(0);
    let mut span_end = spans.iter().map(|s| s.1).min().unwrap_or(0);
    if let Some((a, b)) = activity {
        span_start = span_start.max(a);
        span_end = span_end.min(b);
    }
    let shared_s = (span_end - span_start).max(0) as f64 * 1e-9;
    let window_s = args.window.unwrap_or(shared_s);
    let len = smooth_length(((window_s.min(shared_s) * rate) as usize).min(MAX_WINDOW_SAMPLES));
    if len < MIN_WINDOW_SAMPLES {
        bail!(
            "the recordings share {shared_s:.2} s of GPS-timed samples with the signal on, less than {:.2} s to correlate (record at the same time, or shorten --window)",
            MIN_WINDOW_SAMPLES as f64 / rate
        );
    }
    let window_ns = (len as f64 / rate * 1e9) as i64;
    let timing_sigma_s = |l: &Loaded| {
        let gps = args.timing_sigma_ns * 1e-9;
        let fit = l.fit().map_or(0.0, |f| f.residual_rms_ns * 1e-9);
        let position = match l.position_source {
            PositionSource::CommandLine => args.position_sigma_m / SPEED_OF_LIGHT_M_S,
            PositionSource::File => 0.0,
        };
        (gps * gps + fit * fit + position * position).sqrt()
    };
    let propagation = args.propagation.model();
    let resampler = Resampler::new();
    let mut solutions: Vec<(TdoaSolution, i64)> = Vec::new();
    let mut failures = Vec::new();
    let mut windows = 0;
    let mut start = span_start;
    while start + window_ns <= span_end {
        windows += 1;
        let receivers: Vec<ReceiverSnippet> = usable
            .iter()
            .map(|l| {
                let mut samples = vec![Complex32::new(0.0, 0.0); len];
                l.cut(&resampler, start, rate, &mut samples);
                ReceiverSnippet {
                    id: l.id.clone(),
                    position: l.position,
                    snippet: Snippet {
                        samples,
                        start_ns: start,
                        rate_hz: rate,
                        center_hz,
                    },
                    snr_db: 0.0,
                    timing_sigma_s: timing_sigma_s(l),
                }
            })
            .collect();
        match solve(&receivers, band, propagation) {
            Ok(solution) => solutions.push((solution, start)),
            Err(error) => failures.push(error),
        }
        start += window_ns;
    }
    let Some((best, best_start)) = solutions
        .iter()
        .min_by(|a, b| a.0.fix.uncertainty_m.total_cmp(&b.0.fix.uncertainty_m))
    else {
        report::files_to_stderr(&loaded);
        bail!(
            "no window gave a position ({} tried); last reason: {}",
            windows.max(1),
            failures
                .last()
                .map_or_else(|| "none".to_string(), ToString::to_string)
        );
    };
    let truth = args.truth.as_deref().map(parse_point).transpose()?;
    let mut best = best.clone();
    best.excluded.splice(0..0, excluded);
    report::fix(
        &report::Summary {
            solution: &best,
            loaded: &loaded,
            frequency_hz: target.frequency_hz,
            window_start_ns: *best_start,
            window_s: len as f64 / rate,
            solved: solutions.len(),
            windows,
            truth,
        },
        args.json,
    );
    if let Some(path) = &args.map {
        let svg = map::map_svg(&best, &loaded, truth, propagation);
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("sdrhub locate: map written to {}", path.display());
    }
    if let Some(url) = &args.history {
        // Sample 0 of the first file, on the GPS clock the windows are cut on.
        let first_start_ns = first.fit().map_or(span_start, |f| f.time_ns(0.0));
        store(url, config, &first.id, rate, first_start_ns, &target, &solutions)?;
    }
    Ok(())
}

/// `--history`: the located signal's track (when detection found it) and every window's fix,
/// timed by the recordings.
fn store(
    url: &str,
    config: &Config,
    receiver: &str,
    rate_hz: f64,
    start_ns: i64,
    target: &Target,
    solutions: &[(TdoaSolution, i64)],
) -> anyhow::Result<()> {
    use super::history::{mark, signal_id, signal_records, HistoryOutput};
    // The id of the signal located: the track detection found, or its frequency.
    let signal = match &target.found {
        Some(found) => signal_id(receiver, found.id),
        None => format!("{receiver}/{:.0}Hz", target.frequency_hz),
    };
    let mut output = HistoryOutput::open(url, config, mark("locate", &signal, start_ns))?;
    if let Some(found) = &target.found {
        output.push(signal_records(found, receiver, rate_hz, start_ns))?;
    }
    for (solution, start) in solutions {
        let report = solution.report(signal.clone(), target.frequency_hz, Vec::new(), Timestamp(*start));
        output.push(vec![Record::Localization(Box::new(report))])?;
    }
    output.finish("locate")
}

/// The signal being located.
struct Target {
    frequency_hz: f64,
    description: String,
    /// What detection found of it in the first file, when it did.
    found: Option<SignalRecord>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// The signal chosen, its delay band (relative to the centre) and, for an intermittent one,
/// the GPS time span it is on in.
type Choice = (Target, SignalBand, Option<(i64, i64)>);

/// The signal to locate (see [`Choice`]).
fn choose_signal(
    args: &LocateArgs,
    config: &Config,
    first: &Loaded,
    center_hz: f64,
    rate: f64,
) -> anyhow::Result<Choice> {
    let nyquist = rate / 2.0;
    let channel = (center_hz - nyquist, center_hz + nyquist);
    if let (Some(frequency), Some(bandwidth)) = (args.frequency, args.bandwidth) {
        let offset = frequency - center_hz;
        return Ok((
            Target {
                frequency_hz: frequency,
                found: None,
                description: format!(
                    "locating {:.1} Hz +- {:.0} Hz (as given)",
                    frequency,
                    bandwidth / 2.0
                ),
            },
            SignalBand::Given(offset - bandwidth / 2.0, offset + bandwidth / 2.0),
            None,
        ));
    }
    let signals = find_signals(config, first, center_hz, rate)?;
    let bin = rate / config_fft_size(config, rate) as f64;
    let chosen = match args.frequency {
        Some(frequency) => signals
            .iter()
            .filter(|s| (s.frequency_hz - frequency).abs() <= s.bandwidth_hz / 2.0 + 2.0 * bin)
            .max_by(|a, b| a.snr_db.total_cmp(&b.snr_db)),
        None => signals
            .iter()
            .filter(|s| s.bandwidth_hz > MODULATED_MIN_BINS * bin)
            .max_by(|a, b| a.snr_db.total_cmp(&b.snr_db))
            .or_else(|| signals.iter().max_by(|a, b| a.snr_db.total_cmp(&b.snr_db))),
    };
    let Some(signal) = chosen else {
        return match args.frequency {
            Some(frequency) => Ok((
                Target {
                    frequency_hz: frequency,
                    found: None,
                    description: format!(
                        "nothing detected at {frequency:.1} Hz in {}; its band is sought in the whole channel",
                        first.id
                    ),
                },
                SignalBand::Within(-nyquist, nyquist),
                None,
            )),
            None => bail!(
                "no signal found in {}; give --frequency (and --bandwidth)",
                first.id
            ),
        };
    };
    // The part of the channel the signal has to itself: up to the nearest neighbours that are
    // on at the same time.
    let (low_edge, high_edge) = (
        signal.frequency_hz - signal.bandwidth_hz / 2.0,
        signal.frequency_hz + signal.bandwidth_hz / 2.0,
    );
    let overlapping = |s: &&SignalRecord| {
        s.id != signal.id && s.start_sample < signal.end_sample && signal.start_sample < s.end_sample
    };
    let below = signals
        .iter()
        .filter(overlapping)
        .filter(|s| s.frequency_hz < low_edge)
        .map(|s| s.frequency_hz + s.bandwidth_hz / 2.0 + bin)
        .fold(channel.0, f64::max)
        .min(low_edge);
    let above = signals
        .iter()
        .filter(overlapping)
        .filter(|s| s.frequency_hz > high_edge)
        .map(|s| s.frequency_hz - s.bandwidth_hz / 2.0 - bin)
        .fold(channel.1, f64::min)
        .max(high_edge);
    let fit = first.fit();
    let time_of = |sample: u64| fit.map(|f| f.time_ns(sample as f64));
    let activity = time_of(signal.start_sample).zip(time_of(signal.end_sample));
    let description = format!(
        "locating the {} signal in {}: {:.1} Hz, {:.0} Hz wide, SNR {:.1} dB; delay band sought within {:.1}..{:.1} Hz",
        if args.frequency.is_some() { "given" } else { "strongest modulated" },
        first.id,
        signal.frequency_hz,
        signal.bandwidth_hz,
        signal.snr_db,
        below,
        above
    );
    let band = match args.bandwidth {
        Some(bandwidth) => {
            let offset = signal.frequency_hz - center_hz;
            SignalBand::Given(offset - bandwidth / 2.0, offset + bandwidth / 2.0)
        }
        None => SignalBand::Within(below - center_hz, above - center_hz),
    };
    Ok((
        Target {
            frequency_hz: signal.frequency_hz,
            description,
            found: Some(signal.clone()),
        },
        band,
        activity,
    ))
}

/// FFT size the detector uses on a recording at `rate`.
fn config_fft_size(config: &Config, rate: f64) -> usize {
    let mut config = config.clone();
    super::fit_spectrum_to_channel(&mut config, rate, None);
    config.dsp.fft_size
}

/// The detector's signals in `loaded`, at RF.
fn find_signals(
    config: &Config,
    loaded: &Loaded,
    center_hz: f64,
    rate: f64,
) -> anyhow::Result<Vec<SignalRecord>> {
    let mut config = config.clone();
    super::fit_spectrum_to_channel(&mut config, rate, None);
    let mut finder = SignalFinder::new(&config, None, default_threads(), center_hz, rate)?;
    finder.push(&loaded.samples);
    Ok(finder.finish())
}

/// The largest length not above `n` whose only prime factors are 2, 3 and 5 (an FFT of any
/// such length is fast).
fn smooth_length(n: usize) -> usize {
    (1..=n)
        .rev()
        .find(|&m| {
            let mut m = m;
            for p in [2, 3, 5] {
                while m % p == 0 {
                    m /= p;
                }
            }
            m == 1
        })
        .unwrap_or(0)
}

fn parse_point(text: &str) -> anyhow::Result<GeoPoint> {
    let (lat, lon) = text
        .split_once(',')
        .with_context(|| format!("{text:?}: expected LAT,LON"))?;
    let point = GeoPoint::new(
        lat.trim()
            .parse()
            .with_context(|| format!("{text:?}: bad latitude"))?,
        lon.trim()
            .parse()
            .with_context(|| format!("{text:?}: bad longitude"))?,
    );
    if !point.is_valid() {
        bail!("{text:?}: latitude/longitude out of range");
    }
    Ok(point)
}

fn parse_positions(items: &[String]) -> anyhow::Result<Vec<(String, GeoPoint)>> {
    items
        .iter()
        .map(|item| {
            let (id, point) = item
                .split_once('=')
                .with_context(|| format!("--position {item:?}: expected STATION=LAT,LON"))?;
            Ok((id.to_string(), parse_point(point)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_lengths_have_only_small_prime_factors() {
        assert_eq!(smooth_length(360_000), 360_000);
        assert_eq!(smooth_length(349_999), 349_920);
        assert_eq!(smooth_length(7), 6);
        assert_eq!(smooth_length(1), 1);
    }
}
