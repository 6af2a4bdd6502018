//! GPS timing of a KiwiSDR stream: a robust straight-line fit of GPS time against sample count.
//!
//! A KiwiSDR stamps every frame with the GPS time of its first sample, but only the frames
//! right after a fresh GPS solution carry a measured time; the rest carry the receiver's own
//! extrapolation, with its own idea of the sample rate. Real recordings also hold stamps that
//! must not be believed (all seen in `kiwirecorder --kiwi-wav` files of public receivers):
//!
//! - the first frame's stamp all zeros, and the second a stale one from a solution hours
//!   earlier, still marked "0 s since the last solution";
//! - few solutions: a 30 s file may hold 6 (the counter climbs to 5 s and drops to 0) or 15;
//! - a true sample rate 100-200 ppm away from the nominal one in the WAV header, different on
//!   every receiver.
//!
//! So nothing is assumed about the rate, and no single stamp is trusted:
//!
//! 1. **Candidates**: frames where the seconds-since-solution count drops (a fresh solution),
//!    and the first stamped frame when it says 0 (it may be fresh, or stale). Zero stamps and
//!    "no fix" frames are never candidates; the frames in between solutions are the receiver's
//!    extrapolation and are not used.
//! 2. **Robust line**: of the lines through two candidates at a believable rate (within
//!    [`MAX_RATE_ERROR_PPM`] of nominal), the one the most candidates lie within
//!    [`MAX_RESIDUAL_NS`] of (a consensus: one stale stamp among three good ones cannot move it,
//!    where medians of pair slopes already break down). Then a candidate whose residual exceeds
//!    [`OUTLIER_SIGMAS`] robust standard deviations (1.4826 x the median absolute residual), and
//!    at least [`OUTLIER_FLOOR_NS`], is rejected: a stale or out-of-order stamp is off by
//!    seconds or hours, a wrong solution by microseconds or more.
//! 3. **Least squares** on the remaining anchors, repeated while it rejects more. The fit gives
//!    the sample rate, the time of every sample, and the residuals: their RMS and worst value
//!    say how well the receiver's solutions agree with one steady clock.
//!
//! The fit is refused, with a typed reason ([`TimingProblem`]), when there are no GPS stamps,
//! fewer than [`MIN_ANCHORS`] consistent solutions (two points always fit a line: the third
//! checks it), a rate more than [`MAX_RATE_ERROR_PPM`] from nominal, or a worst residual above
//! [`MAX_RESIDUAL_NS`]. The same [`TimingFitter`] times the live client's stream (a sliding
//! window of the recent solutions) and whole Kiwi WAV files.

use super::gps::gps_week_to_unix_ns;
use super::protocol::NO_GPS_FIX;
use std::collections::VecDeque;

/// Fewest consistent solutions for a trusted fit: two always fit a line; a third checks it.
pub const MIN_ANCHORS: usize = 3;
/// A candidate is an outlier beyond this many robust standard deviations of the residuals.
pub const OUTLIER_SIGMAS: f64 = 5.0;
/// ... and beyond this, ns: a KiwiSDR's solutions scatter by 0.1-0.2 us about a steady clock,
/// so 2 us is far outside that scatter yet far below one 12 kHz sample (83 us).
pub const OUTLIER_FLOOR_NS: f64 = 2_000.0;
/// Largest believable rate error, ppm from the nominal rate: ADC crystals are within a few
/// hundred ppm; a fit further off has latched onto wrong stamps.
pub const MAX_RATE_ERROR_PPM: f64 = 1_000.0;
/// Largest worst-case residual of a trusted fit, ns: 20 us is 6 km of range, beyond which the
/// receiver's time is no use for TDOA at any baseline a KiwiSDR network has.
pub const MAX_RESIDUAL_NS: f64 = 20_000.0;
/// Rounds of rejection and refitting; it settles in one or two.
const MAX_ROUNDS: usize = 4;
/// The consensus line's reach, ns: candidates this close to a line through two others count
/// as agreeing with it (the largest scatter a trusted fit may have).
const CONSENSUS_NS: f64 = MAX_RESIDUAL_NS;
/// Most candidates the consensus search draws its lines through (evenly spaced): it costs
/// their number squared times all candidates, and 64 solutions span minutes.
const CONSENSUS_POINTS: usize = 64;

