//! Reading back what was written: signals and their pages, fixes, occupancy, known signals,
//! novelty.

use crate::fixture::*;
use sdrhub::events::history::{KnownSignalDraft, ReceiverStatusChange, ServiceHealthChange};
use sdrhub::events::{HealthStatus, ReceiverStatus, SignalState, Timestamp};
use sdrhub::history::occupancy::{OccupancyAccumulator, Spectrum, MINUTE_NS};
use sdrhub::history::query::{BBox, LocalizationQuery, OccupancyQuery, SignalQuery};
use sdrhub::history::record::OccupancyRecord;
use sdrhub::history::{Backend, Entry, HistoryError, Record};

/// Reports, observations, fixes, status and health changes read back as written.
pub async fn round_trip(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    write(
        store,
        vec![
            Record::Signal(Box::new(report("sig-1", SignalState::New, 0, 0, 20.0, &["rx1"]))),
            Record::Signal(Box::new(report(
                "sig-1",
                SignalState::Update,
                0,
                10,
                30.0,
                &["rx2", "rx1"],
            ))),
            observation("sig-1", 0, "rx1", 0, -80.0),
            observation("sig-1", 0, "rx2", 5, -70.0),
            Record::Localization(Box::new(fix("sig-1", 11, 48.9, 2.3))),
            Record::Signal(Box::new(report(
                "sig-1",
                SignalState::Lost,
                0,
                12,
                10.0,
                &["rx2"],
            ))),
            Record::ReceiverStatus(ReceiverStatusChange {
                time: Timestamp(t0()),
                receiver: "rx1".into(),
                status: ReceiverStatus::Degraded,
                detail: Some("samples lost".into()),
            }),
            Record::ServiceHealth(ServiceHealthChange {
                time: Timestamp(t0() + S),
                service: "dsp".into(),
                status: HealthStatus::Unhealthy,
                detail: "behind".into(),
            }),
        ],
    )
    .await;
    // The same live id after a restart is another track.
    write(
        store,
        vec![Record::Signal(Box::new(report(
            "sig-1",
            SignalState::New,
            100,
            100,
            15.0,
            &["rx3"],
        )))],
    )
    .await;

    let signals = everything(store).await;
    assert_eq!(signals.len(), 2);
    let (newer, older) = (&signals[0], &signals[1]);
    assert_eq!(newer.first_seen, Timestamp(t0() + 100 * S));
    assert_eq!(newer.receivers, ["rx3"]);
    assert_eq!(older.signal_id, "sig-1");
    assert_eq!(
        (older.first_seen, older.last_seen),
        (Timestamp(t0()), Timestamp(t0() + 12 * S))
    );
    assert_eq!(older.reports, 2, "the lost report counts in no mean");
    assert_eq!((older.peak_snr_db, older.mean_snr_db), (30.0, 25.0));
    assert_eq!((older.peak_power_dbfs, older.mean_power_dbfs), (-70.0, -75.0));
    assert_eq!(older.peak_bin_dbfs, -60.0);
    assert_eq!(
        older.frequency_hz,
        145.5e6 + 12.0,
        "the latest report's frequency"
    );
    assert_eq!(older.best_receiver, "rx2");
    assert_eq!(older.receivers, ["rx1", "rx2"]);
    assert!(older.lost && !newer.lost);

    let detail = store.signal(older.id).await.unwrap().expect("the track");
    assert_eq!(detail.signal, *older);
    assert!(!detail.truncated);
    let obs: Vec<(&str, Timestamp, f64)> = detail
        .observations
        .iter()
        .map(|o| (o.receiver.as_str(), o.start, o.power_mean_dbfs))
        .collect();
    assert_eq!(
        obs,
        [
            ("rx1", Timestamp(t0()), -80.0),
            ("rx2", Timestamp(t0() + 5 * S), -70.0)
        ]
    );
    let o = &detail.observations[0];
    assert_eq!(
        (o.signal, o.stop, o.samples),
        (older.id, Timestamp(t0() + 5 * S), 10)
    );
    assert_eq!((o.power_min_dbfs, o.power_max_dbfs), (-81.0, -79.0));
    assert_eq!((o.snr_min_db, o.snr_mean_db, o.snr_max_db), (20.0, 25.0, 30.0));
    assert_eq!(detail.localizations.len(), 1);
    assert_eq!(detail.localizations[0].history_id, Some(older.id));
    assert_eq!(detail.localizations[0].localization, fix("sig-1", 11, 48.9, 2.3));
    let newer_detail = store.signal(newer.id).await.unwrap().unwrap();
    assert!(newer_detail.localizations.is_empty() && newer_detail.observations.is_empty());
    assert!(store.signal(older.id + newer.id + 1).await.unwrap().is_none());

    let status = store
        .status_changes(Timestamp(t0()), Timestamp(t0() + DAY), 10)
        .await
        .unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (status[0].status, status[0].detail.as_deref()),
        (ReceiverStatus::Degraded, Some("samples lost"))
    );
    let health = store
        .health_changes(Timestamp(t0()), Timestamp(t0() + DAY), 10)
        .await
        .unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(
        (health[0].service.as_str(), health[0].status),
        ("dsp", HealthStatus::Unhealthy)
    );
    let window = store
        .observations(Timestamp(t0() + S), Timestamp(t0() + DAY), 10)
        .await
        .unwrap();
    assert_eq!(window.len(), 1, "only the window starting in the range");
}

