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

use super::chi2::chi2_sf;
use super::ellipse::{error_ellipse, principal_axes, radius_containing, Ellipse, ONE_SIGMA_PROBABILITY};
use super::{Alternative, LocateError};
use crate::delay::DelayEstimate;
use crate::geo::{GeoPoint, LocalFrame};

/// Speed of light in vacuum, m/s. Radio waves near the ground travel about 0.03 % slower; over
/// 100 km that is 30 m, below the timing noise of sampled IQ, and it must in any case match
/// whatever generated the delays.
pub const SPEED_OF_LIGHT_M_S: f64 = 299_792_458.0;

/// Receivers needed: three unknowns (East, North, and the common offset b) need three arrival
/// times.
pub const MIN_RECEIVERS: usize = 3;

/// Default for [`TdoaConfig::outlier_p_value`]: a consistent fit is wrongly pruned in 1 of 1000
/// fixes, while a receiver off by 5 sigma or more is caught.
pub const DEFAULT_OUTLIER_P_VALUE: f64 = 1e-3;

/// A receiver is set aside only while at least this many remain after it goes: with four
/// receivers the fit keeps one degree of freedom to test.
const MIN_RECEIVERS_AFTER_REJECTION: usize = 4;

/// WGS84 semi-major axis, m (for the ellipsoid's radii of curvature at the fix).
const WGS84_A: f64 = 6_378_137.0;
/// WGS84 first eccentricity squared.
const WGS84_E2: f64 = 6.694_379_990_141_33e-3;
/// Mean Earth radius (IUGG), m: the sphere of [`Propagation::GreatCircle`].
pub const EARTH_MEAN_RADIUS_M: f64 = 6_371_008.8;

/// Receivers whose spread across their best-fit great circle is below this fraction of their
/// spread along it are treated as collinear: a transmitter and its mirror image across that
/// circle then produce the same delays.
const COLLINEAR_RATIO: f64 = 1e-3;
/// Fixes further than this many network radii from the centroid are refused: out there the
/// delays fix a bearing but hardly a range, and the linearised uncertainty stops meaning much.
const MAX_FIX_RANGE: f64 = 10.0;
/// A solver run that wanders further than this many network radii is abandoned.
const ESCAPE_RANGE: f64 = 20.0;
/// Levenberg-Marquardt iteration cap; runs take 3-20 iterations.
const LM_MAX_ITERATIONS: usize = 200;
/// A step shorter than this (m) ends a run: far below the metre-scale accuracy of any fix.
const LM_STEP_TOLERANCE_M: f64 = 1e-3;
/// A step that lowers chi2 by less than this ends a run (the position then moves by about
/// 3e-5 of its standard deviation).
const LM_CHI2_TOLERANCE: f64 = 1e-9;
/// Damping beyond which no downhill step exists at working precision.
const LM_MAX_DAMPING: f64 = 1e12;
/// Other minima within this chi2 of the best (likelihood ratio above about 1 %) are reported
/// as the alternative.
const AMBIGUITY_DELTA_CHI2: f64 = 9.0;
/// Scale of the prior that picks between local minima, in network radii: a minimum at distance
/// d from the centre is charged (d / (2 R))^2 in chi2. A transmitter the network hears mostly
/// lies within a couple of network radii; a far minimum on the flat tail of a hyperbola must
/// fit clearly better to win.
const PRIOR_RADII: f64 = 2.0;
/// Two runs ending closer than this (m) found the same minimum.
const SAME_MINIMUM_M: f64 = 1.0;
/// Smallest acceptable reciprocal condition number of the 2x2 information matrix.
const MIN_RECIPROCAL_CONDITION: f64 = 1e-12;
/// GDOP reported when the geometry gives no angular diversity.
const GDOP_MAX: f64 = 1e6;

/// How far a signal travels from the transmitter to a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// The straight line (chord) through the Earth between the two ground points,
    /// [`GeoPoint::distance_m`]: line-of-sight propagation, and what sdrhub's simulator uses.
    /// Over 1000 km it is 2.6 km shorter than the surface path.
    #[default]
    LineOfSight,
    /// The great-circle distance on a sphere of radius [`EARTH_MEAN_RADIUS_M`] (haversine of
    /// the geodetic coordinates): a ground wave or ionospheric path following the surface.
    /// Within 0.5 % of the ellipsoidal geodesic.
    GreatCircle,
}

