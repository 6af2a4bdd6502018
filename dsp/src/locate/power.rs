//! Localization by received power (RSSI), for receivers without a common time base.
//!
//! Model (log-distance path loss): receiver i at distance r_i from the transmitter measures
//!
//! ```text
//! P_i = P0 - 10 n log10(max(r_i, d0) / d0) + e_i,    e_i ~ N(0, sigma_i^2)  (dB)
//! ```
//!
//! with the path-loss exponent n and reference distance d0 configured ([`PathLossModel`]) and
//! the transmitter's power P0 at d0 unknown. The clamp at d0 keeps the model finite on top of a
//! receiver, where the log-distance law does not hold anyway.
//!
//! The fix minimises chi2 = sum_i ((P_i - model_i) / sigma_i)^2 over (East, North, P0) in a
//! local plane at the receivers' centroid, by Levenberg-Marquardt from several starts: the
//! power-weighted centroid, the strongest receiver nudged towards the centroid, and the lowest
//! local minima of chi2 on a coarse grid over the network. Several starts matter because the
//! cost can have more than one minimum, and every receiver is a funnel-shaped local minimum.
//!
//! # The circle ambiguity
//! With P0 unknown only power *ratios* count, i.e. distance ratios r_i / r_j. For receivers on
//! a common circle (centre c, radius R), a transmitter at x and its inversion
//! x' = c + R^2 (x - c) / |x - c|^2 through that circle have all distances in the same ratio
//! (|x' - s| = R |x - s| / |x - c| for every s on the circle), so they fit identically: a
//! transmitter inside the circle has a twin outside. A line is a circle of infinite radius
//! (the twin is the mirror image), and any three receivers lie on a circle, so **with three
//! receivers every fix has a twin**. With more receivers the twin fits worse the further the
//! receivers are from a common circle. The fix reports the better-fitting minimum and, if
//! another one fits nearly as well, names it in [`PowerFix::alternative`]; between exact twins
//! the one nearer the network's centre is reported. Receivers laid out irregularly, not on a
//! circle, avoid the problem.
//!
//! # Uncertainty
//! The covariance is (J^T W J)^-1 at the fix with W = diag(1 / sigma_i^2) taken as absolute
//! (the sigmas are real measurement standard deviations), so it is not rescaled by the fit's
//! chi2; inverting the full 3x3 matrix and keeping the East-North block accounts for P0 being
//! unknown. It describes the error around the reported minimum only, not the chance that the
//! [`PowerFix::alternative`] is the true one.

use super::chi2::chi2_sf;
use super::ellipse::{error_ellipse, principal_axes, radius_containing, Ellipse, ONE_SIGMA_PROBABILITY};
use super::linalg::{invert_spd3, solve_spd3, weighted_scatter};
use super::LocateError;
use crate::geo::{GeoPoint, LocalFrame};

/// Receivers needed: three unknowns (East, North, P0) need three measurements.
pub const MIN_RECEIVERS: usize = 3;

/// Receivers whose spread across their best-fit line is below this fraction of their spread
/// along it are treated as collinear: a transmitter and its mirror image across the line then
/// produce the same powers, and the normal equations are numerically singular.
const COLLINEAR_RATIO: f64 = 1e-3;
/// The start grid spans this many network radii either side of the centroid: far enough to
/// catch transmitters outside the network, beyond which power fixes carry little information.
const GRID_HALF_WIDTH: f64 = 3.0;
/// Grid nodes per axis (spacing a quarter of the network radius): fine enough to separate the
/// minima of a regional network, cheap enough (625 cost evaluations) to run on every fix.
const GRID_STEPS: usize = 25;
/// Grid local minima used as starts, best first; more rarely adds a new minimum.
const MAX_GRID_STARTS: usize = 4;
/// Fixes further than this many network radii from the centroid are rejected: out there all
/// receivers see nearly the same direction, the position is set by the absolute path loss
/// alone, and the linearised uncertainty stops meaning anything.
const MAX_FIX_RANGE: f64 = 10.0;
/// A solver run that wanders further than this many network radii is abandoned as escaping
/// to infinity (where chi2 flattens out).
const ESCAPE_RANGE: f64 = 20.0;
/// Levenberg-Marquardt iteration cap; runs take 5-50 iterations, a run that needs more is on a
/// plateau and is abandoned.
const LM_MAX_ITERATIONS: usize = 500;
/// A step shorter than this (m) ends a run: far below any achievable accuracy.
const LM_STEP_TOLERANCE_M: f64 = 1e-4;
/// A step that lowers chi2 by less than this ends a run: the position then moves by about
/// sqrt(1e-9) = 3e-5 of its standard deviation, so it is statistically at the minimum. This
/// ends the slow crawl along the curved, nearly flat valleys far from the receivers.
const LM_CHI2_TOLERANCE: f64 = 1e-9;
/// Damping beyond which no downhill step exists at working precision: the run is at a minimum.
const LM_MAX_DAMPING: f64 = 1e12;
/// Other minima whose chi2 exceeds the best by less than this (a likelihood ratio above
/// exp(-4.5), about 1 %) are reported as the alternative.
const AMBIGUITY_DELTA_CHI2: f64 = 9.0;
/// Minima whose chi2 differ by less than this are exact twins the data cannot tell apart (always
/// the case with three receivers); the one nearest the network's centre is reported, because
/// transmitters a network hears mostly lie within it.
const TWIN_DELTA_CHI2: f64 = 1e-3;
/// Two solver runs ending closer than this (m) found the same minimum.
const SAME_MINIMUM_M: f64 = 1.0;
/// GDOP reported when the bearings to the fix span no plane (the geometry gives no angular
/// diversity): large and finite so that a fix stays printable.
const GDOP_MAX: f64 = 1e6;

