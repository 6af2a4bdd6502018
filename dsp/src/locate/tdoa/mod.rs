//! Localization by time difference of arrival (TDOA), for receivers sharing a common clock.
//!
//! # Model
//! Receiver i (i = 0..M-1) hears the transmitter at x after r_i(x) / c, with r_i the propagation
//! distance ([`Propagation`]) and c = [`SPEED_OF_LIGHT_M_S`]. The input is the M-1 measured
//! delays tau_i0 of receivers 1..M-1 relative to receiver 0, the reference (positive when the
//! signal reaches receiver i later than receiver 0, as [`crate::delay`] measures them), and a
//! timing standard deviation sigma_i per receiver: its clock error (GPS timing, typically
//! 20-100 ns) combined with its share of the delay estimation noise
//! ([`crate::delay::DelayEstimate::variance_reference_s2`] for the reference,
//! [`crate::delay::DelayEstimate::variance_other_s2`] for the others; [`tdoa_inputs`] does
//! this). Errors of different receivers are independent, so the delays relative to one
//! reference share its error:
//!
//! ```text
//! c tau_i0 = r_i(x) - r_0(x) + c (e_i - e_0),     e_i ~ N(0, sigma_i^2) independent,
//! Cov(c tau) = c^2 Q,    Q = diag(sigma_i^2, i >= 1) + sigma_0^2 1 1^T
//! ```
//!
//! (treating the M-1 differences as independent, or all M(M-1)/2 pairs, would overstate the
//! confidence). Equivalently every receiver i measures m_i = c tau_i0 (m_0 = 0) of
//! r_i(x) - b with an unknown common offset b (the reference's range, plus its error), with
//! independent errors c e_i; that form weighs every receiver alike, gives each its own residual,
//! and lets a bad reference be rejected like any other receiver. The fix minimises
//!
//! ```text
//! chi2(x) = min over b of sum_i (m_i - r_i(x) + b)^2 / (c sigma_i)^2 = d^T (c^2 Q)^-1 d,
//! ```
//!
//! d the range-difference residuals, over the transmitter's position on the WGS84 ellipsoid
//! (height 0, like the receivers).
//!
//! # Solver
//! Chan's closed form seeds the search, in the East-North plane at the receivers' centroid:
//! with z = (x, y, r_0) relative to the reference, (s_i - s_0)^T x + d_i r_0 =
//! (|s_i - s_0|^2 - d_i^2) / 2 solved by weighted least squares (four or more receivers, once
//! with weights Q^-1 and once reweighted by the ranges it found), and x as a linear function of
//! r_0 substituted into r_0^2 = |x|^2 (the quadratic that is Chan's three-receiver solution, used
//! for any M). The seeds, the centroid and the receiver heard first are then refined by
//! Levenberg-Marquardt on chi2, with the position kept as a [`GeoPoint`] and re-linearised in
//! the local tangent plane at the current estimate every step, so the same code serves a
//! regional network (tens of km) and a continental one (thousands of km), where a fixed plane
//! would be off by tens of km. The minimum with the lowest chi2 + (d / 2R)^2 wins, d its
//! distance from the network's centre and R the network's radius: a weak prior that a
//! transmitter the network hears lies near it, which decides only between minima the data can
//! hardly tell apart, such as exact twins (three receivers have two solutions when the
//! transmitter is outside them) or a far minimum on the flat tail of the hyperbolas. The
//! runner-up is named in [`TdoaFix::alternative`].
//!
//! # Outliers
//! If chi2 is implausible (its p-value below [`TdoaConfig::outlier_p_value`]) and at least five
//! receivers are in use, the receiver whose removal lowers chi2 most (a wrong clock, a multipath
//! delay, a failed correlation) is set aside and the fix recomputed, repeatedly, while four or
//! more remain (so that the remaining fit can still be tested). Each rejection is reported with
//! its reason in [`TdoaFix::rejected`].
//!
//! # Uncertainty
//! The covariance is (J^T W J)^-1 at the fix with b profiled out, which equals
//! c^2 (H^T Q^-1 H)^-1 for the difference form (H rows: the gradients of r_i - r_0). The weights
//! are absolute (the sigmas are real timing standard deviations), so it is not rescaled by the
//! fit's chi2. At the true position it is the Cramer-Rao bound ([`tdoa_crlb`]).
//!
//! - [`TdoaFix::uncertainty_m`] is the radius of the circle around the fix that holds 68.27 % of
//!   that Gaussian error: when the sigmas are right, the true position lies within it in 68 % of
//!   fixes ([`TdoaFix::ellipse`] likewise, with the error's shape).
//! - [`TdoaFix::confidence`] is the chi-square p-value of the fit: the probability that delays
//!   obeying the model with the given sigmas would fit at least this badly. It is uniform on
//!   [0, 1] when model and sigmas are right; near 0 it says they are not, and the uncertainty is
//!   then optimistic. With three receivers nothing can be tested and it is 0.5.
//!
//! Both describe the error around the reported minimum only, not the chance that another
//! minimum ([`TdoaFix::alternative`]) holds the transmitter.