/// Which frames are candidate anchors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnchorRule {
    /// A KiwiSDR's stream (or a `kiwirecorder` file): the frames where the seconds since the
    /// last solution drop, plus the first stamped frame when it says 0.
    #[default]
    SolutionCycle,
    /// Every frame stamped "0 s" (files sdrhub wrote, each frame with its reconstructed GPS
    /// time).
    EveryFreshFrame,
}

/// Why a stream's or file's GPS timing cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum TimingProblem {
    /// No frame carries a GPS time (no fix, or timestamps switched off).
    #[error("no GPS time stamps (no fix, or GPS time stamps switched off)")]
    NoGpsStamps,
    /// Too few consistent GPS solutions to fit and check a clock.
    #[error(
        "{used} consistent GPS solution(s) of {candidates} seen, at least {need} needed to fit and check the clock"
    )]
    TooFewAnchors {
        /// Anchors consistent with the fit.
        used: usize,
        /// Candidates seen.
        candidates: usize,
        /// [`MIN_ANCHORS`].
        need: usize,
    },
    /// The fitted rate is implausibly far from the nominal one.
    #[error("fitted sample rate {rate_hz:.3} Hz is {ppm:+.0} ppm from the nominal {nominal_hz:.0} Hz (at most {limit_ppm:.0} ppm believable)")]
    RateImplausible {
        /// Fitted rate, Hz.
        rate_hz: f64,
        /// Nominal rate, Hz.
        nominal_hz: f64,
        /// Difference, ppm.
        ppm: f64,
        /// [`MAX_RATE_ERROR_PPM`].
        limit_ppm: f64,
    },
    /// The GPS solutions scatter too much about the fitted clock.
    #[error(
        "GPS solutions scatter {worst_us:.1} us about the fitted clock (at most {limit_us:.0} us usable)"
    )]
    ResidualTooLarge {
        /// Worst residual, us.
        worst_us: f64,
        /// [`MAX_RESIDUAL_NS`] in us.
        limit_us: f64,
    },
}

/// What was seen of the stamps, whatever the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StampCounts {
    /// Frames offered.
    pub frames: u64,
    /// Frames stamped all zeros.
    pub zero: u64,
    /// Frames marked "no fix" (255).
    pub no_fix: u64,
    /// Candidate anchors (fresh solutions).
    pub candidates: u64,
    /// Candidates rejected as outliers (stale, out of order, wrong solution).
    pub rejected: u64,
}

/// A fitted clock: the time of every sample of one stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimingFit {
    /// The fitted sample rate, Hz.
    pub rate_hz: f64,
    /// Sample index of the origin (the anchors' mean sample, for numerical conditioning).
    origin_sample: f64,
    /// Time of the origin, ns since the Unix epoch.
    origin_ns: i64,
    /// Sub-ns part of the origin's time.
    origin_frac_ns: f64,
    /// Anchors used.
    pub anchors: usize,
    /// RMS of their residuals, ns.
    pub residual_rms_ns: f64,
    /// Largest |residual|, ns.
    pub residual_worst_ns: f64,
    /// First and last anchor's sample index.
    pub span_samples: (u64, u64),
}

impl TimingFit {
    /// Time of sample `sample` (may be fractional), ns since the Unix epoch, as the whole ns
    /// and a fraction in [0, 1).
    pub fn time_parts(&self, sample: f64) -> (i64, f64) {
        let offset = (sample - self.origin_sample) * 1e9 / self.rate_hz + self.origin_frac_ns;
        let whole = offset.floor();
        (self.origin_ns + whole as i64, offset - whole)
    }

    /// Time of sample `sample`, ns since the Unix epoch (rounded).
    pub fn time_ns(&self, sample: f64) -> i64 {
        let (whole, fraction) = self.time_parts(sample);
        whole + fraction.round() as i64
    }

    /// The (fractional) sample index at time `time_ns` (+ `fraction_ns`).
    pub fn sample_at(&self, time_ns: i64, fraction_ns: f64) -> f64 {
        let since = (time_ns - self.origin_ns) as f64 + fraction_ns - self.origin_frac_ns;
        self.origin_sample + since * self.rate_hz * 1e-9
    }

