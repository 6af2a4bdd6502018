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
}

/// Runs the session until the client leaves, the hub closes it, or the server shuts down.
pub async fn run(
    mut session: Session,
    mut stream: AggregatedMessageStream,
    hub: Hub,
    connection: Connection,
    mut topics: TopicSet,
    config: SessionConfig,
    mut shutdown: watch::Receiver<bool>,
) {
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
                match frame {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        handle_text(&hub, id, &mut topics, &text).await;
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

async fn handle_text(hub: &Hub, id: u64, topics: &mut TopicSet, text: &str) {
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
