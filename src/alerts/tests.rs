//! The engine against synthetic events and a stepped clock: per kind, debounce (`for_s`),
//! exactly one raise and one resolve per episode, cooldown, acknowledgement.

use super::{Ack, Engine};
use crate::config::alerts::Circle;
use crate::config::AlertRule;
use crate::events::history::KnownMatch;
use crate::events::{
    AlertKind, AlertReport, AlertState, EllipseReport, Event, LocalizationMethod, LocalizationReport,
    ReceiverStatus, SignalReport, SignalState, Timestamp, WebsdrStatus, WebsdrsReport,
};

const S: i64 = 1_000_000_000;

fn at(seconds: f64) -> Timestamp {
    Timestamp((seconds * S as f64) as i64)
}

fn signal(id: &str, mhz: f64, power_dbfs: f64, receivers: &[&str]) -> Event {
    let mut report = SignalReport::example(id, receivers[0]);
    report.frequency_hz = mhz * 1e6;
    report.frequency_mhz = mhz;
    report.power_dbfs = power_dbfs;
    report.receivers = receivers.iter().map(|r| r.to_string()).collect();
    // Each signal its own emitter, unless a test says otherwise.
    report.identity.emitter_id = id.replace("sig", "em");
    Event::SignalsDetected(report)
}

fn with(event: Event, change: impl FnOnce(&mut SignalReport)) -> Event {
    let Event::SignalsDetected(mut report) = event else {
        unreachable!("only signals are changed")
    };
    change(&mut report);
    Event::SignalsDetected(report)
}

fn lost(id: &str) -> Event {
    with(signal(id, 145.0, -100.0, &["rx1"]), |s| {
        s.state = SignalState::Lost
    })
}

fn receivers(statuses: &[(&str, ReceiverStatus)]) -> Event {
    Event::WebsdrsStatus(WebsdrsReport {
        websdrs: statuses
            .iter()
            .map(|(id, status)| WebsdrStatus {
                id: id.to_string(),
                name: id.to_string(),
                kind: sdrhub_hardware::SourceKind::Simulated,
                status: *status,
                response_time_ms: None,
                latitude: None,
                longitude: None,
                frequency_hz: 145e6,
                sample_rate_hz: 256e3,
                last_seen: None,
                samples_dropped: 0,
                gps_locked: true,
                detail: (*status != ReceiverStatus::Online).then(|| "no samples".to_string()),
                users: None,
                users_max: None,
                gps_fix_age_s: None,
                last_error: None,
                link: None,
                gps_timing: None,
            })
            .collect(),
    })
}

fn fix(id: &str, lat: f64, lon: f64, confidence: f64) -> Event {
    Event::LocalizationsUpdated(LocalizationReport {
        signal_id: id.into(),
        latitude: lat,
        longitude: lon,
        uncertainty_m: 100.0,
        confidence,
        method: LocalizationMethod::Power,
        ellipse: EllipseReport {
            semi_major_m: 100.0,
            semi_minor_m: 100.0,
            orientation_deg: 0.0,
        },
        receivers: vec!["rx1".into(), "rx2".into()],
        excluded: Vec::new(),
        gdop: 1.0,
        note: None,
        frequency_hz: 145e6,
        timestamp: Timestamp(0),
    })
}

fn level_rule(for_s: f64, cooldown_s: f64) -> AlertRule {
    AlertRule {
        for_s,
        cooldown_s,
        freq_min_hz: Some(144e6),
        freq_max_hz: Some(146e6),
        power_dbfs: Some(-50.0),
        ..AlertRule::new("strong-2m", AlertKind::Level)
    }
}

/// Steps the engine from `from` to `to` seconds every 100 ms, collecting what it says.
fn run(engine: &mut Engine, from: f64, to: f64) -> Vec<(f64, AlertReport)> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= to + 1e-9 {
        out.extend(engine.evaluate(at(t)).into_iter().map(|r| (t, r)));
        t += 0.1;
    }
    out
}

fn states(said: &[(f64, AlertReport)]) -> Vec<AlertState> {
    said.iter().map(|(_, r)| r.state).collect()
}

