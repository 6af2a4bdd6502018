//! Alerts: rules (`[[alerts.rules]]`) applied to the events the hub publishes, raising and
//! resolving alerts on the `alerts:raised` topic.
//!
//! Rooms: what the engine knows of the world ([`world`]), what each kind of rule finds in it
//! ([`condition`], with the geofence geometry in [`geo`]), the timing state machine that turns
//! findings into alerts ([`engine`]), and here the task that runs it and its handle.
//!
//! The task is fed by a [`Tap`] on the hub: a copy of every broadcast event of state, taken
//! where the hub updates its own state, so the engine sees what clients see. It evaluates the
//! rules after every event and on a [`TICK`], so time-driven conditions (`for_s`, `missing`)
//! fire without waiting for news, and publishes each alert through the hub like any event.
//!
//! Back-pressure: the tap's queue (`alerts.queue`) is filled by the hub without waiting; when
//! the engine falls behind, the events it misses are dropped and counted ([`Alerts::dropped`],
//! `sdrhub_alerts_events_dropped_total`), and the next event of the same topic corrects its
//! view. The engine itself waits for room in the hub's publication queue like every publisher.
//! REST commands (list, acknowledge) wait for room in a queue of [`COMMAND_QUEUE`]. Each
//! webhook ([`webhook`]) has its own bounded queue, filled without waiting.

pub mod condition;
pub mod engine;
pub mod geo;
pub mod mqtt;
pub mod webhook;
pub mod world;

pub use engine::{Ack, Engine};

use crate::config::AlertsConfig;
use crate::events::{AlertReport, AlertsListing, Event, Timestamp};
use crate::hub::{Hub, Tap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How often the rules are evaluated without news: the lateness of an alert beyond its
/// `for_s` is at most this.
pub const TICK: Duration = Duration::from_millis(250);
/// REST commands (list, acknowledge) that may wait for the engine; beyond, handlers wait.
pub const COMMAND_QUEUE: usize = 64;

enum Command {
    Ack(String, oneshot::Sender<Ack>),
    List(oneshot::Sender<AlertsListing>),
}

/// A handle on the alert task. Cheap to clone; the task ends when every handle is dropped or
/// the hub is gone.
#[derive(Debug, Clone)]
pub struct Alerts {
    commands: mpsc::Sender<Command>,
    dropped: Arc<AtomicU64>,
    webhooks: Vec<webhook::Webhook>,
    mqtt: Option<mqtt::Mqtt>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Ack(..) => "Ack",
            Command::List(_) => "List",
        })
    }
}

impl Alerts {
    /// Taps `hub` and starts the engine over `config`'s rules on the current runtime; `None`
    /// when there are no rules (nothing runs).
    pub async fn start(config: &AlertsConfig, hub: Hub) -> Option<Alerts> {
        if config.rules.is_empty() {
            return None;
        }
        let (tap, events, dropped) = Tap::new(config.queue.max(1));
        hub.tap(tap).await;
        let (commands, commanded) = mpsc::channel(COMMAND_QUEUE);
        let engine = Engine::new(config.rules.clone(), config.keep_resolved);
        let webhooks: Vec<webhook::Webhook> = config
            .webhooks
            .iter()
            .map(|w| webhook::Webhook::start(w, config.webhook_queue))
            .collect();
        let mqtt = mqtt::Mqtt::start(&config.mqtt);
        let outlets = Outlets {
            webhooks: webhooks.clone(),
            mqtt: mqtt.clone(),
        };
        tokio::spawn(run(engine, hub, events, commanded, outlets));
        Some(Alerts {
            commands,
            dropped,
            webhooks,
            mqtt,
        })
    }

    /// The MQTT counters: acknowledged, dropped, connected now; `None` without MQTT.
    pub fn mqtt_counts(&self) -> Option<(u64, u64, bool)> {
        self.mqtt.as_ref().map(|m| {
            let c = &m.counters;
            (
                c.published.load(Ordering::Relaxed),
                c.dropped.load(Ordering::Relaxed),
                c.connected.load(Ordering::Relaxed),
            )
        })
    }

    /// Per `[[alerts.webhooks]]` entry, in order: its delivered, failed and dropped counts.
    pub fn webhook_counts(&self) -> Vec<(u64, u64, u64)> {
        self.webhooks
            .iter()
            .map(|w| {
                let c = &w.counters;
                (
                    c.delivered.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed),
                    c.dropped.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Events the engine missed because it fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The active and recently resolved alerts; `None` when the task is gone.
    pub async fn listing(&self) -> Option<AlertsListing> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::List(reply)).await.ok()?;
        rx.await.ok()
    }

    /// Acknowledges alert `id` (the change is published on `alerts:raised` with state
    /// `acked`); `None` when the task is gone.
    pub async fn ack(&self, id: &str) -> Option<Ack> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Ack(id.to_string(), reply))
            .await
            .ok()?;
        rx.await.ok()
    }
}

/// Where alert changes go besides the hub.
struct Outlets {
    webhooks: Vec<webhook::Webhook>,
    mqtt: Option<mqtt::Mqtt>,
}

async fn run(
    mut engine: Engine,
    hub: Hub,
    mut events: mpsc::Receiver<Event>,
    mut commands: mpsc::Receiver<Command>,
    outlets: Outlets,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let changes: Vec<AlertReport> = tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    engine.observe(&event);
                    engine.evaluate(Timestamp::now())
                }
                // The hub is gone (or replaced its tap).
                None => break,
            },
            command = commands.recv() => match command {
                Some(Command::List(reply)) => {
                    let _ = reply.send(engine.listing());
                    Vec::new()
                }
                Some(Command::Ack(id, reply)) => {
                    let outcome = engine.ack(&id);
                    let publish = match &outcome {
                        Ack::Acked(report) => vec![report.clone()],
                        _ => Vec::new(),
                    };
                    let _ = reply.send(outcome);
                    publish
                }
                None => break,
            },
            _ = tick.tick() => engine.evaluate(Timestamp::now()),
        };
        // The active set of every rule that changed, retained on the broker.
        if let Some(mqtt) = &outlets.mqtt {
            let listing = engine.listing();
            let mut rules: Vec<&str> = changes.iter().map(|r| r.rule.as_str()).collect();
            rules.sort_unstable();
            rules.dedup();
            for report in &changes {
                mqtt.offer_change(report);
            }
            for rule in rules {
                let active: Vec<&AlertReport> = listing.active.iter().filter(|a| a.rule == rule).collect();
                mqtt.offer_active(rule, &active);
            }
        }
        for report in changes {
            tracing::info!(
                alert = %report.alert_id,
                rule = %report.rule,
                state = ?report.state,
                emitter = %report.emitter_id,
                "{}",
                report.message
            );
            for hook in &outlets.webhooks {
                hook.offer(&report);
            }
            hub.publish(Event::AlertsRaised(report)).await;
        }
    }
}

#[cfg(test)]
mod tests;