/// The log-distance path-loss law assumed between the transmitter and every receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathLossModel {
    /// Path-loss exponent n: 2 in free space, typically 2.7-4 over ground and in built-up areas.
    pub exponent: f64,
    /// Reference distance d0, m, at which the transmitter's power is defined; the model is held
    /// flat closer than this.
    pub ref_distance_m: f64,
}

impl PathLossModel {
    /// dB lost per unit of ln(distance): 10 n / ln 10.
    fn slope(&self) -> f64 {
        10.0 * self.exponent / std::f64::consts::LN_10
    }

    fn validate(&self) -> Result<(), LocateError> {
        if !(self.exponent.is_finite() && self.exponent > 0.0) {
            return Err(LocateError::InvalidInput(format!(
                "the path-loss exponent must be positive, got {}",
                self.exponent
            )));
        }
        if !(self.ref_distance_m.is_finite() && self.ref_distance_m > 0.0) {
            return Err(LocateError::InvalidInput(format!(
                "the path-loss reference distance must be positive, got {} m",
                self.ref_distance_m
            )));
        }
        Ok(())
    }
}

/// The power one receiver measured from the transmitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerObservation {
    /// Receiver antenna position.
    pub position: GeoPoint,
    /// Received power, dB in any unit shared by all observations (dBFS, dBm). Receivers with
    /// different gains must be calibrated to a common unit first: a gain offset reads as
    /// distance.
    pub power_db: f64,
    /// Standard deviation of `power_db` about the model, dB (> 0): measurement noise plus
    /// shadow fading. It sets both the weighting and the reported uncertainty, so it must be
    /// realistic; 4-8 dB is typical for terrestrial paths.
    pub sigma_db: f64,
}

