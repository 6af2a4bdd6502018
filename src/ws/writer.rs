//! Frames on their way into a client's socket, written with vectored writes of the shared frame
//! bytes (no copy per client), and the bounds on what a peer can make the server queue for it.
//!
//! Back-pressure: events reach this queue only from the client's outbox, and only while the
//! queue is empty (the connection takes from the outbox when the socket has taken everything),
//! so events are bounded by `server.client_queue`. Replies the transport makes itself are
//! bounded here: at most one pong waits (a newer ping replaces the payload of the pong not yet
//! started, as RFC 6455 §5.5.3 allows), and the transport stops reading from a peer whose
//! queued bytes exceed its backlog limit, so a peer that sends without reading cannot grow it.
//!
//! Writing at once ([`Gate`]): while the connection has nothing of its own waiting, the thread
//! that publishes an event writes it to the socket itself (see
//! [`crate::hub::outbox::DirectWrite`]), so a client's event never waits for its connection's
//! task to be scheduled behind other clients' messages. Every write to the socket, the
//! connection's and the publisher's, happens under the gate's lock, so frames never interleave;
//! a frame the socket takes only partly is finished by the connection before anything else.

use crate::hub::outbox::Written;
use crate::hub::Outgoing;
use actix_web::web::Bytes;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpStream;
use tokio::time::Instant;

#[derive(Debug)]
struct GateState {
    /// The connection's writer has nothing waiting (and no frame half written).
    idle: bool,
    /// The connection's session goes on (after it, only the connection writes: the close).
    open: bool,
    /// A frame a publisher wrote partly, and how much of it.
    carry: Option<(Outgoing, usize)>,
}

/// One socket's write lock, shared by the connection's [`Writer`] and the publisher.
#[derive(Debug)]
pub struct Gate {
    stream: Arc<TcpStream>,
    state: Mutex<GateState>,
}