impl Propagation {
    /// Propagation distance between `a` and `b`, m.
    pub fn distance_m(self, a: GeoPoint, b: GeoPoint) -> f64 {
        match self {
            Propagation::LineOfSight => a.distance_m(b),
            Propagation::GreatCircle => EARTH_MEAN_RADIUS_M * central_angle(a, b),
        }
    }

    /// Distance from the transmitter at `p` to the receiver at `s` and its gradient with respect
    /// to moving `p` East and North in the tangent plane `frame` at `p`.
    fn range_and_gradient(self, frame: &LocalFrame, p: GeoPoint, s: GeoPoint) -> (f64, [f64; 2]) {
        match self {
            Propagation::LineOfSight => {
                let r = p.distance_m(s);
                // to_enu(s) is the projection of s - p onto East and North.
                let e = frame.to_enu(s);
                let g = if r > 0.0 {
                    [-e[0] / r, -e[1] / r]
                } else {
                    [0.0, 0.0]
                };
                (r, g)
            }
            Propagation::GreatCircle => {
                let psi = central_angle(p, s);
                let (lat, lat_s) = (p.lat_deg.to_radians(), s.lat_deg.to_radians());
                let dlon = (s.lon_deg - p.lon_deg).to_radians();
                // Azimuth a from p towards s: d psi / d lat = -cos a, d psi / d lon = -cos(lat) sin a.
                let y = dlon.sin() * lat_s.cos();
                let x = lat.cos() * lat_s.sin() - lat.sin() * lat_s.cos() * dlon.cos();
                let g = if psi > 0.0 && (x != 0.0 || y != 0.0) {
                    let azimuth = y.atan2(x);
                    // Plane East and North at p are N cos(lat) d lon and M d lat on the ellipsoid.
                    let w = 1.0 - WGS84_E2 * lat.sin().powi(2);
                    let prime_vertical = WGS84_A / w.sqrt();
                    let meridian = WGS84_A * (1.0 - WGS84_E2) / w.powf(1.5);
                    [
                        -EARTH_MEAN_RADIUS_M * azimuth.sin() / prime_vertical,
                        -EARTH_MEAN_RADIUS_M * azimuth.cos() / meridian,
                    ]
                } else {
                    [0.0, 0.0]
                };
                (EARTH_MEAN_RADIUS_M * psi, g)
            }
        }
    }
}

/// Central angle between two points taken as spherical coordinates, rad (haversine).
fn central_angle(a: GeoPoint, b: GeoPoint) -> f64 {
    let (lat_a, lat_b) = (a.lat_deg.to_radians(), b.lat_deg.to_radians());
    let dlat = lat_b - lat_a;
    let dlon = (b.lon_deg - a.lon_deg).to_radians();
    let h = (0.5 * dlat).sin().powi(2) + lat_a.cos() * lat_b.cos() * (0.5 * dlon).sin().powi(2);
    2.0 * h.sqrt().min(1.0).asin()
}

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
/// use sdrhub_dsp::geo::{GeoPoint, LocalFrame};
/// use sdrhub_dsp::locate::tdoa::{locate_tdoa, TdoaConfig, TdoaReceiver, SPEED_OF_LIGHT_M_S};
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
    information(&weighted)
        .and_then(invert2)
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

/// Why a solver run gave no minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunFailure {
    /// It wandered beyond [`ESCAPE_RANGE`] network radii.
    Escaped,
    /// It did not settle within [`LM_MAX_ITERATIONS`], or started where chi2 is not finite.
    Unsettled,
}

/// One local minimum of chi2.
#[derive(Debug, Clone, Copy)]
struct Fit {
    position: GeoPoint,
    chi2: f64,
    iterations: usize,
}

/// The best minimum for a set of receivers, its covariance and any near-equal alternative.
#[derive(Debug, Clone)]
struct Solution {
    best: Fit,
    covariance: [[f64; 2]; 2],
    alternative: Option<Alternative>,
}

/// The network's centre and size for a set of receivers.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    centre: GeoPoint,
    /// Largest propagation distance from the centre to a receiver, m.
    radius: f64,
}

/// The fitting problem: every receiver's position, weight and measured range offset.
struct Problem {
    positions: Vec<GeoPoint>,
    /// 1 / (c sigma_i)^2, m^-2.
    weight: Vec<f64>,
    /// m_i = c tau_i0, m (0 for the reference).
    measured: Vec<f64>,
    propagation: Propagation,
}