// The solver's parts: the propagation models; the fitting problem (chi2, normal equations,
// covariance, GDOP at a position); the network's geometry (centre, radius, collinearity); the
// search (seeds, Levenberg-Marquardt, choice of minimum); Chan's closed form for the seeds.
mod chan;
mod geometry;
mod problem;
mod propagation;
mod solve;

pub use propagation::{Propagation, EARTH_MEAN_RADIUS_M};

use super::chi2::chi2_sf;
use super::ellipse::{error_ellipse, radius_containing, Ellipse, ONE_SIGMA_PROBABILITY};
use super::linalg::{invert_spd2, weighted_scatter};
use super::{Alternative, LocateError};
use crate::delay::DelayEstimate;
use crate::geo::{GeoPoint, LocalFrame, SPEED_OF_LIGHT_M_S};
use problem::Problem;

/// Receivers needed: three unknowns (East, North, and the common offset b) need three arrival
/// times.
pub const MIN_RECEIVERS: usize = 3;

/// Default for [`TdoaConfig::outlier_p_value`]: a consistent fit is wrongly pruned in 1 of 1000
/// fixes, while a receiver off by 5 sigma or more is caught.
pub const DEFAULT_OUTLIER_P_VALUE: f64 = 1e-3;

/// A receiver is set aside only while at least this many remain after it goes: with four
/// receivers the fit keeps one degree of freedom to test.
const MIN_RECEIVERS_AFTER_REJECTION: usize = 4;

/// Solver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TdoaConfig {
    /// The propagation distance model; it must match how the delays arose.
    pub propagation: Propagation,
    /// Fits whose chi2 p-value is below this get their worst receiver rejected (with at least
    /// five receivers); 0 disables rejection.
    pub outlier_p_value: f64,
}

impl Default for TdoaConfig {
    fn default() -> Self {
        Self {
            propagation: Propagation::LineOfSight,
            outlier_p_value: DEFAULT_OUTLIER_P_VALUE,
        }
    }
}

/// One receiver taking part in a TDOA fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TdoaReceiver {
    /// Antenna position.
    pub position: GeoPoint,
    /// Standard deviation of this receiver's arrival time, s (> 0): clock error and its share
    /// of the delay-estimation noise, combined in quadrature. It sets both the weighting and the
    /// reported uncertainty, so it must be realistic.
    pub sigma_s: f64,
}

/// A receiver set aside as an outlier.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Its index in the input.
    pub receiver: usize,
    /// Its range residual at the fit without it, m (measured minus what the other receivers
    /// predict): how far off its arrival time is, in metres.
    pub residual_m: f64,
    /// That residual over its standard deviation c sigma.
    pub residual_sigmas: f64,
    /// chi2 of the fit with it.
    pub chi2_before: f64,
    /// Degrees of freedom of `chi2_before`.
    pub dof_before: usize,
    /// chi2 p-value with it (below [`TdoaConfig::outlier_p_value`]).
    pub p_value_before: f64,
    /// chi2 without it (on one degree of freedom fewer).
    pub chi2_after: f64,
    /// The reason in words.
    pub reason: String,
}

