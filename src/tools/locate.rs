//! `sdrhub locate FILES...`: TDOA over Kiwi WAV recordings made at the same time by different
//! receivers (`sdrhub record --format kiwi-wav`, or `kiwirecorder --kiwi-wav`).
//!
//! Each file is replayed with its GPS timing into a buffer; the signal to locate is the one
//! given with `--frequency`, or else the strongest modulated one the detector finds in the
//! first file (a carrier has no timing information). The time span all files share is cut into
//! windows of `--window` seconds; each window where every receiver has GPS-timed samples is
//! located with the live pipeline's code ([`crate::pipeline::tdoa::solve`]), and the fix with
//! the smallest uncertainty is reported with its delays, residuals and ellipse. `--map` draws
//! it.

use super::detect::{default_threads, SignalFinder, SignalRecord};
use crate::cli::LocateArgs;
use crate::config::Config;
use crate::events::Timestamp;
use crate::history::Record;
use crate::pipeline::snippets::SnippetRing;
use crate::pipeline::tdoa::{solve, ReceiverSnippet, TdoaSolution};
use anyhow::{bail, Context};
use sdrhub_dsp::geo::{GeoPoint, LocalFrame};
use sdrhub_dsp::locate::tdoa::Propagation;
use sdrhub_hardware::recording::{KiwiWav, KiwiWavBuilder};
use sdrhub_hardware::source::SourceBuilder;
use sdrhub_hardware::{IqBlock, ReadOutcome};
use serde_json::json;
use std::fmt::Write as _;
use std::time::Duration;

/// Speed of light, m/s.
const C: f64 = 299_792_458.0;

/// One recording, loaded.
struct Loaded {
    id: String,
    position: GeoPoint,
    center_hz: f64,
    rate_hz: f64,
    ring: SnippetRing,
    start_ns: i64,
    end_ns: i64,
    samples: Vec<sdrhub_dsp::Complex32>,
}

/// `sdrhub locate`.
pub fn run(args: &LocateArgs, config: &Config) -> anyhow::Result<()> {
    if args.files.len() < 3 {
        bail!(
            "TDOA needs recordings from at least 3 receivers; {} given",
            args.files.len()
        );
    }
    if !(args.window.is_finite() && args.window > 0.0 && args.window <= 60.0) {
        bail!("--window {}: must be in (0, 60] seconds", args.window);
    }
    let positions = parse_positions(&args.position)?;
    let mut loaded = Vec::new();
    for path in &args.files {
        loaded.push(load(path, &positions).with_context(|| path.display().to_string())?);
    }
    let first = &loaded[0];
    let mut found: Option<SignalRecord> = None;
    let (frequency_hz, bandwidth_hz, activity) = match args.frequency {
        Some(frequency) => (frequency, args.bandwidth.unwrap_or(first.rate_hz / 4.0), None),
        None => {
            let signal = strongest_modulated_signal(first, config)?;
            eprintln!(
                "sdrhub locate: locating the strongest modulated signal in {}: {:.1} Hz, {:.0} Hz wide, SNR {:.1} dB",
                first.id, signal.frequency_hz, signal.bandwidth_hz, signal.snr_db
            );
            let start = first.start_ns + (signal.start_sample as f64 / first.rate_hz * 1e9) as i64;
            let end = first.start_ns + (signal.end_sample as f64 / first.rate_hz * 1e9) as i64;
            let located = (
                signal.frequency_hz,
                args.bandwidth.unwrap_or(signal.bandwidth_hz),
                Some((start, end)),
            );
            found = Some(signal);
            located
        }
    };
    let span_start = loaded.iter().map(|l| l.start_ns).max().unwrap_or(0);
    let span_end = loaded.iter().map(|l| l.end_ns).min().unwrap_or(0);
    let (span_start, span_end) = match activity {
        Some((a, b)) => (span_start.max(a), span_end.min(b)),
        None => (span_start, span_end),
    };
    let len = (args.window * first.rate_hz) as usize;
    let window_ns = (args.window * 1e9) as i64;
    if span_end - span_start < window_ns {
        bail!(
            "the recordings share {:.2} s with the signal on, less than one {} s window (record at the same time, or shorten --window)",
            (span_end - span_start).max(0) as f64 * 1e-9,
            args.window
        );
    }
    let half = 0.5 * bandwidth_hz * 1.2 + 2.0 * first.rate_hz / 1024.0;
    let offset = frequency_hz - first.center_hz;
    let propagation = args.propagation.model();
    // Each solved window with the time of its first sample.
    let mut solutions: Vec<(i64, TdoaSolution)> = Vec::new();
    let mut failures = Vec::new();
    let mut start = span_start;
    let mut windows = 0;
    while start + window_ns <= span_end {
        windows += 1;
        let mut receivers = Vec::new();
        for l in &loaded {
            match l.ring.cut(start, len) {
                Ok(snippet) => receivers.push(ReceiverSnippet {
                    id: l.id.clone(),
                    position: l.position,
                    snippet,
                    snr_db: 0.0,
                }),
                Err(error) => failures.push(format!("{}: {error}", l.id)),
            }
        }
        match solve(
            &receivers,
            (offset - half, offset + half),
            args.timing_sigma_ns * 1e-9,
            propagation,
        ) {
            Ok(solution) => solutions.push((start, solution)),
            Err(error) => failures.push(error),
        }
        start += window_ns;
    }
    let Some((_, best)) = solutions
        .iter()
        .min_by(|a, b| a.1.fix.uncertainty_m.total_cmp(&b.1.fix.uncertainty_m))
    else {
        bail!(
            "no window gave a position ({} tried); last reason: {}",
            windows.max(1),
            failures.last().map_or("none", String::as_str)
        );
    };
    let truth = args.truth.as_deref().map(parse_point).transpose()?;
    report(
        best,
        &loaded,
        frequency_hz,
        solutions.len(),
        windows,
        truth,
        args.json,
    );
    if let Some(path) = &args.map {
        let svg = map_svg(best, &loaded, truth, propagation);
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("sdrhub locate: map written to {}", path.display());
    }
    if let Some(url) = &args.history {
        store(url, config, first, frequency_hz, found.as_ref(), &solutions)?;
    }
    Ok(())
}