    /// The rate's difference from `nominal_hz`, ppm.
    pub fn ppm_from(&self, nominal_hz: f64) -> f64 {
        (self.rate_hz / nominal_hz - 1.0) * 1e6
    }
}

/// One candidate anchor: a sample index and its GPS time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    sample: u64,
    time_ns: i64,
}

/// Collects a stream's GPS stamps and fits its clock.
///
/// ```
/// use sdrhub_hardware::kiwi::timing::{AnchorRule, TimingFitter};
/// use sdrhub_hardware::kiwi::gps::unix_ns_to_gps_week;
///
/// // A receiver 150 ppm fast, a solution every 5 s, and a stale stamp first.
/// let (rate, start) = (12_000.0 * (1.0 + 150e-6), 1_600_000_000_000_000_000i64);
/// let mut fitter = TimingFitter::new(AnchorRule::SolutionCycle, 12_000.0, start, 0);
/// let (sec, nsec) = unix_ns_to_gps_week(start - 11_600_000_000_000);
/// fitter.push(0, 0, sec, nsec);
/// for frame in 1..800u64 {
///     let sample = frame * 512;
///     let time = start + (sample as f64 * 1e9 / rate) as i64;
///     let age = ((sample as f64 / rate) % 5.0) as u8;
///     let (sec, nsec) = unix_ns_to_gps_week(time);
///     fitter.push(sample, age, sec, nsec);
/// }
/// let fit = fitter.fit().unwrap();
/// assert!((fit.rate_hz - rate).abs() < 1e-3);
/// assert_eq!(fitter.counts().rejected, 1);
/// ```
#[derive(Debug, Clone)]
pub struct TimingFitter {
    rule: AnchorRule,
    nominal_rate_hz: f64,
    week_hint_ns: i64,
    /// Most candidates kept (0: all): a live stream keeps a sliding window.
    keep: usize,
    candidates: VecDeque<Candidate>,
    previous_age: Option<u8>,
    counts: StampCounts,
    /// Sample indices of the candidates the last fit rejected.
    rejected: Vec<u64>,
}

impl TimingFitter {
    /// A fitter for a stream whose nominal rate is `nominal_rate_hz`, whose GPS week is the
    /// one nearest `week_hint_ns` (ns since the Unix epoch: the recording's date, or the host
    /// clock for a live stream), keeping the last `keep` candidates (0: all).
    pub fn new(rule: AnchorRule, nominal_rate_hz: f64, week_hint_ns: i64, keep: usize) -> Self {
        Self {
            rule,
            nominal_rate_hz,
            week_hint_ns,
            keep,
            candidates: VecDeque::new(),
            previous_age: None,
            counts: StampCounts::default(),
            rejected: Vec::new(),
        }
    }

    /// Updates the week hint (a live stream: the host clock now).
    pub fn set_week_hint(&mut self, week_hint_ns: i64) {
        self.week_hint_ns = week_hint_ns;
    }

    /// Updates the nominal rate (a later `MSG sample_rate`).
    pub fn set_nominal_rate(&mut self, rate_hz: f64) {
        self.nominal_rate_hz = rate_hz;
    }

    /// The nominal rate.
    pub fn nominal_rate_hz(&self) -> f64 {
        self.nominal_rate_hz
    }

    /// Forgets everything (the receiver restarted its stream).
    pub fn reset(&mut self) {
        self.candidates.clear();
        self.previous_age = None;
        self.counts = StampCounts::default();
        self.rejected.clear();
    }

    /// What was seen of the stamps.
    pub fn counts(&self) -> StampCounts {
        self.counts
    }

