//! The alert state machine: for every rule and emitter, how long its condition has held
//! (`for_s` debounce), whether an alert about it is active, and when the last one resolved
//! (`cooldown_s`). Pure and driven by the clock it is given, so tests can step time.
//!
//! Per rule and emitter: the condition starts holding at the first evaluation that finds it;
//! the alert is raised (once) at the first evaluation at least `for_s` later, unless an alert
//! about the same emitter resolved less than `cooldown_s` before; it resolves (once) at the
//! first evaluation that no longer finds the condition. A condition that stops before `for_s`
//! raises nothing.
//!
//! After a restart ([`Engine::restore`]), the active alerts stored in the history database
//! wait, for `alerts.restore_grace_s`, to be found again: the first finding of the same rule
//! about the same subject takes one over, under its id and `raised_at`, without raising it
//! again. The subject is the emitter id for alerts about a receiver or a known signal (ids
//! that outlive a process), and the frequency for alerts about a signal (signal and emitter
//! ids are numbered afresh by each process): the nearest restored alert within half the
//! signal's bandwidth (at least [`ADOPT_TOLERANCE_HZ`]). A `new_signal` alert taken over stays
//! on its signal for as long as it is on the air, novel or not: the signal was stored before
//! the restart, so the new process does not find it novel any more. Restored alerts not found
//! again within the grace resolve then; those of a rule no longer configured resolve at once.

use super::condition::{findings, unknown_signals, Finding};
use super::world::World;
use crate::config::AlertRule;
use crate::events::{AlertKind, AlertReport, AlertState, AlertsListing, Event, Timestamp};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// How far a signal's frequency may lie from a restored alert's and still be its subject,
/// at least, Hz (more when half the signal's bandwidth is more): the tracker's centre of one
/// transmitter moves by a bin or two between transmissions.
pub const ADOPT_TOLERANCE_HZ: f64 = 1_000.0;

/// One emitter's timing under one rule.
#[derive(Debug, Default)]
struct Track {
    /// Since when the condition holds; `None` while it does not.
    since: Option<Timestamp>,
    /// The active alert about it.
    active: Option<String>,
    /// When its last alert resolved.
    resolved_at: Option<Timestamp>,
}

/// The outcome of acknowledging an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Ack {
    /// The active alert, now acknowledged, to be published (state `acked`).
    Acked(AlertReport),
    /// Already acknowledged, or resolved: nothing new to tell.
    Unchanged(AlertReport),
    /// No such alert.
    Unknown,
}

/// The rules, what they have found and the alerts they raised.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<AlertRule>,
    world: World,
    /// Per rule (same index), per emitter.
    tracks: Vec<HashMap<String, Track>>,
    active: BTreeMap<String, AlertReport>,
    resolved: VecDeque<AlertReport>,
    keep_resolved: usize,
    next_id: u64,
    /// Per rule: restored alerts (ids in `active`) not found again yet.
    pending: Vec<Vec<String>>,
    /// When the restored alerts still pending resolve.
    restore_until: Timestamp,
    /// Per rule (`new_signal` only): emitters whose restored alert was taken over, found while
    /// on the air whether or not they are still novel.
    adopted: Vec<HashSet<String>>,
}

impl Engine {
    /// An engine over `rules` that remembers `keep_resolved` resolved alerts.
    pub fn new(rules: Vec<AlertRule>, keep_resolved: usize) -> Self {
        let tracks = rules.iter().map(|_| HashMap::new()).collect();
        let pending = rules.iter().map(|_| Vec::new()).collect();
        let adopted = rules.iter().map(|_| HashSet::new()).collect();
        Self {
            rules,
            world: World::default(),
            tracks,
            active: BTreeMap::new(),
            resolved: VecDeque::new(),
            keep_resolved,
            next_id: 1,
            pending,
            restore_until: Timestamp(i64::MIN),
            adopted,
        }
    }

