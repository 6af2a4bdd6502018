//! TDOA from time-aligned snippets: delays against a reference receiver, per-receiver timing
//! sigmas, then the position ([`solve`]). Shared by the live pipeline, the locate worker and
//! `sdrhub locate`.
//!
//! The live pipeline's TDOA thread is here too (`TdoaWorker`): the fusion task queues a request
//! per signal to locate, the thread waits for every receiver's snippet of its window, cuts them
//! from the receivers' rings and solves, off the async runtime.

use super::fusion::{TdoaRequest, TDOA_MIN_RECEIVERS};
use super::snippets::{Snippet, SnippetRing};
use crate::config::LocalizationConfig;
use sdrhub_dsp::delay::{DelayEstimate, DelayEstimator, FrequencyBand, MIN_LEN};
use sdrhub_dsp::geo::{GeoPoint, SPEED_OF_LIGHT_M_S};
use sdrhub_dsp::locate::pairs::{arrival_times, PairDelay as PairInput};
use sdrhub_dsp::locate::tdoa::{locate_tdoa, Propagation, TdoaConfig, TdoaFix, TdoaReceiver};
use sdrhub_dsp::locate::LocateError;
use sdrhub_dsp::resample::Resampler;
use sdrhub_dsp::Complex32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Extra lag searched beyond the largest geometric delay, s: GPS timing error and the
/// receivers' own latency differences.
const LAG_MARGIN_S: f64 = 50e-6;

/// Why a TDOA localization gave no position. The texts are what the status report, a power
/// fix's `note` ("TDOA not used: ...") and `sdrhub locate` show.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TdoaError {
    /// The worker's queue was full: the machine does not keep up, and the power method answers.
    #[error("the TDOA worker is busy")]
    Busy,
    /// A request named no receivers at all.
    #[error("no receivers")]
    NoReceivers,
    /// Fewer receivers than a fix needs were offered.
    #[error("TDOA needs 3 GPS-timed receivers, {available} available")]
    TooFewReceivers {
        /// Receivers offered.
        available: usize,
    },
    /// The snippet of the receiver that hears the signal best could not be cut (so the window's
    /// sample rate is unknown).
    #[error("{receiver}: {reason}")]
    ReferenceSnippet {
        /// The receiver.
        receiver: String,
        /// Why its snippet could not be cut.
        reason: String,
    },
    /// Too few receivers delivered a usable snippet of the window.
    #[error(
        "{usable} receiver(s) with a usable snippet, {needed} needed ({})",
        excluded.iter().map(|(id, why)| format!("{id}: {why}")).collect::<Vec<_>>().join("; ")
    )]
    TooFewSnippets {
        /// Receivers with a usable snippet.
        usable: usize,
        /// Receivers a fix needs.
        needed: usize,
        /// The others, with why.
        excluded: Vec<(String, String)>,
    },
    /// The snippets are too short for the largest delay the receivers' spread allows.
    #[error(
        "snippets of {len} samples are too short for delays up to {max_lag} samples ({:.0} km apart)",
        baseline_m / 1e3
    )]
    SnippetsTooShort {
        /// Samples per snippet.
        len: usize,
        /// Largest lag searched, samples.
        max_lag: usize,
        /// Largest distance between two receivers, m.
        baseline_m: f64,
    },
    /// The signal's band lies outside the snippets' baseband.
    #[error("the signal's band is empty")]
    EmptyBand,
    /// Too few receivers correlate with the others (no distinct correlation peak, too weak, ...).
    #[error("{delayed} of {others} receivers gave a delay against the others: {}", reasons.join("; "))]
    TooFewDelays {
        /// Receivers besides the reference connected to it by measured delays.
        delayed: usize,
        /// Receivers besides the reference.
        others: usize,
        /// The distinct reasons the pairs failed, in the order first met.
        reasons: Vec<String>,
    },
    /// The arrival times cannot be fitted to the measured pairs.
    #[error("the measured pairs do not connect the receivers")]
    PairsDisconnected,
    /// The locator found no position: too few receivers, a degenerate geometry (collinear, too
    /// far outside the network), no convergence.
    #[error(transparent)]
    Locate(#[from] LocateError),
}

