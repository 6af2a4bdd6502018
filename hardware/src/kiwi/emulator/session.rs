//! One connection to an emulated KiwiSDR: the status page or a WebSocket session, the
//! protocol's set-up, and the real-time IQ stream.

use super::stamps::frame_header;
use super::{
    lock, Admission, GpsMode, KiwiEmulatorConfig, Shared, AUDIO_RATE_HZ, KEEPALIVE_TIMEOUT,
    KEEPALIVE_TIMEOUT_UNAUTHENTICATED, MAX_CLIENT_MESSAGE, MAX_LAG_NS, POLL, REQUEST_TIMEOUT, TRUTH_FRAMES,
};
use crate::acquisition::now_ns;
use crate::kiwi::protocol::{self, encode_msg, encode_snd, parse_set, SAMPLES_PER_FRAME};
use crate::sim::{ReceiverGenerator, Scene};
use crate::source::IqBlock;
use num_complex::Complex32;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

pub(super) fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _peer)) => {
                shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                if let Ok(clone) = stream.try_clone() {
                    let mut streams = lock(&shared.streams);
                    streams.retain(|s| s.peer_addr().is_ok());
                    streams.push(clone);
                }
                let worker = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("kiwi-emu-conn".into())
                    .spawn(move || {
                        if let Err(error) = serve_connection(stream, &worker) {
                            tracing::debug!(%error, "emulated KiwiSDR connection ended");
                        }
                    });
                if let Ok(handle) = spawned {
                    let mut threads = lock(&shared.threads);
                    threads.retain(|t| !t.is_finished());
                    threads.push(handle);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(error) => {
                tracing::warn!(%error, "emulated KiwiSDR accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// Reads the request head without consuming it, so a WebSocket upgrade can be handed to
/// tungstenite intact.
fn peek_request(stream: &TcpStream) -> io::Result<String> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.peek(&mut buffer)?;
        let head = &buffer[..n];
        if head.windows(4).any(|w| w == b"\r\n\r\n") || n == buffer.len() {
            return Ok(String::from_utf8_lossy(head).into_owned());
        }
        if n == 0 || Instant::now() > deadline {
            return Err(io::Error::new(ErrorKind::TimedOut, "incomplete HTTP request"));
        }
        std::thread::sleep(POLL);
    }
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let head = peek_request(&stream)?;
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let upgrade = head.to_ascii_lowercase().contains("upgrade: websocket");
    let trimmed = path
        .strip_prefix("/kiwi")
        .or_else(|| path.strip_prefix("/ws"))
        .unwrap_or(&path);
    let is_sound = trimmed
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/SND"))
        .is_some_and(|ts| !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()));
    if path == "/status" {
        let mut sink = [0u8; 4096];
        let _ = stream.read(&mut sink)?;
        shared.counters.status_requests.fetch_add(1, Ordering::Relaxed);
        let body = status_page(shared);
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return stream.flush();
    }
    if !(is_sound && upgrade) {
        let mut sink = [0u8; 4096];
        let _ = stream.read(&mut sink)?;
        let body = "not found\n";
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return stream.flush();
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE));
    let socket = tungstenite::accept_with_config(stream, Some(config))
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, e.to_string()))?;
    shared.counters.sessions.fetch_add(1, Ordering::Relaxed);
    Session::new(socket, shared).run()
}

fn status_page(shared: &Shared) -> String {
    let config = &shared.config;
    let receiver = &config.scene.receivers()[config.receiver];
    let (gps_good, fixes) = match config.gps {
        GpsMode::Fix { .. } => (8, 1000),
        GpsMode::NoFix => (0, 0),
    };
    let offline = matches!(config.admission, Admission::Down);
    format!(
        "status={}\noffline={}\nname={}\nsdr_hw=KiwiSDR v1.800 (sdrhub emulator)\nusers={}\nusers_max={}\n\
         gps=({:.6}, {:.6})\ngps_good={gps_good}\nfixes={fixes}\nbands=0-30000000\nsw_version=KiwiSDR_v1.800\n\
         ant_connected=1\nadc_ov=0\n",
        if offline { "offline" } else { "active" },
        if offline { "yes" } else { "no" },
        receiver.name,
        shared.users.load(Ordering::Relaxed),
        config.channels,
        receiver.position.lat_deg,
        receiver.position.lon_deg,
    )
}

/// What the client has set so far.
#[derive(Debug, Default)]
struct ClientState {
    authenticated: bool,
    audio_ok: bool,
    frequency_hz: Option<f64>,
    iq: bool,
    agc_set: bool,
}

impl ClientState {
    fn ready(&self) -> bool {
        self.authenticated && self.audio_ok && self.frequency_hz.is_some() && self.iq && self.agc_set
    }
}

struct Session<'a> {
    socket: WebSocket<TcpStream>,
    shared: &'a Shared,
    client: ClientState,
    last_keepalive: Instant,
    counted_user: bool,
}

enum Next {
    Continue,
    Close,
}

