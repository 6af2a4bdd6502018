//! TDOA from time-aligned snippets: delays against a reference receiver, per-receiver timing
//! sigmas, then the position. Shared by the live localization worker and `sdrhub locate`.

use super::snippets::Snippet;
use sdrhub_dsp::delay::{DelayEstimate, DelayEstimator, FrequencyBand, MIN_LEN};
use sdrhub_dsp::geo::GeoPoint;
use sdrhub_dsp::locate::tdoa::{locate_tdoa, Propagation, TdoaConfig, TdoaFix, TdoaReceiver};

/// Speed of light, m/s.
const C: f64 = 299_792_458.0;
/// Extra lag searched beyond the largest geometric delay, s: GPS timing error and the
/// receivers' own latency differences.
const LAG_MARGIN_S: f64 = 50e-6;

/// One receiver's part in a TDOA solution.
#[derive(Debug, Clone)]
pub struct ReceiverSnippet {
    /// Wire id.
    pub id: String,
    /// Antenna position.
    pub position: GeoPoint,
    /// Its snippet.
    pub snippet: Snippet,
    /// How well it hears the signal (per-bin SNR, dB): the best becomes the reference.
    pub snr_db: f64,
}

/// The measured delay of one receiver against the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct PairDelay {
    /// The receiver.
    pub id: String,
    /// Arrival time minus the reference's, s.
    pub delay_s: f64,
    /// Its standard deviation, s.
    pub sigma_s: f64,
    /// Post-correlation SNR, dB.
    pub snr_db: f64,
}

/// A TDOA localization with what went into it.
#[derive(Debug, Clone)]
pub struct TdoaSolution {
    /// The fix.
    pub fix: TdoaFix,
    /// Id of the reference receiver.
    pub reference: String,
    /// Delays of the others, in input order (the reference excluded).
    pub delays: Vec<PairDelay>,
    /// Ids of the receivers in the fix, reference first.
    pub used: Vec<String>,
    /// Receivers left out, with why (no usable correlation, or rejected as outliers).
    pub excluded: Vec<(String, String)>,
}

impl TdoaSolution {
    /// The `localizations:updated` payload of this fix for `signal_id` at `frequency_hz`,
    /// with `also_excluded` (receivers left out before solving) listed before the solver's.
    pub fn report(
        &self,
        signal_id: String,
        frequency_hz: f64,
        also_excluded: Vec<(String, String)>,
        now: crate::events::Timestamp,
    ) -> crate::events::LocalizationReport {
        use crate::events::{EllipseReport, Exclusion, LocalizationMethod, LocalizationReport};
        let fix = &self.fix;
        LocalizationReport {
            signal_id,
            latitude: fix.position.lat_deg,
            longitude: fix.position.lon_deg,
            uncertainty_m: fix.uncertainty_m,
            confidence: fix.confidence,
            method: LocalizationMethod::Tdoa,
            ellipse: EllipseReport {
                semi_major_m: fix.ellipse.semi_major_m,
                semi_minor_m: fix.ellipse.semi_minor_m,
                orientation_deg: fix.ellipse.orientation_deg,
            },
            receivers: self
                .used
                .iter()
                .filter(|id| !self.excluded.iter().any(|(x, _)| x == *id))
                .cloned()
                .collect(),
            excluded: also_excluded
                .into_iter()
                .chain(self.excluded.iter().cloned())
                .map(|(receiver, reason)| Exclusion { receiver, reason })
                .collect(),
            gdop: fix.gdop,
            note: None,
            frequency_hz,
            timestamp: now,
        }
    }
}

