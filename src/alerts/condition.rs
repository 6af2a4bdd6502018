//! What each kind of rule finds in the world right now: one [`Finding`] per emitter (signal,
//! known signal, receiver) for which the rule's condition holds. Timing (`for_s`,
//! `cooldown_s`) is the engine's business, not this file's.

use super::geo;
use super::world::World;
use crate::config::AlertRule;
use crate::events::{AlertKind, ReceiverStatus, SignalReport, Timestamp};

/// The condition of a rule holds for one emitter.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What the alert is about: a signal id, a known signal's name, a receiver id.
    pub emitter_id: String,
    /// The signal, when the emitter is one.
    pub signal_id: Option<String>,
    /// The receivers involved.
    pub receivers: Vec<String>,
    /// The signal's centre frequency and occupied bandwidth, Hz, when the emitter is one.
    pub frequency: Option<(f64, f64)>,
    /// What holds, in words.
    pub message: String,
}

/// Every emitter for which `rule` holds in `world` at `now`, by emitter id (one finding each).
pub fn findings(rule: &AlertRule, world: &World, now: Timestamp) -> Vec<Finding> {
    match rule.kind {
        AlertKind::NewSignal => signals(rule, world)
            .filter(|s| s.novel && s.known.is_none())
            .map(|s| signal_finding(s, format!("new signal at {:.4} MHz", s.frequency_mhz)))
            .collect(),
        AlertKind::Level => match (rule.power_dbfs, rule.above_baseline_db) {
            (Some(threshold), _) => signals(rule, world)
                .filter(|s| s.power_dbfs >= threshold)
                .map(|s| {
                    let message = format!(
                        "{:.4} MHz at {:.1} dBFS (threshold {threshold} dBFS)",
                        s.frequency_mhz, s.power_dbfs
                    );
                    signal_finding(s, message)
                })
                .collect(),
            (None, Some(over)) => signals(rule, world)
                .filter_map(|s| {
                    let baseline = world.baselines.get(&s.websdr_id)?;
                    let median = f64::from(baseline.at(s.frequency_hz)?);
                    (s.peak_power_dbfs - median >= over).then(|| {
                        let message = format!(
                            "{:.4} MHz peaks at {:.1} dBFS, {:.1} dB over its baseline of {median:.1} dBFS at {} \
                             for {:02}:00-{:02}:00 UTC ({} minutes over {} days; threshold {over} dB)",
                            s.frequency_mhz,
                            s.peak_power_dbfs,
                            s.peak_power_dbfs - median,
                            s.websdr_id,
                            baseline.hour,
                            (baseline.hour + 1) % 24,
                            baseline.minutes,
                            baseline.days,
                        );
                        signal_finding(s, message)
                    })
                })
                .collect(),
            (None, None) => Vec::new(),
        },
        AlertKind::Missing => missing(rule, world, now).into_iter().collect(),
        AlertKind::ReceiverOffline => world
            .receivers
            .iter()
            .filter(|(id, _)| rule.receivers.is_empty() || rule.receivers.contains(id))
            .filter(|(_, (status, _))| *status != ReceiverStatus::Online)
            .map(|(id, (status, detail))| {
                let status = match status {
                    ReceiverStatus::Offline => "offline",
                    _ => "degraded",
                };
                let why = detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
                Finding {
                    emitter_id: id.clone(),
                    signal_id: None,
                    receivers: vec![id.clone()],
                    frequency: None,
                    message: format!("receiver {id} is {status}{why}"),
                }
            })
            .collect(),
        AlertKind::Geofence => world
            .fixes
            .iter()
            .filter_map(|(id, fix)| Some((world.signals.get(id)?, fix)))
            .filter(|(_, fix)| fix.confidence >= rule.min_confidence)
            .filter(|(_, fix)| {
                rule.receivers.is_empty() || fix.receivers.iter().any(|r| rule.receivers.contains(r))
            })
            .filter(|(_, fix)| match (&rule.circle, &rule.polygon) {
                (Some(circle), _) => geo::in_circle(circle, fix.latitude, fix.longitude),
                (None, Some(polygon)) => geo::in_polygon(polygon, fix.latitude, fix.longitude),
                (None, None) => false,
            })
            .map(|(signal, fix)| Finding {
                emitter_id: emitter(signal).to_string(),
                signal_id: Some(fix.signal_id.clone()),
                receivers: fix.receivers.clone(),
                frequency: Some((signal.frequency_hz, signal.bandwidth_hz)),
                message: format!(
                    "{} located inside the geofence at {:.5}, {:.5} (confidence {:.2})",
                    fix.signal_id, fix.latitude, fix.longitude, fix.confidence
                ),
            })
            .collect(),
    }
}

