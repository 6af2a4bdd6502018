//! Everything that travels on the wire, in one place.
//!
//! [`Event`] is the single source of truth for event names and payload fields: the WebSocket
//! envelope, the snapshot and the REST endpoints all serialize these types, so a field cannot
//! be spelled two ways. What the history database answers is in [`history`].

pub mod alert;
pub mod audio;
pub mod history;
mod identity;
mod reply;
mod time;
mod topic;

pub use alert::{AlertKind, AlertList, AlertReport, AlertState, AlertsListing, Severity};
pub use audio::{ListeningReport, RecordedReport};
pub use identity::SignalIdentity;
pub use reply::{quoted, ErrorReport, Pong, SubscriptionsReport, QUOTED_CHARS};
pub use time::Timestamp;
pub use topic::{EventKind, Topic, TopicSet};

use serde::{Deserialize, Serialize};

/// Health of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Working as intended.
    Healthy,
    /// Working, with a problem a user should know about.
    Degraded,
    /// Not working.
    Unhealthy,
}

/// One service's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealth {
    /// `gateway`, `dsp`, `localization` or `acquisition:<receiver id>`.
    pub name: String,
    /// Current status.
    pub status: HealthStatus,
    /// What is going on, in words.
    pub detail: String,
    /// When `status` last changed.
    pub since: Timestamp,
}

impl ServiceHealth {
    /// This service as a report merged from several nodes names it: receivers'
    /// `acquisition:<id>` are unique already; a node's other services (`dsp`, `localization`,
    /// `bus`) get `@<node>`, so two nodes' `dsp` never read as one.
    pub fn on_node(self, node: &str) -> Self {
        if self.name.starts_with("acquisition:") {
            self
        } else {
            Self {
                name: format!("{}@{node}", self.name),
                ..self
            }
        }
    }
}

/// Payload of `services:health`: every service, and the worst status among them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The worst status of any service.
    pub status: HealthStatus,
    /// Every service, gateway first.
    pub services: Vec<ServiceHealth>,
}

#[cfg(test)]
impl SignalReport {
    /// A new 1 kHz wide signal at 145 MHz heard by `receiver` alone, for tests.
    pub(crate) fn example(signal_id: &str, receiver: &str) -> Self {
        Self {
            signal_id: signal_id.into(),
            state: SignalState::New,
            frequency_hz: 145e6,
            frequency_mhz: 145.0,
            bandwidth_hz: 1e3,
            snr_db: 20.0,
            power_dbfs: -40.0,
            peak_power_dbfs: -45.0,
            websdr_id: receiver.into(),
            receivers: vec![receiver.into()],
            first_seen: Timestamp(0),
            timestamp: Timestamp(0),
            known: None,
            novel: false,
            identity: Box::new(SignalIdentity {
                emitter_id: "em-1".into(),
                activations: 1,
                first_heard: Some(Timestamp(0)),
                last_heard: Some(Timestamp(0)),
                duty_cycle: 1.0,
                name: None,
            }),
        }
    }
}

impl HealthReport {
    /// A report of these services, whose status is the worst of theirs (healthy when there are
    /// none).
    pub fn of(services: Vec<ServiceHealth>) -> Self {
        let status = services
            .iter()
            .map(|s| s.status)
            .max()
            .unwrap_or(HealthStatus::Healthy);
        Self { status, services }
    }
}

/// Receiver status as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverStatus {
    /// Streaming normally.
    Online,
    /// Streaming, with losses or without GPS time it should have.
    Degraded,
    /// Not streaming.
    Offline,
}

