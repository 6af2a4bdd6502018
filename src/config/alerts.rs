//! `[alerts]`: the rules that raise alerts (`[[alerts.rules]]`), and the engine's queue.
//!
//! Every rule names its kind; the keys of other kinds are refused rather than ignored, so a
//! rule never silently watches something other than what its author meant.

use crate::events::{AlertKind, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest `for_s` and `cooldown_s`: a week. Longer is not an alert but a report.
pub const MAX_ALERT_DELAY_S: f64 = 7.0 * 86_400.0;
/// Allowed `alerts.queue`: events waiting for the engine. Fewer could drop a burst of signal
/// reports when a band opens; more only delays how late a stuck engine is noticed.
pub const ALERT_QUEUE: std::ops::RangeInclusive<usize> = 16..=1_048_576;
/// Allowed `alerts.keep_resolved`: resolved alerts kept in memory for `GET /api/v1/alerts`.
pub const KEEP_RESOLVED: std::ops::RangeInclusive<usize> = 0..=100_000;
/// Longest `alerts.restore_grace_s`: an hour. A restored alert not found again by then is
/// about something that ended while the hub was down.
pub const MAX_RESTORE_GRACE_S: f64 = 3_600.0;
/// Largest `above_baseline_db`: more than any receiver's dynamic range.
pub const MAX_ABOVE_BASELINE_DB: f64 = 200.0;
/// Largest `radius_m` of a circular geofence: half the Earth's circumference.
pub const MAX_GEOFENCE_RADIUS_M: f64 = 20_037_508.0;
/// Lowest and highest `power_dbfs`: a band-limited power measured in dBFS lies well within.
pub const POWER_DBFS_RANGE: (f64, f64) = (-250.0, 50.0);

/// `[alerts]`: the alert rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// The rules (`[[alerts.rules]]`); none: the engine does not run.
    pub rules: Vec<AlertRule>,
    /// Events that may wait for the engine; beyond, the engine misses them and counts them
    /// (the hub never waits for it).
    pub queue: usize,
    /// Resolved alerts listed by `GET /api/v1/alerts`, newest first (kept in memory, and read
    /// from the history database when it is enabled).
    pub keep_resolved: usize,
    /// After a restart, how long an active alert restored from the history database waits to
    /// be found again (its receiver still down, its signal back on the air) before it is
    /// resolved: the receivers must connect and the tracker confirm signals first. Found
    /// again, it goes on under its own id without being raised again.
    pub restore_grace_s: f64,
    /// Where every alert change is POSTed (`[[alerts.webhooks]]`).
    pub webhooks: Vec<WebhookConfig>,
    /// Alert changes that may wait for each webhook; beyond, the newest are dropped and
    /// counted (the engine never waits for a webhook).
    pub webhook_queue: usize,
    /// The MQTT broker alerts go to (`[alerts.mqtt]`; off while `url` is empty).
    pub mqtt: MqttConfig,
}

/// Allowed `alerts.mqtt.queue`: alert messages waiting for the broker while it is away.
pub const MQTT_QUEUE: std::ops::RangeInclusive<usize> = 1..=1_000_000;

/// `[alerts.mqtt]`: alerts published to an MQTT broker (QoS 1), the active set retained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` (1883 when no port); empty: no MQTT.
    pub url: String,
    /// User name (empty: none).
    pub username: String,
    /// Password.
    pub password: String,
    /// The client id (unique per broker).
    pub client_id: String,
    /// Topics are `<topic_prefix>/alerts/<rule>` and `.../<rule>/active`.
    pub topic_prefix: String,
    /// Messages that may wait for the broker; beyond, the newest are dropped and counted.
    pub queue: usize,
    /// Event topics mirrored to `<topic_prefix>/events/<topic>` (QoS 0, over a second
    /// connection; any of `services:health`, `websdrs:status`, `signals:detected`,
    /// `localizations:updated`); empty: none.
    pub mirror: Vec<String>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: String::new(),
            password: String::new(),
            client_id: "sdrhub".into(),
            topic_prefix: "sdrhub".into(),
            queue: 10_000,
            mirror: Vec::new(),
        }
    }
}

