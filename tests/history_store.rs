//! The history store against real databases: every behaviour below runs once on an SQLite file
//! and once on a real PostgreSQL server (tests/common/postgres.rs), through the same code.

mod common;

use sdrhub::events::history::{KnownSignalDraft, ReceiverStatusChange, ServiceHealthChange};
use sdrhub::events::{
    EllipseReport, HealthStatus, LocalizationMethod, LocalizationReport, ReceiverStatus, SignalReport,
    SignalState, Timestamp,
};
use sdrhub::history::mapping::{Measurement, ObservationSummariser};
use sdrhub::history::occupancy::{OccupancyAccumulator, Spectrum, MINUTE_NS};
use sdrhub::history::query::{BBox, LocalizationQuery, OccupancyQuery, SignalQuery};
use sdrhub::history::record::{ObservationRecord, OccupancyRecord, Records};
use sdrhub::history::{
    Backend, BusPosition, Entry, HistoryConfig, HistoryError, HistoryStore, HistoryWriter, Record,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const S: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * S;
/// The base of stored times: the start of yesterday (UTC), so that what the writer's own
/// prunes (by the wall clock, `retention_days` = 30) keep is what the tests wrote.
fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| (Timestamp::now().0.div_euclid(DAY) - 1) * DAY)
}

/// A store on a fresh database of `backend`, removed (SQLite) when dropped.
struct TestDb {
    store: HistoryStore,
    url: String,
    dir: Option<PathBuf>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn fresh_url(backend: Backend) -> (String, Option<PathBuf>) {
    match backend {
        Backend::Sqlite => {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "sdrhub-history-{}-{}",
                std::process::id(),
                COUNT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            // The directory is left for the store to create, as on a first start.
            (format!("sqlite://{}/db/history.sqlite", dir.display()), Some(dir))
        }
        Backend::Postgres => (common::postgres::server().fresh_database().await, None),
    }
}

async fn open_with(backend: Backend, tweak: impl FnOnce(&mut HistoryConfig)) -> TestDb {
    let (url, dir) = fresh_url(backend).await;
    let mut config = HistoryConfig {
        url: url.clone(),
        ..HistoryConfig::default()
    };
    tweak(&mut config);
    let store = HistoryStore::open(&config).await.expect("open the history store");
    assert_eq!(store.backend(), backend);
    TestDb { store, url, dir }
}

async fn open(backend: Backend) -> TestDb {
    open_with(backend, |_| {}).await
}

fn report(
    id: &str,
    state: SignalState,
    first_s: i64,
    at_s: i64,
    snr: f64,
    receivers: &[&str],
) -> SignalReport {
    SignalReport {
        signal_id: id.into(),
        state,
        frequency_hz: 145.5e6 + at_s as f64,
        frequency_mhz: 145.5,
        bandwidth_hz: 12_500.0,
        snr_db: snr,
        power_dbfs: snr - 100.0,
        peak_power_dbfs: snr - 90.0,
        websdr_id: receivers[0].into(),
        receivers: receivers.iter().map(|r| r.to_string()).collect(),
        first_seen: Timestamp(t0() + first_s * S),
        timestamp: Timestamp(t0() + at_s * S),
    }
}

fn fix(signal_id: &str, at_s: i64, latitude: f64, longitude: f64) -> LocalizationReport {
    LocalizationReport {
        signal_id: signal_id.into(),
        latitude,
        longitude,
        uncertainty_m: 250.0,
        confidence: 0.8,
        method: LocalizationMethod::Tdoa,
        ellipse: EllipseReport {
            semi_major_m: 300.0,
            semi_minor_m: 200.0,
            orientation_deg: 45.0,
        },
        receivers: vec!["rx1".into(), "rx2".into(), "rx3".into()],
        excluded: vec![sdrhub::events::Exclusion {
            receiver: "rx4".into(),
            reason: "no GPS time".into(),
        }],
        gdop: 1.7,
        note: Some("test".into()),
        frequency_hz: 145.5e6,
        timestamp: Timestamp(t0() + at_s * S),
    }
}

fn observation(signal_id: &str, first_s: i64, receiver: &str, start_s: i64, power: f64) -> Record {
    Record::Observation(ObservationRecord {
        signal_id: signal_id.into(),
        first_seen_ns: t0() + first_s * S,
        receiver: receiver.into(),
        start_ns: t0() + start_s * S,
        stop_ns: t0() + (start_s + 5) * S,
        samples: 10,
        power_dbfs: [power - 1.0, power, power + 1.0],
        snr_db: [20.0, 25.0, 30.0],
    })
}

async fn write(store: &HistoryStore, records: Vec<Record>) {
    let entries: Vec<Entry> = records.into_iter().map(Entry::one).collect();
    let outcome = store.write(&entries).await.expect("write");
    assert_eq!(outcome.written as usize, entries.len(), "{outcome:?}");
}

async fn everything(store: &HistoryStore) -> Vec<sdrhub::events::history::HistorySignal> {
    let page = store
        .signals(&SignalQuery {
            limit: Some(1000),
            ..SignalQuery::default()
        })
        .await
        .expect("signals");
    assert!(page.next_cursor.is_none());
    page.signals
}

/// Reports, observations, fixes, status and health changes read back as written.
async fn round_trip(backend: Backend) {
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
async fn pagination_and_filters(backend: Backend) {
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
async fn localizations_by_time_and_bbox(backend: Backend) {
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
async fn occupancy_matrix(backend: Backend) {
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
async fn known_signals(backend: Backend) {
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
async fn novelty(backend: Backend) {
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

/// Rows older than retention_days go; younger ones stay.
async fn retention(backend: Backend) {
    let db = open_with(backend, |c| c.retention_days = 30).await;
    let store = &db.store;
    let now = t0() + 40 * DAY;
    let mut records = Vec::new();
    for (name, age_days) in [("old", 35), ("young", 5)] {
        let at = now - age_days * DAY;
        let at_s = (at - t0()) / S;
        records.push(Record::Signal(Box::new(report(
            name,
            SignalState::New,
            at_s,
            at_s,
            20.0,
            &["rx1"],
        ))));
        records.push(observation(name, at_s, "rx1", at_s, -70.0));
        records.push(Record::Localization(Box::new(fix(name, at_s, 48.9, 2.3))));
        records.push(Record::ReceiverStatus(ReceiverStatusChange {
            time: Timestamp(at),
            receiver: "rx1".into(),
            status: ReceiverStatus::Online,
            detail: None,
        }));
        records.push(Record::ServiceHealth(ServiceHealthChange {
            time: Timestamp(at),
            service: name.into(),
            status: HealthStatus::Healthy,
            detail: String::new(),
        }));
        records.push(Record::Occupancy(OccupancyRecord {
            receiver: "rx1".into(),
            minute_ns: at.div_euclid(MINUTE_NS) * MINUTE_NS,
            start_hz: 144.5e6,
            cell_hz: 1000.0,
            spectra: 1,
            share: vec![1; 4],
            max_power_cdb: vec![-9000; 4],
        }));
    }
    write(store, records).await;
    let outcome = store.prune(now).await.unwrap();
    assert_eq!(outcome.expired_rows, 6, "one of each kind: {outcome:?}");
    assert_eq!(outcome.oversize_rows, 0);
    let signals = everything(store).await;
    assert_eq!(
        signals.iter().map(|s| s.signal_id.as_str()).collect::<Vec<_>>(),
        ["young"]
    );
    let all = (Timestamp(t0()), Timestamp(now));
    assert_eq!(store.observations(all.0, all.1, 100).await.unwrap().len(), 1);
    assert_eq!(store.status_changes(all.0, all.1, 100).await.unwrap().len(), 1);
    let health = store.health_changes(all.0, all.1, 100).await.unwrap();
    assert_eq!(
        health.iter().map(|h| h.service.as_str()).collect::<Vec<_>>(),
        ["young"]
    );
    let fixes = store
        .localizations(&LocalizationQuery {
            from: Some(all.0),
            to: Some(all.1),
            ..LocalizationQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(fixes.localizations.len(), 1);
    let occupancy = store
        .occupancy(&OccupancyQuery {
            receiver: "rx1".into(),
            from: Some(all.0),
            to: Some(all.1),
            ..OccupancyQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(occupancy.minutes.len(), 1);
}

/// Over max_bytes, the oldest rows go first and the newest stay.
async fn max_bytes(backend: Backend) {
    let minutes = 3_000i64;
    let cells = 1_000usize;
    let db = open_with(backend, |c| c.max_bytes = 4 << 20).await;
    let store = &db.store;
    // Incompressible cells (PostgreSQL compresses large values).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for chunk in 0..(minutes / 500) {
        let records = (chunk * 500..(chunk + 1) * 500)
            .map(|m| {
                Record::Occupancy(OccupancyRecord {
                    receiver: "rx1".into(),
                    minute_ns: t0() + m * MINUTE_NS,
                    start_hz: 144.5e6,
                    cell_hz: 1000.0,
                    spectra: 1875,
                    share: (0..cells).map(|_| noise() as u8).collect(),
                    max_power_cdb: (0..cells).map(|_| noise() as i16).collect(),
                })
            })
            .collect();
        write(store, records).await;
    }
    let before = store.size_bytes().await.unwrap();
    assert!(
        before > 8 << 20,
        "{before} bytes: the test must overflow max_bytes"
    );
    let now = t0() + minutes * MINUTE_NS;
    let outcome = store.prune(now).await.unwrap();
    assert_eq!(outcome.expired_rows, 0);
    assert!(outcome.oversize_rows > 0, "{outcome:?}");
    if backend == Backend::Sqlite {
        assert!(outcome.size_bytes <= 4 << 20, "{outcome:?}");
    }
    let kept = store
        .occupancy(&OccupancyQuery {
            receiver: "rx1".into(),
            from: Some(Timestamp(t0())),
            to: Some(Timestamp(now)),
            ..OccupancyQuery::default()
        })
        .await
        .unwrap();
    let remaining = kept.minutes.len() as i64;
    assert_eq!(remaining, minutes - outcome.oversize_rows as i64);
    assert!(
        remaining < minutes / 2,
        "{remaining} of {minutes} minutes kept from {before} bytes"
    );
    assert!(remaining > 0);
    assert_eq!(
        kept.minutes.last(),
        Some(&Timestamp(t0() + (minutes - 1) * MINUTE_NS)),
        "the newest stays"
    );
    assert_eq!(
        kept.minutes.first(),
        Some(&Timestamp(t0() + (minutes - remaining) * MINUTE_NS)),
        "the oldest went first"
    );
    if backend == Backend::Postgres {
        let again = store.prune(now).await.unwrap();
        assert_eq!(
            again.oversize_rows, 0,
            "freed space is reused before pruning again: {again:?}"
        );
    }
}

fn at(stream: &str, seq: u64, records: Vec<Record>) -> Entry {
    Entry {
        position: Some(BusPosition {
            stream: stream.into(),
            seq,
        }),
        records: Records::Many(records),
    }
}

/// Events from the bus are written once, however often they are delivered.
async fn idempotent_by_sequence(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    let event = |seq: u64| {
        let s = seq as i64;
        at(
            "SDRHUB_EVENTS",
            seq,
            vec![
                Record::Signal(Box::new(report(
                    &format!("sig-{seq}"),
                    SignalState::New,
                    s,
                    s,
                    20.0,
                    &["rx1"],
                ))),
                observation(&format!("sig-{seq}"), s, "rx1", s, -70.0),
            ],
        )
    };
    assert_eq!(store.bus_position("SDRHUB_EVENTS").await.unwrap(), None);
    let first = store
        .write(&(1..=5).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!((first.written, first.duplicates), (10, 0));
    assert_eq!(store.bus_position("SDRHUB_EVENTS").await.unwrap(), Some(5));
    // A redelivery of 3..=5 with 6..=7, and an event of another stream with a low sequence.
    let mut again: Vec<Entry> = (3..=7).map(event).collect();
    again.push(at(
        "OTHER",
        1,
        vec![Record::Signal(Box::new(report(
            "other",
            SignalState::New,
            0,
            0,
            1.0,
            &["rx9"],
        )))],
    ));
    let second = store.write(&again).await.unwrap();
    assert_eq!((second.written, second.duplicates), (5, 6));
    assert_eq!(store.bus_position("SDRHUB_EVENTS").await.unwrap(), Some(7));
    assert_eq!(store.bus_position("OTHER").await.unwrap(), Some(1));
    let signals = everything(store).await;
    assert_eq!(signals.len(), 8);
    assert!(
        signals.iter().all(|s| s.reports == 1),
        "no report folded in twice"
    );
    let observations = store
        .observations(Timestamp(t0()), Timestamp(t0() + DAY), 100)
        .await
        .unwrap();
    assert_eq!(observations.len(), 7);
}

/// A full queue drops (and counts) records without waiting; batches follow batch_size.
async fn writer_drops_and_batches(backend: Backend) {
    let db = open_with(backend, |c| {
        c.queue = 16;
        c.batch_size = 5;
    })
    .await;
    write(
        &db.store,
        vec![Record::Signal(Box::new(report(
            "sig-1",
            SignalState::New,
            0,
            0,
            20.0,
            &["rx1"],
        )))],
    )
    .await;
    let (writer, task) = HistoryWriter::spawn(db.store.clone());
    // This runtime has one thread and nothing here yields: the writer cannot take any entry
    // until the loop ends, so the queue holds exactly 16.
    let accepted = (0..100)
        .filter(|&i| writer.try_record(observation("sig-1", 0, "rx1", i * 5, -70.0)))
        .count();
    assert_eq!(accepted, 16);
    let counters = writer.counters();
    assert_eq!(
        (counters.queued, counters.accepted, counters.dropped),
        (16, 16, 84)
    );
    assert!(writer.flush().await);
    let counters = writer.counters();
    assert_eq!((counters.written, counters.batches, counters.queued), (16, 4, 0));
    assert_eq!(
        writer.counters().health().0,
        HealthStatus::Degraded,
        "records were lost"
    );
    let stored = db
        .store
        .observations(Timestamp(t0()), Timestamp(t0() + DAY), 1000)
        .await
        .unwrap();
    assert_eq!(stored.len(), 16);

    // Time bounds a batch too: one record is written within a few batch_ms without a flush.
    assert!(writer.try_record(observation("sig-1", 0, "rx2", 0, -70.0)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while writer.counters().written < 17 {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", writer.counters());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(writer);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the writer ends when its handles are gone")
        .unwrap();
}

/// The environment variables of the crash child.
const CRASH_URL: &str = "SDRHUB_HISTORY_CRASH_URL";

/// Writes through the writer as fast as it can, printing how many records are committed, until
/// it is killed. Run by [`crash_safety`] as a child process; does nothing on its own.
#[tokio::test]
#[ignore = "a helper process of crash_safety"]
async fn crash_child() {
    let Ok(url) = std::env::var(CRASH_URL) else {
        return;
    };
    let store = HistoryStore::open(&HistoryConfig {
        url,
        ..HistoryConfig::default()
    })
    .await
    .unwrap();
    let (writer, _task) = HistoryWriter::spawn(store);
    let mut summariser = ObservationSummariser::new(S);
    let mut out = Vec::new();
    for round in 0i64.. {
        let first_s = round;
        let id = format!("sig-{round}");
        writer.try_record(Record::Signal(Box::new(report(
            &id,
            SignalState::New,
            first_s,
            first_s,
            20.0,
            &["rx1"],
        ))));
        for k in 0..500i64 {
            summariser.observe(
                &Measurement {
                    signal_id: &id,
                    first_seen_ns: t0() + first_s * S,
                    receiver: "rx1",
                    time_ns: t0() + first_s * S + k * S,
                    power_dbfs: -70.0,
                    snr_db: 20.0,
                },
                &mut out,
            );
        }
        for record in out.drain(..) {
            writer.try_record(record);
        }
        writer.flush().await;
        let c = writer.counters();
        println!("committed {} signals {}", c.written, round + 1);
    }
}

/// A writer killed with SIGKILL mid-write leaves a sound database with everything it had
/// committed.
async fn crash_safety(backend: Backend) {
    let (url, dir) = fresh_url(backend).await;
    let _cleanup = TestDbDir(dir);
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CRASH_URL, &url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut last = (0u64, 0u64);
        let started = std::time::Instant::now();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["committed", written, "signals", signals] = words[..] {
                last = (written.parse().unwrap(), signals.parse().unwrap());
                if last.1 >= 20 && started.elapsed() > Duration::from_millis(1500) {
                    break;
                }
            }
        }
        last
    });
    let (written, signals) = reader.join().unwrap();
    // SIGKILL, mid-batch with high probability: the child never stops writing.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        signals >= 20,
        "the child committed {signals} rounds ({written} records)"
    );

    let store = HistoryStore::open(&HistoryConfig {
        url,
        ..HistoryConfig::default()
    })
    .await
    .expect("reopen after the kill");
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    let stored = everything_paged(&store).await;
    assert!(
        stored >= signals,
        "{stored} signals stored, {signals} were committed before the kill"
    );
    let observations = store
        .observations(Timestamp(t0()), Timestamp(t0() + 100 * DAY), 200_000)
        .await
        .unwrap();
    assert!(
        observations.len() as u64 >= written - signals,
        "{} observations stored, {} committed",
        observations.len(),
        written - signals
    );
    // Still writable.
    write(
        &store,
        vec![Record::Signal(Box::new(report(
            "after",
            SignalState::New,
            0,
            0,
            1.0,
            &["rx1"],
        )))],
    )
    .await;
}

struct TestDbDir(Option<PathBuf>);

impl Drop for TestDbDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn everything_paged(store: &HistoryStore) -> u64 {
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page = store
            .signals(&SignalQuery {
                limit: Some(1000),
                cursor,
                ..SignalQuery::default()
            })
            .await
            .unwrap();
        count += page.signals.len() as u64;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return count,
        }
    }
}

/// The database survives a restart of the store (reopened, not recreated: migrations are
/// versioned and run once).
async fn reopen_keeps_data(backend: Backend) {
    let db = open(backend).await;
    write(
        &db.store,
        vec![Record::Signal(Box::new(report(
            "sig-1",
            SignalState::New,
            0,
            0,
            20.0,
            &["rx1"],
        )))],
    )
    .await;
    db.store.close().await;
    let again = HistoryStore::open(&HistoryConfig {
        url: db.url.clone(),
        ..HistoryConfig::default()
    })
    .await
    .expect("reopen");
    assert_eq!(everything(&again).await.len(), 1);
    assert_eq!(again.integrity_check().await.unwrap(), "ok");
}

/// Instantiates every behaviour for both backends.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(sdrhub::history::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(sdrhub::history::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_backends!(
    round_trip,
    pagination_and_filters,
    localizations_by_time_and_bbox,
    occupancy_matrix,
    known_signals,
    novelty,
    retention,
    max_bytes,
    idempotent_by_sequence,
    writer_drops_and_batches,
    crash_safety,
    reopen_keeps_data,
);
