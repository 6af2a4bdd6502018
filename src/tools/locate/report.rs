//! `sdrhub locate`'s output: the fix, its uncertainty (68 % and 95 % ellipses), the delays, and
//! every file's GPS timing, as text or one JSON object.

use super::Loaded;
use crate::pipeline::tdoa::TdoaSolution;
use sdrhub_dsp::geo::{GeoPoint, LocalFrame, SPEED_OF_LIGHT_M_S};
use sdrhub_dsp::locate::ellipse::{error_ellipse, Ellipse};
use sdrhub_hardware::recording::format_datetime;
use serde_json::{json, Value};

/// The chi-square quantile with 2 degrees of freedom at 95 %: a point is inside the 95 %
/// ellipse when its Mahalanobis distance squared is below this.
const CHI2_2DOF_95: f64 = 5.991_464_547_107_979;

/// What is reported about a fix.
pub struct Summary<'a> {
    /// The fix and what went into it (excluded files first among `excluded`).
    pub solution: &'a TdoaSolution,
    /// Every file.
    pub loaded: &'a [Loaded],
    /// The located signal's RF frequency, Hz.
    pub frequency_hz: f64,
    /// Start of the window solved, GPS time (ns since the Unix epoch).
    pub window_start_ns: i64,
    /// Its length, s.
    pub window_s: f64,
    /// Windows that gave a fix.
    pub solved: usize,
    /// Windows tried.
    pub windows: usize,
    /// The true position, when given.
    pub truth: Option<GeoPoint>,
}

/// One file's GPS timing as JSON.
fn file_json(l: &Loaded) -> Value {
    let t = &l.timing;
    let fit = t.fit.as_ref().ok();
    json!({
        "file": l.path.display().to_string(),
        "receiver": l.id,
        "latitude": l.position.lat_deg,
        "longitude": l.position.lon_deg,
        "center_hz": l.center_hz,
        "date": l.date_hint_ns.map(format_datetime),
        "nominal_rate_hz": l.nominal_rate_hz,
        "rate_hz": fit.map(|f| f.rate_hz),
        "rate_ppm": fit.map(|f| f.ppm_from(l.nominal_rate_hz)),
        "anchors": fit.map(|f| f.anchors),
        "candidates": t.counts.candidates,
        "rejected": t.counts.rejected,
        "zero_stamps": t.counts.zero,
        "residual_rms_us": fit.map(|f| f.residual_rms_ns * 1e-3),
        "residual_worst_us": fit.map(|f| f.residual_worst_ns * 1e-3),
        "timing_problem": t.fit.as_ref().err().map(|e| e.to_string()),
    })
}

/// One file's GPS timing as a line of text.
fn file_line(l: &Loaded) -> String {
    let t = &l.timing;
    let counts = format!(
        "{} solution(s), {} rejected, {} zero stamp(s)",
        t.counts.candidates, t.counts.rejected, t.counts.zero
    );
    match &t.fit {
        Ok(fit) => format!(
            "  {:<18} rate {:.4} Hz ({:+.1} ppm from {:.0} Hz), residual rms {:.3} us, worst {:.3} us; {} anchors of {counts}",
            l.id,
            fit.rate_hz,
            fit.ppm_from(l.nominal_rate_hz),
            l.nominal_rate_hz,
            fit.residual_rms_ns * 1e-3,
            fit.residual_worst_ns * 1e-3,
            fit.anchors,
        ),
        Err(problem) => format!("  {:<18} not timed: {problem}; {counts}", l.id),
    }
}

/// The files' timing, on stderr (when no fix could be made).
pub fn files_to_stderr(loaded: &[Loaded]) {
    eprintln!("GPS timing per file:");
    for l in loaded {
        eprintln!("{}", file_line(l));
    }
}

/// The truth's Mahalanobis distance squared from the fix under its covariance.
fn mahalanobis2(solution: &TdoaSolution, truth: GeoPoint) -> f64 {
    let fix = &solution.fix;
    let e = LocalFrame::new(fix.position).to_enu(truth);
    let [[a, b], [_, d]] = fix.covariance_en;
    let det = a * d - b * b;
    if det <= 0.0 {
        return f64::INFINITY;
    }
    (d * e[0] * e[0] - 2.0 * b * e[0] * e[1] + a * e[1] * e[1]) / det
}

