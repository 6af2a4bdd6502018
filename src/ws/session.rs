//! One WebSocket client after the handshake: a task that owns the TCP socket, writes what the
//! hub queues in the client's outbox, reads and answers the client's frames, pings it, and
//! closes it.
//!
//! Writing: everything waiting in the outbox is taken at once and written with one vectored
//! write of the shared frame bytes (no copy per client). While the socket cannot take more, the
//! task stops taking from the outbox, so a client that does not read fills its outbox and meets
//! the hub's slow-client policy; nothing it does can delay anyone else.
//!
//! Memory: an idle connection holds no read or write buffer; they are allocated while there is
//! something to read or write and released afterwards.

use super::frame;
use super::outbox::{Outbox, Taken};
use super::protocol::{self, ClientMessage};
use crate::events::{Event, Pong, Timestamp, TopicSet};
use crate::hub::{Connection, Counters, Hub, Outgoing};
use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use actix_web::web::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{interval_at, timeout, Instant, MissedTickBehavior};

/// Per-session tunables, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionConfig {
    /// Time between server pings.
    pub heartbeat_interval: Duration,
    /// Silence (no pong, no frame) after which the client is considered gone.
    pub heartbeat_timeout: Duration,
    /// Longest a write may make no progress before the client is considered dead.
    pub send_timeout: Duration,
    /// Client messages per second allowed on average (token bucket refill rate).
    pub messages_per_s: f64,
    /// Client messages allowed in a burst (token bucket size).
    pub message_burst: f64,
    /// Largest client message (a frame, or a fragmented message once joined), bytes.
    pub max_message_bytes: usize,
    /// Topics a client may be subscribed to at once.
    pub max_subscriptions: usize,
}

/// A token bucket: a client that sends faster than its rate for longer than its burst is
/// abusing the server and is closed with 1008.
#[derive(Debug)]
struct RateLimit {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl RateLimit {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            rate,
            burst,
            last: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A place among the `server.max_connections` sessions, given back when dropped, however the
/// session ends (or fails to start).
#[derive(Debug)]
pub struct SessionSlot(Arc<AtomicUsize>);

impl SessionSlot {
    /// Takes one of `max` places counted by `live`; `None` when all are taken.
    pub fn claim(live: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        live.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| SessionSlot(live.clone()))
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Everything a session needs besides its socket.
#[derive(Debug)]
pub struct SessionSetup {
    /// The hub.
    pub hub: Hub,
    /// Its registration with the hub.
    pub connection: Connection,
    /// Topics subscribed at the start.
    pub topics: TopicSet,
    /// Topics its credentials allow.
    pub allowed: TopicSet,
    /// Tunables.
    pub config: SessionConfig,
    /// Its place among the sessions allowed.
    pub slot: SessionSlot,
}

/// RFC 6455 close codes the server sends.
mod code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

/// How a session ends.
#[derive(Debug)]
enum End {
    /// The peer closed the TCP connection or it failed: nothing more can be sent.
    Gone(&'static str),
    /// The client sent a close frame (its code, if any): echo it and hang up.
    ClientClosed(Option<u16>),
    /// The server closes: send a close frame, wait briefly for the client's, hang up.
    /// `discard` drops queued events first (the client is not reading them anyway).
    Close {
        code: u16,
        reason: String,
        discard: bool,
    },
}

impl End {
    fn close(code: u16, reason: impl Into<String>) -> Self {
        End::Close {
            code,
            reason: reason.into(),
            discard: false,
        }
    }
}

/// Marks a frame the server made for this client only (ping, pong, close): not counted as an
/// event delivery.
const CONTROL: usize = usize::MAX;

fn control(frame: Bytes) -> Outgoing {
    Outgoing {
        kind: CONTROL,
        frame,
        created_ns: 0,
    }
}

/// Frames on their way into the socket.
struct Writer {
    queue: VecDeque<Outgoing>,
    /// Bytes of the front frame already written.
    offset: usize,
    /// When the socket last accepted bytes (or the queue was last empty).
    progress: Instant,
}

impl Writer {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            offset: 0,
            progress: Instant::now(),
        }
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn push_control(&mut self, frame: Bytes) {
        if self.queue.is_empty() {
            self.progress = Instant::now();
        }
        self.queue.push_back(control(frame));
    }

