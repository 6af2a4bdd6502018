//! The small dense solvers the locators share: symmetric positive definite 3x3 systems
//! (Cholesky on the unit-diagonal scaling, so badly scaled normal equations stay accurate),
//! general 2x2 and 3x3 systems, the 2x2 inverse of an information matrix, and the weighted
//! scatter matrix it is built from. Fixed sizes; only [`weighted_scatter`] reads a slice.

/// Smallest reciprocal condition number accepted (the smallest pivot of the scaled Cholesky
/// factorisation, or |det| over the product of the diagonal for 2x2 matrices): below, the system
/// is treated as singular (the fix is not determined) rather than solved into noise.
pub const MIN_RECIPROCAL_CONDITION: f64 = 1e-12;

/// Cholesky factor of the unit-diagonal scaling of `a`, with the scaling; `None` if `a` is not
/// positive definite to within [`MIN_RECIPROCAL_CONDITION`] (the scaled matrix
/// has a unit diagonal, so this bounds its reciprocal condition number).
pub fn scaled_cholesky(a: [[f64; 3]; 3]) -> Option<([[f64; 3]; 3], [f64; 3])> {
    let mut scale = [0.0; 3];
    for k in 0..3 {
        if !(a[k][k] > 0.0 && a[k][k].is_finite()) {
            return None;
        }
        scale[k] = 1.0 / a[k][k].sqrt();
    }
    let mut l = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..=i {
            let sum = a[i][j] * scale[i] * scale[j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                // Written so that a NaN pivot is rejected too.
                if sum.is_nan() || sum <= MIN_RECIPROCAL_CONDITION {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    Some((l, scale))
}

/// Solves a x = b for symmetric positive definite `a`.
pub fn solve_spd3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let (l, scale) = scaled_cholesky(a)?;
    // (D A D) y = D b, x = D y; forward then back substitution through L L^T.
    let mut y = [0.0; 3];
    for i in 0..3 {
        y[i] = (b[i] * scale[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; 3];
    for i in (0..3).rev() {
        x[i] = (y[i] - (i + 1..3).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some([x[0] * scale[0], x[1] * scale[1], x[2] * scale[2]])
}

/// The inverse of a symmetric positive definite `a`.
pub fn invert_spd3(a: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let mut inv = [[0.0; 3]; 3];
    for c in 0..3 {
        let mut e = [0.0; 3];
        e[c] = 1.0;
        let col = solve_spd3(a, e)?;
        for r in 0..3 {
            inv[r][c] = col[r];
        }
    }
    Some(inv)
}

/// sum_i w_i (g_i - g_w)(g_i - g_w)^T, g_w the w-weighted mean: the information matrix of
/// weighted gradients (or, with unit weights, the scatter of points about their mean); `None`
/// if the weights vanish.
pub fn weighted_scatter(weighted: &[(f64, [f64; 2])]) -> Option<[[f64; 2]; 2]> {
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
pub fn invert_spd2(a: [[f64; 2]; 2]) -> Option<[[f64; 2]; 2]> {
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    let scale = a[0][0] * a[1][1];
    if !(a[0][0] > 0.0 && a[1][1] > 0.0 && det > MIN_RECIPROCAL_CONDITION * scale) {
        return None;
    }
    let inv = [[a[1][1] / det, -a[0][1] / det], [-a[1][0] / det, a[0][0] / det]];
    inv.iter().flatten().all(|v| v.is_finite()).then_some(inv)
}

/// Solves a x = b for a 2x2 `a` (Cramer's rule); `None` if singular.
pub fn solve2(a: [[f64; 2]; 2], b: [f64; 2]) -> Option<[f64; 2]> {
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
pub fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn product(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
        let mut out = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                out[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        out
    }

    #[test]
    fn badly_scaled_spd_systems_are_solved_and_inverted() {
        // Normal equations mixing metres and a dB offset: diagonals 12 orders apart.
        let a = [[4.0e6, 1.0e3, 2.0], [1.0e3, 9.0e6, 3.0], [2.0, 3.0, 5.0e-6]];
        let x = [1.5, -2.0, 3.0e5];
        let b = [0, 1, 2].map(|i| (0..3).map(|k| a[i][k] * x[k]).sum::<f64>());
        let solved = solve_spd3(a, b).expect("positive definite");
        for i in 0..3 {
            assert!(
                (solved[i] - x[i]).abs() <= 1e-9 * x[i].abs().max(1.0),
                "{solved:?}"
            );
        }
        let identity = product(a, invert_spd3(a).expect("invertible"));
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((identity[i][j] - want).abs() < 1e-9, "{identity:?}");
            }
        }
    }

    #[test]
    fn singular_and_indefinite_matrices_are_refused() {
        let singular = [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(solve_spd3(singular, [1.0, 1.0, 1.0]).is_none());
        let indefinite = [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(invert_spd3(indefinite).is_none());
        let nan = [[f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(scaled_cholesky(nan).is_none());
    }

    #[test]
    fn general_small_systems_are_solved_and_singular_ones_refused() {
        // Not symmetric, and needing a row swap (zero leading pivot).
        let a3 = [[0.0, 2.0, 1.0], [3.0, -1.0, 2.0], [1.0, 1.0, -4.0]];
        let x3 = [2.0, -3.0, 0.5];
        let b3 = [0, 1, 2].map(|i| (0..3).map(|k| a3[i][k] * x3[k]).sum::<f64>());
        let solved = solve3(a3, b3).expect("regular");
        assert!((0..3).all(|i| (solved[i] - x3[i]).abs() < 1e-12), "{solved:?}");
        assert!(solve3([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]], b3).is_none());

        let a2 = [[0.0, 2.0], [3.0, -1.0]];
        let solved = solve2(a2, [-6.0, 9.0]).expect("regular");
        assert!(
            (solved[0] - 2.0).abs() < 1e-12 && (solved[1] + 3.0).abs() < 1e-12,
            "{solved:?}"
        );
        assert!(solve2([[1.0, 2.0], [2.0, 4.0]], [1.0, 1.0]).is_none());

        let spd = [[4.0, 1.0], [1.0, 3.0]];
        let inv = invert_spd2(spd).expect("positive definite");
        for (i, row) in spd.iter().enumerate() {
            for j in 0..2 {
                let want = if i == j { 1.0 } else { 0.0 };
                let got: f64 = (0..2).map(|k| row[k] * inv[k][j]).sum();
                assert!((got - want).abs() < 1e-12, "{inv:?}");
            }
        }
        assert!(invert_spd2([[1.0, 1.0], [1.0, 1.0]]).is_none());
        assert!(invert_spd2([[-1.0, 0.0], [0.0, 1.0]]).is_none());
    }

    #[test]
    fn weighted_scatter_is_the_scatter_about_the_weighted_mean() {
        // Unit weights: the scatter of (0,0), (2,0), (1,3) about (1,1).
        let points = [(1.0, [0.0, 0.0]), (1.0, [2.0, 0.0]), (1.0, [1.0, 3.0])];
        let s = weighted_scatter(&points).expect("weights");
        let want = [[2.0, 0.0], [0.0, 6.0]];
        for i in 0..2 {
            for j in 0..2 {
                assert!((s[i][j] - want[i][j]).abs() < 1e-12, "{s:?}");
            }
        }
        assert!(weighted_scatter(&[]).is_none());
        assert!(weighted_scatter(&[(0.0, [1.0, 1.0])]).is_none());
    }
}