/// A transmitter position from received powers, with its uncertainty.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerFix {
    /// Estimated transmitter position.
    pub position: GeoPoint,
    /// Covariance of the position error, East-North, m^2 (`[0][0]` var(East), `[1][1]`
    /// var(North)): the mean square offset from the fix of the re-fits of measurements
    /// resampled within their sigmas around the fitted model (see `resample.rs`: the
    /// linearised covariance overstates the spread along the long axis once model errors are
    /// several dB).
    pub covariance_en: [[f64; 2]; 2],
    /// The linearised covariance: the East-North block of (J^T W J)^-1 at the fix, P0
    /// marginalised, not rescaled by chi2. Exact for small errors; kept for comparison with
    /// the Cramer-Rao bound.
    pub linearised_covariance_en: [[f64; 2]; 2],
    /// Ellipse of `covariance_en` that would hold 68.27 % ([`ONE_SIGMA_PROBABILITY`]) of a
    /// Gaussian error.
    pub ellipse: Ellipse,
    /// Radius, m, of the circle around `position` holding 68.27 % of the resampled re-fits: the
    /// 68 % circle, calibrated through the model's curvature.
    pub uncertainty_m: f64,
    /// Goodness of fit in [0, 1]: the chi-square p-value of `chi2` with `dof` degrees of
    /// freedom, i.e. the probability that measurements obeying the model with the given sigmas
    /// would fit at least this badly. Uniform on [0, 1] when the model holds; near 0 means the
    /// powers contradict the model (a wrong exponent, sigmas too small, a multipath outlier,
    /// an uncalibrated receiver) and the uncertainty is then optimistic. With exactly three
    /// receivers (`dof` = 0) the fit is exact and nothing can be tested: 0.5 is returned, the
    /// mean p-value of a correct model, meaning "no evidence either way".
    pub confidence: f64,
    /// Estimated transmitter power at the reference distance, in the unit of the observations.
    pub ref_power_db: f64,
    /// Per observation, in input order: measured minus modelled power at the fix, dB.
    pub residuals_db: Vec<f64>,
    /// sum of (residual / sigma)^2.
    pub chi2: f64,
    /// Degrees of freedom of `chi2`: receivers minus 3 (East, North, P0).
    pub dof: usize,
    /// Geometric dilution of precision at the fix, dimensionless: sqrt(tr(S^-1)) with
    /// S = sum_i (u_i - u_mean)(u_i - u_mean)^T over the unit vectors u_i from receivers to the
    /// fix (centring removes the unknown P0, as differencing removes the clock in TDOA). It
    /// measures the angular diversity of the receivers as seen from the fix, like TDOA's GDOP:
    /// for receivers all at distance r with equal sigma, the RMS position error is
    /// GDOP * r * sigma * ln(10) / (10 n). Unlike the covariance it ignores that nearer
    /// receivers inform more. At most 1e6.
    pub gdop: f64,
    /// Another position that fits nearly as well (see the [circle ambiguity](self)), if any:
    /// the best other local minimum of chi2 within 9 of this fix's chi2 and within 10 network
    /// radii. `uncertainty_m` and `ellipse` do not cover it.
    pub alternative: Option<Alternative>,
}

/// A second local minimum of chi2 that the measurements cannot rule out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alternative {
    /// Its position.
    pub position: GeoPoint,
    /// Its chi2 minus the reported fix's chi2 (>= 0 up to rounding): exp(-delta_chi2 / 2) is
    /// its likelihood relative to the fix; 0 means the data cannot tell them apart.
    pub delta_chi2: f64,
    /// Radius, m, of the circle around `position` holding 68.27 % of the error if this were
    /// the true minimum.
    pub uncertainty_m: f64,
}