    /// Offers the stamp of the frame whose first sample is stream sample `sample`: seconds
    /// since the last solution (`age`), GPS seconds of the week and nanoseconds. Returns
    /// whether it became a candidate anchor.
    pub fn push(&mut self, sample: u64, age: u8, gps_sec: u32, gps_nsec: u32) -> bool {
        self.counts.frames += 1;
        if age == NO_GPS_FIX {
            self.counts.no_fix += 1;
            self.previous_age = None;
            return false;
        }
        if gps_sec == 0 && gps_nsec == 0 {
            self.counts.zero += 1;
            return false;
        }
        let candidate = match self.rule {
            AnchorRule::SolutionCycle => match self.previous_age {
                Some(previous) => age < previous,
                None => age == 0,
            },
            AnchorRule::EveryFreshFrame => age == 0,
        };
        self.previous_age = Some(age);
        if candidate {
            self.counts.candidates += 1;
            if self.keep > 0 && self.candidates.len() == self.keep {
                self.candidates.pop_front();
            }
            self.candidates.push_back(Candidate {
                sample,
                time_ns: gps_week_to_unix_ns(gps_sec, gps_nsec, self.week_hint_ns),
            });
        }
        candidate
    }

    /// Candidates currently held.
    pub fn candidates(&self) -> usize {
        self.candidates.len()
    }

    /// The fit over the candidates held, or why there is none. Also updates the count of
    /// rejected candidates.
    ///
    /// # Errors
    /// See [`TimingProblem`].
    pub fn fit(&mut self) -> Result<TimingFit, TimingProblem> {
        let (result, inliers) = fit_candidates(self.candidates.make_contiguous(), self.nominal_rate_hz);
        self.rejected = self
            .candidates
            .iter()
            .zip(&inliers)
            .filter(|(_, &inlier)| !inlier)
            .map(|(c, _)| c.sample)
            .collect();
        // Rejections among the candidates held now (older ones have left a live window).
        self.counts.rejected = self.rejected.len() as u64;
        if self.counts.frames > 0 && self.counts.zero + self.counts.no_fix == self.counts.frames {
            return Err(TimingProblem::NoGpsStamps);
        }
        result
    }

    /// Sample indices of the candidates the last [`Self::fit`] rejected (all of them when it
    /// found too few consistent ones).
    pub fn rejected_samples(&self) -> &[u64] {
        &self.rejected
    }
}

/// The robust fit of `candidates` (see the module documentation).
fn fit_candidates(
    candidates: &[Candidate],
    nominal_rate_hz: f64,
) -> (Result<TimingFit, TimingProblem>, Vec<bool>) {
    let mut inliers = vec![false; candidates.len()];
    let result = fit_into(candidates, nominal_rate_hz, &mut inliers);
    if result.is_err() {
        inliers.fill(false);
    }
    (result, inliers)
}

