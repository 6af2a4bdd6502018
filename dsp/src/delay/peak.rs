//! The correlation peak: the band-limited correlation and its derivatives, the Newton
//! refinement of its maximum, and the sums behind the variance.

use super::band::median;
use super::{
    Band, DelayEstimator, LINE_NEIGHBOURS, LINE_RATIO, MAX_CELLS, MAX_SNR, MIN_NOISE_CELLS, MODEL_GROUPS,
    NEWTON_MAX_ITERATIONS, NEWTON_TOLERANCE,
};
use crate::Complex32;
use num_complex::Complex64;
use std::f64::consts::TAU;

impl DelayEstimator {
    /// r(tau) = sum over the band of C(k) exp(j w_k tau) and its first two derivatives, with
    /// w_k = 2 pi (o - centre) / len (the band's centre frequency only rotates r, so |r| and
    /// its extremum do not depend on it).
    pub(super) fn correlation_at(&self, band: Band, tau: f64) -> [Complex64; 3] {
        let len = self.len as f64;
        let centre = band.centre();
        let step = cis(TAU * tau / len);
        let mut phasor = cis(TAU * tau * (band.lo as f64 - centre) / len);
        let mut w = TAU * (band.lo as f64 - centre) / len;
        let dw = TAU / len;
        let (mut r0, mut r1, mut r2) = (
            Complex64::new(0.0, 0.0),
            Complex64::new(0.0, 0.0),
            Complex64::new(0.0, 0.0),
        );
        for o in band.lo..band.hi {
            let term = widen(self.cross[self.bin(o)]) * phasor;
            r0 += term;
            r1 += term * w;
            r2 += term * (w * w);
            phasor *= step;
            w += dw;
        }
        let j = Complex64::new(0.0, 1.0);
        [r0, j * r1, -r2]
    }

    /// d|r|^2/dtau and d2|r|^2/dtau2 at `tau`.
    pub(super) fn slope_and_curvature(&self, band: Band, tau: f64) -> (f64, f64) {
        let [r, r1, r2] = self.correlation_at(band, tau);
        let slope = 2.0 * (r.conj() * r1).re;
        let curvature = 2.0 * (r1.norm_sqr() + (r.conj() * r2).re);
        (slope, curvature)
    }