/// A finding for every active signal in the rule's band that is not a known signal, novel or
/// not (what a restored `new_signal` alert is held by).
pub fn unknown_signals(rule: &AlertRule, world: &World) -> Vec<Finding> {
    signals(rule, world)
        .filter(|s| s.known.is_none())
        .map(|s| signal_finding(s, format!("new signal at {:.4} MHz", s.frequency_mhz)))
        .collect()
}

/// The active signals in the rule's band (if it has one) heard by one of its receivers (if it
/// names any).
fn signals<'a>(rule: &'a AlertRule, world: &'a World) -> impl Iterator<Item = &'a SignalReport> + 'a {
    world.signals.values().filter(move |s| {
        rule.band()
            .is_none_or(|(lo, hi)| s.frequency_hz >= lo && s.frequency_hz <= hi)
            && (rule.receivers.is_empty() || s.receivers.iter().any(|r| rule.receivers.contains(r)))
    })
}

/// The emitter of a signal: its transmitter across transmissions, or the signal itself in
/// reports without one.
fn emitter(signal: &SignalReport) -> &str {
    match signal.identity.emitter_id.as_str() {
        "" => &signal.signal_id,
        emitter => emitter,
    }
}

fn signal_finding(signal: &SignalReport, message: String) -> Finding {
    Finding {
        emitter_id: emitter(signal).to_string(),
        signal_id: Some(signal.signal_id.clone()),
        receivers: signal.receivers.clone(),
        frequency: Some((signal.frequency_hz, signal.bandwidth_hz)),
        message,
    }
}

/// `missing`: the finding when nothing the rule expects is heard now (the engine's `for_s`
/// turns "not heard now" into "not heard for `for_s`").
fn missing(rule: &AlertRule, world: &World, now: Timestamp) -> Option<Finding> {
    const NS_PER_MINUTE: i64 = 60_000_000_000;
    let minute = now.0.div_euclid(NS_PER_MINUTE).rem_euclid(24 * 60) as u32;
    if rule.schedule.as_ref().is_some_and(|w| !w.contains(minute)) {
        // Not expected now: nothing is missing.
        return None;
    }
    let (emitter_id, what) = match (&rule.signal, rule.band()) {
        (Some(name), _) => (name.clone(), format!("known signal {name:?}")),
        (None, Some((lo, hi))) => (
            format!("{:.4}-{:.4} MHz", lo / 1e6, hi / 1e6),
            format!("no signal in {:.4}-{:.4} MHz", lo / 1e6, hi / 1e6),
        ),
        (None, None) => return None,
    };
    let heard = match &rule.signal {
        Some(name) => signals(rule, world).any(|s| {
            s.identity.name.as_ref() == Some(name)
                || s.known
                    .as_ref()
                    .is_some_and(|k| &k.name == name || k.id.to_string() == *name)
        }),
        None => signals(rule, world).next().is_some(),
    };
    (!heard).then(|| Finding {
        emitter_id,
        signal_id: None,
        receivers: rule.receivers.clone(),
        frequency: None,
        message: format!("{what} is not heard"),
    })
}