impl<'a> Session<'a> {
    fn new(socket: WebSocket<TcpStream>, shared: &'a Shared) -> Self {
        Self {
            socket,
            shared,
            client: ClientState::default(),
            last_keepalive: Instant::now(),
            counted_user: false,
        }
    }

    fn config(&self) -> &KiwiEmulatorConfig {
        &self.shared.config
    }

    fn send(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        self.socket.send(Message::binary(bytes)).map_err(to_io)
    }

    fn msg(&mut self, pairs: &[(&str, Option<&str>)]) -> io::Result<()> {
        self.send(encode_msg(pairs))
    }

    fn run(mut self) -> io::Result<()> {
        let result = self.serve();
        if self.counted_user {
            self.shared.users.fetch_sub(1, Ordering::Relaxed);
        }
        let _ = self.socket.close(None);
        let _ = self.socket.flush();
        result
    }

    fn serve(&mut self) -> io::Result<()> {
        self.socket.get_mut().set_read_timeout(Some(POLL))?;
        self.msg(&[
            ("center_freq", Some("15000000")),
            ("bandwidth", Some("30000000")),
            ("adc_clk_nom", Some("66666600")),
        ])?;
        let rate = AUDIO_RATE_HZ.to_string();
        self.msg(&[("audio_init", Some("0")), ("audio_rate", Some(&rate))])?;
        while !self.client.ready() {
            if self.stopping() || self.keepalive_expired() {
                return Ok(());
            }
            if let Next::Close = self.poll_client()? {
                return Ok(());
            }
        }
        self.stream()
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    fn keepalive_expired(&self) -> bool {
        let limit = if self.client.authenticated {
            KEEPALIVE_TIMEOUT
        } else {
            KEEPALIVE_TIMEOUT_UNAUTHENTICATED
        };
        self.last_keepalive.elapsed() > limit
    }

    /// Reads and handles at most one client message (waiting up to the socket timeout).
    fn poll_client(&mut self) -> io::Result<Next> {
        let message = match self.socket.read() {
            Ok(message) => message,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                return Ok(Next::Continue)
            }
            Err(e) => return Err(to_io(e)),
        };
        match message {
            Message::Text(text) => self.command(text.as_str()),
            Message::Close(_) => Ok(Next::Close),
            _ => Ok(Next::Continue),
        }
    }