/// One receiver in `websdrs:status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebsdrStatus {
    /// Receiver id (the `websdr_id` of signals).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// `simulated`, `soapy`, `kiwisdr` or `file`.
    pub kind: sdrhub_hardware::SourceKind,
    /// Current status.
    pub status: ReceiverStatus,
    /// Round-trip time of the last status probe, ms; `null` for receivers that have none.
    pub response_time_ms: Option<f64>,
    /// Antenna latitude, degrees; `null` when unknown.
    pub latitude: Option<f64>,
    /// Antenna longitude, degrees; `null` when unknown.
    pub longitude: Option<f64>,
    /// Centre frequency, Hz.
    pub frequency_hz: f64,
    /// Sample rate, Hz.
    pub sample_rate_hz: f64,
    /// When the last block of samples arrived; `null` before the first.
    pub last_seen: Option<Timestamp>,
    /// Samples lost since start (DSP behind, or lost by the source).
    pub samples_dropped: u64,
    /// Whether sample times are GPS-disciplined.
    pub gps_locked: bool,
    /// Why the receiver is degraded or offline; `null` when all is well.
    pub detail: Option<String>,
    /// Channels in use on a remote receiver (its status page); `null` when unknown.
    pub users: Option<u32>,
    /// Channels of a remote receiver; `null` when unknown.
    pub users_max: Option<u32>,
    /// Seconds since the receiver's last GPS solution; `null` without a fix or without GPS.
    pub gps_fix_age_s: Option<f64>,
    /// The last error seen (a refusal, a lost connection, a malformed frame), kept after it
    /// cleared; `null` when there never was one.
    pub last_error: Option<String>,
    /// Link counters of a remote receiver; `null` for local ones.
    pub link: Option<LinkReport>,
    /// GPS timing of a remote receiver's stream (the robust fit of its solutions); `null` for
    /// receivers without GPS stamps.
    #[serde(default)]
    pub gps_timing: Option<GpsTimingReport>,
}

/// The GPS timing of a KiwiSDR's stream: its GPS solutions fitted against its sample count
/// (zero, stale, out-of-order and inconsistent stamps rejected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpsTimingReport {
    /// The sample rate the solutions measure, Hz; `null` before the fit is trusted.
    pub rate_hz: Option<f64>,
    /// Its difference from the rate the receiver announces (`MSG sample_rate`), ppm; real
    /// receivers' differ by up to a few hundred.
    pub rate_ppm: Option<f64>,
    /// The largest distance of a solution from the fitted clock, us.
    pub worst_residual_us: Option<f64>,
    /// RMS of those distances, us.
    pub residual_rms_us: Option<f64>,
    /// Solutions in the fit.
    pub anchors: usize,
    /// Solutions in the fit's window rejected as inconsistent (zero, stale, out of order).
    pub rejected: u64,
    /// Why the receiver's timing is not trusted, so that TDOA leaves it out; `null` when it
    /// is.
    pub excluded: Option<String>,
}

/// Counters of the link to a remote receiver, since start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkReport {
    /// Connection attempts.
    pub attempts: u64,
    /// Sessions that reached streaming.
    pub sessions: u64,
    /// IQ frames received.
    pub frames: u64,
    /// Frames lost (sequence gaps).
    pub frames_lost: u64,
    /// Frames flagged with an ADC overflow.
    pub adc_overflows: u64,
    /// Frames that could not be parsed.
    pub malformed_frames: u64,
    /// Text frames (a protocol violation).
    pub text_frames: u64,
    /// Frames over the size limit.
    pub oversized_frames: u64,
    /// Sample rate measured from GPS, Hz; `null` before it is measured.
    pub measured_rate_hz: Option<f64>,
}

/// Payload of `websdrs:status`: every receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebsdrsReport {
    /// Every configured receiver.
    pub websdrs: Vec<WebsdrStatus>,
}

/// Lifecycle state of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalState {
    /// First report.
    New,
    /// A material change (frequency, bandwidth, SNR, receivers).
    Update,
    /// No receiver sees it any more.
    Lost,
}

