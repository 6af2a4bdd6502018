//! The band: where in the spectrum both snippets hold the signal, found from the coherence of
//! their cross-spectrum.

use super::peak::{cis, widen};
use super::{
    Band, DelayEstimator, BAND_CELL_CHARGE, BAND_MIN_SCORE, BAND_SCORE_SIGMAS, FINE_PER_CELL, MAX_CELLS,
};
use num_complex::Complex64;
use std::f64::consts::TAU;

impl DelayEstimator {
    /// The band: the run of cells with the largest total excess coherence, if significant, with
    /// its edges then placed to a quarter of a cell.
    pub(super) fn detect_band(&self, lag: isize) -> Option<Band> {
        let len = self.len;
        let fine_cells = FINE_PER_CELL * self.cells;
        let fine_range = |j: usize| (j * len / fine_cells, (j + 1) * len / fine_cells);
        // Per fine cell, the cross-spectrum's sum lined up on the integer lag (C(k) goes as
        // exp(-j 2 pi f_k d), so multiplying by exp(+j 2 pi f_k lag) leaves a phase that varies
        // by under pi / cells across a cell), and its incoherent power sum.
        let mut sums = [Complex64::new(0.0, 0.0); FINE_PER_CELL * MAX_CELLS];
        let mut powers = [0.0; FINE_PER_CELL * MAX_CELLS];
        let step = cis(TAU * lag as f64 / len as f64);
        let half = (len / 2) as f64;
        for j in 0..fine_cells {
            let (lo, hi) = fine_range(j);
            let mut phasor = cis(TAU * lag as f64 * (lo as f64 - half) / len as f64);
            for o in lo..hi {
                let c = widen(self.cross[self.bin(o)]);
                sums[j] += c * phasor;
                powers[j] += c.norm_sqr();
                phasor *= step;
            }
        }
        // Coherent over incoherent power, minus 1: mean 0 and standard deviation about 1 for a
        // cell of noise, about (bins - 1) gamma^2 for a cell of signal with coherence gamma^2.
        let excess = |sum: Complex64, power: f64| {
            if power > 0.0 {
                sum.norm_sqr() / power - 1.0
            } else {
                0.0
            }
        };
        let mut coarse = [0.0; MAX_CELLS];
        for (cell, z) in coarse.iter_mut().enumerate().take(self.cells) {
            let parts = cell * FINE_PER_CELL..(cell + 1) * FINE_PER_CELL;
            *z = excess(sums[parts.clone()].iter().sum(), powers[parts].iter().sum());
        }
        let coarse = &coarse[..self.cells];
        let (first, end) = max_sum_run(coarse, BAND_CELL_CHARGE);
        let cells = end - first;
        let score: f64 = coarse[first..end].iter().sum();
        if cells == 0 || score < BAND_MIN_SCORE.max(BAND_SCORE_SIGMAS * (cells as f64).sqrt()) {
            return None;
        }
        // Again with the charge raised to half the band's typical excess (see below): a strong
        // signal's band then does not wander through noise cells that happen to look coherent.
        let charge = (0.5 * median(coarse[first..end].iter().copied())).max(BAND_CELL_CHARGE);
        let (first, end) = match max_sum_run(coarse, charge) {
            (a, b) if b > a => (a, b),
            _ => (first, end),
        };

        // Edges to a quarter cell, each within a cell of where the coarse search put it. A fine
        // cell is worth including when its excess coherence exceeds half the band's typical
        // one: adding noise n and information d improves n / d^2 when d / n beats half the
        // band's ratio.
        let mut fine = [0.0; FINE_PER_CELL * MAX_CELLS];
        for (j, z) in fine.iter_mut().enumerate().take(fine_cells) {
            *z = excess(sums[j], powers[j]);
        }
        let (lo_fine, hi_fine) = (first * FINE_PER_CELL, end * FINE_PER_CELL);
        let charge = (0.5 * median(fine[lo_fine..hi_fine].iter().copied()))
            .max(BAND_CELL_CHARGE / FINE_PER_CELL as f64);
        let gain = |j: usize| fine[j] - charge;
        // Left edge: the start s in [lo - 4, lo + 4] maximising the sum of gains from s to lo + 4.
        let left_min = lo_fine.saturating_sub(FINE_PER_CELL);
        let left_max = (lo_fine + FINE_PER_CELL).min(hi_fine - 1);
        let left = (left_min..=left_max)
            .max_by(|&a, &b| {
                let sa: f64 = (a..left_max).map(gain).sum();
                let sb: f64 = (b..left_max).map(gain).sum();
                sa.total_cmp(&sb)
            })
            .unwrap_or(lo_fine);
        let right_min = (hi_fine - FINE_PER_CELL).max(left + 1);
        let right_max = (hi_fine + FINE_PER_CELL).min(fine_cells);
        let right = (right_min..=right_max)
            .max_by(|&a, &b| {
                let sa: f64 = (right_min..a).map(gain).sum();
                let sb: f64 = (right_min..b).map(gain).sum();
                sa.total_cmp(&sb)
            })
            .unwrap_or(hi_fine);
        Some(Band {
            lo: fine_range(left).0,
            hi: fine_range(right - 1).1,
        })
    }
}

/// The contiguous run [first, end) of `values` with the largest sum of value - `charge`
/// (Kadane's algorithm); empty if all are below the charge.
pub(super) fn max_sum_run(values: &[f64], charge: f64) -> (usize, usize) {
    let (mut best, mut best_range) = (0.0, (0, 0));
    let (mut run, mut run_start) = (0.0, 0);
    for (i, &v) in values.iter().enumerate() {
        if run <= 0.0 {
            run = 0.0;
            run_start = i;
        }
        run += v - charge;
        if run > best {
            best = run;
            best_range = (run_start, i + 1);
        }
    }
    best_range
}

/// The median of at most `FINE_PER_CELL * MAX_CELLS` values (0 for none), without allocating.
pub(super) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut buffer = [0.0; FINE_PER_CELL * MAX_CELLS];
    let mut count = 0;
    for v in values.take(buffer.len()) {
        buffer[count] = v;
        count += 1;
    }
    let sorted = &mut buffer[..count];
    sorted.sort_unstable_by(f64::total_cmp);
    match count {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}
