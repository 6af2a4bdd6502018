//! Arrival times from the delays of every pair of receivers.
//!
//! Delays measured against one reference receiver depend on which receiver that is whenever
//! the pairs disagree (they do on real channels: multipath and the receivers' own filters
//! distort each pair differently, so d_ab + d_bc != d_ac). Correlating every pair and fitting
//! one arrival time per receiver uses all that was measured and no arbitrary choice:
//!
//! ```text
//! d_ij = t_j - t_i + error,   minimise sum over pairs (d_ij - t_j + t_i)^2 / v_ij,   t_0 = 0
//! ```
//!
//! (weighted least squares, v_ij the pair's variance). The TDOA solver wants an independent
//! timing variance per receiver, s_i, such that pair (i, j) has variance s_i + s_j; it is the
//! least-squares fit of s_i + s_j to the pairs' v_ij, which for three receivers is exact:
//! s_a = (v_ab + v_ac - v_bc) / 2. A receiver's s_i is kept at least [`MIN_SHARE`] of its
//! smallest pair variance, so a pair much worse than the others cannot push another receiver's
//! share to zero.

/// Smallest share of its best pair's variance a receiver keeps.
pub const MIN_SHARE: f64 = 0.1;

/// One measured pair: the delay of receiver `j` relative to receiver `i` (s, positive when `j`
/// hears the signal later) and its variance (s^2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairDelay {
    /// The earlier index.
    pub i: usize,
    /// The later index.
    pub j: usize,
    /// t_j - t_i, s.
    pub delay_s: f64,
    /// Its variance, s^2 (> 0).
    pub variance_s2: f64,
}

/// Arrival times fitted to all pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalTimes {
    /// Arrival time of each receiver relative to receiver 0, s.
    pub times_s: Vec<f64>,
    /// Each receiver's independent timing variance, s^2 (see the module documentation).
    pub variances_s2: Vec<f64>,
    /// sum over pairs of (measured - fitted)^2 / variance: how far the pairs disagree beyond
    /// their variances, on pairs - (receivers - 1) degrees of freedom.
    pub chi2: f64,
    /// Degrees of freedom of `chi2`.
    pub dof: usize,
}

/// Fits `receivers` arrival times to `pairs` (every receiver must be connected to receiver 0
/// through the pairs); `None` if they are not, or an input is not finite and positive.
///
/// ```
/// use sdrhub_dsp::locate::pairs::{arrival_times, PairDelay};
///
/// // Arrivals at 0, 10 and 25 us, measured exactly by every pair.
/// let pair = |i, j, d: f64| PairDelay { i, j, delay_s: d * 1e-6, variance_s2: 1e-12 };
/// let fit = arrival_times(3, &[pair(0, 1, 10.0), pair(0, 2, 25.0), pair(1, 2, 15.0)]).unwrap();
/// assert!((fit.times_s[2] - 25e-6).abs() < 1e-15);
/// assert!((fit.variances_s2[0] - 0.5e-12).abs() < 1e-24);
/// ```
pub fn arrival_times(receivers: usize, pairs: &[PairDelay]) -> Option<ArrivalTimes> {
    let m = receivers;
    if m < 2
        || pairs.iter().any(|p| {
            p.i >= m
                || p.j >= m
                || p.i == p.j
                || !p.delay_s.is_finite()
                || p.variance_s2.is_nan()
                || p.variance_s2 <= 0.0
        })
    {
        return None;
    }
    // Normal equations for t_1..t_{m-1} (t_0 = 0), weights 1 / v.
    let n = m - 1;
    let mut a = vec![vec![0.0; n]; n];
    let mut b = vec![0.0; n];
    for p in pairs {
        let w = 1.0 / p.variance_s2;
        // Residual d - (t_j - t_i): gradient rows +1 for j, -1 for i.
        for (k, sign) in [(p.j, 1.0), (p.i, -1.0)] {
            if k == 0 {
                continue;
            }
            b[k - 1] += sign * w * p.delay_s;
            for (l, other) in [(p.j, 1.0), (p.i, -1.0)] {
                if l != 0 {
                    a[k - 1][l - 1] += sign * other * w;
                }
            }
        }
    }
    let solved = solve(a, b)?;
    let mut times_s = vec![0.0];
    times_s.extend(solved);
    let chi2 = pairs
        .iter()
        .map(|p| {
            let r = p.delay_s - (times_s[p.j] - times_s[p.i]);
            r * r / p.variance_s2
        })
        .sum();
    // Per-receiver shares: least squares of s_i + s_j = v_ij.
    let mut a = vec![vec![0.0; m]; m];
    let mut b = vec![0.0; m];
    for p in pairs {
        for k in [p.i, p.j] {
            b[k] += p.variance_s2;
            a[k][p.i] += 1.0;
            a[k][p.j] += 1.0;
        }
    }
    let shares = solve(a, b.clone()).unwrap_or_else(|| {
        // Too few pairs to separate the shares (a chain): split each evenly.
        (0..m)
            .map(|k| {
                let (sum, count) = pairs
                    .iter()
                    .filter(|p| p.i == k || p.j == k)
                    .fold((0.0, 0.0), |(s, c), p| (s + p.variance_s2, c + 1.0));
                if count > 0.0 {
                    0.5 * sum / count
                } else {
                    0.0
                }
            })
            .collect()
    });
    let variances_s2 = (0..m)
        .map(|k| {
            let best = pairs
                .iter()
                .filter(|p| p.i == k || p.j == k)
                .map(|p| p.variance_s2)
                .fold(f64::INFINITY, f64::min);
            shares[k].max(MIN_SHARE * best)
        })
        .collect();
    Some(ArrivalTimes {
        times_s,
        variances_s2,
        chi2,
        dof: pairs.len().saturating_sub(n),
    })
}

