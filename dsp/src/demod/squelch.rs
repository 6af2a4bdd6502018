//! The channel power meter and the squelch it drives.
//!
//! Power is the mean |z|^2 of the channel-filtered IQ (after the channel filter, so only the
//! passband counts), smoothed with a [`POWER_TIME_S`] time constant and read in dBFS: a
//! full-scale complex tone (|z| = 1) reads 0 dBFS, noise reads its density times the channel's
//! noise bandwidth. The same measure serves every mode, FM included: it needs no model of the
//! modulation and the number shown to the user is the number the squelch compares. The squelch
//! opens when the power rises above the level and closes when it falls [`HYSTERESIS_DB`] below
//! it, so a signal hovering at the level does not chatter.

use super::agc::one_pole;

/// Smoothing time constant of the power meter, seconds: over 20 ms a 2.4 kHz channel averages
/// about 50 independent samples, so noise alone wanders by under 1 dB, and a signal opens the
/// squelch within a syllable.
pub const POWER_TIME_S: f32 = 0.02;
/// The squelch closes this far below its opening level, dB.
pub const HYSTERESIS_DB: f32 = 3.0;

/// Power meter and squelch state.
#[derive(Debug, Clone)]
pub(super) struct Squelch {
    power: f32,
    coef: f32,
    /// Linear power thresholds (open above, close below); `None`: always open.
    levels: Option<(f32, f32)>,
    open: bool,
}

impl Squelch {
    /// A meter for samples at `rate`, with the squelch at `level_dbfs` (`None`: off). Starts
    /// closed, with the meter at zero.
    pub(super) fn new(rate: f64, level_dbfs: Option<f32>) -> Self {
        let linear = |db: f32| 10f32.powf(db / 10.0);
        Self {
            power: 0.0,
            coef: one_pole(POWER_TIME_S, rate),
            levels: level_dbfs.map(|db| (linear(db), linear(db - HYSTERESIS_DB))),
            open: level_dbfs.is_none(),
        }
    }

    /// Takes one sample's |z|^2; returns whether the squelch is open for it.
    #[inline]
    pub(super) fn update(&mut self, power: f32) -> bool {
        self.power += self.coef * (power - self.power);
        if let Some((open_above, close_below)) = self.levels {
            if self.power > open_above {
                self.open = true;
            } else if self.power < close_below {
                self.open = false;
            }
        }
        self.open
    }

    /// The smoothed channel power, dBFS (-300 for none at all).
    pub(super) fn power_dbfs(&self) -> f32 {
        crate::db(f64::from(self.power)) as f32
    }

    /// Whether the squelch is open (always, when it is off).
    pub(super) fn is_open(&self) -> bool {
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens above the level, stays open within the hysteresis, closes below it.
    #[test]
    fn opens_and_closes_with_hysteresis() {
        let mut squelch = Squelch::new(12_000.0, Some(-30.0));
        assert!(!squelch.is_open());
        let settle = |s: &mut Squelch, db: f32| {
            let mut open = false;
            for _ in 0..2_400 {
                open = s.update(10f32.powf(db / 10.0));
            }
            open
        };
        assert!(!settle(&mut squelch, -31.0));
        assert!(settle(&mut squelch, -29.0));
        assert!((squelch.power_dbfs() + 29.0).abs() < 0.01);
        assert!(settle(&mut squelch, -32.0), "within the hysteresis");
        assert!(!settle(&mut squelch, -34.0));
        assert!(
            settle(&mut Squelch::new(12_000.0, None), -200.0),
            "off means open"
        );
    }
}