#[test]
fn level_is_raised_once_after_for_s_and_resolved_when_the_signal_goes() {
    let mut engine = Engine::new(vec![level_rule(3.0, 0.0)], 10);
    engine.observe(&signal("sig-1", 145.5, -40.0, &["rx1"]));
    engine.observe(&signal("sig-2", 147.0, -20.0, &["rx1"]));
    engine.observe(&signal("sig-3", 145.2, -70.0, &["rx1"]));
    let said = run(&mut engine, 0.0, 10.0);
    assert_eq!(states(&said), [AlertState::Raised], "{said:?}");
    let (t, report) = &said[0];
    assert!((t - 3.0).abs() < 0.15, "raised at {t}");
    assert_eq!(report.emitter_id, "em-1");
    assert_eq!(report.signal_id.as_deref(), Some("sig-1"));
    assert_eq!(engine.listing().active.len(), 1);
    engine.observe(&lost("sig-1"));
    let said = run(&mut engine, 10.1, 12.0);
    assert_eq!(states(&said), [AlertState::Resolved]);
    assert_eq!(said[0].1.alert_id, report.alert_id);
    assert_eq!(said[0].1.resolved_at, Some(at(10.1)));
    let listing = engine.listing();
    assert!(listing.active.is_empty());
    assert_eq!(listing.past.len(), 1);
}

#[test]
fn a_condition_shorter_than_for_s_raises_nothing() {
    let mut engine = Engine::new(vec![level_rule(3.0, 0.0)], 10);
    engine.observe(&signal("sig-1", 145.5, -40.0, &["rx1"]));
    assert!(run(&mut engine, 0.0, 2.5).is_empty());
    // The power falls below the threshold: the debounce starts over.
    engine.observe(&signal("sig-1", 145.5, -60.0, &["rx1"]));
    assert!(run(&mut engine, 2.6, 3.0).is_empty());
    engine.observe(&signal("sig-1", 145.5, -40.0, &["rx1"]));
    let said = run(&mut engine, 3.1, 8.0);
    assert_eq!(states(&said), [AlertState::Raised]);
    assert!((said[0].0 - 6.1).abs() < 0.15, "{said:?}");
}

#[test]
fn cooldown_holds_back_a_new_alert_about_the_same_emitter() {
    let mut engine = Engine::new(vec![level_rule(0.0, 5.0)], 10);
    let strong = signal("sig-1", 145.5, -40.0, &["rx1"]);
    let weak = signal("sig-1", 145.5, -60.0, &["rx1"]);
    engine.observe(&strong);
    assert_eq!(states(&run(&mut engine, 0.0, 1.0)), [AlertState::Raised]);
    engine.observe(&weak);
    assert_eq!(states(&run(&mut engine, 1.1, 2.0)), [AlertState::Resolved]);
    engine.observe(&strong);
    // Resolved at 1.1 s: nothing before 6.1 s, then one alert.
    let said = run(&mut engine, 2.1, 8.0);
    assert_eq!(states(&said), [AlertState::Raised], "{said:?}");
    assert!((said[0].0 - 6.1).abs() < 0.15, "{said:?}");
    // Another signal is another emitter: no cooldown of its own.
    engine.observe(&signal("sig-9", 145.9, -30.0, &["rx2"]));
    let said = run(&mut engine, 8.1, 8.5);
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].1.emitter_id, "em-9");
}

#[test]
fn one_alert_per_emitter_lists_every_receiver_that_hears_it() {
    let mut engine = Engine::new(vec![level_rule(0.0, 0.0)], 10);
    engine.observe(&signal("sig-1", 145.5, -40.0, &["rx1"]));
    assert_eq!(run(&mut engine, 0.0, 0.5).len(), 1);
    engine.observe(&signal("sig-1", 145.5, -40.0, &["rx1", "rx2", "rx3"]));
    assert!(run(&mut engine, 0.6, 2.0).is_empty(), "no second alert");
    assert_eq!(engine.listing().active[0].receivers, ["rx1", "rx2", "rx3"]);
}

