//! A numerically controlled oscillator: e^(j 2 pi f n / fs) for the running sample index n,
//! phase-continuous across blocks.
//!
//! A recursive rotator (z *= w each sample) drifts in amplitude and phase as rounding errors
//! accumulate, and computing sin/cos per sample costs more than the filters. Instead the
//! oscillator is tabulated for one span of [`SPAN`] samples, w^k for k < SPAN, and sample n of
//! span s is base_s * w^k, where base_s = e^(j 2 pi phase_s) is recomputed in f64 at every span
//! start. The phase is carried in f64 cycles, so errors never grow beyond one span (about
//! 1e-7 rad, under -130 dBc), and each sample's value depends only on n: the output is the same
//! however the input is split into blocks.

use crate::Complex32;
use std::f64::consts::TAU;

/// Samples per tabulated span: a table of 8 KiB, and one f64 sin/cos per 1024 samples.
pub(super) const SPAN: usize = 1024;

/// An oscillator at a fixed frequency (changeable, phase-continuously, by [`Nco::retune`]).
#[derive(Debug, Clone)]
pub(super) struct Nco {
    /// w^k = e^(j 2 pi k f / fs), k in 0..SPAN.
    table: Vec<Complex32>,
    /// Cycles per sample, f / fs.
    cycles_per_sample: f64,
    /// Phase at the start of the current span, cycles in [0, 1).
    phase: f64,
    /// e^(j 2 pi phase).
    base: Complex32,
    /// Position within the current span.
    pos: usize,
}

impl Nco {
    /// An oscillator at `frequency_hz` for sample rate `rate_hz`, starting at phase 0.
    pub(super) fn new(frequency_hz: f64, rate_hz: f64) -> Self {
        let mut nco = Self {
            table: vec![Complex32::new(1.0, 0.0); SPAN],
            cycles_per_sample: 0.0,
            phase: 0.0,
            base: Complex32::new(1.0, 0.0),
            pos: 0,
        };
        nco.set_frequency(frequency_hz / rate_hz);
        nco
    }

    fn set_frequency(&mut self, cycles_per_sample: f64) {
        self.cycles_per_sample = cycles_per_sample;
        for (k, w) in self.table.iter_mut().enumerate() {
            let phase = TAU * (k as f64 * cycles_per_sample).fract();
            *w = Complex32::new(phase.cos() as f32, phase.sin() as f32);
        }
    }

    /// Changes the frequency from the next sample on, continuing from the current phase.
    /// Allocates nothing.
    pub(super) fn retune(&mut self, frequency_hz: f64, rate_hz: f64) {
        self.phase = (self.phase + self.pos as f64 * self.cycles_per_sample).rem_euclid(1.0);
        self.base = polar(self.phase);
        self.pos = 0;
        self.set_frequency(frequency_hz / rate_hz);
    }

    /// Moves on to the next span.
    fn next_span(&mut self) {
        self.phase = (self.phase + SPAN as f64 * self.cycles_per_sample).rem_euclid(1.0);
        self.base = polar(self.phase);
        self.pos = 0;
    }

    /// The oscillator's next sample.
    #[inline]
    pub(super) fn next(&mut self) -> Complex32 {
        if self.pos == SPAN {
            self.next_span();
        }
        let value = self.base * self.table[self.pos];
        self.pos += 1;
        value
    }

    /// Appends `input[n] * oscillator[n]` to `out` as interleaved (re, im) floats. Allocates
    /// nothing if `out` has room.
    pub(super) fn mix(&mut self, input: &[Complex32], out: &mut Vec<f32>) {
        let start = out.len();
        out.resize(start + 2 * input.len(), 0.0);
        let mut dst = &mut out[start..];
        let mut rest = input;
        while !rest.is_empty() {
            if self.pos == SPAN {
                self.next_span();
            }
            let take = (SPAN - self.pos).min(rest.len());
            let (now, later) = rest.split_at(take);
            let (here, there) = std::mem::take(&mut dst).split_at_mut(2 * take);
            rotate(now, &self.table[self.pos..self.pos + take], self.base, here);
            self.pos += take;
            rest = later;
            dst = there;
        }
    }
}

/// `out[n] = x[n] * base * w[n]`, interleaved.
fn rotate(x: &[Complex32], w: &[Complex32], base: Complex32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the function is otherwise the
        // same safe code as the fallback.
        unsafe { rotate_avx2(x, w, base, out) };
        return;
    }
    rotate_generic(x, w, base, out);
}

/// [`rotate`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rotate_avx2(x: &[Complex32], w: &[Complex32], base: Complex32, out: &mut [f32]) {
    rotate_generic(x, w, base, out);
}

#[inline(always)]
fn rotate_generic(x: &[Complex32], w: &[Complex32], base: Complex32, out: &mut [f32]) {
    for ((d, x), w) in out.chunks_exact_mut(2).zip(x).zip(w) {
        let r = base * w;
        d[0] = x.re * r.re - x.im * r.im;
        d[1] = x.re * r.im + x.im * r.re;
    }
}

fn polar(cycles: f64) -> Complex32 {
    let phase = TAU * cycles;
    Complex32::new(phase.cos() as f32, phase.sin() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against e^(j 2 pi f n / fs) computed directly in f64, over many spans, to 1e-6.
    #[test]
    fn matches_the_exact_oscillator() {
        let (f, fs) = (150_123.4, 2.4e6);
        let mut nco = Nco::new(f, fs);
        for n in 0..5 * SPAN + 17 {
            let want = TAU * (n as f64 * f / fs).fract();
            let got = nco.next();
            assert!((got.re as f64 - want.cos()).abs() < 1e-6, "{n}");
            assert!((got.im as f64 - want.sin()).abs() < 1e-6, "{n}");
        }
    }

    /// Mixing blocks of any length equals mixing sample by sample.
    #[test]
    fn mixing_in_blocks_equals_sample_by_sample() {
        let input: Vec<Complex32> = (0..3000)
            .map(|n| Complex32::new(1.0, (n % 7) as f32 * 0.1))
            .collect();
        let mut one = Nco::new(-7_000.0, 48_000.0);
        let want: Vec<Complex32> = input.iter().map(|x| x * one.next()).collect();
        let mut blocks = Nco::new(-7_000.0, 48_000.0);
        let mut out = Vec::new();
        for chunk in input.chunks(333) {
            blocks.mix(chunk, &mut out);
        }
        for (n, w) in want.iter().enumerate() {
            assert_eq!((out[2 * n], out[2 * n + 1]), (w.re, w.im), "{n}");
        }
    }

    /// A retune continues from the phase reached, with no jump.
    #[test]
    fn retune_is_phase_continuous() {
        let mut nco = Nco::new(1_000.0, 12_000.0);
        let mut last = Complex32::new(0.0, 0.0);
        for _ in 0..1500 {
            last = nco.next();
        }
        nco.retune(2_000.0, 12_000.0);
        let next = nco.next();
        // The first new sample is the phase reached, 1500 * 1000 / 12000 cycles, then
        // advancing at the new rate.
        let want = TAU * (1500.0 * 1_000.0 / 12_000.0f64).fract();
        assert!((next - Complex32::new(want.cos() as f32, want.sin() as f32)).norm() < 1e-6);
        let step = (nco.next() * next.conj()).arg() as f64;
        assert!((step - TAU * 2_000.0 / 12_000.0).abs() < 1e-5);
        assert!((last * Complex32::from_polar(1.0, (TAU / 12.0) as f32) - next).norm() < 1e-5);
    }
}