impl MqttConfig {
    /// The broker's host and port; `None` when `url` is empty or not an `mqtt://` URL.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let rest = self.url.strip_prefix("mqtt://")?;
        let url = reqwest::Url::parse(&format!("http://{rest}")).ok()?;
        if url.path() != "/" || url.query().is_some() {
            return None;
        }
        Some((url.host_str()?.to_string(), url.port().unwrap_or(1883)))
    }

    /// The mirrored topics (valid once the configuration is).
    pub fn mirrored(&self) -> Vec<crate::events::Topic> {
        self.mirror
            .iter()
            .filter_map(|name| crate::events::Topic::parse(name))
            .filter(|t| t.on_bus())
            .collect()
    }

    fn problems(&self, p: &mut super::Problems) {
        for (index, name) in self.mirror.iter().enumerate() {
            p.check(
                crate::events::Topic::parse(name).is_some_and(|t| t.on_bus()),
                format!(
                    "alerts.mqtt.mirror[{index}] = {name:?}: must be one of services:health, websdrs:status, signals:detected, localizations:updated"
                ),
            );
        }
        if self.url.is_empty() {
            p.check(
                self.mirror.is_empty(),
                "alerts.mqtt.mirror: needs alerts.mqtt.url".to_string(),
            );
            return;
        }
        p.check(
            self.host_port().is_some(),
            format!(
                "alerts.mqtt.url = {:?}: must be mqtt://host[:port] (TLS is not supported)",
                self.url
            ),
        );
        p.check(
            !self.client_id.is_empty() && self.client_id.len() <= 64,
            format!(
                "alerts.mqtt.client_id = {:?}: must be 1 to 64 characters",
                self.client_id
            ),
        );
        p.check(
            !self.topic_prefix.is_empty()
                && !self.topic_prefix.contains(['#', '+'])
                && !self.topic_prefix.ends_with('/'),
            format!(
                "alerts.mqtt.topic_prefix = {:?}: must be a topic without wildcards or a trailing /",
                self.topic_prefix
            ),
        );
        p.range(
            "alerts.mqtt.queue",
            self.queue,
            *MQTT_QUEUE.start(),
            *MQTT_QUEUE.end(),
        );
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            queue: 4096,
            keep_resolved: 500,
            restore_grace_s: 30.0,
            webhooks: Vec::new(),
            webhook_queue: 256,
            mqtt: MqttConfig::default(),
        }
    }
}

/// Allowed `alerts.webhook_queue`: alert changes waiting for one webhook. An alert storm of a
/// few hundred is kept; beyond, a receiver that is down for long loses the newest.
pub const WEBHOOK_QUEUE: std::ops::RangeInclusive<usize> = 1..=100_000;
/// Shortest webhook secret: an HMAC key a guess cannot reach.
pub const MIN_WEBHOOK_SECRET: usize = 16;

/// One `[[alerts.webhooks]]` entry: an HTTP endpoint that gets every alert change as JSON,
/// signed with HMAC-SHA256 of the body under `secret`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://host:port/path` (this build has no TLS client: put an HTTPS relay in front).
    pub url: String,
    /// The HMAC key of the `X-Sdrhub-Signature-256` header (at least 16 characters).
    pub secret: String,
    /// One attempt's limit, s: a receiver that accepts and never answers costs this much.
    pub timeout_s: f64,
    /// Attempts per alert change before it is given up (and counted as failed).
    pub max_attempts: u32,
    /// The longest wait between attempts, s (the wait doubles from 0.5 s, with jitter).
    pub max_backoff_s: f64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: String::new(),
            timeout_s: 5.0,
            max_attempts: 8,
            max_backoff_s: 60.0,
        }
    }
}

impl WebhookConfig {
    fn problems(&self, key: &str, p: &mut super::Problems) {
        if self.url.starts_with("https://") {
            p.push(format!(
                "{key}.url = {:?}: https is not supported by this build (no TLS client); POST to an http:// relay",
                self.url
            ));
        } else if !self.url.starts_with("http://") || reqwest::Url::parse(&self.url).is_err() {
            p.push(format!("{key}.url = {:?}: must be an http:// URL", self.url));
        }
        p.check(
            self.secret.chars().count() >= MIN_WEBHOOK_SECRET,
            format!(
                "{key}.secret: must be at least {MIN_WEBHOOK_SECRET} characters (it signs every delivery)"
            ),
        );
        p.interval(&format!("{key}.timeout_s"), self.timeout_s, 0.1, 60.0);
        p.range(&format!("{key}.max_attempts"), self.max_attempts, 1, 100);
        p.interval(&format!("{key}.max_backoff_s"), self.max_backoff_s, 0.5, 3600.0);
    }
}