    /// Drops every frame not yet started.
    fn discard_unstarted(&mut self) {
        let keep = usize::from(self.offset > 0);
        self.queue.truncate(keep);
    }

    /// How long the socket has refused to take anything while frames wait.
    fn stalled_for(&self) -> Duration {
        if self.queue.is_empty() {
            Duration::ZERO
        } else {
            self.progress.elapsed()
        }
    }

    /// Writes as much as the socket takes without waiting.
    fn flush(&mut self, stream: &TcpStream, counters: &Counters) -> io::Result<()> {
        const SLICES: usize = 64;
        while !self.queue.is_empty() {
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
                Ok(written) => self.consume(written, counters),
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

    fn consume(&mut self, mut written: usize, counters: &Counters) {
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
                if done.kind != CONTROL {
                    counters.record_sent(&done);
                }
            }
        }
    }
}

/// A client message, reassembled from its fragments.
#[derive(Debug)]
enum Incoming {
    Text(Bytes),
    Binary,
    Ping(Bytes),
    Pong,
    Close(Option<u16>),
}

/// Frames from the client: decoded, unmasked, reassembled, bounded.
struct Reader {
    buf: BytesMut,
    codec: Codec,
    /// A fragmented message being joined: whether it is text, and its bytes so far.
    partial: Option<(bool, BytesMut)>,
    max_message: usize,
}

/// What a read from the socket gave.
enum Fill {
    Data,
    WouldBlock,
    Eof,
}

impl Reader {
    fn new(early: BytesMut, max_message: usize) -> Self {
        Self {
            // Bytes the client sent right behind its handshake, if any.
            buf: early,
            codec: Codec::new().max_size(max_message),
            partial: None,
            max_message,
        }
    }

    fn fill(&mut self, stream: &TcpStream) -> io::Result<Fill> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4096);
        }
        match stream.try_read_buf(&mut self.buf) {
            Ok(0) => Ok(Fill::Eof),
            Ok(_) => Ok(Fill::Data),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Fill::WouldBlock),
            Err(e) => Err(e),
        }
    }

    /// The next whole message in the buffer, if any.
    fn next(&mut self) -> Result<Option<Incoming>, End> {
        loop {
            let frame = match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(ProtocolError::Overflow) => {
                    return Err(End::close(
                        code::TOO_BIG,
                        format!(
                            "frame larger than {} bytes (server.max_message_bytes)",
                            self.max_message
                        ),
                    ))
                }
                Err(error) => return Err(End::close(code::PROTOCOL_ERROR, error.to_string())),
            };
            let whole = match frame {
                Frame::Text(bytes) => Incoming::Text(bytes),
                Frame::Binary(_) => Incoming::Binary,
                Frame::Ping(bytes) => Incoming::Ping(bytes),
                Frame::Pong(_) => Incoming::Pong,
                Frame::Close(reason) => Incoming::Close(reason.map(|r| u16::from(r.code))),
                Frame::Continuation(item) => match self.join(item)? {
                    Some(message) => message,
                    None => continue,
                },
            };
            return Ok(Some(whole));
        }
    }

    fn join(&mut self, item: Item) -> Result<Option<Incoming>, End> {
        let (first, bytes, last) = match item {
            Item::FirstText(bytes) => (Some(true), bytes, false),
            Item::FirstBinary(bytes) => (Some(false), bytes, false),
            Item::Continue(bytes) => (None, bytes, false),
            Item::Last(bytes) => (None, bytes, true),
        };
        // A fragmented message starts with a first fragment and only then continues.
        if first.is_some() == self.partial.is_some() {
            return Err(End::close(code::PROTOCOL_ERROR, "unexpected continuation frame"));
        }
        let (is_text, joined) = self
            .partial
            .get_or_insert_with(|| (first.unwrap_or(false), BytesMut::new()));
        if joined.len() + bytes.len() > self.max_message {
            return Err(End::close(
                code::TOO_BIG,
                format!(
                    "message larger than {} bytes (server.max_message_bytes)",
                    self.max_message
                ),
            ));
        }
        joined.extend_from_slice(&bytes);
        if !last {
            return Ok(None);
        }
        let is_text = *is_text;
        let joined = self.partial.take().map(|(_, b)| b.freeze()).unwrap_or_default();
        Ok(Some(if is_text {
            Incoming::Text(joined)
        } else {
            Incoming::Binary
        }))
    }

    /// Frees the read buffer of a connection with nothing left to parse.
    fn release_if_idle(&mut self) {
        if self.buf.is_empty() && self.partial.is_none() {
            self.buf = BytesMut::new();
        }
    }
}