impl Problem {
    fn new(receivers: &[TdoaReceiver], delays_s: &[f64], propagation: Propagation) -> Self {
        Self {
            positions: receivers.iter().map(|r| r.position).collect(),
            weight: receivers
                .iter()
                .map(|r| 1.0 / (SPEED_OF_LIGHT_M_S * r.sigma_s).powi(2))
                .collect(),
            measured: std::iter::once(0.0)
                .chain(delays_s.iter().map(|d| d * SPEED_OF_LIGHT_M_S))
                .collect(),
            propagation,
        }
    }

    /// The common offset b that fits best at `p`, and chi2 there, over `active`.
    fn chi2(&self, p: GeoPoint, active: &[usize]) -> f64 {
        let ranges: Vec<f64> = active
            .iter()
            .map(|&i| self.propagation.distance_m(p, self.positions[i]))
            .collect();
        let offset = self.offset(active, &ranges);
        active
            .iter()
            .zip(&ranges)
            .map(|(&i, &r)| {
                let e = self.measured[i] - r + offset;
                self.weight[i] * e * e
            })
            .sum()
    }

    /// b = sum w (r - m) / sum w over `active`, with `ranges` in the order of `active`.
    fn offset(&self, active: &[usize], ranges: &[f64]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for (&i, &r) in active.iter().zip(ranges) {
            num += self.weight[i] * (r - self.measured[i]);
            den += self.weight[i];
        }
        num / den
    }

    /// Residuals m_i - r_i + b of every receiver at `p`, with b fitted to `active`.
    fn residuals(&self, p: GeoPoint, active: &[usize]) -> Vec<f64> {
        let ranges: Vec<f64> = self
            .positions
            .iter()
            .map(|&s| self.propagation.distance_m(p, s))
            .collect();
        let active_ranges: Vec<f64> = active.iter().map(|&i| ranges[i]).collect();
        let offset = self.offset(active, &active_ranges);
        (0..self.positions.len())
            .map(|i| self.measured[i] - ranges[i] + offset)
            .collect()
    }

    /// The tangent-plane frame at `p`, and J^T W J and J^T W e there for the profiled problem.
    fn normal_equations(&self, p: GeoPoint, active: &[usize]) -> (LocalFrame, [[f64; 2]; 2], [f64; 2]) {
        let frame = LocalFrame::new(p);
        let rg: Vec<(f64, [f64; 2])> = active
            .iter()
            .map(|&i| self.propagation.range_and_gradient(&frame, p, self.positions[i]))
            .collect();
        let ranges: Vec<f64> = rg.iter().map(|x| x.0).collect();
        let offset = self.offset(active, &ranges);
        let total: f64 = active.iter().map(|&i| self.weight[i]).sum();
        let mut mean = [0.0; 2];
        for (&i, (_, g)) in active.iter().zip(&rg) {
            mean[0] += self.weight[i] * g[0] / total;
            mean[1] += self.weight[i] * g[1] / total;
        }
        let mut a = [[0.0; 2]; 2];
        let mut v = [0.0; 2];
        for (&i, (r, g)) in active.iter().zip(&rg) {
            let w = self.weight[i];
            let e = self.measured[i] - r + offset;
            let d = [g[0] - mean[0], g[1] - mean[1]];
            for j in 0..2 {
                v[j] += w * d[j] * e;
                for k in 0..2 {
                    a[j][k] += w * d[j] * d[k];
                }
            }
        }
        (frame, a, v)
    }

