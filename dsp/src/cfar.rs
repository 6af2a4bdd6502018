//! CFAR threshold from the statistics of the averaged periodogram.
//!
//! In a bin holding only complex Gaussian noise of mean power `m`, one periodogram is `m` times
//! an Exp(1) variable; the average of K independent frames ([`crate::spectrum::Welch`]) is `m`
//! times a Gamma(shape K, scale 1/K) variable `X` (mean 1, a chi-square with 2K degrees of
//! freedom over 2K). A bin is declared occupied when its power exceeds `T * m`, with `T` the
//! upper quantile of `X` at the per-bin false-alarm probability: `P(X > T) = Pfa`.
//!
//! For integer K the tail has a closed form, a Poisson sum:
//! `P(X > x) = exp(-Kx) sum_{i<K} (Kx)^i / i!`, which is inverted by bisection once, at
//! construction.
//!
//! The threshold depends only on K and Pfa, not on the window or the FFT size: windowing is
//! linear, so every bin of a windowed frame of Gaussian noise is still complex Gaussian and its
//! power still exponential, whatever the window does to the bins' correlation.
//!
//! # Window: ENBW and coherent gain
//! [`crate::spectrum::Welch`] divides the window by its sum, folding the coherent gain into the
//! scaling, so a tone of amplitude A on a bin centre reads A^2 with every window, and white
//! noise of variance s^2 reads `s^2 ENBW / N` per bin (ENBW in bins: rectangular 1.0, Hann 1.5,
//! Blackman-Harris 2.0, flat-top 3.8). Consequences, all handled where they arise:
//!
//! - The CFAR test is a ratio of a bin to the local noise estimate of the same spectrum, so the
//!   ENBW cancels out of it: no window-dependent correction of `T`.
//! - A tone's per-bin SNR is `A^2 / (s^2 ENBW / N)`: a wider ENBW costs a tone SNR. A noise-like
//!   signal's per-bin SNR is its density over the noise's, the same for every window (both are
//!   scaled by the ENBW). The detection tests state which one they use.
//! - A detection's power is the sum of its bins' excess over the floor divided by the ENBW in
//!   bins, right for tones and for wide signals alike ([`crate::detect`]); its SNR for a
//!   tone-sized run is that power over the noise per bin, which is free of the scalloping loss
//!   an off-centre tone's peak bin suffers (0.83 dB at half a bin with Blackman-Harris).
//! - The window correlates neighbouring bins. The per-bin false-alarm rate is unaffected, but
//!   exceedances come in clusters, and the noise estimator's block means of 16 bins hold fewer
//!   independent looks than 16 K: [`crate::noise`] computes their effective number from the
//!   window's shape for its censoring cutoff and median.
//!
//! # Noise-estimate error
//! `T` assumes the mean `m` is known. The detector only has an estimate `m (1 + e)` (see
//! [`crate::noise`]), so the real false-alarm rate is the average of `P(X > T (1 + e))` over the
//! estimate's error. Near the threshold `ln P(X > x)` falls with slope `-(K - (K - 1)/x)`, so a
//! relative error `e` of standard deviation `s` multiplies the rate by about
//! `exp((T (K - (K - 1)/T) s)^2 / 2)` and a bias `b` by `exp(-T (K - (K - 1)/T) b)`. With K = 1
//! and Pfa = 1e-3 (T = 6.9), `s` = 5.7 % costs a factor 1.08 and a 5 % low bias a factor 1.4;
//! at Pfa = 1e-5 (T = 11.5) the same `s` costs 1.24. Larger K makes the tail steeper, so the
//! same errors cost more per unit of error, but the estimate, pooling K times more looks, is
//! proportionally tighter (K = 64, Pfa 1e-5: T = 1.64, slope factor 40, `s` = 0.7 %: 1.04).
//! The noise estimator is therefore built to be unbiased in clean noise (under 0.3 % measured)
//! and to pool about 320 bins (5.7 % rms error at K = 1, 2.0 % at K = 8 with independent bins).
//! A second, opposite effect: the bin under test sits in its own reference and lifts the floor
//! under a noise peak a little, lowering the rate.
//!
//! Measured ([`crate::detect`]'s tests), on independent Gamma bins (2.6 Mi bins per case):
//! at Pfa 1e-3, 0.97 / 0.98 / 1.00 times the target for K = 1 / 8 / 64; at Pfa 1e-5, 1.30 /
//! 0.92 / 0.99 times. Through Welch at Pfa 1e-3 (N = 4096, 2 Mi bins): 1.05 (K = 1) and 1.00
//! (K = 8) with Blackman-Harris, 1.06 and 0.98 with Hann.

/// P(Poisson(lambda) <= m), summed in the log domain so that neither `exp(-lambda)` nor
/// `lambda^i / i!` overflows or underflows for large K.
fn poisson_cdf(m: usize, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    let ln_lambda = lambda.ln();
    let mut ln_term = -lambda;
    let mut sum = ln_term.exp();
    for i in 1..=m {
        ln_term += ln_lambda - (i as f64).ln();
        sum += ln_term.exp();
    }
    sum.min(1.0)
}

/// `P(X > x)` for `X ~ Gamma(shape averages, scale 1 / averages)`: the probability that a noise
/// bin averaged over `averages` frames reads more than `x` times its mean.
///
/// # Panics
/// If `averages` is 0.
pub fn gamma_sf(averages: usize, x: f64) -> f64 {
    assert!(averages > 0, "averages must be at least 1");
    if x <= 0.0 {
        return 1.0;
    }
    poisson_cdf(averages - 1, averages as f64 * x)
}

