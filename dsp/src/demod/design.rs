//! Low-pass FIR design by the Kaiser window method, and Kaiser's estimates of the length a
//! given transition band and stopband attenuation need.
//!
//! A Kaiser-windowed sinc has equal passband and stopband ripple delta, A = -20 log10(delta);
//! its transition band is centred on the sinc's cut-off, so a filter that must be flat to
//! `pass` and reject from `stop` gets its cut-off at (pass + stop) / 2 (the -6 dB point).
//! Kaiser (1974): beta and the length follow from A and the transition width alone. His
//! formulas are approximate (up to 3.3 dB short here), so every design aims [`MARGIN_DB`]
//! higher; the tests check designed filters against both edges.

use std::f64::consts::PI;

/// Kaiser's window shape parameter for a stopband attenuation of `attenuation_db` (designed
/// for [`MARGIN_DB`] more).
pub(super) fn kaiser_beta(attenuation_db: f64) -> f64 {
    let attenuation_db = attenuation_db + MARGIN_DB;
    if attenuation_db > 50.0 {
        0.1102 * (attenuation_db - 8.7)
    } else if attenuation_db >= 21.0 {
        0.5842 * (attenuation_db - 21.0).powf(0.4) + 0.07886 * (attenuation_db - 21.0)
    } else {
        0.0
    }
}

/// Kaiser's formulas fall up to 3.3 dB short of the attenuation asked for (measured in the
/// tests, with the DC gain normalised to 1), so [`kaiser_beta`] and [`kaiser_len`] design for
/// this much more.
const MARGIN_DB: f64 = 3.5;

/// The taps needed for `attenuation_db` with a transition band `transition` wide (cycles per
/// sample, in (0, 0.5]): Kaiser's estimate, for [`MARGIN_DB`] more.
///
/// # Panics
/// If `transition` is not positive.
pub(super) fn kaiser_len(attenuation_db: f64, transition: f64) -> usize {
    assert!(transition > 0.0, "transition width {transition} is not positive");
    let taps = (attenuation_db + MARGIN_DB - 7.95) / (2.285 * 2.0 * PI * transition);
    taps.ceil().max(1.0) as usize + 1
}

/// The Kaiser window of shape `beta` at `x` in [-1, 1] (1 at the centre, 0 outside).
pub(super) fn kaiser(x: f64, beta: f64) -> f64 {
    if x.abs() > 1.0 {
        return 0.0;
    }
    bessel_i0(beta * (1.0 - x * x).sqrt()) / bessel_i0(beta)
}

/// The windowed-sinc low-pass kernel with cut-off `cutoff` (cycles per sample), evaluated at `t`
/// samples from its centre for a window reaching `half_span` samples either side.
pub(super) fn sinc_kernel(t: f64, cutoff: f64, half_span: f64, beta: f64) -> f64 {
    let x = 2.0 * cutoff * t;
    let sinc = if x.abs() < 1e-12 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    };
    2.0 * cutoff * sinc * kaiser(t / half_span, beta)
}

/// A linear-phase low-pass FIR flat to `pass` and at least `attenuation_db` down from `stop`
/// (both in cycles per sample, `0 <= pass < stop`), scaled to unit gain at DC. Odd length, so
/// that its group delay is a whole number of samples. Allocates; meant for constructors.
///
/// # Panics
/// If `stop <= pass`.
pub(super) fn lowpass(pass: f64, stop: f64, attenuation_db: f64) -> Vec<f64> {
    assert!(stop > pass, "stop edge {stop} is not above pass edge {pass}");
    let len = kaiser_len(attenuation_db, stop - pass) | 1;
    let beta = kaiser_beta(attenuation_db);
    let centre = (len - 1) as f64 / 2.0;
    let cutoff = (pass + stop) / 2.0;
    // The window reaches its edge (1 / I0(beta), not zero) at the outermost taps.
    let half_span = centre;
    let mut taps: Vec<f64> = (0..len)
        .map(|k| sinc_kernel(k as f64 - centre, cutoff, half_span, beta))
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.iter_mut().for_each(|t| *t /= sum);
    taps
}

/// The modified Bessel function of the first kind, order 0, by its power series (converges
/// fast for the arguments used here, below 15).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0, 1.0);
    let quarter = x * x / 4.0;
    for k in 1..100 {
        term *= quarter / (k * k) as f64;
        sum += term;
        if term < 1e-17 * sum {
            break;
        }
    }
    sum
}

/// |H(f)| of real taps at `f` cycles per sample, by the direct sum (for tests and planning).
#[cfg(test)]
pub(super) fn gain(taps: &[f64], f: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (k, t) in taps.iter().enumerate() {
        let phase = -2.0 * PI * f * k as f64;
        re += t * phase.cos();
        im += t * phase.sin();
    }
    (re * re + im * im).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_i0_matches_known_values() {
        // I0(1) = 1.2660658777520082, I0(8) = 427.56411572180474 (Abramowitz & Stegun).
        assert_eq!(bessel_i0(0.0), 1.0);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_2).abs() < 1e-14);
        assert!((bessel_i0(8.0) / 427.564_115_721_804_74 - 1.0).abs() < 1e-13);
    }

    /// The designed filter meets its specification: within 10^(-A/20) of 1 up to the pass edge
    /// and of 0 beyond the stop edge, checked on a fine grid by the direct sum.
    #[test]
    fn lowpass_meets_its_edges() {
        for (pass, stop, a) in [
            (0.05, 0.1, 80.0),
            (0.2, 0.3, 60.0),
            (0.01, 0.015, 70.0),
            (0.4, 0.45, 80.0),
        ] {
            let taps = lowpass(pass, stop, a);
            let delta = 10f64.powf(-a / 20.0);
            let (mut worst_pass, mut worst_stop) = (0.0f64, 0.0f64);
            for i in 0..=2000 {
                let f = 0.5 * i as f64 / 2000.0;
                let g = gain(&taps, f);
                if f <= pass {
                    worst_pass = worst_pass.max((g - 1.0).abs());
                } else if f >= stop {
                    worst_stop = worst_stop.max(g);
                }
            }
            eprintln!(
                "{pass} {stop} {a}: pass {:.1} dB stop {:.1} dB",
                20.0 * worst_pass.log10(),
                20.0 * worst_stop.log10()
            );
            assert!(worst_pass < delta && worst_stop < delta, "{pass} {stop} {a}");
            assert!(
                (gain(&taps, (pass + stop) / 2.0) - 0.5).abs() < 0.01,
                "-6 dB at the cut-off"
            );
        }
    }
}