/// The pairs' failures said once per kind: usually every pair fails the same way (a carrier has
/// no timing information) with different numbers, and an operator needs the kind, an example
/// and how many pairs, not every pair's figures. In the order first met.
fn distinct_reasons<'a>(failures: impl Iterator<Item = &'a str>) -> Vec<String> {
    // The kind of a failure: its text with every run of digits replaced.
    let kind = |text: &str| {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('#') {
                out.push('#');
            }
        }
        out
    };
    let mut kinds: Vec<(String, &str, usize)> = Vec::new();
    for failure in failures {
        let k = kind(failure);
        match kinds.iter_mut().find(|(seen, _, _)| *seen == k) {
            Some((_, _, count)) => *count += 1,
            None => kinds.push((k, failure, 1)),
        }
    }
    kinds
        .into_iter()
        .map(|(_, example, count)| match count {
            1 => example.to_string(),
            n => format!("{example} ({n} pairs failed so)"),
        })
        .collect()
}

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
    /// Its own timing error beyond the correlation's, s (standard deviation): GPS clock,
    /// the scatter of its GPS solutions about their fit, and the uncertainty of its position
    /// as a range.
    pub timing_sigma_s: f64,
}

/// Where in the snippets' baseband the signal is, Hz relative to their centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SignalBand {
    /// Exactly this band (a detector's report, or the user's).
    Given(f64, f64),
    /// Somewhere within this region, found from the cross-spectrum of each pair (the region
    /// holds the signal and none of its neighbours).
    Within(f64, f64),
}

/// The delay of one receiver against the reference, from the arrival times fitted to every
/// pair.
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
    /// The band the correlation used, Hz relative to the centre.
    pub band_hz: (f64, f64),
    /// The part of `sigma_s` from phase errors that vary across the band (multipath,
    /// dispersion, filters) rather than noise, s; 0 when none shows.
    pub model_error_s: f64,
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
    /// How far the pairs' delays disagree beyond their variances when arrival times are fitted
    /// to all of them: chi-square and its degrees of freedom.
    pub pairs_chi2: (f64, usize),
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
/// snippets' centre). Each receiver's own timing sigma is added to its share of the
/// correlation's.
///
/// Snippets need not share a clock rate or start: each is resampled onto the reference's
/// sample times (from its own start and rate) before it is correlated, so a receiver whose
/// ADC runs hundreds of ppm off is measured as precisely as any other.
///
/// # Errors
/// Why no position: snippets unusable, fewer than 3 receivers with a delay, or the solver's
/// reason (degenerate geometry...).
pub fn solve(
    receivers: &[ReceiverSnippet],
    band: SignalBand,
    propagation: Propagation,
) -> Result<TdoaSolution, TdoaError> {
    if receivers.len() < 3 {
        return Err(TdoaError::TooFewReceivers {
            available: receivers.len(),
        });
    }
    let reference_index = receivers
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.snr_db.total_cmp(&b.1.snr_db))
        .map(|(i, _)| i)
        .ok_or(TdoaError::NoReceivers)?;
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
    let max_lag = ((baseline_m / SPEED_OF_LIGHT_M_S + LAG_MARGIN_S) * rate)
        .ceil()
        .max(4.0) as usize;
    if len < MIN_LEN || len <= 4 * max_lag {
        return Err(TdoaError::SnippetsTooShort {
            len,
            max_lag,
            baseline_m,
        });
    }
    let nyquist = rate / 2.0;
    let (low, high) = match band {
        SignalBand::Given(low, high) | SignalBand::Within(low, high) => (low, high),
    };
    let region = FrequencyBand {
        low_hz: low.clamp(-nyquist, nyquist - 1.0),
        high_hz: high.clamp(-nyquist + 1.0, nyquist),
    };
    if region.low_hz >= region.high_hz {
        return Err(TdoaError::EmptyBand);
    }
    // Every snippet on the reference's sample times, then every pair correlated: delays
    // against one reference would depend on which one it is whenever the pairs disagree.
    let resampler = Resampler::new();
    let aligned: Vec<Vec<Complex32>> = receivers
        .iter()
        .map(|receiver| {
            let mut out = vec![Complex32::new(0.0, 0.0); len];
            align(&resampler, &receiver.snippet, &reference.snippet, &mut out);
            out
        })
        .collect();
    let mut estimator = DelayEstimator::new(len, max_lag, rate);
    let mut estimates: Vec<(usize, usize, DelayEstimate)> = Vec::new();
    let mut failures: Vec<(usize, usize, String)> = Vec::new();
    for i in 0..receivers.len() {
        if let Err(error) = estimator.set_reference(&aligned[i]) {
            failures.push((i, i, error.to_string()));
            continue;
        }
        for (j, other) in aligned.iter().enumerate().skip(i + 1) {
            let estimate = match band {
                SignalBand::Given(..) => estimator.estimate_in_band(other, region),
                SignalBand::Within(..) => estimator.estimate_within(other, region),
            };
            match estimate {
                Ok(estimate) => estimates.push((i, j, estimate)),
                Err(error) => failures.push((i, j, error.to_string())),
            }
        }
    }
    // The receivers connected to the reference through measured pairs take part.
    let mut connected = vec![false; receivers.len()];
    connected[reference_index] = true;
    loop {
        let before = connected.iter().filter(|&&c| c).count();
        for &(i, j, _) in &estimates {
            if connected[i] || connected[j] {
                connected[i] = true;
                connected[j] = true;
            }
        }
        if connected.iter().filter(|&&c| c).count() == before {
            break;
        }
    }
    let mut excluded = Vec::new();
    for (index, receiver) in receivers.iter().enumerate() {
        if !connected[index] {
            let reasons: Vec<&str> = failures
                .iter()
                .filter(|(i, j, _)| *i == index || *j == index)
                .map(|(_, _, why)| why.as_str())
                .collect();
            excluded.push((
                receiver.id.clone(),
                reasons
                    .first()
                    .map_or_else(|| "no delay measured".to_string(), |r| r.to_string()),
            ));
        }
    }
    // Indices in the fit: the reference first.
    let order: Vec<usize> = std::iter::once(reference_index)
        .chain((0..receivers.len()).filter(|&k| k != reference_index && connected[k]))
        .collect();
    if order.len() < 3 {
        return Err(TdoaError::TooFewDelays {
            delayed: order.len() - 1,
            others: receivers.len() - 1,
            reasons: distinct_reasons(failures.iter().map(|(_, _, why)| why.as_str())),
        });
    }
    let position_in = |k: usize| order.iter().position(|&o| o == k);
    let pairs: Vec<PairInput> = estimates
        .iter()
        .filter_map(|(i, j, e)| {
            Some(PairInput {
                i: position_in(*i)?,
                j: position_in(*j)?,
                delay_s: e.delay_s,
                variance_s2: e.variance_s2,
            })
        })
        .collect();
    let arrivals = arrival_times(order.len(), &pairs).ok_or(TdoaError::PairsDisconnected)?;
    let own = |r: &ReceiverSnippet| r.timing_sigma_s * r.timing_sigma_s;
    let mut inputs = Vec::new();
    let mut used = Vec::new();
    let mut delays = Vec::new();
    let mut delay_values = Vec::new();
    for (position, &k) in order.iter().enumerate() {
        let receiver = &receivers[k];
        let variance = arrivals.variances_s2[position] + own(receiver);
        inputs.push(TdoaReceiver {
            position: receiver.position,
            sigma_s: variance.sqrt(),
        });
        used.push(receiver.id.clone());
        if position == 0 {
            continue;
        }
        delay_values.push(arrivals.times_s[position]);
        // The direct pair with the reference, for its SNR, band and model error.
        let direct = estimates
            .iter()
            .find(|(i, j, _)| (*i, *j) == (reference_index.min(k), reference_index.max(k)))
            .map(|(_, _, e)| e);
        delays.push(PairDelay {
            id: receiver.id.clone(),
            delay_s: arrivals.times_s[position],
            sigma_s: (variance + arrivals.variances_s2[0] + own(reference)).sqrt(),
            snr_db: direct.map_or(f64::NAN, |e| e.snr_db),
            band_hz: direct.map_or((f64::NAN, f64::NAN), |e| (e.band_low_hz, e.band_high_hz)),
            model_error_s: direct.map_or(0.0, |e| e.model_error_s2.sqrt()),
        });
    }
    let config = TdoaConfig {
        propagation,
        ..TdoaConfig::default()
    };
    let fix = locate_tdoa(&inputs, &delay_values, &config)?;
    for rejection in &fix.rejected {
        excluded.push((used[rejection.receiver].clone(), rejection.reason.clone()));
    }
    Ok(TdoaSolution {
        fix,
        reference: reference.id.clone(),
        delays,
        used,
        excluded,
        pairs_chi2: (arrivals.chi2, arrivals.dof),
    })
}

