//! Emitter identity through the tracker: a transmitter that keys off and on keeps its emitter
//! id, distinct transmitters never share one, and the memory forgets.

use super::*;
use crate::detect::scenes::{add, noise, tone};
use crate::detect::{Detector, DetectorConfig};
use crate::spectrum::{SpectrumConfig, Welch};
use crate::window::WindowKind;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::collections::BTreeSet;

/// The live default: 4096-point Blackman-Harris spectra of 8 frames at 1.024 MS/s.
const FS: f64 = 1.024e6;
const FFT: usize = 4096;
const AVERAGES: usize = 8;
const CENTER: f64 = 145e6;
const BIN_HZ: f64 = FS / FFT as f64;
/// One spectrum's duration, ns (32 ms).
const SPECTRUM_NS: i64 = (FFT * AVERAGES) as i64 * 1_000_000_000 / FS as i64;

/// A voice channel's detection, with the jitter a detector's estimates have from spectrum to
/// spectrum.
fn voice(frame: i64) -> Detection {
    let jitter = ((frame * 7919) % 11 - 5) as f64;
    Detection {
        frequency_hz: 145.35e6 + jitter * 20.0,
        bandwidth_hz: 11_000.0 + jitter * 150.0,
        power_fs: 1e-5,
        power_dbfs: -50.0,
        peak_dbfs: -60.0,
        snr_db: 25.0,
        noise_dbfs: -85.0,
        first_bin: 0,
        last_bin: 0,
        carrier_hz: None,
    }
}

/// Runs the tracker over `seconds` of spectra from one receiver; `on(t_s)` gives the spectrum's
/// detections at `t_s`.
fn run(
    tracker: &mut Tracker,
    from_s: f64,
    seconds: f64,
    on: impl Fn(i64, f64) -> Vec<Detection>,
) -> Vec<TrackEvent> {
    let mut events = Vec::new();
    let start = (from_s * 1e9) as i64 / SPECTRUM_NS;
    let frames = (seconds * 1e9) as i64 / SPECTRUM_NS;
    for frame in start..start + frames {
        let t = frame * SPECTRUM_NS;
        tracker.update(0, t, &on(frame, t as f64 / 1e9), &mut events);
    }
    events
}

fn new_reports(events: &[TrackEvent]) -> Vec<&TrackSummary> {
    events
        .iter()
        .filter(|e| e.kind == TrackEventKind::New)
        .map(|e| &e.summary)
        .collect()
}

#[test]
fn a_keyed_voice_keeps_one_emitter_id_over_ten_activations() {
    // The default scene's repeater user: on for 20 s of every 30 s.
    let mut tracker = Tracker::new(TrackerConfig::default());
    let events = run(&mut tracker, 0.0, 300.0, |frame, t| {
        if t % 30.0 < 20.0 {
            vec![voice(frame)]
        } else {
            Vec::new()
        }
    });
    let news = new_reports(&events);
    assert_eq!(news.len(), 10, "one track per activation: {news:?}");
    let tracks: BTreeSet<u64> = news.iter().map(|s| s.id).collect();
    assert_eq!(tracks.len(), 10, "each activation is a track of its own");
    let emitters: BTreeSet<u64> = events.iter().map(|e| e.summary.emitter_id).collect();
    assert_eq!(emitters.len(), 1, "one emitter: {emitters:?}");
    for (n, s) in news.iter().enumerate() {
        assert_eq!(s.activations, n as u32 + 1);
        assert_eq!(s.emitter_first_heard_ns, news[0].first_seen_ns);
    }
    // Heard 20 s (less one spectrum) of each 30 s: after 10 activations, 200 s of 290 s.
    let lost: Vec<&TrackSummary> = events
        .iter()
        .filter(|e| e.kind == TrackEventKind::Lost)
        .map(|e| &e.summary)
        .collect();
    let last = lost.last().expect("the last activation is lost");
    assert_eq!(last.activations, 10);
    let expected = 10.0 * 20.0 / 290.0;
    assert!(
        (last.duty_cycle - expected).abs() < 0.01,
        "duty {} vs {expected}",
        last.duty_cycle
    );
    assert!(
        (lost[0].duty_cycle - 1.0).abs() < 1e-9,
        "a first activation is on all its life"
    );
}

/// A carrier `bins` FFT bins above 145.1 MHz at 30 dB per-bin SNR, through the real Welch
/// spectrum and detector: `count` spectra' detections.
fn carrier_spectra(bins: f64, count: usize, seed: u64) -> Vec<Vec<Detection>> {
    let spectrum = SpectrumConfig {
        fft_size: FFT,
        averages: AVERAGES,
        window: WindowKind::BlackmanHarris,
    };
    let mut welch = Welch::new(&spectrum);
    let mut detector = Detector::new(&spectrum, &DetectorConfig::default());
    let variance = 1e-2;
    let per_bin = variance * WindowKind::BlackmanHarris.enbw_bins() / FFT as f64;
    let amplitude = (per_bin * 1e3).sqrt();
    let cycles = (100e3 + bins * BIN_HZ) / FS;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut all = Vec::new();
    for _ in 0..count {
        let x = add(
            &tone(FFT * AVERAGES, cycles, amplitude),
            &noise(&mut rng, FFT * AVERAGES, variance),
        );
        welch.push(&x, |psd, _| {
            let mut out = Vec::new();
            detector.detect(psd, CENTER, FS, &mut out);
            all.push(out);
        });
    }
    all
}

