//! The per-mode detectors, at the channel rate: channel IQ in, audio (before the final audio
//! filter) out, gated by the squelch. Every detector is muted (outputs zeros, and its
//! averages ignore the input) while the chain's filters fill up from their zero history.
//!
//! - AM: the envelope |z| less its mean (the carrier, tracked over [`AM_CARRIER_S`]). With AGC
//!   the difference is divided by the carrier, so the output is the modulation m(t) itself
//!   (100 % modulation is full scale) whatever the signal level: the AGC of an AM receiver is
//!   its carrier level. Without AGC it is |z| - carrier, so a full-scale carrier modulated
//!   100 % is full scale. The carrier estimate starts as a plain running mean (over the first
//!   [`AM_CARRIER_S`] of signal after the start-up mute), so it is right from the first tenth
//!   of a second instead of creeping up over several time constants; it starts again whenever
//!   the squelch opens, for the same reason.
//!   Without a squelch, a carrier that appears out of noise is over-driven (clipped) until the
//!   estimate catches up, about 0.2 s for 20 dB.
//! - FM: the phase step `arg(z[n] conj(z[n-1]))` each sample is the instantaneous frequency
//!   (midway between the two samples: half a channel sample of delay); it is divided by the
//!   peak deviation, so the configured deviation is full scale. Then optional
//!   de-emphasis and a DC blocker at [`DC_BLOCK_HZ`] (a mistuned carrier gives a DC offset that
//!   would eat the headroom). The discriminator ignores amplitude, so AGC has no effect.
//! - SSB and CW: Re(z e^(j 2 pi s n / fs)), where the shift s puts the listened frequency at
//!   0 Hz (SSB) or at the BFO pitch (CW); the passband was already cut by the channel filter,
//!   so only the wanted sideband is left. With AGC the gain of [`super::agc`] is applied;
//!   without, a full-scale tone is full scale.

use super::agc::{one_pole, Agc};
use super::nco::Nco;
use super::squelch::Squelch;
use std::f32::consts::TAU;

/// Time constant of the AM carrier (DC) estimate, seconds: a high-pass at 1.6 Hz, far below
/// speech; the estimate ripples by 0.5 % of the modulation at 300 Hz (-46 dB) and 0.16 % at
/// 1 kHz (-56 dB), a faint distortion.
pub const AM_CARRIER_S: f32 = 0.1;
/// Corner of the DC blocker after the FM discriminator, Hz: removes the offset of a mistuned
/// carrier and keeps 0.999 of the level at 100 Hz.
pub const DC_BLOCK_HZ: f32 = 5.0;

/// The detector of one mode with its state, and the start-up mute.
#[derive(Debug, Clone)]
pub(super) struct Detector {
    kind: Kind,
    /// Channel samples still to be muted: the chain's start-up transient (its filters filling
    /// from zero history), which would otherwise click, and bias the AM carrier estimate.
    mute: u32,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Envelope detector.
    Am {
        /// Carrier (mean envelope) estimate.
        carrier: f32,
        /// Samples averaged into `carrier` since it (re)started, while it is a running mean.
        count: u32,
        /// Whether the squelch was open for the previous sample.
        was_open: bool,
        coef: f32,
        agc: bool,
        /// Largest gain with AGC (the carrier floor is its inverse).
        floor: f32,
    },
    /// Quadrature discriminator.
    Fm {
        previous: [f32; 2],
        /// Audio per radian of phase step: fs / (2 pi deviation).
        scale: f32,
        /// Added to the audio: the listened frequency's offset from the channel's centre over
        /// the deviation.
        bias: f32,
        deemphasis: Option<Deemphasis>,
        dc: DcBlock,
    },
    /// Product detector (SSB, and CW with a BFO shift).
    Product { shift: Nco, agc: Option<Agc> },
}

