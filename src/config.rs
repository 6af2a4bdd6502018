//! The typed configuration, loaded in layers: built-in defaults, then a TOML file, then
//! `SDRHUB_*` environment variables, then command-line flags; validated once at start-up.

use crate::hub::{HubConfig, SlowClientPolicy};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use sdrhub_dsp::detect::DetectorConfig;
use sdrhub_dsp::spectrum::SpectrumConfig;
use sdrhub_dsp::tracker::TrackerConfig;
use sdrhub_dsp::window::WindowKind;
use sdrhub_hardware::acquisition::AcquisitionConfig;
use sdrhub_hardware::sim::SceneConfig;
use sdrhub_hardware::soapy::SoapyReceiverConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file, variable or flag could not be read into the typed config.
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    /// Values that parse but cannot work; every message names its key.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP and WebSocket serving.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// Spectrum and detection.
    pub dsp: DspConfig,
    /// Signal tracking.
    pub tracker: TrackerSettings,
    /// Localization.
    pub localization: LocalizationConfig,
    /// Acquisition workers.
    pub acquisition: AcquisitionSettings,
    /// The simulated scene (the embedded default source).
    pub simulation: SceneConfig,
    /// Hardware and remote receivers (`[[receivers]]`).
    pub receivers: Vec<ReceiverConfig>,
    /// Who may connect (off by default).
    pub auth: AuthConfig,
    /// The opt-in `spectrum:frame` stream.
    pub spectrum_frames: SpectrumFramesConfig,
    /// The embedded dashboard.
    pub dashboard: DashboardConfig,
    /// The NATS JetStream bus of the `acquire` and `gateway` roles (unused by `serve`).
    pub bus: BusConfig,
    /// The history database (`[history]`).
    pub history: crate::history::HistoryConfig,
}

/// Highest `spectrum_frames.rate_hz`: a waterfall needs no more, and each frame costs every
/// subscriber a message.
pub const MAX_SPECTRUM_FRAME_RATE_HZ: f64 = 50.0;
/// Allowed `spectrum_frames.bins`: fewer is too coarse to see a signal; more is wider than
/// any screen.
pub const SPECTRUM_FRAME_BINS: std::ops::RangeInclusive<usize> = 16..=8192;

/// `[spectrum_frames]`: decimated spectra of every receiver for waterfalls (`spectrum:frame`,
/// sent only to clients that subscribe to it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpectrumFramesConfig {
    /// Make frames at all.
    pub enabled: bool,
    /// Frames per second per receiver (at most one per spectrum); 0: none.
    pub rate_hz: f64,
    /// Bins per frame (fewer when the FFT is shorter); each is the strongest of its FFT bins.
    pub bins: usize,
}

impl Default for SpectrumFramesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rate_hz: 4.0,
            bins: 512,
        }
    }
}

/// `[bus]`: the NATS JetStream bus between acquisition nodes and gateways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// NATS server(s): `nats://host:port`, several separated by commas (a cluster); empty:
    /// none, which only `sdrhub serve` accepts.
    pub url: String,
    /// This acquisition node's id, unique among nodes: its `websdrs:status` and
    /// `services:health` go to subjects ending in it, and its signal ids are prefixed with it.
    /// Letters, digits, `-` and `_`; empty: the host name.
    pub node_id: String,
    /// Events older than this are removed from the events stream, s: how far back a gateway
    /// that starts replays (its snapshot state is rebuilt from what is left).
    pub events_max_age_s: f64,
    /// Events the stream keeps at most (the oldest go first).
    pub events_max_messages: u64,
    /// Bytes the events stream keeps at most.
    pub events_max_bytes: u64,
    /// IQ snippets (for TDOA across nodes) are kept this long, s: they are only useful while
    /// the detections they belong to are fresh.
    pub snippets_max_age_s: f64,
    /// Bytes of IQ snippets kept at most.
    pub snippets_max_bytes: u64,
    /// Copies of each stream in a clustered NATS (1 for a single server).
    pub replicas: usize,
    /// Events an acquisition node holds while NATS has not acknowledged them (an outage);
    /// beyond, the oldest are dropped and counted in its `bus` health.
    pub buffer_events: usize,
    /// Seconds to wait for NATS to acknowledge one event before retrying it.
    pub ack_timeout_s: f64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            node_id: String::new(),
            events_max_age_s: 3600.0,
            events_max_messages: 100_000,
            events_max_bytes: 1 << 30,
            snippets_max_age_s: 30.0,
            snippets_max_bytes: 256 << 20,
            replicas: 1,
            buffer_events: 10_000,
            ack_timeout_s: 5.0,
        }
    }
}

impl SpectrumFramesConfig {
    /// Time between frames of one receiver, ns; `None` when frames are off.
    pub fn period_ns(&self) -> Option<i64> {
        (self.enabled && self.rate_hz > 0.0).then(|| (1e9 / self.rate_hz).round() as i64)
    }
}

/// `[dashboard]`: what the embedded dashboard is told (`GET /api/v1/dashboard-config`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Map tiles drawn under the map, as an `http(s)://` URL template with `{z}`, `{x}` and
    /// `{y}` (OpenStreetMap-style slippy tiles); empty: no tiles, the map works offline.
    pub map_tiles_url: String,
    /// Attribution shown with the tiles (most tile servers require one).
    pub map_tiles_attribution: String,
}