/// Keyset pages: newest first, no repeats or gaps even when tracks arrive between pages; the
/// filters combine.
pub async fn pagination_and_filters(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    let mut records = Vec::new();
    for i in 0..25i64 {
        // Pairs share a first_seen: the id breaks the tie.
        let first = i / 2 * 10;
        let rx = if i % 3 == 0 { "rx-a" } else { "rx-b" };
        let mut r = report(
            &format!("sig-{i}"),
            SignalState::New,
            first,
            first + 5,
            20.0,
            &[rx],
        );
        r.frequency_hz = 144e6 + i as f64 * 100e3;
        records.push(Record::Signal(Box::new(r)));
    }
    write(store, records).await;
    let query = SignalQuery {
        limit: Some(10),
        ..SignalQuery::default()
    };
    let first = store.signals(&query).await.unwrap();
    assert_eq!(first.signals.len(), 10);
    // A new track arrives between pages.
    write(
        store,
        vec![Record::Signal(Box::new(report(
            "late",
            SignalState::New,
            1000,
            1000,
            20.0,
            &["rx-a"],
        )))],
    )
    .await;
    let mut seen: Vec<(Timestamp, i64)> = first.signals.iter().map(|s| (s.first_seen, s.id)).collect();
    let mut cursor = first.next_cursor;
    let mut pages = 1;
    while let Some(c) = cursor {
        let page = store
            .signals(&SignalQuery {
                cursor: Some(c),
                ..query.clone()
            })
            .await
            .unwrap();
        seen.extend(page.signals.iter().map(|s| (s.first_seen, s.id)));
        cursor = page.next_cursor;
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen.len(),
        25,
        "every track once; the late one is not on later pages"
    );
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "strictly newest first");

    let filtered = store
        .signals(&SignalQuery {
            from: Some(Timestamp(t0() + 35 * S)),
            to: Some(Timestamp(t0() + 80 * S)),
            freq_min_hz: Some(144e6 + 700e3),
            freq_max_hz: Some(144e6 + 1500e3),
            receiver: Some("rx-b".into()),
            limit: Some(100),
            cursor: None,
        })
        .await
        .unwrap();
    let mut ids: Vec<String> = filtered.signals.iter().map(|s| s.signal_id.clone()).collect();
    ids.sort();
    // Heard in [35 s, 80 s]: first_seen 30..80 (i = 6..=17, seen until first + 5); frequency
    // i = 7..=15; rx-b: not a multiple of 3.
    assert_eq!(ids, ["sig-10", "sig-11", "sig-13", "sig-14", "sig-7", "sig-8"]);

    let bad = store
        .signals(&SignalQuery {
            cursor: Some("garbage".into()),
            ..SignalQuery::default()
        })
        .await;
    assert!(matches!(bad, Err(HistoryError::Invalid(_))), "{bad:?}");
    let bad = store
        .signals(&SignalQuery {
            limit: Some(0),
            ..SignalQuery::default()
        })
        .await;
    assert!(matches!(bad, Err(HistoryError::Invalid(_))), "{bad:?}");
}

