//! The events the history-writer tests publish, what the history must then hold (a model
//! written apart from the writer's own change detection), and what it does hold.

use sdrhub::events::history::{ReceiverStatusChange, ServiceHealthChange};
use sdrhub::events::{
    EllipseReport, Event, HealthReport, HealthStatus, LocalizationMethod, LocalizationReport, ReceiverStatus,
    ServiceHealth, SignalReport, SignalState, Timestamp, WebsdrStatus, WebsdrsReport,
};
use sdrhub::history::query::{LocalizationQuery, SignalQuery};
use sdrhub::history::HistoryStore;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const NODE: &str = "edge-1";
const RECEIVERS: [&str; 3] = ["rx1", "rx2", "rx3"];

/// What the test published, and so what the history must hold of node [`NODE`].
#[derive(Debug, Default)]
pub struct Published {
    /// Signal ids as stored (`edge-1/sig-<n>`).
    pub signals: BTreeSet<String>,
    /// Signal ids of the localizations (one each).
    pub localizations: BTreeSet<String>,
    /// Per receiver, its statuses in order of change.
    pub statuses: BTreeMap<String, Vec<ReceiverStatus>>,
    /// Per service (`dsp@edge-1`), its statuses in order of change.
    pub health: BTreeMap<String, Vec<HealthStatus>>,
    last_status: HashMap<String, ReceiverStatus>,
    last_health: HashMap<String, (HealthStatus, Timestamp)>,
    pub events: u64,
}

/// The test's event number `n`: a signal, every 5th a fix of it too, every 7th the node's
/// receivers' status, every 11th its services' health; statuses and health change now and then
/// and otherwise repeat (repeats are not changes).
pub fn events(n: u64, base_ns: i64, model: &mut Published) -> Vec<Event> {
    let mut out = Vec::new();
    let time = Timestamp(base_ns + n as i64 * 1_000_000);
    let id = format!("sig-{n}");
    out.push(Event::SignalsDetected(SignalReport {
        signal_id: id.clone(),
        state: SignalState::New,
        frequency_hz: 145e6 + n as f64 * 100.0,
        frequency_mhz: 145.0 + n as f64 * 1e-4,
        bandwidth_hz: 12_500.0,
        snr_db: 20.0,
        power_dbfs: -40.0,
        peak_power_dbfs: -50.0,
        websdr_id: RECEIVERS[n as usize % 3].into(),
        receivers: RECEIVERS.iter().map(|r| r.to_string()).collect(),
        first_seen: time,
        timestamp: time,
        known: None,
        novel: false,
        identity: Default::default(),
    }));
    model.signals.insert(format!("{NODE}/{id}"));
    if n % 5 == 0 {
        out.push(Event::LocalizationsUpdated(fix(&id, time)));
        model.localizations.insert(format!("{NODE}/{id}"));
    }
    if n % 7 == 0 {
        let websdrs = RECEIVERS
            .iter()
            .enumerate()
            .map(|(k, rx)| {
                let status = match (n / 7 + k as u64) % 5 {
                    0 => ReceiverStatus::Degraded,
                    1 => ReceiverStatus::Offline,
                    _ => ReceiverStatus::Online,
                };
                if model.last_status.get(*rx) != Some(&status) {
                    model.last_status.insert(rx.to_string(), status);
                    model.statuses.entry(rx.to_string()).or_default().push(status);
                }
                receiver(rx, status)
            })
            .collect();
        out.push(Event::WebsdrsStatus(WebsdrsReport { websdrs }));
    }
    if n % 11 == 0 {
        let k = n / 11;
        // dsp changes every third report (its since moves with it); bus never changes.
        let dsp = if (k / 3) % 2 == 0 {
            HealthStatus::Healthy
        } else {
            HealthStatus::Degraded
        };
        // (Times travel as RFC 3339 with milliseconds: a since that moves moves by 1 ms.)
        let dsp_since = Timestamp(base_ns + (k / 3) as i64 * 1_000_000);
        let services = vec![
            service("dsp", dsp, dsp_since),
            service("bus", HealthStatus::Healthy, Timestamp(base_ns)),
        ];
        for s in &services {
            let name = format!("{}@{NODE}", s.name);
            let now = (s.status, s.since);
            if model.last_health.get(&name) != Some(&now) {
                model.last_health.insert(name.clone(), now);
                model.health.entry(name).or_default().push(s.status);
            }
        }
        out.push(Event::ServicesHealth(HealthReport::of(services)));
    }
    model.events += out.len() as u64;
    out
}

