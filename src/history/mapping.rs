//! From live events to history records.
//!
//! The same functions serve the hub (its event stream) and `history-writer` (the bus), so both
//! store the same rows. Reports and localizations map one to one; status and health reports
//! are periodic snapshots, of which [`StatusChanges`] and [`HealthChanges`] keep only the
//! changes; [`ObservationSummariser`] folds per-receiver measurements into one summary per
//! `observation_s` window.

use super::record::{ObservationRecord, Record};
use crate::events::history::{ReceiverStatusChange, ServiceHealthChange};
use crate::events::{
    HealthReport, HealthStatus, LocalizationReport, ReceiverStatus, SignalReport, SignalState, Timestamp,
    WebsdrsReport,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Signals with open observation windows at most: far more than a band holds at once (the
/// tracker reports lost signals, which closes their windows); beyond, measurements of further
/// signals are not summarised and are counted in [`ObservationSummariser::skipped`].
pub const OPEN_SIGNALS_MAX: usize = 10_000;

/// A `signals:detected` report as a record.
pub fn signal_record(report: &SignalReport) -> Record {
    Record::Signal(Box::new(report.clone()))
}

/// A `localizations:updated` report as a record.
pub fn localization_record(report: &LocalizationReport) -> Record {
    Record::Localization(Box::new(report.clone()))
}

/// One receiver's measurement of one signal at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement<'a> {
    /// The live id of the signal.
    pub signal_id: &'a str,
    /// Its `first_seen`, ns.
    pub first_seen_ns: i64,
    /// The receiver.
    pub receiver: &'a str,
    /// When, ns.
    pub time_ns: i64,
    /// Total power, dBFS.
    pub power_dbfs: f64,
    /// Per-bin SNR, dB.
    pub snr_db: f64,
}

/// Running min/sum/max of one quantity.
#[derive(Debug, Clone, Copy)]
struct Stat {
    min: f64,
    sum: f64,
    max: f64,
}

impl Stat {
    fn new(x: f64) -> Self {
        Self {
            min: x,
            sum: x,
            max: x,
        }
    }

    fn add(&mut self, x: f64) {
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.sum += x;
    }

    fn summary(&self, n: u32) -> [f64; 3] {
        [self.min, self.sum / f64::from(n.max(1)), self.max]
    }
}

#[derive(Debug, Clone)]
struct Window {
    receiver: Arc<str>,
    start_ns: i64,
    samples: u32,
    power: Stat,
    snr: Stat,
}

#[derive(Debug)]
struct OpenSignal {
    first_seen_ns: i64,
    windows: Vec<Window>,
}

/// Folds measurements into one [`ObservationRecord`] per signal, receiver and window of
/// `observation_s` (windows are aligned to multiples of it since the epoch, so two writers cut
/// the same windows).
#[derive(Debug)]
pub struct ObservationSummariser {
    period_ns: i64,
    open: HashMap<Arc<str>, OpenSignal>,
    skipped: u64,
}

impl ObservationSummariser {
    /// A summariser with windows of `period_ns` (`HistoryConfig::observation_ns`).
    ///
    /// # Panics
    /// If `period_ns` is not positive.
    pub fn new(period_ns: i64) -> Self {
        assert!(period_ns > 0, "the observation window must be positive");
        Self {
            period_ns,
            open: HashMap::new(),
            skipped: 0,
        }
    }

    /// Measurements not summarised because [`OPEN_SIGNALS_MAX`] signals were open.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Adds one measurement; the window it closes (its receiver's previous one, when this one
    /// falls in a later window) is pushed to `out`.
    pub fn observe(&mut self, m: &Measurement<'_>, out: &mut Vec<Record>) {
        let start_ns = m.time_ns.div_euclid(self.period_ns) * self.period_ns;
        let period = self.period_ns;
        if let Some(signal) = self.open.get(m.signal_id) {
            if signal.first_seen_ns != m.first_seen_ns {
                // The id names another signal now (a restarted source): close the old one.
                self.close(m.signal_id, out);
            }
        }
        if !self.open.contains_key(m.signal_id) {
            if self.open.len() >= OPEN_SIGNALS_MAX {
                self.skipped += 1;
                return;
            }
            self.open.insert(
                m.signal_id.into(),
                OpenSignal {
                    first_seen_ns: m.first_seen_ns,
                    windows: Vec::new(),
                },
            );
        }
        let Some(key) = self.open.get_key_value(m.signal_id).map(|(key, _)| key.clone()) else {
            return;
        };
        let Some(signal) = self.open.get_mut(m.signal_id) else {
            return;
        };
        match signal.windows.iter_mut().find(|w| &*w.receiver == m.receiver) {
            Some(window) if window.start_ns == start_ns => {
                window.samples += 1;
                window.power.add(m.power_dbfs);
                window.snr.add(m.snr_db);
            }
            Some(window) => {
                if start_ns > window.start_ns {
                    out.push(observation(&key, signal.first_seen_ns, window, period));
                    *window = Window {
                        receiver: window.receiver.clone(),
                        start_ns,
                        samples: 1,
                        power: Stat::new(m.power_dbfs),
                        snr: Stat::new(m.snr_db),
                    };
                }
                // A measurement older than its receiver's open window is late: it is dropped
                // rather than reopening a window already stored.
            }
            None => signal.windows.push(Window {
                receiver: m.receiver.into(),
                start_ns,
                samples: 1,
                power: Stat::new(m.power_dbfs),
                snr: Stat::new(m.snr_db),
            }),
        }
    }

    /// Adds the best receiver's measurement of a report; a `lost` report closes the signal's
    /// windows instead (its last measurement is already in them).
    pub fn observe_report(&mut self, report: &SignalReport, out: &mut Vec<Record>) {
        if report.state == SignalState::Lost {
            self.close(&report.signal_id, out);
            return;
        }
        self.observe(
            &Measurement {
                signal_id: &report.signal_id,
                first_seen_ns: report.first_seen.0,
                receiver: &report.websdr_id,
                time_ns: report.timestamp.0,
                power_dbfs: report.power_dbfs,
                snr_db: report.snr_db,
            },
            out,
        );
    }

    /// Closes every window that ended at or before `now_ns` (call it now and then, so that a
    /// signal that stops being measured is still stored).
    pub fn flush_before(&mut self, now_ns: i64, out: &mut Vec<Record>) {
        let period = self.period_ns;
        self.open.retain(|key, signal| {
            signal.windows.retain(|w| {
                let ended = w.start_ns + period <= now_ns;
                if ended {
                    out.push(observation(key, signal.first_seen_ns, w, period));
                }
                !ended
            });
            !signal.windows.is_empty()
        });
    }

    /// Closes every window (at shutdown).
    pub fn finish(&mut self, out: &mut Vec<Record>) {
        self.flush_before(i64::MAX, out);
    }

    fn close(&mut self, signal_id: &str, out: &mut Vec<Record>) {
        if let Some((key, signal)) = self.open.remove_entry(signal_id) {
            for w in &signal.windows {
                out.push(observation(&key, signal.first_seen_ns, w, self.period_ns));
            }
        }
    }
}

fn observation(signal_id: &Arc<str>, first_seen_ns: i64, w: &Window, period_ns: i64) -> Record {
    Record::Observation(ObservationRecord {
        signal_id: signal_id.clone(),
        first_seen_ns,
        receiver: w.receiver.clone(),
        start_ns: w.start_ns,
        stop_ns: w.start_ns + period_ns,
        samples: w.samples,
        power_dbfs: w.power.summary(w.samples),
        snr_db: w.snr.summary(w.samples),
    })
}

/// Receiver status changes out of periodic `websdrs:status` reports.
#[derive(Debug, Default)]
pub struct StatusChanges {
    last: HashMap<String, ReceiverStatus>,
}

impl StatusChanges {
    /// Detection that goes on from known statuses (the last stored of each receiver, when a
    /// writer restarts), so a status that did not change is not stored again.
    pub fn resume(last: impl IntoIterator<Item = (String, ReceiverStatus)>) -> Self {
        Self {
            last: last.into_iter().collect(),
        }
    }

    /// The receivers of `report` whose status differs from the previous report's (all of them
    /// the first time), stamped `time`.
    pub fn changes(&mut self, report: &WebsdrsReport, time: Timestamp) -> Vec<Record> {
        let mut out = Vec::new();
        for rx in &report.websdrs {
            if self.last.get(&rx.id) == Some(&rx.status) {
                continue;
            }
            self.last.insert(rx.id.clone(), rx.status);
            out.push(Record::ReceiverStatus(ReceiverStatusChange {
                time,
                receiver: rx.id.clone(),
                status: rx.status,
                detail: rx.detail.clone(),
            }));
        }
        out
    }
}

/// Service health changes out of periodic `services:health` reports.
#[derive(Debug, Default)]
pub struct HealthChanges {
    last: HashMap<String, (HealthStatus, Timestamp)>,
}

impl HealthChanges {
    /// Detection that goes on from known health (the last stored status and `since` of each
    /// service, when a writer restarts).
    pub fn resume(last: impl IntoIterator<Item = (String, HealthStatus, Timestamp)>) -> Self {
        Self {
            last: last
                .into_iter()
                .map(|(name, status, since)| (name, (status, since)))
                .collect(),
        }
    }

    /// The services of `report` whose status or `since` differs from the previous report's
    /// (all of them the first time), stamped with their `since`.
    pub fn changes(&mut self, report: &HealthReport) -> Vec<Record> {
        let mut out = Vec::new();
        for service in &report.services {
            let now = (service.status, service.since);
            if self.last.get(&service.name) == Some(&now) {
                continue;
            }
            self.last.insert(service.name.clone(), now);
            out.push(Record::ServiceHealth(ServiceHealthChange {
                time: service.since,
                service: service.name.clone(),
                status: service.status,
                detail: service.detail.clone(),
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests;
