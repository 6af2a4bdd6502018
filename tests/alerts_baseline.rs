//! `level` alerts over the hourly occupancy baseline (`above_baseline_db`), against the real
//! server and its SQLite history: three earlier days of occupancy are stored in which, at this
//! hour of day, the test carrier's band was quiet (-120 dBFS) and at every other hour it was
//! louder than any signal (+20 dBFS). The carrier, on the air now, is raised within `for_s` +
//! 2 s of the engine's first look (a rule whose threshold is above its margin is not), with the
//! margin and the baseline in the message. A baseline taken over every hour (the hour of day
//! ignored) would be +20 dBFS and raise nothing.

mod common;

use common::*;
use sdrhub::config::AlertRule;
use sdrhub::events::{AlertKind, Timestamp};
use sdrhub::history::baseline::HOUR_NS;
use sdrhub::history::record::OccupancyRecord;
use sdrhub::history::{Entry, HistoryStore, Record};
use std::time::Duration;

const DAY_NS: i64 = 24 * HOUR_NS;
const MINUTE_NS: i64 = 60_000_000_000;
/// The stored cell grid: 10 kHz cells from 144.9 MHz.
const START_HZ: f64 = 144.9e6;
const CELL_HZ: f64 = 10e3;
const CELLS: usize = 40;

fn rule(name: &str, carrier_hz: f64, over_db: f64) -> AlertRule {
    AlertRule {
        for_s: 1.0,
        freq_min_hz: Some(carrier_hz - 10_000.0),
        freq_max_hz: Some(carrier_hz + 10_000.0),
        above_baseline_db: Some(over_db),
        ..AlertRule::new(name, AlertKind::Level)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_far_over_its_hours_baseline_is_raised_and_one_within_it_is_not() {
    let mut config = test_config();
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    config.alerts.rules = vec![
        rule("over-baseline", carrier_hz, 30.0),
        rule("far-over", carrier_hz, 150.0),
    ];

    // Twenty minutes of every hour of the last three days, for every receiver.
    let receivers = config.receiver_ids();
    let now = Timestamp::now().0;
    let this_hour = now.div_euclid(HOUR_NS).rem_euclid(24);
    let store = HistoryStore::open(&config.history)
        .await
        .expect("the history opens");
    let mut entries = Vec::new();
    for days_ago in 1..=3 {
        let day = (now.div_euclid(DAY_NS) - days_ago) * DAY_NS;
        for hour in 0..24 {
            // This hour and the next (the test may cross into it): quiet.
            let quiet = hour == this_hour || hour == (this_hour + 1) % 24;
            let level_cdb: i16 = if quiet { -12_000 } else { 2_000 };
            for minute in 0..20 {
                for receiver in &receivers {
                    entries.push(Entry::one(Record::Occupancy(OccupancyRecord {
                        receiver: receiver.as_str().into(),
                        minute_ns: day + hour * HOUR_NS + minute * MINUTE_NS,
                        start_hz: START_HZ,
                        cell_hz: CELL_HZ,
                        spectra: 100,
                        share: vec![0; CELLS],
                        max_power_cdb: vec![level_cdb; CELLS],
                    })));
                }
            }
        }
    }
    store.write(&entries).await.expect("occupancy stored");
    let baseline = store
        .hourly_baseline(&receivers[0], this_hour as u32, now.div_euclid(HOUR_NS) * HOUR_NS)
        .await
        .unwrap()
        .expect("a baseline");
    assert_eq!((baseline.minutes, baseline.days), (60, 3));
    assert_eq!(baseline.at(carrier_hz), Some(-120.0));
    store.close().await;

    let server = start(config);
    let mut ws = connect(&server, "/ws?events=alerts:raised").await;
    let (message, after) = wait_for(&mut ws, Duration::from_secs(20), "the alert", |m| {
        m["event"] == "alerts:raised" && m["data"]["state"] == "raised"
    })
    .await;
    let report = &message["data"];
    assert_eq!(report["rule"], "over-baseline", "{report}");
    let text = report["message"].as_str().unwrap();
    assert!(
        text.contains("over its baseline of -120.0 dBFS") && text.contains("60 minutes over 3 days"),
        "{text}"
    );
    assert!((report["frequency_hz"].as_f64().unwrap() - carrier_hz).abs() < CELL_HZ);
    // The engine looks at the first tick (250 ms), the carrier is confirmed within seconds of
    // the start, and `for_s` is 1 s.
    assert!(
        after < Duration::from_secs(10),
        "raised {after:?} after connecting"
    );

    // The carrier is ~70 dB over its baseline: the 150 dB rule stays quiet.
    let quiet_until = std::time::Instant::now() + Duration::from_secs(4);
    while let Some(left) = quiet_until.checked_duration_since(std::time::Instant::now()) {
        let Some(m) = next_json(&mut ws, left).await else {
            break;
        };
        assert!(m["event"] != "alerts:raised", "{m}");
    }
    let (_, listing) = get_json(&server, "/api/v1/alerts").await;
    assert_eq!(listing["active"].as_array().unwrap().len(), 1, "{listing}");
    server.stop().await.unwrap();
}