fn fix(signal_id: &str, time: Timestamp) -> LocalizationReport {
    LocalizationReport {
        signal_id: signal_id.into(),
        latitude: 48.8,
        longitude: 2.3,
        uncertainty_m: 500.0,
        confidence: 0.9,
        method: LocalizationMethod::Power,
        ellipse: EllipseReport {
            semi_major_m: 600.0,
            semi_minor_m: 400.0,
            orientation_deg: 30.0,
        },
        receivers: RECEIVERS.iter().map(|r| r.to_string()).collect(),
        excluded: Vec::new(),
        gdop: 1.5,
        note: None,
        frequency_hz: 145e6,
        timestamp: time,
    }
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
        detail: None,
        users: None,
        users_max: None,
        gps_fix_age_s: None,
        last_error: None,
        link: None,
        gps_timing: None,
    }
}

fn service(name: &str, status: HealthStatus, since: Timestamp) -> ServiceHealth {
    ServiceHealth {
        name: name.into(),
        status,
        detail: format!("{name} is {status:?}"),
        since,
    }
}

/// What the history holds of node [`NODE`], read through `store`.
#[derive(Debug, Default, PartialEq)]
pub struct Stored {
    signals: BTreeSet<String>,
    /// Signal id -> reports folded into its track (1 each when stored once).
    reports: BTreeMap<String, u64>,
    localizations: Vec<String>,
    statuses: BTreeMap<String, Vec<ReceiverStatus>>,
    health: BTreeMap<String, Vec<HealthStatus>>,
    /// Health changes of other services (the writer's own).
    pub other_services: BTreeSet<String>,
}

pub async fn stored(store: &HistoryStore) -> Stored {
    let mut out = Stored::default();
    let mut cursor = None;
    loop {
        let page = store
            .signals(&SignalQuery {
                limit: Some(1000),
                cursor: cursor.take(),
                ..SignalQuery::default()
            })
            .await
            .expect("signals");
        for s in page.signals {
            assert!(
                out.signals.insert(s.signal_id.clone()),
                "{} stored as two tracks",
                s.signal_id
            );
            out.reports.insert(s.signal_id, s.reports);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let (from, to) = (Timestamp(0), Timestamp(i64::MAX / 2));
    let fixes = store
        .localizations(&LocalizationQuery {
            from: Some(from),
            to: Some(to),
            bbox: None,
            limit: Some(50_000),
        })
        .await
        .expect("localizations");
    assert!(!fixes.truncated);
    out.localizations = fixes
        .localizations
        .into_iter()
        .map(|l| l.localization.signal_id)
        .collect();
    out.localizations.sort();
    let statuses: Vec<ReceiverStatusChange> = store.status_changes(from, to, 50_000).await.expect("statuses");
    for change in statuses {
        out.statuses
            .entry(change.receiver)
            .or_default()
            .push(change.status);
    }
    let health: Vec<ServiceHealthChange> = store.health_changes(from, to, 50_000).await.expect("health");
    for change in health {
        if change.service.ends_with(&format!("@{NODE}")) {
            out.health.entry(change.service).or_default().push(change.status);
        } else {
            out.other_services.insert(change.service);
        }
    }
    out
}

/// Checks the history holds exactly what `model` published: every signal one track with one
/// report, every fix once, every status and health change once, in order.
pub fn assert_stored_once(got: &Stored, model: &Published) {
    let node_signals: BTreeSet<String> = got
        .signals
        .iter()
        .filter(|id| id.starts_with(&format!("{NODE}/")))
        .cloned()
        .collect();
    assert_eq!(node_signals.len(), model.signals.len(), "tracks");
    assert_eq!(
        node_signals, model.signals,
        "the tracks are the signals published"
    );
    let twice: Vec<(&String, &u64)> = got.reports.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "tracks with other than one report: {twice:?}");
    let expected: Vec<String> = model.localizations.iter().cloned().collect();
    assert_eq!(got.localizations, expected, "each fix once");
    assert_eq!(got.statuses, model.statuses, "each status change once, in order");
    assert_eq!(got.health, model.health, "each health change once, in order");
}