/// `P(X <= x)`, the complement of [`gamma_sf`]. Absolute accuracy about 1e-16, so it is not
/// meant for tiny lower tails.
///
/// # Panics
/// If `averages` is 0.
pub fn gamma_cdf(averages: usize, x: f64) -> f64 {
    1.0 - gamma_sf(averages, x)
}

/// The `x` with `P(X > x) = q` (inverse survival function), by bisection.
///
/// # Panics
/// If `averages` is 0 or `q` is not in (0, 1).
pub fn gamma_isf(averages: usize, q: f64) -> f64 {
    assert!(q > 0.0 && q < 1.0, "tail probability must be in (0, 1), got {q}");
    let mut hi = 1.0;
    while gamma_sf(averages, hi) > q {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    // 200 halvings reach the f64 resolution of any bracket; the loop usually ends far earlier.
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if gamma_sf(averages, mid) > q {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-14 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The `x` with `P(X <= x) = p` (quantile function).
///
/// # Panics
/// If `averages` is 0 or `p` is not in (0, 1).
pub fn gamma_ppf(averages: usize, p: f64) -> f64 {
    gamma_isf(averages, 1.0 - p)
}

/// `E[X | X < c]`: the mean of the noise bins that fall below `c` times the mean. The noise
/// estimator uses it to undo the bias of discarding everything above a cutoff.
///
/// `x` times the Gamma(K, 1/K) density is the Gamma(K + 1, 1/K) density, so `E[X; X < c]` is
/// the regularized lower incomplete gamma `P(K + 1, K c)`, another Poisson sum.
///
/// # Panics
/// If `averages` is 0 or `c` is not positive.
pub fn gamma_truncated_mean(averages: usize, c: f64) -> f64 {
    assert!(averages > 0, "averages must be at least 1");
    assert!(c > 0.0, "cutoff must be positive");
    let lambda = averages as f64 * c;
    (1.0 - poisson_cdf(averages, lambda)) / (1.0 - poisson_cdf(averages - 1, lambda))
}

/// The per-bin detection threshold for K-averaged spectra at a chosen false-alarm probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    averages: usize,
    pfa: f64,
    factor: f64,
}

impl Threshold {
    /// Solves `P(X > T) = pfa` for spectra averaged over `averages` frames.
    ///
    /// # Panics
    /// If `averages` is 0 or `pfa` is not in (0, 1).
    pub fn new(averages: usize, pfa: f64) -> Self {
        assert!(averages > 0, "averages must be at least 1");
        assert!(pfa > 0.0 && pfa < 1.0, "pfa must be in (0, 1), got {pfa}");
        Self {
            averages,
            pfa,
            factor: gamma_isf(averages, pfa),
        }
    }

    /// `T`: a bin is occupied when its power exceeds `T` times the noise mean at that bin.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// `T` in dB.
    pub fn factor_db(&self) -> f64 {
        crate::db(self.factor)
    }

    /// The per-bin false-alarm probability this threshold was built for.
    pub fn pfa(&self) -> f64 {
        self.pfa
    }

    /// The number of averaged frames K.
    pub fn averages(&self) -> usize {
        self.averages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::Gamma;

    /// K = 1 is the exponential law: T = -ln(Pfa) exactly (to 1e-10 relative); the reference
    /// note quotes 13.8 (11.4 dB) at Pfa 1e-6.
    #[test]
    fn exponential_threshold_is_minus_log_pfa() {
        for pfa in [1e-2, 1e-3, 1e-6, 1e-9] {
            let t = Threshold::new(1, pfa).factor();
            assert!((t / -f64::ln(pfa) - 1.0).abs() < 1e-10, "pfa {pfa}: {t}");
        }
        assert!((Threshold::new(1, 1e-6).factor_db() - 11.40).abs() < 0.01);
    }

    /// Against `gamma.isf(q, K, scale=1/K)` evaluated to 40 digits with mpmath (bisection on
    /// the regularized upper incomplete gamma): within 1e-9 relative.
    #[test]
    fn gamma_isf_matches_reference_values() {
        let cases = [
            (8, 1e-3, 2.453_272_174_423),
            (8, 1e-6, 3.645_274_375_899_3),
            (4, 1e-6, 5.337_614_240_818),
            (64, 1e-6, 1.710_206_063_151_8),
            // Large K must neither overflow nor underflow in the Poisson sum.
            (4096, 1e-6, 1.076_037_396_943_7),
        ];
        for (k, q, want) in cases {
            let got = gamma_isf(k, q);
            assert!((got / want - 1.0).abs() < 1e-9, "K={k} q={q}: {got} vs {want}");
        }
    }

    /// Monte Carlo check of the truncated mean and of the tail, 1e6 seeded Gamma draws:
    /// truncated mean within 0.3 % (standard error ~0.1 %), tail at 1e-2 within 10 %.
    #[test]
    fn truncated_mean_and_tail_match_monte_carlo() {
        let mut rng = SmallRng::seed_from_u64(7);
        for k in [1usize, 3, 8] {
            let law = Gamma::new(k as f64, 1.0 / k as f64).unwrap();
            let draws: Vec<f64> = (0..1_000_000).map(|_| rng.sample(law)).collect();
            let c = gamma_isf(k, 0.05);
            let below: Vec<f64> = draws.iter().copied().filter(|&x| x < c).collect();
            let mean = below.iter().sum::<f64>() / below.len() as f64;
            let want = gamma_truncated_mean(k, c);
            assert!((mean / want - 1.0).abs() < 3e-3, "K={k}: {mean} vs {want}");
            let t = gamma_isf(k, 1e-2);
            let rate = draws.iter().filter(|&&x| x > t).count() as f64 / draws.len() as f64;
            assert!((rate / 1e-2 - 1.0).abs() < 0.1, "K={k}: {rate}");
        }
    }
}
