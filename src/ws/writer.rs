//! Frames on their way into a client's socket, written with vectored writes of the shared frame
//! bytes (no copy per client), and the bounds on what a peer can make the server queue for it.
//!
//! Back-pressure: events reach this queue only from the client's outbox, and only while the
//! queue is empty (the connection takes from the outbox when the socket has taken everything),
//! so events are bounded by `server.client_queue`. Replies the transport makes itself are
//! bounded here: at most one pong waits (a newer ping replaces the payload of the pong not yet
//! started, as RFC 6455 §5.5.3 allows), and the transport stops reading from a peer whose
//! queued bytes exceed its backlog limit, so a peer that sends without reading cannot grow it.

use crate::hub::Outgoing;
use actix_web::web::Bytes;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A frame that is not an event delivery.
fn control(frame: Bytes) -> Outgoing {
    Outgoing::control(frame)
}

/// Slices handed to one vectored write.
const SLICES: usize = 64;

/// See the module documentation.
#[derive(Debug)]
pub struct Writer {
    /// Frames waiting, the front one possibly partly written.
    pub(crate) queue: VecDeque<Outgoing>,
    /// Bytes of the front frame already written.
    offset: usize,
    /// Bytes waiting in `queue` (whole frames, the written part of the front one included).
    queued_bytes: usize,
    /// The one pong waiting to be written, if any.
    pong: Option<Bytes>,
    /// When the socket last accepted bytes (or the queue was last empty).
    progress: Instant,
    /// A kernel send buffer size the session asks for (the transport applies it once).
    pub(crate) send_buffer_request: Option<usize>,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            offset: 0,
            queued_bytes: 0,
            pong: None,
            progress: Instant::now(),
            send_buffer_request: None,
        }
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.pong.is_none()
    }

    /// Bytes waiting to be written.
    pub fn backlog_bytes(&self) -> usize {
        self.queued_bytes + self.pong.as_ref().map_or(0, Bytes::len)
    }

    fn touch_if_idle(&mut self) {
        if self.is_empty() {
            self.progress = Instant::now();
        }
    }

    /// Queues a frame behind the others.
    pub fn push(&mut self, message: Outgoing) {
        self.touch_if_idle();
        self.queued_bytes += message.frame.len();
        self.queue.push_back(message);
    }

    /// Queues a frame made for this client.
    pub fn push_control(&mut self, frame: Bytes) {
        self.push(control(frame));
    }

    /// Answers a ping: the pong goes before any frame not yet started, replacing a pong that
    /// has not been started either.
    pub fn set_pong(&mut self, frame: Bytes) {
        self.touch_if_idle();
        self.pong = Some(frame);
    }

    /// Whether a pong waits to be written.
    pub fn has_pong(&self) -> bool {
        self.pong.is_some()
    }

    /// Takes what `take` moves into the queue (the outbox), keeping the byte count right.
    pub fn take_with<T>(&mut self, take: impl FnOnce(&mut VecDeque<Outgoing>) -> T) -> T {
        self.touch_if_idle();
        let before = self.queue.len();
        let result = take(&mut self.queue);
        self.queued_bytes += self
            .queue
            .iter()
            .skip(before)
            .map(|m| m.frame.len())
            .sum::<usize>();
        result
    }

    /// Drops every frame not yet started (and the pending pong).
    pub fn discard_unstarted(&mut self) {
        let keep = usize::from(self.offset > 0);
        self.queue.truncate(keep);
        self.queued_bytes = self.queue.iter().map(|m| m.frame.len()).sum();
        self.pong = None;
    }

    /// When the client will have made no write progress for `send_timeout`, if frames wait.
    pub fn stall_deadline(&self, send_timeout: std::time::Duration) -> Option<Instant> {
        (!self.is_empty()).then(|| self.progress + send_timeout)
    }

    /// Writes as much as the socket takes without waiting; `sent` is called with each whole
    /// frame written.
    ///
    /// # Errors
    /// The socket's, or `WriteZero` when it takes nothing.
    pub fn flush(&mut self, stream: &TcpStream, mut sent: impl FnMut(&Outgoing)) -> io::Result<()> {
        loop {
            if self.offset == 0 {
                if let Some(pong) = self.pong.take() {
                    self.queued_bytes += pong.len();
                    self.queue.push_front(control(pong));
                }
            }
            if self.queue.is_empty() {
                break;
            }
            let result = {
                let mut slices = [IoSlice::new(&[]); SLICES];
                let mut count = 0;
                for (slot, message) in slices.iter_mut().zip(&self.queue) {
                    let start = if count == 0 { self.offset } else { 0 };
                    *slot = IoSlice::new(&message.frame[start..]);
                    count += 1;
                }
                stream.try_write_vectored(&slices[..count])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.consume(written, &mut sent),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        if self.queue.capacity() > 64 {
            // A burst grew the queue; an idle client should not keep that memory.
            self.queue.shrink_to(16);
        }
        Ok(())
    }

    fn consume(&mut self, mut written: usize, sent: &mut impl FnMut(&Outgoing)) {
        self.progress = Instant::now();
        while written > 0 {
            let Some(front) = self.queue.front() else { break };
            let remaining = front.frame.len() - self.offset;
            if written < remaining {
                self.offset += written;
                return;
            }
            written -= remaining;
            self.offset = 0;
            if let Some(done) = self.queue.pop_front() {
                self.queued_bytes -= done.frame.len();
                if done.kind.is_some() {
                    sent(&done);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_pong_waits_whatever_the_pings() {
        let mut writer = Writer::new();
        for n in 0..10_000u32 {
            writer.set_pong(Bytes::from(n.to_be_bytes().to_vec()));
        }
        assert_eq!(writer.backlog_bytes(), 4);
        writer.push_control(Bytes::from_static(b"xyz"));
        assert_eq!(writer.backlog_bytes(), 7);
        writer.discard_unstarted();
        assert!(writer.is_empty());
        assert_eq!(writer.backlog_bytes(), 0);
    }
}