/// Solves a small dense system by Gaussian elimination with partial pivoting; `None` when it
/// is singular (the pairs do not connect every receiver).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = a
        .iter()
        .flat_map(|row| row.iter())
        .fold(0.0f64, |m, x| m.max(x.abs()));
    for col in 0..n {
        let pivot = (col..n).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() <= 1e-12 * scale {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (offset, row) in lower.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..n].iter_mut().zip(&pivot_row[col..n]) {
                *x -= f * p;
            }
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(i: usize, j: usize, delay_us: f64, sigma_us: f64) -> PairDelay {
        PairDelay {
            i,
            j,
            delay_s: delay_us * 1e-6,
            variance_s2: (sigma_us * 1e-6).powi(2),
        }
    }

    #[test]
    fn three_receivers_split_the_closure_by_variance_and_shares_exactly() {
        // Pairs that do not close: (0,1) + (1,2) - (0,2) = 6 us.
        let pairs = [
            pair(0, 1, 100.0, 3.0),
            pair(0, 2, 50.0, 4.0),
            pair(1, 2, -44.0, 5.0),
        ];
        let fit = arrival_times(3, &pairs).unwrap();
        // Weighted least squares moves each pair by its share of the variance: 9/50, 16/50,
        // 25/50 of the 6 us closure.
        assert!((fit.times_s[1] * 1e6 - (100.0 - 6.0 * 9.0 / 50.0)).abs() < 1e-9);
        assert!((fit.times_s[2] * 1e6 - (50.0 + 6.0 * 16.0 / 50.0)).abs() < 1e-9);
        assert!((fit.chi2 - 36.0 / 50.0).abs() < 1e-9);
        assert_eq!(fit.dof, 1);
        // s_0 = (9 + 16 - 25) / 2 = 0 -> kept at 10 % of 9; s_1 = (9 + 25 - 16) / 2 = 9.
        let us2 = |v: f64| v * 1e12;
        assert!((us2(fit.variances_s2[0]) - 0.9).abs() < 1e-9);
        assert!((us2(fit.variances_s2[1]) - 9.0).abs() < 1e-9);
        assert!((us2(fit.variances_s2[2]) - 16.0).abs() < 1e-9);
    }

    #[test]
    fn the_result_does_not_depend_on_the_numbering() {
        let truth = [0.0, 120.0, -40.0, 75.0];
        let noise = [[0.0, 1.5, -2.0, 0.7], [0.0, 0.0, 3.1, -1.2], [0.0, 0.0, 0.0, 0.4]];
        let mut pairs = Vec::new();
        for i in 0..4 {
            for j in i + 1..4 {
                pairs.push(pair(i, j, truth[j] - truth[i] + noise[i.min(2)][j], 2.0));
            }
        }
        let fit = arrival_times(4, &pairs).unwrap();
        // Renumber: receiver 3 becomes 0.
        let map = [1, 2, 3, 0];
        let renumbered: Vec<PairDelay> = pairs
            .iter()
            .map(|p| PairDelay {
                i: map[p.i],
                j: map[p.j],
                ..*p
            })
            .collect();
        let again = arrival_times(4, &renumbered).unwrap();
        for (k, &mapped) in map.iter().enumerate() {
            let a = fit.times_s[k] - fit.times_s[3];
            let b = again.times_s[mapped] - again.times_s[0];
            assert!((a - b).abs() < 1e-12, "{k}: {a} vs {b}");
        }
        assert!((fit.chi2 - again.chi2).abs() < 1e-9);
    }

    #[test]
    fn disconnected_or_invalid_pairs_give_none() {
        assert!(arrival_times(3, &[pair(0, 1, 1.0, 1.0)]).is_none());
        assert!(arrival_times(2, &[pair(0, 1, f64::NAN, 1.0)]).is_none());
        assert!(arrival_times(2, &[pair(0, 1, 1.0, 0.0)]).is_none());
        assert!(arrival_times(2, &[pair(0, 2, 1.0, 1.0)]).is_none());
    }
}