impl BusConfig {
    /// The node id: `node_id`, else the host name (made a valid subject token), else `node`.
    pub fn node(&self) -> String {
        if !self.node_id.is_empty() {
            return self.node_id.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .unwrap_or_default();
        let token = crate::bus::subject::token(host.trim());
        if token == crate::bus::subject::NO_KEY {
            "node".into()
        } else {
            token
        }
    }

    /// The problems of these settings, each naming its key.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, message: String| {
            if !ok {
                problems.push(message);
            }
        };
        if let Err(problem) = crate::bus::server_addrs(&self.url) {
            check(false, format!("bus.url = {:?}: {problem}", self.url));
        }
        check(
            self.node_id.is_empty() || crate::bus::subject::is_token(&self.node_id),
            format!(
                "bus.node_id = {:?}: must be 1 to 64 letters, digits, '-' or '_'",
                self.node_id
            ),
        );
        check(
            (10.0..=30.0 * 86_400.0).contains(&self.events_max_age_s),
            format!(
                "bus.events_max_age_s = {}: must be in [10, 2592000] (30 days)",
                self.events_max_age_s
            ),
        );
        check(
            (100..=100_000_000).contains(&self.events_max_messages),
            format!(
                "bus.events_max_messages = {}: must be in 100..=100000000",
                self.events_max_messages
            ),
        );
        check(
            ((1 << 20)..=(1 << 40)).contains(&self.events_max_bytes),
            format!(
                "bus.events_max_bytes = {}: must be in 1048576..=1099511627776 (1 MiB to 1 TiB)",
                self.events_max_bytes
            ),
        );
        check(
            (1.0..=3600.0).contains(&self.snippets_max_age_s),
            format!(
                "bus.snippets_max_age_s = {}: must be in [1, 3600]",
                self.snippets_max_age_s
            ),
        );
        check(
            ((1 << 20)..=(1 << 40)).contains(&self.snippets_max_bytes),
            format!(
                "bus.snippets_max_bytes = {}: must be in 1048576..=1099511627776 (1 MiB to 1 TiB)",
                self.snippets_max_bytes
            ),
        );
        check(
            (1..=5).contains(&self.replicas),
            format!(
                "bus.replicas = {}: must be in 1..=5 (JetStream's limit)",
                self.replicas
            ),
        );
        check(
            (1..=1_000_000).contains(&self.buffer_events),
            format!(
                "bus.buffer_events = {}: must be in 1..=1000000",
                self.buffer_events
            ),
        );
        check(
            (0.1..=60.0).contains(&self.ack_timeout_s),
            format!("bus.ack_timeout_s = {}: must be in [0.1, 60]", self.ack_timeout_s),
        );
        problems
    }
}

/// `[auth]`: tokens, JWTs and origins for the WebSocket and REST.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require a token on `/ws` and `/api/*` (the dashboard page and `/healthz` stay open).
    pub enabled: bool,
    /// Static bearer tokens (`[[auth.tokens]]`).
    pub tokens: Vec<TokenConfig>,
    /// Secret of HS256 JWTs (claims: `exp` required, `nbf`, `events`, `admin`); empty: no JWTs.
    pub jwt_hs256_secret: String,
    /// Browser origins allowed (`https://ops.example.org`); empty: any. Requests without an
    /// `Origin` header (scripts) are not affected.
    pub allowed_origins: Vec<String>,
}

/// One static token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who it is for (logs and stats; never the token itself).
    pub name: String,
    /// The secret (at least 16 characters).
    pub token: String,
    /// Topics it may receive; unset: all.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// May publish (`POST /api/v1/publish`).
    #[serde(default)]
    pub admin: bool,
}

/// One configured receiver, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ReceiverConfig {
    /// A local device through SoapySDR (needs a build with `--features soapy`).
    Soapy(SoapyReceiverConfig),
    /// A remote KiwiSDR web receiver (IQ with GPS timestamps).
    Kiwisdr(KiwiReceiverConfig),
}

impl ReceiverConfig {
    /// The receiver's id.
    pub fn id(&self) -> &str {
        match self {
            ReceiverConfig::Soapy(c) => &c.id,
            ReceiverConfig::Kiwisdr(c) => &c.id,
        }
    }
}

/// One KiwiSDR channel (`[[receivers]]` with `kind = "kiwisdr"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KiwiReceiverConfig {
    /// Stable id, unique among receivers.
    pub id: String,
    /// Human-readable name; empty: the receiver's own name.
    #[serde(default)]
    pub name: String,
    /// `kiwi://host:port` or `http://host:port` (port 8073 when omitted).
    pub url: String,
    /// Password; empty for public receivers.
    #[serde(default)]
    pub password: String,
    /// Centre frequency, Hz (0-30 MHz).
    pub frequency_hz: f64,
    /// Antenna latitude, degrees; unset: the receiver's own (`rx_gps`).
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Antenna longitude, degrees.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// The name shown in the receiver's user list.
    #[serde(default = "default_kiwi_user")]
    pub user: String,
    /// Manual gain, dB (AGC stays off so powers compare).
    #[serde(default = "default_kiwi_gain")]
    pub gain_db: u32,
    /// FFT size for this receiver's spectrum: a 12 kHz channel needs a shorter FFT than
    /// `[dsp]` uses for MHz-wide receivers. Default 1024 (11.7 Hz bins).
    #[serde(default = "default_kiwi_fft")]
    pub fft_size: usize,
    /// Frames averaged per spectrum. Default 4 (one spectrum every 0.34 s).
    #[serde(default = "default_kiwi_averages")]
    pub averages: usize,
    /// Seconds between `GET /status` probes (liveness, response time, users).
    #[serde(default = "default_kiwi_probe")]
    pub status_probe_interval_s: f64,
}

fn default_kiwi_user() -> String {
    "sdrhub".into()
}
fn default_kiwi_gain() -> u32 {
    50
}
fn default_kiwi_fft() -> usize {
    1024
}
fn default_kiwi_averages() -> usize {
    4
}
fn default_kiwi_probe() -> f64 {
    5.0
}