/// Runs the session until the client leaves, the hub closes it, or the server shuts down.
/// `early` holds bytes the client sent right after its handshake.
pub async fn run(stream: TcpStream, early: BytesMut, setup: SessionSetup) {
    let SessionSetup {
        hub,
        connection,
        mut topics,
        allowed,
        config,
        slot: _slot,
    } = setup;
    let Connection { id, outbox } = connection;
    let counters = hub.counters().clone();
    let mut rate = RateLimit::new(config.messages_per_s, config.message_burst);
    let mut reader = Reader::new(early, config.max_message_bytes);
    let mut writer = Writer::new();
    let mut heartbeat = interval_at(
        Instant::now() + config.heartbeat_interval,
        config.heartbeat_interval,
    );
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    // Bytes that arrived with the handshake are parsed before anything is awaited.
    let mut parse_pending = !reader.buf.is_empty();

    let end = 'session: loop {
        if parse_pending {
            parse_pending = false;
            loop {
                let message = match reader.next() {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(end) => break 'session end,
                };
                let session = Session {
                    hub: &hub,
                    id,
                    topics: &mut topics,
                    allowed,
                    config: &config,
                };
                if let Some(end) = session.handle(message, &mut rate, &mut writer).await {
                    break 'session end;
                }
            }
            reader.release_if_idle();
        }
        if writer.flush(&stream, &counters).is_err() {
            break End::Gone("write failed");
        }
        let writing = !writer.is_empty();
        tokio::select! {
            biased;
            taken = std::future::poll_fn(|cx| poll_outbox(&outbox, cx, &mut writer, !writing)) => {
                if let Taken::Kicked(kick) = taken {
                    break End::Close { code: kick.code, reason: kick.reason, discard: true };
                }
            }
            ready = stream.writable(), if writing => {
                if ready.is_err() {
                    break End::Gone("socket error");
                }
            }
            ready = stream.readable() => {
                if ready.is_err() {
                    break End::Gone("socket error");
                }
                match reader.fill(&stream) {
                    Ok(Fill::Data) => {
                        last_heard = Instant::now();
                        parse_pending = true;
                    }
                    Ok(Fill::WouldBlock) => {}
                    Ok(Fill::Eof) | Err(_) => break End::Gone("client disconnected"),
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > config.heartbeat_timeout {
                    break End::Close { code: code::GOING_AWAY, reason: "heartbeat timeout".into(), discard: true };
                }
                if writer.stalled_for() > config.send_timeout {
                    break End::Gone("send timeout");
                }
                writer.push_control(frame::ping(b"sdrhub"));
            }
        }
    };

    hub.disconnect(id).await;
    outbox.close();
    match &end {
        End::Gone(why) => tracing::debug!(client = id, why, "websocket connection lost"),
        other => tracing::debug!(client = id, end = ?other, "websocket session ended"),
    }
    finish(stream, reader, writer, end, &counters, config.send_timeout).await;
}

