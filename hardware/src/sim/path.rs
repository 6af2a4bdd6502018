//! One transmitter as one receiver hears it: the waveform delayed by the propagation time,
//! scaled by the path loss, and down-converted to the receiver's baseband.
//!
//! Sample n of the receiver is at scene time t = n / fs (seconds since the epoch). The received
//! baseband sample is
//!
//! ```text
//!   A * g(t - tau) * s(t - tau) * exp(j 2 pi (f_b t - f_tx tau)),   f_b = f_tx - f_center + f_offset
//! ```
//!
//! where s is the transmitter's complex envelope, g its on/off gate, tau = distance / c. The
//! exp(-j 2 pi f_tx tau) term is the RF carrier's phase delay, which survives down-conversion.
//!
//! Each call renders one block. Slowly-varying phases run as f64 phasor recurrences anchored
//! afresh from the absolute sample index at the start of the block, so there is no drift over
//! a long run and a block's samples do not depend on which blocks were rendered before it.

use super::fastmath::{cis_cycles, frac_product, wrap_cycles};
use super::signal::{Modulation, SymbolCursor, Waveform, Window, FM_COMPONENTS, MSK_SEGMENT_SYMBOLS};
use num_complex::{Complex32, Complex64};
use std::sync::Arc;

/// exp(j 2 pi x) in f64, x in cycles.
fn cis64(x: f64) -> Complex64 {
    let (s, c) = (std::f64::consts::TAU * wrap_cycles(x)).sin_cos();
    Complex64::new(c, s)
}

/// Renders one transmitter into one receiver's samples.
#[derive(Debug, Clone)]
pub(crate) struct PathRenderer {
    wave: Arc<Waveform>,
    fs: f64,
    amplitude: f64,
    delay_s: f64,
    /// Baseband frequency f_b / fs, cycles per sample.
    nu: f64,
    /// -f_tx * tau, cycles.
    delay_phase_cycles: f64,
    /// Where the MSK symbol stream stood at the end of the last block (a cache: it is rebuilt
    /// from scratch whenever it does not fit).
    cursor: Option<SymbolCursor>,
}

/// Sample ranges of one on-window within a block.
struct Span {
    window: Window,
    /// Samples before this (from `first`) are in the rising ramp.
    ramp_up_end: usize,
    /// Samples from here (to `last`) are in the falling ramp.
    ramp_down_start: usize,
}

impl PathRenderer {
    /// A path with linear `amplitude` (sqrt of received power, full scale = 1), propagation
    /// delay `delay_s`, baseband frequency `baseband_hz` and RF carrier `carrier_hz`.
    pub(crate) fn new(
        wave: Arc<Waveform>,
        sample_rate_hz: f64,
        amplitude: f64,
        delay_s: f64,
        baseband_hz: f64,
        carrier_hz: f64,
    ) -> Self {
        Self {
            wave,
            fs: sample_rate_hz,
            amplitude,
            delay_s,
            nu: baseband_hz / sample_rate_hz,
            delay_phase_cycles: wrap_cycles(-carrier_hz * delay_s),
            cursor: None,
        }
    }

