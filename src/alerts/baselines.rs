//! Fetching the occupancy baselines `above_baseline_db` rules compare with: every receiver's
//! for the current hour of day, read from the history database once per hour (and again a
//! minute after a failed read) by a task of its own, so the engine never waits on the
//! database.

use crate::events::Timestamp;
use crate::history::baseline::{Baseline, HOUR_NS};
use crate::history::LiveHistory;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long after a failed read the baselines are read again.
pub const RETRY: Duration = Duration::from_secs(60);

/// Every receiver's baseline for one hour, and whether every read succeeded.
#[derive(Debug)]
pub struct Fetched {
    /// The hour of day (UTC).
    pub hour: u32,
    /// By receiver id: the receivers with enough stored for this hour.
    pub baselines: BTreeMap<String, Baseline>,
    /// Whether every receiver's read succeeded.
    pub complete: bool,
}

/// When to read the baselines again.
#[derive(Debug)]
pub struct Refresh {
    history: Arc<LiveHistory>,
    /// The hour the baselines held are for (when complete).
    hour: Option<u32>,
    in_flight: bool,
    not_before: Option<Instant>,
    done: mpsc::Sender<Fetched>,
}

impl Refresh {
    /// A refresher over `history`; what it reads arrives on the receiver returned.
    pub fn new(history: Arc<LiveHistory>) -> (Self, mpsc::Receiver<Fetched>) {
        let (done, fetched) = mpsc::channel(1);
        let refresh = Self {
            history,
            hour: None,
            in_flight: false,
            not_before: None,
            done,
        };
        (refresh, fetched)
    }

    /// Starts reading the baselines of `receivers` for the hour of `now` if they are not held
    /// yet (nothing while a read is under way, or before a retry is due).
    pub fn poll(&mut self, now: Timestamp, receivers: Vec<String>) {
        let hour = now.0.div_euclid(HOUR_NS).rem_euclid(24) as u32;
        let due = self.not_before.is_none_or(|t| Instant::now() >= t);
        if self.in_flight || self.hour == Some(hour) || !due || receivers.is_empty() {
            return;
        }
        self.in_flight = true;
        let hour_start = now.0.div_euclid(HOUR_NS) * HOUR_NS;
        let store = self.history.store().clone();
        let done = self.done.clone();
        tokio::spawn(async move {
            let mut fetched = Fetched {
                hour,
                baselines: BTreeMap::new(),
                complete: true,
            };
            for receiver in receivers {
                match store.hourly_baseline(&receiver, hour, hour_start).await {
                    Ok(Some(baseline)) => {
                        fetched.baselines.insert(receiver, baseline);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(%receiver, "occupancy baseline not read: {e}");
                        fetched.complete = false;
                    }
                }
            }
            let _ = done.send(fetched).await;
        });
    }

    /// Takes note of a finished read (the caller hands the baselines to the engine).
    pub fn finished(&mut self, fetched: &Fetched) {
        self.in_flight = false;
        if fetched.complete {
            self.hour = Some(fetched.hour);
            self.not_before = None;
        } else {
            self.not_before = Some(Instant::now() + RETRY);
        }
        tracing::info!(
            hour = fetched.hour,
            receivers = fetched.baselines.len(),
            "occupancy baselines for alerts read"
        );
    }
}
