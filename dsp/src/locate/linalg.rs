//! The small dense solvers the locators share: symmetric positive definite 3x3 systems
//! (Cholesky on the unit-diagonal scaling, so badly scaled normal equations stay accurate).
//! Fixed sizes, no allocation.

/// Smallest pivot of the scaled Cholesky factorisation accepted: below, the system is treated
/// as singular (the fix is not determined) rather than solved into noise.
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
}