impl Detector {
    /// An AM envelope detector at `rate`, muted for the first `mute` samples.
    pub(super) fn am(rate: f64, agc: bool, mute: u32) -> Self {
        let kind = Kind::Am {
            carrier: 0.0,
            count: 0,
            was_open: false,
            coef: one_pole(AM_CARRIER_S, rate),
            agc,
            floor: 10f32.powf(-super::agc::AGC_MAX_GAIN_DB / 20.0),
        };
        Self { kind, mute }
    }

    /// An FM discriminator at `rate` for peak deviation `deviation_hz`, the listened frequency
    /// sitting `offset_hz` from the channel's 0 Hz, with de-emphasis time constant
    /// `deemphasis_s` if any, muted for the first `mute` samples.
    pub(super) fn fm(
        rate: f64,
        deviation_hz: f64,
        offset_hz: f64,
        deemphasis_s: Option<f64>,
        mute: u32,
    ) -> Self {
        let kind = Kind::Fm {
            previous: [0.0, 0.0],
            scale: (rate / (f64::from(TAU) * deviation_hz)) as f32,
            bias: (-offset_hz / deviation_hz) as f32,
            deemphasis: deemphasis_s.map(|tau| Deemphasis::new(tau, rate)),
            dc: DcBlock::new(DC_BLOCK_HZ, rate),
        };
        Self { kind, mute }
    }

    /// A product detector at `rate` that moves the channel's 0 Hz to `shift_hz`, muted for the
    /// first `mute` samples.
    pub(super) fn product(rate: f64, shift_hz: f64, agc: bool, mute: u32) -> Self {
        let kind = Kind::Product {
            shift: Nco::new(shift_hz, rate),
            agc: agc.then(|| Agc::new(rate)),
        };
        Self { kind, mute }
    }

    /// Detects `channel` (interleaved complex) into `audio`, one sample per channel sample,
    /// zero while muted or while the squelch is closed. Allocates nothing if `audio` has room.
    pub(super) fn process(&mut self, channel: &[f32], squelch: &mut Squelch, audio: &mut Vec<f32>) {
        let mute = &mut self.mute;
        match &mut self.kind {
            Kind::Am {
                carrier,
                count,
                was_open,
                coef,
                agc,
                floor,
            } => {
                for z in channel.chunks_exact(2) {
                    let power = z[0] * z[0] + z[1] * z[1];
                    let open = squelch.update(power);
                    if *mute > 0 {
                        *mute -= 1;
                        audio.push(0.0);
                        continue;
                    }
                    if open && !*was_open {
                        *count = 0;
                    }
                    *was_open = open;
                    let amplitude = power.sqrt();
                    // A running mean until it has averaged one time constant, then exponential.
                    *count = count.saturating_add(1);
                    let weight = coef.max(1.0 / *count as f32);
                    *carrier = flush(*carrier + weight * (amplitude - *carrier));
                    let ac = amplitude - *carrier;
                    let y = if *agc { ac / carrier.max(*floor) } else { ac };
                    audio.push(if open { y } else { 0.0 });
                }
            }
            Kind::Fm {
                previous,
                scale,
                bias,
                deemphasis,
                dc,
            } => {
                for z in channel.chunks_exact(2) {
                    let open = squelch.update(z[0] * z[0] + z[1] * z[1]);
                    // z conj(previous)
                    let re = z[0] * previous[0] + z[1] * previous[1];
                    let im = z[1] * previous[0] - z[0] * previous[1];
                    *previous = [z[0], z[1]];
                    if *mute > 0 {
                        *mute -= 1;
                        audio.push(0.0);
                        continue;
                    }
                    let mut y = im.atan2(re) * *scale + *bias;
                    if let Some(d) = deemphasis {
                        y = d.process(y);
                    }
                    y = dc.process(y);
                    audio.push(if open { y } else { 0.0 });
                }
            }
            Kind::Product { shift, agc } => {
                for z in channel.chunks_exact(2) {
                    let power = z[0] * z[0] + z[1] * z[1];
                    let open = squelch.update(power);
                    let r = shift.next();
                    if *mute > 0 {
                        *mute -= 1;
                        audio.push(0.0);
                        continue;
                    }
                    let mut y = z[0] * r.re - z[1] * r.im;
                    if let Some(agc) = agc {
                        y *= agc.gain(power.sqrt());
                    }
                    audio.push(if open { y } else { 0.0 });
                }
            }
        }
    }
}

