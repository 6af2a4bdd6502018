//! What every REST handler shares: the hub, the configuration, access control, the receivers
//! for `/metrics`, the history database. (The WebSocket endpoint has its own,
//! `crate::ws::WsContext`.)

use crate::config::Config;
use crate::hub::Hub;
use std::sync::Arc;
use std::time::Instant;

/// What stands behind the hub that a server serves: its receivers (for `/metrics`), whether a
/// bus feeds it, and the history database.
#[derive(Debug, Default)]
pub struct Backing {
    /// The pipeline's receivers; none on a gateway.
    pub receivers: Arc<Vec<crate::pipeline::ReceiverHandle>>,
    /// A gateway: the hub's events come from the bus, and only from it.
    pub bus_fed: bool,
    /// The history database, for the history endpoints.
    pub history: Option<crate::history::HistoryStore>,
    /// The history this process writes (`serve`), told when known signals change.
    pub live_history: Option<Arc<crate::history::LiveHistory>>,
    /// The alert engine (`serve` with `[[alerts.rules]]`).
    pub alerts: Option<crate::alerts::Alerts>,
}

/// Shared by every request handler.
#[derive(Debug)]
pub struct AppState {
    /// The hub.
    pub hub: Hub,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// When the server started.
    pub started: Instant,
    /// Access control.
    pub auth: crate::auth::Authenticator,
    /// The pipeline's receivers (for `/metrics`); none on a gateway.
    pub receivers: Arc<Vec<crate::pipeline::ReceiverHandle>>,
    /// A gateway: the hub's events come from the bus, and only from it.
    pub bus_fed: bool,
    /// The history database the history endpoints read; `None` without one.
    pub history: Option<crate::history::HistoryStore>,
    /// The history this process writes (`serve`): told when known signals change, counted in
    /// `/metrics`.
    pub live_history: Option<Arc<crate::history::LiveHistory>>,
    /// The alert engine; `None` without rules.
    pub alerts: Option<crate::alerts::Alerts>,
    /// Listening (`serve`; counted in `/metrics`).
    pub audio: Option<crate::audio::Audio>,
}

impl AppState {
    /// With the listening service.
    pub fn with_audio(mut self, audio: Option<crate::audio::Audio>) -> Self {
        self.audio = audio;
        self
    }

    /// The state of a server started now on `config`, serving `hub`.
    pub fn new(config: Arc<Config>, hub: Hub, backing: Backing) -> Self {
        let started = Instant::now();
        AppState {
            hub,
            config: config.clone(),
            started,
            auth: crate::auth::Authenticator::new(&config.auth),
            receivers: backing.receivers,
            bus_fed: backing.bus_fed,
            history: backing.history,
            live_history: backing.live_history,
            alerts: backing.alerts,
            audio: None,
        }
    }
}