    fn command(&mut self, text: &str) -> io::Result<Next> {
        let Some(pairs) = parse_set(text) else {
            return Ok(Next::Continue);
        };
        let value = |name: &str| pairs.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v);
        match pairs.first().map(|(name, _)| *name) {
            Some("auth") => {
                self.shared.counters.auth_attempts.fetch_add(1, Ordering::Relaxed);
                let given = value("p").and_then(protocol::url_decode).unwrap_or_default();
                return self.authenticate(&given);
            }
            Some("keepalive") => {
                self.shared.counters.keepalives.fetch_add(1, Ordering::Relaxed);
                self.last_keepalive = Instant::now();
            }
            Some("AR") if !self.client.audio_ok => {
                self.client.audio_ok = true;
                let rate = format!("{:.6}", self.config().reported_rate_hz());
                self.msg(&[("sample_rate", Some(&rate))])?;
            }
            Some("mod") => {
                self.client.iq = value("mod") == Some("iq");
                if let Some(khz) = value("freq").and_then(|f| f.parse::<f64>().ok()) {
                    self.client.frequency_hz = Some(khz * 1e3);
                }
            }
            Some("agc") => self.client.agc_set = true,
            _ => {}
        }
        Ok(Next::Continue)
    }

    fn authenticate(&mut self, password: &str) -> io::Result<Next> {
        let config = self.config().clone();
        match &config.admission {
            Admission::Busy => {
                let channels = config.channels.to_string();
                self.msg(&[("too_busy", Some(&channels))])?;
                return Ok(Next::Close);
            }
            Admission::Down => {
                self.msg(&[("down", None)])?;
                return Ok(Next::Close);
            }
            Admission::Redirect(url) => {
                self.msg(&[("redirect", Some(url))])?;
                return Ok(Next::Close);
            }
            Admission::Open => {}
        }
        if config
            .password
            .as_deref()
            .is_some_and(|expected| expected != password)
        {
            self.msg(&[("badp", Some("1"))])?;
            return Ok(Next::Close);
        }
        self.client.authenticated = true;
        self.counted_user = true;
        self.shared.users.fetch_add(1, Ordering::Relaxed);
        let channels = config.channels.to_string();
        self.msg(&[("badp", Some("0"))])?;
        self.msg(&[("rx_chans", Some(&channels))])?;
        self.msg(&[("version_maj", Some("1")), ("version_min", Some("800"))])?;
        let receiver = &config.scene.receivers()[config.receiver];
        let position = if config.announce_position {
            format!(
                "({:.6}, {:.6})",
                receiver.position.lat_deg, receiver.position.lon_deg
            )
        } else {
            "(0, 0)".to_string()
        };
        let cfg = serde_json::json!({
            "rx_name": receiver.name,
            "rx_gps": position,
            "rx_antenna": "emulated",
            "rx_asl": 0,
        })
        .to_string();
        // load_cfg is URL-encoded JSON, like every MSG value (encode_msg encodes it).
        self.msg(&[("load_cfg", Some(&cfg))])?;
        Ok(Next::Continue)
    }

    /// Streams IQ frames in real time until the client leaves or the emulator stops.
    fn stream(&mut self) -> io::Result<()> {
        let config = self.config().clone();
        let fs = config.true_rate_hz();
        let reported = config.reported_rate_hz();
        let center = self
            .client
            .frequency_hz
            .unwrap_or(config.scene.config().center_frequency_hz);
        let mut generator = session_generator(&config, center, fs)?;
        self.shared
            .counters
            .streaming_sessions
            .fetch_add(1, Ordering::Relaxed);
        let frame = SAMPLES_PER_FRAME as u64;
        let time_of = |k: u64| config.epoch_ns + (k as f64 * 1e9 / fs).round() as i64;
        // Start at the next frame boundary of the receiver's timeline.
        let elapsed_s = ((now_ns() - config.epoch_ns) as f64 * 1e-9).max(0.0);
        let mut k = ((elapsed_s * fs) / frame as f64).ceil() as u64 * frame;
        let mut sequence: u32 = 1000 + (self.shared.counters.sessions.load(Ordering::Relaxed) as u32) * 7;
        let mut frames: u64 = 0;
        let mut block = IqBlock::with_capacity(SAMPLES_PER_FRAME);
        let mut stale = true;
        let mut buffer = Vec::with_capacity(protocol::SND_IQ_HEADER_LEN + frame as usize * 4);
        loop {
            if self.stopping() || self.keepalive_expired() {
                return Ok(());
            }
            let due = time_of(k + frame);
            let now = now_ns();
            if now < due {
                let wait = Duration::from_nanos((due - now) as u64).min(POLL);
                self.socket
                    .get_mut()
                    .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
                if let Next::Close = self.poll_client()? {
                    return Ok(());
                }
                continue;
            }
            if now - due > MAX_LAG_NS {
                // Fell behind (starved of CPU, or the client stopped reading): skip, as the
                // receiver's buffer would overflow, and let the client see the gap.
                let behind = ((now - due) as f64 * 1e-9 * fs / frame as f64).floor() as u64;
                k += behind * frame;
                sequence = sequence.wrapping_add(behind as u32);
                continue;
            }
            frames += 1;
            let every = |n: Option<u64>| n.is_some_and(|n| n > 0 && frames % n == 0);
            let faults = config.faults;
            if every(faults.text_every) {
                self.socket
                    .send(Message::text("SND this is not a binary frame"))
                    .map_err(to_io)?;
            }
            if every(faults.truncated_every) {
                self.send(b"SND\x08\x01\x02".to_vec())?;
            }
            if every(faults.unknown_tag_every) {
                self.send(b"XYZ garbage".to_vec())?;
            }
            if faults.oversized_after == Some(frames) {
                self.send(vec![b'S'; 256 * 1024])?;
            }
            generator.seek(k);
            generator.fill(&mut block, SAMPLES_PER_FRAME);
            let true_time = time_of(k);
            let header = frame_header(
                &config,
                sequence,
                frames,
                k,
                true_time,
                fs,
                reported,
                every(faults.overflow_every),
            );
            if stale {
                // The first frame after connect carries stale data, as on a real receiver.
                block
                    .samples
                    .iter_mut()
                    .for_each(|s| *s = Complex32::new(0.0, 0.0));
                stale = false;
            }
            if !every(faults.drop_every) {
                encode_snd(&header, &block.samples, &mut buffer);
                {
                    // Recorded before sending, so a client never sees a frame without its truth.
                    let mut truth = lock(&self.shared.truth);
                    if truth.len() == TRUTH_FRAMES {
                        truth.pop_front();
                    }
                    truth.push_back((sequence, true_time));
                }
                self.send(std::mem::take(&mut buffer))?;
                self.shared.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
            }
            sequence = sequence.wrapping_add(1);
            k += frame;
        }
    }
}

/// A generator of the scene as the receiver hears it tuned to `center_hz` at `fs`:
/// transmitters outside the passband are left out.
fn session_generator(config: &KiwiEmulatorConfig, center_hz: f64, fs: f64) -> io::Result<ReceiverGenerator> {
    let mut scene = config.scene.config().clone();
    scene.center_frequency_hz = center_hz;
    scene.sample_rate_hz = fs;
    scene.block_samples = SAMPLES_PER_FRAME;
    scene
        .transmitters
        .retain(|t| (t.frequency_hz - center_hz).abs() + t.bandwidth_hz / 2.0 < 0.45 * fs);
    let scene = Scene::new(scene).map_err(|e| io::Error::new(ErrorKind::InvalidInput, e.to_string()))?;
    Ok(scene.generator(config.receiver, config.epoch_ns))
}

fn to_io(error: tungstenite::Error) -> io::Error {
    match error {
        tungstenite::Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}