#[test]
fn new_signal_needs_a_novel_unknown_signal_in_the_band() {
    let rule = AlertRule {
        freq_min_hz: Some(144e6),
        freq_max_hz: Some(146e6),
        for_s: 1.0,
        ..AlertRule::new("novel-2m", AlertKind::NewSignal)
    };
    let mut engine = Engine::new(vec![rule], 10);
    let known = KnownMatch {
        id: 4,
        name: "beacon".into(),
        tags: Vec::new(),
        ignore: false,
    };
    engine.observe(&signal("sig-1", 145.1, -80.0, &["rx1"]));
    engine.observe(&with(signal("sig-2", 145.2, -80.0, &["rx1"]), |s| {
        s.novel = true;
        s.known = Some(known);
    }));
    engine.observe(&with(signal("sig-3", 150.0, -80.0, &["rx1"]), |s| s.novel = true));
    engine.observe(&with(signal("sig-4", 145.3, -80.0, &["rx1", "rx2"]), |s| {
        s.novel = true
    }));
    let said = run(&mut engine, 0.0, 5.0);
    assert_eq!(states(&said), [AlertState::Raised]);
    assert_eq!(said[0].1.emitter_id, "em-4");
    assert_eq!(said[0].1.receivers, ["rx1", "rx2"]);
    engine.observe(&lost("sig-4"));
    assert_eq!(states(&run(&mut engine, 5.1, 6.0)), [AlertState::Resolved]);
}

#[test]
fn missing_known_signal_is_raised_after_for_s_of_silence_and_resolved_when_heard() {
    let rule = AlertRule {
        signal: Some("beacon".into()),
        for_s: 5.0,
        ..AlertRule::new("beacon-gone", AlertKind::Missing)
    };
    let mut engine = Engine::new(vec![rule], 10);
    let beacon = with(signal("sig-1", 145.5, -60.0, &["rx1"]), |s| {
        s.known = Some(KnownMatch {
            id: 7,
            name: "beacon".into(),
            tags: Vec::new(),
            ignore: false,
        })
    });
    engine.observe(&beacon);
    assert!(run(&mut engine, 0.0, 10.0).is_empty());
    engine.observe(&lost("sig-1"));
    let said = run(&mut engine, 10.1, 20.0);
    assert_eq!(states(&said), [AlertState::Raised]);
    assert!((said[0].0 - 15.1).abs() < 0.15, "{said:?}");
    assert_eq!(said[0].1.emitter_id, "beacon");
    assert_eq!(said[0].1.signal_id, None);
    engine.observe(&beacon);
    assert_eq!(states(&run(&mut engine, 20.1, 21.0)), [AlertState::Resolved]);
}

#[test]
fn missing_in_a_band_is_any_signal_there() {
    let rule = AlertRule {
        freq_min_hz: Some(144e6),
        freq_max_hz: Some(146e6),
        for_s: 2.0,
        ..AlertRule::new("quiet-2m", AlertKind::Missing)
    };
    let mut engine = Engine::new(vec![rule], 10);
    engine.observe(&signal("sig-1", 150.0, -60.0, &["rx1"]));
    let said = run(&mut engine, 0.0, 3.0);
    assert_eq!(states(&said), [AlertState::Raised]);
    engine.observe(&signal("sig-2", 145.0, -60.0, &["rx1"]));
    assert_eq!(states(&run(&mut engine, 3.1, 4.0)), [AlertState::Resolved]);
}

#[test]
fn receiver_offline_is_per_receiver_and_only_those_named() {
    let rule = AlertRule {
        receivers: vec!["rx1".into(), "rx2".into()],
        for_s: 2.0,
        ..AlertRule::new("down", AlertKind::ReceiverOffline)
    };
    let mut engine = Engine::new(vec![rule], 10);
    use ReceiverStatus::*;
    engine.observe(&receivers(&[("rx1", Online), ("rx2", Online), ("rx3", Offline)]));
    assert!(run(&mut engine, 0.0, 5.0).is_empty(), "rx3 is not watched");
    engine.observe(&receivers(&[
        ("rx1", Offline),
        ("rx2", Degraded),
        ("rx3", Offline),
    ]));
    let said = run(&mut engine, 5.1, 10.0);
    assert_eq!(states(&said), [AlertState::Raised, AlertState::Raised]);
    let mut down: Vec<&str> = said.iter().map(|(_, r)| r.emitter_id.as_str()).collect();
    down.sort_unstable();
    assert_eq!(down, ["rx1", "rx2"]);
    assert!(said[0].1.message.contains("no samples"), "{said:?}");
    engine.observe(&receivers(&[
        ("rx1", Online),
        ("rx2", Degraded),
        ("rx3", Offline),
    ]));
    let said = run(&mut engine, 10.1, 12.0);
    assert_eq!(states(&said), [AlertState::Resolved]);
    assert_eq!(said[0].1.receivers, ["rx1"]);
}