/// Locates a transmitter from the power received at three or more receivers.
///
/// See the [module documentation](self) for the model and the solver, and [`PowerFix`] for
/// the meaning of every reported number. Every number in a returned fix is finite.
///
/// # Errors
/// - [`LocateError::InvalidInput`] for a non-finite power, a sigma that is not positive,
///   invalid coordinates or an invalid model;
/// - [`LocateError::TooFewReceivers`] for fewer than [`MIN_RECEIVERS`] observations;
/// - [`LocateError::Degenerate`] when the receivers are collinear, the best fit lies far
///   outside the network (more than 10 network radii from its centre), or the measurements do
///   not determine the position there;
/// - [`LocateError::NoConvergence`] when no solver run settles.
pub fn locate_power(
    observations: &[PowerObservation],
    model: &PathLossModel,
) -> Result<PowerFix, LocateError> {
    model.validate()?;
    if observations.len() < MIN_RECEIVERS {
        return Err(LocateError::TooFewReceivers {
            have: observations.len(),
            need: MIN_RECEIVERS,
        });
    }
    for (i, o) in observations.iter().enumerate() {
        if !o.position.is_valid() {
            return Err(LocateError::InvalidInput(format!(
                "receiver {i} has invalid coordinates"
            )));
        }
        if !o.power_db.is_finite() {
            return Err(LocateError::InvalidInput(format!(
                "receiver {i} reported a non-finite power"
            )));
        }
        if !(o.sigma_db.is_finite() && o.sigma_db > 0.0) {
            return Err(LocateError::InvalidInput(format!(
                "receiver {i} has sigma {} dB; it must be positive",
                o.sigma_db
            )));
        }
    }

    let positions: Vec<GeoPoint> = observations.iter().map(|o| o.position).collect();
    let frame = centroid_frame(&positions);
    let problem = Problem {
        receivers: positions.iter().map(|&p| frame.to_enu(p)).collect(),
        power: observations.iter().map(|o| o.power_db).collect(),
        weight: observations
            .iter()
            .map(|o| 1.0 / (o.sigma_db * o.sigma_db))
            .collect(),
        slope: model.slope(),
        ref_distance: model.ref_distance_m,
    };
    let radius = problem.check_geometry()?;

    let fits = problem.minima(radius, model.exponent)?;
    let (best, covariance) = pick_best(&problem, &fits).ok_or_else(|| {
        LocateError::Degenerate(
            "the measured powers do not determine a position: the best fits sit on a receiver, \
             where the model is flat (the powers are inconsistent with one transmitter under the \
             configured path-loss model, or there are too few receivers)"
                .into(),
        )
    })?;
    let within_reach = |f: &Fit| norm(f.x) <= MAX_FIX_RANGE * radius;
    let distance = norm(best.x);
    if !within_reach(&best) {
        return Err(LocateError::Degenerate(format!(
            "the best fit lies {:.1} km from the centre of a network of radius {:.1} km, far \
             outside it; the powers barely change across the network",
            distance / 1e3,
            radius / 1e3
        )));
    }
    let alternative = fits
        .iter()
        .filter(|f| {
            norm([f.x[0] - best.x[0], f.x[1] - best.x[1]]) > SAME_MINIMUM_M
                && f.chi2 - best.chi2 < AMBIGUITY_DELTA_CHI2
                && within_reach(f)
        })
        .find_map(|f| {
            let c = problem.covariance(f.x)?;
            Some(Alternative {
                position: frame.to_geo(f.x),
                delta_chi2: f.chi2 - best.chi2,
                uncertainty_m: radius_containing(c, ONE_SIGMA_PROBABILITY),
            })
        });

    let residuals_db: Vec<f64> = (0..problem.len())
        .map(|i| problem.power[i] - best.ref_power - problem.path_gain(i, best.x).0)
        .collect();
    let dof = problem.len() - MIN_RECEIVERS;
    // The linearised covariance decides which minimum is usable; the reported spread comes
    // from re-fitting resampled measurements, which follows the model's curvature.
    let (uncertainty_m, spread) =
        resample::radius_by_resampling(&problem, &best, ONE_SIGMA_PROBABILITY, ESCAPE_RANGE * radius)
            .ok_or_else(|| {
                LocateError::Degenerate(
                    "the measured powers do not bound the position: more than a third of fits to \
                     measurements resampled within their errors escape from the network"
                        .into(),
                )
            })?;
    Ok(PowerFix {
        position: frame.to_geo(best.x),
        covariance_en: spread,
        linearised_covariance_en: covariance,
        ellipse: error_ellipse(spread, ONE_SIGMA_PROBABILITY),
        uncertainty_m,
        confidence: if dof > 0 { chi2_sf(best.chi2, dof) } else { 0.5 },
        ref_power_db: best.ref_power,
        residuals_db,
        chi2: best.chi2,
        dof,
        gdop: problem.gdop(best.x),
        alternative,
    })
}

/// The Cramer-Rao lower bound on the East-North covariance (m^2) of any unbiased power-based
/// fix of a transmitter at `transmitter`, heard by receivers at `receivers` with power
/// standard deviations `sigmas_db`, with P0 unknown.
///
/// The Fisher information of (East, North, P0) is F = sum_i g_i g_i^T / sigma_i^2 with
/// g_i = (-b u_i / r_i, 1), b = 10 n / ln 10; the bound is the East-North block of F^-1, i.e.
/// the inverse of the Schur complement b^2 [sum w_i u_i u_i^T / r_i^2 - (sum w_i u_i / r_i)
/// (sum w_i u_i / r_i)^T / sum w_i], which is what not knowing P0 costs. Computed in the local
/// plane at the receivers' centroid, like [`locate_power`]. Receivers closer than the reference
/// distance contribute no position information (the model is flat there). If F is singular
/// (for instance a transmitter on the line of collinear receivers) the bound is infinite:
/// `[[inf, 0], [0, inf]]`.
///
/// # Panics
/// If `receivers` and `sigmas_db` differ in length or `receivers` is empty.
pub fn power_crlb(
    transmitter: GeoPoint,
    receivers: &[GeoPoint],
    sigmas_db: &[f64],
    model: &PathLossModel,
) -> [[f64; 2]; 2] {
    assert_eq!(receivers.len(), sigmas_db.len(), "one sigma per receiver");
    assert!(!receivers.is_empty(), "at least one receiver");
    let frame = centroid_frame(receivers);
    let problem = Problem {
        receivers: receivers.iter().map(|&p| frame.to_enu(p)).collect(),
        power: vec![0.0; receivers.len()],
        weight: sigmas_db.iter().map(|s| 1.0 / (s * s)).collect(),
        slope: model.slope(),
        ref_distance: model.ref_distance_m,
    };
    problem
        .covariance(frame.to_enu(transmitter))
        .unwrap_or([[f64::INFINITY, 0.0], [0.0, f64::INFINITY]])
}

