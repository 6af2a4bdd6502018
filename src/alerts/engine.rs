//! The alert state machine: for every rule and emitter, how long its condition has held
//! (`for_s` debounce), whether an alert about it is active, and when the last one resolved
//! (`cooldown_s`). Pure and driven by the clock it is given, so tests can step time.
//!
//! Per rule and emitter: the condition starts holding at the first evaluation that finds it;
//! the alert is raised (once) at the first evaluation at least `for_s` later, unless an alert
//! about the same emitter resolved less than `cooldown_s` before; it resolves (once) at the
//! first evaluation that no longer finds the condition. A condition that stops before `for_s`
//! raises nothing.

use super::condition::{findings, Finding};
use super::world::World;
use crate::config::AlertRule;
use crate::events::{AlertReport, AlertState, AlertsListing, Event, Timestamp};
use std::collections::{BTreeMap, HashMap, VecDeque};

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
}

impl Engine {
    /// An engine over `rules` that remembers `keep_resolved` resolved alerts.
    pub fn new(rules: Vec<AlertRule>, keep_resolved: usize) -> Self {
        let tracks = rules.iter().map(|_| HashMap::new()).collect();
        Self {
            rules,
            world: World::default(),
            tracks,
            active: BTreeMap::new(),
            resolved: VecDeque::new(),
            keep_resolved,
            next_id: 1,
        }
    }

    /// Takes in a broadcast event (the engine's view of the world changes; nothing is decided
    /// until [`Engine::evaluate`]).
    pub fn observe(&mut self, event: &Event) {
        self.world.observe(event);
    }

    /// Applies every rule at `now`: the alerts raised and resolved, in that order per rule.
    pub fn evaluate(&mut self, now: Timestamp) -> Vec<AlertReport> {
        let mut out = Vec::new();
        for index in 0..self.rules.len() {
            let found: HashMap<String, Finding> = findings(&self.rules[index], &self.world, now)
                .into_iter()
                .map(|f| (f.emitter_id.clone(), f))
                .collect();
            self.step(index, &found, now, &mut out);
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
        tracks.retain(|emitter, track| {
            if found.contains_key(emitter) {
                return true;
            }
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