    /// The centroid of `active` and the network radius, or an error if they are collinear.
    fn geometry(&self, active: &[usize]) -> Result<Geometry, LocateError> {
        let points: Vec<GeoPoint> = active.iter().map(|&i| self.positions[i]).collect();
        // Gnomonic projection about the mean direction: great circles map to straight lines, so
        // receivers on one great circle (the mirror-ambiguous layout) project onto a line.
        let units: Vec<[f64; 3]> = points.iter().map(|p| normalised(p.to_ecef())).collect();
        let mut centre = [0.0; 3];
        for u in &units {
            for k in 0..3 {
                centre[k] += u[k];
            }
        }
        let centre = normalised(centre);
        let (east, north) = tangent_basis(centre);
        let projected: Vec<[f64; 2]> = units
            .iter()
            .map(|u| {
                let along = dot(*u, centre);
                [dot(*u, east) / along, dot(*u, north) / along]
            })
            .collect();
        let n = projected.len() as f64;
        let mean = projected
            .iter()
            .fold([0.0, 0.0], |m, q| [m[0] + q[0] / n, m[1] + q[1] / n]);
        let mut scatter = [[0.0; 2]; 2];
        for q in &projected {
            let d = [q[0] - mean[0], q[1] - mean[1]];
            for j in 0..2 {
                for k in 0..2 {
                    scatter[j][k] += d[j] * d[k];
                }
            }
        }
        let axes = principal_axes(scatter);
        if axes.major_var.is_nan()
            || axes.major_var <= 0.0
            || axes.minor_var <= COLLINEAR_RATIO * COLLINEAR_RATIO * axes.major_var
        {
            return Err(LocateError::Degenerate(
                "the receivers lie on a line (a great circle), so a transmitter and its mirror \
                 image across it give the same delays; a receiver off that line is needed"
                    .into(),
            ));
        }
        let centre = centroid(&points);
        let radius = points
            .iter()
            .map(|&p| self.propagation.distance_m(centre, p))
            .fold(0.0, f64::max);
        Ok(Geometry { centre, radius })
    }

    /// All seeds refined; the best minimum with its covariance and any alternative.
    fn solve(&self, active: &[usize], geometry: &Geometry) -> Result<Solution, LocateError> {
        let escape = ESCAPE_RANGE * geometry.radius;
        let runs: Vec<Result<Fit, RunFailure>> = self
            .seeds(active, geometry)
            .into_iter()
            .map(|s| self.refine(s, active, geometry, escape))
            .collect();
        let mut fits: Vec<Fit> = runs.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        if fits.is_empty() {
            return Err(if runs.iter().any(|r| matches!(r, Err(RunFailure::Escaped))) {
                LocateError::Degenerate(format!(
                    "the delays point to a transmitter more than {ESCAPE_RANGE} network radii \
                     ({:.1} km) away, where they give a bearing but hardly a range",
                    escape / 1e3
                ))
            } else {
                LocateError::NoConvergence
            });
        }
        fits.sort_by(|a, b| a.chi2.total_cmp(&b.chi2));
        let mut distinct: Vec<Fit> = Vec::with_capacity(fits.len());
        for f in fits {
            if distinct
                .iter()
                .all(|d| d.position.distance_m(f.position) > SAME_MINIMUM_M)
            {
                distinct.push(f);
            }
        }
        let distance = |f: &Fit| self.propagation.distance_m(geometry.centre, f.position);
        let usable: Vec<(Fit, [[f64; 2]; 2])> = distinct
            .iter()
            .filter_map(|f| Some((*f, self.covariance(f.position, active)?)))
            .collect();
        // chi2 plus a weak prior on the distance from the network: it decides only between
        // minima the data can hardly tell apart (a far one on the flat tail of a hyperbola
        // against a near one, or exact twins).
        let score = |f: &Fit| f.chi2 + (distance(f) / (PRIOR_RADII * geometry.radius)).powi(2);
        let (best, covariance) = usable
            .iter()
            .min_by(|a, b| score(&a.0).total_cmp(&score(&b.0)))
            .copied()
            .ok_or_else(|| {
                LocateError::Degenerate(
                    "the receivers' geometry does not determine the position at the best fit \
                     (the gradients of the range differences are parallel there)"
                        .into(),
                )
            })?;
        let reach = MAX_FIX_RANGE * geometry.radius;
        if distance(&best) > reach {
            return Err(LocateError::Degenerate(format!(
                "the best fit lies {:.1} km from the centre of a network of radius {:.1} km, far \
                 outside it, where the delays give a bearing but hardly a range",
                distance(&best) / 1e3,
                geometry.radius / 1e3
            )));
        }
        let alternative = usable
            .iter()
            .filter(|(f, _)| {
                f.position.distance_m(best.position) > SAME_MINIMUM_M
                    && f.chi2 - best.chi2 < AMBIGUITY_DELTA_CHI2
                    && distance(f) <= reach
            })
            .min_by(|a, b| a.0.chi2.total_cmp(&b.0.chi2))
            .map(|(f, c)| Alternative {
                position: f.position,
                delta_chi2: f.chi2 - best.chi2,
                uncertainty_m: radius_containing(*c, ONE_SIGMA_PROBABILITY),
            });
        Ok(Solution {
            best,
            covariance,
            alternative,
        })
    }