impl KiwiReceiverConfig {
    /// The client's configuration.
    ///
    /// # Errors
    /// When the URL does not parse (validation reports it first).
    pub fn client(&self) -> Result<sdrhub_hardware::kiwi::KiwiConfig, String> {
        let url = self.url.parse()?;
        let mut config = sdrhub_hardware::kiwi::KiwiConfig::new(self.id.clone(), url, self.frequency_hz);
        config.name = self.name.clone();
        config.password = self.password.clone();
        config.user = self.user.clone();
        config.manual_gain_db = self.gain_db;
        config.position = match (self.latitude, self.longitude) {
            (Some(lat), Some(lon)) => Some(sdrhub_dsp::geo::GeoPoint::new(lat, lon)),
            _ => None,
        };
        Ok(config)
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`host:port`; port 0 picks a free port).
    pub bind: String,
    /// Seconds between server WebSocket pings.
    pub heartbeat_interval_s: f64,
    /// Seconds without a pong (or any frame) after which a client is closed.
    pub heartbeat_timeout_s: f64,
    /// Messages that may wait for one client before the slow-client policy applies.
    pub client_queue: usize,
    /// `close`: close a client that cannot keep up with code 1013; `resync`: skip it ahead to a
    /// fresh state (`resync` event) once it has drained its queue.
    pub slow_client_policy: SlowClientPolicy,
    /// Broadcast events kept for clients that reconnect with `?since=<seq>` (0: no replay).
    pub replay_events: usize,
    /// Seconds those events are kept at most.
    pub replay_age_s: f64,
    /// WebSocket connections held at most; beyond, upgrades get HTTP 503.
    pub max_connections: usize,
    /// Client messages per second a connection may send on average; faster for longer than
    /// the burst closes it with 1008.
    pub client_messages_per_s: f64,
    /// Client messages a connection may send in a burst.
    pub client_message_burst: f64,
    /// Seconds a single write to a client may take before the client is considered dead.
    pub send_timeout_s: f64,
    /// Largest client message accepted, bytes (a frame, or a fragmented message once joined);
    /// larger closes the connection with 1009.
    pub max_message_bytes: usize,
    /// Topics a client may be subscribed to at once; a `subscribe` beyond gets an
    /// `error` (`too_many_subscriptions`).
    pub max_subscriptions: usize,
    /// Seconds a client has to send its whole request head (the WebSocket handshake included)
    /// after connecting; slower gets HTTP 408 and is disconnected.
    pub handshake_timeout_s: f64,
    /// Seconds between periodic `services:health` broadcasts.
    pub health_interval_s: f64,
    /// Seconds between periodic `websdrs:status` broadcasts.
    pub status_interval_s: f64,
    /// Localizations kept for the snapshot and REST.
    pub recent_localizations: usize,
    /// Seconds to let connections close cleanly at shutdown.
    pub shutdown_grace_s: f64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            heartbeat_interval_s: 30.0,
            heartbeat_timeout_s: 90.0,
            client_queue: 256,
            slow_client_policy: SlowClientPolicy::Close,
            replay_events: 10_000,
            replay_age_s: 300.0,
            max_connections: 20_000,
            client_messages_per_s: 20.0,
            client_message_burst: 40.0,
            send_timeout_s: 10.0,
            max_message_bytes: 64 * 1024,
            max_subscriptions: 8,
            handshake_timeout_s: 5.0,
            health_interval_s: 10.0,
            status_interval_s: 5.0,
            recent_localizations: 100,
            shutdown_grace_s: 5.0,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `sdrhub=debug,actix_web=warn`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// `[dsp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DspConfig {
    /// FFT length (power of two).
    pub fft_size: usize,
    /// Frames averaged per spectrum.
    pub averages: usize,
    /// `rectangular`, `hann`, `blackman-harris` or `flat-top`.
    pub window: String,
    /// False-alarm probability per bin per spectrum.
    pub pfa: f64,
    /// Over-threshold runs this close (bins) merge.
    pub merge_gap_bins: usize,
    /// Bins added on each side of a detection when measuring its power.
    pub guard_bins: usize,
    /// Bins per noise-floor reference segment.
    pub noise_segment_bins: usize,
}

impl Default for DspConfig {
    fn default() -> Self {
        let d = DetectorConfig::default();
        let s = SpectrumConfig::default();
        Self {
            fft_size: s.fft_size,
            averages: s.averages,
            window: "blackman-harris".into(),
            pfa: d.pfa,
            merge_gap_bins: d.merge_gap_bins,
            guard_bins: d.guard_bins,
            noise_segment_bins: d.noise_segment_bins,
        }
    }
}

impl DspConfig {
    /// The spectrum settings.
    pub fn spectrum(&self) -> SpectrumConfig {
        SpectrumConfig {
            fft_size: self.fft_size,
            averages: self.averages,
            window: self.window.parse().unwrap_or(WindowKind::BlackmanHarris),
        }
    }

    /// The detector settings.
    pub fn detector(&self) -> DetectorConfig {
        DetectorConfig {
            pfa: self.pfa,
            merge_gap_bins: self.merge_gap_bins,
            guard_bins: self.guard_bins,
            noise_segment_bins: self.noise_segment_bins,
        }
    }
}

/// `[tracker]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerSettings {
    /// Frequency slack when matching detections to signals, Hz.
    pub frequency_tolerance_hz: f64,
    /// Spectra that must contain a signal before it is reported.
    pub confirm_detections: u32,
    /// Seconds without a detection after which a signal is lost.
    pub lost_after_s: f64,
    /// Frequency move that counts as a change, Hz.
    pub change_frequency_hz: f64,
    /// SNR change that counts as a change, dB.
    pub change_snr_db: f64,
    /// Relative bandwidth change that counts as a change.
    pub change_bandwidth_ratio: f64,
    /// Minimum seconds between updates of one signal.
    pub min_update_interval_s: f64,
    /// Power measurements averaged per receiver.
    pub power_window: usize,
    /// Detections this far (dB) below a strong neighbour are its sidelobes; 0 disables.
    pub sidelobe_rejection_db: f64,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        let t = TrackerConfig::default();
        Self {
            frequency_tolerance_hz: t.frequency_tolerance_hz,
            confirm_detections: t.confirm_detections,
            lost_after_s: t.lost_after_ns as f64 / 1e9,
            change_frequency_hz: t.change_frequency_hz,
            change_snr_db: t.change_snr_db,
            change_bandwidth_ratio: t.change_bandwidth_ratio,
            min_update_interval_s: t.min_update_interval_ns as f64 / 1e9,
            power_window: t.power_window,
            sidelobe_rejection_db: t.sidelobe_rejection_db,
        }
    }
}