/// `snippet` resampled onto `reference`'s sample times (its start plus n over its rate), from
/// its own start and rate, into `out`.
fn align(resampler: &Resampler, snippet: &Snippet, reference: &Snippet, out: &mut [Complex32]) {
    let start = (reference.start_ns - snippet.start_ns) as f64 * 1e-9 * snippet.rate_hz;
    let step = snippet.rate_hz / reference.rate_hz;
    resampler.process(&snippet.samples, start, step, out);
}

/// TDOA requests waiting for the worker. Each takes a few ms; more than this backlog means the
/// machine cannot keep up, and the power method answers instead.
const TDOA_QUEUE: usize = 16;
/// How long the worker waits for every receiver to deliver a snippet's window.
const TDOA_WAIT: Duration = Duration::from_secs(3);
/// Longest snippet, samples: bounds the worker's FFTs (65536 points: 64 ms at 1 MS/s, 5.5 s at
/// a KiwiSDR's 12 kHz).
const MAX_SNIPPET: usize = 1 << 16;

/// The thread that cuts snippets and solves TDOA, off the async runtime.
pub(super) struct TdoaWorker {
    requests: crossbeam_channel::Sender<TdoaRequest>,
    /// Each request with its outcome, for the fusion task.
    pub(super) results: mpsc::Receiver<(TdoaRequest, Result<TdoaSolution, TdoaError>)>,
}