    /// (J^T W J)^-1 at `p`, or `None` if singular.
    fn covariance(&self, p: GeoPoint, active: &[usize]) -> Option<[[f64; 2]; 2]> {
        let frame = LocalFrame::new(p);
        let weighted: Vec<(f64, [f64; 2])> = active
            .iter()
            .map(|&i| {
                (
                    self.weight[i],
                    self.propagation
                        .range_and_gradient(&frame, p, self.positions[i])
                        .1,
                )
            })
            .collect();
        invert2(information(&weighted)?)
    }

    /// Starting points: Chan's closed-form solutions in the plane at the centroid, the
    /// centroid, and the receiver heard first moved a tenth of the way to the centroid.
    fn seeds(&self, active: &[usize], geometry: &Geometry) -> Vec<GeoPoint> {
        let frame = LocalFrame::new(geometry.centre);
        let plane: Vec<[f64; 2]> = active.iter().map(|&i| frame.to_enu(self.positions[i])).collect();
        let mut seeds: Vec<[f64; 2]> = chan(
            &plane,
            &active.iter().map(|&i| self.measured[i]).collect::<Vec<_>>(),
            &active.iter().map(|&i| self.weight[i]).collect::<Vec<_>>(),
        );
        seeds.push([0.0, 0.0]);
        let first = (0..active.len())
            .min_by(|&a, &b| self.measured[active[a]].total_cmp(&self.measured[active[b]]))
            .expect("at least three receivers");
        seeds.push([0.9 * plane[first][0], 0.9 * plane[first][1]]);
        let bound = ESCAPE_RANGE * geometry.radius;
        seeds
            .into_iter()
            .filter(|s| s[0].is_finite() && s[1].is_finite() && s[0].hypot(s[1]) < bound)
            .map(|s| wrap_longitude(frame.to_geo(s)))
            .collect()
    }

    /// Levenberg-Marquardt from `start`, re-linearising in the tangent plane at the current
    /// position, until it settles, escapes beyond `escape` m from the centre, or gives up.
    fn refine(
        &self,
        start: GeoPoint,
        active: &[usize],
        geometry: &Geometry,
        escape: f64,
    ) -> Result<Fit, RunFailure> {
        let mut p = start;
        let mut cost = self.chi2(p, active);
        if !cost.is_finite() {
            return Err(RunFailure::Unsettled);
        }
        let mut damping = 1e-3;
        for iteration in 1..=LM_MAX_ITERATIONS {
            let (frame, a, v) = self.normal_equations(p, active);
            loop {
                let mut m = a;
                for (k, row) in m.iter_mut().enumerate() {
                    row[k] += damping * a[k][k];
                }
                let done = |p, cost| {
                    Ok(Fit {
                        position: p,
                        chi2: cost,
                        iterations: iteration,
                    })
                };
                let Some(step) = solve2(m, v) else {
                    // Singular even with damping: no direction to improve in.
                    return done(p, cost);
                };
                let trial = wrap_longitude(frame.to_geo(step));
                let trial_cost = self.chi2(trial, active);
                if trial_cost.is_finite() && trial_cost <= cost {
                    if self.propagation.distance_m(geometry.centre, trial) > escape {
                        return Err(RunFailure::Escaped);
                    }
                    let gain = cost - trial_cost;
                    p = trial;
                    cost = trial_cost;
                    damping = (damping / 3.0).max(1e-12);
                    if step[0].hypot(step[1]) < LM_STEP_TOLERANCE_M || gain < LM_CHI2_TOLERANCE {
                        return done(p, cost);
                    }
                    break;
                }
                damping *= 4.0;
                if damping > LM_MAX_DAMPING {
                    return done(p, cost);
                }
            }
        }
        Err(RunFailure::Unsettled)
    }

    /// GDOP at `p` over `active` (see [`TdoaFix::gdop`]).
    fn gdop(&self, p: GeoPoint, active: &[usize]) -> f64 {
        let frame = LocalFrame::new(p);
        let unweighted: Vec<(f64, [f64; 2])> = active
            .iter()
            .map(|&i| {
                (
                    1.0,
                    self.propagation
                        .range_and_gradient(&frame, p, self.positions[i])
                        .1,
                )
            })
            .collect();
        match information(&unweighted).and_then(invert2) {
            Some(c) if (c[0][0] + c[1][1]).is_finite() => (c[0][0] + c[1][1]).sqrt().min(GDOP_MAX),
            _ => GDOP_MAX,
        }
    }
}

