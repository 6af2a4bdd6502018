//! What every request handler shares: the hub, the configuration and what is derived from it
//! once (session limits, access control, per-address limits), the receivers for `/metrics`,
//! the history database.

use crate::config::Config;
use crate::hub::Hub;
use crate::ws::session::SessionConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared by every request handler.
#[derive(Debug)]
pub struct AppState {
    /// The hub.
    pub hub: Hub,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Session tunables derived from the configuration.
    pub session: SessionConfig,
    /// When the server started.
    pub started: Instant,
    /// Access control.
    pub auth: crate::auth::Authenticator,
    /// WebSocket sessions open now (for `server.max_connections`).
    pub live_sessions: Arc<std::sync::atomic::AtomicUsize>,
    /// The pipeline's receivers (for `/metrics`); none on a gateway.
    pub receivers: Arc<Vec<crate::pipeline::ReceiverHandle>>,
    /// A gateway: the hub's events come from the bus, and only from it.
    pub bus_fed: bool,
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: Vec<crate::ws::addresses::Network>,
    /// What each client address may hold and open.
    pub addresses: crate::ws::addresses::AddressLimits,
    /// The history database the history endpoints read; `None` without one.
    pub history: Option<crate::history::HistoryStore>,
    /// The history this process writes (`serve`): told when known signals change, counted in
    /// `/metrics`.
    pub live_history: Option<Arc<crate::history::LiveHistory>>,
}

impl AppState {
    /// The state of a server started now on `config`, serving `hub`.
    pub fn new(config: Arc<Config>, hub: Hub, backing: crate::server::Backing) -> Self {
        let started = Instant::now();
        AppState {
            hub,
            config: config.clone(),
            session: SessionConfig {
                limits: crate::ws::transport::Limits {
                    heartbeat_interval: Duration::from_secs_f64(config.server.heartbeat_interval_s),
                    heartbeat_timeout: Duration::from_secs_f64(config.server.heartbeat_timeout_s),
                    send_timeout: Duration::from_secs_f64(config.server.send_timeout_s),
                    max_message_bytes: config.server.max_message_bytes,
                    write_backlog_bytes: crate::ws::session::WRITE_BACKLOG_BYTES,
                },
                messages_per_s: config.server.client_messages_per_s,
                message_burst: config.server.client_message_burst,
                max_subscriptions: config.server.max_subscriptions,
            },
            started,
            auth: crate::auth::Authenticator::new(&config.auth),
            live_sessions: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            receivers: backing.receivers,
            bus_fed: backing.bus_fed,
            history: backing.history,
            live_history: backing.live_history,
            // Validation has checked every entry.
            trusted_proxies: config
                .server
                .trusted_proxies
                .iter()
                .filter_map(|p| crate::ws::addresses::Network::parse(p).ok())
                .collect(),
            addresses: crate::ws::addresses::AddressLimits::new(crate::ws::addresses::AddressLimitsConfig {
                max_connections: config.server.max_connections_per_address,
                connects_per_s: config.server.connects_per_address_per_s,
                connect_burst: config.server.connect_burst_per_address,
            }),
        }
    }
}