/// A transmitter position from time differences of arrival, with its uncertainty. Every number
/// is finite.
#[derive(Debug, Clone, PartialEq)]
pub struct TdoaFix {
    /// Estimated transmitter position (on the ellipsoid).
    pub position: GeoPoint,
    /// Covariance of the position error, East-North at `position`, m^2 (`[0][0]` var(East),
    /// `[1][1]` var(North)): (J^T W J)^-1 with absolute weights, not rescaled by chi2.
    pub covariance_en: [[f64; 2]; 2],
    /// Ellipse holding 68.27 % ([`ONE_SIGMA_PROBABILITY`]) of the Gaussian error.
    pub ellipse: Ellipse,
    /// Radius, m, of the circle around `position` holding 68.27 % of the Gaussian error: the true
    /// position lies within it in 68 % of fixes when the sigmas are right.
    pub uncertainty_m: f64,
    /// Goodness of fit in [0, 1]: the chi-square p-value of `chi2` with `dof` degrees of
    /// freedom, i.e. the probability that delays obeying the model with the given sigmas would
    /// fit at least this badly. Uniform on [0, 1] when the model holds; near 0 means the delays
    /// contradict it (sigmas too small, multipath, a wrong clock not rejected, a wrong
    /// propagation model) and the uncertainty is then optimistic. With `dof` = 0 (three
    /// receivers) nothing can be tested: 0.5, the mean p-value of a correct model, meaning "no
    /// evidence either way".
    pub confidence: f64,
    /// Per receiver, in input order (rejected ones included): measured minus modelled range
    /// m_i - r_i + b, m, at the fix, with b fitted to the receivers in use (their weighted
    /// residuals sum to zero). A rejected receiver's residual shows how far off it is.
    pub residuals_m: Vec<f64>,
    /// Receivers set aside as outliers, in the order they were rejected.
    pub rejected: Vec<Rejection>,
    /// sum over the receivers in use of (residual / (c sigma))^2.
    pub chi2: f64,
    /// Degrees of freedom of `chi2`: receivers in use minus 3 (East, North, b), i.e. delays in
    /// use minus 2.
    pub dof: usize,
    /// Geometric dilution of precision: sqrt(tr(S^-1)) with S = sum_i (g_i - g_mean)(g_i -
    /// g_mean)^T over the range gradients g_i (unit vectors from the receivers to the fix,
    /// projected on the ground plane) of the receivers in use. For equal, independent timing
    /// errors sigma at every receiver the RMS position error is GDOP * c * sigma. (The
    /// unweighted sqrt(tr((H^T H)^-1)) of the differences against one receiver depends on which
    /// receiver is the reference and ignores their shared error.) At most 1e6.
    pub gdop: f64,
    /// Levenberg-Marquardt iterations of the winning run.
    pub iterations: usize,
    /// Another local minimum that fits nearly as well (chi2 less than 9 above this fix's), if
    /// any: with three receivers the second intersection of the hyperbolas. Its `delta_chi2`
    /// can be negative when this fix was preferred for lying nearer the network (see the
    /// [module documentation](self)). `uncertainty_m` and `ellipse` do not cover it.
    pub alternative: Option<Alternative>,
}

