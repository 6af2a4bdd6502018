//! Throughput of the spectrum and detection stages, in IQ samples per second.
//!
//! - `pipeline`: Welch (K = 8, Blackman-Harris) plus the detector on every averaged spectrum,
//!   what one receiver costs the hub.
//! - `welch`: the Welch stage alone (window, FFT, |X|^2 accumulation, reordering), to see how
//!   much of the pipeline the FFT work is and how much the noise floor and detection add.
//! - `rustfft`: the raw in-place forward FFT of the same sizes over the same K frames: the
//!   floor nothing built on an FFT can beat.
//!
//! The input is noise with a few tones, so that the detector has some runs to measure.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use num_complex::Complex32;
use sdrhub_dsp::detect::{Detector, DetectorConfig};
use sdrhub_dsp::spectrum::{SpectrumConfig, Welch};
use std::hint::black_box;

const FFT_SIZES: [usize; 4] = [1024, 4096, 16384, 65536];
const AVERAGES: usize = 8;

/// Deterministic noise-like samples plus three tones, one averaged spectrum's worth.
fn scene(fft_size: usize) -> Vec<Complex32> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut uniform = move || {
        // xorshift64: enough for a benchmark input, and no rand dependency in the hot loop.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..fft_size * AVERAGES)
        .map(|n| {
            let t = n as f32;
            let tones: Complex32 = [0.1f32, -0.23, 0.31]
                .iter()
                .map(|f| Complex32::from_polar(0.05, 2.0 * std::f32::consts::PI * (f * t).fract()))
                .sum();
            tones + Complex32::new(0.01 * uniform(), 0.01 * uniform())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut pipeline = c.benchmark_group("pipeline");
    for fft_size in FFT_SIZES {
        let samples = scene(fft_size);
        let spectrum = SpectrumConfig {
            fft_size,
            averages: AVERAGES,
            ..SpectrumConfig::default()
        };
        let mut welch = Welch::new(&spectrum);
        let mut detector = Detector::new(&spectrum, &DetectorConfig::default());
        let mut detections = Vec::new();
        pipeline.throughput(Throughput::Elements(samples.len() as u64));
        pipeline.bench_function(BenchmarkId::from_parameter(fft_size), |b| {
            b.iter(|| {
                welch.push(black_box(&samples), |psd, _| {
                    detector.detect(psd, 100e6, 2.4e6, &mut detections);
                });
                black_box(detections.len())
            })
        });
    }
    pipeline.finish();

    let mut spectrum_only = c.benchmark_group("welch");
    for fft_size in FFT_SIZES {
        let samples = scene(fft_size);
        let spectrum = SpectrumConfig {
            fft_size,
            averages: AVERAGES,
            ..SpectrumConfig::default()
        };
        let mut welch = Welch::new(&spectrum);
        spectrum_only.throughput(Throughput::Elements(samples.len() as u64));
        spectrum_only.bench_function(BenchmarkId::from_parameter(fft_size), |b| {
            b.iter(|| {
                let mut peak = 0.0f32;
                welch.push(black_box(&samples), |psd, _| peak = psd[0]);
                black_box(peak)
            })
        });
    }
    spectrum_only.finish();
}

fn raw_fft(c: &mut Criterion) {
    let mut group = c.benchmark_group("rustfft");
    for fft_size in FFT_SIZES {
        let fft = rustfft::FftPlanner::<f32>::new().plan_fft_forward(fft_size);
        let mut scratch = vec![Complex32::new(0.0, 0.0); fft.get_inplace_scratch_len()];
        let input = scene(fft_size);
        let mut buffer = input.clone();
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(fft_size), &input, |b, input| {
            b.iter(|| {
                buffer.copy_from_slice(input);
                for frame in buffer.chunks_exact_mut(fft_size) {
                    fft.process_with_scratch(frame, &mut scratch);
                }
                black_box(&buffer);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, raw_fft);
criterion_main!(benches);
