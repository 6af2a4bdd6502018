//! One WebSocket connection after the handshake, on the bare TCP socket: reads and checks the
//! peer's frames ([`Reader`]), answers pings, writes what is queued ([`Writer`]), pings the
//! peer, drops it when it stops making progress, and closes the connection as RFC 6455 §7 asks.
//! What the messages mean is the [`Handler`]'s business: the hub session of `/ws`
//! ([`super::session`]), or the echo of the conformance test (`examples/ws_echo.rs`), so the
//! standard peer suite exercises exactly this code.
//!
//! Every timer is its own: the heartbeat (only whole frames count as hearing from the peer, so
//! a frame trickled byte by byte does not keep a connection alive), and the send timeout, armed
//! whenever frames wait and fired when the socket has taken nothing for `send_timeout`.
//!
//! Closing: after the close frames are exchanged (or the connection is failed), the server
//! half-closes with `shutdown(Write)` and reads until the peer closes too (at most
//! [`LINGER`]), so bytes the peer sent meanwhile never turn the FIN into a reset.

use super::reader::{Fill, Message, Reader, Violation};
use super::writer::{Gate, Writer};
use crate::frame;
use crate::hub::Outgoing;
use actix_web::web::{Bytes, BytesMut};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{interval_at, sleep_until, timeout, Instant, MissedTickBehavior};

/// Longest the server waits, after its last close frame, for the peer to close its side.
pub const LINGER: Duration = Duration::from_secs(2);
/// Most the server reads (and discards) while it waits: a peer still pushing data after the
/// close gets a reset rather than the server's time.
pub const LINGER_BYTES: usize = 1 << 20;
/// Longest the server waits for the peer's close frame after sending its own.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(2);

/// The transport's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Time between server pings.
    pub heartbeat_interval: Duration,
    /// Silence (no whole frame) after which the peer is considered gone.
    pub heartbeat_timeout: Duration,
    /// Longest frames may wait without the socket taking any of them.
    pub send_timeout: Duration,
    /// Largest message (a frame, or a fragmented message once joined), bytes.
    pub max_message_bytes: usize,
    /// Bytes waiting to be written beyond which the peer's frames are no longer read.
    pub write_backlog_bytes: usize,
}

/// RFC 6455 close codes the server sends.
pub mod code {
    /// The peer's close without a code is answered with this.
    pub const NORMAL: u16 = 1000;
    /// Server shutdown, heartbeat timeout.
    pub const GOING_AWAY: u16 = 1001;
    /// A message that breaks the server's policy (rate).
    pub const POLICY: u16 = 1008;
    /// The client could not keep up.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// How a connection ends.
#[derive(Debug, Clone)]
pub enum End {
    /// The connection failed or the peer vanished: nothing more can be sent.
    Gone(&'static str),
    /// The peer sent a close frame: echo its code and hang up.
    PeerClosed(Option<u16>),
    /// The peer broke the protocol: fail the connection with the violation's code.
    Failed(Violation),
    /// The server closes: send a close frame, wait briefly for the peer's, hang up. `discard`
    /// drops frames not yet started first (the peer is not reading them anyway).
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
        /// Drop unstarted frames first.
        discard: bool,
    },
}

impl End {
    /// A server close that still delivers what is queued.
    pub fn close(code: u16, reason: impl Into<String>) -> Self {
        End::Close {
            code,
            reason: reason.into(),
            discard: false,
        }
    }
}

/// A whole data message from the peer.
#[derive(Debug)]
pub enum Data {
    /// Text, valid UTF-8.
    Text(Bytes),
    /// Binary.
    Binary(Bytes),
}

/// What a connection does with messages, and where else its frames come from.
pub trait Handler {
    /// Handles a message; `Some` ends the connection.
    fn on_message(&mut self, message: Data, writer: &mut Writer) -> impl Future<Output = Option<End>>;

