//! One `/ws` client after the handshake: the [`transport`](super::transport) runs the socket;
//! this handler writes what the hub queues in the client's outbox, answers `ping` itself (the
//! pong carries the `seq` of the event before it), passes the client's other messages to the
//! hub (so their replies are numbered in order with the events) and enforces the client's
//! message rate and subscriptions.
//!
//! Writing: everything waiting in the outbox is taken at once and written with one vectored
//! write of the shared frame bytes (no copy per client). While the socket cannot take more, the
//! task stops taking from the outbox, so a client that does not read fills its outbox and meets
//! the hub's slow-client policy; nothing it does can delay anyone else.
//!
//! Memory: an idle connection holds no read or write buffer; they are allocated while there is
//! something to read or write and released afterwards.

use super::protocol::{self, ClientMessage};
use super::transport::{self, code, Data, End, Handler, Limits};
use super::writer::{Gate, Writer};
use crate::events::{Envelope, ErrorReport, Event, Pong, Timestamp, TopicSet};
use crate::hub::outbox::{DirectWrite, Outbox, Taken, Written};
use crate::hub::{Connection, Counters, Hub, Outgoing};
use actix_web::web::BytesMut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes a client may have waiting to be written before its frames are no longer read: well
/// above a burst of events (they are bounded by `server.client_queue` anyway), far below what
/// would hurt the server; a peer that sends pings or requests without reading the answers
/// stops being read here and is dropped by the send timeout.
pub const WRITE_BACKLOG_BYTES: usize = 1 << 20;

/// Per-session tunables, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionConfig {
    /// The transport's limits.
    pub limits: Limits,
    /// Client messages per second allowed on average (token bucket refill rate).
    pub messages_per_s: f64,
    /// Client messages allowed in a burst (token bucket size).
    pub message_burst: f64,
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
    /// The listening service (`serve`), and which receivers its credentials may hear.
    pub audio: Option<(crate::audio::Audio, crate::auth::AudioAccess)>,
    /// Tunables.
    pub config: SessionConfig,
    /// Its place among the sessions allowed.
    pub slot: SessionSlot,
    /// Its place in its address's share.
    pub address_slot: super::addresses::AddressSlot,
}

/// Runs the session until the client leaves, the hub closes it, or the server shuts down.
/// `early` holds bytes the client sent right after its handshake.
pub async fn run(stream: TcpStream, early: BytesMut, setup: SessionSetup) {
    let SessionSetup {
        hub,
        connection,
        topics,
        allowed,
        audio,
        config,
        slot: _slot,
        address_slot: _address_slot,
    } = setup;
    let Connection { id, outbox } = connection;
    let mut session = Session {
        counters: hub.counters().clone(),
        hub,
        id,
        outbox,
        topics,
        allowed,
        config,
        rate: RateLimit::new(config.messages_per_s, config.message_burst),
        audio,
        listening: None,
    };
    let ending = transport::run(stream, early, config.limits, &mut session).await;
    // The hub lets go of the client before the closing handshake, which may take seconds.
    session.hub.disconnect(id).await;
    session.outbox.close();
    match ending.end() {
        End::Gone(why) => tracing::debug!(client = id, why, "websocket connection lost"),
        other => tracing::debug!(client = id, end = ?other, "websocket session ended"),
    }
    ending.close(&session).await;
}

/// A client's state.
struct Session {
    hub: Hub,
    counters: Arc<Counters>,
    id: u64,
    outbox: Arc<Outbox>,
    topics: TopicSet,
    allowed: TopicSet,
    config: SessionConfig,
    rate: RateLimit,
    audio: Option<(crate::audio::Audio, crate::auth::AudioAccess)>,
    /// The client's listener; its audio frames are written between events.
    listening: Option<crate::audio::Listening>,
}

/// Audio frames moved into the writer per turn: a turn's worth of packets, so events and
/// audio take turns.
const AUDIO_FRAMES_PER_TURN: usize = 8;
/// The kernel send buffer of a client that listens, bytes (Linux doubles it): without it the
/// kernel would buffer megabytes (minutes of audio) for a client that stops reading before
/// the listener's queue noticed; with it a slow client's audio is dropped (counted) after a
/// few seconds instead of arriving minutes late.
pub const LISTENER_SEND_BUFFER_BYTES: usize = 32 << 10;

impl Handler for Session {
    async fn on_message(&mut self, message: Data, writer: &mut Writer) -> Option<End> {
        if !self.rate.allow() {
            return Some(End::Close {
                code: code::POLICY,
                reason: format!("message rate over {} per second", self.config.messages_per_s),
                discard: true,
            });
        }
        match message {
            Data::Text(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.handle_text(text, writer).await,
                // The reader hands over only valid UTF-8; this is the same answer regardless.
                Err(_) => return Some(End::close(1007, "text frame is not valid UTF-8")),
            },
            Data::Binary(_) => {
                let error = ErrorReport {
                    code: "unsupported_frame",
                    message: "binary frames are not part of the protocol; send JSON text".into(),
                };
                self.hub.reply(self.id, Event::Error(error)).await;
            }
        }
        None
    }

