//! `[bus]`: the NATS JetStream bus between acquisition nodes, locate workers and gateways,
//! with what checking it needs: NATS server URLs and subject tokens (node ids), which
//! `crate::bus` uses too.

use async_nats::ServerAddr;
use serde::{Deserialize, Serialize};

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
        let token = token(host.trim());
        if token == NO_KEY {
            "node".into()
        } else {
            token
        }
    }

    /// The problems of these settings, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        if let Err(problem) = server_addrs(&self.url) {
            p.check(false, format!("bus.url = {:?}: {problem}", self.url));
        }
        p.check(
            self.node_id.is_empty() || is_token(&self.node_id),
            format!(
                "bus.node_id = {:?}: must be 1 to 64 letters, digits, '-' or '_'",
                self.node_id
            ),
        );
        p.check(
            (10.0..=30.0 * 86_400.0).contains(&self.events_max_age_s),
            format!(
                "bus.events_max_age_s = {}: must be in [10, 2592000] (30 days)",
                self.events_max_age_s
            ),
        );
        p.range(
            "bus.events_max_messages",
            self.events_max_messages,
            100,
            100_000_000,
        );
        p.check(
            ((1 << 20)..=(1 << 40)).contains(&self.events_max_bytes),
            format!(
                "bus.events_max_bytes = {}: must be in 1048576..=1099511627776 (1 MiB to 1 TiB)",
                self.events_max_bytes
            ),
        );
        p.interval("bus.snippets_max_age_s", self.snippets_max_age_s, 1.0, 3600.0);
        p.check(
            ((1 << 20)..=(1 << 40)).contains(&self.snippets_max_bytes),
            format!(
                "bus.snippets_max_bytes = {}: must be in 1048576..=1099511627776 (1 MiB to 1 TiB)",
                self.snippets_max_bytes
            ),
        );
        p.check(
            (1..=5).contains(&self.replicas),
            format!(
                "bus.replicas = {}: must be in 1..=5 (JetStream's limit)",
                self.replicas
            ),
        );
        p.range("bus.buffer_events", self.buffer_events, 1, 1_000_000);
        p.interval("bus.ack_timeout_s", self.ack_timeout_s, 0.1, 60.0);
        p.into_vec()
    }
}

/// The key of an event that has none (a fix without receivers).
pub const NO_KEY: &str = "_";
/// Longest key kept: ids are short; a longer one is cut rather than refused.
const MAX_TOKEN: usize = 64;

/// `text` as one subject token: letters, digits, `-` and `_` kept, anything else `_`, at most
/// 64 characters; `_` when empty.
pub fn token(text: &str) -> String {
    let token: String = text
        .chars()
        .take(MAX_TOKEN)
        .map(|c| if is_token_char(c) { c } else { '_' })
        .collect();
    if token.is_empty() {
        NO_KEY.into()
    } else {
        token
    }
}

/// Whether `text` is a token as [`token`] makes them.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.chars().count() <= MAX_TOKEN && text.chars().all(is_token_char)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// The servers in `url` (`nats://host:port`, comma-separated); empty for an empty `url`.
pub fn server_addrs(url: &str) -> Result<Vec<ServerAddr>, String> {
    if url.trim().is_empty() {
        return Ok(Vec::new());
    }
    url.split(',')
        .map(|part| {
            let part = part.trim();
            if !part.starts_with("nats://") {
                return Err(format!(
                    "{part:?} must be nats://HOST:PORT (this build speaks plain NATS; put TLS in front)"
                ));
            }
            part.parse::<ServerAddr>().map_err(|e| format!("{part:?}: {e}"))
        })
        .collect()
}
