//! The bus between sdrhub processes: NATS JetStream.
//!
//! ```text
//! sdrhub acquire (sources, DSP) --publish, acked--> SDRHUB_EVENTS --ordered consumer--> sdrhub gateway
//!     (bounded buffer while NATS is away)           (file, limits)     (stream seq = envelope seq)
//! ```
//!
//! - [`subject`]: the subject of every event (`sdrhub.signals.detected.<receiver>`, ...).
//! - Streams ([`Bus::ensure_streams`]): `SDRHUB_EVENTS` holds every broadcast event on file
//!   with age, count and size limits (so a gateway that starts replays it and rebuilds its
//!   state); `SDRHUB_SNIPPETS` holds IQ snippets in memory for seconds.
//! - [`publisher`]: an acquisition node's side: every event published with an
//!   acknowledgement, in order, with a message id JetStream deduplicates on; a bounded buffer
//!   holds what NATS has not acknowledged yet.
//! - [`follower`]: a gateway's side: follows the events stream from where it stopped, merges
//!   the nodes' receiver and health reports, and hands every event to the hub numbered with its
//!   stream sequence.
//!
//! Payloads are the WebSocket's `{"event", "data"}` (what `POST /api/v1/publish` takes); the
//! gateway adds `timestamp` and `seq`.

pub mod follower;
pub mod merge;
pub mod publisher;
pub mod snippet;
pub mod subject;

use crate::config::BusConfig;
use crate::events::Timestamp;
use async_nats::jetstream::{self, stream};
use std::time::Duration;
use tokio::sync::watch;

/// Every broadcast event, on file.
pub const EVENTS_STREAM: &str = "SDRHUB_EVENTS";
/// IQ snippets for TDOA across nodes, in memory and short-lived.
pub const SNIPPETS_STREAM: &str = "SDRHUB_SNIPPETS";
/// Header carrying an event's id (`<node>.<boot>.<n>`): JetStream drops a republished id within
/// [`DUPLICATE_WINDOW`], and gateways skip an id they have seen after it.
pub const MESSAGE_ID_HEADER: &str = "Nats-Msg-Id";
/// How long JetStream remembers message ids: longer than any retry of an unacknowledged
/// publish takes (a node retries as soon as NATS is back).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Longest wait between reconnection attempts: short, so that a restarted NATS is found within
/// a second, and cheap (one TCP connect per client).
const RECONNECT_DELAY_MAX: Duration = Duration::from_secs(1);
/// Longest wait before retrying a failed JetStream call (creating a stream or a consumer).
pub const RETRY_DELAY_MAX: Duration = Duration::from_secs(2);

/// What went wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The role needs a bus and none is configured.
    #[error("bus.url is empty: `sdrhub {role}` needs a NATS server (--bus nats://HOST:4222 or [bus] url)")]
    NoUrl {
        /// The role.
        role: &'static str,
    },
    /// The URL does not parse.
    #[error("bus.url = {url:?}: {problem}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        problem: String,
    },
    /// The client could not be set up.
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// A stream could not be created or read.
    #[error("JetStream stream {stream}: {message}")]
    Stream {
        /// The stream.
        stream: &'static str,
        /// Why.
        message: String,
    },
}

pub use crate::config::bus::server_addrs;

/// The connection to NATS as health reports see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// Connected now.
    pub connected: bool,
    /// Since when `connected` holds.
    pub since: Timestamp,
    /// Connections lost since start.
    pub outages: u64,
}

/// A connected (or connecting) NATS client with its JetStream context.
#[derive(Debug, Clone)]
pub struct Bus {
    /// The NATS client; it reconnects by itself.
    pub client: async_nats::Client,
    /// JetStream, with acknowledgements awaited for `bus.ack_timeout_s`.
    pub jetstream: jetstream::Context,
    /// The connection's state, updated on every connect and disconnect.
    pub link: watch::Receiver<LinkState>,
    /// The configured URL, for messages.
    pub url: String,
}

