//! A KiwiSDR emulator: serves one receiver of a simulated [`Scene`] as a KiwiSDR on loopback,
//! speaking the real protocol (binary `MSG`/`SND` frames, the session sequence, `rx_gps` in
//! `load_cfg`, GPS timestamps, `GET /status`), so sdrhub's client, the public `kiwirecorder`
//! and tests can stream from it with no network.
//!
//! Timing is the scene's: the receiver's ADC clock runs at [`KIWI_RATE_HZ`] off by
//! `clock_ppm`, sample K of the stream is taken at `epoch + K / fs_true`, and the receiver's
//! propagation delays come from the scene. GPS solutions happen every `solution_interval_s`:
//! the first frame after a solution carries the exact time of its first sample and "0 s since
//! the last solution"; later frames carry the receiver's extrapolation with the rate it
//! reports in `MSG sample_rate` (off by `reported_rate_error_ppm`), as a real receiver's stamps
//! drift between solutions. [`KiwiEmulator::frame_time_ns`] gives the truth for any frame.
//!
//! Faults for tests: a busy or down receiver, a password, lost frames, ADC overflows, and
//! malformed, text, truncated and oversized frames ([`Faults`]).

use super::gps::unix_ns_to_gps_week;
use super::protocol::{self, encode_msg, encode_snd, parse_set, SndHeader, SAMPLES_PER_FRAME};
use crate::acquisition::now_ns;
use crate::sim::ReceiverGenerator;
use crate::sim::{Scene, SceneConfig};
use crate::source::IqBlock;
use num_complex::Complex32;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// A typical real KiwiSDR IQ rate, Hz (66.6666 MHz ADC clock, decimated).
pub const KIWI_RATE_HZ: f64 = 12_001.135;
/// The nominal rate announced in `audio_rate`.
const AUDIO_RATE_HZ: u32 = 12_000;
/// Idle loops look at the stop flag this often.
const POLL: Duration = Duration::from_millis(10);
/// A connection must finish its HTTP request in this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The server drops a client this long without a keepalive (20 s before authentication).
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT_UNAUTHENTICATED: Duration = Duration::from_secs(20);
/// A session this far behind its schedule skips frames (a sequence gap) rather than bursting.
const MAX_LAG_NS: i64 = 1_000_000_000;
/// Frame times remembered for [`KiwiEmulator::frame_time_ns`].
const TRUTH_FRAMES: usize = 4096;
/// The largest frame the emulator accepts from a client.
const MAX_CLIENT_MESSAGE: usize = 4096;

/// How the receiver answers a new client.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Admission {
    /// Serves it.
    #[default]
    Open,
    /// `MSG too_busy=<channels>`.
    Busy,
    /// `MSG down`.
    Down,
    /// `MSG redirect=<url>`.
    Redirect(String),
}

/// The receiver's GPS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GpsMode {
    /// A solution every `solution_interval_s` (at least 2 s, so "seconds since the last
    /// solution" can drop).
    Fix {
        /// Seconds between solutions.
        solution_interval_s: f64,
    },
    /// No fix yet: 255 and zero stamps.
    NoFix,
}

/// Faults injected into the stream, each every N frames (`None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Skip sending a frame (the client sees a sequence gap).
    pub drop_every: Option<u64>,
    /// Set the ADC overflow flag.
    pub overflow_every: Option<u64>,
    /// Send a text frame (which the protocol never has) before the frame.
    pub text_every: Option<u64>,
    /// Send an `SND` frame cut off inside its header.
    pub truncated_every: Option<u64>,
    /// Send a binary frame with an unknown tag.
    pub unknown_tag_every: Option<u64>,
    /// Send one 256 KiB frame after this many frames.
    pub oversized_after: Option<u64>,
}

/// One emulated KiwiSDR.
#[derive(Debug, Clone)]
pub struct KiwiEmulatorConfig {
    /// The scene; its receiver `receiver` is the one served.
    pub scene: Scene,
    /// Which receiver of the scene.
    pub receiver: usize,
    /// The scene epoch (ns since the Unix epoch), shared by every emulated receiver of the
    /// scene so their signals are mutually consistent.
    pub epoch_ns: i64,
    /// Address to listen on (loopback; port 0 picks a free one).
    pub bind: SocketAddr,
    /// Password; `None`: public.
    pub password: Option<String>,
    /// Receiver channels (`rx_chans`, `users_max`).
    pub channels: u32,
    /// How new clients are answered.
    pub admission: Admission,
    /// ADC clock error, ppm: the true rate is `KIWI_RATE_HZ * (1 + ppm)`.
    pub clock_ppm: f64,
    /// Error of the rate announced in `MSG sample_rate`, ppm, relative to the true rate.
    pub reported_rate_error_ppm: f64,
    /// The GPS.
    pub gps: GpsMode,
    /// Injected faults.
    pub faults: Faults,
    /// Announce `rx_gps` in `load_cfg` (a receiver whose operator set no position sends
    /// `(0, 0)`).
    pub announce_position: bool,
}

