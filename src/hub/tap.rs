//! A copy of the hub's broadcast events of state for an in-process consumer (the alert
//! engine), taken where the hub updates its state, so the consumer sees exactly what clients
//! see, in the same order.
//!
//! Back-pressure: the queue is bounded ([`Hub::tap`](super::Hub::tap) gives its size). The hub
//! task never waits for the consumer: when the queue is full the event is dropped for the
//! consumer only (clients still get it) and counted in [`Tap::dropped`], so a stuck consumer
//! can neither slow the hub nor the pipeline behind it. Spectrum frames and `alerts:raised`
//! are not copied.

use crate::events::Event;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The hub's end of a tap.
#[derive(Debug, Clone)]
pub struct Tap {
    sender: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl Tap {
    /// A tap holding up to `capacity` events, the receiving end, and its drop counter.
    ///
    /// # Panics
    /// If `capacity` is 0.
    pub fn new(capacity: usize) -> (Tap, mpsc::Receiver<Event>, Arc<AtomicU64>) {
        let (sender, receiver) = mpsc::channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        (
            Tap {
                sender,
                dropped: dropped.clone(),
            },
            receiver,
            dropped,
        )
    }

    /// Queues a copy of `event` without waiting; counts it as dropped when the queue is full.
    /// A consumer that has gone is not counted.
    pub fn offer(&self, event: &Event) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.sender.try_send(event.clone()) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events the consumer missed because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
