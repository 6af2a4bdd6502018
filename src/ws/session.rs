//! One WebSocket client: a task that owns the socket's sending half and `select!`s over the
//! client's frames, its queue of hub messages, the heartbeat and shutdown.

use super::protocol::{self, ClientMessage};
use crate::events::{Event, Pong, Timestamp, TopicSet};
use crate::hub::{Connection, Hub};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{interval_at, timeout, Instant, MissedTickBehavior};

/// Per-session tunables, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionConfig {
    /// Time between server pings.
    pub heartbeat_interval: Duration,
    /// Silence (no pong, no frame) after which the client is considered gone.
    pub heartbeat_timeout: Duration,
    /// Longest a single write may take.
    pub send_timeout: Duration,
    /// Client messages per second allowed on average (token bucket refill rate).
    pub messages_per_s: f64,
    /// Client messages allowed in a burst (token bucket size).
    pub message_burst: f64,
}

/// A token bucket: a client that sends faster than its rate for longer than its burst is
/// abusing the server and is closed with 1008.
#[derive(Debug)]
struct RateLimit {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl RateLimit {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            rate,
            burst,
            last: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Decrements the live-session count when the session ends, however it ends.
struct SessionSlot(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// How a session ended, for the log.
#[derive(Debug)]
enum End {
    ClientClosed,
    ClientGone,
    Kicked,
    HeartbeatTimeout,
    SendFailed,
    Shutdown,
    RateLimited,
}

/// Everything a session needs besides its socket.
#[derive(Debug)]
pub struct SessionSetup {
    /// The hub.
    pub hub: Hub,
    /// Its registration with the hub.
    pub connection: Connection,
    /// Topics subscribed at the start.
    pub topics: TopicSet,
    /// Topics its credentials allow.
    pub allowed: TopicSet,
    /// Tunables.
    pub config: SessionConfig,
    /// Becomes true at shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Sessions open now; this one is counted in it and leaves it when it ends.
    pub live_sessions: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Runs the session until the client leaves, the hub closes it, or the server shuts down.
pub async fn run(mut session: Session, mut stream: AggregatedMessageStream, setup: SessionSetup) {
    let SessionSetup {
        hub,
        connection,
        mut topics,
        allowed,
        config,
        mut shutdown,
        live_sessions,
    } = setup;
    let _slot = SessionSlot(live_sessions);
    let mut rate = RateLimit::new(config.messages_per_s, config.message_burst);
    let Connection {
        id,
        mut queue,
        mut kicked,
    } = connection;
    let counters = hub.counters().clone();
    let mut heartbeat = interval_at(
        Instant::now() + config.heartbeat_interval,
        config.heartbeat_interval,
    );
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut close_reason: Option<CloseReason> = None;

    let end = loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                close_reason = Some(CloseReason { code: CloseCode::Away, description: Some("server shutting down".into()) });
                break End::Shutdown;
            }
            kick = &mut kicked => {
                if let Ok(kick) = kick {
                    close_reason = Some(CloseReason { code: CloseCode::Other(kick.code), description: Some(kick.reason) });
                }
                break End::Kicked;
            }
            message = queue.recv() => {
                let Some(message) = message else {
                    // The hub dropped us without a reason: only happens when it shuts down.
                    close_reason = Some(CloseReason { code: CloseCode::Away, description: Some("server shutting down".into()) });
                    break End::Shutdown;
                };
                match timeout(config.send_timeout, session.text(message.text.clone())).await {
                    Ok(Ok(())) => counters.record_sent(&message),
                    _ => break End::SendFailed,
                }
            }
            frame = stream.recv() => {
                last_heard = Instant::now();
                if matches!(frame, Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Binary(_)))) && !rate.allow() {
                    close_reason = Some(CloseReason {
                        code: CloseCode::Policy,
                        description: Some(format!("message rate over {} per second", config.messages_per_s)),
                    });
                    break End::RateLimited;
                }
                match frame {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        handle_text(&hub, id, &mut topics, allowed, &text).await;
                    }
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        let error = crate::events::ErrorReport {
                            code: "unsupported_frame",
                            message: "binary frames are not part of the protocol; send JSON text".into(),
                        };
                        hub.reply(id, Event::Error(error)).await;
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            break End::SendFailed;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(reason))) => {
                        close_reason = reason;
                        break End::ClientClosed;
                    }
                    Some(Err(error)) => {
                        // A protocol violation (oversized or malformed frame): tell the client why.
                        tracing::debug!(client = id, %error, "websocket protocol error");
                        close_reason = Some(CloseReason { code: CloseCode::Size, description: Some(error.to_string()) });
                        break End::ClientClosed;
                    }
                    None => break End::ClientGone,
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > config.heartbeat_timeout {
                    close_reason = Some(CloseReason { code: CloseCode::Away, description: Some("heartbeat timeout".into()) });
                    break End::HeartbeatTimeout;
                }
                if timeout(config.send_timeout, session.ping(b"sdrhub")).await.map_or(true, |r| r.is_err()) {
                    break End::SendFailed;
                }
            }
        }
    };
    hub.disconnect(id).await;
    tracing::debug!(client = id, reason = ?end, "websocket session ended");
    if !matches!(end, End::SendFailed | End::ClientGone) {
        let _ = timeout(config.send_timeout, session.close(close_reason)).await;
    }
}

async fn handle_text(hub: &Hub, id: u64, topics: &mut TopicSet, allowed: TopicSet, text: &str) {
    match protocol::parse(text) {
        Ok(ClientMessage::Ping) => {
            hub.reply(
                id,
                Event::Pong(Pong {
                    server_time: Timestamp::now(),
                }),
            )
            .await;
        }
        Ok(ClientMessage::Subscribe(list)) => {
            if let Some(topic) = list.iter().find(|t| !allowed.contains(**t)) {
                let error = crate::events::ErrorReport {
                    code: "forbidden_topic",
                    message: format!("your token does not allow {}", topic.as_str()),
                };
                hub.reply(id, Event::Error(error)).await;
                return;
            }
            *topics = list.into_iter().fold(*topics, TopicSet::with);
            hub.set_topics(id, *topics).await;
        }
        Ok(ClientMessage::Unsubscribe(list)) => {
            *topics = list.into_iter().fold(*topics, TopicSet::without);
            hub.set_topics(id, *topics).await;
        }
        Err(error) => hub.reply(id, Event::Error(error)).await,
    }
}