    /// Moves frames from elsewhere into `writer` (only when `take`; otherwise only looks for an
    /// order to close). `Ready(Some(end))` ends the connection; `Ready(None)` means frames were
    /// queued.
    fn poll_outgoing(&mut self, cx: &mut Context<'_>, writer: &mut Writer, take: bool) -> Poll<Option<End>>;

    /// A frame that was an event, written whole to the socket.
    fn sent(&self, _message: &Outgoing) {}

    /// The socket's gate, through which others may write to the client at once while the
    /// connection has nothing waiting (see [`super::writer`]).
    fn attach(&mut self, _gate: &Arc<Gate>) {}
}

/// Runs the connection until the session ends; returns how, with the connection still to be
/// closed.
pub async fn run<H: Handler>(stream: TcpStream, early: BytesMut, limits: Limits, handler: &mut H) -> Ending {
    let stream = Arc::new(stream);
    let gate = Arc::new(Gate::new(stream.clone()));
    handler.attach(&gate);
    let mut reader = Reader::new(early, limits.max_message_bytes);
    let mut writer = Writer::with_gate(gate);
    let mut heartbeat = interval_at(
        Instant::now() + limits.heartbeat_interval,
        limits.heartbeat_interval,
    );
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    // Bytes that arrived with the handshake are parsed before anything is awaited.
    let mut parse_pending = reader.has_unparsed();
    let end = 'connection: loop {
        // Socket readiness that is already set costs tokio no budget, so a peer that keeps
        // the socket readable (a flood) would hold its worker thread and starve every other
        // connection on it: each round takes a unit of the task's budget and yields when it is
        // spent.
        tokio::task::consume_budget().await;
        if parse_pending && writer.backlog_bytes() <= limits.write_backlog_bytes {
            parse_pending = false;
            loop {
                if writer.backlog_bytes() > limits.write_backlog_bytes {
                    // Parse no further until the peer reads what it asked for.
                    parse_pending = true;
                    break;
                }
                let message = match reader.next() {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(violation) => break 'connection End::Failed(violation),
                };
                last_heard = Instant::now();
                let data = match message {
                    Message::Ping(payload) => {
                        if writer.has_pong() {
                            // Every ping gets its pong while the socket takes them; only a
                            // peer that does not read has older pongs replaced.
                            if writer.flush(&stream, |m| handler.sent(m)).is_err() {
                                break 'connection End::Gone("write failed");
                            }
                        }
                        writer.set_pong(frame::pong(&payload));
                        continue;
                    }
                    Message::Pong => continue,
                    Message::Close(close) => break 'connection End::PeerClosed(close.map(|(code, _)| code)),
                    Message::Text(text) => Data::Text(text),
                    Message::Binary(bytes) => Data::Binary(bytes),
                };
                if let Some(end) = handler.on_message(data, &mut writer).await {
                    break 'connection end;
                }
            }
        }
        reader.release_if_idle();
        if let Some(bytes) = writer.send_buffer_request.take() {
            // Best effort: the kernel may round it; a failure leaves its own size.
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
        }
        if writer.flush(&stream, |m| handler.sent(m)).is_err() {
            break End::Gone("write failed");
        }
        let writing = !writer.is_empty();
        let reading = writer.backlog_bytes() <= limits.write_backlog_bytes;
        let stalled_at = writer
            .stall_deadline(limits.send_timeout)
            .unwrap_or_else(Instant::now);
        tokio::select! {
            biased;
            outgoing = std::future::poll_fn(|cx| handler.poll_outgoing(cx, &mut writer, !writing)) => {
                if let Some(end) = outgoing {
                    break end;
                }
            }
            ready = stream.writable(), if writing => {
                if ready.is_err() {
                    break End::Gone("socket error");
                }
            }
            ready = stream.readable(), if reading && !parse_pending => {
                if ready.is_err() {
                    break End::Gone("socket error");
                }
                match reader.fill(&stream) {
                    Ok(Fill::Data) => parse_pending = true,
                    Ok(Fill::WouldBlock) => {}
                    Ok(Fill::Eof) | Err(_) => break End::Gone("peer disconnected"),
                }
            }
            _ = sleep_until(stalled_at), if writing => break End::Gone("send timeout"),
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > limits.heartbeat_timeout {
                    break End::Close { code: code::GOING_AWAY, reason: "heartbeat timeout".into(), discard: true };
                }
                writer.push_control(frame::ping(b"sdrhub"));
            }
        }
    };
    writer.close_gate();
    Ending {
        end,
        stream,
        reader,
        writer,
        send_timeout: limits.send_timeout,
    }
}

/// A connection whose session is over, still to be closed ([`Ending::close`]).
#[derive(Debug)]
pub struct Ending {
    end: End,
    stream: Arc<TcpStream>,
    reader: Reader,
    writer: Writer,
    send_timeout: Duration,
}

impl Ending {
    /// How the session ended.
    pub fn end(&self) -> &End {
        &self.end
    }

    /// Closes the connection as its end says (this can take up to a send timeout, the close
    /// reply wait and [`LINGER`]; the caller has already let go of everything else).
    pub async fn close<H: Handler>(self, handler: &H) {
        finish(
            self.stream,
            self.reader,
            self.writer,
            self.end,
            self.send_timeout,
            handler,
        )
        .await;
    }
}

/// Ends the connection as `end` says: close frames where the peer can still get one, then a
/// half-close and a bounded wait for the peer to close.
async fn finish<H: Handler>(
    stream: Arc<TcpStream>,
    mut reader: Reader,
    mut writer: Writer,
    end: End,
    send_timeout: Duration,
    handler: &H,
) {
    let (code, reason, discard, wait_for_reply) = match end {
        End::Gone(_) => return,
        // What was queued before the close (answers to earlier messages) still goes out first.
        End::PeerClosed(code) => (code.unwrap_or(code::NORMAL), String::new(), false, false),
        End::Failed(violation) => (violation.code(), violation.reason().to_string(), false, false),
        End::Close {
            code,
            reason,
            discard,
        } => (code, reason, discard, true),
    };
    if discard {
        writer.discard_unstarted();
    }
    writer.push_control(frame::close(code, &reason));
    let flushed = timeout(send_timeout, async {
        loop {
            writer.flush(&stream, |m| handler.sent(m))?;
            if writer.is_empty() {
                return Ok::<(), io::Error>(());
            }
            stream.writable().await?;
        }
    })
    .await;
    if !matches!(flushed, Ok(Ok(()))) {
        return;
    }
    if wait_for_reply {
        // The peer answers with its own close frame; then the server hangs up (RFC 6455 §7.1.1).
        let _ = timeout(send_timeout.min(CLOSE_REPLY_WAIT), async {
            loop {
                loop {
                    match reader.next() {
                        Ok(Some(Message::Close(_))) | Err(_) => return,
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                    }
                }
                if stream.readable().await.is_err() {
                    return;
                }
                match reader.fill(&stream) {
                    Ok(Fill::Data | Fill::WouldBlock) => {}
                    Ok(Fill::Eof) | Err(_) => return,
                }
            }
        })
        .await;
    }
    linger(&stream).await;
}

/// Half-closes and reads (discarding) until the peer closes too, at most [`LINGER`] and
/// [`LINGER_BYTES`].
async fn linger(stream: &TcpStream) {
    if socket2::SockRef::from(stream)
        .shutdown(std::net::Shutdown::Write)
        .is_err()
    {
        return;
    }
    let _ = timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            if stream.readable().await.is_err() {
                return;
            }
            match stream.try_read(&mut sink) {
                // The peer has closed its side too.
                Ok(0) => return,
                Ok(n) => discarded += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    })
    .await;
}
