//! The KiwiSDR client source: one receiver channel in IQ mode over a blocking WebSocket, driven
//! by the acquisition thread like every other [`IqSource`].

use super::gps::{FrameTime, GpsClock};
pub use super::link::{KiwiLink, TimingStatus};
use super::protocol::{
    self, command, decode_iq, interpret, msg_pairs, parse_frame, Frame, FrameError, KiwiMessage, SndHeader,
    MAX_FRAME_BYTES, NO_GPS_FIX, SAMPLES_PER_FRAME,
};
use crate::acquisition::now_ns;
use crate::recording::GpsStamp;
use crate::source::{IqBlock, IqSource, ReadOutcome, ReceiverInfo, SourceBuilder, SourceError, SourceKind};
use sdrhub_dsp::geo::GeoPoint;
use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// The KiwiSDR's default HTTP/WebSocket port.
pub const DEFAULT_PORT: u16 = 8073;
/// Nominal IQ rate of a KiwiSDR channel, Hz; the real rate arrives in `MSG sample_rate`.
pub const NOMINAL_RATE_HZ: f64 = 12_000.0;
/// The server drops a client after 60 s without a keepalive; once a second is what the public
/// clients send.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one socket read may block, so keepalives and timeouts stay on time.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Consecutive unusable frames after which the connection is dropped and reopened: a server
/// that sends nothing but garbage is broken, and a fresh session may recover it.
const MAX_CONSECUTIVE_BAD_FRAMES: u32 = 100;
/// A write that cannot complete in this long means the connection is dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a KiwiSDR listens: `kiwi://host:port`, `http://host:port`, `ws://host:port` or
/// `host[:port]` (port 8073 when omitted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KiwiUrl {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl FromStr for KiwiUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let rest = ["kiwi://", "http://", "ws://"]
            .iter()
            .find_map(|scheme| text.strip_prefix(scheme))
            .unwrap_or(text);
        if rest.contains("://") {
            return Err(format!(
                "{text:?}: unsupported scheme (use kiwi://host:port or http://host:port)"
            ));
        }
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') || authority.contains('?') {
            return Err(format!("{text:?}: give only host and port, without a path"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port: u16 = port
                    .parse()
                    .map_err(|_| format!("{text:?}: port {port:?} is not a number in 1..=65535"))?;
                (host, port)
            }
            _ => (authority, DEFAULT_PORT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(format!("{text:?}: needs a host and a port in 1..=65535"));
        }
        Ok(KiwiUrl {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for KiwiUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "kiwi://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "kiwi://{}:{}", self.host, self.port)
        }
    }
}

impl KiwiUrl {
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The status page, `http://host:port/status`.
    pub fn status_url(&self) -> String {
        format!("http://{}/status", self.authority())
    }

    /// The IQ stream endpoint, `ws://host:port/<ts>/SND`.
    pub fn sound_url(&self, ts: u64) -> String {
        format!("ws://{}/{ts}/SND", self.authority())
    }
}

/// One KiwiSDR channel to stream.
#[derive(Debug, Clone, PartialEq)]
pub struct KiwiConfig {
    /// Stable id.
    pub id: String,
    /// Human-readable name; empty: the receiver's own name, else the id.
    pub name: String,
    /// Where it listens.
    pub url: KiwiUrl,
    /// Password (empty for public receivers).
    pub password: String,
    /// Centre frequency, Hz (a KiwiSDR covers 0-30 MHz).
    pub frequency_hz: f64,
    /// Antenna position; `None`: the receiver's own `rx_gps`.
    pub position: Option<GeoPoint>,
    /// The name shown to the operator in the receiver's user list.
    pub user: String,
    /// IQ passband, Hz below and above the centre.
    pub low_cut_hz: i32,
    /// See `low_cut_hz`.
    pub high_cut_hz: i32,
    /// Manual gain, dB (AGC off, so powers compare between receivers and over time).
    pub manual_gain_db: u32,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// From TCP connect to the first IQ frame.
    pub setup_timeout: Duration,
    /// A connection with no frame for this long is dead (a KiwiSDR sends ~23 frames/s).
    pub stall_timeout: Duration,
}