/// Localizations by time range and box, newest first, with a limit.
pub async fn localizations_by_time_and_bbox(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    write(
        store,
        vec![
            Record::Localization(Box::new(fix("sig-1", 10, 48.85, 2.35))),
            Record::Localization(Box::new(fix("sig-2", 20, 48.95, 2.35))),
            Record::Localization(Box::new(fix("sig-3", 30, 48.86, 2.60))),
            Record::Localization(Box::new(fix("sig-4", 40, 48.87, 2.36))),
            Record::Localization(Box::new(fix("sig-5", 5000, 48.87, 2.36))),
        ],
    )
    .await;
    let query = LocalizationQuery {
        from: Some(Timestamp(t0())),
        to: Some(Timestamp(t0() + 100 * S)),
        bbox: Some(BBox::parse("2.3,48.8,2.5,48.9").unwrap()),
        limit: None,
    };
    let found = store.localizations(&query).await.unwrap();
    let ids: Vec<&str> = found
        .localizations
        .iter()
        .map(|l| l.localization.signal_id.as_str())
        .collect();
    assert_eq!(ids, ["sig-4", "sig-1"]);
    assert!(!found.truncated);
    assert_eq!(
        found.localizations[0].history_id, None,
        "no track was stored for it"
    );
    let limited = store
        .localizations(&LocalizationQuery {
            bbox: None,
            limit: Some(2),
            ..query
        })
        .await
        .unwrap();
    assert_eq!(limited.localizations.len(), 2);
    assert!(limited.truncated);
    assert_eq!(limited.localizations[0].localization.signal_id, "sig-4");
}

/// Minutes accumulated from spectra come back as a matrix; a minute stored twice is kept once.
pub async fn occupancy_matrix(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    let bins = 1024;
    let floor = vec![1.0f32; bins];
    let mut acc = OccupancyAccumulator::new("rx1", 1000.0);
    let mut records = Vec::new();
    // 1.024 MS/s: 1 kHz bins; a carrier in bin 600 in every spectrum, one in bin 700 in every
    // other spectrum; 4 spectra a minute for 3 minutes.
    for k in 0..13i64 {
        let mut psd = vec![1.0f32; bins];
        psd[600] = 1000.0;
        if k % 2 == 0 {
            psd[700] = 100.0;
        }
        let spectrum = Spectrum {
            time_ns: t0() + k * 15 * S,
            center_hz: 145e6,
            sample_rate_hz: 1.024e6,
            psd: &psd,
            floor: &floor,
            factor: 10.0,
        };
        records.extend(acc.push(&spectrum).map(Record::Occupancy));
    }
    assert_eq!(records.len(), 3);
    let other = OccupancyRecord {
        receiver: "rx2".into(),
        ..match &records[0] {
            Record::Occupancy(o) => o.clone(),
            _ => unreachable!(),
        }
    };
    records.push(Record::Occupancy(other));
    write(store, records.clone()).await;
    // A replay of the first minute changes nothing.
    let again = store.write(&[Entry::one(records[0].clone())]).await.unwrap();
    assert_eq!(again.written, 1, "accepted, and ignored by the table");

    let matrix = store
        .occupancy(&OccupancyQuery {
            receiver: "rx1".into(),
            from: Some(Timestamp(t0())),
            to: Some(Timestamp(t0() + DAY)),
            freq_min_hz: Some(145e6 + 50e3),
            freq_max_hz: Some(145e6 + 250e3),
        })
        .await
        .unwrap();
    assert_eq!(
        matrix.minutes,
        [
            Timestamp(t0()),
            Timestamp(t0() + MINUTE_NS),
            Timestamp(t0() + 2 * MINUTE_NS)
        ]
    );
    assert_eq!(matrix.spectra, [4, 4, 4]);
    assert_eq!(matrix.cell_hz, 1000.0);
    assert_eq!(matrix.frequencies_hz.len(), 201);
    let column = |f: f64| {
        matrix
            .frequencies_hz
            .iter()
            .position(|&c| (c - f).abs() < 1.0)
            .expect("a column at f")
    };
    // Bin k is centred on centre + (k - 512) kHz.
    let (carrier, half) = (column(145e6 + 88e3), column(145e6 + 188e3));
    for row in 0..3 {
        assert_eq!(matrix.occupancy[row][carrier], Some(1.0));
        assert_eq!(matrix.occupancy[row][half], Some(128.0 / 255.0));
        assert_eq!(matrix.occupancy[row][0], Some(0.0));
        assert_eq!(matrix.max_power_dbfs[row][carrier], Some(30.0));
        assert_eq!(matrix.max_power_dbfs[row][half], Some(20.0));
        assert_eq!(matrix.max_power_dbfs[row][0], Some(0.0));
    }
    let none = store
        .occupancy(&OccupancyQuery {
            receiver: "rx9".into(),
            from: Some(Timestamp(t0())),
            to: Some(Timestamp(t0() + DAY)),
            ..OccupancyQuery::default()
        })
        .await
        .unwrap();
    assert!(none.minutes.is_empty() && none.frequencies_hz.is_empty());
}

