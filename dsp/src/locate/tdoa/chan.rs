//! Chan's closed-form TDOA solutions in a plane: the seeds of the search.

use crate::locate::linalg::{solve2, solve3};

/// Chan's closed-form solutions in a plane: receivers `plane` (m), measured range offsets
/// `measured` (m_i, so d_i = m_i - m_0 against the first) and weights `weight` (1 / (c sigma)^2).
pub(super) fn chan(plane: &[[f64; 2]], measured: &[f64], weight: &[f64]) -> Vec<[f64; 2]> {
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