    /// Takes back the alerts that were active when the process stopped (`stored`, from the
    /// history database), numbers new alerts from `next_id` on, and gives the restored ones
    /// until `now` + `grace_s` to be found again (see the module documentation). Returns the
    /// alerts resolved at once: those of rules no longer configured.
    pub fn restore(
        &mut self,
        stored: Vec<AlertReport>,
        next_id: u64,
        now: Timestamp,
        grace_s: f64,
    ) -> Vec<AlertReport> {
        self.next_id = self.next_id.max(next_id);
        self.restore_until = Timestamp(now.0.saturating_add((grace_s * 1e9) as i64));
        let mut out = Vec::new();
        for report in stored {
            let rule = self
                .rules
                .iter()
                .position(|r| r.name == report.rule && r.kind == report.kind);
            match rule {
                Some(index) => {
                    self.pending[index].push(report.alert_id.clone());
                    self.active.insert(report.alert_id.clone(), report);
                }
                None => {
                    let why = "its rule is no longer configured";
                    out.push(self.resolve(report, now, why));
                }
            }
        }
        out
    }

    /// `report`, resolved at `now` (kept among the resolved).
    fn resolve(&mut self, report: AlertReport, now: Timestamp, why: &str) -> AlertReport {
        let report = AlertReport {
            state: AlertState::Resolved,
            resolved_at: Some(now),
            message: format!("resolved: {} ({why})", report.message),
            ..report
        };
        self.resolved.push_front(report.clone());
        self.resolved.truncate(self.keep_resolved);
        report
    }

    /// Takes in a broadcast event (the engine's view of the world changes; nothing is decided
    /// until [`Engine::evaluate`]).
    pub fn observe(&mut self, event: &Event) {
        self.world.observe(event);
    }

    /// Sets every receiver's occupancy baseline for the current hour (`above_baseline_db`).
    pub fn set_baselines(&mut self, baselines: BTreeMap<String, crate::history::baseline::Baseline>) {
        self.world.baselines = baselines;
    }

    /// Whether a rule compares with the occupancy baselines.
    pub fn needs_baselines(&self) -> bool {
        self.rules.iter().any(|r| r.above_baseline_db.is_some())
    }

    /// The receivers the engine knows of (from `websdrs:status`).
    pub fn receivers(&self) -> Vec<String> {
        self.world.receivers.keys().cloned().collect()
    }

    /// Applies every rule at `now`: the alerts raised and resolved, in that order per rule.
    pub fn evaluate(&mut self, now: Timestamp) -> Vec<AlertReport> {
        let mut out = Vec::new();
        for index in 0..self.rules.len() {
            let rule = &self.rules[index];
            let mut found: HashMap<String, Finding> = findings(rule, &self.world, now)
                .into_iter()
                .map(|f| (f.emitter_id.clone(), f))
                .collect();
            if rule.kind == AlertKind::NewSignal
                && !(self.adopted[index].is_empty() && self.pending[index].is_empty())
            {
                // Signals of restored alerts stay found while on the air, novel or not.
                for finding in unknown_signals(rule, &self.world) {
                    let held = self.adopted[index].contains(&finding.emitter_id)
                        || self.pending[index]
                            .iter()
                            .any(|id| self.active.get(id).is_some_and(|r| same_signal(r, &finding)));
                    if held {
                        found.entry(finding.emitter_id.clone()).or_insert(finding);
                    }
                }
            }
            self.step(index, &found, now, &mut out);
        }
        if now >= self.restore_until {
            let pending: Vec<String> = self.pending.iter_mut().flat_map(std::mem::take).collect();
            for id in pending {
                if let Some(report) = self.active.remove(&id) {
                    let why = "not found again after the restart";
                    out.push(self.resolve(report, now, why));
                }
            }
        }
        out
    }

