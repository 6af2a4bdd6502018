//! The MQTT mirror of the event topics (`alerts.mqtt.mirror`): each event of a mirrored topic
//! the hub publishes goes to `<prefix>/events/<topic>` (its WebSocket envelope without `seq`),
//! QoS 0, over a connection of its own (client id `<client_id>-events`), so the firehose never
//! delays an alert. The state topics (`services:health`, `websdrs:status`) are retained: a
//! subscriber learns the current state at once; signals and localizations are not (a stale one
//! would look live).
//!
//! Back-pressure: events are handed to rumqttc without waiting, into its request channel of
//! [`MIRROR_QUEUE`]; when it is full (the broker is away or slower than the events) they are
//! dropped and counted (`sdrhub_mqtt_mirror_messages_total{outcome="dropped"}`). QoS 0 is at
//! most once: an event in flight when the connection drops is lost, as with a WebSocket client
//! that reconnects without `resume`.

use crate::config::MqttConfig;
use crate::events::{Event, Topic};
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Outgoing, Packet, QoS};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Events that may wait for the broker: a few seconds of a busy band (the pipeline publishes
/// tens of signal reports a second); beyond, they are dropped.
pub const MIRROR_QUEUE: usize = 1024;
/// Wait between connection attempts while the broker is away.
const RECONNECT_WAIT: Duration = Duration::from_secs(1);
/// MQTT keep-alive.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// What happened to the mirrored events.
#[derive(Debug, Default)]
pub struct MirrorCounters {
    /// Written to the broker's connection.
    pub sent: AtomicU64,
    /// Dropped: the queue was full.
    pub dropped: AtomicU64,
    /// Whether the broker is connected now.
    pub connected: AtomicBool,
}

/// The hub's end of the mirror.
#[derive(Debug, Clone)]
pub struct Mirror {
    client: AsyncClient,
    topics: Vec<Topic>,
    prefix: String,
    /// Its counters.
    pub counters: Arc<MirrorCounters>,
}

impl Mirror {
    /// Connects (and keeps reconnecting) to `config.url` on the current runtime; `None` when
    /// no topic is mirrored or there is no broker.
    pub fn start(config: &MqttConfig) -> Option<Mirror> {
        let topics = config.mirrored();
        if topics.is_empty() {
            return None;
        }
        let (host, port) = config.host_port()?;
        let mut options = MqttOptions::new(format!("{}-events", config.client_id), host, port);
        options.set_keep_alive(KEEP_ALIVE);
        options.set_clean_session(true);
        if !config.username.is_empty() {
            options.set_credentials(config.username.clone(), config.password.clone());
        }
        let (client, mut eventloop) = AsyncClient::new(options, MIRROR_QUEUE);
        let counters = Arc::new(MirrorCounters::default());
        let seen = counters.clone();
        let url = config.url.clone();
        // The event loop must be polled to completion (see `mqtt`): a task of its own.
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                        seen.connected.store(true, Ordering::Relaxed);
                        tracing::info!(%url, "MQTT event mirror connected");
                    }
                    Ok(MqttEvent::Outgoing(Outgoing::Publish(_))) => {
                        seen.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if seen.connected.swap(false, Ordering::Relaxed) {
                            tracing::warn!(%url, "MQTT event mirror lost: {e}");
                        }
                        tokio::time::sleep(RECONNECT_WAIT).await;
                    }
                }
            }
        });
        Some(Mirror {
            client,
            topics,
            prefix: config.topic_prefix.clone(),
            counters,
        })
    }

    /// Hands `event` to the broker if its topic is mirrored; never waits.
    pub fn offer(&self, event: &Event) {
        let Some(topic) = event.topic().filter(|t| self.topics.contains(t)) else {
            return;
        };
        let retain = matches!(topic, Topic::ServicesHealth | Topic::WebsdrsStatus);
        let sent = self.client.try_publish(
            format!("{}/events/{}", self.prefix, topic.as_str()),
            QoS::AtMostOnce,
            retain,
            super::webhook::body(event),
        );
        if sent.is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
