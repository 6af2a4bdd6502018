//! The wire types of the answers a client gets to its own messages (`pong`, `error`,
//! `subscriptions`).

use super::Timestamp;
use serde::Serialize;

/// Payload of `pong`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pong {
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// Payload of `error`: what was wrong with a client message. The connection stays open.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    /// Machine-readable code: `bad_json`, `bad_message`, `unknown_event`, `unknown_topic`,
    /// `unsupported_frame`, and for `listen`: `listen_refused` (a setting that cannot work:
    /// the message says which), `forbidden_audio`, `too_many_listeners`.
    pub code: &'static str,
    /// What was wrong, for humans.
    pub message: String,
}

/// Payload of `subscriptions`: the client's topics after a `subscribe` or `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionsReport {
    /// Topics now subscribed, in wire order.
    pub events: Vec<&'static str>,
}