/// Chan's closed-form solutions in a plane: receivers `plane` (m), measured range offsets
/// `measured` (m_i, so d_i = m_i - m_0 against the first) and weights `weight` (1 / (c sigma)^2).
fn chan(plane: &[[f64; 2]], measured: &[f64], weight: &[f64]) -> Vec<[f64; 2]> {
    let n = plane.len() - 1;
    let s0 = plane[0];
    let rel: Vec<[f64; 2]> = plane[1..].iter().map(|s| [s[0] - s0[0], s[1] - s0[1]]).collect();
    let d: Vec<f64> = measured[1..].iter().map(|m| m - measured[0]).collect();
    let h: Vec<f64> = rel
        .iter()
        .zip(&d)
        .map(|(s, d)| 0.5 * (s[0] * s[0] + s[1] * s[1] - d * d))
        .collect();
    // Q^-1 for Q = diag(q_i) + q_0 1 1^T by Sherman-Morrison: diag(w_i) - alpha w w^T with
    // alpha = q_0 / (1 + q_0 sum w_i).
    let w: Vec<f64> = weight[1..].to_vec();
    let q0 = 1.0 / weight[0];
    let alpha = q0 / (1.0 + q0 * w.iter().sum::<f64>());
    let weight_matrix = |scale: &[f64]| -> Vec<f64> {
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let base = if i == j { w[i] } else { 0.0 } - alpha * w[i] * w[j];
                m[i * n + j] = base / (scale[i] * scale[j]);
            }
        }
        m
    };
    let mut seeds = Vec::new();

    // Stage 1 (four or more receivers): z = (x, y, r_0) by weighted least squares, then again
    // with the weights of the equation errors r_i e_i, using the ranges just found.
    if n >= 3 {
        let rows: Vec<[f64; 3]> = rel.iter().zip(&d).map(|(s, d)| [s[0], s[1], *d]).collect();
        let mut scale = vec![1.0; n];
        for _ in 0..2 {
            let wm = weight_matrix(&scale);
            let (mut a, mut b) = ([[0.0; 3]; 3], [0.0; 3]);
            for i in 0..n {
                for j in 0..n {
                    let wij = wm[i * n + j];
                    for k in 0..3 {
                        b[k] += rows[i][k] * wij * h[j];
                        for l in 0..3 {
                            a[k][l] += rows[i][k] * wij * rows[j][l];
                        }
                    }
                }
            }
            let Some(z) = solve3(a, b) else { break };
            seeds.push([s0[0] + z[0], s0[1] + z[1]]);
            scale = rel
                .iter()
                .map(|s| ((z[0] - s[0]).hypot(z[1] - s[1])).max(1.0))
                .collect();
        }
    }

    // x = a + b r_0 by weighted least squares, then |x|^2 = r_0^2: Chan's three-receiver
    // solution, usable for any number.
    let wm = weight_matrix(&vec![1.0; n]);
    let (mut m, mut ra, mut rb) = ([[0.0; 2]; 2], [0.0; 2], [0.0; 2]);
    for i in 0..n {
        for j in 0..n {
            let wij = wm[i * n + j];
            for k in 0..2 {
                ra[k] += rel[i][k] * wij * h[j];
                rb[k] -= rel[i][k] * wij * d[j];
                for l in 0..2 {
                    m[k][l] += rel[i][k] * wij * rel[j][l];
                }
            }
        }
    }
    if let (Some(a), Some(b)) = (solve2(m, ra), solve2(m, rb)) {
        let qa = b[0] * b[0] + b[1] * b[1] - 1.0;
        let qb = 2.0 * (a[0] * b[0] + a[1] * b[1]);
        let qc = a[0] * a[0] + a[1] * a[1];
        let mut roots = Vec::with_capacity(2);
        if qa.abs() < 1e-12 {
            if qb != 0.0 {
                roots.push(-qc / qb);
            }
        } else {
            let disc = qb * qb - 4.0 * qa * qc;
            if disc >= 0.0 {
                // The numerically stable pair of quadratic roots.
                let q = -0.5 * (qb + qb.signum() * disc.sqrt());
                if q != 0.0 {
                    roots.extend([q / qa, qc / q]);
                }
            }
        }
        for r0 in roots.into_iter().filter(|r| *r >= 0.0 && r.is_finite()) {
            seeds.push([s0[0] + a[0] + b[0] * r0, s0[1] + a[1] + b[1] * r0]);
        }
    }
    seeds
}