/// Locates a transmitter from the delays of receivers 1..M-1 relative to receiver 0.
///
/// `delays_s[i - 1]` is the delay of receiver i relative to receiver 0, s (positive when it
/// hears the signal later). See the [module documentation](self) for the model, the solver and
/// the meaning of every reported number.
///
/// ```
/// use sdrhub_dsp::geo::{GeoPoint, LocalFrame, SPEED_OF_LIGHT_M_S};
/// use sdrhub_dsp::locate::tdoa::{locate_tdoa, TdoaConfig, TdoaReceiver};
///
/// let frame = LocalFrame::new(GeoPoint::new(47.0, 8.0));
/// let transmitter = frame.offset(60.0, 5_000.0);
/// let receivers: Vec<TdoaReceiver> = [(0.0, 20e3), (100.0, 15e3), (200.0, 25e3), (290.0, 18e3)]
///     .iter()
///     .map(|&(bearing, distance)| TdoaReceiver {
///         position: frame.offset(bearing, distance),
///         sigma_s: 1e-6,
///     })
///     .collect();
/// let arrival = |r: &TdoaReceiver| r.position.distance_m(transmitter) / SPEED_OF_LIGHT_M_S;
/// let delays: Vec<f64> = receivers[1..].iter().map(|r| arrival(r) - arrival(&receivers[0])).collect();
/// let fix = locate_tdoa(&receivers, &delays, &TdoaConfig::default()).unwrap();
/// assert!(fix.position.distance_m(transmitter) < 0.1);
/// // 1 us per receiver is 300 m of range: the 68 % radius is a few hundred metres.
/// assert!(fix.uncertainty_m > 100.0 && fix.uncertainty_m < 2_000.0, "{}", fix.uncertainty_m);
/// ```
///
/// # Errors
/// - [`LocateError::InvalidInput`] for a delay count other than M-1, a non-finite delay, a
///   sigma that is not positive and finite, invalid coordinates, or an outlier p-value outside
///   [0, 1);
/// - [`LocateError::TooFewReceivers`] for fewer than [`MIN_RECEIVERS`] receivers;
/// - [`LocateError::Degenerate`] when the receivers lie on a line (great circle), the fix lies
///   more than 10 network radii from the network's centre, or the geometry does not determine
///   the position there;
/// - [`LocateError::NoConvergence`] when no solver run settles.
pub fn locate_tdoa(
    receivers: &[TdoaReceiver],
    delays_s: &[f64],
    config: &TdoaConfig,
) -> Result<TdoaFix, LocateError> {
    if receivers.len() < MIN_RECEIVERS {
        return Err(LocateError::TooFewReceivers {
            have: receivers.len(),
            need: MIN_RECEIVERS,
        });
    }
    if delays_s.len() + 1 != receivers.len() {
        return Err(LocateError::InvalidInput(format!(
            "{} receivers need {} delays relative to the first, got {}",
            receivers.len(),
            receivers.len() - 1,
            delays_s.len()
        )));
    }
    if !(0.0..1.0).contains(&config.outlier_p_value) {
        return Err(LocateError::InvalidInput(format!(
            "the outlier p-value must be in [0, 1), got {}",
            config.outlier_p_value
        )));
    }
    for (i, r) in receivers.iter().enumerate() {
        if !r.position.is_valid() {
            return Err(LocateError::InvalidInput(format!(
                "receiver {i} has invalid coordinates"
            )));
        }
        if !(r.sigma_s.is_finite() && r.sigma_s > 0.0) {
            return Err(LocateError::InvalidInput(format!(
                "receiver {i} has timing sigma {} s; it must be positive",
                r.sigma_s
            )));
        }
    }
    if let Some(i) = delays_s.iter().position(|d| !d.is_finite()) {
        return Err(LocateError::InvalidInput(format!(
            "the delay of receiver {} is not finite",
            i + 1
        )));
    }

    let problem = Problem::new(receivers, delays_s, config.propagation);
    let mut active: Vec<usize> = (0..receivers.len()).collect();
    let geometry = problem.geometry(&active)?;
    let mut solution = problem.solve(&active, &geometry)?;
    let mut rejected = Vec::new();
    while config.outlier_p_value > 0.0 && active.len() > MIN_RECEIVERS_AFTER_REJECTION {
        let dof = active.len() - 3;
        let p_value = chi2_sf(solution.best.chi2, dof);
        if p_value >= config.outlier_p_value {
            break;
        }
        // The receiver whose removal lowers chi2 most.
        let candidate = active
            .iter()
            .filter_map(|&j| {
                let rest: Vec<usize> = active.iter().copied().filter(|&i| i != j).collect();
                let geometry = problem.geometry(&rest).ok()?;
                let fit = problem.solve(&rest, &geometry).ok()?;
                Some((j, rest, fit))
            })
            .min_by(|a, b| a.2.best.chi2.total_cmp(&b.2.best.chi2));
        let Some((j, rest, fit)) = candidate else {
            break;
        };
        // How far its arrival is from what the others predict.
        let residual_m = problem.residuals(fit.best.position, &rest)[j];
        let residual_sigmas = residual_m * problem.weight[j].sqrt();
        rejected.push(Rejection {
            receiver: j,
            residual_m,
            residual_sigmas,
            chi2_before: solution.best.chi2,
            dof_before: dof,
            p_value_before: p_value,
            chi2_after: fit.best.chi2,
            reason: format!(
                "receiver {j}'s arrival time disagrees with the others' fit by {:.0} m of range \
                 ({:.1} sigma); the fit's chi2 was {:.1} on {dof} degrees of freedom (p = {:.1e}) \
                 with it and {:.1} on {} without it",
                residual_m,
                residual_sigmas,
                solution.best.chi2,
                p_value,
                fit.best.chi2,
                dof - 1
            ),
        });
        active = rest;
        solution = fit;
    }

    let best = solution.best;
    let covariance = solution.covariance;
    let dof = active.len() - 3;
    Ok(TdoaFix {
        position: best.position,
        covariance_en: covariance,
        ellipse: error_ellipse(covariance, ONE_SIGMA_PROBABILITY),
        uncertainty_m: radius_containing(covariance, ONE_SIGMA_PROBABILITY),
        confidence: if dof > 0 { chi2_sf(best.chi2, dof) } else { 0.5 },
        residuals_m: problem.residuals(best.position, &active),
        rejected,
        chi2: best.chi2,
        dof,
        gdop: problem.gdop(best.position, &active),
        iterations: best.iterations,
        alternative: solution.alternative,
    })
}

