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
//! malformed, text, truncated and oversized frames ([`Faults`]); and the `real-world` profile
//! ([`KiwiEmulatorConfig::real_world`]) of what real receivers' stamps do ([`StampFaults`]).
//!
//! - [`session`]: the connection, the protocol and the stream.
//! - [`stamps`]: the GPS stamps.

mod session;
mod stamps;

pub use stamps::StampFaults;

use super::protocol::SAMPLES_PER_FRAME;
use crate::sim::{Scene, SceneConfig};
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// A typical real KiwiSDR IQ rate, Hz (66.6666 MHz ADC clock, decimated).
pub const KIWI_RATE_HZ: f64 = 12_001.135;
/// ADC clock errors of the `real-world` profile's receivers in turn, ppm: real KiwiSDRs'
/// GPS-measured rates differ from nominal by 100-200 ppm, each its own.
pub const REAL_WORLD_CLOCK_PPM: [f64; 5] = [150.0, 110.0, 190.0, 130.0, 170.0];
/// Seconds between GPS solutions in the `real-world` profile: a 30 s file from a real
/// receiver can hold only 6 (the counter climbing to 4-5 s before it drops).
pub const REAL_WORLD_SOLUTION_INTERVAL_S: f64 = 5.0;
/// How old the stale stamp on the second frame is in the `real-world` profile, s (as seen in a
/// real file: 11 600 s behind the third frame).
pub const REAL_WORLD_STALE_S: f64 = 11_600.0;
/// Largest error of a solution's time in the `real-world` profile, ns (real receivers'
/// solutions scatter by 0.1-0.2 us).
pub const REAL_WORLD_JITTER_NS: f64 = 150.0;
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
    /// How the GPS stamps misbehave.
    pub stamps: StampFaults,
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
            stamps: StampFaults::default(),
        }
    }

    /// The `real-world` profile: receiver `receiver` of `scene` behaving as real KiwiSDRs do in
    /// `kiwirecorder --kiwi-wav` files: the first frame stamped zero and the second with a
    /// solution [`REAL_WORLD_STALE_S`] old, a solution only every
    /// [`REAL_WORLD_SOLUTION_INTERVAL_S`], the ADC [`REAL_WORLD_CLOCK_PPM`] off (a different
    /// error per receiver, 100-200 ppm) while the receiver announces and extrapolates with the
    /// nominal rate, and solutions scattering by [`REAL_WORLD_JITTER_NS`]. (Recordings of it
    /// made as kiwirecorder makes them have no `sdrh` chunk: `sdrhub record --kiwirecorder`.)
    pub fn real_world(scene: Scene, receiver: usize, epoch_ns: i64) -> Self {
        let clock_ppm = REAL_WORLD_CLOCK_PPM[receiver % REAL_WORLD_CLOCK_PPM.len()];
        Self {
            clock_ppm,
            // Announces the nominal rate: reported = true * (1 + e) = KIWI_RATE_HZ.
            reported_rate_error_ppm: (1.0 / (1.0 + clock_ppm * 1e-6) - 1.0) * 1e6,
            gps: GpsMode::Fix {
                solution_interval_s: REAL_WORLD_SOLUTION_INTERVAL_S,
            },
            stamps: StampFaults {
                zero_first: true,
                stale_second_s: Some(REAL_WORLD_STALE_S),
                solution_jitter_ns: REAL_WORLD_JITTER_NS,
            },
            ..Self::new(scene, receiver, epoch_ns)
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
                .spawn(move || session::accept_loop(listener, shared))?
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
