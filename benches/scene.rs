//! Cost of generating the simulated scene, in time per sample per receiver.
//!
//! The scene runs in real time beside the DSP, so what matters is the CPU fraction
//! `(time to generate one second of every receiver) / 1 s`; `one_second_all_receivers` measures
//! it directly in the busiest second (every transmitter on), and the per-block benches break it
//! down by signal kind.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use num_complex::Complex32;
use sdrhub_hardware::sim::{Scene, SceneConfig};
use std::hint::black_box;
use std::time::Duration;

/// An arbitrary fixed epoch: costs must not depend on it.
const EPOCH_NS: i64 = 1_700_000_000_000_000_000;

/// Scene time with every default transmitter on (the voice talks 0-20 s, a burst runs 1-1.3 s).
const BUSY_FROM_S: f64 = 1.0;

fn block_costs(c: &mut Criterion) {
    let default = SceneConfig::default();
    let block = default.block_samples;
    let mut cases: Vec<(&str, SceneConfig, bool)> = Vec::new();
    cases.push((
        "noise_only",
        SceneConfig {
            transmitters: Vec::new(),
            ..default.clone()
        },
        true,
    ));
    for (name, index) in [("cw_only", 0), ("fm_only", 1), ("bursts_only", 2)] {
        let config = SceneConfig {
            transmitters: vec![default.transmitters[index].clone()],
            ..default.clone()
        };
        cases.push((name, config, false));
    }
    cases.push(("default_scene_busy", default.clone(), true));

    let mut group = c.benchmark_group("scene_block");
    group.throughput(Throughput::Elements(block as u64));
    group.measurement_time(Duration::from_secs(3));
    for (name, config, noise) in cases {
        let scene = Scene::new(config).expect("valid bench scene");
        let start = (BUSY_FROM_S * scene.config().sample_rate_hz) as u64;
        let mut generator = scene.generator(0, EPOCH_NS);
        generator.set_noise(noise);
        let mut out = vec![Complex32::new(0.0, 0.0); block];
        group.bench_function(BenchmarkId::new(name, block), |b| {
            b.iter(|| {
                // The same busy block every time, so every signal is on throughout.
                generator.seek(start);
                generator.fill_samples(&mut out);
                black_box(&out);
            })
        });
    }

    // The default scene streaming on, so its schedules average out (the voice is on 2/3 of
    // the time, bursts 7.5 %).
    let scene = Scene::new(default.clone()).expect("default scene is valid");
    let mut generator = scene.generator(0, EPOCH_NS);
    let mut out = vec![Complex32::new(0.0, 0.0); block];
    group.bench_function(BenchmarkId::new("default_scene_streaming", block), |b| {
        b.iter(|| {
            generator.fill_samples(&mut out);
            black_box(&out);
        })
    });
    group.finish();
}

fn one_second_all_receivers(c: &mut Criterion) {
    let scene = Scene::new(SceneConfig::default()).expect("default scene is valid");
    let fs = scene.config().sample_rate_hz;
    let receivers = scene.receivers().len();
    let mut generators: Vec<_> = (0..receivers).map(|rx| scene.generator(rx, EPOCH_NS)).collect();
    let mut out = vec![Complex32::new(0.0, 0.0); scene.config().block_samples];
    let blocks = (fs / out.len() as f64).ceil() as usize;
    let mut group = c.benchmark_group("scene_realtime");
    group.sample_size(10);
    group.throughput(Throughput::Elements((blocks * out.len() * receivers) as u64));
    // Time per iteration = CPU fraction of one core the busiest second of the default scene needs.
    group.bench_function("one_second_all_receivers", |b| {
        b.iter(|| {
            for generator in &mut generators {
                generator.seek((BUSY_FROM_S * fs) as u64);
                for _ in 0..blocks {
                    generator.fill_samples(&mut out);
                    black_box(&out);
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, block_costs, one_second_all_receivers);
criterion_main!(benches);
