//! The seeded history: records written through the store, as the writer writes them.

use crate::common::{quiet_config, start, temp_path};
use sdrhub::events::{
    EllipseReport, LocalizationMethod, LocalizationReport, SignalReport, SignalState, Timestamp,
};
use sdrhub::history::record::{ObservationRecord, OccupancyRecord};
use sdrhub::history::{Entry, HistoryConfig, HistoryStore, Record};

pub const S: i64 = 1_000_000_000;
/// Seeded signals: more than a few pages, with pairs sharing a `first_seen` (the cursor's tie).
pub const SEEDED: i64 = 250;
/// Seeded signals are on 70 cm, far from the test scene's 2 m transmitters.
pub const BASE_HZ: f64 = 430e6;

/// Where the seeded records start: two hours ago, inside the retention and before anything the
/// server hears itself.
pub fn base() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| (Timestamp::now().0 - 2 * 3600 * S).div_euclid(60 * S) * 60 * S)
}

pub fn rfc3339(ns: i64) -> String {
    Timestamp(ns).to_rfc3339()
}

fn seeded_signal(n: i64) -> SignalReport {
    let first = base() + (n / 2) * 10 * S;
    SignalReport {
        signal_id: format!("seed-{n}"),
        state: SignalState::New,
        frequency_hz: BASE_HZ + n as f64 * 1000.0,
        frequency_mhz: (BASE_HZ + n as f64 * 1000.0) / 1e6,
        bandwidth_hz: 12_500.0,
        snr_db: 20.0,
        power_dbfs: -60.0,
        peak_power_dbfs: -50.0,
        websdr_id: if n % 2 == 0 { "rx-a" } else { "rx-b" }.into(),
        receivers: vec![if n % 2 == 0 { "rx-a" } else { "rx-b" }.into()],
        first_seen: Timestamp(first),
        timestamp: Timestamp(first + 5 * S),
        known: None,
        novel: false,
        identity: Default::default(),
    }
}

fn fix(signal_id: &str, at: i64, latitude: f64, longitude: f64) -> LocalizationReport {
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
        receivers: vec!["rx-a".into(), "rx-b".into(), "rx-c".into()],
        excluded: vec![sdrhub::events::Exclusion {
            receiver: "rx-d".into(),
            reason: "no GPS time".into(),
        }],
        gdop: 1.7,
        note: None,
        frequency_hz: BASE_HZ,
        timestamp: Timestamp(at),
    }
}

/// A fresh SQLite file holding the seeded history: [`SEEDED`] signals, observations of
/// `seed-0` by two receivers, three fixes of it (two near Paris, one near Lyon) and three
/// minutes of `rx-a`'s occupancy over ten 1 kHz cells.
async fn seeded_database() -> String {
    let url = format!("sqlite://{}", temp_path("history-api", "sqlite").display());
    let store = HistoryStore::open(&HistoryConfig {
        url: url.clone(),
        ..HistoryConfig::default()
    })
    .await
    .expect("open the history");
    let mut records: Vec<Record> = (0..SEEDED)
        .map(|n| Record::Signal(Box::new(seeded_signal(n))))
        .collect();
    for receiver in ["rx-a", "rx-b"] {
        for window in 0..4 {
            records.push(Record::Observation(ObservationRecord {
                signal_id: "seed-0".into(),
                first_seen_ns: base(),
                receiver: receiver.into(),
                start_ns: base() + window * 5 * S,
                stop_ns: base() + (window + 1) * 5 * S,
                samples: 10,
                power_dbfs: [-61.0, -60.0, -59.0],
                snr_db: [19.0, 20.0, 21.0],
            }));
        }
    }
    for (i, (lat, lon)) in [(48.85, 2.35), (48.86, 2.36), (45.76, 4.83)]
        .into_iter()
        .enumerate()
    {
        records.push(Record::Localization(Box::new(fix(
            "seed-0",
            base() + (i as i64 + 1) * S,
            lat,
            lon,
        ))));
    }
    for minute in 0..3 {
        records.push(Record::Occupancy(OccupancyRecord {
            receiver: "rx-a".into(),
            minute_ns: base() + minute * 60 * S,
            start_hz: BASE_HZ,
            cell_hz: 1000.0,
            spectra: 100,
            share: (0..10).map(|c| if c == 3 { 255 } else { 0 }).collect(),
            max_power_cdb: (0..10).map(|c| if c == 3 { -4000 } else { -9000 }).collect(),
        }));
    }
    let entries: Vec<Entry> = records.into_iter().map(Entry::one).collect();
    let outcome = store.write(&entries).await.expect("seed the history");
    assert_eq!(outcome.written as usize, entries.len(), "{outcome:?}");
    store.close().await;
    url
}

/// A server without transmitters on the seeded database.
pub async fn seeded_server() -> sdrhub::roles::RunningServer {
    let mut config = quiet_config();
    config.history.url = seeded_database().await;
    start(config)
}

/// The seeded window, as query parameters.
pub fn window() -> String {
    format!("from={}&to={}", rfc3339(base() - S), rfc3339(base() + 3600 * S))
}