    /// The maximum of |r(tau)| within a sample of `lag`, by Newton's method safeguarded by
    /// bisection on the sign of the slope. `None` if the slope does not change sign there (no
    /// single peak).
    pub(super) fn refine(&self, band: Band, lag: isize) -> Option<f64> {
        // The peak lies on the side of `lag` towards which |r| rises, within a sample. (Not
        // lag +- 1: for a wideband signal lag + 1 can already be past the main lobe's null.)
        let centre = lag as f64;
        let (mut lo, mut hi) = match self.slope_and_curvature(band, centre).0 {
            s if s > 0.0 => (centre, self.falling_end(band, centre, 1.0)?),
            s if s < 0.0 => (self.falling_end(band, centre, -1.0)?, centre),
            _ => return Some(centre),
        };
        // Start from the parabola through the three samples of |r| around the peak.
        let len = self.len as isize;
        let magnitude = |m: isize| self.correlation[m.rem_euclid(len) as usize].norm() as f64;
        let (y0, y1, y2) = (magnitude(lag - 1), magnitude(lag), magnitude(lag + 1));
        let denominator = y0 - 2.0 * y1 + y2;
        let offset = if denominator < 0.0 {
            (0.5 * (y0 - y2) / denominator).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let mut tau = (lag as f64 + offset).clamp(lo, hi);
        for _ in 0..NEWTON_MAX_ITERATIONS {
            let (slope, curvature) = self.slope_and_curvature(band, tau);
            if slope > 0.0 {
                lo = tau;
            } else {
                hi = tau;
            }
            let newton = tau - slope / curvature;
            let next = if curvature < 0.0 && newton > lo && newton < hi {
                newton
            } else {
                0.5 * (lo + hi)
            };
            let step = (next - tau).abs();
            tau = next;
            if step < NEWTON_TOLERANCE || hi - lo < NEWTON_TOLERANCE {
                break;
            }
        }
        tau.is_finite().then_some(tau)
    }

    /// The point `centre` + `direction` (or half-way there) at which |r|^2 falls away from
    /// `centre`'s side, i.e. where its slope has the sign of -`direction`.
    pub(super) fn falling_end(&self, band: Band, centre: f64, direction: f64) -> Option<f64> {
        [1.0, 0.5]
            .into_iter()
            .map(|d| centre + direction * d)
            .find(|&end| {
                let slope = self.slope_and_curvature(band, end).0;
                slope * direction < 0.0
            })
    }

    /// The sums behind the variance and the correlation coefficient at the fitted delay `tau`
    /// (fractional part `fraction` relative to the integer lag the aligned reference has).
    pub(super) fn statistics(&self, band: Band, tau: f64, fraction: f64) -> Statistics {
        let len = self.len as f64;
        let centre = band.centre();
        let dw = TAU / len;
        let w0 = TAU * (band.lo as f64 - centre) / len;
        // Phase of r at the peak, to align the estimator's cross-spectrum.
        let theta = self.correlation_at(band, tau)[0].arg();
        let (step, mut phasor) = (cis(dw * tau), cis(w0 * tau - theta));
        let (step_f, mut phasor_f) = (cis(dw * fraction), cis(w0 * fraction));
        let mut s = Statistics::default();
        // Sums of w^p Re, and of w^p Im^2, Im Re, Re^2 of the aligned snippets' cross-spectrum.
        let mut re = [0.0; 3];
        let (mut im2, mut imre, mut re2) = ([0.0; 3], [0.0; 3], [0.0; 3]);
        let mut aligned_sum = Complex64::new(0.0, 0.0);
        let mut w = w0;
        for o in band.lo..band.hi {
            let k = self.bin(o);
            let (x_ref, x_other, x_aligned) = (
                widen(self.reference_spectrum[k]),
                widen(self.other_spectrum[k]),
                widen(self.aligned_spectrum[k]),
            );
            let powers = [1.0, w, w * w];
            let coherent = (widen(self.cross[k]) * phasor).re;
            let z = x_other * x_aligned.conj() * phasor_f;
            aligned_sum += z;
            for p in 0..3 {
                re[p] += powers[p] * coherent;
                im2[p] += powers[p] * z.im * z.im;
                imre[p] += powers[p] * z.im * z.re;
                re2[p] += powers[p] * z.re * z.re;
            }
            s.reference_energy += x_ref.norm_sqr();
            s.other_energy += x_other.norm_sqr();
            s.aligned_energy += x_aligned.norm_sqr();
            phasor *= step;
            phasor_f *= step_f;
            w += dw;
        }
        // Curvature of |r| at its peak: sum (w - w_mean)^2 Re C~ with the Re C~-weighted mean.
        let mean_w = if re[0] != 0.0 { re[1] / re[0] } else { 0.0 };
        s.coherent_sum = re[0];
        s.curvature_sum = re[2] - mean_w * re[1];
        // Im of the aligned cross-spectrum after removing its own phase theta_a:
        // Im(z e^-j theta_a) = Im z cos - Re z sin; then centred on mean_w and squared.
        let (sin, cos) = aligned_sum.arg().sin_cos();
        let residual = |p: usize| cos * cos * im2[p] - 2.0 * sin * cos * imre[p] + sin * sin * re2[p];
        s.residual_sum = (residual(2) - 2.0 * mean_w * residual(1) + mean_w * mean_w * residual(0)).max(0.0);
        s.aligned_peak = aligned_sum.norm();
        s.grouped_residual_sum =
            self.grouped_residual(band, tau, fraction, mean_w, (sin, cos), s.curvature_sum);
        s
    }

    /// The same phase residuals as [`Statistics::residual_sum`], but summed within
    /// [`MODEL_GROUPS`] runs of adjacent bins (each holding an equal share of the peak's
    /// curvature, i.e. of the delay's information) before squaring, times G / (G - 1) for the
    /// constraint the fit puts on them. With independent noise in every bin the two agree; a
    /// phase error that varies smoothly across the band (multipath, dispersion, receivers'
    /// different filters) adds up within each run and shows only here.
    fn grouped_residual(
        &self,
        band: Band,
        tau: f64,
        fraction: f64,
        mean_w: f64,
        (sin, cos): (f64, f64),
        curvature_sum: f64,
    ) -> f64 {
        if curvature_sum.is_nan() || curvature_sum <= 0.0 {
            return 0.0;
        }
        let len = self.len as f64;
        let centre = band.centre();
        let dw = TAU / len;
        let w0 = TAU * (band.lo as f64 - centre) / len;
        let theta = self.correlation_at(band, tau)[0].arg();
        let (step, mut phasor) = (cis(dw * tau), cis(w0 * tau - theta));
        let (step_f, mut phasor_f) = (cis(dw * fraction), cis(w0 * fraction));
        let mut groups = [0.0; MODEL_GROUPS];
        let (mut cumulative, mut w) = (0.0, w0);
        for o in band.lo..band.hi {
            let k = self.bin(o);
            let centred = w - mean_w;
            let coherent = (widen(self.cross[k]) * phasor).re;
            // The group by the share of the curvature up to this bin.
            cumulative += centred * centred * coherent;
            let group =
                ((cumulative / curvature_sum * MODEL_GROUPS as f64).max(0.0) as usize).min(MODEL_GROUPS - 1);
            let z = widen(self.other_spectrum[k]) * widen(self.aligned_spectrum[k]).conj() * phasor_f;
            groups[group] += centred * (z.im * cos - z.re * sin);
            phasor *= step;
            phasor_f *= step_f;
            w += dw;
        }
        let g = MODEL_GROUPS as f64;
        groups.iter().map(|x| x * x).sum::<f64>() * g / (g - 1.0)
    }

    /// How far the correlation's peak at `lag` stands above the lowest |r| within the lag
    /// window, in noise standard deviations of r, sqrt(E_ref E_other / bins) over the band.
    ///
    /// Spectral lines (bins [`LINE_RATIO`] times stronger than the median of their
    /// [`LINE_NEIGHBOURS`] neighbours: a carrier, the harmonics of a slow keying) are set aside
    /// first, from r and from the energies: a line adds the same to every lag of the window, so
    /// it can neither make a peak nor hide one, but a carrier holding nearly all the power would
    /// otherwise count as noise and bury the keyed band's peak.
    pub(super) fn prominence(&mut self, band: Band, lag: isize) -> f64 {
        let (len, max_lag) = (self.len, self.max_lag);
        let half = (len / 2) as f64;
        self.line_lags.fill(Complex64::new(0.0, 0.0));
        let (mut reference_energy, mut other_energy, mut bins) = (0.0, 0.0, 0usize);
        let mut neighbours = [0.0f64; 2 * LINE_NEIGHBOURS];
        for o in band.lo..band.hi {
            let k = self.bin(o);
            let c = self.cross[k];
            let magnitude = c.norm() as f64;
            let mut count = 0;
            for d in 2..=LINE_NEIGHBOURS + 1 {
                for n in [o.checked_sub(d), Some(o + d).filter(|&n| n < band.hi)] {
                    if let Some(n) = n.filter(|&n| n >= band.lo) {
                        neighbours[count] = self.cross[self.bin(n)].norm() as f64;
                        count += 1;
                    }
                }
            }
            let local = median(neighbours[..count].iter().copied());
            if count >= LINE_NEIGHBOURS && magnitude > LINE_RATIO * local {
                // A line: its share of r at each lag of the window.
                let f = (o as f64 - half) / len as f64;
                let step = cis(TAU * f);
                let mut phasor = cis(-TAU * f * max_lag as f64);
                for share in self.line_lags.iter_mut() {
                    *share += widen(c) * phasor;
                    phasor *= step;
                }
            } else {
                reference_energy += self.reference_spectrum[k].norm_sqr() as f64;
                other_energy += self.other_spectrum[k].norm_sqr() as f64;
                bins += 1;
            }
        }
        if bins == 0 {
            return 0.0;
        }
        let at = |m: isize| {
            let r = widen(self.correlation[m.rem_euclid(len as isize) as usize]);
            (r - self.line_lags[(m + max_lag as isize) as usize]).norm()
        };
        let window = -(max_lag as isize)..=max_lag as isize;
        let lowest = window.map(at).fold(f64::INFINITY, f64::min);
        let noise = (reference_energy * other_energy / bins as f64).sqrt();
        if noise > 0.0 {
            (at(lag) - lowest) / noise
        } else {
            0.0
        }
    }

    /// A snippet's in-band SNR from its noise floor: the median cell power outside the band.
    pub(super) fn snippet_snr(&self, band: Band, band_energy: f64, reference: bool) -> Option<f64> {
        let mut floor = [0.0; MAX_CELLS];
        let mut count = 0;
        for cell in 0..self.cells {
            let (lo, hi) = self.cell_range(cell);
            if hi <= band.lo || lo >= band.hi {
                floor[count] = if reference {
                    self.reference_cell_power[cell]
                } else {
                    (lo..hi)
                        .map(|o| self.other_spectrum[self.bin(o)].norm_sqr() as f64)
                        .sum::<f64>()
                        / (hi - lo) as f64
                };
                count += 1;
            }
        }
        if count < MIN_NOISE_CELLS {
            return None;
        }
        let median = median(floor[..count].iter().copied());
        let noise = median * band.bins() as f64;
        let snr = (band_energy - noise) / noise;
        (snr.is_finite() && snr > 0.0).then_some(snr.min(MAX_SNR))
    }
}

/// Sums over the band at the fitted delay.
#[derive(Debug, Default)]
pub(super) struct Statistics {
    /// sum Re C~ = |r| at the peak.
    pub(super) coherent_sum: f64,
    /// sum (w - w_mean)^2 Re C~ = -|r|'' at the peak.
    pub(super) curvature_sum: f64,
    /// sum (w - w_mean)^2 (Im of the aligned cross-spectrum)^2.
    pub(super) residual_sum: f64,
    /// The same summed within groups of adjacent bins before squaring (see
    /// `grouped_residual`).
    pub(super) grouped_residual_sum: f64,
    /// |sum| of the aligned cross-spectrum.
    pub(super) aligned_peak: f64,
    /// sum |X_ref|^2 (whole reference).
    pub(super) reference_energy: f64,
    /// sum |X_other|^2 (central part).
    pub(super) other_energy: f64,
    /// sum |X_aligned|^2 (the reference's shifted central part).
    pub(super) aligned_energy: f64,
}

/// The lag within +-`max_lag` of the largest |r|.
pub(super) fn peak_lag(correlation: &[Complex32], max_lag: usize) -> isize {
    let len = correlation.len() as isize;
    (-(max_lag as isize)..=max_lag as isize)
        .max_by(|&a, &b| {
            let (ra, rb) = (
                correlation[a.rem_euclid(len) as usize].norm_sqr(),
                correlation[b.rem_euclid(len) as usize].norm_sqr(),
            );
            ra.total_cmp(&rb)
        })
        .unwrap_or(0)
}

pub(super) fn cis(x: f64) -> Complex64 {
    let (s, c) = x.sin_cos();
    Complex64::new(c, s)
}

pub(super) fn widen(c: Complex32) -> Complex64 {
    Complex64::new(c.re as f64, c.im as f64)
}

pub(super) fn all_finite(samples: &[Complex32]) -> bool {
    samples.iter().all(|s| s.re.is_finite() && s.im.is_finite())
}