/// Takes what the hub queued (only when `take`; otherwise only looks for a kick).
fn poll_outbox(
    outbox: &Outbox,
    cx: &mut std::task::Context<'_>,
    writer: &mut Writer,
    take: bool,
) -> std::task::Poll<Taken> {
    if take {
        if writer.queue.is_empty() {
            writer.progress = Instant::now();
        }
        outbox.poll_take(cx, &mut writer.queue)
    } else {
        outbox.poll_kick(cx)
    }
}

/// Ends the connection as `end` says: close frames where the client can still get one.
async fn finish(
    stream: TcpStream,
    mut reader: Reader,
    mut writer: Writer,
    end: End,
    counters: &Counters,
    send_timeout: Duration,
) {
    let (code, reason, discard, wait_for_reply) = match end {
        End::Gone(_) => return,
        End::ClientClosed(code) => (code.unwrap_or(code::NORMAL), String::new(), true, false),
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
            writer.flush(&stream, counters)?;
            if writer.is_empty() {
                return Ok::<(), io::Error>(());
            }
            stream.writable().await?;
        }
    })
    .await;
    if !matches!(flushed, Ok(Ok(()))) || !wait_for_reply {
        return;
    }
    // The client answers with its own close frame; then the server hangs up (RFC 6455 §7.1.1).
    let _ = timeout(send_timeout.min(Duration::from_secs(2)), async {
        loop {
            while let Ok(Some(message)) = reader.next() {
                if matches!(message, Incoming::Close(_)) {
                    return;
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

/// What handling one client message needs.
struct Session<'a> {
    hub: &'a Hub,
    id: u64,
    topics: &'a mut TopicSet,
    allowed: TopicSet,
    config: &'a SessionConfig,
}

impl Session<'_> {
    /// Handles one message; `Some` when it ends the session.
    async fn handle(self, message: Incoming, rate: &mut RateLimit, writer: &mut Writer) -> Option<End> {
        if matches!(message, Incoming::Text(_) | Incoming::Binary) && !rate.allow() {
            return Some(End::Close {
                code: code::POLICY,
                reason: format!("message rate over {} per second", self.config.messages_per_s),
                discard: true,
            });
        }
        match message {
            Incoming::Text(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.handle_text(text).await,
                Err(_) => {
                    return Some(End::close(code::INVALID_DATA, "text frame is not valid UTF-8"));
                }
            },
            Incoming::Binary => {
                let error = crate::events::ErrorReport {
                    code: "unsupported_frame",
                    message: "binary frames are not part of the protocol; send JSON text".into(),
                };
                self.hub.reply(self.id, Event::Error(error)).await;
            }
            Incoming::Ping(payload) => writer.push_control(frame::pong(&payload)),
            Incoming::Pong => {}
            Incoming::Close(code) => return Some(End::ClientClosed(code)),
        }
        None
    }

    async fn handle_text(self, text: &str) {
        let (hub, id) = (self.hub, self.id);
        match protocol::parse(text) {
            Ok(ClientMessage::Ping) => {
                hub.reply(
                    id,
                    Event::Pong(Pong {
                        server_time: Timestamp::now(),
                    }),
                )
                .await;
            }
            Ok(ClientMessage::Subscribe(list)) => {
                if let Some(topic) = list.iter().find(|t| !self.allowed.contains(**t)) {
                    let error = crate::events::ErrorReport {
                        code: "forbidden_topic",
                        message: format!("your token does not allow {}", topic.as_str()),
                    };
                    hub.reply(id, Event::Error(error)).await;
                    return;
                }
                let wanted = list.into_iter().fold(*self.topics, TopicSet::with);
                let max = self.config.max_subscriptions;
                if wanted.topics().count() > max {
                    let error = crate::events::ErrorReport {
                        code: "too_many_subscriptions",
                        message: format!(
                            "at most {max} topics at once (server.max_subscriptions); unsubscribe from one first"
                        ),
                    };
                    hub.reply(id, Event::Error(error)).await;
                    return;
                }
                *self.topics = wanted;
                hub.set_topics(id, wanted).await;
            }
            Ok(ClientMessage::Unsubscribe(list)) => {
                *self.topics = list.into_iter().fold(*self.topics, TopicSet::without);
                hub.set_topics(id, *self.topics).await;
            }
            Err(error) => hub.reply(id, Event::Error(error)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame (RFC 6455 §5.3), as a browser would send it.
    fn client_frame(first_byte: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first_byte];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65_535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn read_all(reader: &mut Reader) -> Result<Vec<Incoming>, End> {
        let mut messages = Vec::new();
        while let Some(message) = reader.next()? {
            messages.push(message);
        }
        Ok(messages)
    }

    #[test]
    fn fragments_are_joined_and_control_frames_pass_between_them() {
        let mask = [1, 2, 3, 4];
        let mut bytes = client_frame(0x01, br#"{"event":"#, mask);
        bytes.extend(client_frame(0x89, b"hi", mask)); // a ping between fragments
        bytes.extend(client_frame(0x80, br#""ping"}"#, mask));
        let mut reader = Reader::new(BytesMut::from(&bytes[..]), 1024);
        let messages = read_all(&mut reader).expect("valid frames");
        assert!(matches!(&messages[0], Incoming::Ping(p) if &p[..] == b"hi"));
        assert!(matches!(&messages[1], Incoming::Text(t) if &t[..] == br#"{"event":"ping"}"#));
        reader.release_if_idle();
        assert_eq!(reader.buf.capacity(), 0, "an idle reader holds no buffer");
    }

    #[test]
    fn unmasked_client_frames_are_a_protocol_error() {
        let mut reader = Reader::new(BytesMut::from(&[0x81u8, 0x02, b'h', b'i'][..]), 1024);
        assert!(matches!(
            read_all(&mut reader),
            Err(End::Close {
                code: code::PROTOCOL_ERROR,
                ..
            })
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]
        // Untrusted input: whatever bytes a client sends, in whatever pieces, the reader never
        // panics and never hands over a message larger than the limit.
        #[test]
        fn the_frame_reader_is_total_and_bounded(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..8),
            limit in 16usize..512,
        ) {
            let mut reader = Reader::new(BytesMut::new(), limit);
            for chunk in chunks {
                reader.buf.extend_from_slice(&chunk);
                match read_all(&mut reader) {
                    Ok(messages) => {
                        for message in messages {
                            if let Incoming::Text(text) = message {
                                proptest::prop_assert!(text.len() <= limit);
                            }
                        }
                    }
                    Err(_) => break,
                }
            }
        }

        #[test]
        fn valid_fragmented_messages_round_trip(
            text in "\\PC{0,200}",
            cuts in proptest::collection::vec(0usize..200, 0..4),
            mask in proptest::array::uniform4(proptest::num::u8::ANY),
        ) {
            let payload = text.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(payload.len())).collect();
            points.sort_unstable();
            points.dedup();
            let mut bounds = vec![0];
            bounds.extend(points.into_iter().filter(|&p| p > 0 && p < payload.len()));
            bounds.push(payload.len());
            let pieces: Vec<&[u8]> = bounds.windows(2).map(|w| &payload[w[0]..w[1]]).collect();
            let mut bytes = Vec::new();
            for (i, piece) in pieces.iter().enumerate() {
                let fin = if i + 1 == pieces.len() { 0x80 } else { 0 };
                let opcode = if i == 0 { 0x01 } else { 0x00 };
                bytes.extend(client_frame(fin | opcode, piece, mask));
            }
            let mut reader = Reader::new(BytesMut::from(&bytes[..]), 1024);
            let messages = read_all(&mut reader).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
            proptest::prop_assert_eq!(messages.len(), 1);
            proptest::prop_assert!(matches!(&messages[0], Incoming::Text(t) if &t[..] == payload));
        }
    }
}