/// Locates from `receivers`' snippets of the signal occupying `band` (Hz relative to the
/// snippets' centre). `timing_sigma_s` is each receiver's own clock error (GPS), added to the
/// correlation's.
///
/// # Errors
/// Why no position: snippets unusable, fewer than 3 receivers with a delay, or the solver's
/// reason (degenerate geometry...).
pub fn solve(
    receivers: &[ReceiverSnippet],
    band: (f64, f64),
    timing_sigma_s: f64,
    propagation: Propagation,
) -> Result<TdoaSolution, String> {
    if receivers.len() < 3 {
        return Err(format!(
            "TDOA needs 3 GPS-timed receivers, {} available",
            receivers.len()
        ));
    }
    let reference_index = receivers
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.snr_db.total_cmp(&b.1.snr_db))
        .map(|(i, _)| i)
        .ok_or("no receivers")?;
    let reference = &receivers[reference_index];
    let rate = reference.snippet.rate_hz;
    let len = receivers
        .iter()
        .map(|r| r.snippet.samples.len())
        .min()
        .unwrap_or(0);
    let baseline_m = receivers
        .iter()
        .flat_map(|a| receivers.iter().map(move |b| a.position.distance_m(b.position)))
        .fold(0.0, f64::max);
    let max_lag = ((baseline_m / C + LAG_MARGIN_S) * rate).ceil().max(4.0) as usize;
    if len < MIN_LEN || len <= 4 * max_lag {
        return Err(format!(
            "snippets of {len} samples are too short for delays up to {max_lag} samples ({:.0} km apart)",
            baseline_m / 1e3
        ));
    }
    let nyquist = rate / 2.0;
    let band = FrequencyBand {
        low_hz: band.0.clamp(-nyquist, nyquist - 1.0),
        high_hz: band.1.clamp(-nyquist + 1.0, nyquist),
    };
    if band.low_hz >= band.high_hz {
        return Err("the signal's band is empty".into());
    }
    let mut estimator = DelayEstimator::new(len, max_lag, rate);
    estimator
        .set_reference(&reference.snippet.samples[..len])
        .map_err(|e| format!("reference {}: {e}", reference.id))?;
    let mut estimates: Vec<(usize, DelayEstimate, f64)> = Vec::new();
    let mut excluded = Vec::new();
    for (index, receiver) in receivers.iter().enumerate() {
        if index == reference_index {
            continue;
        }
        match estimator.estimate_in_band(&receiver.snippet.samples[..len], band) {
            Ok(estimate) => {
                // Sample n of each snippet is at its own start time plus n over its own rate:
                // add the start difference and the mean drift between the two clocks.
                let start_offset = (receiver.snippet.start_ns - reference.snippet.start_ns) as f64 * 1e-9;
                let drift = 0.5 * len as f64 * (1.0 / receiver.snippet.rate_hz - 1.0 / rate);
                estimates.push((index, estimate, estimate.delay_s + start_offset + drift));
            }
            Err(error) => excluded.push((receiver.id.clone(), error.to_string())),
        }
    }
    if estimates.len() < 2 {
        // Usually every pair fails the same way (a carrier has no timing information): say it
        // once.
        let mut reasons: Vec<&str> = Vec::new();
        for (_, reason) in &excluded {
            if !reasons.contains(&reason.as_str()) {
                reasons.push(reason);
            }
        }
        return Err(format!(
            "{} of {} receivers gave a delay against {}: {}",
            estimates.len(),
            receivers.len() - 1,
            reference.id,
            reasons.join("; ")
        ));
    }
    // The reference's share of every pair variance is common to all pairs; take the mean.
    let reference_variance = estimates
        .iter()
        .map(|(_, e, _)| e.variance_reference_s2)
        .sum::<f64>()
        / estimates.len() as f64;
    let timing = timing_sigma_s * timing_sigma_s;
    let mut inputs = vec![TdoaReceiver {
        position: reference.position,
        sigma_s: (reference_variance + timing).sqrt(),
    }];
    let mut used = vec![reference.id.clone()];
    let mut delays = Vec::new();
    let mut delay_values = Vec::new();
    for (index, estimate, delay) in &estimates {
        let receiver = &receivers[*index];
        inputs.push(TdoaReceiver {
            position: receiver.position,
            sigma_s: (estimate.variance_other_s2 + timing).sqrt(),
        });
        delay_values.push(*delay);
        used.push(receiver.id.clone());
        delays.push(PairDelay {
            id: receiver.id.clone(),
            delay_s: *delay,
            sigma_s: (estimate.variance_s2 + 2.0 * timing).sqrt(),
            snr_db: estimate.snr_db,
        });
    }
    let config = TdoaConfig {
        propagation,
        ..TdoaConfig::default()
    };
    let fix = locate_tdoa(&inputs, &delay_values, &config).map_err(|e| e.to_string())?;
    for rejection in &fix.rejected {
        excluded.push((used[rejection.receiver].clone(), rejection.reason.clone()));
    }
    Ok(TdoaSolution {
        fix,
        reference: reference.id.clone(),
        delays,
        used,
        excluded,
    })
}