/// Known signals: create, list, read, replace, delete; the narrowest range wins a lookup.
pub async fn known_signals(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    let band = KnownSignalDraft {
        name: "2 m band".into(),
        freq_min_hz: 144e6,
        freq_max_hz: 146e6,
        tags: vec!["ham".into()],
        notes: String::new(),
        ignore: false,
    };
    let repeater = KnownSignalDraft {
        name: "Repeater".into(),
        freq_min_hz: 145.59e6,
        freq_max_hz: 145.61e6,
        tags: vec!["ham".into(), "fm".into()],
        notes: "output".into(),
        ignore: true,
    };
    let band = store.create_known_signal(&band).await.unwrap();
    let rep = store.create_known_signal(&repeater).await.unwrap();
    assert_eq!(store.known_signals().await.unwrap(), [band.clone(), rep.clone()]);
    assert_eq!(store.known_signal(rep.id).await.unwrap().as_ref(), Some(&rep));
    assert_eq!(
        (rep.name.as_str(), rep.ignore, rep.tags.len()),
        ("Repeater", true, 2)
    );

    let hit = store.known_for(145.6e6).await.unwrap().expect("inside both");
    assert_eq!(
        (hit.id, hit.name.as_str(), hit.ignore),
        (rep.id, "Repeater", true)
    );
    assert_eq!(hit.tags, ["ham", "fm"]);
    assert_eq!(
        store.known_for(144.5e6).await.unwrap().map(|k| k.id),
        Some(band.id)
    );
    assert!(store.known_for(150e6).await.unwrap().is_none());

    let moved = KnownSignalDraft {
        freq_min_hz: 146.5e6,
        freq_max_hz: 146.6e6,
        ignore: false,
        ..repeater.clone()
    };
    let updated = store
        .update_known_signal(rep.id, &moved)
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(
        (updated.freq_min_hz, updated.ignore, updated.created),
        (146.5e6, false, rep.created)
    );
    assert!(updated.updated >= rep.updated);
    assert_eq!(
        store.known_for(145.6e6).await.unwrap().map(|k| k.id),
        Some(band.id)
    );
    assert!(store.update_known_signal(9999, &moved).await.unwrap().is_none());

    let invalid = KnownSignalDraft {
        freq_max_hz: 1.0,
        ..moved
    };
    let refused = store.create_known_signal(&invalid).await;
    assert!(
        matches!(&refused, Err(HistoryError::Invalid(p)) if p[0].starts_with("freq_max_hz")),
        "{refused:?}"
    );

    assert!(store.delete_known_signal(rep.id).await.unwrap());
    assert!(!store.delete_known_signal(rep.id).await.unwrap());
    assert_eq!(store.known_signals().await.unwrap(), [band]);
}

