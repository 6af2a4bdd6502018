//! One complete TDOA localization: six receivers x 1 s of 12 kHz IQ, five delay estimations
//! against the first receiver, then the fix.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{db_to_linear, noise_power_for, noisy, random_phase, BandSignal};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use sdrhub_dsp::delay::DelayEstimator;
use sdrhub_dsp::geo::{GeoPoint, LocalFrame, SPEED_OF_LIGHT_M_S};
use sdrhub_dsp::locate::tdoa::{locate_tdoa, tdoa_inputs, TdoaConfig};
use sdrhub_dsp::Complex32;
use std::hint::black_box;

const FS: f64 = 12_000.0;
const LEN: usize = 12_000;
/// Window for a 60 km network (0.2 ms = 2.4 samples of delay), with room to spare.
const MAX_LAG: usize = 16;

fn localization(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(1);
    let frame = LocalFrame::new(GeoPoint::new(48.1, 11.6));
    let receivers: Vec<GeoPoint> = [
        (0.0, 25e3),
        (65.0, 18e3),
        (130.0, 28e3),
        (190.0, 22e3),
        (250.0, 15e3),
        (310.0, 27e3),
    ]
    .iter()
    .map(|&(bearing, distance)| frame.offset(bearing, distance))
    .collect();
    let tx = frame.offset(40.0, 7e3);
    let signal = BandSignal::new(&mut rng, LEN, 2.0 * MAX_LAG as f64, -0.3, 0.4);
    let arrival: Vec<f64> = receivers
        .iter()
        .map(|r| r.distance_m(tx) / SPEED_OF_LIGHT_M_S)
        .collect();
    let snippets: Vec<Vec<Complex32>> = arrival
        .iter()
        .map(|a| {
            let phase = random_phase(&mut rng);
            let clean = signal.snippet((a - arrival[0]) * FS, phase, 1.0);
            noisy(
                &mut rng,
                &clean,
                noise_power_for(db_to_linear(0.0), signal.occupancy),
            )
        })
        .collect();
    let mut estimator = DelayEstimator::new(LEN, MAX_LAG, FS);

    c.bench_function("tdoa: 6 receivers x 1 s at 12 kHz, 5 delays + fix", |b| {
        b.iter(|| {
            estimator.set_reference(&snippets[0]).unwrap();
            let estimates: Vec<_> = snippets[1..]
                .iter()
                .map(|s| estimator.estimate(s).unwrap())
                .collect();
            let (rx, delays) = tdoa_inputs(&receivers, &estimates, 50e-9);
            black_box(locate_tdoa(&rx, &delays, &TdoaConfig::default()).unwrap())
        })
    });

    estimator.set_reference(&snippets[0]).unwrap();
    c.bench_function("delay: one estimate, 1 s at 12 kHz", |b| {
        b.iter(|| black_box(estimator.estimate(&snippets[1]).unwrap()))
    });

    let estimates: Vec<_> = snippets[1..]
        .iter()
        .map(|s| estimator.estimate(s).unwrap())
        .collect();
    let (rx, delays) = tdoa_inputs(&receivers, &estimates, 50e-9);
    c.bench_function("tdoa: locate_tdoa alone, 6 receivers", |b| {
        b.iter(|| black_box(locate_tdoa(&rx, &delays, &TdoaConfig::default()).unwrap()))
    });
}

criterion_group!(benches, localization);
criterion_main!(benches);