/// A circle on the Earth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Circle {
    /// Centre latitude, degrees.
    pub lat: f64,
    /// Centre longitude, degrees.
    pub lon: f64,
    /// Radius, m (great-circle distance).
    pub radius_m: f64,
}

/// A daily window, UTC: from `start` to `end` (`"HH:MM"`); one that ends before it starts runs
/// over midnight (`"22:00"` to `"06:00"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyWindow {
    /// First minute of the window, `"HH:MM"` UTC.
    pub start: String,
    /// End of the window (excluded), `"HH:MM"` UTC.
    pub end: String,
}

impl DailyWindow {
    /// Minutes after midnight of `"HH:MM"`; `None` when it is not such a time.
    pub fn minutes(text: &str) -> Option<u32> {
        let (h, m) = text.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
    }

    /// Whether `minute` (after midnight UTC) is inside the window; an invalid window (refused
    /// at load) holds nothing.
    pub fn contains(&self, minute: u32) -> bool {
        match (Self::minutes(&self.start), Self::minutes(&self.end)) {
            (Some(start), Some(end)) if start <= end => minute >= start && minute < end,
            (Some(start), Some(end)) => minute >= start || minute < end,
            _ => false,
        }
    }
}

/// One `[[alerts.rules]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Unique name: the `rule` of its alerts.
    pub name: String,
    /// What it watches for.
    pub kind: AlertKind,
    /// How long the condition must hold before the alert is raised, s (debounce).
    #[serde(default)]
    pub for_s: f64,
    /// After an alert of this rule about one emitter resolves, no new one about it is raised
    /// for this long, s.
    #[serde(default)]
    pub cooldown_s: f64,
    /// The alerts' severity.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// Free labels copied into every alert.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Lower edge of the band watched, Hz (`new_signal`, `level`, `missing` without `signal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freq_min_hz: Option<f64>,
    /// Upper edge of the band watched, Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freq_max_hz: Option<f64>,
    /// `new_signal`: the novelty window, days; it is `history.novel_days` (which decides a
    /// signal's `novel` flag), and may be given only to say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub novel_days: Option<u32>,
    /// `level`: the power a signal must reach, dBFS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_dbfs: Option<f64>,
    /// `level`: how far a signal's peak bin power must be above its occupancy cell's
    /// baseline, dB: the median, over the stored minutes of the same hour of day (UTC) before
    /// the current hour, of the cell's highest bin power in each minute, at the signal's best
    /// receiver (needs the history database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above_baseline_db: Option<f64>,
    /// `missing`: the signal that must be heard: its `name` (a known signal's, or a simulated
    /// transmitter's), or a known signal's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// `missing`: only expected within this daily window (UTC); outside it nothing is
    /// missing. Unset: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<DailyWindow>,
    /// `receiver_offline`: the receivers watched (empty: all); other kinds: only signals heard
    /// by one of these (empty: any).
    #[serde(default)]
    pub receivers: Vec<String>,
    /// `geofence`: a circle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circle: Option<Circle>,
    /// `geofence`: a polygon, `[[lat, lon], ...]`, at least three corners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polygon: Option<Vec<[f64; 2]>>,
    /// `geofence`: the least localization `confidence` that counts, 0..1.
    #[serde(default)]
    pub min_confidence: f64,
}

fn default_severity() -> Severity {
    Severity::Warning
}

impl AlertRule {
    /// A rule of `kind` named `name` with every optional key unset (for tests and tools).
    pub fn new(name: &str, kind: AlertKind) -> Self {
        Self {
            name: name.into(),
            kind,
            for_s: 0.0,
            cooldown_s: 0.0,
            severity: default_severity(),
            labels: BTreeMap::new(),
            freq_min_hz: None,
            freq_max_hz: None,
            novel_days: None,
            power_dbfs: None,
            above_baseline_db: None,
            signal: None,
            schedule: None,
            receivers: Vec::new(),
            circle: None,
            polygon: None,
            min_confidence: 0.0,
        }
    }