/// A signal is novel unless something was heard near it in the last `novel_days`.
pub async fn novelty(backend: Backend) {
    let db = open_with(backend, |c| {
        c.novel_days = 7;
        c.novel_tolerance_hz = 5_000.0;
    })
    .await;
    let store = &db.store;
    let now = t0() + 30 * DAY;
    let mut recent = report("recent", SignalState::New, 0, 0, 20.0, &["rx1"]);
    recent.frequency_hz = 145.0e6;
    recent.first_seen = Timestamp(now - 3 * DAY);
    recent.timestamp = Timestamp(now - 3 * DAY + 60 * S);
    let mut old = recent.clone();
    old.signal_id = "old".into();
    old.frequency_hz = 146.0e6;
    old.first_seen = Timestamp(now - 10 * DAY);
    old.timestamp = Timestamp(now - 10 * DAY + 60 * S);
    let mut itself = recent.clone();
    itself.signal_id = "itself".into();
    itself.frequency_hz = 147.0e6;
    itself.first_seen = Timestamp(now);
    itself.timestamp = Timestamp(now);
    write(
        store,
        [recent, old, itself]
            .into_iter()
            .map(|r| Record::Signal(Box::new(r)))
            .collect(),
    )
    .await;
    let novel = |f: f64, bw: f64| store.novelty(f, bw, Timestamp(now));
    assert!(
        !novel(145.004e6, 1e3).await.unwrap(),
        "heard 3 days ago, 4 kHz away"
    );
    assert!(novel(145.006e6, 1e3).await.unwrap(), "6 kHz away");
    assert!(
        !novel(145.006e6, 16e3).await.unwrap(),
        "a wide signal's half bandwidth is its tolerance"
    );
    assert!(novel(146.0e6, 1e3).await.unwrap(), "last heard 10 days ago");
    assert!(novel(147.0e6, 1e3).await.unwrap(), "its own track does not count");
}

/// Values read back exactly as written, whichever way they are read (SQLite's window query
/// goes through JSON).
pub async fn exact_values(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    let awkward = [
        0.1 + 0.2,
        -60.123_456_789_012_345,
        1e-300,
        -1.5e300,
        123_456_789.987_654_32,
    ];
    let record = sdrhub::history::record::ObservationRecord {
        signal_id: "sig-1".into(),
        first_seen_ns: t0(),
        receiver: "rx1".into(),
        start_ns: t0() + 5 * S,
        stop_ns: t0() + 10 * S,
        samples: u32::MAX,
        power_dbfs: [awkward[0], awkward[1], awkward[2]],
        snr_db: [awkward[3], awkward[4], -0.0],
    };
    write(
        store,
        vec![
            Record::Signal(Box::new(report("sig-1", SignalState::New, 0, 0, 20.0, &["rx1"]))),
            Record::Observation(record.clone()),
        ],
    )
    .await;
    let window = store
        .observations(Timestamp(t0()), Timestamp(t0() + DAY), 10)
        .await
        .unwrap();
    let id = everything(store).await[0].id;
    let detail = store.signal(id).await.unwrap().unwrap();
    for o in [&window[0], &detail.observations[0]] {
        assert_eq!(
            (o.power_min_dbfs, o.power_mean_dbfs, o.power_max_dbfs),
            (awkward[0], awkward[1], awkward[2])
        );
        assert_eq!((o.snr_min_db, o.snr_mean_db), (awkward[3], awkward[4]));
        assert_eq!(
            (o.samples, o.start, o.stop),
            (u32::MAX, Timestamp(t0() + 5 * S), Timestamp(t0() + 10 * S))
        );
        assert_eq!(o.signal, id);
    }
}

/// A track stores the emitter its reports name (issue 19): two transmissions of one keyed
/// transmitter share it, and a report that names none (another publisher) leaves it `null`
/// without erasing one stored before.
pub async fn emitter_ids(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    let with_emitter = |id: &str, state: SignalState, first_s: i64, at_s: i64, emitter: &str| {
        let mut r = report(id, state, first_s, at_s, 20.0, &["rx1"]);
        r.identity.emitter_id = emitter.into();
        r.identity.activations = 1;
        Record::Signal(Box::new(r))
    };
    write(
        store,
        vec![
            with_emitter("sig-1", SignalState::New, 0, 0, "em-4"),
            // A report without an emitter does not erase the stored one.
            with_emitter("sig-1", SignalState::Update, 0, 5, ""),
            with_emitter("sig-1", SignalState::Lost, 0, 20, "em-4"),
            with_emitter("sig-2", SignalState::New, 30, 30, "em-4"),
            Record::Signal(Box::new(report(
                "sig-3",
                SignalState::New,
                40,
                40,
                20.0,
                &["rx1"],
            ))),
        ],
    )
    .await;
    let signals = everything(store).await;
    let emitter_of = |id: &str| {
        signals
            .iter()
            .find(|s| s.signal_id == id)
            .map(|s| s.emitter_id.clone())
            .expect("stored")
    };
    assert_eq!(emitter_of("sig-1").as_deref(), Some("em-4"));
    assert_eq!(emitter_of("sig-2").as_deref(), Some("em-4"));
    assert_eq!(emitter_of("sig-3"), None);
}
