//! A client's outbox: the bounded queue between the hub (which fills it and never waits) and the
//! client's connection task (which empties it into the socket).
//!
//! The hub pushes already-framed events under a short lock and wakes the connection; the
//! connection takes everything queued at once and writes it with one vectored write. A full
//! outbox is the hub's signal that the client is not keeping up.
//!
//! Written at once: while nothing waits in the outbox, the connection may offer a
//! [`DirectWrite`] through which the hub's push writes the event to the client's socket itself
//! (the hub still knows no socket). Then an event's delivery does not wait for the connection's
//! task to be scheduled, so clients that keep the connection threads busy with their own
//! messages do not delay everyone else's events.

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

/// How the connection writes a message at once for the hub (see the module documentation).
pub trait DirectWrite: Send + Sync + std::fmt::Debug {
    /// Writes `message` to the client now if the connection has nothing of its own waiting and
    /// the socket takes it; never waits.
    fn write_now(&self, message: &Outgoing) -> Written;
}

/// What [`DirectWrite::write_now`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The whole message is in the socket.
    Whole,
    /// Part of it is: the connection, woken, writes the rest before anything else.
    Started,
    /// Nothing: queue it.
    NotNow,
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<Outgoing>,
    /// Writes at once, while the connection offers it.
    direct: Option<Box<dyn DirectWrite>>,
    /// The connection has a message started for it to finish (wake it even with nothing queued).
    nudged: bool,
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

    /// Lets the hub write to the client at once while nothing waits (the connection's offer).
    pub fn set_direct(&self, direct: Box<dyn DirectWrite>) {
        self.lock().direct = Some(direct);
    }

    /// Queues a message and wakes the connection, or writes it at once (see the module
    /// documentation); the number of messages now waiting (0: written).
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
            if inner.queue.is_empty() {
                let written = inner
                    .direct
                    .as_ref()
                    .map_or(Written::NotNow, |direct| direct.write_now(&message));
                match written {
                    Written::Whole => return Ok(0),
                    Written::Started => {
                        inner.nudged = true;
                        drop(inner);
                        self.waker.wake();
                        return Ok(0);
                    }
                    Written::NotNow => {}
                }
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
        inner.direct = None;
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
            if std::mem::take(&mut inner.nudged) {
                return Poll::Ready(Taken::Messages(0));
            }
            return Poll::Pending;
        }
        inner.nudged = false;
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
    use std::sync::{Arc, Mutex};

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

    /// Writes what it is told to while `open`, as a socket with room would.
    #[derive(Debug)]
    struct Socket {
        answer: Written,
        wrote: Arc<Mutex<Vec<i64>>>,
    }

    impl DirectWrite for Socket {
        fn write_now(&self, message: &Outgoing) -> Written {
            if self.answer != Written::NotNow {
                self.wrote.lock().expect("lock").push(message.created_ns);
            }
            self.answer
        }
    }

    #[tokio::test]
    async fn the_hub_writes_at_once_only_while_nothing_is_queued() {
        let outbox = Outbox::new(4);
        let wrote = Arc::new(Mutex::new(Vec::new()));
        outbox.set_direct(Box::new(Socket {
            answer: Written::Whole,
            wrote: wrote.clone(),
        }));
        assert_eq!(outbox.push(message(1)), Ok(0));
        assert_eq!(outbox.depth(), 0);
        assert_eq!(*wrote.lock().expect("lock"), [1]);

        // Something queued (a refused direct write) keeps the order: later events queue too.
        outbox.set_direct(Box::new(Socket {
            answer: Written::NotNow,
            wrote: wrote.clone(),
        }));
        assert_eq!(outbox.push(message(2)), Ok(1));
        outbox.set_direct(Box::new(Socket {
            answer: Written::Whole,
            wrote: wrote.clone(),
        }));
        assert_eq!(outbox.push(message(3)), Ok(2));
        assert_eq!(*wrote.lock().expect("lock"), [1]);
        let mut got = VecDeque::new();
        let taken = std::future::poll_fn(|cx| outbox.poll_take(cx, &mut got)).await;
        assert_eq!(taken, Taken::Messages(2));
        assert_eq!(got.iter().map(|m| m.created_ns).collect::<Vec<_>>(), [2, 3]);

        // A frame started at once wakes the connection to finish it, with nothing to take.
        outbox.set_direct(Box::new(Socket {
            answer: Written::Started,
            wrote: wrote.clone(),
        }));
        assert_eq!(outbox.push(message(4)), Ok(0));
        got.clear();
        let replied = outbox.take_then_reply(&mut got, |seq| message(seq as i64 * 10));
        assert_eq!(replied, Ok(1));
        assert_eq!(got[0].created_ns, 40, "a reply follows the event written at once");
        got.clear();
        let taken = std::future::poll_fn(|cx| outbox.poll_take(cx, &mut got)).await;
        assert_eq!(taken, Taken::Messages(0));
        let woken = std::future::poll_fn(|cx| Poll::Ready(outbox.poll_take(cx, &mut got))).await;
        assert!(woken.is_pending(), "one wake per started frame");

        outbox.close();
        assert_eq!(outbox.push(message(5)), Err(Refused::Closed));
        assert_eq!(*wrote.lock().expect("lock"), [1, 4]);
    }
}
