//! Alerts in the database: each change stored as the alert's latest state, the active ones
//! and the past ones read back, numbering resumed after the largest id, and pruning that
//! never removes an active alert however old.

use crate::fixture::*;
use sdrhub::events::{AlertKind, AlertReport, AlertState, Severity, Timestamp};
use sdrhub::history::{Backend, Record};

fn alert(n: u64, state: AlertState, raised_at: i64, resolved_at: Option<i64>) -> Record {
    Record::Alert(Box::new(AlertReport {
        alert_id: format!("alert-{n}"),
        rule: "strong-2m".into(),
        kind: AlertKind::Level,
        severity: Severity::Warning,
        state,
        signal_id: Some("sig-1".into()),
        emitter_id: "em-1".into(),
        receivers: vec!["rx1".into(), "rx2".into()],
        frequency_hz: Some(145.5e6),
        labels: [("team".to_string(), "north".to_string())].into(),
        message: format!("alert {n}"),
        raised_at: Timestamp(raised_at),
        resolved_at: resolved_at.map(Timestamp),
        acked: state == AlertState::Acked,
    }))
}

pub async fn alerts_round_trip(backend: Backend) {
    let db = open_with(backend, |c| c.retention_days = 30).await;
    let store = &db.store;
    assert_eq!(store.last_alert_number().await.unwrap(), 0, "none yet");
    let old = t0();
    let now = t0() + 40 * DAY;
    write(
        store,
        vec![
            // Raised 40 days ago and still active (acknowledged since).
            alert(3, AlertState::Raised, old, None),
            alert(3, AlertState::Acked, old, None),
            // Resolved 35 days ago: past retention.
            alert(7, AlertState::Raised, old, None),
            alert(7, AlertState::Resolved, old, Some(old + 5 * DAY)),
            // Resolved yesterday.
            alert(8, AlertState::Raised, now - 2 * DAY, None),
            alert(8, AlertState::Resolved, now - 2 * DAY, Some(now - DAY)),
            // Raised lately.
            alert(9, AlertState::Raised, now - DAY, None),
        ],
    )
    .await;
    assert_eq!(store.last_alert_number().await.unwrap(), 9);
    let active = store.active_alerts().await.unwrap();
    let ids = |reports: &[AlertReport]| reports.iter().map(|r| r.alert_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&active), ["alert-3", "alert-9"], "oldest first");
    let Record::Alert(want) = alert(3, AlertState::Acked, old, None) else {
        unreachable!()
    };
    assert_eq!(active[0], *want, "every field as stored last");
    let past = store.past_alerts(10).await.unwrap();
    assert_eq!(ids(&past), ["alert-8", "alert-7"], "newest first");
    assert_eq!(ids(&store.past_alerts(1).await.unwrap()), ["alert-8"]);
    assert_eq!(
        store.alert("alert-7").await.unwrap().map(|r| r.state),
        Some(AlertState::Resolved)
    );
    assert_eq!(store.alert("alert-70").await.unwrap(), None);
    assert_eq!(store.alert("nonsense").await.unwrap(), None);

    store.prune(now).await.unwrap();
    assert_eq!(
        ids(&store.past_alerts(10).await.unwrap()),
        ["alert-8"],
        "alert-7 aged out"
    );
    assert_eq!(
        ids(&store.active_alerts().await.unwrap()),
        ["alert-3", "alert-9"],
        "an active alert is never pruned"
    );
    assert_eq!(store.last_alert_number().await.unwrap(), 9);
}

/// The hourly baseline on both databases: the hour-of-day filter, the median, the layout of
/// the latest minute, and too few minutes giving none.
pub async fn hourly_baselines(backend: Backend) {
    use sdrhub::history::baseline::HOUR_NS;
    use sdrhub::history::record::OccupancyRecord;
    let db = open(backend).await;
    let store = &db.store;
    let minute = |day: i64, hour: i64, m: i64, cdb: i16, cells: usize| {
        Record::Occupancy(OccupancyRecord {
            receiver: "rx1".into(),
            minute_ns: t0() - day * DAY + hour * HOUR_NS + m * 60 * S,
            start_hz: 144e6,
            cell_hz: 1e3,
            spectra: 10,
            share: vec![0; cells],
            max_power_cdb: vec![cdb; cells],
        })
    };
    let mut records = Vec::new();
    for day in 1..=2 {
        for m in 0..6 {
            // 05:xx: -90, -80 and (one minute a day) -10 dBFS; 06:xx: 0 dBFS.
            let cdb = match m {
                0 => -1_000,
                1..=2 => -8_000,
                _ => -9_000,
            };
            records.push(minute(day, 5, m, cdb, 4));
            records.push(minute(day, 6, m, 0, 4));
        }
    }
    // Three days ago, another layout (8 cells): left out.
    for m in 0..6 {
        records.push(minute(3, 5, m, 3_000, 8));
    }
    write(store, records).await;
    let before = t0() + DAY;
    let five = store
        .hourly_baseline("rx1", 5, before)
        .await
        .unwrap()
        .expect("a baseline");
    assert_eq!((five.minutes, five.days, five.median_dbfs.len()), (12, 2, 4));
    // Six -90, four -80, two -10: the median of twelve is the mean of the 6th and 7th.
    assert_eq!(five.at(144e6 + 500.0), Some(-85.0));
    let six = store
        .hourly_baseline("rx1", 6, before)
        .await
        .unwrap()
        .expect("a baseline");
    assert_eq!(six.at(144e6), Some(0.0));
    assert_eq!(store.hourly_baseline("rx1", 7, before).await.unwrap(), None);
    assert_eq!(store.hourly_baseline("rx2", 5, before).await.unwrap(), None);
    // Before day 1: only day 2's six minutes, too few.
    let early = t0() - DAY;
    assert_eq!(store.hourly_baseline("rx1", 5, early).await.unwrap(), None);
}
