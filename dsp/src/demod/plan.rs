//! The choice of decimation stages from the receiver's rate down to the channel rate.
//!
//! The channel (|f| <= `pass`, the channel filter's stop edge) must come out clean; what lies
//! beyond it may alias anywhere else, because the channel filter removes it afterwards. So a
//! stage from rate r down by M needs a low-pass flat to `pass` and stopping from r / M - pass,
//! and its cost is Kaiser's length for that transition times the output rate. The first
//! stage runs at the full input rate, where a wide transition (a large r / M) keeps the
//! filter short; later stages run slower and can afford steep ones. The cheapest sequence
//! of factors is found by dynamic programming over the total factor d (rates `input / d`,
//! d up to input / channel), followed by a fractional resampler to the exact channel rate
//! unless a whole factor reaches it.

use super::design::kaiser_len;
use super::fractional;

/// Relative difference below which two rates count as equal (no fractional resampler).
const SAME_RATE: f64 = 1e-9;
/// Cost of a stage per input sample besides its taps, in multiply-adds: copying into its
/// history and the loop overhead. Keeps the plan from adding stages that save next to nothing.
const STAGE_OVERHEAD: f64 = 2.0;

/// The decimation factors, in order, and whether a fractional resampler follows them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    /// Integer decimation factors, first stage first.
    pub factors: Vec<usize>,
    /// The rate after the integer stages, Hz.
    pub mid_rate: f64,
    /// Whether `mid_rate` differs from the channel rate, so a fractional resampler is needed.
    pub resample: bool,
}

/// Taps of a stage decimating by `factor` from `rate`, or `None` if `pass` leaves it no
/// transition band.
pub(super) fn stage_taps(rate: f64, factor: usize, pass: f64, attenuation_db: f64) -> Option<usize> {
    let transition = rate / factor as f64 - 2.0 * pass;
    (transition > 0.0).then(|| kaiser_len(attenuation_db, transition / rate) | 1)
}

/// The cheapest plan from `input_rate` to `channel_rate` keeping |f| <= `pass` (Hz).
///
/// # Panics
/// If `pass` is not below half the channel rate.
pub(super) fn plan(input_rate: f64, channel_rate: f64, pass: f64, attenuation_db: f64) -> Plan {
    assert!(
        pass < channel_rate / 2.0,
        "pass {pass} Hz does not fit channel rate {channel_rate}"
    );
    let max_total = ((input_rate / channel_rate) * (1.0 + SAME_RATE)).floor().max(1.0) as usize;
    let resampler_cost = |rate: f64| {
        if (rate / channel_rate - 1.0).abs() < SAME_RATE {
            0.0
        } else {
            let taps = fractional::taps_for(rate, channel_rate, pass, attenuation_db);
            // Two dot products per output (neighbouring phases), plus the copy.
            2.0 * taps as f64 * channel_rate + STAGE_OVERHEAD * rate
        }
    };
    // best[d]: the least cost (multiply-adds per second) from rate input / d to the channel
    // rate, and the factor taken first from there (0: straight to the resampler).
    let mut best = vec![(f64::INFINITY, 0usize); max_total + 1];
    for d in (1..=max_total).rev() {
        let rate = input_rate / d as f64;
        let mut choice = (resampler_cost(rate), 0);
        for factor in 2..=max_total / d {
            let Some(taps) = stage_taps(rate, factor, pass, attenuation_db) else {
                // Larger factors leave even less transition band.
                break;
            };
            let cost = taps as f64 * rate / factor as f64 + STAGE_OVERHEAD * rate + best[d * factor].0;
            if cost < choice.0 {
                choice = (cost, factor);
            }
        }
        best[d] = choice;
    }
    let mut factors = Vec::new();
    let mut d = 1;
    while best[d].1 != 0 {
        factors.push(best[d].1);
        d *= best[d].1;
    }
    let mid_rate = input_rate / d as f64;
    Plan {
        factors,
        mid_rate,
        resample: (mid_rate / channel_rate - 1.0).abs() >= SAME_RATE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole ratios need no resampler; the first stage takes a large factor; other ratios end
    /// within a factor 2 above the channel rate; rates below the channel rate resample up.
    #[test]
    fn plans_fit_the_rates() {
        let p = plan(2.4e6, 24e3, 6_300.0, 80.0);
        assert_eq!(p.factors.iter().product::<usize>(), 100, "{p:?}");
        assert!(!p.resample && p.factors[0] >= 10, "{p:?}");

        let p = plan(2.048e6, 24e3, 6_300.0, 80.0);
        assert!(p.resample && p.mid_rate >= 24e3 && p.mid_rate < 48e3, "{p:?}");

        let p = plan(2.4e6, 240e3, 105e3, 80.0);
        assert_eq!(p.factors.iter().product::<usize>(), 10, "{p:?}");

        let p = plan(12e3, 24e3, 6_300.0, 80.0);
        assert!(p.factors.is_empty() && p.resample, "{p:?}");

        let p = plan(12e3, 12e3, 5_000.0, 80.0);
        assert!(p.factors.is_empty() && !p.resample, "{p:?}");

        // A prime ratio (97) is approached by a nearby composite.
        let p = plan(97.0 * 12e3, 12e3, 1_400.0, 80.0);
        assert!(p.resample && p.mid_rate < 24e3, "{p:?}");
    }
}
