//! A client's outbox: the bounded queue between the hub (which fills it and never waits) and the
//! client's connection task (which empties it into the socket).
//!
//! The hub pushes already-framed events under a short lock and wakes the connection; the
//! connection takes everything queued at once and writes it with one vectored write. A full
//! outbox is the hub's signal that the client is not keeping up.

use super::config::Kick;
use crate::events::EventKind;
use actix_web::web::Bytes;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

/// One serialized message on its way to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The event it carries, for the per-event counters; `None` for a frame the connection
    /// made itself (ping, pong, close) that is no event delivery.
    pub kind: Option<EventKind>,
    /// The whole WebSocket frame (header and payload), shared by every recipient.
    pub frame: Bytes,
    /// When the envelope was made (its `timestamp`), ns since the epoch.
    pub created_ns: i64,
    /// The envelope's `seq` (0 for a frame that is no event).
    pub seq: u64,
}

impl Outgoing {
    /// A frame made for one connection (ping, pong, close, an echo): not an event delivery.
    pub fn control(frame: Bytes) -> Self {
        Self {
            kind: None,
            frame,
            created_ns: 0,
            seq: 0,
        }
    }

    /// The payload (for an event, its JSON text).
    pub fn json(&self) -> &[u8] {
        &self.frame[crate::frame::payload_offset(&self.frame)..]
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client has this many messages waiting already.
    Full,
    /// The connection has ended.
    Closed,
}

/// What the connection finds when it looks.
#[derive(Debug, PartialEq)]
pub enum Taken {
    /// This many messages moved into the caller's list.
    Messages(usize),
    /// The hub closed the client.
    Kicked(Kick),
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<Outgoing>,
    kick: Option<Kick>,
    closed: bool,
    /// The `seq` of the latest event queued, which a reply made by the connection carries.
    last_seq: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    waker: AtomicWaker,
    capacity: usize,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` messages.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            waker: AtomicWaker::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock, but a poisoned queue is still a valid queue.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a message and wakes the connection; the number of messages now waiting.
    ///
    /// # Errors
    /// [`Refused::Full`] at capacity, [`Refused::Closed`] once the connection has ended.
    pub fn push(&self, message: Outgoing) -> Result<usize, Refused> {
        let depth = {
            let mut inner = self.lock();
            if inner.closed {
                return Err(Refused::Closed);
            }
            if inner.queue.len() >= self.capacity {
                return Err(Refused::Full);
            }
            if message.kind.is_some() {
                inner.last_seq = inner.last_seq.max(message.seq);
            }
            inner.queue.push_back(message);
            inner.queue.len()
        };
        self.waker.wake();
        Ok(depth)
    }

    /// Moves every waiting message into `into`, then appends a reply the connection makes
    /// itself (a `pong`): `make` gets the `seq` of the latest event queued before it, so the
    /// reply keeps its place in the client's sequence without the hub numbering it (`seq` never
    /// decreases; a reply does not advance it). Nothing is woken: the caller is the connection,
    /// about to write. The number of messages moved, the reply included.
    ///
    /// # Errors
    /// [`Refused::Closed`] once the connection has ended; `make` is not called then.
    pub fn take_then_reply(
        &self,
        into: &mut VecDeque<Outgoing>,
        make: impl FnOnce(u64) -> Outgoing,
    ) -> Result<usize, Refused> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(Refused::Closed);
        }
        let count = inner.queue.len() + 1;
        into.extend(inner.queue.drain(..));
        // Made under the lock so that no event can slip in between taking the number and
        // queueing (a pong is ~90 bytes of JSON: a microsecond).
        into.push_back(make(inner.last_seq));
        Ok(count)
    }

    /// Messages waiting now.
    pub fn depth(&self) -> usize {
        self.lock().queue.len()
    }

    /// Most messages that may wait.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Tells the connection to close with this code and reason.
    pub fn kick(&self, kick: Kick) {
        self.lock().kick = Some(kick);
        self.waker.wake();
    }

    /// Marks the connection as ended: later pushes are refused and the queue is freed.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.queue = VecDeque::new();
    }

    /// Reports a kick without taking messages; pending (and wakes the task later) otherwise.
    pub fn poll_kick(&self, cx: &mut Context<'_>) -> Poll<Taken> {
        self.waker.register(cx.waker());
        match self.lock().kick.take() {
            Some(kick) => Poll::Ready(Taken::Kicked(kick)),
            None => Poll::Pending,
        }
    }

    /// Moves every waiting message into `into`, or reports a kick; pending (and wakes the task
    /// later) when there is neither.
    pub fn poll_take(&self, cx: &mut Context<'_>, into: &mut VecDeque<Outgoing>) -> Poll<Taken> {
        // Register before looking, so a push between the look and the return still wakes us.
        self.waker.register(cx.waker());
        let mut inner = self.lock();
        if let Some(kick) = inner.kick.take() {
            return Poll::Ready(Taken::Kicked(kick));
        }
        if inner.queue.is_empty() {
            return Poll::Pending;
        }
        let count = inner.queue.len();
        into.extend(inner.queue.drain(..));
        if inner.queue.capacity() > 64 {
            // A burst grew the queue; an idle client should not keep that memory.
            inner.queue.shrink_to(16);
        }
        Poll::Ready(Taken::Messages(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn message(n: i64) -> Outgoing {
        Outgoing {
            kind: Some(EventKind::SignalsDetected),
            frame: Bytes::from(vec![0x81, 1, b'x']),
            created_ns: n,
            seq: n as u64,
        }
    }

    #[tokio::test]
    async fn pushes_wake_the_taker_in_order_and_refuse_beyond_capacity() {
        let outbox = Arc::new(Outbox::new(3));
        let taker = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut got = VecDeque::new();
                while got.len() < 3 {
                    std::future::poll_fn(|cx| outbox.poll_take(cx, &mut got)).await;
                }
                got.into_iter().map(|m| m.created_ns).collect::<Vec<_>>()
            })
        };
        for n in 0..3 {
            outbox.push(message(n)).expect("room");
            tokio::task::yield_now().await;
        }
        assert_eq!(taker.await.expect("taker"), vec![0, 1, 2]);
        for n in 0..3 {
            outbox.push(message(n)).expect("room");
        }
        assert_eq!(outbox.push(message(9)), Err(Refused::Full));
        assert_eq!(outbox.depth(), 3);
        outbox.close();
        assert_eq!(outbox.push(message(9)), Err(Refused::Closed));
        assert_eq!(outbox.depth(), 0);
    }

    #[tokio::test]
    async fn a_kick_is_reported_before_queued_messages() {
        let outbox = Outbox::new(4);
        outbox.push(message(1)).expect("room");
        outbox.kick(Kick {
            code: 1013,
            reason: "slow".into(),
        });
        let mut got = VecDeque::new();
        let taken = std::future::poll_fn(|cx| outbox.poll_take(cx, &mut got)).await;
        assert_eq!(
            taken,
            Taken::Kicked(Kick {
                code: 1013,
                reason: "slow".into()
            })
        );
        assert!(got.is_empty());
    }

    #[test]
    fn a_reply_carries_the_seq_of_the_event_before_it_and_follows_it() {
        let outbox = Outbox::new(4);
        let reply = |seq| Outgoing {
            kind: Some(EventKind::Pong),
            frame: Bytes::from(vec![0x81, 1, b'p']),
            created_ns: -1,
            seq,
        };
        let mut written = VecDeque::new();
        outbox.take_then_reply(&mut written, reply).expect("open");
        outbox.push(message(7)).expect("room");
        // A frame that is no event does not move the number.
        outbox
            .push(Outgoing::control(Bytes::from_static(&[0x89, 0])))
            .expect("room");
        assert_eq!(outbox.take_then_reply(&mut written, reply), Ok(3));
        let order: Vec<(i64, u64)> = written.iter().map(|m| (m.created_ns, m.seq)).collect();
        assert_eq!(order, vec![(-1, 0), (7, 7), (0, 0), (-1, 7)]);
        assert_eq!(outbox.depth(), 0);
        outbox.close();
        assert_eq!(outbox.take_then_reply(&mut written, reply), Err(Refused::Closed));
    }
}
