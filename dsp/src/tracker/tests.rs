use super::*;

const FRAME_NS: i64 = 32_000_000;

fn det(frequency_hz: f64, bandwidth_hz: f64, snr_db: f64) -> Detection {
    let power_fs = 10f64.powf((snr_db - 80.0) / 10.0);
    Detection {
        frequency_hz,
        bandwidth_hz,
        power_fs,
        power_dbfs: crate::db(power_fs),
        peak_dbfs: crate::db(power_fs),
        snr_db,
        noise_dbfs: -80.0,
        first_bin: 0,
        last_bin: 0,
        carrier_hz: None,
    }
}

fn kinds(events: &[TrackEvent]) -> Vec<TrackEventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn a_steady_signal_is_reported_once_then_lost_once() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut events = Vec::new();
    for frame in 0..100 {
        tracker.update(
            0,
            frame * FRAME_NS,
            &[det(145e6 + (frame % 3) as f64 * 10.0, 250.0, 30.0)],
            &mut events,
        );
    }
    assert_eq!(kinds(&events), vec![TrackEventKind::New], "no per-frame chatter");
    let id = events[0].summary.id;
    tracker.expire(100 * FRAME_NS + 2_000_000_000, &mut events);
    assert_eq!(events.len(), 1, "not lost before lost_after");
    tracker.expire(100 * FRAME_NS + 3_100_000_000, &mut events);
    assert_eq!(kinds(&events), vec![TrackEventKind::New, TrackEventKind::Lost]);
    assert_eq!(events[1].summary.id, id);
    assert!(tracker.tracks().is_empty());
}

#[test]
fn a_single_false_alarm_never_reaches_the_user() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut events = Vec::new();
    tracker.update(0, 0, &[det(145.1e6, 250.0, 12.0)], &mut events);
    for frame in 1..200 {
        tracker.update(0, frame * FRAME_NS, &[], &mut events);
    }
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn receivers_seeing_the_same_signal_share_one_track() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut events = Vec::new();
    for frame in 0..10 {
        // Receiver 2 has a 300 Hz frequency error; it is still the same transmission.
        tracker.update(0, frame * FRAME_NS, &[det(145e6, 12_000.0, 20.0)], &mut events);
        tracker.update(
            1,
            frame * FRAME_NS,
            &[det(145e6 + 40.0, 12_000.0, 25.0)],
            &mut events,
        );
        tracker.update(
            2,
            frame * FRAME_NS,
            &[det(145e6 + 300.0, 12_000.0, 15.0)],
            &mut events,
        );
    }
    let ids: std::collections::BTreeSet<u64> = events.iter().map(|e| e.summary.id).collect();
    assert_eq!(ids.len(), 1, "{events:?}");
    let last = &events.last().unwrap().summary;
    assert_eq!(last.receivers, vec![0, 1, 2]);
    assert_eq!(
        last.best_receiver, 1,
        "the best receiver is the one with the highest SNR"
    );
    assert_eq!(tracker.tracks().len(), 1);
}

#[test]
fn two_carriers_apart_are_two_signals_with_distinct_stable_ids() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut events = Vec::new();
    for frame in 0..20 {
        tracker.update(
            0,
            frame * FRAME_NS,
            &[det(145e6, 250.0, 20.0), det(145.05e6, 250.0, 20.0)],
            &mut events,
        );
    }
    assert_eq!(kinds(&events), vec![TrackEventKind::New, TrackEventKind::New]);
    assert_ne!(events[0].summary.id, events[1].summary.id);
}

#[test]
fn a_material_change_is_reported_but_jitter_is_not() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut events = Vec::new();
    let mut t = 0;
    for frame in 0..60 {
        t = frame * FRAME_NS;
        tracker.update(0, t, &[det(145e6, 250.0, 20.0 + (frame % 2) as f64)], &mut events);
    }
    assert_eq!(kinds(&events), vec![TrackEventKind::New]);
    // The transmitter gets 10 dB stronger.
    for frame in 60..120 {
        t = frame * FRAME_NS;
        tracker.update(0, t, &[det(145e6, 250.0, 30.0)], &mut events);
    }
    // Reported as it changes, not once per spectrum: the smoothed SNR crosses the 3 dB step
    // at most a few times on its way to the new level.
    let updates = events.iter().filter(|e| e.kind == TrackEventKind::Update).count();
    assert!((1..=3).contains(&updates), "{:?}", kinds(&events));
    assert!(events.last().unwrap().summary.snr_db > 27.0);
    assert!(t > 0);
}

