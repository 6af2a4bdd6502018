//! The write path: retention, size limit, idempotence by bus sequence, the writer's queue,
//! reopening.

use crate::fixture::*;
use sdrhub::events::history::{ReceiverStatusChange, ServiceHealthChange};
use sdrhub::events::{HealthStatus, ReceiverStatus, SignalState, Timestamp};
use sdrhub::history::occupancy::MINUTE_NS;
use sdrhub::history::query::{LocalizationQuery, OccupancyQuery};
use sdrhub::history::record::OccupancyRecord;
use sdrhub::history::{Backend, Entry, HistoryConfig, HistoryStore, HistoryWriter, Record};
use std::time::Duration;

/// Rows older than retention_days go; younger ones stay.
pub async fn retention(backend: Backend) {
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
pub async fn max_bytes(backend: Backend) {
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

/// Events from the bus are written once, however often they are delivered.
pub async fn idempotent_by_sequence(backend: Backend) {
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
    // 6 redelivered within the batch, before it commits.
    again.push(event(6));
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
    assert_eq!((second.written, second.duplicates), (5, 8));
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
    // Two writers of one stream at once (a restarted history-writer overlapping the old one):
    // each event once.
    let batch: Vec<Entry> = (8..=10).map(event).collect();
    let other = store.clone();
    let (a, b) = tokio::join!(store.write(&batch), other.write(&batch));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.written + b.written, a.duplicates + b.duplicates),
        (6, 6),
        "{a:?} {b:?}"
    );
    assert_eq!(store.bus_position("SDRHUB_EVENTS").await.unwrap(), Some(10));
    assert_eq!(everything(store).await.len(), 11);
    // A summary stored again outside the bus (a replay of a recording) is stored once.
    write(store, vec![observation("sig-7", 7, "rx1", 7, -70.0)]).await;
    let observations = store
        .observations(Timestamp(t0()), Timestamp(t0() + DAY), 100)
        .await
        .unwrap();
    assert_eq!(observations.len(), 10);
}

/// A full queue drops (and counts) records without waiting; batches follow batch_size.
pub async fn writer_drops_and_batches(backend: Backend) {
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

/// The database survives a restart of the store (reopened, not recreated: migrations are
/// versioned and run once).
pub async fn reopen_keeps_data(backend: Backend) {
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

/// A steady carrier is reported once and then only observed: its observation windows keep its
/// `last_seen` moving, so a search over the last hour of a day-long carrier still finds it.
pub async fn observations_keep_a_track_seen(backend: Backend) {
    let db = open(backend).await;
    let store = &db.store;
    let mut records = vec![Record::Signal(Box::new(report(
        "carrier",
        SignalState::New,
        0,
        0,
        20.0,
        &["rx1"],
    )))];
    records.extend((0..3).map(|hour| observation("carrier", 0, "rx1", hour * 3600 + 600, -70.0)));
    write(store, records).await;
    let signals = everything(store).await;
    assert_eq!(signals.len(), 1);
    assert_eq!(
        signals[0].last_seen,
        Timestamp(t0() + (2 * 3600 + 605) * S),
        "last_seen is the end of its last observation window"
    );
    let recent = store
        .signals(&sdrhub::history::query::SignalQuery {
            from: Some(Timestamp(t0() + 2 * 3600 * S)),
            ..Default::default()
        })
        .await
        .expect("signals");
    assert_eq!(recent.signals.len(), 1, "heard in the last hour, so found");
    // An older window arriving late (a replay) does not move it back.
    write(store, vec![observation("carrier", 0, "rx1", 1800, -70.0)]).await;
    assert_eq!(everything(store).await[0].last_seen, signals[0].last_seen);
    // A burst lost at 3 s keeps that time, though its closing window ends at 5 s.
    write(
        store,
        vec![
            Record::Signal(Box::new(report("burst", SignalState::New, 0, 0, 20.0, &["rx1"]))),
            Record::Signal(Box::new(report("burst", SignalState::Lost, 0, 3, 20.0, &["rx1"]))),
            observation("burst", 0, "rx1", 0, -70.0),
        ],
    )
    .await;
    let burst = everything(store)
        .await
        .into_iter()
        .find(|s| s.signal_id == "burst")
        .unwrap();
    assert_eq!(
        burst.last_seen,
        Timestamp(t0() + 3 * S),
        "a lost burst's last_seen is its lost report's"
    );
}