/// `--history`: the located signal's track (when detection found it) and every window's fix,
/// timed by the recordings.
fn store(
    url: &str,
    config: &Config,
    first: &Loaded,
    frequency_hz: f64,
    found: Option<&SignalRecord>,
    solutions: &[(i64, TdoaSolution)],
) -> anyhow::Result<()> {
    use super::history::{mark, signal_id, signal_records, HistoryOutput};
    // The id of the signal located: the track detection found, or its frequency.
    let signal = match found {
        Some(signal) => signal_id(&first.id, signal.id),
        None => format!("{}/{frequency_hz:.0}Hz", first.id),
    };
    let mark = mark("locate", &signal, first.start_ns);
    let mut output = HistoryOutput::open(url, config, mark)?;
    if let Some(record) = found {
        output.push(signal_records(record, &first.id, first.rate_hz, first.start_ns))?;
    }
    for (start, solution) in solutions {
        let report = solution.report(signal.clone(), frequency_hz, Vec::new(), Timestamp(*start));
        output.push(vec![Record::Localization(Box::new(report))])?;
    }
    output.finish("locate")
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
                .with_context(|| format!("--position {item:?}: expected ID=LAT,LON"))?;
            Ok((id.to_string(), parse_point(point)?))
        })
        .collect()
}

fn load(path: &std::path::Path, positions: &[(String, GeoPoint)]) -> anyhow::Result<Loaded> {
    let wav = KiwiWav::open(path)?;
    let total = wav.samples() as usize;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut builder = KiwiWavBuilder::new(wav);
    let info = builder.info();
    let given = positions
        .iter()
        .find(|(id, _)| *id == *info.id || *id == stem)
        .map(|(_, p)| *p);
    let Some(position) = given.or(info.position) else {
        bail!(
            "receiver {} has no position in the file; give it with --position {}=LAT,LON",
            info.id,
            info.id
        );
    };
    let ring = SnippetRing::with_capacity(total);
    let mut source = builder.open()?;
    let mut block = IqBlock::with_capacity(512);
    let mut samples = Vec::with_capacity(total);
    let (mut start_ns, mut end_ns, mut locked) = (None, 0, 0usize);
    while source.read(&mut block, Duration::ZERO)? == ReadOutcome::Block {
        ring.push(&block);
        samples.extend_from_slice(&block.samples);
        if block.gps_locked {
            locked += block.samples.len();
        }
        start_ns.get_or_insert(block.time_ns);
        end_ns = block.sample_time_ns(block.samples.len() as i64);
    }
    if locked == 0 {
        bail!("no GPS-timed samples: TDOA needs receivers with a GPS fix");
    }
    Ok(Loaded {
        id: info.id.to_string(),
        position,
        center_hz: info.center_hz,
        rate_hz: info.sample_rate_hz,
        ring,
        start_ns: start_ns.unwrap_or(0),
        end_ns,
        samples,
    })
}