impl KiwiEmulatorConfig {
    /// Serves receiver `receiver` of `scene` on `127.0.0.1:0` with a good GPS.
    pub fn new(scene: Scene, receiver: usize, epoch_ns: i64) -> Self {
        Self {
            scene,
            receiver,
            epoch_ns,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            password: None,
            channels: 4,
            admission: Admission::Open,
            clock_ppm: 0.0,
            reported_rate_error_ppm: 0.0,
            gps: GpsMode::Fix {
                solution_interval_s: 2.0,
            },
            faults: Faults::default(),
            announce_position: true,
        }
    }

    /// The ADC's true sample rate, Hz.
    pub fn true_rate_hz(&self) -> f64 {
        KIWI_RATE_HZ * (1.0 + self.clock_ppm * 1e-6)
    }

    /// The rate announced in `MSG sample_rate`, Hz (as sent, 6 decimals).
    pub fn reported_rate_hz(&self) -> f64 {
        let rate = self.true_rate_hz() * (1.0 + self.reported_rate_error_ppm * 1e-6);
        (rate * 1e6).round() / 1e6
    }
}

/// An HF scene for the emulator: five receivers hundreds of km apart in France, listening at
/// 10 MHz +- 6 kHz, with a continuous carrier and 2 kHz-wide data bursts (MSK) that TDOA can
/// time. The sample rate is [`KIWI_RATE_HZ`].
pub fn hf_scene() -> SceneConfig {
    use crate::sim::{PathLossConfig, ScheduleConfig, SignalKind, SimReceiverConfig, TransmitterConfig};
    let receiver = |id: &str, name: &str, latitude: f64, longitude: f64| SimReceiverConfig {
        id: id.into(),
        name: name.into(),
        latitude,
        longitude,
        frequency_offset_hz: 0.0,
        gps_locked: true,
    };
    SceneConfig {
        enabled: Some(true),
        seed: 7,
        center_frequency_hz: 10.0e6,
        sample_rate_hz: KIWI_RATE_HZ,
        block_samples: SAMPLES_PER_FRAME,
        noise_floor_dbm_hz: -150.0,
        full_scale_dbm: -20.0,
        path_loss: PathLossConfig::default(),
        center_latitude: 46.6,
        center_longitude: 2.4,
        receiver_count: 5,
        receiver_radius_m: 300_000.0,
        receivers: vec![
            receiver("kiwi-brest", "Brest", 48.39, -4.49),
            receiver("kiwi-lille", "Lille", 50.63, 3.06),
            receiver("kiwi-strasbourg", "Strasbourg", 48.57, 7.75),
            receiver("kiwi-nice", "Nice", 43.70, 7.27),
            receiver("kiwi-toulouse", "Toulouse", 43.60, 1.44),
        ],
        transmitters: vec![
            TransmitterConfig {
                id: "tx-beacon".into(),
                name: "Carrier".into(),
                latitude: 47.2,
                longitude: 1.3,
                frequency_hz: 10.0015e6,
                bandwidth_hz: 0.0,
                power_dbm: 40.0,
                kind: SignalKind::Cw,
                schedule: None,
            },
            TransmitterConfig {
                id: "tx-data".into(),
                name: "Data bursts".into(),
                latitude: 46.2,
                longitude: 3.9,
                frequency_hz: 9.998e6,
                bandwidth_hz: 2_000.0,
                power_dbm: 40.0,
                kind: SignalKind::Bursts,
                schedule: Some(ScheduleConfig {
                    period_s: 2.0,
                    on_s: 1.2,
                    offset_s: 0.0,
                }),
            },
        ],
    }
}