impl KiwiConfig {
    /// A config with the defaults for everything but the essentials.
    pub fn new(id: impl Into<String>, url: KiwiUrl, frequency_hz: f64) -> Self {
        Self {
            id: id.into(),
            name: String::new(),
            url,
            password: String::new(),
            frequency_hz,
            position: None,
            user: "sdrhub".into(),
            low_cut_hz: -5000,
            high_cut_hz: 5000,
            manual_gain_db: 50,
            connect_timeout: Duration::from_secs(5),
            setup_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(3),
        }
    }
}

/// Opens sessions to one KiwiSDR channel.
#[derive(Debug)]
pub struct KiwiBuilder {
    config: KiwiConfig,
    link: Arc<KiwiLink>,
    redirect: Option<KiwiUrl>,
}

impl KiwiBuilder {
    /// A builder for `config`.
    ///
    /// # Errors
    /// [`SourceError::Config`] for a frequency outside 0-32 MHz or an empty passband.
    pub fn new(config: KiwiConfig) -> Result<Self, SourceError> {
        if !(config.frequency_hz.is_finite() && (0.0..=32e6).contains(&config.frequency_hz)) {
            return Err(SourceError::Config(format!(
                "frequency {} Hz is outside a KiwiSDR's 0-32 MHz",
                config.frequency_hz
            )));
        }
        if config.low_cut_hz >= config.high_cut_hz {
            return Err(SourceError::Config(format!(
                "passband {}..{} Hz is empty",
                config.low_cut_hz, config.high_cut_hz
            )));
        }
        Ok(Self {
            config,
            link: Arc::new(KiwiLink::default()),
            redirect: None,
        })
    }

    /// The link's live facts, for status reporting.
    pub fn link(&self) -> Arc<KiwiLink> {
        self.link.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &KiwiConfig {
        &self.config
    }
}

impl SourceBuilder for KiwiBuilder {
    fn info(&self) -> ReceiverInfo {
        let name = if !self.config.name.is_empty() {
            self.config.name.clone()
        } else {
            self.link.name().unwrap_or_else(|| self.config.id.clone())
        };
        ReceiverInfo {
            id: Arc::from(self.config.id.as_str()),
            name,
            kind: SourceKind::Kiwisdr,
            position: self.config.position.or_else(|| self.link.position()),
            center_hz: self.config.frequency_hz,
            sample_rate_hz: self
                .link
                .measured_rate_hz()
                .or_else(|| self.link.reported_rate_hz())
                .unwrap_or(NOMINAL_RATE_HZ),
        }
    }