/// Prints the fix.
pub fn fix(summary: &Summary<'_>, as_json: bool) {
    let best = summary.solution;
    let fix = &best.fix;
    let ellipse95: Ellipse = error_ellipse(fix.covariance_en, 0.95);
    let residual = |id: &str| {
        best.used
            .iter()
            .position(|u| u == id)
            .and_then(|i| fix.residuals_m.get(i).copied())
    };
    let error_m = summary.truth.map(|t| fix.position.distance_m(t));
    let inside95 = summary.truth.map(|t| mahalanobis2(best, t) <= CHI2_2DOF_95);
    if as_json {
        let value = json!({
            "frequency_hz": summary.frequency_hz,
            "latitude": fix.position.lat_deg,
            "longitude": fix.position.lon_deg,
            "uncertainty_m": fix.uncertainty_m,
            "ellipse": {"semi_major_m": fix.ellipse.semi_major_m, "semi_minor_m": fix.ellipse.semi_minor_m,
                        "orientation_deg": fix.ellipse.orientation_deg},
            "ellipse_95": {"semi_major_m": ellipse95.semi_major_m, "semi_minor_m": ellipse95.semi_minor_m,
                           "orientation_deg": ellipse95.orientation_deg},
            "covariance_en_m2": fix.covariance_en,
            "gdop": fix.gdop,
            "confidence": fix.confidence,
            "reference": best.reference,
            "delays": best.delays.iter().map(|d| json!({
                "receiver": d.id, "delay_us": d.delay_s * 1e6, "sigma_us": d.sigma_s * 1e6,
                "model_error_us": d.model_error_s * 1e6, "band_hz": [d.band_hz.0, d.band_hz.1],
                "snr_db": d.snr_db, "residual_m": residual(&d.id),
            })).collect::<Vec<_>>(),
            "excluded": best.excluded.iter().map(|(r, why)| json!({"receiver": r, "reason": why})).collect::<Vec<_>>(),
            "files": summary.loaded.iter().map(file_json).collect::<Vec<_>>(),
            "window_start": format_datetime(summary.window_start_ns),
            "window_s": summary.window_s,
            "windows_solved": summary.solved,
            "windows": summary.windows,
            "error_m": error_m,
            "truth_inside_95": inside95,
        });
        println!("{value}");
        return;
    }
    println!(
        "position        {:.5}, {:.5}  ({:.6} MHz)",
        fix.position.lat_deg,
        fix.position.lon_deg,
        summary.frequency_hz / 1e6
    );
    println!(
        "uncertainty     {:.0} m (68 % radius); 68 % ellipse {:.0} x {:.0} m, 95 % ellipse {:.0} x {:.0} m at {:.0} deg; GDOP {:.2}; confidence {:.2}",
        fix.uncertainty_m,
        fix.ellipse.semi_major_m,
        fix.ellipse.semi_minor_m,
        ellipse95.semi_major_m,
        ellipse95.semi_minor_m,
        fix.ellipse.orientation_deg,
        fix.gdop,
        fix.confidence
    );
    if let (Some(error), Some(inside)) = (error_m, inside95) {
        println!(
            "error           {error:.0} m from the given truth ({:.2} x the 68 % radius; {} the 95 % ellipse)",
            error / fix.uncertainty_m,
            if inside { "inside" } else { "outside" }
        );
    }
    println!(
        "window          {:.1} s from {}; {} of {} window(s) solved{}",
        summary.window_s,
        format_datetime(summary.window_start_ns),
        summary.solved,
        summary.windows,
        if summary.windows > 1 {
            ", the best is shown"
        } else {
            ""
        }
    );
    println!(
        "reference       {} (residual {:.1} m)",
        best.reference,
        residual(&best.reference).unwrap_or(0.0)
    );
    for d in &best.delays {
        println!(
            "  {:<18} delay {:>12.3} us +- {:.3} us  ({:.0} m)  SNR {:>5.1} dB  residual {:>8.1} m  band {:.0}..{:.0} Hz{}",
            d.id,
            d.delay_s * 1e6,
            d.sigma_s * 1e6,
            d.delay_s * SPEED_OF_LIGHT_M_S,
            d.snr_db,
            residual(&d.id).unwrap_or(f64::NAN),
            d.band_hz.0,
            d.band_hz.1,
            if d.model_error_s > 0.0 {
                format!("  (of which {:.3} us from phase errors across the band)", d.model_error_s * 1e6)
            } else {
                String::new()
            }
        );
    }
    for (receiver, why) in &best.excluded {
        println!("  excluded {receiver}: {why}");
    }
    println!("GPS timing per file:");
    for l in summary.loaded {
        println!("{}", file_line(l));
    }
}
