//! The hub's tunables and policies.

use serde::{Deserialize, Serialize};

/// How long a gateway waits to catch up with a resuming client's position (`?since=` ahead of
/// what it has seen: the client comes from a gateway a few events ahead) before answering with
/// a `resync` instead.
pub const RESUME_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Who numbers broadcast events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numbering {
    /// The hub numbers every message it sends, broadcasts and replies alike (`serve`).
    #[default]
    Local,
    /// Broadcast events come numbered from the bus ([`Hub::publish_numbered`]); nothing else
    /// advances `seq` (`gateway`).
    External,
}

/// What happens to a client whose queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlowClientPolicy {
    /// Close the connection with code 1013 ("try again later") and a reason. The client
    /// reconnects (resuming with `?since=`, or with a fresh snapshot), so it never silently
    /// misses an event.
    Close,
    /// Stop queueing for the client until it has drained its queue, then send it a `resync`
    /// (a fresh state of all topics) and carry on live: the connection stays open and the
    /// client knows exactly that it skipped ahead.
    Resync,
}

/// Tunables of the hub (config keys under `server`).
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    /// Messages that may wait for one client.
    pub client_queue: usize,
    /// What to do when that queue is full.
    pub slow_client_policy: SlowClientPolicy,
    /// Localizations kept for the snapshot and REST.
    pub recent_localizations: usize,
    /// Broadcast events retained for clients resuming with `?since=` (0: no replay).
    pub replay_events: usize,
    /// ... and for at most this long, ns.
    pub replay_age_ns: i64,
    /// Who numbers broadcast events.
    pub numbering: Numbering,
    /// The recent waterfall kept per receiver (`spectrum_frames.history_s`); `None`: none.
    pub waterfall: Option<super::WaterfallSettings>,
}

/// Why the hub closed a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kick {
    /// WebSocket close code.
    pub code: u16,
    /// Close reason for the client.
    pub reason: String,
}