    /// The band, when both edges are set.
    pub fn band(&self) -> Option<(f64, f64)> {
        self.freq_min_hz.zip(self.freq_max_hz)
    }

    /// Every problem of this rule, each named `key.field`.
    fn problems(
        &self,
        key: &str,
        receivers: &[String],
        history: &super::history::HistoryConfig,
    ) -> Vec<String> {
        let mut p = super::Problems::default();
        let kind = self.kind.as_str();
        p.check(
            !self.name.trim().is_empty(),
            format!("{key}.name: must not be empty"),
        );
        p.interval(&format!("{key}.for_s"), self.for_s, 0.0, MAX_ALERT_DELAY_S);
        p.interval(
            &format!("{key}.cooldown_s"),
            self.cooldown_s,
            0.0,
            MAX_ALERT_DELAY_S,
        );
        for label in self.labels.keys() {
            p.check(
                !label.trim().is_empty(),
                format!("{key}.labels: a label name must not be empty"),
            );
        }
        for (index, id) in self.receivers.iter().enumerate() {
            p.check(
                receivers.contains(id),
                format!(
                    "{key}.receivers[{index}] = {id:?}: no such receiver (configured: {})",
                    receivers.join(", ")
                ),
            );
        }
        let only = |p: &mut super::Problems, field: &str, set: bool, kinds: &[AlertKind]| {
            if set && !kinds.contains(&self.kind) {
                let allowed: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                p.push(format!(
                    "{key}.{field}: not a key of kind = {kind:?} (only of {})",
                    allowed.join(", ")
                ));
            }
        };
        use AlertKind::*;
        let banded = self.freq_min_hz.is_some() || self.freq_max_hz.is_some();
        only(
            &mut p,
            "freq_min_hz",
            self.freq_min_hz.is_some(),
            &[NewSignal, Level, Missing],
        );
        only(
            &mut p,
            "freq_max_hz",
            self.freq_max_hz.is_some(),
            &[NewSignal, Level, Missing],
        );
        only(&mut p, "novel_days", self.novel_days.is_some(), &[NewSignal]);
        only(&mut p, "power_dbfs", self.power_dbfs.is_some(), &[Level]);
        only(
            &mut p,
            "above_baseline_db",
            self.above_baseline_db.is_some(),
            &[Level],
        );
        only(&mut p, "signal", self.signal.is_some(), &[Missing]);
        only(&mut p, "schedule", self.schedule.is_some(), &[Missing]);
        if let Some(window) = &self.schedule {
            for (field, text) in [("start", &window.start), ("end", &window.end)] {
                p.check(
                    DailyWindow::minutes(text).is_some(),
                    format!("{key}.schedule.{field} = {text:?}: must be a time \"HH:MM\" (UTC)"),
                );
            }
            p.check(
                window.start != window.end,
                format!("{key}.schedule: start and end must differ (leave schedule out for always)"),
            );
        }
        only(&mut p, "circle", self.circle.is_some(), &[Geofence]);
        only(&mut p, "polygon", self.polygon.is_some(), &[Geofence]);
        only(&mut p, "min_confidence", self.min_confidence != 0.0, &[Geofence]);
        let band_needed =
            matches!(self.kind, NewSignal | Level) || (self.kind == Missing && self.signal.is_none());
        if banded || band_needed {
            self.band_problems(&mut p, key);
        }
        match self.kind {
            NewSignal => {
                p.check(
                    history.enabled,
                    format!("{key}.kind = \"new_signal\": needs history.enabled = true (novelty is judged against the history)"),
                );
                if let Some(days) = self.novel_days {
                    p.check(
                        days == history.novel_days,
                        format!(
                            "{key}.novel_days = {days}: must equal history.novel_days = {} (which decides a signal's novelty)",
                            history.novel_days
                        ),
                    );
                }
            }
            Level => match (self.power_dbfs, self.above_baseline_db) {
                (Some(power), None) => {
                    let (lo, hi) = POWER_DBFS_RANGE;
                    p.interval(&format!("{key}.power_dbfs"), power, lo, hi);
                }
                (None, Some(over)) => {
                    p.interval(
                        &format!("{key}.above_baseline_db"),
                        over,
                        0.0,
                        MAX_ABOVE_BASELINE_DB,
                    );
                    p.check(
                        history.enabled,
                        format!("{key}.above_baseline_db: needs history.enabled = true (the baseline is the stored occupancy)"),
                    );
                }
                _ => p.push(format!(
                    "{key}: kind = \"level\" needs exactly one of power_dbfs, above_baseline_db"
                )),
            },
            Missing => {
                if let Some(signal) = &self.signal {
                    p.check(
                        !signal.trim().is_empty(),
                        format!("{key}.signal: must not be empty"),
                    );
                    p.check(
                        !banded,
                        format!(
                            "{key}: kind = \"missing\" takes signal or freq_min_hz/freq_max_hz, not both"
                        ),
                    );
                    // The name may also be a simulated transmitter's (the signal's `name`), so no
                    // history is needed.
                }
            }
            ReceiverOffline => {}
            Geofence => {
                p.interval(&format!("{key}.min_confidence"), self.min_confidence, 0.0, 1.0);
                match (&self.circle, &self.polygon) {
                    (Some(circle), None) => {
                        p.interval(&format!("{key}.circle.lat"), circle.lat, -90.0, 90.0);
                        p.interval(&format!("{key}.circle.lon"), circle.lon, -180.0, 180.0);
                        p.positive(
                            &format!("{key}.circle.radius_m"),
                            circle.radius_m,
                            MAX_GEOFENCE_RADIUS_M,
                        );
                    }
                    (None, Some(polygon)) => {
                        p.check(
                            polygon.len() >= 3,
                            format!("{key}.polygon: needs at least 3 corners, has {}", polygon.len()),
                        );
                        for (index, [lat, lon]) in polygon.iter().enumerate() {
                            p.interval(&format!("{key}.polygon[{index}][0]"), *lat, -90.0, 90.0);
                            p.interval(&format!("{key}.polygon[{index}][1]"), *lon, -180.0, 180.0);
                        }
                    }
                    _ => p.push(format!(
                        "{key}: kind = \"geofence\" needs exactly one of circle, polygon"
                    )),
                }
            }
        }
        p.into_vec()
    }