    fn step(
        &mut self,
        index: usize,
        found: &HashMap<String, Finding>,
        now: Timestamp,
        out: &mut Vec<AlertReport>,
    ) {
        let rule = &self.rules[index];
        let for_ns = (rule.for_s * 1e9) as i64;
        let cooldown_ns = (rule.cooldown_s * 1e9) as i64;
        let tracks = &mut self.tracks[index];
        for (emitter, finding) in found {
            let track = tracks.entry(emitter.clone()).or_default();
            if track.active.is_none() {
                if let Some(id) = take_over(&mut self.pending[index], &self.active, finding) {
                    // A restored alert found again: it goes on, about this emitter now.
                    if let Some(report) = self.active.get_mut(&id) {
                        report.emitter_id = emitter.clone();
                        report.signal_id = finding.signal_id.clone();
                        report.receivers = finding.receivers.clone();
                        track.since = Some(report.raised_at);
                    }
                    if rule.kind == AlertKind::NewSignal {
                        self.adopted[index].insert(emitter.clone());
                    }
                    track.active = Some(id);
                    continue;
                }
            }
            let since = *track.since.get_or_insert(now);
            let cooled = track.resolved_at.is_none_or(|t| now.0 - t.0 >= cooldown_ns);
            if track.active.is_none() && now.0 - since.0 >= for_ns && cooled {
                let alert_id = format!("alert-{}", self.next_id);
                self.next_id += 1;
                let report = AlertReport {
                    alert_id: alert_id.clone(),
                    rule: rule.name.clone(),
                    kind: rule.kind,
                    severity: rule.severity,
                    state: AlertState::Raised,
                    signal_id: finding.signal_id.clone(),
                    emitter_id: emitter.clone(),
                    receivers: finding.receivers.clone(),
                    frequency_hz: finding.frequency.map(|(f, _)| f),
                    labels: rule.labels.clone(),
                    message: finding.message.clone(),
                    raised_at: now,
                    resolved_at: None,
                    acked: false,
                };
                track.active = Some(alert_id.clone());
                self.active.insert(alert_id, report.clone());
                out.push(report);
            } else if let Some(report) = track.active.as_ref().and_then(|id| self.active.get_mut(id)) {
                // One alert per emitter: receivers that join while it is active are listed.
                for receiver in &finding.receivers {
                    if !report.receivers.contains(receiver) {
                        report.receivers.push(receiver.clone());
                    }
                }
            }
        }
        let adopted = &mut self.adopted[index];
        tracks.retain(|emitter, track| {
            if found.contains_key(emitter) {
                return true;
            }
            adopted.remove(emitter);
            track.since = None;
            if let Some(report) = track.active.take().and_then(|id| self.active.remove(&id)) {
                let report = AlertReport {
                    state: AlertState::Resolved,
                    resolved_at: Some(now),
                    message: format!("resolved: {}", report.message),
                    ..report
                };
                self.resolved.push_front(report.clone());
                self.resolved.truncate(self.keep_resolved);
                out.push(report);
                track.resolved_at = Some(now);
            }
            // Forgotten once nothing about it matters any more (bounded memory over many
            // short-lived signals).
            track.resolved_at.is_some_and(|t| now.0 - t.0 < cooldown_ns)
        });
    }

    /// Acknowledges alert `id`.
    pub fn ack(&mut self, id: &str) -> Ack {
        if let Some(report) = self.active.get_mut(id) {
            if report.acked {
                return Ack::Unchanged(report.clone());
            }
            report.acked = true;
            return Ack::Acked(AlertReport {
                state: AlertState::Acked,
                ..report.clone()
            });
        }
        match self.resolved.iter_mut().find(|r| r.alert_id == id) {
            Some(report) => {
                report.acked = true;
                Ack::Unchanged(report.clone())
            }
            None => Ack::Unknown,
        }
    }

    /// The active alerts (oldest first) and the resolved ones kept (newest first).
    pub fn listing(&self) -> AlertsListing {
        let mut active: Vec<AlertReport> = self.active.values().cloned().collect();
        active.sort_by_key(|a| a.raised_at);
        AlertsListing {
            active,
            past: self.resolved.iter().cloned().collect(),
        }
    }
}

/// Whether `finding` is about the signal restored alert `report` was about: the same emitter
/// for alerts about receivers and known signals, the nearest frequency for alerts about signals
/// (see [`ADOPT_TOLERANCE_HZ`]).
fn same_signal(report: &AlertReport, finding: &Finding) -> bool {
    distance(report, finding).is_some()
}

/// How far `finding` is from restored alert `report`'s subject, Hz (0 for the same emitter);
/// `None` when it is another subject.
fn distance(report: &AlertReport, finding: &Finding) -> Option<f64> {
    match (report.frequency_hz, finding.frequency) {
        (Some(was), Some((frequency, bandwidth))) => {
            let off = (frequency - was).abs();
            (off <= ADOPT_TOLERANCE_HZ.max(bandwidth / 2.0)).then_some(off)
        }
        (None, None) => (report.emitter_id == finding.emitter_id).then_some(0.0),
        _ => None,
    }
}

/// Removes from `pending` and returns the restored alert `finding` is about (the nearest),
/// if any.
fn take_over(
    pending: &mut Vec<String>,
    active: &BTreeMap<String, AlertReport>,
    finding: &Finding,
) -> Option<String> {
    let (at, _) = pending
        .iter()
        .enumerate()
        .filter_map(|(at, id)| Some((at, distance(active.get(id)?, finding)?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(pending.swap_remove(at))
}