/// Payload of `signals:detected`: one signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReport {
    /// Stable id (`sig-<n>`).
    pub signal_id: String,
    /// What happened.
    pub state: SignalState,
    /// Centre frequency, Hz.
    pub frequency_hz: f64,
    /// Centre frequency, MHz.
    pub frequency_mhz: f64,
    /// Occupied bandwidth, Hz.
    pub bandwidth_hz: f64,
    /// Per-bin SNR at the best receiver, dB.
    pub snr_db: f64,
    /// Total signal power at the best receiver (noise removed), dBFS.
    pub power_dbfs: f64,
    /// Peak bin power at the best receiver, dBFS.
    pub peak_power_dbfs: f64,
    /// The receiver with the best SNR.
    pub websdr_id: String,
    /// Every receiver that sees the signal.
    pub receivers: Vec<String>,
    /// When the signal was first detected.
    pub first_seen: Timestamp,
    /// Time of the measurement this report describes.
    pub timestamp: Timestamp,
    /// The known signal (`/api/v1/known-signals`) whose range holds the frequency: its name and
    /// tags, and whether it is a lockout the dashboard hides; `null` when none does (or without
    /// a history database).
    #[serde(default)]
    pub known: Option<history::KnownMatch>,
    /// Nothing was heard within the tolerance of this frequency in the past
    /// `history.novel_days` before this signal first appeared (decided when it appears, kept
    /// for its whole life; always `false` without a history database).
    #[serde(default)]
    pub novel: bool,
    /// Which transmitter this is across its transmissions, and its name (flattened: on the wire
    /// these are fields of the report itself).
    #[serde(flatten)]
    pub identity: Box<SignalIdentity>,
}

/// How a position was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalizationMethod {
    /// Received power (RSSI) with a log-distance path-loss model.
    Power,
    /// Time differences of arrival between GPS-timed receivers.
    Tdoa,
}

/// An error ellipse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EllipseReport {
    /// Semi-major axis, m.
    pub semi_major_m: f64,
    /// Semi-minor axis, m.
    pub semi_minor_m: f64,
    /// Direction of the major axis, degrees clockwise from North, in [0, 180).
    pub orientation_deg: f64,
}

/// Payload of `localizations:updated`: one position estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalizationReport {
    /// The signal located.
    pub signal_id: String,
    /// Estimated latitude, degrees.
    pub latitude: f64,
    /// Estimated longitude, degrees.
    pub longitude: f64,
    /// Radius around the estimate that holds the transmitter with 68 % probability, m.
    pub uncertainty_m: f64,
    /// Consistency of the measurements with the model, 0..1 (see docs/protocol.md).
    pub confidence: f64,
    /// The method used.
    pub method: LocalizationMethod,
    /// The 68 % error ellipse.
    pub ellipse: EllipseReport,
    /// The receivers whose measurements were used (for `tdoa`, the reference first).
    pub receivers: Vec<String>,
    /// Receivers that heard the signal but were left out, with why: a rejected outlier, a
    /// correlation without a usable peak, samples not GPS-timed...
    pub excluded: Vec<Exclusion>,
    /// Geometric dilution of precision at the estimate (dimensionless; large = poor geometry).
    pub gdop: f64,
    /// Why this method: for `power`, why TDOA was not used (no GPS-timed receivers, no timing
    /// information in the signal...); `null` when the preferred method worked.
    pub note: Option<String>,
    /// Centre frequency of the signal, Hz.
    pub frequency_hz: f64,
    /// When the estimate was made.
    pub timestamp: Timestamp,
}

/// A receiver left out of a localization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    /// Receiver id.
    pub receiver: String,
    /// Why.
    pub reason: String,
}

/// How the levels of a [`SpectrumFrame`] are encoded in its `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpectrumEncoding {
    /// One byte per bin, `round((clamp(dB, db_min, db_max) - db_min) / (db_max - db_min) * 255)`,
    /// the bytes in standard base64 (with padding).
    #[serde(rename = "u8-base64")]
    U8Base64,
}

