//! `[server]` (HTTP and WebSocket serving, the limits that protect it) and `[log]`.

use crate::hub::SlowClientPolicy;
use serde::{Deserialize, Serialize};

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
    /// Seconds a client has to send a whole request head (the WebSocket handshake included),
    /// counted from its first byte, on every request of a connection; slower is disconnected
    /// (the first request of a connection gets HTTP 408).
    pub handshake_timeout_s: f64,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client;
    /// from anyone else the header is ignored. The shipped nginx setup needs its address here.
    pub trusted_proxies: Vec<String>,
    /// WebSocket sessions one client address (an IPv6 /64) may hold; beyond, HTTP 429, while
    /// other addresses still connect up to `max_connections`.
    pub max_connections_per_address: usize,
    /// New WebSocket sessions per second one address may open, on average; faster gets 429
    /// with `Retry-After`.
    pub connects_per_address_per_s: f64,
    /// New WebSocket sessions one address may open in a burst.
    pub connect_burst_per_address: f64,
    /// Seconds between periodic `services:health` broadcasts.
    pub health_interval_s: f64,
    /// Seconds between periodic `websdrs:status` broadcasts.
    pub status_interval_s: f64,
    /// Localizations kept for the snapshot and REST.
    pub recent_localizations: usize,
    /// Seconds to let connections close cleanly at shutdown.
    pub shutdown_grace_s: f64,
    /// Threads that run WebSocket sessions after their handshake, apart from the two HTTP
    /// workers (REST, handshakes, the publish API): clients busy sending do not delay those.
    pub session_threads: usize,
    /// Scheduling niceness of those threads (0: as the rest of the hub; up to 19: they yield
    /// the CPU to the pipeline and the hub first).
    pub session_nice: i32,
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
            trusted_proxies: Vec::new(),
            // A household or an office behind one NAT runs a few dashboards, not hundreds.
            max_connections_per_address: 64,
            connects_per_address_per_s: 5.0,
            connect_burst_per_address: 20.0,
            health_interval_s: 10.0,
            status_interval_s: 5.0,
            recent_localizations: 100,
            shutdown_grace_s: 5.0,
            session_threads: 2,
            session_nice: 0,
        }
    }
}

impl ServerConfig {
    /// Every problem of `[server]`, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        p.check(
            self.bind.parse::<std::net::SocketAddr>().is_ok(),
            format!(
                "server.bind = {:?}: must be an IP address and port such as 127.0.0.1:8080",
                self.bind
            ),
        );
        p.positive("server.heartbeat_interval_s", self.heartbeat_interval_s, 3600.0);
        p.check(
            self.heartbeat_timeout_s > self.heartbeat_interval_s,
            format!(
                "server.heartbeat_timeout_s = {}: must be longer than server.heartbeat_interval_s ({})",
                self.heartbeat_timeout_s, self.heartbeat_interval_s
            ),
        );
        p.range("server.max_connections", self.max_connections, 1, 1_000_000);
        p.positive(
            "server.client_messages_per_s",
            self.client_messages_per_s,
            100_000.0,
        );
        p.check(
            self.client_message_burst >= 1.0 && self.client_message_burst <= 1_000_000.0,
            format!(
                "server.client_message_burst = {}: must be in [1, 1000000]",
                self.client_message_burst
            ),
        );
        p.check(
            self.replay_events <= 1_000_000,
            format!(
                "server.replay_events = {}: must be in 0..=1000000",
                self.replay_events
            ),
        );
        p.positive("server.replay_age_s", self.replay_age_s, 86_400.0);
        p.range("server.client_queue", self.client_queue, 1, 1_000_000);
        p.positive("server.send_timeout_s", self.send_timeout_s, 600.0);
        p.range(
            "server.max_message_bytes",
            self.max_message_bytes,
            256,
            16 * 1024 * 1024,
        );
        p.range("server.max_subscriptions", self.max_subscriptions, 1, 64);
        p.positive("server.handshake_timeout_s", self.handshake_timeout_s, 300.0);
        for proxy in &self.trusted_proxies {
            if let Err(message) = super::Network::parse(proxy) {
                p.check(false, format!("server.trusted_proxies: {message}"));
            }
        }
        p.range(
            "server.max_connections_per_address",
            self.max_connections_per_address,
            1,
            1_000_000,
        );
        p.positive(
            "server.connects_per_address_per_s",
            self.connects_per_address_per_s,
            10_000.0,
        );
        p.interval(
            "server.connect_burst_per_address",
            self.connect_burst_per_address,
            1.0,
            100_000.0,
        );
        for (key, value) in [
            ("server.health_interval_s", self.health_interval_s),
            ("server.status_interval_s", self.status_interval_s),
        ] {
            p.check(
                (0.1..=3600.0).contains(&value),
                format!("{key} = {value}: must be in [0.1, 3600]"),
            );
        }
        p.check(
            self.shutdown_grace_s >= 0.0 && self.shutdown_grace_s <= 300.0,
            format!(
                "server.shutdown_grace_s = {}: must be in [0, 300]",
                self.shutdown_grace_s
            ),
        );
        p.range("server.session_threads", self.session_threads, 1, 64);
        p.range("server.session_nice", self.session_nice, 0, 19);
        p.into_vec()
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

impl LogConfig {
    /// Every problem of `[log]`, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        p.check(
            self.level.parse::<tracing_subscriber::EnvFilter>().is_ok(),
            format!(
                "log.level = {:?}: not a valid filter (try info, debug, sdrhub=debug)",
                self.level
            ),
        );
        p.into_vec()
    }
}