impl Bus {
    /// Sets up a client of `config.url` named `name` (shown by NATS' monitoring). It connects
    /// in the background and reconnects forever, so a process can start before NATS and ride
    /// out its restarts; [`Bus::link`] tells how it is doing.
    pub async fn connect(config: &BusConfig, name: &str, role: &'static str) -> Result<Bus, BusError> {
        let addrs = server_addrs(&config.url).map_err(|problem| BusError::BadUrl {
            url: config.url.clone(),
            problem,
        })?;
        if addrs.is_empty() {
            return Err(BusError::NoUrl { role });
        }
        let (link_tx, link) = watch::channel(LinkState {
            connected: false,
            since: Timestamp::now(),
            outages: 0,
        });
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                let exp = attempts.min(16) as u32;
                Duration::from_millis(10u64.saturating_mul(2u64.saturating_pow(exp))).min(RECONNECT_DELAY_MAX)
            })
            .event_callback(move |event| {
                let link_tx = link_tx.clone();
                async move {
                    let connected = match event {
                        async_nats::Event::Connected => true,
                        async_nats::Event::Disconnected | async_nats::Event::Closed => false,
                        _ => return,
                    };
                    link_tx.send_if_modified(|state| {
                        if state.connected == connected {
                            return false;
                        }
                        if !connected {
                            state.outages += 1;
                        }
                        state.connected = connected;
                        state.since = Timestamp::now();
                        true
                    });
                }
            })
            .connect(addrs)
            .await
            .map_err(|e| BusError::Connect {
                url: config.url.clone(),
                message: e.to_string(),
            })?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs_f64(config.ack_timeout_s))
            .build(client.clone());
        Ok(Bus {
            client,
            jetstream,
            link,
            url: config.url.clone(),
        })
    }

    /// Waits until the client is connected.
    pub async fn connected(&mut self) {
        // The sender lives in the client's event task, as long as the client.
        let _ = self.link.wait_for(|state| state.connected).await;
    }

    /// Creates the events and snippets streams when they do not exist yet (an existing stream
    /// is left as it is: the first process to start sets the limits).
    pub async fn ensure_streams(&self, config: &BusConfig) -> Result<(), BusError> {
        for (name, settings) in [
            (EVENTS_STREAM, events_stream(config)),
            (SNIPPETS_STREAM, snippets_stream(config)),
        ] {
            let stream = self
                .jetstream
                .get_or_create_stream(settings.clone())
                .await
                .map_err(|e| BusError::Stream {
                    stream: name,
                    message: e.to_string(),
                })?;
            let existing = &stream.cached_info().config;
            if existing.max_age != settings.max_age
                || existing.max_messages != settings.max_messages
                || existing.max_bytes != settings.max_bytes
            {
                tracing::warn!(
                    stream = name,
                    max_age_s = existing.max_age.as_secs_f64(),
                    max_messages = existing.max_messages,
                    max_bytes = existing.max_bytes,
                    "the stream exists with other limits than [bus] configures here; keeping its own"
                );
            }
        }
        Ok(())
    }
}

/// The events stream: every broadcast event on file, the oldest removed first by age, count or
/// size.
pub fn events_stream(config: &BusConfig) -> stream::Config {
    let max_age = Duration::from_secs_f64(config.events_max_age_s);
    stream::Config {
        name: EVENTS_STREAM.into(),
        description: Some("sdrhub broadcast events (the WebSocket topics)".into()),
        subjects: subject::event_wildcards(),
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        storage: stream::StorageType::File,
        max_age,
        max_messages: clamp_i64(config.events_max_messages),
        max_bytes: clamp_i64(config.events_max_bytes),
        duplicate_window: DUPLICATE_WINDOW.min(max_age),
        num_replicas: config.replicas,
        ..Default::default()
    }
}

/// The snippets stream: IQ in memory, kept only while it can still be correlated.
pub fn snippets_stream(config: &BusConfig) -> stream::Config {
    let max_age = Duration::from_secs_f64(config.snippets_max_age_s);
    stream::Config {
        name: SNIPPETS_STREAM.into(),
        description: Some("sdrhub IQ snippets around detections, for TDOA across nodes".into()),
        subjects: vec![subject::snippet_wildcard()],
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        storage: stream::StorageType::Memory,
        max_age,
        max_bytes: clamp_i64(config.snippets_max_bytes),
        duplicate_window: DUPLICATE_WINDOW.min(max_age),
        num_replicas: config.replicas,
        ..Default::default()
    }
}

fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The wait before retry number `attempt` (from 0) of a failed JetStream call: doubling from
/// 50 ms to [`RETRY_DELAY_MAX`].
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(50u64.saturating_mul(1 << attempt.min(10))).min(RETRY_DELAY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_nats_servers_and_bad_ones_are_explained() {
        assert!(server_addrs("").unwrap().is_empty());
        let addrs = server_addrs("nats://127.0.0.1:4222, nats://nats-2:4223").unwrap();
        assert_eq!(addrs.len(), 2);
        assert_eq!((addrs[1].host(), addrs[1].port()), ("nats-2", 4223));
        assert!(server_addrs("http://x:1")
            .unwrap_err()
            .contains("nats://HOST:PORT"));
        assert!(server_addrs("nats://[::1").is_err());
    }

    #[test]
    fn streams_take_their_limits_from_the_configuration() {
        let config = BusConfig {
            events_max_age_s: 60.0,
            ..BusConfig::default()
        };
        let events = events_stream(&config);
        assert_eq!(events.subjects.len(), 4);
        assert_eq!(events.storage, stream::StorageType::File);
        assert_eq!(events.max_age, Duration::from_secs(60));
        assert_eq!(events.max_messages, 100_000);
        // JetStream refuses a duplicate window longer than the age limit.
        assert_eq!(events.duplicate_window, Duration::from_secs(60));
        let snippets = snippets_stream(&config);
        assert_eq!(snippets.storage, stream::StorageType::Memory);
        assert_eq!(snippets.subjects, ["sdrhub.snippets.*"]);
        assert_eq!(snippets.max_age, Duration::from_secs(30));
        assert!(retry_delay(0) < retry_delay(3) && retry_delay(30) == RETRY_DELAY_MAX);
    }
}
