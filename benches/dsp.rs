//! Throughput of the detection core, in complex samples per second (`Throughput::Elements`).
//!
//! - `fft-N` (N = 1024, 4096, 16384, 65536), one group per FFT size so that the ratio is
//!   visible side by side:
//!   - `rustfft`: the raw in-place forward FFT over the same K = 8 frames, from a copy of the
//!     converted samples: the floor nothing built on an FFT can beat.
//!   - `pipeline-cs16`: the whole chain from raw CS16 bytes, what one receiver costs the hub:
//!     conversion fused with the Blackman-Harris window, FFT, |X|^2 averaged over K = 8,
//!     noise floor, CFAR threshold and grouping into detections.
//!   - `welch-cs16`: the same without the detector, to show what the noise floor and detection
//!     add.
//! - `convert`: each conversion kernel alone, 64 Ki samples into a reused buffer.
//! - `batch`: `batch::detect_all` over 256 spectra (8 Mi samples) (N = 4096, K = 8) with 1 and 2 threads.
//!
//! The input is noise with three tones, so that the detector has some runs to measure. Run with
//! `cargo bench --bench dsp -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use num_complex::Complex32;
use sdrhub_dsp::batch::detect_all;
use sdrhub_dsp::convert::{convert, SampleFormat};
use sdrhub_dsp::detect::{Detector, DetectorConfig};
use sdrhub_dsp::spectrum::{SpectrumConfig, Welch};
use std::hint::black_box;

const FFT_SIZES: [usize; 4] = [1024, 4096, 16384, 65536];
const AVERAGES: usize = 8;

/// Deterministic noise-like samples plus three tones, `len` samples, as CS16 bytes (little
/// endian) at about a quarter of full scale.
fn scene_cs16(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut uniform = move || {
        // xorshift64: enough for a benchmark input, and no rand dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut bytes = Vec::with_capacity(len * 4);
    for n in 0..len {
        let t = n as f32;
        let tones: Complex32 = [0.1f32, -0.23, 0.31]
            .iter()
            .map(|f| Complex32::from_polar(0.05, 2.0 * std::f32::consts::PI * (f * t).fract()))
            .sum();
        let x = tones + Complex32::new(0.01 * uniform(), 0.01 * uniform());
        for v in [x.re, x.im] {
            bytes.extend(((v * 32767.0) as i16).to_le_bytes());
        }
    }
    bytes
}

fn samples_of(bytes: &[u8]) -> Vec<Complex32> {
    let mut out = Vec::new();
    convert(SampleFormat::Cs16Le, bytes, &mut out);
    out
}

fn spectrum_config(fft_size: usize) -> SpectrumConfig {
    SpectrumConfig {
        fft_size,
        averages: AVERAGES,
        ..SpectrumConfig::default()
    }
}

fn fft_groups(c: &mut Criterion) {
    for fft_size in FFT_SIZES {
        let len = fft_size * AVERAGES;
        let bytes = scene_cs16(len);
        let samples = samples_of(&bytes);
        let spectrum = spectrum_config(fft_size);
        let mut group = c.benchmark_group(format!("fft-{fft_size}"));
        group.throughput(Throughput::Elements(len as u64));

        let fft = rustfft::FftPlanner::<f32>::new().plan_fft_forward(fft_size);
        let mut scratch = vec![Complex32::new(0.0, 0.0); fft.get_inplace_scratch_len()];
        let mut buffer = samples.clone();
        group.bench_function("rustfft", |b| {
            b.iter(|| {
                buffer.copy_from_slice(black_box(&samples));
                for frame in buffer.chunks_exact_mut(fft_size) {
                    fft.process_with_scratch(frame, &mut scratch);
                }
                black_box(&buffer);
            })
        });

        let mut welch = Welch::new(&spectrum);
        let mut detector = Detector::new(&spectrum, &DetectorConfig::default());
        let mut detections = Vec::new();
        group.bench_function("pipeline-cs16", |b| {
            b.iter(|| {
                welch.push_bytes(SampleFormat::Cs16Le, black_box(&bytes), |psd, _| {
                    detector.detect(psd, 100e6, 2.4e6, &mut detections);
                });
                black_box(detections.len())
            })
        });

        let mut welch = Welch::new(&spectrum);
        group.bench_function("welch-cs16", |b| {
            b.iter(|| {
                let mut peak = 0.0f32;
                welch.push_bytes(SampleFormat::Cs16Le, black_box(&bytes), |psd, _| peak = psd[0]);
                black_box(peak)
            })
        });
        group.finish();
    }
}

fn conversion(c: &mut Criterion) {
    const LEN: usize = 65_536;
    let mut group = c.benchmark_group("convert");
    group.throughput(Throughput::Elements(LEN as u64));
    for format in SampleFormat::ALL {
        // Bytes of a counter: every format decodes them to finite values except some floats,
        // which the kernels copy without looking at.
        let bytes: Vec<u8> = (0..LEN * format.bytes_per_sample())
            .map(|i| (i * 37 % 251) as u8)
            .collect();
        let mut out = Vec::with_capacity(LEN);
        group.bench_function(BenchmarkId::from_parameter(format), |b| {
            b.iter(|| {
                convert(format, black_box(&bytes), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn batch(c: &mut Criterion) {
    const SPECTRA: usize = 256;
    let fft_size = 4096;
    let spectrum = spectrum_config(fft_size);
    let len = fft_size * AVERAGES * SPECTRA;
    let bytes = scene_cs16(len);
    let samples = samples_of(&bytes);
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(len as u64));
    for threads in [1, 2] {
        group.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter(|| {
                let results = detect_all(
                    black_box(&samples),
                    100e6,
                    2.4e6,
                    &spectrum,
                    &DetectorConfig::default(),
                    threads,
                );
                black_box(results.len())
            })
        });
    }
    // From the recording's own CS16 bytes, converted inside each thread: half the memory
    // traffic, which is what `sdrhub detect` reads.
    for threads in [1, 2] {
        group.bench_function(BenchmarkId::new("cs16-threads", threads), |b| {
            b.iter(|| {
                let results = sdrhub_dsp::batch::detect_all_bytes(
                    sdrhub_dsp::convert::SampleFormat::Cs16Le,
                    black_box(&bytes),
                    100e6,
                    2.4e6,
                    &spectrum,
                    &DetectorConfig::default(),
                    threads,
                );
                black_box(results.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fft_groups, conversion, batch);
criterion_main!(benches);