    fn open(&mut self) -> Result<Box<dyn IqSource>, SourceError> {
        let url = self.redirect.take().unwrap_or_else(|| self.config.url.clone());
        self.link.attempts.fetch_add(1, Ordering::Relaxed);
        match KiwiSource::connect(&self.config, &url, self.link.clone()) {
            Ok(source) => {
                self.link.session_started();
                Ok(Box::new(source))
            }
            Err(Refusal::Redirect(target)) => {
                let error = SourceError::Refused(format!("{url} redirects clients to {target}"));
                match target.parse::<KiwiUrl>() {
                    Ok(next) => self.redirect = Some(next),
                    Err(problem) => tracing::warn!(%problem, "ignoring an unusable redirect"),
                }
                self.link.detail().refusal = Some(error.to_string());
                Err(error)
            }
            Err(Refusal::Error(error)) => {
                if let SourceError::Refused(reason) = &error {
                    self.link.detail().refusal = Some(reason.clone());
                }
                Err(error)
            }
        }
    }
}

pub(super) enum Refusal {
    Redirect(String),
    Error(SourceError),
}

impl From<SourceError> for Refusal {
    fn from(error: SourceError) -> Self {
        Refusal::Error(error)
    }
}

/// A streaming session with one KiwiSDR channel.
#[derive(Debug)]
pub struct KiwiSource {
    socket: WebSocket<TcpStream>,
    link: Arc<KiwiLink>,
    id: Arc<str>,
    center_hz: f64,
    clock: GpsClock,
    /// Stream sample index of the next frame's first sample.
    next_sample: u64,
    last_sequence: Option<u32>,
    block_seq: u64,
    pending_discontinuity: bool,
    last_keepalive: Instant,
    last_frame: Instant,
    bad_frames_in_a_row: u32,
    stall_timeout: Duration,
    last_time: Option<FrameTime>,
}

impl KiwiSource {
    pub(super) fn connect(config: &KiwiConfig, url: &KiwiUrl, link: Arc<KiwiLink>) -> Result<Self, Refusal> {
        let deadline = Instant::now() + config.setup_timeout;
        let address = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| SourceError::Open(format!("{url}: cannot resolve the host: {e}")))?
            .next()
            .ok_or_else(|| SourceError::Open(format!("{url}: the host has no address")))?;
        let stream = TcpStream::connect_timeout(&address, config.connect_timeout)
            .map_err(|e| SourceError::Open(format!("{url}: cannot connect: {e}")))?;
        let setup = |e: std::io::Error| SourceError::Open(format!("{url}: socket set-up failed: {e}"));
        stream.set_nodelay(true).map_err(setup)?;
        stream.set_read_timeout(Some(POLL_INTERVAL)).map_err(setup)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT)).map_err(setup)?;
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        // Any decimal number works as the path's timestamp; clients use a time-derived one.
        let ts = (now_ns() / 1_000_000) as u64 % u64::from(u32::MAX);
        let mut attempt = tungstenite::client::client_with_config(url.sound_url(ts), stream, Some(ws_config));
        let socket = loop {
            match attempt {
                Ok((socket, _response)) => break socket,
                Err(HandshakeError::Interrupted(mid)) => {
                    if Instant::now() > deadline {
                        return Err(SourceError::Open(format!("{url}: WebSocket handshake timed out")).into());
                    }
                    attempt = mid.handshake();
                }
                Err(HandshakeError::Failure(e)) => {
                    return Err(SourceError::Open(format!("{url}: WebSocket handshake failed: {e}")).into())
                }
            }
        };
        let mut source = KiwiSource {
            socket,
            link,
            id: Arc::from(config.id.as_str()),
            center_hz: config.frequency_hz,
            clock: GpsClock::new(NOMINAL_RATE_HZ),
            next_sample: 0,
            last_sequence: None,
            block_seq: 0,
            pending_discontinuity: false,
            last_keepalive: Instant::now(),
            last_frame: Instant::now(),
            bad_frames_in_a_row: 0,
            stall_timeout: config.stall_timeout,
            last_time: None,
        };
        source.set_up(config, url, deadline)?;
        Ok(source)
    }

    /// Authenticates, answers the audio rate, configures IQ mode and waits for the first frame
    /// (which carries stale data and is dropped).
    fn set_up(&mut self, config: &KiwiConfig, url: &KiwiUrl, deadline: Instant) -> Result<(), Refusal> {
        self.send(&command::auth(&config.password))?;
        let mut authenticated = false;
        let mut configured = false;
        loop {
            if Instant::now() > deadline {
                let stage = if !authenticated {
                    "authentication"
                } else if !configured {
                    "the sample rate"
                } else {
                    "the first IQ frame"
                };
                return Err(SourceError::Open(format!("{url}: timed out waiting for {stage}")).into());
            }
            self.keepalive_if_due()?;
            let message = match self.socket.read() {
                Ok(message) => message,
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => continue,
                Err(e) => {
                    return Err(
                        SourceError::Open(format!("{url}: connection lost during set-up: {e}")).into(),
                    )
                }
            };
            let payload = match message {
                Message::Binary(payload) => payload,
                Message::Close(frame) => {
                    let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(SourceError::Open(format!(
                        "{url}: closed the connection during set-up {why}"
                    ))
                    .into());
                }
                Message::Text(_) => {
                    self.link.text_frames.fetch_add(1, Ordering::Relaxed);
                    self.link
                        .problem("text frame from the server (protocol violation)".into());
                    continue;
                }
                _ => continue,
            };
            match parse_frame(&payload) {
                Ok(Frame::Msg(body)) => {
                    for (name, value) in msg_pairs(body) {
                        match interpret(name, value.as_deref()) {
                            KiwiMessage::AuthOk => authenticated = true,
                            KiwiMessage::AudioRate(rate) => self.send(&command::audio_rate_ok(rate))?,
                            KiwiMessage::SampleRate(rate) => {
                                self.set_reported_rate(rate);
                                if !configured {
                                    for text in command::iq_setup(
                                        &config.user,
                                        config.frequency_hz,
                                        config.low_cut_hz,
                                        config.high_cut_hz,
                                        config.manual_gain_db,
                                    ) {
                                        self.send(&text)?;
                                    }
                                    configured = true;
                                }
                            }
                            KiwiMessage::Redirect(target) => return Err(Refusal::Redirect(target)),
                            other => refusal(&other).map_or(Ok(()), Err)?,
                        }
                        self.note_message(name, value.as_deref());
                    }
                }
                Ok(Frame::Snd { header, .. }) if configured => {
                    // The first frame holds stale samples from before our settings: drop it,
                    // but count its samples so the timeline starts right after it. Its stamp
                    // (often zero, or stale) still goes to the clock, which rejects it.
                    self.last_sequence = Some(header.sequence);
                    self.clock.frame_time(0, &header, now_ns());
                    self.next_sample = SAMPLES_PER_FRAME as u64;
                    self.last_frame = Instant::now();
                    return Ok(());
                }
                Ok(_) => {}
                Err(error) => self.bad_frame(&error),
            }
        }
    }

    fn set_reported_rate(&mut self, rate: f64) {
        self.clock.set_reported_rate(rate);
        self.link.detail().reported_rate_hz = Some(rate);
    }

    /// Records what the receiver tells about itself.
    fn note_message(&self, name: &str, value: Option<&str>) {
        match interpret(name, value) {
            KiwiMessage::RxChannels(n) => self.link.channels.store(n, Ordering::Relaxed),
            KiwiMessage::Config { position, name } => {
                let mut detail = self.link.detail();
                if position.is_some() {
                    detail.position = position;
                }
                if name.is_some() {
                    detail.name = name;
                }
            }
            _ => {}
        }
    }

    fn send(&mut self, text: &str) -> Result<(), SourceError> {
        self.socket
            .send(Message::text(text))
            .map_err(|e| SourceError::Stream(format!("cannot send to the receiver: {e}")))
    }

    fn keepalive_if_due(&mut self) -> Result<(), SourceError> {
        if self.last_keepalive.elapsed() >= KEEPALIVE_INTERVAL {
            self.last_keepalive = Instant::now();
            self.send(command::KEEPALIVE)?;
        }
        Ok(())
    }

    fn bad_frame(&mut self, error: &FrameError) {
        let counter = match error {
            FrameError::Oversized(_) => &self.link.oversized_frames,
            _ => &self.link.malformed_frames,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.bad_frames_in_a_row += 1;
        self.link.problem(format!("unusable frame: {error}"));
    }

    /// The Kiwi frame sequence number of the last frame delivered (tests compare it with the
    /// emulator's record of what it sent).
    pub fn last_sequence(&self) -> Option<u32> {
        self.last_sequence
    }

    /// The sample rate in use, Hz: measured between GPS anchors, or the reported one.
    pub fn rate_hz(&self) -> f64 {
        self.clock.rate_hz()
    }

    /// The GPS clock, for inspection.
    pub fn clock(&self) -> &GpsClock {
        &self.clock
    }

    /// Handles one IQ frame; `true` when `block` was filled.
    fn on_iq(&mut self, header: SndHeader, samples: &[u8], block: &mut IqBlock) -> bool {
        let count = samples.len() / protocol::BYTES_PER_IQ_SAMPLE;
        let mut discontinuity = std::mem::take(&mut self.pending_discontinuity);
        if let Some(previous) = self.last_sequence {
            let step = header.sequence.wrapping_sub(previous);
            if step == 0 || step > u32::MAX / 2 {
                // A repeated or backward sequence number: the server restarted its stream.
                self.link
                    .problem(format!("sequence went from {previous} to {}", header.sequence));
                self.clock.reset();
                discontinuity = true;
            } else if step > 1 {
                let lost = u64::from(step - 1);
                self.link.frames_lost.fetch_add(lost, Ordering::Relaxed);
                // Lost frames still took their time: keep the timeline counting them.
                self.next_sample += lost * SAMPLES_PER_FRAME as u64;
                discontinuity = true;
            }
        }
        if header.flags & protocol::flags::RESTART != 0 {
            self.clock.reset();
            discontinuity = true;
        }
        self.last_sequence = Some(header.sequence);
        let time = self.clock.frame_time(self.next_sample, &header, now_ns());
        self.next_sample += count as u64;
        self.last_time = Some(time);

        let link = &self.link;
        link.frames.fetch_add(1, Ordering::Relaxed);
        if header.adc_overflow() {
            link.adc_overflows.fetch_add(1, Ordering::Relaxed);
        }
        link.smeter_bits
            .store(header.smeter_dbm().to_bits(), Ordering::Relaxed);
        link.fix_age_s
            .store(time.fix_age_s.unwrap_or(NO_GPS_FIX), Ordering::Relaxed);
        link.gps_locked.store(time.gps_locked, Ordering::Relaxed);
        if self.clock.rate_measured() {
            link.measured_rate_bits
                .store(self.clock.rate_hz().to_bits(), Ordering::Relaxed);
        }
        link.detail().timing = TimingStatus {
            fit: self.clock.fit().copied(),
            announced_rate_hz: Some(self.clock.reported_rate_hz()),
            rejected: self.clock.rejected_anchors(),
            problem: self.clock.problem().map(|p| p.to_string()),
        };

        block.receiver_id = self.id.clone();
        block.center_hz = self.center_hz;
        block.sample_rate_hz = self.clock.rate_hz();
        block.time_ns = time.time_ns;
        block.gps_locked = time.gps_locked;
        block.seq = self.block_seq;
        block.discontinuity = discontinuity;
        block.receiver_stamp = Some(GpsStamp {
            last_gps_solution: header.last_gps_solution,
            gps_sec: header.gps_sec,
            gps_nsec: header.gps_nsec,
        });
        block.samples.clear();
        decode_iq(
            samples,
            header.flags & protocol::flags::LITTLE_ENDIAN != 0,
            &mut block.samples,
        );
        self.block_seq += 1;
        true
    }

    /// The time and GPS state of the last frame delivered.
    pub fn last_time(&self) -> Option<FrameTime> {
        self.last_time
    }
}

