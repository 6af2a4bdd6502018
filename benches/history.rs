//! History store costs on SQLite (the embedded default), in temporary files:
//!
//! - `insert/observations_through_writer`: observation summaries pushed through the
//!   [`HistoryWriter`] (queue, batches, transactions) until committed, while the default hub
//!   (five simulated receivers, DSP, tracking, localization) runs in the same process;
//! - `query/observations_1h_of_10m`: every observation of a one-hour window, out of 10 million
//!   stored (built once into `$TMPDIR/sdrhub-bench-history-10m.sqlite` and reused by later runs);
//! - `query/signals_1h_page_of_100`: the first page of signals heard in a one-hour window, same
//!   database; `query/novelty_*`: the novelty lookup made for every new track, in its best and
//!   worst case;
//! - `query/occupancy_24h_1440x1000`: one receiver's occupancy matrix over a day of 1 000-cell
//!   minutes (five receivers stored).
//!
//! `cargo bench --bench history`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sdrhub::events::{SignalReport, SignalState, Timestamp};
use sdrhub::history::occupancy::MINUTE_NS;
use sdrhub::history::query::{OccupancyQuery, SignalQuery};
use sdrhub::history::record::{ObservationRecord, OccupancyRecord};
use sdrhub::history::{Entry, HistoryConfig, HistoryStore, HistoryWriter, Record};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const S: i64 = 1_000_000_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600 * S;
/// Observations in the query database.
const STORED_OBSERVATIONS: i64 = 10_000_000;
/// They span 20 days: ~5.8 a second, about what five receivers hearing a few signals each
/// store with 5 s windows, so an hour holds ~21 000.
const STORED_SPAN_NS: i64 = 20 * 86_400 * S;
/// Receivers of the default scene.
const RECEIVERS: [&str; 5] = ["sim-1", "sim-2", "sim-3", "sim-4", "sim-5"];
/// Observations per track in the generated data (10 minutes of 5 s windows at 5 receivers).
const OBSERVATIONS_PER_TRACK: i64 = 600;
/// Observations per transaction while building.
const BUILD_BATCH: usize = 50_000;
/// Observations pushed per insert iteration.
const INSERT_BATCH: u64 = 50_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn config(path: &Path) -> HistoryConfig {
    HistoryConfig {
        url: format!("sqlite://{}", path.display()),
        queue: 1 << 18,
        max_bytes: 1 << 40,
        retention_days: 3650,
        ..HistoryConfig::default()
    }
}

fn report(signal_id: &str, first_seen_ns: i64) -> Record {
    Record::Signal(Box::new(SignalReport {
        signal_id: signal_id.into(),
        state: SignalState::New,
        frequency_hz: 145e6,
        frequency_mhz: 145.0,
        bandwidth_hz: 12_500.0,
        snr_db: 30.0,
        power_dbfs: -60.0,
        peak_power_dbfs: -50.0,
        websdr_id: RECEIVERS[0].into(),
        receivers: RECEIVERS.iter().map(|r| r.to_string()).collect(),
        first_seen: Timestamp(first_seen_ns),
        timestamp: Timestamp(first_seen_ns),
        known: None,
        novel: false,
        identity: Default::default(),
    }))
}

fn observation(signal_id: &str, first_seen_ns: i64, receiver: &str, start_ns: i64) -> Record {
    Record::Observation(ObservationRecord {
        signal_id: signal_id.into(),
        first_seen_ns,
        receiver: receiver.into(),
        start_ns,
        stop_ns: start_ns + 5 * S,
        samples: 150,
        power_dbfs: [-62.0, -60.0, -58.0],
        snr_db: [28.0, 30.0, 32.0],
    })
}

