//! Automatic gain control: a peak follower of the channel's amplitude with a fast attack and a
//! slow decay, and the gain that brings that peak to [`AGC_TARGET`].
//!
//! The fast attack catches the first syllable or keying edge within a few milliseconds, so a
//! strong signal is loud (clipped at full scale, see the demodulator) only that long; the slow
//! decay keeps the gain from pumping up the noise in the pauses between words. The gain is
//! capped at [`AGC_MAX_GAIN_DB`] so that an empty channel plays as quiet hiss, not as full-scale
//! noise.

/// Attack time constant, seconds: the envelope reaches 63 % of a step up in this time.
pub const AGC_ATTACK_S: f32 = 0.002;
/// Decay time constant, seconds: after a signal stops the gain rises by 8.7 dB in this time
/// (about 17 dB/s), slow enough not to fill pauses in speech with noise.
pub const AGC_DECAY_S: f32 = 0.5;
/// Output peak level the AGC aims for: -6 dBFS leaves room for the overshoot of an attack
/// before the final clip at full scale.
pub const AGC_TARGET: f32 = 0.5;
/// Largest gain, dB: a channel at -80 dBFS (noise in a few kHz of an 8-bit receiver) comes out
/// at about -6 dBFS, anything weaker quieter.
pub const AGC_MAX_GAIN_DB: f32 = 80.0;

/// The envelope follower and its gain.
#[derive(Debug, Clone)]
pub(super) struct Agc {
    envelope: f32,
    attack: f32,
    decay: f32,
    /// The envelope below which the gain stops rising.
    floor: f32,
}

impl Agc {
    /// A follower for samples at `rate` Hz, starting from silence (full gain).
    pub(super) fn new(rate: f64) -> Self {
        Self {
            envelope: 0.0,
            attack: one_pole(AGC_ATTACK_S, rate),
            decay: one_pole(AGC_DECAY_S, rate),
            floor: AGC_TARGET * 10f32.powf(-AGC_MAX_GAIN_DB / 20.0),
        }
    }

    /// Follows one sample of amplitude `amplitude` and returns the gain for it.
    #[inline]
    pub(super) fn gain(&mut self, amplitude: f32) -> f32 {
        let coef = if amplitude > self.envelope {
            self.attack
        } else {
            self.decay
        };
        self.envelope += coef * (amplitude - self.envelope);
        AGC_TARGET / self.envelope.max(self.floor)
    }
}

/// The coefficient of a one-pole smoother y += a (x - y) with time constant `tau_s` at `rate`.
pub(super) fn one_pole(tau_s: f32, rate: f64) -> f32 {
    (1.0 - (-1.0 / (f64::from(tau_s) * rate)).exp()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady amplitude settles at the target; a step up by 20 dB is followed within a few
    /// attack times, a step down recovers at the decay time constant.
    #[test]
    fn follows_steps_with_attack_and_decay() {
        let rate = 12_000.0;
        let mut agc = Agc::new(rate);
        let mut g = 0.0;
        for _ in 0..12_000 {
            g = agc.gain(0.01);
        }
        assert!((g * 0.01 - AGC_TARGET).abs() < 1e-3, "settled at {}", g * 0.01);
        // 5 attack time constants after a step to 0.1, the output is within 1 % of the target.
        for _ in 0..(5.0 * AGC_ATTACK_S * rate as f32) as usize {
            g = agc.gain(0.1);
        }
        assert!((g * 0.1 / AGC_TARGET - 1.0).abs() < 0.01, "{}", g * 0.1);
        // One decay time constant after a step back down to 0.01: envelope 0.01 + 0.09 / e.
        for _ in 0..(AGC_DECAY_S * rate as f32) as usize {
            g = agc.gain(0.01);
        }
        let want = 0.01 + 0.09 * (-1.0f32).exp();
        assert!(
            (AGC_TARGET / g / want - 1.0).abs() < 0.01,
            "{} vs {want}",
            AGC_TARGET / g
        );
        // Silence: the gain stops at the cap.
        for _ in 0..(20.0 * AGC_DECAY_S * rate as f32) as usize {
            g = agc.gain(0.0);
        }
        assert!((20.0 * g.log10() - AGC_MAX_GAIN_DB).abs() < 0.1, "{g}");
    }
}