impl Gate {
    /// The gate of `stream`, closed to publishers until the connection's writer is first empty.
    pub fn new(stream: Arc<TcpStream>) -> Self {
        Self {
            stream,
            state: Mutex::new(GateState {
                idle: false,
                open: true,
                carry: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // Nothing panics under the lock; a poisoned state is still a valid state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A publisher's write of `message`, only if the connection has nothing waiting and nobody
    /// holds the lock (a publisher never waits for a connection).
    pub fn write_now(&self, message: &Outgoing) -> Written {
        let Ok(mut state) = self.state.try_lock() else {
            return Written::NotNow;
        };
        if !state.open || !state.idle {
            return Written::NotNow;
        }
        match self.stream.try_write(&message.frame) {
            Ok(n) if n == message.frame.len() => Written::Whole,
            Ok(n) if n > 0 => {
                state.idle = false;
                state.carry = Some((message.clone(), n));
                Written::Started
            }
            // Full (or failed: the connection finds out on its own next write).
            _ => Written::NotNow,
        }
    }
}

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
    /// The socket's gate, when publishers may write to it at once.
    gate: Option<Arc<Gate>>,
    /// The gate is known to be marked busy (saves a lock per frame queued).
    claimed: bool,
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
            gate: None,
            claimed: true,
        }
    }

    /// An empty writer sharing its socket with publishers through `gate`.
    pub fn with_gate(gate: Arc<Gate>) -> Self {
        Self {
            gate: Some(gate),
            ..Self::new()
        }
    }

    /// Marks the gate busy before the writer queues anything: a publisher must not write
    /// ahead of (or into) what the connection is about to write.
    fn claim(&mut self) {
        if !self.claimed {
            if let Some(gate) = &self.gate {
                gate.lock().idle = false;
            }
            self.claimed = true;
        }
    }

    /// Takes a frame a publisher started: it goes first, from where the publisher stopped.
    fn absorb(&mut self, state: &mut GateState) {
        if let Some((message, written)) = state.carry.take() {
            // The gate was idle when the publisher wrote, so no frame here is half written.
            debug_assert_eq!(self.offset, 0);
            self.touch_if_idle();
            self.queued_bytes += message.frame.len();
            self.queue.push_front(message);
            self.offset = written;
        }
    }

    /// Closes the gate to publishers (the session is over); a frame one started is finished
    /// before the close.
    pub fn close_gate(&mut self) {
        if let Some(gate) = self.gate.clone() {
            let mut state = gate.lock();
            state.open = false;
            state.idle = false;
            self.absorb(&mut state);
            self.claimed = true;
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
        self.claim();
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
        self.claim();
        self.touch_if_idle();
        self.pong = Some(frame);
    }

    /// Whether a pong waits to be written.
    pub fn has_pong(&self) -> bool {
        self.pong.is_some()
    }

    /// Takes what `take` moves into the queue (the outbox), keeping the byte count right. With a
    /// gate, under its lock: no publisher writes between the taking and the writing.
    pub fn take_with<T>(&mut self, take: impl FnOnce(&mut VecDeque<Outgoing>) -> T) -> T {
        self.touch_if_idle();
        let gate = self.gate.clone();
        let mut state = gate.as_ref().map(|gate| gate.lock());
        let before = self.queue.len();
        let result = take(&mut self.queue);
        if self.queue.len() > before {
            if let Some(state) = &mut state {
                state.idle = false;
                self.claimed = true;
            }
        }
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
        let gate = self.gate.clone();
        let Some(gate) = gate else {
            return self.write_out(stream, &mut sent);
        };
        let mut state = gate.lock();
        self.absorb(&mut state);
        let result = self.write_out(stream, &mut sent);
        // Publishers may write again once nothing of the connection's waits.
        state.idle = state.open && self.is_empty() && result.is_ok();
        self.claimed = !state.idle;
        result
    }

    fn write_out(&mut self, stream: &TcpStream, sent: &mut impl FnMut(&Outgoing)) -> io::Result<()> {
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
                Ok(written) => self.consume(written, sent),
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

    /// A connected pair: the server's end (small send buffer, as a slow client makes it) and
    /// the client's.
    async fn pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        socket2::SockRef::from(&server)
            .set_send_buffer_size(4096)
            .expect("send buffer");
        (Arc::new(server), client)
    }

    /// Reads everything the client gets until `want` bytes, flushing `writer` meanwhile.
    async fn drain(client: &TcpStream, writer: &mut Writer, server: &TcpStream, want: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buffer = vec![0; 65536];
        while got.len() < want {
            writer.flush(server, |_| {}).expect("flush");
            // The socket wants room (the client reading) or the client wants bytes.
            tokio::select! {
                ready = client.readable() => ready.expect("readable"),
                ready = server.writable(), if !writer.is_empty() => ready.expect("writable"),
            }
            match client.try_read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        got
    }

    fn frame(fill: u8, len: usize) -> Outgoing {
        Outgoing::control(Bytes::from(vec![fill; len]))
    }

    #[tokio::test]
    async fn a_publisher_writes_only_while_the_connection_has_nothing_waiting() {
        let (server, client) = pair().await;
        let gate = Arc::new(Gate::new(server.clone()));
        let mut writer = Writer::with_gate(gate.clone());
        assert_eq!(
            gate.write_now(&frame(b'a', 3)),
            Written::NotNow,
            "closed until the first flush"
        );
        writer.flush(&server, |_| {}).expect("flush");
        assert_eq!(gate.write_now(&frame(b'a', 3)), Written::Whole);

        writer.push(frame(b'b', 3));
        assert_eq!(
            gate.write_now(&frame(b'x', 3)),
            Written::NotNow,
            "the connection's frame first"
        );
        writer.flush(&server, |_| {}).expect("flush");
        assert_eq!(
            gate.write_now(&frame(b'c', 3)),
            Written::Whole,
            "idle again once written"
        );

        writer.set_pong(Bytes::from_static(b"p"));
        assert_eq!(gate.write_now(&frame(b'x', 3)), Written::NotNow, "a pong waits");
        assert_eq!(drain(&client, &mut writer, &server, 10).await, b"aaabbbcccp");
        writer.close_gate();
        assert_eq!(
            gate.write_now(&frame(b'x', 3)),
            Written::NotNow,
            "closed after the session"
        );
    }

    /// Far more than the socket takes while the client does not read.
    const BIG: usize = 4 << 20;

    /// A publisher has written the start of a [`BIG`] frame of `e`s.
    async fn started() -> (Arc<TcpStream>, TcpStream, Arc<Gate>, Writer) {
        let (server, client) = pair().await;
        let gate = Arc::new(Gate::new(server.clone()));
        let mut writer = Writer::with_gate(gate.clone());
        writer.flush(&server, |_| {}).expect("flush");
        assert_eq!(gate.write_now(&frame(b'e', BIG)), Written::Started);
        (server, client, gate, writer)
    }

    #[tokio::test]
    async fn a_frame_a_publisher_started_is_finished_before_anything_else() {
        let (server, client, gate, mut writer) = started().await;
        let big = BIG;
        assert_eq!(
            gate.write_now(&frame(b'x', 3)),
            Written::NotNow,
            "busy with the rest"
        );
        writer.set_pong(Bytes::from_static(b"p"));
        writer.push(frame(b'f', 2));
        let got = drain(&client, &mut writer, &server, big + 3).await;
        assert_eq!(got.len(), big + 3);
        assert!(
            got[..big].iter().all(|&b| b == b'e'),
            "the started frame whole and first"
        );
        // Then the rest, whole frames (the pong goes with the frames written in the same
        // vectored write as the end of the started one).
        assert!([&b"pff"[..], b"ffp"].contains(&&got[big..]), "{:?}", &got[big..]);
        assert_eq!(gate.write_now(&frame(b'g', 1)), Written::Whole);
    }

    #[tokio::test]
    async fn closing_the_gate_keeps_a_started_frame_for_the_connection() {
        let (server, client, _gate, mut writer) = started().await;
        let big = BIG;
        writer.close_gate();
        assert!(
            !writer.is_empty(),
            "the rest of the frame is the connection's now"
        );
        writer.push(frame(b'c', 2));
        let got = drain(&client, &mut writer, &server, big + 2).await;
        assert!(got[..big].iter().all(|&b| b == b'e'));
        assert_eq!(&got[big..], b"cc");
    }
}
