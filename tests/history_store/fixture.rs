//! Fresh databases of either backend, and records to store in them.

use sdrhub::events::{
    EllipseReport, LocalizationMethod, LocalizationReport, SignalReport, SignalState, Timestamp,
};
use sdrhub::history::query::SignalQuery;
use sdrhub::history::record::{ObservationRecord, Records};
use sdrhub::history::{Backend, BusPosition, Entry, HistoryConfig, HistoryStore, Record};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const S: i64 = 1_000_000_000;
pub const DAY: i64 = 86_400 * S;
/// The base of stored times: the start of yesterday (UTC), so that what the writer's own
/// prunes (by the wall clock, `retention_days` = 30) keep is what the tests wrote.
pub fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| (Timestamp::now().0.div_euclid(DAY) - 1) * DAY)
}

/// A store on a fresh database of `backend`, removed (SQLite) when dropped.
pub struct TestDb {
    pub store: HistoryStore,
    pub url: String,
    dir: Option<PathBuf>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn fresh_url(backend: Backend) -> (String, Option<PathBuf>) {
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
        Backend::Postgres => (crate::common::postgres::server().fresh_database().await, None),
    }
}

pub async fn open_with(backend: Backend, tweak: impl FnOnce(&mut HistoryConfig)) -> TestDb {
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

pub async fn open(backend: Backend) -> TestDb {
    open_with(backend, |_| {}).await
}

pub fn report(
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
        known: None,
        novel: false,
        identity: Default::default(),
    }
}

pub fn fix(signal_id: &str, at_s: i64, latitude: f64, longitude: f64) -> LocalizationReport {
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

pub fn observation(signal_id: &str, first_s: i64, receiver: &str, start_s: i64, power: f64) -> Record {
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

pub async fn write(store: &HistoryStore, records: Vec<Record>) {
    let entries: Vec<Entry> = records.into_iter().map(Entry::one).collect();
    let outcome = store.write(&entries).await.expect("write");
    assert_eq!(outcome.written as usize, entries.len(), "{outcome:?}");
}

pub async fn everything(store: &HistoryStore) -> Vec<sdrhub::events::history::HistorySignal> {
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

pub fn at(stream: &str, seq: u64, records: Vec<Record>) -> Entry {
    Entry {
        position: Some(BusPosition {
            stream: stream.into(),
            seq,
        }),
        records: Records::Many(records),
    }
}

pub struct TestDbDir(pub Option<PathBuf>);

impl Drop for TestDbDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn everything_paged(store: &HistoryStore) -> u64 {
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