impl TrackerSettings {
    /// The tracker's own config.
    pub fn tracker(&self) -> TrackerConfig {
        TrackerConfig {
            frequency_tolerance_hz: self.frequency_tolerance_hz,
            confirm_detections: self.confirm_detections,
            lost_after_ns: (self.lost_after_s * 1e9) as i64,
            change_frequency_hz: self.change_frequency_hz,
            change_snr_db: self.change_snr_db,
            change_bandwidth_ratio: self.change_bandwidth_ratio,
            min_update_interval_ns: (self.min_update_interval_s * 1e9) as i64,
            power_window: self.power_window,
            sidelobe_rejection_db: self.sidelobe_rejection_db,
        }
    }
}

/// `[localization]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalizationConfig {
    /// Locate signals at all.
    pub enabled: bool,
    /// Receivers that must see a signal before it is located (at least 3).
    pub min_receivers: usize,
    /// Power measurements each receiver must have averaged first.
    pub min_power_samples: usize,
    /// Seconds between localizations of one signal.
    pub interval_s: f64,
    /// Path-loss exponent n of the log-distance model (2 = free space). Unset: the simulated
    /// scene's own model when the receivers are simulated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_loss_exponent: Option<f64>,
    /// Reference distance d0 of the model, m (powers closer than this are not extrapolated).
    pub ref_distance_m: f64,
    /// Locate by time differences of arrival when at least 3 receivers with GPS-disciplined
    /// time hear a signal (else, and when TDOA finds no position, by power).
    pub tdoa: bool,
    /// Longest stretch of IQ correlated per TDOA localization, s (capped at 65536 samples).
    pub tdoa_window_s: f64,
    /// Timing error of each receiver's clock, ns (a GPS-disciplined KiwiSDR: about 100 ns),
    /// added to the correlation's own error.
    pub timing_sigma_ns: f64,
    /// How signals travel, for TDOA: `line-of-sight` (straight line; VHF and up, and the
    /// simulated scenes) or `great-circle` (along the surface: HF ground and sky waves).
    pub propagation: PropagationSetting,
}

/// `localization.propagation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PropagationSetting {
    /// The straight line between the antennas.
    #[default]
    LineOfSight,
    /// The great circle along the Earth's surface.
    GreatCircle,
}

impl PropagationSetting {
    /// The solver's model.
    pub fn model(self) -> sdrhub_dsp::locate::tdoa::Propagation {
        match self {
            PropagationSetting::LineOfSight => sdrhub_dsp::locate::tdoa::Propagation::LineOfSight,
            PropagationSetting::GreatCircle => sdrhub_dsp::locate::tdoa::Propagation::GreatCircle,
        }
    }
}

impl Default for LocalizationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_receivers: 3,
            min_power_samples: 8,
            interval_s: 2.0,
            path_loss_exponent: None,
            ref_distance_m: 1.0,
            tdoa: true,
            tdoa_window_s: 0.5,
            timing_sigma_ns: 100.0,
            propagation: PropagationSetting::LineOfSight,
        }
    }
}

/// `[acquisition]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcquisitionSettings {
    /// Blocks that may wait for DSP before new ones are dropped (and counted).
    pub queue_blocks: usize,
    /// First wait before reopening a failed receiver, s.
    pub backoff_initial_s: f64,
    /// Cap of the doubling reopen wait, s.
    pub backoff_max_s: f64,
    /// A receiver with no samples for this long is reported offline, s.
    pub offline_after_s: f64,
    /// First wait after a receiver refused us (busy, bad password, down), s.
    pub refused_backoff_initial_s: f64,
    /// Cap of the doubling wait after refusals, s.
    pub refused_backoff_max_s: f64,
    /// Ids of the simulated scene's receivers this process runs; empty: all. The scene stays
    /// whole (same transmitters, each receiver its own noise), so acquisition nodes that each
    /// run some receivers of one scene hear the same transmissions, as TDOA across nodes needs.
    pub simulated_receivers: Vec<String>,
    /// The simulated scene's epoch (its sample 0), s since the Unix epoch; unset: when the
    /// process starts. Nodes that share one scene must share its epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulation_epoch_s: Option<i64>,
}

impl Default for AcquisitionSettings {
    fn default() -> Self {
        let a = AcquisitionConfig::default();
        Self {
            queue_blocks: a.queue_blocks,
            backoff_initial_s: a.backoff_initial.as_secs_f64(),
            backoff_max_s: a.backoff_max.as_secs_f64(),
            offline_after_s: 2.0,
            refused_backoff_initial_s: a.refused_backoff_initial.as_secs_f64(),
            refused_backoff_max_s: a.refused_backoff_max.as_secs_f64(),
            simulated_receivers: Vec::new(),
            simulation_epoch_s: None,
        }
    }
}

impl AcquisitionSettings {
    /// The worker's own config.
    pub fn acquisition(&self) -> AcquisitionConfig {
        AcquisitionConfig {
            queue_blocks: self.queue_blocks,
            backoff_initial: Duration::from_secs_f64(self.backoff_initial_s),
            backoff_max: Duration::from_secs_f64(self.backoff_max_s),
            refused_backoff_initial: Duration::from_secs_f64(self.refused_backoff_initial_s),
            refused_backoff_max: Duration::from_secs_f64(self.refused_backoff_max_s),
            ..AcquisitionConfig::default()
        }
    }
}

