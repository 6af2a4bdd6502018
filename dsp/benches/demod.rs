//! The CPU cost of one listener: demodulating one second of 2.4 MS/s IQ (a channel 150 kHz off
//! the receiver centre, in noise) in 16 Ki-sample device blocks. The time per iteration is the
//! share of one core a listener takes: 10 ms is 1 %.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use sdrhub_dsp::demod::{DemodConfig, Demodulator, Mode};
use sdrhub_dsp::Complex32;
use std::f64::consts::TAU;
use std::hint::black_box;

const RATE: f64 = 2.4e6;
const OFFSET: f64 = 150e3;
/// A typical device block (an RTL-SDR delivers 16 Ki samples per USB transfer).
const BLOCK: usize = 16_384;

/// One second of a carrier at `OFFSET` with phase `phase(t)` at -20 dBFS, in white noise at
/// -40 dBFS over the whole band.
fn signal(phase: impl Fn(f64) -> f64) -> Vec<Complex32> {
    let mut rng = SmallRng::seed_from_u64(1);
    (0..RATE as usize)
        .map(|n| {
            let t = n as f64 / RATE;
            let noise = Complex32::new(rng.sample(StandardNormal), rng.sample(StandardNormal)) * 0.007;
            let p = TAU * OFFSET * t + phase(t);
            Complex32::new(p.cos() as f32, p.sin() as f32) * 0.1 + noise
        })
        .collect()
}

fn listeners(c: &mut Criterion) {
    let cases = [
        (Mode::Nfm, signal(|t| 3.0 * (TAU * 1e3 * t).sin())),
        (Mode::Wfm, signal(|t| 75.0 * (TAU * 1e3 * t).sin())),
        (Mode::Usb, signal(|t| TAU * 1e3 * t)),
    ];
    for (mode, input) in cases {
        let mut demod = Demodulator::new(&DemodConfig::new(mode, RATE, OFFSET)).unwrap();
        let mut audio = Vec::with_capacity(demod.max_output_len(BLOCK));
        c.bench_function(&format!("demod {mode}: 1 s of 2.4 MS/s"), |b| {
            b.iter(|| {
                for block in input.chunks(BLOCK) {
                    audio.clear();
                    demod.process(block, &mut audio);
                    black_box(&audio);
                }
            })
        });
    }
}

criterion_group!(benches, listeners);
criterion_main!(benches);