/// Payload of `spectrum:frame`: one receiver's averaged power spectrum, decimated to `bins`
/// bins by keeping the strongest FFT bin of each group (so narrow signals stay visible) and
/// quantized to one byte per bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectrumFrame {
    /// The receiver.
    pub receiver_id: String,
    /// Time of the first sample of the spectrum.
    pub timestamp: Timestamp,
    /// The receiver's centre frequency, Hz.
    pub center_frequency_hz: f64,
    /// Lower edge of bin 0, Hz: bin `i` covers `[start_hz + i * bin_hz, start_hz + (i + 1) *
    /// bin_hz)`.
    pub start_hz: f64,
    /// Width of one bin, Hz.
    pub bin_hz: f64,
    /// Bins in `data`.
    pub bins: usize,
    /// Level of byte 0, dBFS per FFT bin (0 dBFS: a full-scale complex tone).
    pub db_min: f64,
    /// Level of byte 255, dBFS per FFT bin.
    pub db_max: f64,
    /// How `data` encodes the levels.
    pub encoding: SpectrumEncoding,
    /// The levels, lowest frequency first.
    pub data: String,
}

/// The active signals (REST `/api/v1/signals`, and inside the snapshot).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalList {
    /// Active signals, by frequency.
    pub signals: Vec<SignalReport>,
}

/// The recent localizations (REST `/api/v1/localizations`, and inside the snapshot).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalizationList {
    /// The newest estimate of each recently located signal, newest first.
    pub localizations: Vec<LocalizationReport>,
}

/// The hub's current state of the topics of state (not the `spectrum:frame` stream): what
/// REST serves, and what a [`Snapshot`] shows of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurrentState {
    /// Current health.
    #[serde(rename = "services:health")]
    pub services_health: HealthReport,
    /// Current receivers.
    #[serde(rename = "websdrs:status")]
    pub websdrs_status: WebsdrsReport,
    /// Active signals.
    #[serde(rename = "signals:detected")]
    pub signals_detected: SignalList,
    /// Recent localizations.
    #[serde(rename = "localizations:updated")]
    pub localizations_updated: LocalizationList,
    /// Active alerts.
    #[serde(rename = "alerts:raised")]
    pub alerts_raised: AlertList,
}

impl CurrentState {
    /// What a client whose credentials allow `topics` may see of it.
    pub fn visible_to(&self, topics: TopicSet) -> Snapshot {
        let show = |topic: Topic| topics.contains(topic);
        Snapshot {
            services_health: show(Topic::ServicesHealth).then(|| self.services_health.clone()),
            websdrs_status: show(Topic::WebsdrsStatus).then(|| self.websdrs_status.clone()),
            signals_detected: show(Topic::SignalsDetected).then(|| self.signals_detected.clone()),
            localizations_updated: show(Topic::LocalizationsUpdated)
                .then(|| self.localizations_updated.clone()),
            alerts_raised: show(Topic::AlertsRaised).then(|| self.alerts_raised.clone()),
        }
    }
}

/// Payload of `snapshot` and `resync`: the current state of the topics of state the client's
/// credentials allow; a topic the token does not allow is absent, not empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Current health.
    #[serde(rename = "services:health", skip_serializing_if = "Option::is_none")]
    pub services_health: Option<HealthReport>,
    /// Current receivers.
    #[serde(rename = "websdrs:status", skip_serializing_if = "Option::is_none")]
    pub websdrs_status: Option<WebsdrsReport>,
    /// Active signals.
    #[serde(rename = "signals:detected", skip_serializing_if = "Option::is_none")]
    pub signals_detected: Option<SignalList>,
    /// Recent localizations.
    #[serde(rename = "localizations:updated", skip_serializing_if = "Option::is_none")]
    pub localizations_updated: Option<LocalizationList>,
    /// Active alerts.
    #[serde(rename = "alerts:raised", skip_serializing_if = "Option::is_none")]
    pub alerts_raised: Option<AlertList>,
}