/// The local plane at the mean of `points` (mean taken in a plane at the first point: exact
/// enough for a regional network, and only the origin's choice depends on it).
fn centroid_frame(points: &[GeoPoint]) -> LocalFrame {
    let first = LocalFrame::new(points[0]);
    let mut mean = [0.0; 2];
    for &p in points {
        let enu = first.to_enu(p);
        mean[0] += enu[0] / points.len() as f64;
        mean[1] += enu[1] / points.len() as f64;
    }
    LocalFrame::new(first.to_geo(mean))
}

/// One local minimum of chi2.
#[derive(Debug, Clone, Copy)]
struct Fit {
    /// East, North, m.
    x: [f64; 2],
    /// Transmitter power at the reference distance, dB.
    ref_power: f64,
    chi2: f64,
}

/// The fitting problem in the local plane.
struct Problem {
    /// Receiver East-North positions, m.
    receivers: Vec<[f64; 2]>,
    /// Measured powers, dB.
    power: Vec<f64>,
    /// 1 / sigma^2, dB^-2.
    weight: Vec<f64>,
    /// 10 n / ln 10, dB.
    slope: f64,
    /// d0, m.
    ref_distance: f64,
}

impl Problem {
    fn len(&self) -> usize {
        self.receivers.len()
    }

    /// The path-gain term -b ln(max(r, d0) / d0) of receiver `i` for a transmitter at `x`, and
    /// its gradient with respect to `x`.
    fn path_gain(&self, i: usize, x: [f64; 2]) -> (f64, [f64; 2]) {
        let (de, dn) = (x[0] - self.receivers[i][0], x[1] - self.receivers[i][1]);
        let r = de.hypot(dn);
        if r <= self.ref_distance {
            return (0.0, [0.0, 0.0]);
        }
        let k = -self.slope / (r * r);
        (-self.slope * (r / self.ref_distance).ln(), [k * de, k * dn])
    }

    /// The P0 that fits best for a transmitter at `x` (weighted mean of power minus gain).
    fn best_ref_power(&self, x: [f64; 2]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..self.len() {
            num += self.weight[i] * (self.power[i] - self.path_gain(i, x).0);
            den += self.weight[i];
        }
        num / den
    }

    fn chi2(&self, x: [f64; 2], ref_power: f64) -> f64 {
        (0..self.len())
            .map(|i| {
                let e = self.power[i] - ref_power - self.path_gain(i, x).0;
                self.weight[i] * e * e
            })
            .sum()
    }

    /// J^T W J and J^T W e at (x, P0), for the unknowns (East, North, P0).
    fn normal_equations(&self, x: [f64; 2], ref_power: f64) -> ([[f64; 3]; 3], [f64; 3]) {
        let mut a = [[0.0; 3]; 3];
        let mut g = [0.0; 3];
        for i in 0..self.len() {
            let (gain, grad) = self.path_gain(i, x);
            let row = [grad[0], grad[1], 1.0];
            let e = self.power[i] - ref_power - gain;
            for j in 0..3 {
                g[j] += self.weight[i] * row[j] * e;
                for k in 0..3 {
                    a[j][k] += self.weight[i] * row[j] * row[k];
                }
            }
        }
        (a, g)
    }

    /// The East-North block of (J^T W J)^-1 at `x` (the information does not depend on P0), or
    /// `None` if the information matrix is singular or not finite.
    fn covariance(&self, x: [f64; 2]) -> Option<[[f64; 2]; 2]> {
        let (a, _) = self.normal_equations(x, 0.0);
        let inv = invert_spd3(a)?;
        let cov = [[inv[0][0], inv[0][1]], [inv[1][0], inv[1][1]]];
        (cov.iter().flatten().all(|v| v.is_finite()) && cov[0][0] > 0.0 && cov[1][1] > 0.0).then_some(cov)
    }