    fn poll_outgoing(&mut self, cx: &mut Context<'_>, writer: &mut Writer, take: bool) -> Poll<Option<End>> {
        let taken = if take {
            writer.take_with(|queue| self.outbox.poll_take(cx, queue))
        } else {
            self.outbox.poll_kick(cx)
        };
        match taken {
            Poll::Ready(Taken::Kicked(kick)) => {
                return Poll::Ready(Some(End::Close {
                    code: kick.code,
                    reason: kick.reason,
                    discard: true,
                }))
            }
            Poll::Ready(Taken::Messages(_)) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        // Audio only while the socket has taken everything (a client that does not read fills
        // its listener's queue, which drops and counts).
        if let Some(listening) = &mut self.listening {
            if listening.poll_recording_stopped(cx).is_ready() {
                // Said at once (the dashboard stops showing "recording"), by a task of its own:
                // finding the signal's history entry waits for the database.
                let (recording, hub, id) = (listening.recording(), self.hub.clone(), self.id);
                tokio::task::spawn_local(async move {
                    let event = match recording.take_stopped().await {
                        Some(Ok(report)) => Event::Recorded(Box::new(report)),
                        Some(Err(message)) => Event::Error(ErrorReport {
                            code: "record_refused",
                            message: format!("the recording stopped: {message}"),
                        }),
                        None => return,
                    };
                    hub.reply(id, event).await;
                });
            }
        }
        if take {
            if let Some(listening) = &mut self.listening {
                let mut queued = false;
                let mut ended = false;
                for _ in 0..AUDIO_FRAMES_PER_TURN {
                    match listening.frames.poll_recv(cx) {
                        Poll::Ready(Some(frame)) => {
                            writer.push(Outgoing::control(frame));
                            queued = true;
                        }
                        Poll::Ready(None) => {
                            ended = true;
                            break;
                        }
                        Poll::Pending => break,
                    }
                }
                if ended {
                    let mut report = listening.report.clone();
                    report.active = false;
                    report.ended = Some(
                        "the listener stopped (the receiver changed its sample rate or went away)".into(),
                    );
                    self.listening = None;
                    self.reply_now(writer, Event::Listening(Box::new(report)));
                    return Poll::Ready(None);
                }
                if queued {
                    return Poll::Ready(None);
                }
            }
        }
        Poll::Pending
    }

    fn sent(&self, message: &Outgoing) {
        self.counters.record_sent(message);
    }

    fn attach(&mut self, gate: &Arc<Gate>) {
        self.outbox.set_direct(Box::new(DirectSocket {
            gate: gate.clone(),
            counters: self.counters.clone(),
        }));
    }
}

/// The hub's way to write this client's events at once (see [`crate::hub::outbox`]).
#[derive(Debug)]
struct DirectSocket {
    gate: Arc<Gate>,
    counters: Arc<Counters>,
}

impl DirectWrite for DirectSocket {
    fn write_now(&self, message: &Outgoing) -> Written {
        let written = self.gate.write_now(message);
        match written {
            Written::Whole => {
                self.counters.record_sent(message);
                self.counters.direct_writes.fetch_add(1, Ordering::Relaxed);
            }
            Written::Started => {
                self.counters
                    .direct_writes_partial
                    .fetch_add(1, Ordering::Relaxed);
            }
            Written::NotNow => {}
        }
        written
    }
}

impl Session {
    /// Answers a `ping` here, without the hub: thousands of clients pinging many times a second
    /// would otherwise each cost the hub task a command and two cross-thread wake-ups, in the
    /// queue the other clients' commands come through. The events already queued for this
    /// client go to the writer first and the pong after them, carrying the `seq` of the event
    /// before it; the transport writes them once the client's frames at hand are parsed. A
    /// client that pings without reading fills the writer until reading stops
    /// ([`WRITE_BACKLOG_BYTES`]).
    fn pong(&self, writer: &mut Writer) {
        let now = Timestamp::now();
        self.reply_now(writer, Event::Pong(Pong { server_time: now }));
    }

