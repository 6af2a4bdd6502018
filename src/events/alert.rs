//! The wire types of alerts: what `alerts:raised` carries, what the snapshot and
//! `GET /api/v1/alerts` list, and the severity a rule gives its alerts.

use super::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How serious an alert is (a rule's `severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Worth a look.
    Warning,
    /// Needs someone now.
    Critical,
}

impl Severity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What a rule watches for (a rule's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A signal not known and not heard within `history.novel_days`, in a band.
    NewSignal,
    /// A signal in a band above a power level.
    Level,
    /// A known signal (or any signal in a band) not heard.
    Missing,
    /// A receiver offline or degraded.
    ReceiverOffline,
    /// A localization inside a circle or polygon.
    Geofence,
}

impl AlertKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NewSignal => "new_signal",
            AlertKind::Level => "level",
            AlertKind::Missing => "missing",
            AlertKind::ReceiverOffline => "receiver_offline",
            AlertKind::Geofence => "geofence",
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition has held for the rule's `for_s`: the alert starts (sent once per alert).
    Raised,
    /// Someone acknowledged the active alert (`POST /api/v1/alerts/{id}/ack`).
    Acked,
    /// The condition ended: the alert is over (sent once per alert).
    Resolved,
}

/// Payload of `alerts:raised`: one alert as it starts, is acknowledged or ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertReport {
    /// Stable id (`alert-<n>`), the same in every message about this alert.
    pub alert_id: String,
    /// The rule's `name`.
    pub rule: String,
    /// The rule's `kind`.
    pub kind: AlertKind,
    /// The rule's `severity`.
    pub severity: Severity,
    /// What happened.
    pub state: AlertState,
    /// The signal the alert is about (`new_signal`, `level`, `geofence`); `null` otherwise.
    pub signal_id: Option<String>,
    /// What the alert is about, one alert per rule and emitter: the signal id, the known
    /// signal's name (`missing`), or the receiver id (`receiver_offline`).
    pub emitter_id: String,
    /// The receivers involved: those hearing the signal, or the receiver that is down.
    pub receivers: Vec<String>,
    /// The signal's centre frequency, Hz, when the alert is about a signal (`new_signal`,
    /// `level`, `geofence`); `null` otherwise. After a restart this, not `emitter_id` (emitter
    /// ids are numbered afresh by each process), says which signal a restored alert is about.
    #[serde(default)]
    pub frequency_hz: Option<f64>,
    /// The rule's `labels`.
    pub labels: BTreeMap<String, String>,
    /// What happened, in words.
    pub message: String,
    /// When the alert was raised.
    pub raised_at: Timestamp,
    /// When it resolved; `null` while it is active.
    pub resolved_at: Option<Timestamp>,
    /// Whether someone acknowledged it.
    pub acked: bool,
}

/// The active alerts (inside the snapshot).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertList {
    /// Active alerts, oldest first.
    pub alerts: Vec<AlertReport>,
}

/// `GET /api/v1/alerts`: the active alerts and the recently resolved ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsListing {
    /// Active alerts, oldest first.
    pub active: Vec<AlertReport>,
    /// Resolved alerts, newest first: from the history database when it is enabled (with
    /// those resolved since the last write), else those this process resolved; at most
    /// `alerts.keep_resolved`.
    pub past: Vec<AlertReport>,
}
