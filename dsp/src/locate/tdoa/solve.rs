//! The search: seeds refined by Levenberg-Marquardt on the ellipsoid, the best minimum chosen
//! with a weak prior, and any near-equal alternative.

use super::chan::chan;
use super::geometry::{wrap_longitude, Geometry};
use super::problem::Problem;
use crate::geo::{GeoPoint, LocalFrame};
use crate::locate::ellipse::{radius_containing, ONE_SIGMA_PROBABILITY};
use crate::locate::linalg::solve2;
use crate::locate::{Alternative, LocateError};

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

/// Why a solver run gave no minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunFailure {
    /// It wandered beyond [`ESCAPE_RANGE`] network radii.
    Escaped,
    /// It did not settle within [`LM_MAX_ITERATIONS`], or started where chi2 is not finite.
    Unsettled,
}

/// One local minimum of chi2.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fit {
    pub(super) position: GeoPoint,
    pub(super) chi2: f64,
    pub(super) iterations: usize,
}

/// The best minimum for a set of receivers, its covariance and any near-equal alternative.
#[derive(Debug, Clone)]
pub(super) struct Solution {
    pub(super) best: Fit,
    pub(super) covariance: [[f64; 2]; 2],
    pub(super) alternative: Option<Alternative>,
}

impl Problem {
    /// All seeds refined; the best minimum with its covariance and any alternative.
    pub(super) fn solve(&self, active: &[usize], geometry: &Geometry) -> Result<Solution, LocateError> {
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
}