    /// Queues `event` for this client in the writer now, after the events already queued for
    /// it, numbered with the `seq` of the event before it (see [`Session::pong`]): a reply
    /// that must precede what the session writes next (the `listening` that precedes audio).
    fn reply_now(&self, writer: &mut Writer, event: Event) {
        let now = Timestamp::now();
        // A closed outbox means the hub has let go of the client; the session is ending.
        let _ = writer.take_with(|queue| {
            self.outbox.take_then_reply(queue, |seq| {
                let text = Envelope {
                    event: &event,
                    timestamp: now,
                    seq,
                }
                .to_json();
                Outgoing {
                    kind: Some(event.kind()),
                    frame: crate::frame::text(&text),
                    created_ns: now.0,
                    seq,
                }
            })
        });
    }

    /// Starts the client's listener (replacing the one it had): the `listening` answer goes
    /// into the writer before any audio frame.
    async fn listen(&mut self, request: &crate::audio::ListenRequest, writer: &mut Writer) {
        // The old listener's place is free before the new one asks for one; a recording it
        // was making is finished and announced first.
        if let Some(old) = self.listening.take() {
            if let Ok(report) = old.stop_recording().await {
                self.reply_now(writer, Event::Recorded(Box::new(report)));
            }
        }
        let outcome = match &self.audio {
            Some((service, access)) => service.listen(request, access),
            None => Err(ErrorReport {
                code: "listen_refused",
                message: "this server has no receivers to listen to (a gateway: listen on the node that runs the receiver)".into(),
            }),
        };
        match outcome {
            Ok(listening) => {
                let report = listening.report.clone();
                self.listening = Some(listening);
                writer.send_buffer_request = Some(LISTENER_SEND_BUFFER_BYTES);
                self.reply_now(writer, Event::Listening(Box::new(report)));
            }
            Err(error) => self.hub.reply(self.id, Event::Error(error)).await,
        }
    }

    async fn handle_text(&mut self, text: &str, writer: &mut Writer) {
        let (hub, id) = (&self.hub, self.id);
        match protocol::parse(text) {
            Ok(ClientMessage::Ping) => self.pong(writer),
            Ok(ClientMessage::Listen(request)) => self.listen(&request, writer).await,
            Ok(ClientMessage::Record(signal_id)) => {
                let outcome = match &self.listening {
                    Some(listening) => listening.record(signal_id).await,
                    None => Err("record: nothing is being listened to (send listen first)".into()),
                };
                if let Err(message) = outcome {
                    let error = ErrorReport {
                        code: "record_refused",
                        message,
                    };
                    hub.reply(id, Event::Error(error)).await;
                }
            }
            Ok(ClientMessage::RecordStop) => {
                let outcome = match &self.listening {
                    Some(listening) => listening.stop_recording().await,
                    None => Err("record_stop: nothing is being listened to".into()),
                };
                match outcome {
                    Ok(report) => self.reply_now(writer, Event::Recorded(Box::new(report))),
                    Err(message) => {
                        let error = ErrorReport {
                            code: "record_refused",
                            message,
                        };
                        hub.reply(id, Event::Error(error)).await;
                    }
                }
            }
            Ok(ClientMessage::Unlisten) => {
                // A recording in progress is finished and announced first.
                if let Some(listening) = &self.listening {
                    if let Ok(report) = listening.stop_recording().await {
                        self.reply_now(writer, Event::Recorded(Box::new(report)));
                    }
                }
                let report = match self.listening.take() {
                    Some(listening) => crate::events::ListeningReport {
                        active: false,
                        ..listening.report
                    },
                    None => {
                        let error = ErrorReport {
                            code: "not_listening",
                            message: "unlisten: nothing is being listened to".into(),
                        };
                        hub.reply(id, Event::Error(error)).await;
                        return;
                    }
                };
                self.reply_now(writer, Event::Listening(Box::new(report)));
            }
            Ok(ClientMessage::Subscribe(list)) => {
                if let Some(topic) = list.iter().find(|t| !self.allowed.contains(**t)) {
                    let error = ErrorReport {
                        code: "forbidden_topic",
                        message: format!("your token does not allow {}", topic.as_str()),
                    };
                    hub.reply(id, Event::Error(error)).await;
                    return;
                }
                let wanted = list.into_iter().fold(self.topics, TopicSet::with);
                let max = self.config.max_subscriptions;
                if wanted.topics().count() > max {
                    let error = ErrorReport {
                        code: "too_many_subscriptions",
                        message: format!(
                            "at most {max} topics at once (server.max_subscriptions); unsubscribe from one first"
                        ),
                    };
                    hub.reply(id, Event::Error(error)).await;
                    return;
                }
                self.topics = wanted;
                hub.set_topics(id, wanted).await;
            }
            Ok(ClientMessage::Unsubscribe(list)) => {
                self.topics = list.into_iter().fold(self.topics, TopicSet::without);
                hub.set_topics(id, self.topics).await;
            }
            Err(error) => hub.reply(id, Event::Error(error)).await,
        }
    }
}