/// The Cramer-Rao lower bound on the East-North covariance (m^2, in the tangent plane at
/// `transmitter`) of any unbiased TDOA fix of a transmitter at `transmitter`, heard by
/// `receivers` with independent timing standard deviations `sigmas_s`:
/// c^2 (H^T Q^-1 H)^-1 with H rows the gradients of r_i - r_0 (i >= 1) and
/// Q = diag(sigma_i^2, i >= 1) + sigma_0^2 1 1^T, computed in the equivalent form
/// (sum_i w_i (g_i - g_w)(g_i - g_w)^T)^-1, w_i = 1 / (c sigma_i)^2, g_w the w-weighted mean
/// gradient. `[[inf, 0], [0, inf]]` if the geometry does not determine the position (for
/// instance a transmitter on the line through collinear receivers).
///
/// # Panics
/// If `receivers` and `sigmas_s` differ in length.
pub fn tdoa_crlb(
    receivers: &[GeoPoint],
    transmitter: GeoPoint,
    sigmas_s: &[f64],
    propagation: Propagation,
) -> [[f64; 2]; 2] {
    assert_eq!(receivers.len(), sigmas_s.len(), "one sigma per receiver");
    let frame = LocalFrame::new(transmitter);
    let weighted: Vec<(f64, [f64; 2])> = receivers
        .iter()
        .zip(sigmas_s)
        .map(|(&s, &sigma)| {
            let w = 1.0 / (SPEED_OF_LIGHT_M_S * sigma).powi(2);
            (w, propagation.range_and_gradient(&frame, transmitter, s).1)
        })
        .collect();
    weighted_scatter(&weighted)
        .and_then(invert_spd2)
        .unwrap_or([[f64::INFINITY, 0.0], [0.0, f64::INFINITY]])
}

/// Receivers and delays for [`locate_tdoa`] from delay estimates of receivers 1..M-1 against
/// receiver 0 (`estimates[i - 1]` for receiver i at `positions[i]`), each receiver's clock
/// adding independent noise of standard deviation `clock_sigma_s`.
///
/// Receiver i's sigma combines [`DelayEstimate::variance_other_s2`] with the clock; the
/// reference's combines the mean of the [`DelayEstimate::variance_reference_s2`] (the part of
/// every estimate due to its own noise) with its clock. Receivers whose estimate failed must be
/// left out of both slices.
///
/// # Panics
/// If `positions.len()` != `estimates.len() + 1` or `estimates` is empty.
pub fn tdoa_inputs(
    positions: &[GeoPoint],
    estimates: &[DelayEstimate],
    clock_sigma_s: f64,
) -> (Vec<TdoaReceiver>, Vec<f64>) {
    assert!(!estimates.is_empty(), "at least one delay estimate");
    assert_eq!(
        positions.len(),
        estimates.len() + 1,
        "one position per receiver, one estimate per receiver but the reference"
    );
    let clock = clock_sigma_s * clock_sigma_s;
    let reference = estimates.iter().map(|e| e.variance_reference_s2).sum::<f64>() / estimates.len() as f64;
    let mut receivers = vec![TdoaReceiver {
        position: positions[0],
        sigma_s: (reference + clock).sqrt(),
    }];
    receivers.extend(
        positions[1..]
            .iter()
            .zip(estimates)
            .map(|(&position, e)| TdoaReceiver {
                position,
                sigma_s: (e.variance_other_s2 + clock).sqrt(),
            }),
    );
    (receivers, estimates.iter().map(|e| e.delay_s).collect())
}