#[test]
fn two_carriers_two_bins_apart_taking_turns_never_share_an_emitter_id() {
    let a = carrier_spectra(0.3, 8, 1);
    let b = carrier_spectra(2.3, 8, 2);
    for spectra in [&a, &b] {
        assert!(
            spectra.iter().all(|d| d.len() == 1),
            "one detection a spectrum: {spectra:?}"
        );
        let widest = spectra.iter().map(|d| d[0].bandwidth_hz).fold(0.0, f64::max);
        eprintln!("carrier detections: widest {widest:.0} Hz (bin {BIN_HZ} Hz)");
    }
    // A for 5 s, silence for 4 s (longer than lost_after), B for 5 s, silence for 4 s, ...
    let mut tracker = Tracker::new(TrackerConfig::default());
    let events = run(&mut tracker, 0.0, 180.0, |frame, t| {
        let phase = t % 18.0;
        let n = frame as usize % 8;
        if phase < 5.0 {
            a[n].clone()
        } else if (9.0..14.0).contains(&phase) {
            b[n].clone()
        } else {
            Vec::new()
        }
    });
    let news = new_reports(&events);
    assert_eq!(news.len(), 20, "{news:?}");
    let near = |s: &TrackSummary, bins: f64| {
        (s.frequency_hz - (CENTER + 100e3 + bins * BIN_HZ)).abs() < BIN_HZ / 2.0
    };
    let ids_a: BTreeSet<u64> = news
        .iter()
        .filter(|s| near(s, 0.3))
        .map(|s| s.emitter_id)
        .collect();
    let ids_b: BTreeSet<u64> = news
        .iter()
        .filter(|s| near(s, 2.3))
        .map(|s| s.emitter_id)
        .collect();
    assert_eq!(ids_a.len(), 1, "A keeps its id: {news:?}");
    assert_eq!(ids_b.len(), 1, "B keeps its id: {news:?}");
    assert!(
        ids_a.is_disjoint(&ids_b),
        "A {ids_a:?} and B {ids_b:?} share an emitter id"
    );
    assert_eq!(news.iter().filter(|s| near(s, 0.3) || near(s, 2.3)).count(), 20);
}

#[test]
fn an_emitter_silent_beyond_the_memory_gets_a_new_id() {
    let config = TrackerConfig {
        emitter_memory_ns: 60_000_000_000,
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(config);
    let burst = |frame: i64, _t: f64| vec![voice(frame)];
    let first = run(&mut tracker, 0.0, 10.0, burst);
    // Back after 50 s of silence (within the 60 s memory): the same emitter.
    let mut quiet = Vec::new();
    tracker.expire(15_000_000_000, &mut quiet);
    let second = run(&mut tracker, 60.0, 10.0, burst);
    // Back after 80 s of silence: forgotten.
    tracker.expire(75_000_000_000, &mut quiet);
    let third = run(&mut tracker, 150.0, 10.0, burst);
    let id = |events: &[TrackEvent]| new_reports(events)[0].emitter_id;
    assert_eq!(id(&first), id(&second));
    assert_eq!(new_reports(&second)[0].activations, 2);
    assert_ne!(id(&third), id(&first));
    assert_eq!(new_reports(&third)[0].activations, 1);
    assert!(
        tracker.emitters().emitters().len() <= 2,
        "the forgotten emitter is pruned"
    );
}

#[test]
fn a_live_emitter_is_not_given_to_a_second_track() {
    // Two tracks at once on one frequency cannot happen in one tracker (they would merge), but
    // a detached track must not take back its former emitter while that one is live elsewhere.
    let mut memory = crate::emitter::EmitterMemory::new(600_000_000_000);
    let one = memory.acquire(145e6, 12_000.0, 0, 100);
    let two = memory.acquire(145e6, 12_000.0, 0, 200);
    assert_ne!(one.id, two.id);
    memory.release(one.id, 145e6, 12_000.0, 0, 1_000);
    let three = memory.acquire(145e6, 12_000.0, 5_000, 6_000);
    assert_eq!(three.id, one.id);
    assert_eq!(three.activations, 2);
}

#[test]
fn a_detached_track_gets_a_fresh_emitter_and_the_old_one_is_idle_again() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let burst = |frame: i64, _t: f64| vec![voice(frame)];
    let first = run(&mut tracker, 0.0, 10.0, burst);
    let mut quiet = Vec::new();
    tracker.expire(15_000_000_000, &mut quiet);
    let second = run(&mut tracker, 20.0, 10.0, burst);
    let old = new_reports(&first)[0].emitter_id;
    assert_eq!(new_reports(&second)[0].emitter_id, old);
    let track = new_reports(&second)[0].id;
    let mut others = Vec::new();
    tracker.emitter_candidates(track, 30_000_000_000, &mut others);
    assert!(
        others.is_empty(),
        "no other emitter on that frequency: {others:?}"
    );
    let fresh = tracker.detach_emitter(track, None).expect("a live track");
    assert_ne!(fresh, old);
    let summary = tracker.track(track).and_then(Track::summary).expect("confirmed");
    assert_eq!((summary.emitter_id, summary.activations), (fresh, 1));
    let old_entry = tracker
        .emitters()
        .emitters()
        .iter()
        .find(|e| e.id == old)
        .expect("remembered");
    assert_eq!((old_entry.activations, old_entry.live), (1, false));
}