#[test]
fn geofence_needs_a_fix_inside_with_enough_confidence() {
    let circle = AlertRule {
        circle: Some(Circle {
            lat: 48.85,
            lon: 2.35,
            radius_m: 5_000.0,
        }),
        min_confidence: 0.5,
        ..AlertRule::new("paris", AlertKind::Geofence)
    };
    let square = AlertRule {
        polygon: Some(vec![[47.0, 1.0], [47.0, 2.0], [48.0, 2.0], [48.0, 1.0]]),
        ..AlertRule::new("square", AlertKind::Geofence)
    };
    let mut engine = Engine::new(vec![circle, square], 10);
    engine.observe(&signal("sig-1", 145.0, -60.0, &["rx1", "rx2"]));
    engine.observe(&fix("sig-1", 48.86, 2.36, 0.2));
    assert!(run(&mut engine, 0.0, 1.0).is_empty(), "not confident enough");
    engine.observe(&fix("sig-1", 48.86, 2.36, 0.9));
    let said = run(&mut engine, 1.1, 2.0);
    assert_eq!(states(&said), [AlertState::Raised]);
    assert_eq!(said[0].1.rule, "paris");
    assert_eq!(said[0].1.receivers, ["rx1", "rx2"]);
    engine.observe(&fix("sig-1", 47.5, 1.5, 0.1));
    let said = run(&mut engine, 2.1, 3.0);
    let mut seen: Vec<(&str, AlertState)> = said.iter().map(|(_, r)| (r.rule.as_str(), r.state)).collect();
    seen.sort_by_key(|(rule, _)| *rule);
    assert_eq!(
        seen,
        [("paris", AlertState::Resolved), ("square", AlertState::Raised)]
    );
    // A fix of a signal no longer heard does not keep the alert up.
    engine.observe(&lost("sig-1"));
    assert_eq!(states(&run(&mut engine, 3.1, 4.0)), [AlertState::Resolved]);
}

#[test]
fn acknowledging_marks_the_alert_once() {
    let mut engine = Engine::new(vec![level_rule(0.0, 0.0)], 10);
    engine.observe(&signal("sig-1", 145.5, -40.0, &["rx1"]));
    let raised = run(&mut engine, 0.0, 0.1).remove(0).1;
    let Ack::Acked(acked) = engine.ack(&raised.alert_id) else {
        panic!("an active alert is acknowledged")
    };
    assert_eq!((acked.state, acked.acked), (AlertState::Acked, true));
    assert!(matches!(engine.ack(&raised.alert_id), Ack::Unchanged(_)));
    assert_eq!(engine.ack("alert-999"), Ack::Unknown);
    assert!(engine.listing().active[0].acked);
    engine.observe(&lost("sig-1"));
    let resolved = run(&mut engine, 0.2, 0.3).remove(0).1;
    assert!(resolved.acked, "the resolution says it was acknowledged");
}

#[test]
fn missing_within_a_daily_window_is_only_expected_inside_it() {
    use crate::config::alerts::DailyWindow;
    let rule = AlertRule {
        freq_min_hz: Some(144e6),
        freq_max_hz: Some(146e6),
        for_s: 60.0,
        schedule: Some(DailyWindow {
            start: "23:00".into(),
            end: "01:00".into(),
        }),
        ..AlertRule::new("night-net", AlertKind::Missing)
    };
    let mut engine = Engine::new(vec![rule], 10);
    let minutes = |m: f64| at(m * 60.0);
    // 22:00 to 23:00: nothing expected; at 23:00 the silence starts counting.
    let mut said = Vec::new();
    let mut m = 22.0 * 60.0;
    while m <= 25.5 * 60.0 {
        said.extend(engine.evaluate(minutes(m)).into_iter().map(|r| (m, r)));
        m += 0.5;
    }
    let seen: Vec<(f64, AlertState)> = said.iter().map(|(m, r)| (*m, r.state)).collect();
    // Raised a minute into the window (23:01), resolved when it closes (01:00 the next day).
    assert_eq!(
        seen,
        [
            (23.0 * 60.0 + 1.0, AlertState::Raised),
            (25.0 * 60.0, AlertState::Resolved)
        ]
    );
    assert!(DailyWindow {
        start: "08:00".into(),
        end: "18:00".into()
    }
    .contains(9 * 60));
    assert_eq!(DailyWindow::minutes("8:00"), None);
    assert_eq!(DailyWindow::minutes("24:00"), None);
}