/// [`fit_candidates`], marking the anchors it keeps in `inliers`.
fn fit_into(
    candidates: &[Candidate],
    nominal_rate_hz: f64,
    inliers: &mut [bool],
) -> Result<TimingFit, TimingProblem> {
    let too_few = |used: usize| TimingProblem::TooFewAnchors {
        used,
        candidates: candidates.len(),
        need: MIN_ANCHORS,
    };
    if candidates.is_empty() {
        return Err(TimingProblem::NoGpsStamps);
    }
    if candidates.len() < MIN_ANCHORS {
        return Err(too_few(candidates.len()));
    }
    // Work relative to the first candidate: samples and ns as f64 stay exact to well below 1 ns.
    let (s0, t0) = (candidates[0].sample, candidates[0].time_ns);
    let points: Vec<(f64, f64)> = candidates
        .iter()
        .map(|c| (c.sample as f64 - s0 as f64, (c.time_ns - t0) as f64))
        .collect();
    // Consensus: of the lines through two candidates at a believable rate, the one the most
    // candidates lie near (ties: the smallest summed distance). One stale stamp among three
    // good ones already decides nothing by medians of pair slopes, but leaves this unmoved.
    let believable = |slope: f64| {
        let rate = 1e9 / slope;
        rate.is_finite() && ((rate / nominal_rate_hz - 1.0) * 1e6).abs() <= MAX_RATE_ERROR_PPM
    };
    let stride = points.len().div_ceil(CONSENSUS_POINTS).max(1);
    let mut best: Option<(usize, f64, f64, f64)> = None;
    for i in (0..points.len()).step_by(stride) {
        for j in (i + stride..points.len()).step_by(stride) {
            let (a, b) = (points[i], points[j]);
            if b.0 == a.0 {
                continue;
            }
            let slope = (b.1 - a.1) / (b.0 - a.0);
            if !believable(slope) {
                continue;
            }
            let intercept = a.1 - slope * a.0;
            let (mut count, mut spread) = (0, 0.0);
            for p in &points {
                let r = (p.1 - slope * p.0 - intercept).abs();
                if r <= CONSENSUS_NS {
                    count += 1;
                    spread += r;
                }
            }
            if best.is_none_or(|(c, d, _, _)| count > c || (count == c && spread < d)) {
                best = Some((count, spread, slope, intercept));
            }
        }
    }
    let Some((count, _, mut slope, mut intercept)) = best else {
        // No two candidates agree on a believable rate: report the median pair's.
        let mut slopes: Vec<f64> = points
            .windows(2)
            .filter(|w| w[1].0 != w[0].0)
            .map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0))
            .collect();
        let rate_hz = 1e9 / median(&mut slopes);
        return Err(TimingProblem::RateImplausible {
            rate_hz,
            nominal_hz: nominal_rate_hz,
            ppm: (rate_hz / nominal_rate_hz - 1.0) * 1e6,
            limit_ppm: MAX_RATE_ERROR_PPM,
        });
    };
    if count < MIN_ANCHORS {
        return Err(too_few(count));
    }
    inliers.fill(true);
    for _ in 0..MAX_ROUNDS {
        let residuals: Vec<f64> = points.iter().map(|p| p.1 - slope * p.0 - intercept).collect();
        let mut absolute: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
        let scale = 1.4826 * median(&mut absolute);
        let limit = (OUTLIER_SIGMAS * scale).max(OUTLIER_FLOOR_NS);
        let next: Vec<bool> = residuals.iter().map(|r| r.abs() <= limit).collect();
        let used = next.iter().filter(|&&k| k).count();
        if used < MIN_ANCHORS {
            return Err(too_few(used));
        }
        // Least squares on the inliers, centred.
        let n = used as f64;
        let mean_x = points
            .iter()
            .zip(&next)
            .filter(|(_, &k)| k)
            .map(|(p, _)| p.0)
            .sum::<f64>()
            / n;
        let mean_y = points
            .iter()
            .zip(&next)
            .filter(|(_, &k)| k)
            .map(|(p, _)| p.1)
            .sum::<f64>()
            / n;
        let (mut sxx, mut sxy) = (0.0, 0.0);
        for (p, _) in points.iter().zip(&next).filter(|(_, &k)| k) {
            sxx += (p.0 - mean_x) * (p.0 - mean_x);
            sxy += (p.0 - mean_x) * (p.1 - mean_y);
        }
        if sxx <= 0.0 {
            return Err(too_few(1));
        }
        slope = sxy / sxx;
        intercept = mean_y - slope * mean_x;
        let settled = next == inliers;
        inliers.copy_from_slice(&next);
        if settled {
            break;
        }
    }
    let used: Vec<&(f64, f64)> = points
        .iter()
        .zip(inliers.iter())
        .filter(|(_, &k)| k)
        .map(|(p, _)| p)
        .collect();
    let residuals: Vec<f64> = used.iter().map(|p| p.1 - slope * p.0 - intercept).collect();
    let n = residuals.len() as f64;
    let rms = (residuals.iter().map(|r| r * r).sum::<f64>() / n).sqrt();
    let worst = residuals.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    let rate_hz = 1e9 / slope;
    let ppm = (rate_hz / nominal_rate_hz - 1.0) * 1e6;
    if !(rate_hz.is_finite() && ppm.abs() <= MAX_RATE_ERROR_PPM) {
        return Err(TimingProblem::RateImplausible {
            rate_hz,
            nominal_hz: nominal_rate_hz,
            ppm,
            limit_ppm: MAX_RATE_ERROR_PPM,
        });
    }
    if worst > MAX_RESIDUAL_NS {
        return Err(TimingProblem::ResidualTooLarge {
            worst_us: worst * 1e-3,
            limit_us: MAX_RESIDUAL_NS * 1e-3,
        });
    }
    // The origin at the anchors' mean sample, where the fitted time is best determined.
    let mean_x = used.iter().map(|p| p.0).sum::<f64>() / n;
    let origin_time = intercept + slope * mean_x;
    let whole = origin_time.floor();
    let samples: Vec<u64> = candidates
        .iter()
        .zip(inliers.iter())
        .filter(|(_, &k)| k)
        .map(|(c, _)| c.sample)
        .collect();
    Ok(TimingFit {
        rate_hz,
        origin_sample: s0 as f64 + mean_x,
        origin_ns: t0 + whole as i64,
        origin_frac_ns: origin_time - whole,
        anchors: used.len(),
        residual_rms_ns: rms,
        residual_worst_ns: worst,
        span_samples: (
            samples.iter().copied().min().unwrap_or(0),
            samples.iter().copied().max().unwrap_or(0),
        ),
    })
}