    fn band_problems(&self, p: &mut super::Problems, key: &str) {
        match (self.freq_min_hz, self.freq_max_hz) {
            (Some(min), Some(max)) => {
                p.interval(&format!("{key}.freq_min_hz"), min, 0.0, 1e12);
                p.check(
                    max > min && max <= 1e12,
                    format!("{key}.freq_max_hz = {max}: must be above freq_min_hz = {min} and at most 1e12"),
                );
            }
            (None, _) => p.push(format!("{key}.freq_min_hz: missing (the band needs both edges)")),
            (_, None) => p.push(format!("{key}.freq_max_hz: missing (the band needs both edges)")),
        }
    }
}

impl AlertsConfig {
    /// Every problem of `[alerts]`, each naming its key; `receivers` are the ids of every
    /// receiver this process runs, `history` decides whether novelty and known signals exist.
    pub fn problems(&self, receivers: &[String], history: &super::history::HistoryConfig) -> Vec<String> {
        let mut p = super::Problems::default();
        p.range(
            "alerts.queue",
            self.queue,
            *ALERT_QUEUE.start(),
            *ALERT_QUEUE.end(),
        );
        p.range(
            "alerts.keep_resolved",
            self.keep_resolved,
            *KEEP_RESOLVED.start(),
            *KEEP_RESOLVED.end(),
        );
        p.interval(
            "alerts.restore_grace_s",
            self.restore_grace_s,
            0.0,
            MAX_RESTORE_GRACE_S,
        );
        p.range(
            "alerts.webhook_queue",
            self.webhook_queue,
            *WEBHOOK_QUEUE.start(),
            *WEBHOOK_QUEUE.end(),
        );
        self.mqtt.problems(&mut p);
        for (index, hook) in self.webhooks.iter().enumerate() {
            hook.problems(&format!("alerts.webhooks[{index}]"), &mut p);
        }
        let mut problems = p.into_vec();
        for (index, rule) in self.rules.iter().enumerate() {
            let key = format!("alerts.rules[{index}]");
            if self.rules[..index].iter().any(|other| other.name == rule.name) {
                problems.push(format!(
                    "{key}.name = {:?}: already used by another rule",
                    rule.name
                ));
            }
            problems.extend(rule.problems(&key, receivers, history));
        }
        problems
    }
}
