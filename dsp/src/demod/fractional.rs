//! Streaming resampling of complex samples by an arbitrary ratio: the last step from the rate
//! the integer decimators reach to the channel rate, when the receiver's rate is not a whole
//! multiple of it (2.048 MS/s, 250 kS/s) or is below it (a 12 kHz KiwiSDR stream into the
//! 24 kHz FM channel).
//!
//! Output m is the band-limited input evaluated at p_m - N/2 input samples, p_m = m * step,
//! with a Kaiser-windowed sinc of N taps; the kernel is tabulated at [`PHASES`] fractional
//! offsets and the two neighbouring phases' outputs are interpolated linearly, which leaves an
//! error of about (pi / PHASES)^2 / 8 of the signal at the band edge (-82 dB). The kernel is a
//! low-pass that keeps `pass` and rejects whatever would alias onto it: from min(in, out) -
//! pass, so one design serves decimation and interpolation. The position runs in 32.32 fixed
//! point, so it never drifts and each output depends only on m, not on the block split. The
//! group delay is N / 2 input samples.

use super::design::{kaiser_beta, kaiser_len, sinc_kernel};
use super::fir::{dot, LANES};

/// Tabulated kernel phases per input sample (log2): 128, see the module doc for the error.
const PHASE_BITS: u32 = 7;
/// Tabulated kernel phases per input sample.
pub(super) const PHASES: usize = 1 << PHASE_BITS;
/// Fractional bits of the fixed-point position.
const FRACTION_BITS: u32 = 32;

/// A resampler from one rate to another, with its history.
#[derive(Debug, Clone)]
pub(super) struct Fractional {
    /// PHASES + 1 rows of `window * 2` floats: row r is the kernel for fractional offset
    /// r / PHASES, in window order (oldest first), each tap twice for (re, im).
    table: Vec<f32>,
    /// Samples per window, padding included.
    window: usize,
    /// Input samples per output sample, 32.32 fixed point.
    step: u64,
    /// Position of the next output in `buf` (samples), 32.32 fixed point; its integer part is
    /// the newest sample of the window.
    pos: u64,
    /// The last `window - 1` samples, then the unprocessed input, interleaved (re, im).
    buf: Vec<f32>,
    /// Kernel taps N (unpadded).
    taps: usize,
    ratio: f64,
}

impl Fractional {
    /// A resampler from `input_rate` to `output_rate` (Hz) keeping |f| <= `pass_hz` (clipped to
    /// 45 % of the lower rate) at least `attenuation_db` clear of aliases, for blocks of up to
    /// `max_input` samples.
    pub(super) fn new(
        input_rate: f64,
        output_rate: f64,
        pass_hz: f64,
        attenuation_db: f64,
        max_input: usize,
    ) -> Self {
        let (pass, stop) = edges(input_rate, output_rate, pass_hz);
        let taps = kaiser_len(attenuation_db, (stop - pass) / input_rate);
        let floats = (taps * 2).div_ceil(LANES) * LANES;
        let window = floats / 2;
        let beta = kaiser_beta(attenuation_db);
        let cutoff = (pass + stop) / 2.0 / input_rate;
        let half = taps as f64 / 2.0;
        let mut table = vec![0.0f32; (PHASES + 1) * floats];
        for (row, phase) in table.chunks_exact_mut(floats).enumerate() {
            let fraction = row as f64 / PHASES as f64;
            // Window slot w holds the sample j = window - 1 - w before the newest; its kernel
            // argument is fraction + j - N / 2. Slots older than N taps stay zero.
            let values: Vec<f64> = (0..taps)
                .map(|j| sinc_kernel(fraction + j as f64 - half, cutoff, half, beta))
                .collect();
            // Unit DC gain at every phase, so that the phases do not modulate a carrier.
            let sum: f64 = values.iter().sum();
            for (j, v) in values.iter().enumerate() {
                let at = (window - 1 - j) * 2;
                phase[at..at + 2].fill((v / sum) as f32);
            }
        }
        let ratio = input_rate / output_rate;
        let mut buf = Vec::with_capacity((window - 1 + max_input) * 2);
        buf.resize((window - 1) * 2, 0.0);
        Self {
            table,
            window,
            step: (ratio * (1u64 << FRACTION_BITS) as f64).round() as u64,
            pos: ((window - 1) as u64) << FRACTION_BITS,
            buf,
            taps,
            ratio,
        }
    }

    /// Group delay, input samples.
    pub(super) fn delay(&self) -> f64 {
        self.taps as f64 / 2.0
    }

    /// The most outputs one call with `input` samples can produce.
    pub(super) fn max_output(&self, input: usize) -> usize {
        (input as f64 / self.ratio).ceil() as usize + 1
    }