#[test]
fn a_transmitter_keyed_again_is_the_same_emitter_for_the_cooldown() {
    let mut engine = Engine::new(vec![level_rule(0.0, 10.0)], 10);
    let activation = |id: &str| {
        with(signal(id, 145.5, -40.0, &["rx1"]), |s| {
            s.identity.emitter_id = "em-7".into()
        })
    };
    engine.observe(&activation("sig-1"));
    let said = run(&mut engine, 0.0, 1.0);
    assert_eq!(states(&said), [AlertState::Raised]);
    assert_eq!(
        (said[0].1.emitter_id.as_str(), said[0].1.signal_id.as_deref()),
        ("em-7", Some("sig-1"))
    );
    engine.observe(&lost("sig-1"));
    assert_eq!(states(&run(&mut engine, 1.1, 2.0)), [AlertState::Resolved]);
    // Its next transmission is a new signal but the same emitter: held back until 11.1 s.
    engine.observe(&activation("sig-2"));
    let said = run(&mut engine, 2.1, 12.0);
    assert_eq!(states(&said), [AlertState::Raised]);
    assert!((said[0].0 - 11.1).abs() < 0.15, "{said:?}");
    assert_eq!(said[0].1.signal_id.as_deref(), Some("sig-2"));
}

#[test]
fn missing_matches_the_signal_name_of_a_simulated_transmitter_too() {
    let rule = AlertRule {
        signal: Some("Test voice".into()),
        for_s: 1.0,
        ..AlertRule::new("voice-gone", AlertKind::Missing)
    };
    let mut engine = Engine::new(vec![rule], 10);
    engine.observe(&with(signal("sig-1", 145.5, -60.0, &["rx1"]), |s| {
        s.identity.name = Some("Test voice".into())
    }));
    assert!(run(&mut engine, 0.0, 3.0).is_empty());
    engine.observe(&lost("sig-1"));
    assert_eq!(states(&run(&mut engine, 3.1, 5.0)), [AlertState::Raised]);
}

/// An engine that ran `rules` from 0 s while `events` held, stopped at `stop` seconds: the
/// alerts active then (what the history database holds) and the next number.
fn stopped_at(rules: Vec<AlertRule>, events: &[Event], stop: f64) -> (Vec<AlertReport>, u64) {
    let mut engine = Engine::new(rules, 10);
    for event in events {
        engine.observe(event);
    }
    let said = run(&mut engine, 0.0, stop);
    assert!(
        said.iter().all(|(_, r)| r.state == AlertState::Raised),
        "{said:?}"
    );
    let active = engine.listing().active;
    let next = said.len() as u64 + 1;
    (active, next)
}

#[test]
fn a_restored_alert_found_again_goes_on_under_its_id_without_being_raised_again() {
    let offline = receivers(&[("rx1", ReceiverStatus::Offline)]);
    let rules = vec![
        AlertRule {
            for_s: 2.0,
            ..AlertRule::new("down", AlertKind::ReceiverOffline)
        },
        level_rule(1.0, 0.0),
    ];
    let loud = signal("sig-7", 145.5, -20.0, &["rx1"]);
    let (stored, next) = stopped_at(rules.clone(), &[offline.clone(), loud], 5.0);
    assert_eq!(stored.len(), 2);
    assert_eq!(next, 3);

    // The restarted process: the receiver is still down, the signal is on the air again with
    // other ids (numbered afresh) 300 Hz away.
    let mut engine = Engine::new(rules, 10);
    assert!(engine.restore(stored.clone(), next, at(100.0), 30.0).is_empty());
    assert_eq!(engine.listing().active, stored, "in the listing at once");
    engine.observe(&offline);
    engine.observe(&with(signal("sig-1", 145.5003, -20.0, &["rx2"]), |s| {
        s.bandwidth_hz = 200.0
    }));
    let said = run(&mut engine, 100.0, 200.0);
    assert!(
        said.is_empty(),
        "nothing raised again, nothing resolved: {said:?}"
    );
    let active = engine.listing().active;
    let ids: Vec<&str> = active.iter().map(|a| a.alert_id.as_str()).collect();
    let was: Vec<&str> = stored.iter().map(|a| a.alert_id.as_str()).collect();
    assert_eq!(ids, was);
    let level = active.iter().find(|a| a.rule == "strong-2m").unwrap();
    assert_eq!(
        (
            level.emitter_id.as_str(),
            level.signal_id.as_deref(),
            level.receivers.clone()
        ),
        ("em-1", Some("sig-1"), vec!["rx2".to_string()]),
        "about the signal as this process names it"
    );
    let was = stored.iter().find(|a| a.rule == "strong-2m").unwrap();
    assert_eq!((&level.alert_id, level.raised_at), (&was.alert_id, was.raised_at));

    // It ends like any alert, once; a new alert is numbered after the stored ones.
    engine.observe(&receivers(&[("rx1", ReceiverStatus::Online)]));
    engine.observe(&lost("sig-1"));
    let said = run(&mut engine, 200.0, 201.0);
    assert_eq!(states(&said), [AlertState::Resolved, AlertState::Resolved]);
    engine.observe(&offline);
    let said = run(&mut engine, 201.0, 204.0);
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].1.alert_id, "alert-3");
}