/// sum_i w_i (g_i - g_w)(g_i - g_w)^T for weighted gradients, or `None` if the weights vanish.
fn information(weighted: &[(f64, [f64; 2])]) -> Option<[[f64; 2]; 2]> {
    let total: f64 = weighted.iter().map(|(w, _)| w).sum();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let mut mean = [0.0; 2];
    for (w, g) in weighted {
        mean[0] += w * g[0] / total;
        mean[1] += w * g[1] / total;
    }
    let mut a = [[0.0; 2]; 2];
    for (w, g) in weighted {
        let d = [g[0] - mean[0], g[1] - mean[1]];
        for j in 0..2 {
            for k in 0..2 {
                a[j][k] += w * d[j] * d[k];
            }
        }
    }
    Some(a)
}

/// The inverse of a symmetric positive definite 2x2 matrix, or `None` if it is singular to
/// within [`MIN_RECIPROCAL_CONDITION`] or not finite.
fn invert2(a: [[f64; 2]; 2]) -> Option<[[f64; 2]; 2]> {
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    let scale = a[0][0] * a[1][1];
    if !(a[0][0] > 0.0 && a[1][1] > 0.0 && det > MIN_RECIPROCAL_CONDITION * scale) {
        return None;
    }
    let inv = [[a[1][1] / det, -a[0][1] / det], [-a[1][0] / det, a[0][0] / det]];
    inv.iter().flatten().all(|v| v.is_finite()).then_some(inv)
}

/// Solves a x = b for a 2x2 `a` (Cramer's rule); `None` if singular.
fn solve2(a: [[f64; 2]; 2], b: [f64; 2]) -> Option<[f64; 2]> {
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    let scale = (a[0][0] * a[1][1]).abs() + (a[0][1] * a[1][0]).abs();
    if det.is_nan() || det.abs() <= MIN_RECIPROCAL_CONDITION * scale {
        return None;
    }
    let x = [
        (b[0] * a[1][1] - b[1] * a[0][1]) / det,
        (a[0][0] * b[1] - a[1][0] * b[0]) / det,
    ];
    (x[0].is_finite() && x[1].is_finite()).then_some(x)
}

/// Solves a x = b for a 3x3 `a` by Gaussian elimination with partial pivoting; `None` if
/// singular.
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].is_nan() || a[pivot][col].abs() <= 1e-14 * scale {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..3 {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (x, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        x[row] = (b[row] - (row + 1..3).map(|k| a[row][k] * x[k]).sum::<f64>()) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The point at the mean of `points` in the tangent plane at the first (exact enough for a
/// continental network: only the choice of centre depends on it).
fn centroid(points: &[GeoPoint]) -> GeoPoint {
    let frame = LocalFrame::new(points[0]);
    let n = points.len() as f64;
    let mut mean = [0.0; 2];
    for &p in points {
        let e = frame.to_enu(p);
        mean[0] += e[0] / n;
        mean[1] += e[1] / n;
    }
    wrap_longitude(frame.to_geo(mean))
}

/// `p` with its longitude brought into [-180, 180] (a step across the antimeridian leaves it
/// outside).
fn wrap_longitude(p: GeoPoint) -> GeoPoint {
    if (-180.0..=180.0).contains(&p.lon_deg) {
        p
    } else {
        GeoPoint::new(p.lat_deg, (p.lon_deg + 180.0).rem_euclid(360.0) - 180.0)
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn normalised(v: [f64; 3]) -> [f64; 3] {
    let n = dot(v, v).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

/// Two unit vectors orthogonal to the unit vector `u` and to each other.
fn tangent_basis(u: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    // East = z x u (undefined at the poles, where any horizontal vector will do).
    let east = [-u[1], u[0], 0.0];
    let east = if dot(east, east) > 1e-12 {
        normalised(east)
    } else {
        [1.0, 0.0, 0.0]
    };
    let north = [
        u[1] * east[2] - u[2] * east[1],
        u[2] * east[0] - u[0] * east[2],
        u[0] * east[1] - u[1] * east[0],
    ];
    (east, north)
}