    /// Adds the path's samples `n0 .. n0 + out.len()` to `out`.
    pub(crate) fn render(&mut self, n0: u64, out: &mut [Complex32]) {
        let Self {
            wave,
            fs,
            amplitude,
            delay_s,
            nu,
            delay_phase_cycles,
            cursor,
        } = self;
        let (fs, amplitude, delay_s, nu) = (*fs, *amplitude, *delay_s, *nu);
        let len = out.len();
        // Scene time at the transmitter of sample n0 (u = t - tau).
        let u0 = n0 as f64 / fs - delay_s;
        let carrier0 = wrap_cycles(frac_product(nu, n0) + *delay_phase_cycles);
        let gate = wave.gate;
        // First sample at or after time `u`.
        let index_at = |u: f64| ((u - u0) * fs).ceil().clamp(0.0, len as f64) as usize;
        gate.for_each_window(u0, u0 + len as f64 / fs, |window| {
            let (first, last) = (index_at(window.start), index_at(window.end));
            if first >= last {
                return;
            }
            let span = if gate.ramp_s() > 0.0 {
                Span {
                    window,
                    ramp_up_end: index_at(window.start + gate.ramp_s()),
                    ramp_down_start: index_at(window.end - gate.ramp_s()),
                }
            } else {
                Span {
                    window,
                    ramp_up_end: first,
                    ramp_down_start: last,
                }
            };
            // Amplitude at sample k: the gate ramps are evaluated only where they are not 1.
            let gain = |k: usize| {
                if k < span.ramp_up_end || k >= span.ramp_down_start {
                    amplitude * gate.envelope(&span.window, u0 + k as f64 / fs)
                } else {
                    amplitude
                }
            };
            match &wave.modulation {
                Modulation::Cw => {
                    let step = cis64(nu);
                    let mut z = cis64(carrier0 + nu * first as f64);
                    for (k, sample) in out.iter_mut().enumerate().take(last).skip(first) {
                        let g = gain(k);
                        *sample += Complex32::new((z.re * g) as f32, (z.im * g) as f32);
                        z *= step;
                    }
                }
                Modulation::Fm { components, .. } => {
                    // Phasors of the message's phase components, anchored at sample `first`.
                    let n_first = n0 + first as u64;
                    let mut re = [0.0f64; FM_COMPONENTS];
                    let mut im = [0.0f64; FM_COMPONENTS];
                    let mut step_re = [0.0f64; FM_COMPONENTS];
                    let mut step_im = [0.0f64; FM_COMPONENTS];
                    let mut weight = [0.0f64; FM_COMPONENTS];
                    for (i, c) in components.iter().enumerate() {
                        let phase =
                            frac_product(c.freq_hz / fs, n_first) - c.freq_hz * delay_s + c.phase_cycles;
                        let z = cis64(phase);
                        (re[i], im[i]) = (z.re, z.im);
                        let step = cis64(c.freq_hz / fs);
                        (step_re[i], step_im[i]) = (step.re, step.im);
                        weight[i] = c.cycles;
                    }
                    for (k, sample) in out.iter_mut().enumerate().take(last).skip(first) {
                        let mut message = 0.0;
                        for i in 0..FM_COMPONENTS {
                            message += weight[i] * im[i];
                            let r = re[i] * step_re[i] - im[i] * step_im[i];
                            im[i] = re[i] * step_im[i] + im[i] * step_re[i];
                            re[i] = r;
                        }
                        *sample += cis_cycles(carrier0 + nu * k as f64 + message) * gain(k) as f32;
                    }
                }
                Modulation::Msk { symbol_rate, key } => {
                    let key = *key;
                    let x_step = symbol_rate / fs;
                    // Symbol position (in symbols since the window's origin) of sample k is
                    // x_base + k * x_step.
                    let x_base = (u0 - span.window.origin) * symbol_rate;
                    let symbol = (x_base + first as f64 * x_step).floor() as i64;
                    let mut c = match *cursor {
                        Some(c)
                            if c.window == span.window.index
                                && c.symbol <= symbol
                                && symbol - c.symbol < MSK_SEGMENT_SYMBOLS =>
                        {
                            c
                        }
                        _ => SymbolCursor::at(key, span.window.index, symbol),
                    };
                    for (k, sample) in out.iter_mut().enumerate().take(last).skip(first) {
                        let x = x_base + k as f64 * x_step;
                        while x >= (c.symbol + 1) as f64 {
                            c.advance(key);
                        }
                        let quarter = c.quarter_turns as f64 + c.value as f64 * (x - c.symbol as f64);
                        *sample += cis_cycles(carrier0 + nu * k as f64 + 0.25 * quarter) * gain(k) as f32;
                    }
                    *cursor = Some(c);
                }
            }
        });
    }
}