/// The median of `values` (reordered); 0 for none.
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kiwi::gps::unix_ns_to_gps_week;

    const START: i64 = 1_597_301_540_000_000_000; // 2020-08-13T06:52:20Z

    /// A stream at `rate`, a solution every `interval_s`, stamps in between extrapolated at
    /// `assumed` Hz, plus `jitter_ns` on each solution (deterministic).
    fn stream(
        rate: f64,
        assumed: f64,
        interval_s: f64,
        jitter_ns: f64,
        frames: u64,
    ) -> Vec<(u64, u8, u32, u32)> {
        let mut out = Vec::new();
        let mut last_solution: Option<(u64, i64)> = None;
        for frame in 0..frames {
            let sample = frame * 512;
            let true_ns = START + (sample as f64 * 1e9 / rate).round() as i64;
            let since_start = sample as f64 / rate;
            let solution = (since_start / interval_s).floor();
            let fresh = last_solution
                .is_none_or(|(_, t)| ((t - START) as f64 * 1e-9 / interval_s).floor() < solution);
            if fresh {
                let jitter = jitter_ns * (((frame * 7919) % 13) as f64 / 6.0 - 1.0);
                last_solution = Some((sample, true_ns + jitter as i64));
            }
            let (anchor_sample, anchor_ns) = last_solution.unwrap();
            let stamp = anchor_ns + ((sample - anchor_sample) as f64 * 1e9 / assumed).round() as i64;
            let age = (since_start - solution * interval_s).floor() as u8;
            let (sec, nsec) = unix_ns_to_gps_week(stamp);
            out.push((sample, age, sec, nsec));
        }
        out
    }

    fn fitter_over(frames: &[(u64, u8, u32, u32)]) -> TimingFitter {
        let mut fitter = TimingFitter::new(AnchorRule::SolutionCycle, 12_001.0, START, 0);
        for &(sample, age, sec, nsec) in frames {
            fitter.push(sample, age, sec, nsec);
        }
        fitter
    }

    #[test]
    fn a_receiver_150_ppm_off_with_sparse_solutions_is_fitted_exactly() {
        let rate = 12_001.0 * (1.0 + 150e-6);
        // 30 s, a solution every 5 s, extrapolated at the nominal rate in between (750 us of
        // drift before the next solution).
        let frames = stream(rate, 12_001.0, 5.0, 0.0, 703);
        let mut fitter = fitter_over(&frames);
        let fit = fitter.fit().unwrap();
        assert!((fit.rate_hz / rate - 1.0).abs() < 1e-9, "{fit:?}");
        assert!((fit.ppm_from(12_001.0) - 150.0).abs() < 0.01);
        assert_eq!(fit.anchors, 6);
        assert!(fit.residual_worst_ns < 1.0, "{fit:?}");
        // Every sample's time within a ns of the truth, even far from the anchors.
        for sample in [0u64, 1234, 100_000, 359_000] {
            let truth = START as f64 + sample as f64 * 1e9 / rate;
            assert!(
                (fit.time_ns(sample as f64) as f64 - truth).abs() <= 1.0,
                "{sample}"
            );
            assert!((fit.sample_at(truth as i64, 0.0) - sample as f64).abs() < 0.02);
        }
    }

    #[test]
    fn zero_and_stale_first_stamps_are_rejected_not_believed() {
        let rate = 12_001.14;
        let mut frames = stream(rate, 12_001.0, 2.0, 150.0, 700);
        // The first frame zero, the second 11 600 s stale and marked fresh.
        frames[0] = (0, 0, 0, 0);
        let (sec, nsec) = unix_ns_to_gps_week(START - 11_600_000_000_000);
        frames[1] = (512, 0, sec, nsec);
        let mut fitter = fitter_over(&frames);
        let fit = fitter.fit().unwrap();
        let counts = fitter.counts();
        assert_eq!(counts.zero, 1);
        assert_eq!(counts.rejected, 1, "{counts:?}");
        assert!((fit.rate_hz - rate).abs() < 1e-4, "{fit:?}");
        // Solution jitter of up to 150 ns shows in the residuals, not more.
        assert!(
            fit.residual_worst_ns > 50.0 && fit.residual_worst_ns < 300.0,
            "{fit:?}"
        );
    }

    #[test]
    fn a_wrong_solution_and_an_out_of_order_stamp_are_rejected() {
        let rate = 12_001.14;
        let mut frames = stream(rate, 12_001.0, 2.0, 0.0, 700);
        let anchors: Vec<usize> = (1..frames.len())
            .filter(|&i| frames[i].1 < frames[i - 1].1)
            .collect();
        // One solution 40 us off, one stamped a second earlier than its predecessor.
        let shift = |frame: (u64, u8, u32, u32), ns: i64| {
            let t = gps_week_to_unix_ns(frame.2, frame.3, START) + ns;
            let (sec, nsec) = unix_ns_to_gps_week(t);
            (frame.0, frame.1, sec, nsec)
        };
        frames[anchors[3]] = shift(frames[anchors[3]], 40_000);
        frames[anchors[7]] = shift(frames[anchors[7]], -3_000_000_000);
        let mut fitter = fitter_over(&frames);
        let fit = fitter.fit().unwrap();
        assert_eq!(fitter.counts().rejected, 2);
        assert!((fit.rate_hz - rate).abs() < 1e-6, "{fit:?}");
        assert!(fit.residual_worst_ns < 1.0);
    }

    #[test]
    fn untrustworthy_timing_is_refused_with_the_reason() {
        // No stamps at all.
        let mut none = TimingFitter::new(AnchorRule::SolutionCycle, 12_001.0, START, 0);
        for frame in 0..100u64 {
            none.push(frame * 512, NO_GPS_FIX, 0, 0);
        }
        assert_eq!(none.fit(), Err(TimingProblem::NoGpsStamps));
        // Two solutions only (3 s at one every 2 s... one drop): too few.
        let frames = stream(12_001.0, 12_001.0, 2.0, 0.0, 90);
        let mut short = fitter_over(&frames);
        assert!(
            matches!(
                short.fit(),
                Err(TimingProblem::TooFewAnchors {
                    need: MIN_ANCHORS,
                    ..
                })
            ),
            "{:?}",
            short.fit()
        );
        // Solutions scattering by 60 us.
        let frames = stream(12_001.0, 12_001.0, 2.0, 60_000.0, 700);
        let mut noisy = fitter_over(&frames);
        assert!(
            matches!(noisy.fit(), Err(TimingProblem::ResidualTooLarge { .. })),
            "{:?}",
            noisy.fit()
        );
        // A clock 5000 ppm off is not a KiwiSDR's crystal.
        let frames = stream(12_001.0 * 1.005, 12_001.0, 2.0, 0.0, 700);
        let mut fast = fitter_over(&frames);
        assert!(
            matches!(fast.fit(), Err(TimingProblem::RateImplausible { .. })),
            "{:?}",
            fast.fit()
        );
    }

    #[test]
    fn a_sliding_window_keeps_the_recent_solutions() {
        let frames = stream(12_001.0, 12_001.0, 2.0, 0.0, 2000);
        let mut fitter = TimingFitter::new(AnchorRule::SolutionCycle, 12_001.0, START, 8);
        for &(sample, age, sec, nsec) in &frames {
            fitter.push(sample, age, sec, nsec);
        }
        assert_eq!(fitter.candidates(), 8);
        let fit = fitter.fit().unwrap();
        assert_eq!(fit.anchors, 8);
        assert!(fit.span_samples.0 > 800_000, "{fit:?}");
    }
}