impl TdoaWorker {
    pub(super) fn spawn(
        rings: Vec<Arc<SnippetRing>>,
        config: LocalizationConfig,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let (request_tx, request_rx) = crossbeam_channel::bounded::<TdoaRequest>(TDOA_QUEUE);
        let (result_tx, result_rx) = mpsc::channel(TDOA_QUEUE);
        let spawned = std::thread::Builder::new().name("tdoa".into()).spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let request = match request_rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(request) => request,
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                };
                let outcome = solve_request(&request, &rings, &config, &stop);
                if result_tx.blocking_send((request, outcome)).is_err() {
                    break;
                }
            }
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the TDOA worker; localizations use the power method");
        }
        Self {
            requests: request_tx,
            results: result_rx,
        }
    }

    /// Queues a request; gives it back when the worker is saturated (or gone).
    pub(super) fn submit(&mut self, request: TdoaRequest) -> Result<(), TdoaRequest> {
        self.requests.try_send(request).map_err(|e| e.into_inner())
    }
}

/// Cuts every candidate's snippet of the request's window and solves.
fn solve_request(
    request: &TdoaRequest,
    rings: &[Arc<SnippetRing>],
    config: &LocalizationConfig,
    stop: &AtomicBool,
) -> Result<TdoaSolution, TdoaError> {
    let best = request
        .receivers
        .iter()
        .max_by(|a, b| a.snr_db.total_cmp(&b.snr_db))
        .ok_or(TdoaError::NoReceivers)?;
    let rate = rings[best.receiver]
        .cut(request.start_ns, 1)
        .map(|s| s.rate_hz)
        .map_err(|e| TdoaError::ReferenceSnippet {
            receiver: best.id.clone(),
            reason: e.to_string(),
        })?;
    let len = ((config.tdoa_window_s * rate) as usize).min(MAX_SNIPPET);
    let end_ns = request.start_ns + (len as f64 / rate * 1e9) as i64;
    let deadline = Instant::now() + TDOA_WAIT;
    let mut receivers = Vec::new();
    let mut excluded = Vec::new();
    for candidate in &request.receivers {
        let ring = &rings[candidate.receiver];
        while ring.newest_ns().is_none_or(|t| t < end_ns)
            && Instant::now() < deadline
            && !stop.load(Ordering::Acquire)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        match ring.cut(request.start_ns, len) {
            Ok(snippet) if (snippet.rate_hz - rate).abs() > 1e-3 * rate => excluded.push((
                candidate.id.clone(),
                format!(
                    "sample rate {:.0} Hz differs from the reference's {rate:.0} Hz",
                    snippet.rate_hz
                ),
            )),
            Ok(snippet) => receivers.push(ReceiverSnippet {
                id: candidate.id.clone(),
                position: candidate.position,
                snippet,
                snr_db: candidate.snr_db,
                timing_sigma_s: config.timing_sigma_ns * 1e-9,
            }),
            Err(error) => excluded.push((candidate.id.clone(), error.to_string())),
        }
    }
    if receivers.len() < TDOA_MIN_RECEIVERS {
        return Err(TdoaError::TooFewSnippets {
            usable: receivers.len(),
            needed: TDOA_MIN_RECEIVERS,
            excluded,
        });
    }
    // The detected band, widened a little: the detector's edges are a bin or two inside the
    // signal's skirts, which still carry timing information.
    let center = receivers[0].snippet.center_hz;
    let half = 0.5 * request.bandwidth_hz * 1.2 + 2.0 * rate / 1024.0;
    let offset = request.frequency_hz - center;
    let mut solution = solve(
        &receivers,
        SignalBand::Given(offset - half, offset + half),
        config.propagation.model(),
    )?;
    solution.excluded.extend(excluded);
    Ok(solution)
}

#[cfg(test)]
mod tests {
    use super::distinct_reasons;

    #[test]
    fn the_same_failure_with_other_numbers_is_said_once_with_its_count() {
        let failures = [
            "the correlation has no distinct peak (it stands 0.8 noise sigmas above its surroundings, 5 needed)",
            "the signal carries no timing information",
            "the correlation has no distinct peak (it stands 2.4 noise sigmas above its surroundings, 5 needed)",
            "the correlation has no distinct peak (it stands 0.4 noise sigmas above its surroundings, 5 needed)",
        ];
        assert_eq!(
            distinct_reasons(failures.into_iter()),
            vec![
                format!("{} (3 pairs failed so)", failures[0]),
                failures[1].to_string()
            ]
        );
    }
}