/// Every message the server sends. The variant name on the wire is the `event` field and the
/// payload is the `data` field of the envelope.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", content = "data")]
pub enum Event {
    /// Health of every service.
    #[serde(rename = "services:health")]
    ServicesHealth(HealthReport),
    /// Status of every receiver.
    #[serde(rename = "websdrs:status")]
    WebsdrsStatus(WebsdrsReport),
    /// One signal appeared, changed or was lost.
    #[serde(rename = "signals:detected")]
    SignalsDetected(SignalReport),
    /// One signal was located.
    #[serde(rename = "localizations:updated")]
    LocalizationsUpdated(LocalizationReport),
    /// One receiver's spectrum (opt-in).
    #[serde(rename = "spectrum:frame")]
    SpectrumFrame(SpectrumFrame),
    /// One alert was raised, acknowledged or resolved.
    #[serde(rename = "alerts:raised")]
    AlertsRaised(AlertReport),
    /// The state of all topics, sent first on every connection.
    #[serde(rename = "snapshot")]
    Snapshot(Box<Snapshot>),
    /// Answer to a client `ping`.
    #[serde(rename = "pong")]
    Pong(Pong),
    /// A client message was rejected.
    #[serde(rename = "error")]
    Error(ErrorReport),
    /// The client's subscriptions changed.
    #[serde(rename = "subscriptions")]
    Subscriptions(SubscriptionsReport),
    /// The client's listener started or stopped.
    #[serde(rename = "listening")]
    Listening(Box<ListeningReport>),
    /// The client's recording is finished.
    #[serde(rename = "recorded")]
    Recorded(Box<RecordedReport>),
    /// The client's position in the event stream is lost (it resumed from a `seq` no longer
    /// retained, or fell behind under the `resync` slow-client policy): a fresh state of all
    /// topics, to replace what it holds.
    #[serde(rename = "resync")]
    Resync(Box<Snapshot>),
}

/// A broadcast event as an external producer sends it to `POST /api/v1/publish`: the same
/// `{"event", "data"}` shape as on the WebSocket, for the four broadcast topics only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", content = "data", deny_unknown_fields)]
pub enum Published {
    /// `services:health`
    #[serde(rename = "services:health")]
    ServicesHealth(HealthReport),
    /// `websdrs:status`
    #[serde(rename = "websdrs:status")]
    WebsdrsStatus(WebsdrsReport),
    /// `signals:detected`
    #[serde(rename = "signals:detected")]
    SignalsDetected(SignalReport),
    /// `localizations:updated`
    #[serde(rename = "localizations:updated")]
    LocalizationsUpdated(LocalizationReport),
}

impl From<Published> for Event {
    fn from(published: Published) -> Event {
        match published {
            Published::ServicesHealth(d) => Event::ServicesHealth(d),
            Published::WebsdrsStatus(d) => Event::WebsdrsStatus(d),
            Published::SignalsDetected(d) => Event::SignalsDetected(d),
            Published::LocalizationsUpdated(d) => Event::LocalizationsUpdated(d),
        }
    }
}

impl Event {
    /// The broadcast topic of this event; `None` for per-client messages.
    pub fn topic(&self) -> Option<Topic> {
        self.kind().topic()
    }

    /// Which kind of event this is.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::ServicesHealth(_) => EventKind::ServicesHealth,
            Event::WebsdrsStatus(_) => EventKind::WebsdrsStatus,
            Event::SignalsDetected(_) => EventKind::SignalsDetected,
            Event::LocalizationsUpdated(_) => EventKind::LocalizationsUpdated,
            Event::SpectrumFrame(_) => EventKind::SpectrumFrame,
            Event::AlertsRaised(_) => EventKind::AlertsRaised,
            Event::Snapshot(_) => EventKind::Snapshot,
            Event::Pong(_) => EventKind::Pong,
            Event::Error(_) => EventKind::Error,
            Event::Subscriptions(_) => EventKind::Subscriptions,
            Event::Listening(_) => EventKind::Listening,
            Event::Recorded(_) => EventKind::Recorded,
            Event::Resync(_) => EventKind::Resync,
        }
    }

    /// The wire name of this event.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// The server-to-client envelope: `{"event", "data", "timestamp", "seq"}`.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// The event and its data.
    #[serde(flatten)]
    pub event: &'a Event,
    /// When the envelope was made.
    pub timestamp: Timestamp,
    /// Strictly increasing per server.
    pub seq: u64,
}