impl Drop for KiwiSource {
    fn drop(&mut self) {
        self.link.connected.store(false, Ordering::Release);
        // Best effort: tell the server we are leaving so our channel frees at once.
        let _ = self.socket.close(None);
        let _ = self.socket.flush();
    }
}

/// The refusal a message means, if any.
fn refusal(message: &KiwiMessage) -> Option<Refusal> {
    let reason = match message {
        KiwiMessage::TooBusy(0) => "too busy: no free channel".to_string(),
        KiwiMessage::TooBusy(n) => format!("too busy: all {n} channels are in use"),
        KiwiMessage::BadPassword(1) => "password refused (or no channel free for this password)".to_string(),
        KiwiMessage::BadPassword(5) => "refused: only one connection per client address".to_string(),
        KiwiMessage::BadPassword(code) => format!("refused by the receiver (badp={code})"),
        KiwiMessage::Down => "the receiver is down for maintenance".to_string(),
        _ => return None,
    };
    Some(Refusal::Error(SourceError::Refused(reason)))
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl IqSource for KiwiSource {
    fn read(&mut self, block: &mut IqBlock, timeout: Duration) -> Result<ReadOutcome, SourceError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.keepalive_if_due()?;
            if self.bad_frames_in_a_row >= MAX_CONSECUTIVE_BAD_FRAMES {
                return Err(SourceError::Stream(format!(
                    "{} unusable frames in a row; reconnecting",
                    self.bad_frames_in_a_row
                )));
            }
            let message = match self.socket.read() {
                Ok(message) => message,
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                    let silent = self.last_frame.elapsed();
                    if silent > self.stall_timeout {
                        return Err(SourceError::Stream(format!(
                            "no data from the receiver for {:.1} s",
                            silent.as_secs_f64()
                        )));
                    }
                    if Instant::now() >= deadline {
                        return Ok(ReadOutcome::Timeout);
                    }
                    continue;
                }
                Err(tungstenite::Error::Capacity(e)) => {
                    self.link.oversized_frames.fetch_add(1, Ordering::Relaxed);
                    self.link.problem(format!("oversized frame: {e}"));
                    return Err(SourceError::Stream(format!(
                        "the receiver sent an oversized frame ({e})"
                    )));
                }
                Err(tungstenite::Error::Protocol(e)) => {
                    self.link.malformed_frames.fetch_add(1, Ordering::Relaxed);
                    self.link.problem(format!("WebSocket protocol error: {e}"));
                    return Err(SourceError::Stream(format!("WebSocket protocol error: {e}")));
                }
                Err(tungstenite::Error::Utf8(e)) => {
                    self.link.text_frames.fetch_add(1, Ordering::Relaxed);
                    self.link.problem(format!("text frame that is not UTF-8: {e}"));
                    self.bad_frames_in_a_row += 1;
                    continue;
                }
                Err(e) => return Err(SourceError::Stream(format!("connection lost: {e}"))),
            };
            match message {
                Message::Binary(payload) => {
                    self.last_frame = Instant::now();
                    match parse_frame(&payload) {
                        Ok(Frame::Snd { header, samples }) => {
                            self.bad_frames_in_a_row = 0;
                            if self.on_iq(header, samples, block) {
                                return Ok(ReadOutcome::Block);
                            }
                        }
                        Ok(Frame::Msg(body)) => {
                            self.bad_frames_in_a_row = 0;
                            for (name, value) in msg_pairs(body) {
                                let message = interpret(name, value.as_deref());
                                if let KiwiMessage::SampleRate(rate) = message {
                                    self.set_reported_rate(rate);
                                } else if let Some(Refusal::Error(error)) = refusal(&message) {
                                    self.link.detail().refusal = Some(error.to_string());
                                    return Err(error);
                                }
                                self.note_message(name, value.as_deref());
                            }
                        }
                        Ok(Frame::Waterfall | Frame::Ext) => self.bad_frames_in_a_row = 0,
                        Err(error) => {
                            self.pending_discontinuity = true;
                            self.bad_frame(&error);
                        }
                    }
                }
                Message::Text(text) => {
                    self.link.text_frames.fetch_add(1, Ordering::Relaxed);
                    self.bad_frames_in_a_row += 1;
                    let shown: String = text.chars().take(40).collect();
                    self.link.problem(format!(
                        "text frame from the server (protocol violation): {shown:?}"
                    ));
                }
                Message::Close(frame) => {
                    let why = frame
                        .map(|f| format!(" ({} {})", u16::from(f.code), f.reason))
                        .unwrap_or_default();
                    return Err(SourceError::Stream(format!(
                        "the receiver closed the connection{why}"
                    )));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }
}