    /// Resamples `input` (interleaved complex) and appends the outputs to `out`. Allocates
    /// nothing if `input` is at most the `max_input` given to [`Fractional::new`] and `out` has
    /// room for [`Fractional::max_output`] more samples.
    pub(super) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.buf.extend_from_slice(input);
        self.pos = run(&self.table, self.window, self.step, &self.buf, self.pos, out);
        let samples = self.buf.len() / 2;
        let newest = (self.pos >> FRACTION_BITS) as usize;
        let keep_from = (newest + 1 - self.window).min(samples);
        self.buf.drain(..keep_from * 2);
        self.pos -= (keep_from as u64) << FRACTION_BITS;
    }
}

/// The kernel's pass and stop edges (Hz) for resampling between the two rates.
fn edges(input_rate: f64, output_rate: f64, pass_hz: f64) -> (f64, f64) {
    let lower = input_rate.min(output_rate);
    let pass = pass_hz.min(0.45 * lower);
    (pass, lower - pass)
}

/// Kernel taps for resampling between the two rates (for planning).
pub(super) fn taps_for(input_rate: f64, output_rate: f64, pass_hz: f64, attenuation_db: f64) -> usize {
    let (pass, stop) = edges(input_rate, output_rate, pass_hz);
    kaiser_len(attenuation_db, (stop - pass) / input_rate)
}

/// Computes every output whose window lies within `buf`; returns the next position.
fn run(table: &[f32], window: usize, step: u64, buf: &[f32], pos: u64, out: &mut Vec<f32>) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if super::fir::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above; the function is otherwise
        // the same safe code as the fallback.
        return unsafe { run_avx2(table, window, step, buf, pos, out) };
    }
    run_generic::<false>(table, window, step, buf, pos, out)
}

/// [`run`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(
    table: &[f32],
    window: usize,
    step: u64,
    buf: &[f32],
    pos: u64,
    out: &mut Vec<f32>,
) -> u64 {
    run_generic::<true>(table, window, step, buf, pos, out)
}

#[inline(always)]
fn run_generic<const AVX2: bool>(
    table: &[f32],
    window: usize,
    step: u64,
    buf: &[f32],
    mut pos: u64,
    out: &mut Vec<f32>,
) -> u64 {
    let floats = window * 2;
    let samples = buf.len() / 2;
    let below_phase = FRACTION_BITS - PHASE_BITS;
    let weight_scale = 1.0 / (1u64 << below_phase) as f32;
    loop {
        let newest = (pos >> FRACTION_BITS) as usize;
        if newest >= samples {
            return pos;
        }
        let fraction = pos & ((1u64 << FRACTION_BITS) - 1);
        let row = (fraction >> below_phase) as usize;
        let weight = (fraction & ((1u64 << below_phase) - 1)) as f32 * weight_scale;
        let end = (newest + 1) * 2;
        let samples_in = &buf[end - floats..end];
        let (re0, im0) = dot::<AVX2>(&table[row * floats..(row + 1) * floats], samples_in);
        let (re1, im1) = dot::<AVX2>(&table[(row + 1) * floats..(row + 2) * floats], samples_in);
        out.push(re0 + weight * (re1 - re0));
        out.push(im0 + weight * (im1 - im0));
        pos += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    fn tone(f: f64, rate: f64, len: usize) -> Vec<f32> {
        (0..len)
            .flat_map(|n| {
                let phase = TAU * f * n as f64 / rate;
                [phase.cos() as f32, phase.sin() as f32]
            })
            .collect()
    }

    /// A tone inside the kept band, resampled down (2.048 MS/s / 85 -> 24 kHz) and up
    /// (12 -> 24 kHz), in uneven blocks, equals the tone at the output rate delayed by N / 2
    /// input samples, to -70 dB (the kernel's 80 dB design less interpolation and f32).
    #[test]
    fn tones_come_out_delayed_by_half_the_kernel() {
        for (rate_in, rate_out, f, pass) in [
            (2.048e6 / 85.0, 24e3, 5_000.0, 6_600.0),
            (12e3, 24e3, -4_000.0, 6_600.0),
            (256e3, 240e3, 1_000.0, 105e3),
            (512e3, 240e3, 1_000.0, 105e3),
            (256e3, 240e3, 100e3, 105e3),
        ] {
            let input = tone(f, rate_in, 6000);
            let mut resampler = Fractional::new(rate_in, rate_out, pass, 80.0, 1000);
            let mut out = Vec::new();
            for block in input.chunks(2 * 997) {
                resampler.process(block, &mut out);
            }
            let delay_s = resampler.delay() / rate_in;
            let (mut error, mut count) = (0.0, 0);
            // Skip the start-up, where the history is zeros.
            for (m, pair) in out.chunks_exact(2).enumerate().skip(200) {
                let phase = TAU * f * (m as f64 / rate_out - delay_s);
                error += (pair[0] as f64 - phase.cos()).powi(2) + (pair[1] as f64 - phase.sin()).powi(2);
                count += 1;
            }
            let db = 10.0 * (error / count as f64).log10();
            assert!(db < -70.0, "{rate_in} -> {rate_out}: error {db:.1} dB");
            let expected = 6000.0 * rate_out / rate_in;
            assert!((out.len() as f64 / 2.0 - expected).abs() < 2.0);
        }
    }
}