fn insert(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("sdrhub-bench-insert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("history.sqlite");
    let (store, writer, server) = rt.block_on(async {
        let mut hub_config = sdrhub::config::Config::default();
        hub_config.server.bind = "127.0.0.1:0".into();
        hub_config.history.enabled = false;
        let server = sdrhub::roles::RunningServer::start(hub_config).expect("the default hub starts");
        let store = HistoryStore::open(&config(&path)).await.expect("open");
        let (writer, _task) = HistoryWriter::spawn(store.clone());
        (store, writer, server)
    });
    let mut round = 0i64;
    let mut group = c.benchmark_group("insert");
    group.throughput(Throughput::Elements(INSERT_BATCH));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("observations_through_writer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let first_seen = T0 + round * S;
                let id = format!("sig-{round}");
                let records: Vec<Record> = (0..INSERT_BATCH as i64)
                    .map(|k| {
                        observation(
                            &id,
                            first_seen,
                            RECEIVERS[(k % 5) as usize],
                            first_seen + k / 5 * 5 * S,
                        )
                    })
                    .collect();
                let started = Instant::now();
                rt.block_on(async {
                    assert!(writer.try_record(report(&id, first_seen)));
                    for record in records {
                        assert!(writer.try_record(record), "the queue holds a whole round");
                    }
                    assert!(writer.flush().await);
                });
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
    let counters = writer.counters();
    assert_eq!(
        (counters.dropped, counters.failed, counters.orphans),
        (0, 0, 0),
        "{counters:?}"
    );
    rt.block_on(async {
        server.stop().await.expect("the hub stops");
        store.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The 10-million-observation database, built on first use.
async fn ten_million() -> HistoryStore {
    let path = std::env::temp_dir().join("sdrhub-bench-history-10m.sqlite");
    let store = HistoryStore::open(&config(&path)).await.expect("open");
    let stored = store
        .observations(
            Timestamp(T0 + STORED_SPAN_NS - 3600 * S),
            Timestamp(T0 + STORED_SPAN_NS),
            200_000,
        )
        .await
        .expect("count")
        .len();
    if stored > 0 {
        return store;
    }
    eprintln!(
        "building {STORED_OBSERVATIONS} observations in {} (once)",
        path.display()
    );
    let started = Instant::now();
    let step = STORED_SPAN_NS / STORED_OBSERVATIONS;
    let mut batch = Vec::with_capacity(BUILD_BATCH);
    for k in 0..STORED_OBSERVATIONS {
        let track = k / OBSERVATIONS_PER_TRACK;
        let first_seen = T0 + track * OBSERVATIONS_PER_TRACK * step;
        let id = format!("sig-{track}");
        if k % OBSERVATIONS_PER_TRACK == 0 {
            batch.push(Entry::one(report(&id, first_seen)));
        }
        batch.push(Entry::one(observation(
            &id,
            first_seen,
            RECEIVERS[(k % 5) as usize],
            T0 + k * step,
        )));
        if batch.len() >= BUILD_BATCH || k + 1 == STORED_OBSERVATIONS {
            store.write(&batch).await.expect("build batch");
            batch.clear();
        }
    }
    eprintln!(
        "built in {:.0} s, {} MB",
        started.elapsed().as_secs_f64(),
        store.size_bytes().await.unwrap_or(0) / 1_000_000
    );
    store
}

fn window_query(c: &mut Criterion) {
    let rt = runtime();
    let store = rt.block_on(ten_million());
    let mut group = c.benchmark_group("query");
    group.sample_size(20);
    let mut hour = 0i64;
    let hours = STORED_SPAN_NS / (3600 * S);
    group.bench_function("observations_1h_of_10m", |b| {
        b.iter(|| {
            // A different hour each time (a cold part of the index more often than not).
            hour = (hour + 97) % hours;
            let from = T0 + hour * 3600 * S;
            let rows = rt
                .block_on(store.observations(Timestamp(from), Timestamp(from + 3600 * S), 200_000))
                .expect("query");
            assert!(rows.len() > 15_000, "{} rows", rows.len());
            black_box(rows)
        })
    });
    group.bench_function("signals_1h_page_of_100", |b| {
        b.iter(|| {
            hour = (hour + 97) % hours;
            let from = T0 + hour * 3600 * S;
            let page = rt
                .block_on(store.signals(&SignalQuery {
                    from: Some(Timestamp(from)),
                    to: Some(Timestamp(from + 3600 * S)),
                    limit: Some(100),
                    ..SignalQuery::default()
                }))
                .expect("query");
            assert!(!page.signals.is_empty());
            black_box(page)
        })
    });
    // Every stored track is at 145 MHz: a new signal there is not novel (the newest track ends
    // the search), and eight days after the last one it is (every track there is visited).
    for (name, now) in [
        ("novelty_heard", T0 + STORED_SPAN_NS),
        ("novelty_worst_case", T0 + STORED_SPAN_NS + 8 * 86_400 * S),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let novel = rt
                    .block_on(store.novelty(145e6, 12_500.0, Timestamp(now)))
                    .expect("novelty");
                assert_eq!(novel, name == "novelty_worst_case");
            })
        });
    }
    group.finish();
    rt.block_on(store.close());
}

fn occupancy_query(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("sdrhub-bench-occupancy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("history.sqlite");
    let store = rt.block_on(async {
        let store = HistoryStore::open(&config(&path)).await.expect("open");
        let mut noise = 0x9e37_79b9_7f4a_7c15u64;
        for receiver in RECEIVERS {
            let entries: Vec<Entry> = (0..1440)
                .map(|m| {
                    let mut next = || {
                        noise ^= noise << 13;
                        noise ^= noise >> 7;
                        noise ^= noise << 17;
                        noise
                    };
                    Entry::one(Record::Occupancy(OccupancyRecord {
                        receiver: receiver.into(),
                        minute_ns: T0 + m * MINUTE_NS,
                        start_hz: 144.5e6,
                        cell_hz: 1000.0,
                        spectra: 1875,
                        share: (0..1000).map(|_| next() as u8 & 7).collect(),
                        max_power_cdb: (0..1000).map(|_| -9000 + (next() % 3000) as i16).collect(),
                    }))
                })
                .collect();
            store.write(&entries).await.expect("write a day");
        }
        store
    });
    let mut group = c.benchmark_group("query");
    group.sample_size(20);
    group.bench_function("occupancy_24h_1440x1000", |b| {
        b.iter(|| {
            let matrix = rt
                .block_on(store.occupancy(&OccupancyQuery {
                    receiver: RECEIVERS[2].into(),
                    from: Some(Timestamp(T0)),
                    to: Some(Timestamp(T0 + 1440 * MINUTE_NS)),
                    freq_min_hz: None,
                    freq_max_hz: None,
                }))
                .expect("query");
            assert_eq!((matrix.minutes.len(), matrix.frequencies_hz.len()), (1440, 1000));
            black_box(matrix)
        })
    });
    group.finish();
    rt.block_on(store.close());
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, insert, window_query, occupancy_query);
criterion_main!(benches);