/// Counters of a running emulator.
#[derive(Debug, Default)]
pub struct EmulatorCounters {
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// `GET /status` requests answered.
    pub status_requests: AtomicU64,
    /// WebSocket sessions opened (`/SND`).
    pub sessions: AtomicU64,
    /// `SET auth` commands received.
    pub auth_attempts: AtomicU64,
    /// Sessions that started streaming.
    pub streaming_sessions: AtomicU64,
    /// IQ frames sent.
    pub frames_sent: AtomicU64,
    /// Keepalives received.
    pub keepalives: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    config: KiwiEmulatorConfig,
    stop: AtomicBool,
    counters: EmulatorCounters,
    streams: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// (sequence, true time of the first sample) of recent frames.
    truth: Mutex<VecDeque<(u32, i64)>>,
    users: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data (handles, a log) stays valid if a holder panicked.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running emulated KiwiSDR. Dropping it stops it.
#[derive(Debug)]
pub struct KiwiEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl KiwiEmulator {
    /// Listens on `config.bind` and serves.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub fn start(config: KiwiEmulatorConfig) -> io::Result<Self> {
        assert!(
            config.receiver < config.scene.receivers().len(),
            "receiver {} out of range",
            config.receiver
        );
        let listener = TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: KiwiEmulatorConfig { bind: addr, ..config },
            stop: AtomicBool::new(false),
            counters: EmulatorCounters::default(),
            streams: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            truth: Mutex::new(VecDeque::with_capacity(TRUTH_FRAMES)),
            users: AtomicU64::new(0),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("kiwi-emu-{}", addr.port()))
                .spawn(move || accept_loop(listener, shared))?
        };
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `kiwi://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("kiwi://{}", self.addr)
    }

    /// Its configuration.
    pub fn config(&self) -> &KiwiEmulatorConfig {
        &self.shared.config
    }

    /// Its counters.
    pub fn counters(&self) -> &EmulatorCounters {
        &self.shared.counters
    }

    /// The true time (ns since the Unix epoch) of the first sample of the frame with sequence
    /// number `sequence`, if it was sent recently.
    pub fn frame_time_ns(&self, sequence: u32) -> Option<i64> {
        lock(&self.shared.truth)
            .iter()
            .rev()
            .find(|(s, _)| *s == sequence)
            .map(|&(_, t)| t)
    }

    /// Stops listening and cuts every connection ("pulls the plug").
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for stream in lock(&self.shared.streams).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let threads: Vec<_> = lock(&self.shared.threads).drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// Starts again on the same port after [`KiwiEmulator::stop`].
    ///
    /// # Errors
    /// When the port cannot be bound again.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let mut config = self.shared.config.clone();
        config.bind = self.addr;
        *self = KiwiEmulator::start(config)?;
        Ok(())
    }
}

impl Drop for KiwiEmulator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
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

/// The header of the frame whose first sample is stream sample `k`, taken at `true_time_ns`.
fn frame_header(
    config: &KiwiEmulatorConfig,
    sequence: u32,
    k: u64,
    true_time_ns: i64,
    fs: f64,
    reported: f64,
    overflow: bool,
) -> SndHeader {
    let mut flags = protocol::flags::IQ;
    if overflow {
        flags |= protocol::flags::ADC_OVERFLOW;
    }
    let mut header = SndHeader {
        flags,
        sequence,
        smeter: 500,
        last_gps_solution: protocol::NO_GPS_FIX,
        gps_sec: 0,
        gps_nsec: 0,
    };
    let GpsMode::Fix { solution_interval_s } = config.gps else {
        return header;
    };
    let interval_ns = (solution_interval_s * 1e9) as i64;
    let since_epoch = true_time_ns - config.epoch_ns;
    // The last solution at or before this frame, and the first frame at or after it: that
    // frame carries the solution's exact time; the rest extrapolate from it.
    let solution_ns = config.epoch_ns + since_epoch.div_euclid(interval_ns) * interval_ns;
    let frame = SAMPLES_PER_FRAME as f64;
    let anchor_k = (((solution_ns - config.epoch_ns) as f64 * 1e-9 * fs) / frame).ceil() * frame;
    let anchor_k = anchor_k.min(k as f64);
    let anchor_time = config.epoch_ns + (anchor_k * 1e9 / fs).round() as i64;
    let stamp = anchor_time + ((k as f64 - anchor_k) * 1e9 / reported).round() as i64;
    let (sec, nsec) = unix_ns_to_gps_week(stamp);
    header.last_gps_solution = ((true_time_ns - solution_ns) / 1_000_000_000).clamp(0, 252) as u8;
    header.gps_sec = sec;
    header.gps_nsec = nsec;
    header
}

fn to_io(error: tungstenite::Error) -> io::Error {
    match error {
        tungstenite::Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}
