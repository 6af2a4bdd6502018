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
//!
//! With the history database, every alert change is stored through the history writer's
//! queue (never waiting; dropped and counted with the history's drops when it is full), the
//! past alerts of `GET /api/v1/alerts` are read from it, and a restarted hub takes back the
//! alerts that were active (see [`Engine::restore`]): they are in the first snapshot under
//! their ids, are not raised again when their condition is found again, and new alerts are
//! numbered after the largest id stored.

pub mod baselines;
pub mod condition;
pub mod engine;
pub mod geo;
pub mod mirror;
pub mod mqtt;
pub mod webhook;
pub mod world;

pub use engine::{Ack, Engine};

use crate::config::AlertsConfig;
use crate::events::{AlertReport, AlertsListing, Event, Timestamp};
use crate::history::{LiveHistory, Record};
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
    mirror: Option<mirror::Mirror>,
    history: Option<Arc<LiveHistory>>,
    keep_resolved: usize,
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
    /// Taps `hub` and starts the engine over `config`'s rules on the current runtime, after
    /// taking back from `history` the alerts active when the hub stopped (published into the
    /// hub at once, so they are in every snapshot); `None` when there are no rules (nothing
    /// runs, unless event topics are mirrored to MQTT: see [`mirror`]).
    pub async fn start(config: &AlertsConfig, hub: Hub, history: Option<Arc<LiveHistory>>) -> Option<Alerts> {
        if config.rules.is_empty() && config.mqtt.mirrored().is_empty() {
            return None;
        }
        let (tap, events, dropped) = Tap::new(config.queue.max(1));
        hub.tap(tap).await;
        let (commands, commanded) = mpsc::channel(COMMAND_QUEUE);
        let mut engine = Engine::new(config.rules.clone(), config.keep_resolved);
        let mut restored = Vec::new();
        if let Some(history) = &history {
            let now = Timestamp::now();
            let (stored, next_id) = stored_alerts(history).await;
            for report in &stored {
                hub.publish(Event::AlertsRaised(report.clone())).await;
            }
            tracing::info!(
                active = stored.len(),
                next_id,
                "alerts taken back from the history database"
            );
            restored = engine.restore(stored, next_id, now, config.restore_grace_s);
        }
        let webhooks: Vec<webhook::Webhook> = config
            .webhooks
            .iter()
            .map(|w| webhook::Webhook::start(w, config.webhook_queue))
            .collect();
        // Without rules there is no alert to publish: only the mirror connects.
        let mqtt = if config.rules.is_empty() {
            None
        } else {
            mqtt::Mqtt::start(&config.mqtt)
        };
        let mirror = mirror::Mirror::start(&config.mqtt);
        let outlets = Outlets {
            webhooks: webhooks.clone(),
            mqtt: mqtt.clone(),
            history: history.clone(),
            mirror: mirror.clone(),
        };
        tokio::spawn(run(engine, hub, events, commanded, outlets, restored));
        Some(Alerts {
            commands,
            dropped,
            webhooks,
            mqtt,
            mirror,
            history,
            keep_resolved: config.keep_resolved,
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

    /// The MQTT event mirror's counters: sent, dropped, connected now; `None` without it.
    pub fn mirror_counts(&self) -> Option<(u64, u64, bool)> {
        self.mirror.as_ref().map(|m| {
            let c = &m.counters;
            (
                c.sent.load(Ordering::Relaxed),
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

    /// The active and the last `alerts.keep_resolved` resolved alerts (from the history
    /// database when it is enabled, with those resolved since its last write); `None` when the
    /// task is gone.
    pub async fn listing(&self) -> Option<AlertsListing> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::List(reply)).await.ok()?;
        let mut listing = rx.await.ok()?;
        if let Some(history) = &self.history {
            match history.store().past_alerts(self.keep_resolved).await {
                Ok(stored) => {
                    // The engine's copy wins: it may be newer than the last write.
                    for report in stored {
                        let known = listing
                            .active
                            .iter()
                            .chain(&listing.past)
                            .any(|r| r.alert_id == report.alert_id);
                        if !known {
                            listing.past.push(report);
                        }
                    }
                    listing.past.sort_by_key(|a| std::cmp::Reverse(a.resolved_at));
                    listing.past.truncate(self.keep_resolved);
                }
                Err(e) => tracing::warn!("past alerts not read from the history database: {e}"),
            }
        }
        Some(listing)
    }

    /// Acknowledges alert `id` (the change is published on `alerts:raised` with state
    /// `acked`; a past alert only in the history database is marked there); `None` when the
    /// task is gone.
    pub async fn ack(&self, id: &str) -> Option<Ack> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Ack(id.to_string(), reply))
            .await
            .ok()?;
        let outcome = rx.await.ok()?;
        let (Ack::Unknown, Some(history)) = (&outcome, &self.history) else {
            return Some(outcome);
        };
        match history.store().alert(id).await {
            Ok(Some(mut report)) => {
                if !report.acked {
                    report.acked = true;
                    history
                        .writer()
                        .try_record(Record::Alert(Box::new(report.clone())));
                }
                Some(Ack::Unchanged(report))
            }
            Ok(None) => Some(Ack::Unknown),
            Err(e) => {
                tracing::warn!("alert {id:?} not looked up in the history database: {e}");
                Some(Ack::Unknown)
            }
        }
    }
}

/// The alerts stored as active and the number to give the next alert. When the database
/// cannot be read, none are taken back (logged) and new alerts are numbered from the clock in
/// ms, past any number a running hub hands out, so no stored alert is overwritten.
async fn stored_alerts(history: &LiveHistory) -> (Vec<AlertReport>, u64) {
    let store = history.store();
    match (store.active_alerts().await, store.last_alert_number().await) {
        (Ok(active), Ok(last)) => (active, last + 1),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("active alerts not taken back from the history database: {e}");
            (Vec::new(), (Timestamp::now().0 / 1_000_000).max(1) as u64)
        }
    }
}

/// Where alert changes go besides the hub.
struct Outlets {
    webhooks: Vec<webhook::Webhook>,
    mqtt: Option<mqtt::Mqtt>,
    history: Option<Arc<LiveHistory>>,
    mirror: Option<mirror::Mirror>,
}

async fn run(
    mut engine: Engine,
    hub: Hub,
    mut events: mpsc::Receiver<Event>,
    mut commands: mpsc::Receiver<Command>,
    outlets: Outlets,
    restored: Vec<AlertReport>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    deliver(restored, &engine, &hub, &outlets).await;
    let (mut refresh, mut baselines) = match (&outlets.history, engine.needs_baselines()) {
        (Some(history), true) => {
            let (refresh, fetched) = baselines::Refresh::new(history.clone());
            (Some(refresh), fetched)
        }
        // Never sends: the branch below never fires.
        _ => (None, mpsc::channel(1).1),
    };
    loop {
        let changes: Vec<AlertReport> = tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if let Some(mirror) = &outlets.mirror {
                        mirror.offer(&event);
                    }
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
            Some(fetched) = baselines.recv() => {
                if let Some(refresh) = &mut refresh {
                    refresh.finished(&fetched);
                }
                engine.set_baselines(fetched.baselines);
                Vec::new()
            }
            _ = tick.tick() => {
                let now = Timestamp::now();
                if let Some(refresh) = &mut refresh {
                    refresh.poll(now, engine.receivers());
                }
                engine.evaluate(now)
            }
        };
        deliver(changes, &engine, &hub, &outlets).await;
    }
}

/// Sends alert changes everywhere they go: stored, to MQTT, to the webhooks, to the hub.
async fn deliver(changes: Vec<AlertReport>, engine: &Engine, hub: &Hub, outlets: &Outlets) {
    if changes.is_empty() {
        return;
    }
    if let Some(history) = &outlets.history {
        for report in &changes {
            history
                .writer()
                .try_record(Record::Alert(Box::new(report.clone())));
        }
    }
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

#[cfg(test)]
mod tests;