    /// Rejects receiver layouts that cannot fix a position; returns the network radius (largest
    /// receiver distance from the centroid, m).
    fn check_geometry(&self) -> Result<f64, LocateError> {
        let n = self.len() as f64;
        let mean = self
            .receivers
            .iter()
            .fold([0.0, 0.0], |m, r| [m[0] + r[0] / n, m[1] + r[1] / n]);
        let mut scatter = [[0.0; 2]; 2];
        let mut radius: f64 = 0.0;
        for r in &self.receivers {
            let d = [r[0] - mean[0], r[1] - mean[1]];
            for j in 0..2 {
                for k in 0..2 {
                    scatter[j][k] += d[j] * d[k];
                }
            }
            radius = radius.max(norm(d));
        }
        let axes = principal_axes(scatter);
        if axes.major_var <= 0.0 || axes.minor_var <= COLLINEAR_RATIO * COLLINEAR_RATIO * axes.major_var {
            return Err(LocateError::Degenerate(
                "the receivers lie on a line, so a transmitter and its mirror image across it give \
                 the same powers; a receiver off that line is needed"
                    .into(),
            ));
        }
        Ok(radius)
    }

    /// The distinct local minima of chi2 reached from all starts, best first.
    fn minima(&self, radius: f64, exponent: f64) -> Result<Vec<Fit>, LocateError> {
        let mut starts = Vec::with_capacity(2 + MAX_GRID_STARTS);
        // Power-weighted centroid: 10^(P / 10n) is proportional to 1 / r under the model, so the
        // nearest receivers pull hardest.
        let strongest = (0..self.len())
            .max_by(|&a, &b| self.power[a].total_cmp(&self.power[b]))
            .expect("check_geometry accepted at least one receiver");
        let (mut centroid, mut total) = ([0.0, 0.0], 0.0);
        for i in 0..self.len() {
            let w = 10f64.powf((self.power[i] - self.power[strongest]) / (10.0 * exponent));
            centroid[0] += w * self.receivers[i][0];
            centroid[1] += w * self.receivers[i][1];
            total += w;
        }
        starts.push([centroid[0] / total, centroid[1] / total]);
        // Strongest receiver, a tenth of the way to the centroid (the frame origin): off the
        // receiver's own singularity, on the side where the other receivers are.
        let s = self.receivers[strongest];
        starts.push(if norm(s) > 0.0 {
            [0.9 * s[0], 0.9 * s[1]]
        } else {
            [0.1 * radius, 0.0]
        });
        starts.extend(self.grid_minima(radius));

        let mut fits: Vec<Fit> = starts
            .iter()
            .filter_map(|&s| self.refine(s, ESCAPE_RANGE * radius))
            .collect();
        if fits.is_empty() {
            return Err(LocateError::NoConvergence);
        }
        fits.sort_by(|a, b| a.chi2.total_cmp(&b.chi2));
        let mut distinct: Vec<Fit> = Vec::with_capacity(fits.len());
        for f in fits {
            if distinct
                .iter()
                .all(|d| norm([d.x[0] - f.x[0], d.x[1] - f.x[1]]) > SAME_MINIMUM_M)
            {
                distinct.push(f);
            }
        }
        Ok(distinct)
    }

    /// The lowest local minima of the P0-profiled chi2 on a square grid around the centroid.
    fn grid_minima(&self, radius: f64) -> Vec<[f64; 2]> {
        let half = GRID_HALF_WIDTH * radius;
        let step = 2.0 * half / (GRID_STEPS - 1) as f64;
        let node = |i: usize, j: usize| [-half + i as f64 * step, -half + j as f64 * step];
        let mut cost = vec![0.0; GRID_STEPS * GRID_STEPS];
        for i in 0..GRID_STEPS {
            for j in 0..GRID_STEPS {
                let x = node(i, j);
                cost[i * GRID_STEPS + j] = self.chi2(x, self.best_ref_power(x));
            }
        }
        let mut minima: Vec<(f64, [f64; 2])> = Vec::new();
        for i in 0..GRID_STEPS {
            for j in 0..GRID_STEPS {
                let c = cost[i * GRID_STEPS + j];
                let lowest = (i.saturating_sub(1)..(i + 2).min(GRID_STEPS))
                    .flat_map(|a| (j.saturating_sub(1)..(j + 2).min(GRID_STEPS)).map(move |b| (a, b)))
                    .all(|(a, b)| cost[a * GRID_STEPS + b] >= c);
                if lowest {
                    minima.push((c, node(i, j)));
                }
            }
        }
        minima.sort_by(|a, b| a.0.total_cmp(&b.0));
        minima.into_iter().take(MAX_GRID_STARTS).map(|(_, x)| x).collect()
    }

