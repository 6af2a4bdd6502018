//! The fitting problem: chi2, residuals, normal equations, covariance and GDOP at a position.

use super::{Propagation, TdoaReceiver};
use crate::geo::{GeoPoint, LocalFrame, SPEED_OF_LIGHT_M_S};
use crate::locate::linalg::{invert_spd2, weighted_scatter};

/// GDOP reported when the geometry gives no angular diversity.
const GDOP_MAX: f64 = 1e6;

/// The fitting problem: every receiver's position, weight and measured range offset.
pub(super) struct Problem {
    pub(super) positions: Vec<GeoPoint>,
    /// 1 / (c sigma_i)^2, m^-2.
    pub(super) weight: Vec<f64>,
    /// m_i = c tau_i0, m (0 for the reference).
    pub(super) measured: Vec<f64>,
    pub(super) propagation: Propagation,
}

impl Problem {
    pub(super) fn new(receivers: &[TdoaReceiver], delays_s: &[f64], propagation: Propagation) -> Self {
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
    pub(super) fn chi2(&self, p: GeoPoint, active: &[usize]) -> f64 {
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
    pub(super) fn offset(&self, active: &[usize], ranges: &[f64]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for (&i, &r) in active.iter().zip(ranges) {
            num += self.weight[i] * (r - self.measured[i]);
            den += self.weight[i];
        }
        num / den
    }

    /// Residuals m_i - r_i + b of every receiver at `p`, with b fitted to `active`.
    pub(super) fn residuals(&self, p: GeoPoint, active: &[usize]) -> Vec<f64> {
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
    pub(super) fn normal_equations(
        &self,
        p: GeoPoint,
        active: &[usize],
    ) -> (LocalFrame, [[f64; 2]; 2], [f64; 2]) {
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

    /// (J^T W J)^-1 at `p`, or `None` if singular.
    pub(super) fn covariance(&self, p: GeoPoint, active: &[usize]) -> Option<[[f64; 2]; 2]> {
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
        invert_spd2(weighted_scatter(&weighted)?)
    }

    /// GDOP at `p` over `active` (see [`TdoaFix::gdop`](super::TdoaFix::gdop)).
    pub(super) fn gdop(&self, p: GeoPoint, active: &[usize]) -> f64 {
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
        match weighted_scatter(&unweighted).and_then(invert_spd2) {
            Some(c) if (c[0][0] + c[1][1]).is_finite() => (c[0][0] + c[1][1]).sqrt().min(GDOP_MAX),
            _ => GDOP_MAX,
        }
    }
}