impl Envelope<'_> {
    /// The JSON text of the envelope.
    pub fn to_json(&self) -> String {
        // Invariant: every payload is plain data (strings, numbers, vectors) that serde_json
        // always serializes; non-finite floats become `null` rather than failing.
        serde_json::to_string(self).expect("event payloads always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_event_data_timestamp_and_seq() {
        let event = Event::Pong(Pong {
            server_time: Timestamp(1_700_000_000_123_000_000),
        });
        let json = Envelope {
            event: &event,
            timestamp: Timestamp(1_700_000_000_123_456_789),
            seq: 7,
        }
        .to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["event"], "pong");
        assert_eq!(v["data"]["server_time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["seq"], 7);
        assert_eq!(v.as_object().unwrap().len(), 4);
    }

    #[test]
    fn topic_names_round_trip() {
        for topic in Topic::ALL {
            assert_eq!(Topic::parse(topic.as_str()), Some(topic));
        }
        assert_eq!(Topic::parse("signals"), None);
        let set: TopicSet = [Topic::SignalsDetected, Topic::ServicesHealth]
            .into_iter()
            .collect();
        assert_eq!(
            set.topics().collect::<Vec<_>>(),
            vec![Topic::ServicesHealth, Topic::SignalsDetected]
        );
        assert!(!set.without(Topic::ServicesHealth).contains(Topic::ServicesHealth));
    }

    #[test]
    fn spectrum_frames_are_allowed_by_default_but_never_sent_by_default() {
        assert_eq!(TopicSet::ALL, Topic::ALL.into_iter().collect());
        let state: TopicSet = Topic::ALL.into_iter().filter(|t| !t.is_stream()).collect();
        assert_eq!(TopicSet::DEFAULT, state);
        assert!(TopicSet::ALL.contains(Topic::SpectrumFrame));
        assert!(!TopicSet::DEFAULT.contains(Topic::SpectrumFrame));
        assert_eq!(TopicSet::ALL.intersection(TopicSet::DEFAULT), TopicSet::DEFAULT);
    }

    #[test]
    fn spectrum_frame_envelope_shape() {
        let event = Event::SpectrumFrame(SpectrumFrame {
            receiver_id: "rx1".into(),
            timestamp: Timestamp(1_700_000_000_123_000_000),
            center_frequency_hz: 145e6,
            start_hz: 144.488e6,
            bin_hz: 2000.0,
            bins: 2,
            db_min: -120.0,
            db_max: -40.0,
            encoding: SpectrumEncoding::U8Base64,
            data: "AP8=".into(),
        });
        assert_eq!(event.name(), "spectrum:frame");
        assert_eq!(event.topic(), Some(Topic::SpectrumFrame));
        let json = Envelope {
            event: &event,
            timestamp: Timestamp(0),
            seq: 1,
        }
        .to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let data = &v["data"];
        assert_eq!(data["encoding"], "u8-base64");
        assert_eq!(data["timestamp"], "2023-11-14T22:13:20.123Z");
        let frame: SpectrumFrame = serde_json::from_value(data.clone()).unwrap();
        assert_eq!(frame.bins, 2);
        let mut keys: Vec<&str> = data.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "bin_hz",
                "bins",
                "center_frequency_hz",
                "data",
                "db_max",
                "db_min",
                "encoding",
                "receiver_id",
                "start_hz",
                "timestamp"
            ]
        );
    }
}
