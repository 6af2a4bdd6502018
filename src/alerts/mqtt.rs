//! Alerts to an MQTT broker (`[alerts.mqtt]`), through rumqttc over plain TCP.
//!
//! Every alert change goes to `<prefix>/alerts/<rule>` with QoS 1 (the body is the webhook's:
//! the WebSocket envelope without `seq`), and after every change the rule's active alerts are
//! published, retained, to `<prefix>/alerts/<rule>/active` (a JSON array, `[]` when none), so a
//! subscriber that connects later learns the active set at once.
//!
//! Delivery is at least once, across broker restarts: one message is in flight at a time and
//! leaves the queue only when the broker acknowledges it (PUBACK); after a reconnect the message
//! in flight is sent again (a broker that lost its sessions also lost what rumqttc had pending).
//! A subscriber may therefore see a change twice; `alert_id` and `state` identify it.
//!
//! Back-pressure: the engine hands changes over without waiting into a queue of
//! `alerts.mqtt.queue`; while the broker is away changes wait there, and when it is full the
//! newest are dropped and counted (`sdrhub_alert_mqtt_messages_total{outcome="dropped"}`). The
//! engine, the hub and the WebSocket clients never wait for the broker.

use crate::config::MqttConfig;
use crate::events::AlertReport;
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Wait between connection attempts while the broker is away.
const RECONNECT_WAIT: Duration = Duration::from_secs(1);
/// MQTT keep-alive: a dead broker is noticed within about this.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Requests between this task and rumqttc's event loop (one message is in flight at a time).
const CLIENT_CHANNEL: usize = 8;

/// What happened to the messages.
#[derive(Debug, Default)]
pub struct MqttCounters {
    /// Acknowledged by the broker.
    pub published: AtomicU64,
    /// Not queued: the queue was full.
    pub dropped: AtomicU64,
    /// Whether the broker is connected now.
    pub connected: AtomicBool,
}

/// One message to publish.
#[derive(Debug, Clone)]
struct Message {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

/// The engine's end of the broker connection.
#[derive(Debug, Clone)]
pub struct Mqtt {
    sender: mpsc::Sender<Message>,
    prefix: String,
    /// Its counters.
    pub counters: Arc<MqttCounters>,
}

/// What the event-loop task reports.
enum Link {
    Connected,
    Acked,
    Lost(String),
}

impl Mqtt {
    /// Connects (and keeps reconnecting) to `config.url` on the current runtime.
    pub fn start(config: &MqttConfig) -> Option<Mqtt> {
        let (host, port) = config.host_port()?;
        let mut options = MqttOptions::new(config.client_id.clone(), host, port);
        options.set_keep_alive(KEEP_ALIVE);
        options.set_clean_session(true);
        if !config.username.is_empty() {
            options.set_credentials(config.username.clone(), config.password.clone());
        }
        let (client, mut eventloop) = AsyncClient::new(options, CLIENT_CHANNEL);
        let (links, linked) = mpsc::unbounded_channel();
        // The event loop in a task of its own: `poll` must run to completion (reconnects,
        // keep-alive), so it is never a branch of a select that could cancel it.
        tokio::spawn(async move {
            loop {
                let report = match eventloop.poll().await {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => Some(Link::Connected),
                    Ok(MqttEvent::Incoming(Packet::PubAck(_))) => Some(Link::Acked),
                    Ok(_) => None,
                    Err(e) => Some(Link::Lost(e.to_string())),
                };
                let lost = matches!(report, Some(Link::Lost(_)));
                if let Some(report) = report {
                    if links.send(report).is_err() {
                        return; // the alert side is gone
                    }
                }
                if lost {
                    tokio::time::sleep(RECONNECT_WAIT).await;
                }
            }
        });
        let (sender, receiver) = mpsc::channel(config.queue.max(1));
        let counters = Arc::new(MqttCounters::default());
        tokio::spawn(publish(
            client,
            receiver,
            linked,
            counters.clone(),
            config.url.clone(),
        ));
        Some(Mqtt {
            sender,
            prefix: config.topic_prefix.clone(),
            counters,
        })
    }

    fn offer(&self, message: Message) {
        if self.sender.try_send(message).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues an alert change for `<prefix>/alerts/<rule>`.
    pub fn offer_change(&self, report: &AlertReport) {
        self.offer(Message {
            topic: format!("{}/alerts/{}", self.prefix, report.rule),
            payload: super::webhook::envelope(report.clone()),
            retain: false,
        });
    }

    /// Queues `rule`'s active alerts, retained, for `<prefix>/alerts/<rule>/active`.
    pub fn offer_active(&self, rule: &str, active: &[&AlertReport]) {
        // Invariant: alert reports always serialize.
        let payload = serde_json::to_vec(active).expect("alert reports serialize");
        self.offer(Message {
            topic: format!("{}/alerts/{rule}/active", self.prefix),
            payload,
            retain: true,
        });
    }
}

/// Keeps one message in flight while connected; takes it off the queue at its PUBACK.
async fn publish(
    client: AsyncClient,
    mut queue_in: mpsc::Receiver<Message>,
    mut links: mpsc::UnboundedReceiver<Link>,
    counters: Arc<MqttCounters>,
    url: String,
) {
    let mut queue: VecDeque<Message> = VecDeque::new();
    let mut in_flight: Option<Message> = None;
    let mut connected = false;
    loop {
        tokio::select! {
            message = queue_in.recv(), if queue.is_empty() => match message {
                Some(message) => queue.push_back(message),
                None => return,
            },
            link = links.recv() => match link {
                Some(Link::Connected) => {
                    connected = true;
                    counters.connected.store(true, Ordering::Relaxed);
                    tracing::info!(%url, "MQTT broker connected");
                    // What was in flight when the link broke goes again.
                    if let Some(message) = in_flight.take() {
                        queue.push_front(message);
                    }
                }
                Some(Link::Acked) => {
                    if in_flight.take().is_some() {
                        counters.published.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Link::Lost(why)) => {
                    if connected {
                        tracing::warn!(%url, why, "MQTT broker lost; alerts wait for it");
                    }
                    connected = false;
                    counters.connected.store(false, Ordering::Relaxed);
                }
                None => return,
            },
        }
        if connected && in_flight.is_none() {
            if let Some(message) = queue.pop_front() {
                let sent = client.try_publish(
                    message.topic.clone(),
                    QoS::AtLeastOnce,
                    message.retain,
                    message.payload.clone(),
                );
                match sent {
                    Ok(()) => in_flight = Some(message),
                    Err(_) => queue.push_front(message),
                }
            }
        }
    }
}