/// Single-pole de-emphasis H(s) = 1 / (1 + s tau) by the bilinear transform, pre-warped so
/// that the corner 1 / (2 pi tau) is exact. Above the corner the response falls a little
/// faster than the analogue one, by tan(pi f / fs) / (pi f / fs): within 1.5 % up to fs / 16
/// (15 kHz for WFM at 240 kHz, 1.5 kHz for NFM at 24 kHz), 5.5 % at 3 kHz for NFM.
#[derive(Debug, Clone)]
pub(super) struct Deemphasis {
    b: f32,
    a: f32,
    x1: f32,
    y1: f32,
}

impl Deemphasis {
    pub(super) fn new(tau_s: f64, rate: f64) -> Self {
        let corner = 1.0 / (std::f64::consts::TAU * tau_s);
        let g = (std::f64::consts::PI * corner / rate).tan();
        Self {
            b: (g / (1.0 + g)) as f32,
            a: ((1.0 - g) / (1.0 + g)) as f32,
            x1: 0.0,
            y1: 0.0,
        }
    }

    #[inline]
    fn process(&mut self, x: f32) -> f32 {
        let y = self.b * (x + self.x1) + self.a * self.y1;
        self.x1 = x;
        self.y1 = flush(y);
        y
    }
}

/// One-pole DC blocker `y[n] = x[n] - x[n-1] + R y[n-1]`.
#[derive(Debug, Clone)]
pub(super) struct DcBlock {
    r: f32,
    x1: f32,
    y1: f32,
}

impl DcBlock {
    fn new(corner_hz: f32, rate: f64) -> Self {
        Self {
            r: (-f64::from(TAU * corner_hz) / rate).exp() as f32,
            x1: 0.0,
            y1: 0.0,
        }
    }

    #[inline]
    fn process(&mut self, x: f32) -> f32 {
        let y = x - self.x1 + self.r * self.y1;
        self.x1 = x;
        self.y1 = flush(y);
        y
    }
}

/// Recursive states decaying in silence reach subnormal floats, which are slow on x86; below
/// 1e-30 (600 dB under full scale) they are set to zero.
#[inline]
fn flush(x: f32) -> f32 {
    if x.abs() < 1e-30 {
        0.0
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The de-emphasis magnitude against 1 / sqrt(1 + (2 pi f tau)^2) by feeding a tone, for
    /// 50 us at 240 kHz and 750 us at 24 kHz, to 1.5 % up to fs / 16.
    #[test]
    fn deemphasis_matches_the_analogue_response() {
        for (tau, rate, freqs) in [
            (50e-6, 240e3, [300.0, 1_000.0, 15_000.0]),
            (750e-6, 24e3, [300.0, 1_000.0, 1_500.0]),
        ] {
            for f in freqs {
                let mut d = Deemphasis::new(tau, rate);
                let n = (rate as usize) / 2;
                let (mut re, mut im) = (0.0f64, 0.0f64);
                for k in 0..n {
                    let phase = std::f64::consts::TAU * f * k as f64 / rate;
                    let y = d.process(phase.cos() as f32) as f64;
                    if k >= n / 2 {
                        re += y * phase.cos();
                        im += y * phase.sin();
                    }
                }
                let got = 2.0 * (re * re + im * im).sqrt() / (n - n / 2) as f64;
                let want = 1.0 / (1.0 + (std::f64::consts::TAU * f * tau).powi(2)).sqrt();
                assert!(
                    (got / want - 1.0).abs() < 0.015,
                    "tau {tau} f {f}: {got} vs {want}"
                );
            }
        }
    }
}
