//! The position half of emitter identity (issue 19), through the DSP, tracker and fusion code
//! the live server runs: two transmitters on one frequency, 12 km apart, taking turns, are two
//! emitters once located, and the first keying on again is itself again.

use sdrhub::config::{DspConfig, LocalizationConfig, TrackerSettings};
use sdrhub::events::Event;
use sdrhub::pipeline::fusion::{Fusion, ReceiverMeta};
use sdrhub::pipeline::spectrum::ReceiverDsp;
use sdrhub_dsp::geo::{GeoPoint, LocalFrame};
use sdrhub_hardware::sim::{
    PathLossConfig, Scene, SceneConfig, ScheduleConfig, SignalKind, TransmitterConfig,
};
use sdrhub_hardware::IqBlock;
use std::collections::BTreeMap;

const EPOCH_NS: i64 = 1_790_000_000_000_000_000;
/// Scene time simulated, s.
const SECONDS: f64 = 14.0;

/// A carrier 6 km from the centre at `bearing_deg`, on for 2 s from `on_at_s`.
fn carrier(
    id: &str,
    frame: &LocalFrame,
    bearing_deg: f64,
    on_at_s: f64,
    frequency_hz: f64,
) -> TransmitterConfig {
    let p = frame.offset(bearing_deg, 6_000.0);
    TransmitterConfig {
        id: id.into(),
        name: id.into(),
        latitude: p.lat_deg,
        longitude: p.lon_deg,
        frequency_hz,
        bandwidth_hz: 0.0,
        power_dbm: 0.0,
        kind: SignalKind::Cw,
        schedule: Some(ScheduleConfig {
            period_s: 100.0,
            on_s: 2.0,
            offset_s: on_at_s,
        }),
    }
}

#[test]
fn two_transmitters_on_one_frequency_located_apart_are_two_emitters() {
    let mut config = SceneConfig {
        seed: 3,
        sample_rate_hz: 250_000.0,
        block_samples: 8192,
        receiver_count: 5,
        receiver_radius_m: 10_000.0,
        receivers: Vec::new(),
        path_loss: PathLossConfig::FreeSpace,
        ..SceneConfig::default()
    };
    let frame = LocalFrame::new(GeoPoint::new(config.center_latitude, config.center_longitude));
    let f = config.center_frequency_hz + 30_000.0;
    // North on at 0 s, South (12 km away) at 6 s, North again at 12 s: each silence is longer
    // than lost_after_s (3 s), so each is a new track.
    config.transmitters = vec![
        carrier("north", &frame, 0.0, 0.0, f),
        carrier("south", &frame, 180.0, 6.0, f),
        carrier("north-again", &frame, 0.0, 12.0, f),
    ];
    let scene = Scene::new(config.clone()).expect("valid scene");
    let dsp = DspConfig {
        fft_size: 1024,
        ..DspConfig::default()
    };
    let localization = LocalizationConfig {
        interval_s: 0.25,
        tdoa: false,
        power_model_sigma_db: 0.0,
        ..LocalizationConfig::default()
    };
    let receivers = scene.receivers().len();
    let metas = (0..receivers)
        .map(|rx| {
            let info = scene.receiver_info(rx);
            ReceiverMeta {
                id: info.id.clone(),
                position: info.position,
                gps_locked: false,
            }
        })
        .collect();
    let mut fusion = Fusion::new(
        metas,
        TrackerSettings::default().tracker(),
        localization,
        config.path_loss.exponent(),
    );
    let mut dsps: Vec<ReceiverDsp> = (0..receivers)
        .map(|rx| ReceiverDsp::new(rx, &dsp.spectrum(), &dsp.detector()))
        .collect();
    let mut generators: Vec<_> = (0..receivers).map(|rx| scene.generator(rx, EPOCH_NS)).collect();
    let mut block = IqBlock::with_capacity(config.block_samples);
    let blocks = (SECONDS * config.sample_rate_hz / config.block_samples as f64) as usize;
    let mut events = Vec::new();
    // Per track, in order: the emitter of each of its reports.
    let mut emitters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut fixes: BTreeMap<String, GeoPoint> = BTreeMap::new();
    for _ in 0..blocks {
        for (rx, generator) in generators.iter_mut().enumerate() {
            generator.fill(&mut block, config.block_samples);
            let mut spectra = Vec::new();
            dsps[rx].process(&block, |s| spectra.push(s));
            for spectrum in spectra {
                fusion.ingest(&spectrum, &mut events);
            }
        }
        for event in events.drain(..) {
            match event {
                Event::SignalsDetected(s) if (s.frequency_hz - f).abs() < 2_000.0 => {
                    emitters
                        .entry(s.signal_id.clone())
                        .or_default()
                        .push(s.identity.emitter_id.clone());
                }
                Event::LocalizationsUpdated(fix) => {
                    fixes.insert(fix.signal_id.clone(), GeoPoint::new(fix.latitude, fix.longitude));
                }
                _ => {}
            }
        }
    }
    eprintln!("emitters per track: {emitters:?}");
    let tracks: Vec<&Vec<String>> = emitters.values().collect();
    assert_eq!(tracks.len(), 3, "three transmissions: {emitters:?}");
    let last = |t: &Vec<String>| t.last().cloned().expect("reported");
    let north = last(tracks[0]);
    assert!(tracks[0].iter().all(|e| *e == north), "{emitters:?}");
    // The South transmitter matches by frequency at first; once located it is another emitter.
    assert_eq!(tracks[1].first(), Some(&north), "{emitters:?}");
    assert_ne!(
        last(tracks[1]),
        north,
        "located 12 km away: another emitter: {emitters:?}"
    );
    // North again is North's emitter (directly, or given back once located there).
    assert_eq!(last(tracks[2]), north, "{emitters:?}");
    for (id, fix) in &fixes {
        eprintln!("{id} located at {:.4}, {:.4}", fix.lat_deg, fix.lon_deg);
    }
}