#[test]
fn a_restored_alert_not_found_again_resolves_once_at_the_end_of_the_grace() {
    let rules = vec![level_rule(1.0, 0.0)];
    let (stored, next) = stopped_at(rules.clone(), &[signal("sig-1", 145.5, -20.0, &["rx1"])], 3.0);
    let mut engine = Engine::new(rules, 10);
    engine.restore(stored, next, at(100.0), 30.0);
    // Another signal, far from the stored one's frequency, does not hold it; it is raised on
    // its own after `for_s`.
    engine.observe(&signal("sig-2", 145.9, -20.0, &["rx1"]));
    let said = run(&mut engine, 100.0, 140.0);
    // (The stepped clock is 100 ms steps of a float: a step late at most.)
    let summary: Vec<(&str, AlertState, bool)> = said
        .iter()
        .zip([101.0, 130.0])
        .map(|((t, r), want)| (r.alert_id.as_str(), r.state, (t - want).abs() < 0.15))
        .collect();
    assert_eq!(
        summary,
        [
            ("alert-2", AlertState::Raised, true),
            ("alert-1", AlertState::Resolved, true)
        ],
        "{said:?}"
    );
    assert!(
        said[1].1.message.contains("not found again after the restart"),
        "{}",
        said[1].1.message
    );
    assert_eq!(engine.listing().past[0].alert_id, "alert-1");
}

#[test]
fn a_restored_alert_of_a_rule_no_longer_configured_resolves_at_once() {
    let (stored, next) = stopped_at(
        vec![level_rule(1.0, 0.0)],
        &[signal("sig-1", 145.5, -20.0, &["rx1"])],
        3.0,
    );
    let mut renamed = level_rule(1.0, 0.0);
    renamed.name = "other".into();
    let mut engine = Engine::new(vec![renamed], 10);
    let said = engine.restore(stored, next, at(100.0), 30.0);
    assert_eq!(
        states(&said.iter().map(|r| (0.0, r.clone())).collect::<Vec<_>>()),
        [AlertState::Resolved]
    );
    assert!(engine.listing().active.is_empty());
}

#[test]
fn a_restored_new_signal_alert_stays_while_its_signal_is_on_the_air_though_no_longer_novel() {
    let rule = AlertRule {
        for_s: 0.5,
        freq_min_hz: Some(144e6),
        freq_max_hz: Some(146e6),
        ..AlertRule::new("new", AlertKind::NewSignal)
    };
    let novel = with(signal("sig-1", 145.5, -60.0, &["rx1"]), |s| s.novel = true);
    let (stored, next) = stopped_at(vec![rule.clone()], &[novel], 2.0);
    assert_eq!(stored.len(), 1);
    let mut engine = Engine::new(vec![rule], 10);
    engine.restore(stored, next, at(100.0), 10.0);
    // Heard before the restart: the new process does not find it novel.
    engine.observe(&with(signal("sig-4", 145.5, -60.0, &["rx1"]), |s| {
        s.novel = false
    }));
    assert!(run(&mut engine, 100.0, 150.0).is_empty());
    assert_eq!(engine.listing().active[0].alert_id, "alert-1");
    engine.observe(&lost("sig-4"));
    assert_eq!(states(&run(&mut engine, 150.0, 151.0)), [AlertState::Resolved]);
}