/// The strongest signal whose band spans more than a few bins (a carrier cannot be timed).
fn strongest_modulated_signal(loaded: &Loaded, config: &Config) -> anyhow::Result<SignalRecord> {
    let mut config = config.clone();
    if loaded.rate_hz < 100e3 {
        // The `[dsp]` defaults are for MHz-wide receivers; a 12 kHz channel needs a short FFT.
        config.dsp.fft_size = 1024;
        config.dsp.averages = 4;
        config.dsp.noise_segment_bins = config.dsp.noise_segment_bins.min(1024);
    }
    let bin = loaded.rate_hz / config.dsp.fft_size as f64;
    let mut finder = SignalFinder::new(&config, None, default_threads(), loaded.center_hz, loaded.rate_hz)?;
    finder.push(&loaded.samples);
    let signals = finder.finish();
    signals
        .into_iter()
        .filter(|s| s.bandwidth_hz > 8.0 * bin)
        .max_by(|a, b| a.snr_db.total_cmp(&b.snr_db))
        .with_context(|| {
            format!(
                "no modulated signal found in {} (a carrier cannot be timed); give --frequency and --bandwidth",
                loaded.id
            )
        })
}

fn report(
    best: &TdoaSolution,
    loaded: &[Loaded],
    frequency_hz: f64,
    solved: usize,
    windows: usize,
    truth: Option<GeoPoint>,
    as_json: bool,
) {
    let fix = &best.fix;
    let residual = |id: &str| {
        best.used
            .iter()
            .position(|u| u == id)
            .and_then(|i| fix.residuals_m.get(i).copied())
    };
    let error_m = truth.map(|t| fix.position.distance_m(t));
    if as_json {
        let value = json!({
            "frequency_hz": frequency_hz,
            "latitude": fix.position.lat_deg,
            "longitude": fix.position.lon_deg,
            "uncertainty_m": fix.uncertainty_m,
            "ellipse": {"semi_major_m": fix.ellipse.semi_major_m, "semi_minor_m": fix.ellipse.semi_minor_m,
                        "orientation_deg": fix.ellipse.orientation_deg},
            "gdop": fix.gdop,
            "confidence": fix.confidence,
            "reference": best.reference,
            "delays": best.delays.iter().map(|d| json!({
                "receiver": d.id, "delay_us": d.delay_s * 1e6, "sigma_us": d.sigma_s * 1e6,
                "snr_db": d.snr_db, "residual_m": residual(&d.id),
            })).collect::<Vec<_>>(),
            "excluded": best.excluded.iter().map(|(r, why)| json!({"receiver": r, "reason": why})).collect::<Vec<_>>(),
            "windows_solved": solved,
            "windows": windows,
            "error_m": error_m,
        });
        println!("{value}");
        return;
    }
    println!(
        "position        {:.5}, {:.5}  ({:.3} MHz)",
        fix.position.lat_deg,
        fix.position.lon_deg,
        frequency_hz / 1e6
    );
    println!(
        "uncertainty     {:.0} m (68 % radius); ellipse {:.0} x {:.0} m at {:.0} deg; GDOP {:.2}; confidence {:.2}",
        fix.uncertainty_m,
        fix.ellipse.semi_major_m,
        fix.ellipse.semi_minor_m,
        fix.ellipse.orientation_deg,
        fix.gdop,
        fix.confidence
    );
    if let Some(error) = error_m {
        println!(
            "error           {error:.0} m from the given truth ({:.2} x the 68 % radius)",
            error / fix.uncertainty_m
        );
    }
    println!("windows         {solved} of {windows} solved; the best is shown");
    println!(
        "reference       {} (residual {:.1} m)",
        best.reference,
        residual(&best.reference).unwrap_or(0.0)
    );
    for d in &best.delays {
        println!(
            "  {:<18} delay {:>12.3} us +- {:.3} us  ({:.0} m)  SNR {:>5.1} dB  residual {:>8.1} m",
            d.id,
            d.delay_s * 1e6,
            d.sigma_s * 1e6,
            d.delay_s * C,
            d.snr_db,
            residual(&d.id).unwrap_or(f64::NAN)
        );
    }
    for (receiver, why) in &best.excluded {
        println!("  excluded {receiver}: {why}");
    }
    let _ = loaded;
}