#[test]
fn the_sidelobes_of_a_strong_digital_signal_are_not_separate_signals() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut events = Vec::new();
    let main = |f: f64| Detection {
        peak_dbfs: -50.0,
        ..det(f, 8_000.0, 40.0)
    };
    let lobe = |f: f64, snr: f64| Detection {
        peak_dbfs: -90.0 + snr,
        ..det(f, 300.0, snr)
    };
    for frame in 0..30 {
        // Sidelobes first in the list: order must not matter.
        let frame_dets = [
            lobe(144.7866e6, 6.0),
            lobe(144.8063e6, 14.0),
            main(144.8e6),
            lobe(144.8131e6, 6.0),
        ];
        tracker.update(0, frame * FRAME_NS, &frame_dets, &mut events);
    }
    assert_eq!(kinds(&events), vec![TrackEventKind::New], "{events:?}");
    assert!((events[0].summary.frequency_hz - 144.8e6).abs() < 1.0);
    // A weak signal well away from the strong one is still its own signal.
    for frame in 30..40 {
        let frame_dets = [main(144.8e6), lobe(144.85e6, 8.0)];
        tracker.update(0, frame * FRAME_NS, &frame_dets, &mut events);
    }
    assert_eq!(kinds(&events), vec![TrackEventKind::New, TrackEventKind::New]);
}

#[test]
fn a_receiver_that_stops_seeing_a_signal_is_dropped_from_it() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut events = Vec::new();
    for frame in 0..10 {
        tracker.update(0, frame * FRAME_NS, &[det(145e6, 250.0, 20.0)], &mut events);
        tracker.update(1, frame * FRAME_NS, &[det(145e6, 250.0, 20.0)], &mut events);
    }
    for frame in 10..150 {
        tracker.update(0, frame * FRAME_NS, &[det(145e6, 250.0, 20.0)], &mut events);
    }
    let last = &events.last().unwrap().summary;
    assert_eq!(last.receivers, vec![0]);
    assert_eq!(events.last().unwrap().kind, TrackEventKind::Update);
}

#[test]
fn mean_power_standard_error_matches_the_spread_of_the_measurements() {
    let mut obs = Observation::new(0, 32);
    // Alternating +-10 % around 1e-3: mean 1e-3, sample std ~1e-4, SEM ~1e-4/sqrt(32).
    for i in 0..32 {
        let p = if i % 2 == 0 { 1.1e-3 } else { 0.9e-3 };
        let merged = Merged {
            frequency_hz: 0.0,
            bandwidth_hz: 1.0,
            power_fs: p,
            snr_db: 10.0,
            peak_dbfs: -30.0,
        };
        obs.record(i, &merged, 32);
    }
    let (mean_db, sem_db) = obs.mean_power_db().unwrap();
    assert!((mean_db - -30.0).abs() < 1e-9, "{mean_db}");
    let expected = 10.0 / std::f64::consts::LN_10 * (1e-4 * (32.0f64 / 31.0).sqrt() / 32f64.sqrt()) / 1e-3;
    assert!((sem_db - expected).abs() < 1e-9, "{sem_db} vs {expected}");
}

#[test]
fn the_latest_power_follows_the_ring_through_wrap_around() {
    let mut observation = Observation::new(0, 3);
    assert_eq!(observation.latest_power_db(), None);
    for (n, power) in [1.0, 10.0, 100.0, 1000.0, 0.1].iter().enumerate() {
        let merged = Merged {
            frequency_hz: 1e6,
            bandwidth_hz: 1e3,
            snr_db: 10.0,
            peak_dbfs: -20.0,
            power_fs: *power,
        };
        observation.record(n as i64, &merged, 3);
        let db = observation.latest_power_db().expect("a power");
        assert!((db - 10.0 * power.log10()).abs() < 1e-9, "{n}: {db}");
    }
}