impl Config {
    /// Loads the layers: defaults, `file` (if given), `SDRHUB_*` variables (nested keys split
    /// by `__`, e.g. `SDRHUB_SERVER__BIND`), then `overrides` (from flags), and validates.
    pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Invalid(vec![format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )]));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("SDRHUB_").ignore(&["config"]).split("__"))
            .merge(overrides)
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the error lists every problem, each naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, message: String| {
            if !ok {
                problems.push(message);
            }
        };
        let s = &self.server;
        check(
            s.bind.parse::<std::net::SocketAddr>().is_ok(),
            format!(
                "server.bind = {:?}: must be an IP address and port such as 127.0.0.1:8080",
                s.bind
            ),
        );
        check(
            s.heartbeat_interval_s > 0.0 && s.heartbeat_interval_s <= 3600.0,
            format!(
                "server.heartbeat_interval_s = {}: must be in (0, 3600]",
                s.heartbeat_interval_s
            ),
        );
        check(
            s.heartbeat_timeout_s > s.heartbeat_interval_s,
            format!(
                "server.heartbeat_timeout_s = {}: must be longer than server.heartbeat_interval_s ({})",
                s.heartbeat_timeout_s, s.heartbeat_interval_s
            ),
        );
        check(
            (1..=1_000_000).contains(&s.max_connections),
            format!(
                "server.max_connections = {}: must be in 1..=1000000",
                s.max_connections
            ),
        );
        check(
            s.client_messages_per_s > 0.0 && s.client_messages_per_s <= 100_000.0,
            format!(
                "server.client_messages_per_s = {}: must be in (0, 100000]",
                s.client_messages_per_s
            ),
        );
        check(
            s.client_message_burst >= 1.0 && s.client_message_burst <= 1_000_000.0,
            format!(
                "server.client_message_burst = {}: must be in [1, 1000000]",
                s.client_message_burst
            ),
        );
        check(
            s.replay_events <= 1_000_000,
            format!(
                "server.replay_events = {}: must be in 0..=1000000",
                s.replay_events
            ),
        );
        check(
            s.replay_age_s > 0.0 && s.replay_age_s <= 86_400.0,
            format!("server.replay_age_s = {}: must be in (0, 86400]", s.replay_age_s),
        );
        check(
            (1..=1_000_000).contains(&s.client_queue),
            format!("server.client_queue = {}: must be in 1..=1000000", s.client_queue),
        );
        check(
            s.send_timeout_s > 0.0 && s.send_timeout_s <= 600.0,
            format!(
                "server.send_timeout_s = {}: must be in (0, 600]",
                s.send_timeout_s
            ),
        );
        check(
            (256..=16 * 1024 * 1024).contains(&s.max_message_bytes),
            format!(
                "server.max_message_bytes = {}: must be in 256..=16777216",
                s.max_message_bytes
            ),
        );
        check(
            (1..=64).contains(&s.max_subscriptions),
            format!(
                "server.max_subscriptions = {}: must be in 1..=64",
                s.max_subscriptions
            ),
        );
        check(
            s.handshake_timeout_s > 0.0 && s.handshake_timeout_s <= 300.0,
            format!(
                "server.handshake_timeout_s = {}: must be in (0, 300]",
                s.handshake_timeout_s
            ),
        );
        for (key, value) in [
            ("server.health_interval_s", s.health_interval_s),
            ("server.status_interval_s", s.status_interval_s),
        ] {
            check(
                (0.1..=3600.0).contains(&value),
                format!("{key} = {value}: must be in [0.1, 3600]"),
            );
        }
        check(
            s.shutdown_grace_s >= 0.0 && s.shutdown_grace_s <= 300.0,
            format!(
                "server.shutdown_grace_s = {}: must be in [0, 300]",
                s.shutdown_grace_s
            ),
        );
        check(
            self.log.level.parse::<tracing_subscriber::EnvFilter>().is_ok(),
            format!(
                "log.level = {:?}: not a valid filter (try info, debug, sdrhub=debug)",
                self.log.level
            ),
        );
        let d = &self.dsp;
        check(
            d.fft_size.is_power_of_two() && (64..=1 << 20).contains(&d.fft_size),
            format!(
                "dsp.fft_size = {}: must be a power of two in 64..=1048576",
                d.fft_size
            ),
        );
        check(
            (1..=4096).contains(&d.averages),
            format!("dsp.averages = {}: must be in 1..=4096", d.averages),
        );
        check(
            d.window.parse::<WindowKind>().is_ok(),
            format!(
                "dsp.window = {:?}: must be rectangular, hann, blackman-harris or flat-top",
                d.window
            ),
        );
        check(
            d.pfa > 0.0 && d.pfa < 0.1,
            format!("dsp.pfa = {}: must be in (0, 0.1)", d.pfa),
        );
        check(
            d.noise_segment_bins >= 16 && d.noise_segment_bins <= d.fft_size,
            format!(
                "dsp.noise_segment_bins = {}: must be in 16..=dsp.fft_size",
                d.noise_segment_bins
            ),
        );
        let t = &self.tracker;
        check(
            t.frequency_tolerance_hz >= 0.0,
            format!(
                "tracker.frequency_tolerance_hz = {}: must be >= 0",
                t.frequency_tolerance_hz
            ),
        );
        check(
            t.lost_after_s > 0.0,
            format!("tracker.lost_after_s = {}: must be > 0", t.lost_after_s),
        );
        check(
            t.confirm_detections >= 1,
            format!(
                "tracker.confirm_detections = {}: must be >= 1",
                t.confirm_detections
            ),
        );
        check(
            (0.0..=100.0).contains(&t.sidelobe_rejection_db),
            format!(
                "tracker.sidelobe_rejection_db = {}: must be in [0, 100]",
                t.sidelobe_rejection_db
            ),
        );
        check(
            (2..=4096).contains(&t.power_window),
            format!("tracker.power_window = {}: must be in 2..=4096", t.power_window),
        );
        let l = &self.localization;
        check(
            l.min_receivers >= 3,
            format!(
                "localization.min_receivers = {}: must be >= 3 (three unknowns)",
                l.min_receivers
            ),
        );
        check(
            l.min_power_samples >= 2 && l.min_power_samples <= t.power_window,
            format!(
                "localization.min_power_samples = {}: must be in 2..=tracker.power_window ({})",
                l.min_power_samples, t.power_window
            ),
        );
        if let Some(n) = l.path_loss_exponent {
            check(
                (1.0..=6.0).contains(&n),
                format!("localization.path_loss_exponent = {n}: must be in [1, 6]"),
            );
        }
        check(
            l.ref_distance_m > 0.0,
            format!("localization.ref_distance_m = {}: must be > 0", l.ref_distance_m),
        );
        check(
            (0.01..=10.0).contains(&l.tdoa_window_s),
            format!(
                "localization.tdoa_window_s = {}: must be in [0.01, 10]",
                l.tdoa_window_s
            ),
        );
        check(
            (0.0..=1e6).contains(&l.timing_sigma_ns),
            format!(
                "localization.timing_sigma_ns = {}: must be in [0, 1000000]",
                l.timing_sigma_ns
            ),
        );
        check(
            l.interval_s > 0.0,
            format!("localization.interval_s = {}: must be > 0", l.interval_s),
        );
        let a = &self.acquisition;
        check(
            (1..=4096).contains(&a.queue_blocks),
            format!(
                "acquisition.queue_blocks = {}: must be in 1..=4096",
                a.queue_blocks
            ),
        );
        check(
            a.backoff_initial_s > 0.0 && a.backoff_max_s >= a.backoff_initial_s,
            format!(
                "acquisition.backoff_initial_s = {} / backoff_max_s = {}: need 0 < initial <= max",
                a.backoff_initial_s, a.backoff_max_s
            ),
        );
        check(
            a.refused_backoff_initial_s > 0.0
                && a.refused_backoff_max_s >= a.refused_backoff_initial_s
                && a.refused_backoff_max_s <= 86_400.0,
            format!(
                "acquisition.refused_backoff_initial_s = {} / refused_backoff_max_s = {}: need 0 < initial <= max <= 86400",
                a.refused_backoff_initial_s, a.refused_backoff_max_s
            ),
        );
        check(
            a.offline_after_s > 0.0,
            format!("acquisition.offline_after_s = {}: must be > 0", a.offline_after_s),
        );
        let f = &self.spectrum_frames;
        check(
            f.rate_hz.is_finite() && (0.0..=MAX_SPECTRUM_FRAME_RATE_HZ).contains(&f.rate_hz),
            format!(
                "spectrum_frames.rate_hz = {}: must be in [0, {MAX_SPECTRUM_FRAME_RATE_HZ}] (0: no frames)",
                f.rate_hz
            ),
        );
        check(
            SPECTRUM_FRAME_BINS.contains(&f.bins),
            format!(
                "spectrum_frames.bins = {}: must be in {}..={}",
                f.bins,
                SPECTRUM_FRAME_BINS.start(),
                SPECTRUM_FRAME_BINS.end()
            ),
        );
        let tiles = &self.dashboard.map_tiles_url;
        check(
            tiles.is_empty()
                || ((tiles.starts_with("https://") || tiles.starts_with("http://"))
                    && ["{z}", "{x}", "{y}"].iter().all(|p| tiles.contains(p))),
            format!(
                "dashboard.map_tiles_url = {tiles:?}: must be empty or an http(s):// URL template with {{z}}, {{x}} and {{y}}, \
                 e.g. \"https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png\""
            ),
        );
        if self.simulation_enabled() {
            if let Err(errors) = self.simulation.validate() {
                for error in errors {
                    check(false, error.to_string());
                }
            }
        }
        let scene_ids: Vec<String> = self
            .simulation
            .resolved_receivers()
            .into_iter()
            .map(|r| r.id)
            .collect();
        for id in &a.simulated_receivers {
            check(
                scene_ids.contains(id),
                format!(
                    "acquisition.simulated_receivers: {id:?} is not a receiver of the simulated scene ({})",
                    scene_ids.join(", ")
                ),
            );
        }
        if let Some(epoch) = a.simulation_epoch_s {
            check(
                epoch > 0,
                format!("acquisition.simulation_epoch_s = {epoch}: must be > 0 (s since 1970)"),
            );
        }
        let mut ids: Vec<String> = if self.simulation_enabled() {
            scene_ids
                .into_iter()
                .filter(|id| a.simulated_receivers.is_empty() || a.simulated_receivers.contains(id))
                .collect()
        } else {
            Vec::new()
        };
        for (index, receiver) in self.receivers.iter().enumerate() {
            let key = format!("receivers[{index}]");
            let id = receiver.id();
            check(!id.trim().is_empty(), format!("{key}.id: must not be empty"));
            check(
                !ids.iter().any(|other| other == id),
                format!("{key}.id = {id:?}: already used by another receiver"),
            );
            ids.push(id.to_string());
            match receiver {
                ReceiverConfig::Kiwisdr(kiwi) => {
                    if let Err(problem) = kiwi.url.parse::<sdrhub_hardware::kiwi::KiwiUrl>() {
                        check(false, format!("{key}.url = {problem}"));
                    }
                    check(
                        kiwi.frequency_hz.is_finite() && (0.0..=30e6).contains(&kiwi.frequency_hz),
                        format!(
                            "{key}.frequency_hz = {}: a KiwiSDR tunes 0..=30000000 Hz",
                            kiwi.frequency_hz
                        ),
                    );
                    check(
                        kiwi.latitude.is_some() == kiwi.longitude.is_some(),
                        format!("{key}: give both latitude and longitude, or neither (the receiver's own position is used then)"),
                    );
                    if let (Some(lat), Some(lon)) = (kiwi.latitude, kiwi.longitude) {
                        check(
                            sdrhub_dsp::geo::GeoPoint::new(lat, lon).is_valid(),
                            format!("{key}: latitude {lat} / longitude {lon} out of range"),
                        );
                    }
                    check(
                        kiwi.fft_size.is_power_of_two() && (64..=65_536).contains(&kiwi.fft_size),
                        format!(
                            "{key}.fft_size = {}: must be a power of two in 64..=65536",
                            kiwi.fft_size
                        ),
                    );
                    check(
                        kiwi.fft_size >= self.dsp.noise_segment_bins,
                        format!(
                            "{key}.fft_size = {}: must be at least dsp.noise_segment_bins ({})",
                            kiwi.fft_size, self.dsp.noise_segment_bins
                        ),
                    );
                    check(
                        (1..=4096).contains(&kiwi.averages),
                        format!("{key}.averages = {}: must be in 1..=4096", kiwi.averages),
                    );
                    check(
                        kiwi.gain_db <= 120,
                        format!("{key}.gain_db = {}: must be in 0..=120", kiwi.gain_db),
                    );
                    check(
                        (0.5..=3600.0).contains(&kiwi.status_probe_interval_s),
                        format!(
                            "{key}.status_probe_interval_s = {}: must be in [0.5, 3600]",
                            kiwi.status_probe_interval_s
                        ),
                    );
                }
                ReceiverConfig::Soapy(soapy) => {
                    check(
                        cfg!(feature = "soapy"),
                        format!(
                            "{key} (kind = \"soapy\", id {id:?}): this sdrhub was built without SoapySDR support; \
                             rebuild with `cargo build --release --features soapy`"
                        ),
                    );
                    check(
                        !soapy.args.trim().is_empty(),
                        format!("{key}.args: must name a device, e.g. \"driver=rtlsdr\""),
                    );
                    check(
                        soapy.frequency_hz.is_finite() && soapy.frequency_hz > 0.0,
                        format!("{key}.frequency_hz = {}: must be > 0", soapy.frequency_hz),
                    );
                    check(
                        soapy.sample_rate_hz.is_finite() && soapy.sample_rate_hz > 0.0,
                        format!("{key}.sample_rate_hz = {}: must be > 0", soapy.sample_rate_hz),
                    );
                    check(
                        soapy.latitude.is_some() == soapy.longitude.is_some(),
                        format!("{key}: give both latitude and longitude, or neither"),
                    );
                    if let (Some(lat), Some(lon)) = (soapy.latitude, soapy.longitude) {
                        check(
                            sdrhub_dsp::geo::GeoPoint::new(lat, lon).is_valid(),
                            format!("{key}: latitude {lat} / longitude {lon} out of range"),
                        );
                    }
                }
            }
        }
        check(
            !ids.is_empty(),
            "no receivers: configure [[receivers]] or enable [simulation]".to_string(),
        );
        let auth = &self.auth;
        check(
            !auth.enabled || !auth.tokens.is_empty() || !auth.jwt_hs256_secret.is_empty(),
            "auth.enabled = true: configure [[auth.tokens]] or auth.jwt_hs256_secret, or nobody can connect"
                .into(),
        );
        check(
            auth.jwt_hs256_secret.is_empty() || auth.jwt_hs256_secret.len() >= 32,
            "auth.jwt_hs256_secret: must be at least 32 characters".into(),
        );
        for (i, token) in auth.tokens.iter().enumerate() {
            check(
                token.token.len() >= 16,
                format!(
                    "auth.tokens[{i}] ({}).token: must be at least 16 characters",
                    token.name
                ),
            );
            for name in token.events.iter().flatten() {
                check(
                    crate::events::Topic::parse(name).is_some(),
                    format!("auth.tokens[{i}] ({}).events: unknown topic {name:?}", token.name),
                );
            }
        }
        problems.extend(self.bus.problems());
        problems.extend(self.history.problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Whether the simulated scene runs: as configured, or else only when no `[[receivers]]`
    /// are configured.
    pub fn simulation_enabled(&self) -> bool {
        self.simulation.enabled.unwrap_or(self.receivers.is_empty())
    }

    /// The path-loss exponent localization uses: the configured one; else the simulated
    /// scene's when only simulated receivers run; else 2 (free space).
    pub fn path_loss_exponent(&self) -> f64 {
        self.localization.path_loss_exponent.unwrap_or_else(|| {
            if self.simulation_enabled() && self.receivers.is_empty() {
                self.simulation.path_loss.exponent()
            } else {
                2.0
            }
        })
    }

    /// The hub's settings.
    pub fn hub(&self) -> HubConfig {
        HubConfig {
            client_queue: self.server.client_queue,
            slow_client_policy: self.server.slow_client_policy,
            replay_events: self.server.replay_events,
            replay_age_ns: (self.server.replay_age_s * 1e9) as i64,
            numbering: crate::hub::Numbering::Local,
            recent_localizations: self.server.recent_localizations,
        }
    }

    /// The configuration as TOML (for `sdrhub config`).
    pub fn to_toml(&self) -> String {
        // Invariant: every field is TOML-representable (no maps with non-string keys).
        toml::to_string_pretty(self).expect("config serializes to TOML")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soapy(id: &str) -> ReceiverConfig {
        ReceiverConfig::Soapy(SoapyReceiverConfig {
            id: id.into(),
            name: String::new(),
            args: "driver=rtlsdr".into(),
            channel: 0,
            frequency_hz: 145e6,
            sample_rate_hz: 1.024e6,
            bandwidth_hz: 0.0,
            gain: Default::default(),
            antenna: String::new(),
            ppm: 0.0,
            format: Default::default(),
            latitude: Some(48.9),
            longitude: Some(2.3),
        })
    }

    fn problems(config: &Config) -> Vec<String> {
        match config.validate() {
            Ok(()) => Vec::new(),
            Err(ConfigError::Invalid(problems)) => problems,
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn configured_hardware_replaces_the_simulated_scene_unless_asked_for() {
        let mut config = Config::default();
        assert!(config.simulation_enabled());
        config.receivers.push(soapy("roof"));
        assert!(
            !config.simulation_enabled(),
            "real and simulated receivers never mix by accident"
        );
        assert_eq!(config.path_loss_exponent(), 2.0);
        config.simulation.enabled = Some(true);
        assert!(config.simulation_enabled());
    }

    #[test]
    fn receiver_problems_name_the_receiver_and_key() {
        let mut config = Config::default();
        config.simulation.enabled = Some(true);
        config.receivers.push(soapy("rx1"));
        let found = problems(&config);
        assert!(
            found.iter().any(|p| p.starts_with("receivers[0].id = \"rx1\"")),
            "{found:?}"
        );
        if !cfg!(feature = "soapy") {
            assert!(found.iter().any(|p| p.contains("--features soapy")), "{found:?}");
        }
        let mut config = Config::default();
        let ReceiverConfig::Soapy(mut bad) = soapy("roof") else {
            unreachable!("soapy() makes a SoapySDR receiver")
        };
        bad.sample_rate_hz = 0.0;
        bad.longitude = None;
        config.receivers.push(ReceiverConfig::Soapy(bad));
        let found = problems(&config);
        assert!(
            found.iter().any(|p| p.starts_with("receivers[0].sample_rate_hz")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.contains("latitude and longitude")),
            "{found:?}"
        );
    }

    #[test]
    fn kiwisdr_receivers_parse_and_bad_values_are_named() {
        let text = r#"
            [[receivers]]
            kind = "kiwisdr"
            id = "kiwi-brest"
            url = "kiwi://kiwi.example.org:8073"
            frequency_hz = 10e6

            [[receivers]]
            kind = "kiwisdr"
            id = "kiwi-bad"
            url = "ftp://nowhere"
            frequency_hz = 45e6
            latitude = 48.0
            fft_size = 1000
        "#;
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .unwrap();
        let ReceiverConfig::Kiwisdr(good) = &config.receivers[0] else {
            panic!("not a KiwiSDR receiver")
        };
        let client = good.client().unwrap();
        assert_eq!(
            (client.url.host.as_str(), client.url.port),
            ("kiwi.example.org", 8073)
        );
        assert_eq!((good.fft_size, good.averages, good.gain_db), (1024, 4, 50));
        let found = problems(&config);
        for key in [
            "receivers[1].url",
            "receivers[1].frequency_hz",
            "receivers[1]: give both latitude",
            "receivers[1].fft_size",
        ] {
            assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
        }
        assert!(!found.iter().any(|p| p.starts_with("receivers[0]")), "{found:?}");
    }

    #[test]
    fn spectrum_frame_and_dashboard_settings_are_checked() {
        let config = Config::default();
        assert_eq!(config.spectrum_frames.period_ns(), Some(250_000_000));
        let mut off = config.clone();
        off.spectrum_frames.rate_hz = 0.0;
        assert_eq!(off.spectrum_frames.period_ns(), None);
        off.spectrum_frames.rate_hz = 4.0;
        off.spectrum_frames.enabled = false;
        assert_eq!(off.spectrum_frames.period_ns(), None);
        assert!(problems(&off).is_empty(), "{:?}", problems(&off));

        let mut bad = Config::default();
        bad.spectrum_frames.rate_hz = 500.0;
        bad.spectrum_frames.bins = 4;
        bad.dashboard.map_tiles_url = "tile.openstreetmap.org/{z}/{x}/{y}.png".into();
        let found = problems(&bad);
        for key in [
            "spectrum_frames.rate_hz = 500",
            "spectrum_frames.bins = 4",
            "dashboard.map_tiles_url",
        ] {
            assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
        }
        let mut tiles = Config::default();
        tiles.dashboard.map_tiles_url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into();
        assert!(problems(&tiles).is_empty());
    }

    #[test]
    fn bus_settings_are_checked_and_each_problem_names_its_key() {
        let mut config = Config::default();
        assert!(problems(&config).is_empty(), "no bus is fine for serve");
        config.bus.url = "nats://127.0.0.1:4222,nats://10.0.0.2:4222".into();
        config.bus.node_id = "edge-1".into();
        assert!(problems(&config).is_empty(), "{:?}", problems(&config));
        assert_eq!(config.bus.node(), "edge-1");
        config.bus.url = "redis://127.0.0.1".into();
        config.bus.node_id = "edge.1".into();
        config.bus.events_max_age_s = 1.0;
        config.bus.events_max_messages = 0;
        config.bus.buffer_events = 0;
        config.bus.replicas = 7;
        config.bus.ack_timeout_s = 0.0;
        config.bus.snippets_max_age_s = 0.0;
        let found = problems(&config);
        for key in [
            "bus.url = \"redis://127.0.0.1\"",
            "bus.node_id = \"edge.1\"",
            "bus.events_max_age_s = 1",
            "bus.events_max_messages = 0",
            "bus.buffer_events = 0",
            "bus.replicas = 7",
            "bus.ack_timeout_s = 0",
            "bus.snippets_max_age_s = 0",
        ] {
            assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
        }
        config.acquisition.simulated_receivers = vec!["rx2".into(), "rx9".into()];
        config.acquisition.simulation_epoch_s = Some(-5);
        let found = problems(&config);
        for key in [
            "acquisition.simulated_receivers: \"rx9\" is not a receiver of the simulated scene",
            "acquisition.simulation_epoch_s = -5",
        ] {
            assert!(found.iter().any(|p| p.starts_with(key)), "{key} not in {found:?}");
        }
        assert!(!found.iter().any(|p| p.contains("\"rx2\"")), "{found:?}");
        // Without a node id, the host name made a subject token.
        config.bus.node_id.clear();
        assert!(crate::bus::subject::is_token(&config.bus.node()));
    }

    #[test]
    fn a_receiver_list_parses_from_toml() {
        let text = r#"
            [[receivers]]
            kind = "soapy"
            id = "roof"
            args = "driver=rtlsdr,serial=00000001"
            frequency_hz = 145e6
            sample_rate_hz = 2.4e6
            gain = { LNA = 20.0 }
        "#;
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .unwrap();
        assert_eq!(config.receivers.len(), 1);
        assert_eq!(config.receivers[0].id(), "roof");
    }
}