/// An SVG of the receivers, one hyperbola branch per pair with the reference, the 68 % ellipse
/// and the fix (and the truth when given), in a local East-North plane.
fn map_svg(
    best: &TdoaSolution,
    loaded: &[Loaded],
    truth: Option<GeoPoint>,
    propagation: Propagation,
) -> String {
    let fix = &best.fix;
    let frame = LocalFrame::new(fix.position);
    let reference = loaded.iter().find(|l| l.id == best.reference).map(|l| l.position);
    let mut points: Vec<[f64; 2]> = loaded.iter().map(|l| frame.to_enu(l.position)).collect();
    points.push([0.0, 0.0]);
    if let Some(t) = truth {
        points.push(frame.to_enu(t));
    }
    let (mut min_x, mut max_x, mut min_y, mut max_y) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in &points {
        min_x = min_x.min(p[0]);
        max_x = max_x.max(p[0]);
        min_y = min_y.min(p[1]);
        max_y = max_y.max(p[1]);
    }
    let pad = 0.15 * (max_x - min_x).max(max_y - min_y).max(1_000.0);
    let (min_x, max_x, min_y, max_y) = (min_x - pad, max_x + pad, min_y - pad, max_y + pad);
    let size = 800.0;
    let scale = size / (max_x - min_x).max(max_y - min_y);
    let sx = |x: f64| (x - min_x) * scale;
    let sy = |y: f64| size - (y - min_y) * scale;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#fff"/>"##);
    // Hyperbolas: where the range difference to the reference equals the measured one, traced
    // by evaluating it on a grid and drawing its zero crossings.
    if let Some(reference) = reference {
        let steps = 240;
        let step = (max_x - min_x).max(max_y - min_y) / steps as f64;
        for d in &best.delays {
            let Some(other) = loaded.iter().find(|l| l.id == d.id) else {
                continue;
            };
            let target = d.delay_s * C;
            let f = |x: f64, y: f64| {
                let p = frame.to_geo([x, y]);
                propagation.distance_m(p, other.position) - propagation.distance_m(p, reference) - target
            };
            let mut path = String::new();
            for i in 0..steps {
                for j in 0..steps {
                    let (x, y) = (min_x + i as f64 * step, min_y + j as f64 * step);
                    let (a, b, c) = (f(x, y), f(x + step, y), f(x, y + step));
                    if a.signum() != b.signum() {
                        let t = a / (a - b);
                        let _ = write!(path, "M{:.1},{:.1}h0.8 ", sx(x + t * step), sy(y));
                    }
                    if a.signum() != c.signum() {
                        let t = a / (a - c);
                        let _ = write!(path, "M{:.1},{:.1}h0.8 ", sx(x), sy(y + t * step));
                    }
                }
            }
            let _ = writeln!(
                svg,
                r##"<path d="{path}" stroke="#3a7bd5" stroke-width="1.6" stroke-linecap="round" fill="none" opacity="0.7"><title>{} - {}: {:.3} us</title></path>"##,
                d.id,
                best.reference,
                d.delay_s * 1e6
            );
        }
    }
    let e = &fix.ellipse;
    let _ = writeln!(
        svg,
        r##"<ellipse cx="{:.1}" cy="{:.1}" rx="{:.1}" ry="{:.1}" transform="rotate({:.2} {:.1} {:.1})" fill="#e4572e" fill-opacity="0.2" stroke="#e4572e"><title>68 % ellipse</title></ellipse>"##,
        sx(0.0),
        sy(0.0),
        (e.semi_major_m * scale).max(1.0),
        (e.semi_minor_m * scale).max(1.0),
        e.orientation_deg - 90.0,
        sx(0.0),
        sy(0.0)
    );
    let _ = writeln!(
        svg,
        r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#e4572e"/><text x="{:.1}" y="{:.1}">fix ({:.0} m)</text>"##,
        sx(0.0),
        sy(0.0),
        sx(0.0) + 6.0,
        sy(0.0) - 6.0,
        fix.uncertainty_m
    );
    if let Some(t) = truth {
        let p = frame.to_enu(t);
        let _ = writeln!(
            svg,
            r##"<path d="M{:.1},{:.1}l6,6m0,-6l-6,6" stroke="#222" stroke-width="2"/><text x="{:.1}" y="{:.1}">truth</text>"##,
            sx(p[0]) - 3.0,
            sy(p[1]) - 3.0,
            sx(p[0]) + 6.0,
            sy(p[1]) + 14.0
        );
    }
    for l in loaded {
        let p = frame.to_enu(l.position);
        let fill = if l.id == best.reference {
            "#2a9d8f"
        } else {
            "#264653"
        };
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="{fill}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            sx(p[0]) - 4.0,
            sy(p[1]) - 4.0,
            sx(p[0]) + 7.0,
            sy(p[1]) + 4.0,
            l.id
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}
