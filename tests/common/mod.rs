//! Shared helpers of the integration tests: a real server on 127.0.0.1:0 with a light scene,
//! and a real WebSocket client.
#![allow(dead_code)]

pub mod nats;
pub mod nginx;
pub mod postgres;

use futures_util::{SinkExt, StreamExt};
use sdrhub::config::Config;
use sdrhub::roles::RunningServer;
use sdrhub_hardware::sim::{ScheduleConfig, SignalKind, TransmitterConfig};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A configuration for tests: loopback port 0, fast periodic reports, and a light scene
/// (4 receivers at 256 kS/s) so several servers can run at once on a small machine.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.server.health_interval_s = 0.5;
    config.server.status_interval_s = 0.5;
    config.server.shutdown_grace_s = 2.0;
    // Each server its own history database, in the temporary directory.
    config.history.url = format!("sqlite://{}", temp_path("history", "sqlite").display());
    // Every test client comes from 127.0.0.1: the per-address limits are tested on their own
    // (tests/limits.rs), elsewhere they would only cap the tests' own crowds.
    config.server.max_connections_per_address = 100_000;
    config.server.connects_per_address_per_s = 10_000.0;
    config.server.connect_burst_per_address = 100_000.0;
    config.dsp.fft_size = 1024;
    config.dsp.averages = 8;
    config.localization.interval_s = 0.5;
    let sim = &mut config.simulation;
    sim.sample_rate_hz = 256_000.0;
    sim.block_samples = 8192;
    sim.receiver_count = 4;
    sim.receiver_radius_m = 10_000.0;
    sim.receivers.clear();
    let (lat, lon) = (sim.center_latitude, sim.center_longitude);
    sim.transmitters = vec![
        TransmitterConfig {
            id: "carrier".into(),
            name: "Test carrier".into(),
            latitude: lat + 0.02,
            longitude: lon - 0.03,
            frequency_hz: sim.center_frequency_hz + 50_000.0,
            bandwidth_hz: 0.0,
            power_dbm: 30.0,
            kind: SignalKind::Cw,
            schedule: None,
        },
        TransmitterConfig {
            id: "voice".into(),
            name: "Test voice".into(),
            latitude: lat - 0.03,
            longitude: lon + 0.01,
            frequency_hz: sim.center_frequency_hz - 60_000.0,
            bandwidth_hz: 12_500.0,
            power_dbm: 37.0,
            kind: SignalKind::Fm,
            schedule: Some(ScheduleConfig {
                period_s: 30.0,
                on_s: 20.0,
                offset_s: 0.0,
            }),
        },
    ];
    config
}

/// A path in the temporary directory no other call (of any test process) returns.
pub fn temp_path(what: &str, extension: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "sdrhub-test-{what}-{}-{n}.{extension}",
        std::process::id()
    ))
}

/// Starts a server with `config`.
pub fn start(config: Config) -> RunningServer {
    RunningServer::start(config).expect("server starts")
}

/// Connects a WebSocket client to `path` (e.g. `/ws/updates?events=...`).
pub async fn connect(server: &RunningServer, path: &str) -> Ws {
    let url = format!("ws://{}{}", server.addr, path);
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    ws
}

/// The next text message as JSON, or `None` on close / timeout.
pub async fn next_json(ws: &mut Ws, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match frame.ok()? {
            Message::Text(text) => return Some(serde_json::from_str(&text).expect("server sends JSON")),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Reads messages until one with `event` arrives; returns it and everything before it.
pub async fn until_event(ws: &mut Ws, event: &str, within: Duration) -> (Option<Value>, Vec<Value>) {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
        match next_json(ws, left).await {
            Some(v) if v["event"] == event => return (Some(v), seen),
            Some(v) => seen.push(v),
            None => break,
        }
    }
    (None, seen)
}

/// Sends a JSON text message.
pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.expect("send");
}

/// GET `path` as JSON.
pub async fn get_json(server: &RunningServer, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}{}", server.addr, path))
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// The sorted keys of a JSON object.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("an object").keys().cloned().collect();
    keys.sort();
    keys
}

/// Reads messages until `predicate` holds for one, within `limit` (panicking with `what`
/// otherwise); returns that message and how long it took.
pub async fn wait_for(
    ws: &mut Ws,
    limit: Duration,
    what: &str,
    mut predicate: impl FnMut(&Value) -> bool,
) -> (Value, Duration) {
    let started = std::time::Instant::now();
    let deadline = started + limit;
    loop {
        let left = deadline
            .checked_duration_since(std::time::Instant::now())
            .unwrap_or_else(|| panic!("no {what} within {limit:?}"));
        let message = next_json(ws, left)
            .await
            .unwrap_or_else(|| panic!("no {what} within {limit:?}"));
        if predicate(&message) {
            return (message, started.elapsed());
        }
    }
}

/// A `signals:detected` event for injection into a server's hub: `lost`, so injected signals
/// do not accumulate in its state, with `receivers` receiver ids to set its size (60 make
/// about 1 kB).
pub fn fake_signal(prefix: &str, n: u64, receivers: usize) -> sdrhub::events::Event {
    use sdrhub::events::{Event, SignalReport, SignalState, Timestamp};
    Event::SignalsDetected(SignalReport {
        signal_id: format!("{prefix}-{n}"),
        state: SignalState::Lost,
        frequency_hz: 145e6 + n as f64,
        frequency_mhz: 145.0 + n as f64 / 1e6,
        bandwidth_hz: 12_500.0,
        snr_db: 20.0,
        power_dbfs: -40.0,
        peak_power_dbfs: -50.0,
        websdr_id: "rx1".into(),
        receivers: (0..receivers).map(|i| format!("receiver-{i:04}")).collect(),
        first_seen: sdrhub::events::Timestamp::now(),
        timestamp: Timestamp::now(),
        known: None,
        novel: false,
        identity: Default::default(),
    })
}

/// [`test_config`] with no transmitters: the only `signals:detected` are a test's own.
pub fn quiet_config() -> Config {
    let mut config = test_config();
    config.simulation.transmitters.clear();
    config
}

/// The HTTP status and body with which the server refuses a WebSocket upgrade to `url`.
///
/// # Panics
/// If the upgrade succeeds or fails without an HTTP answer.
pub async fn refused_upgrade(url: &str) -> (u16, String) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Ok(_) => panic!("the upgrade to {url} was accepted"),
        Err(other) => panic!("the upgrade to {url} failed without an HTTP answer: {other}"),
    }
}