    /// Levenberg-Marquardt from `start` (P0 starts at its best value there). `None` if the run
    /// escapes beyond `escape_radius`, meets a singular system, or does not settle.
    fn refine(&self, start: [f64; 2], escape_radius: f64) -> Option<Fit> {
        let mut theta = [start[0], start[1], self.best_ref_power(start)];
        let mut cost = self.chi2(start, theta[2]);
        let mut damping = 1e-3;
        for _ in 0..LM_MAX_ITERATIONS {
            let (a, g) = self.normal_equations([theta[0], theta[1]], theta[2]);
            loop {
                // Marquardt's scaling (damping proportional to the diagonal) makes the step
                // independent of the units of the unknowns, metres and dB.
                let mut m = a;
                for (k, row) in m.iter_mut().enumerate() {
                    row[k] += damping * a[k][k];
                }
                let step = solve_spd3(m, g)?;
                let trial = [theta[0] + step[0], theta[1] + step[1], theta[2] + step[2]];
                let trial_cost = self.chi2([trial[0], trial[1]], trial[2]);
                if trial_cost.is_finite() && trial_cost <= cost {
                    if norm([trial[0], trial[1]]) > escape_radius {
                        return None;
                    }
                    let gain = cost - trial_cost;
                    theta = trial;
                    cost = trial_cost;
                    damping = (damping / 3.0).max(1e-12);
                    if (norm([step[0], step[1]]) < LM_STEP_TOLERANCE_M && step[2].abs() < 1e-6)
                        || gain < LM_CHI2_TOLERANCE
                    {
                        return Some(Fit {
                            x: [theta[0], theta[1]],
                            ref_power: theta[2],
                            chi2: cost,
                        });
                    }
                    break;
                }
                damping *= 4.0;
                if damping > LM_MAX_DAMPING {
                    return Some(Fit {
                        x: [theta[0], theta[1]],
                        ref_power: theta[2],
                        chi2: cost,
                    });
                }
            }
        }
        None
    }

    /// GDOP from the centred unit vectors receiver -> `x` (see [`PowerFix::gdop`]).
    fn gdop(&self, x: [f64; 2]) -> f64 {
        let units: Vec<(f64, [f64; 2])> = self
            .receivers
            .iter()
            .filter_map(|s| {
                let d = [x[0] - s[0], x[1] - s[1]];
                let r = norm(d);
                // A receiver exactly at the fix has no bearing to it.
                (r > 0.0).then(|| (1.0, [d[0] / r, d[1] / r]))
            })
            .collect();
        let Some(s) = weighted_scatter(&units) else {
            return GDOP_MAX;
        };
        let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
        let trace = s[0][0] + s[1][1];
        if det > 0.0 && (trace / det).is_finite() {
            (trace / det).sqrt().min(GDOP_MAX)
        } else {
            GDOP_MAX
        }
    }
}

/// The minimum to report and its covariance: among the minima where the position is
/// determined (a regular information matrix), the lowest chi2, except that among minima within
/// [`TWIN_DELTA_CHI2`] of it the one nearest the network's centre wins. `None` if the position
/// is determined at none of them.
fn pick_best(problem: &Problem, fits: &[Fit]) -> Option<(Fit, [[f64; 2]; 2])> {
    let usable: Vec<(Fit, [[f64; 2]; 2])> = fits
        .iter()
        .filter_map(|f| Some((*f, problem.covariance(f.x)?)))
        .collect();
    let lowest = usable.iter().map(|(f, _)| f.chi2).min_by(f64::total_cmp)?;
    usable
        .into_iter()
        .filter(|(f, _)| f.chi2 - lowest < TWIN_DELTA_CHI2)
        .min_by(|(a, _), (b, _)| norm(a.x).total_cmp(&norm(b.x)))
}

fn norm(v: [f64; 2]) -> f64 {
    v[0].hypot(v[1])
}

mod resample;
#[cfg(test)]
mod tests;
