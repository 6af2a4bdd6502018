//! A deadline on every HTTP request head, not only the first one on a connection.
//!
//! actix-http times the first request head of a connection (`client_request_timeout`) and the
//! idle time between requests (keep-alive), but once a later request has started arriving it
//! waits for the rest of its head forever: a client could send a harmless request, then an
//! upgrade head one byte a minute, and hold a connection (and a worker's attention) without
//! limit. [`DeadlineStream`] wraps each accepted socket and watches the bytes: from the first
//! byte of a request, its head (up to the blank line that ends it) must arrive within
//! `server.handshake_timeout_s`; otherwise reads fail with `TimedOut` and actix drops the
//! connection. The first request is left to actix's own timer, which answers 408. The server's first write (the response) re-arms it for the next request. After a
//! WebSocket upgrade the wrapper is taken off ([`IntoTcp`]) and the transport's own timers apply.

use crate::ws::handshake::IntoTcp;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Where the connection is in its request/response cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests (actix's keep-alive timer applies).
    Idle,
    /// A request head is arriving; `blank` says the current line is still empty.
    Head { blank: bool },
    /// The head is complete (a body or the next request may follow); the response is pending.
    Answering,
}

/// Follows request heads through the bytes read: the pure part of [`DeadlineStream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadTracker {
    phase: Phase,
}

impl Default for HeadTracker {
    fn default() -> Self {
        Self { phase: Phase::Idle }
    }
}

/// What the bytes just read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadEvent {
    /// Nothing that changes the deadline.
    None,
    /// A request head started: arm the deadline.
    Started,
    /// The head that was arriving is complete: disarm it.
    Completed,
    /// A head started and completed within these bytes.
    StartedAndCompleted,
}

impl HeadTracker {
    /// Whether a request head is arriving (the deadline runs).
    pub fn in_head(&self) -> bool {
        matches!(self.phase, Phase::Head { .. })
    }

    /// Takes bytes read from the client.
    pub fn read(&mut self, bytes: &[u8]) -> HeadEvent {
        let mut started = false;
        let mut completed = false;
        for &byte in bytes {
            match self.phase {
                Phase::Answering => break,
                Phase::Idle => {
                    // Stray line breaks between requests are allowed (RFC 9112 §2.2).
                    if byte == b'\r' || byte == b'\n' {
                        continue;
                    }
                    started = true;
                    self.phase = Phase::Head { blank: false };
                }
                Phase::Head { blank } => match byte {
                    b'\r' => {}
                    b'\n' if blank => {
                        completed = true;
                        self.phase = Phase::Answering;
                    }
                    b'\n' => self.phase = Phase::Head { blank: true },
                    _ => self.phase = Phase::Head { blank: false },
                },
            }
        }
        match (started, completed) {
            (true, true) => HeadEvent::StartedAndCompleted,
            (true, false) => HeadEvent::Started,
            (false, true) => HeadEvent::Completed,
            (false, false) => HeadEvent::None,
        }
    }

    /// The server wrote (a response): the next bytes from the client start a new request.
    pub fn wrote(&mut self) {
        self.phase = Phase::Idle;
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct DeadlineStream {
    inner: TcpStream,
    tracker: HeadTracker,
    limit: Duration,
    timer: Pin<Box<Sleep>>,
    /// A response has been written: later heads are timed here (the first one by actix).
    answered: bool,
}

impl DeadlineStream {
    /// Wraps an accepted socket; request heads must arrive within `limit`.
    pub fn new(inner: TcpStream, limit: Duration) -> Self {
        Self {
            inner,
            tracker: HeadTracker::default(),
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            answered: false,
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }
}

impl IntoTcp for DeadlineStream {
    fn into_tcp(self) -> TcpStream {
        self.inner
    }
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.tracker.read(&buf.filled()[before..]) == HeadEvent::Started {
                    this.timer.as_mut().reset(Instant::now() + this.limit);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.answered && this.tracker.in_head() && this.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request head not complete within server.handshake_timeout_s",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.tracker.wrote();
            this.answered = true;
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.tracker.wrote();
            this.answered = true;
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_runs_from_its_first_byte_to_the_blank_line() {
        let mut t = HeadTracker::default();
        assert_eq!(t.read(b"GET / HTTP/1.1\r\nHost: x\r\n"), HeadEvent::Started);
        assert!(t.in_head());
        assert_eq!(t.read(b"\r"), HeadEvent::None);
        assert_eq!(t.read(b"\nbody bytes"), HeadEvent::Completed);
        assert!(!t.in_head(), "a body is not timed as a head");
        t.wrote();
        // The second request on the connection is timed like the first.
        assert_eq!(t.read(b"G"), HeadEvent::Started);
        assert_eq!(t.read(b"ET /ws HTTP/1.1\n\n"), HeadEvent::Completed);
        t.wrote();
        assert_eq!(
            t.read(b"\r\n"),
            HeadEvent::None,
            "stray line breaks start nothing"
        );
        assert_eq!(t.read(b"GET / HTTP/1.1\r\n\r\n"), HeadEvent::StartedAndCompleted);
    }

    proptest::proptest! {
        // Whatever the bytes and however they are cut, the tracker ends in the same phase.
        #[test]
        fn the_tracker_does_not_depend_on_how_bytes_are_cut(
            bytes in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\r', b'\n', b' ']), 0..200),
            cut in 0usize..200,
        ) {
            let mut whole = HeadTracker::default();
            whole.read(&bytes);
            let mut split = HeadTracker::default();
            let cut = cut.min(bytes.len());
            split.read(&bytes[..cut]);
            split.read(&bytes[cut..]);
            proptest::prop_assert_eq!(whole, split);
        }
    }
}
