use super::*;
use crate::events::{ServiceHealth, WebsdrStatus};

const S: i64 = 1_000_000_000;

fn measurement(time_s: f64, receiver: &str, power: f64) -> Measurement<'_> {
    Measurement {
        signal_id: "sig-1",
        first_seen_ns: 0,
        receiver,
        time_ns: (time_s * 1e9) as i64,
        power_dbfs: power,
        snr_db: power + 100.0,
    }
}

fn observations(records: &[Record]) -> Vec<&ObservationRecord> {
    records
        .iter()
        .map(|r| match r {
            Record::Observation(o) => o,
            other => panic!("not an observation: {other:?}"),
        })
        .collect()
}

#[test]
fn measurements_fold_into_one_summary_per_receiver_and_window() {
    let mut summariser = ObservationSummariser::new(5 * S);
    let mut out = Vec::new();
    for (t, rx, p) in [
        (0.5, "rx1", -50.0),
        (1.0, "rx2", -60.0),
        (2.0, "rx1", -40.0),
        (4.9, "rx1", -45.0),
    ] {
        summariser.observe(&measurement(t, rx, p), &mut out);
    }
    assert!(out.is_empty(), "no window has ended yet");
    summariser.observe(&measurement(5.0, "rx1", -30.0), &mut out);
    let done = observations(&out);
    assert_eq!(done.len(), 1, "rx1's first window closed, rx2's is still open");
    let o = done[0];
    assert_eq!((&*o.signal_id, &*o.receiver), ("sig-1", "rx1"));
    assert_eq!((o.start_ns, o.stop_ns, o.samples), (0, 5 * S, 3));
    assert_eq!(o.power_dbfs, [-50.0, -45.0, -40.0]);
    assert_eq!(o.snr_db, [50.0, 55.0, 60.0]);

    out.clear();
    summariser.flush_before(6 * S, &mut out);
    let done = observations(&out);
    assert_eq!(
        done.len(),
        1,
        "rx2's window [0, 5 s) ended before 6 s; rx1's [5, 10) did not"
    );
    assert_eq!((&*done[0].receiver, done[0].samples), ("rx2", 1));

    out.clear();
    summariser.observe(&measurement(4.0, "rx1", -10.0), &mut out);
    assert!(
        out.is_empty(),
        "a late measurement does not reopen a stored window"
    );
    summariser.finish(&mut out);
    let done = observations(&out);
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].start_ns, done[0].power_dbfs), (5 * S, [-30.0; 3]));
}

#[test]
fn a_lost_report_closes_the_signal_and_a_reused_id_starts_a_new_one() {
    let mut summariser = ObservationSummariser::new(5 * S);
    let mut out = Vec::new();
    let mut report = SignalReport::example("sig-1", "rx1");
    report.timestamp = Timestamp(S);
    summariser.observe_report(&report, &mut out);
    report.state = SignalState::Lost;
    summariser.observe_report(&report, &mut out);
    assert_eq!(observations(&out).len(), 1);

    out.clear();
    summariser.observe(&measurement(1.0, "rx1", -50.0), &mut out);
    let mut again = measurement(2.0, "rx1", -50.0);
    again.first_seen_ns = S;
    summariser.observe(&again, &mut out);
    let done = observations(&out);
    assert_eq!(
        done.len(),
        1,
        "the old signal's window is closed when its id is reused"
    );
    assert_eq!(done[0].first_seen_ns, 0);
}

fn receiver(id: &str, status: ReceiverStatus) -> WebsdrStatus {
    WebsdrStatus {
        id: id.into(),
        name: id.into(),
        kind: sdrhub_hardware::SourceKind::Simulated,
        status,
        response_time_ms: None,
        latitude: None,
        longitude: None,
        frequency_hz: 145e6,
        sample_rate_hz: 1.024e6,
        last_seen: None,
        samples_dropped: 0,
        gps_locked: false,
        detail: (status != ReceiverStatus::Online).then(|| "no samples".to_string()),
        users: None,
        users_max: None,
        gps_fix_age_s: None,
        last_error: None,
        link: None,
        gps_timing: None,
    }
}

#[test]
fn only_status_changes_are_recorded() {
    let mut changes = StatusChanges::default();
    let report = |a, b| WebsdrsReport {
        websdrs: vec![receiver("rx1", a), receiver("rx2", b)],
    };
    let first = changes.changes(
        &report(ReceiverStatus::Online, ReceiverStatus::Online),
        Timestamp(1),
    );
    assert_eq!(first.len(), 2, "every receiver is recorded when first seen");
    let same = changes.changes(
        &report(ReceiverStatus::Online, ReceiverStatus::Online),
        Timestamp(2),
    );
    assert!(same.is_empty());
    let changed = changes.changes(
        &report(ReceiverStatus::Online, ReceiverStatus::Offline),
        Timestamp(3),
    );
    assert_eq!(
        changed,
        [Record::ReceiverStatus(ReceiverStatusChange {
            time: Timestamp(3),
            receiver: "rx2".into(),
            status: ReceiverStatus::Offline,
            detail: Some("no samples".into()),
        })]
    );
}

#[test]
fn only_health_changes_are_recorded_at_their_since() {
    let mut changes = HealthChanges::default();
    let service = |status, since| ServiceHealth {
        name: "dsp".into(),
        status,
        detail: "spectra".into(),
        since: Timestamp(since),
    };
    let report = |s| HealthReport::of(vec![s]);
    assert_eq!(
        changes.changes(&report(service(HealthStatus::Healthy, 10))).len(),
        1
    );
    assert!(changes
        .changes(&report(service(HealthStatus::Healthy, 10)))
        .is_empty());
    let flapped = changes.changes(&report(service(HealthStatus::Healthy, 20)));
    assert_eq!(
        flapped.len(),
        1,
        "a new since is a change even with the same status"
    );
    let degraded = changes.changes(&report(service(HealthStatus::Degraded, 30)));
    match &degraded[..] {
        [Record::ServiceHealth(change)] => {
            assert_eq!(
                (change.time, change.status),
                (Timestamp(30), HealthStatus::Degraded)
            );
        }
        other => panic!("{other:?}"),
    }
}
