//! The emulator's TCP server: accepts the driver's control and data connections, follows its
//! commands, and streams the scene in real time.

use super::protocol::{Command, Role, BLOCK_BYTES, BLOCK_SAMPLES, MAX_FREQUENCY_HZ, SAMPLE_RATES};
use super::scene::{Scene, SceneGenerator};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often idle loops (accept, waiting for a rate) look at the stop flag: short, so `stop`
/// returns quickly and a restarted emulator is reachable at once.
const POLL: Duration = Duration::from_millis(5);

/// How long the server waits for a new connection's opening word before dropping it.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// When a data connection's thread is this far behind its schedule (it was starved of CPU),
/// it skips the missed blocks as drops instead of generating them all in a burst.
const MAX_LAG: Duration = Duration::from_millis(500);

/// No rate commanded yet.
const NO_RATE: usize = usize::MAX;

/// How to start an emulator.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmulatorConfig {
    /// Port on 127.0.0.1; 0 picks a free one. Reuse a stopped emulator's port to "replug" it.
    pub port: u16,
    /// What the emulated receiver hears.
    pub scene: Scene,
}

/// Counters of a running emulator, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EmulatorStats {
    /// Connections accepted since start.
    pub connections: u64,
    /// Data connections open now.
    pub data_clients: usize,
    /// Blocks started on a data connection (16384 bytes each).
    pub blocks_sent: u64,
    /// Blocks dropped because the client had not taken the previous one yet.
    pub blocks_dropped: u64,
    /// Last frequency the client tuned to, Hz.
    pub frequency_hz: Option<u32>,
    /// Last sample rate the client selected, samples/s.
    pub sample_rate_hz: Option<f64>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    rate_index: AtomicUsize,
    frequency_hz: AtomicU32,
    connections: AtomicU64,
    data_clients: AtomicUsize,
    blocks_sent: AtomicU64,
    blocks_dropped: AtomicU64,
    /// Every open connection (a clone of its socket), so `stop` can cut them all.
    streams: Mutex<Vec<(u64, TcpStream)>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn rate_index(&self) -> Option<usize> {
        match self.rate_index.load(Ordering::Acquire) {
            NO_RATE => None,
            index => Some(index),
        }
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked (lists of handles).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A Red Pitaya SDR transceiver server on 127.0.0.1, streaming a [`Scene`].
///
/// Dropping it stops it.
#[derive(Debug)]
pub struct RedPitayaEmulator {
    config: EmulatorConfig,
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl RedPitayaEmulator {
    /// Binds 127.0.0.1:`config.port` (0: any free port) and starts serving.
    ///
    /// The listener has `SO_REUSEADDR` (std sets it on Unix), so an emulator can be started
    /// again on the port of one just stopped, while the old connections sit in `TIME_WAIT`.
    pub fn start(config: EmulatorConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            rate_index: AtomicUsize::new(NO_RATE),
            ..Shared::default()
        });
        let accept = {
            let shared = shared.clone();
            let scene = config.scene.clone();
            std::thread::Builder::new()
                .name(format!("rp-emu-{}", addr.port()))
                .spawn(move || accept_loop(listener, shared, scene))?
        };
        Ok(Self {
            config: EmulatorConfig {
                port: addr.port(),
                ..config
            },
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// SoapySDR device arguments that reach this emulator.
    pub fn device_args(&self) -> String {
        format!("driver=redpitaya,addr=127.0.0.1,port={}", self.port())
    }

    /// Current counters.
    pub fn stats(&self) -> EmulatorStats {
        let s = &self.shared;
        EmulatorStats {
            connections: s.connections.load(Ordering::Relaxed),
            data_clients: s.data_clients.load(Ordering::Relaxed),
            blocks_sent: s.blocks_sent.load(Ordering::Relaxed),
            blocks_dropped: s.blocks_dropped.load(Ordering::Relaxed),
            frequency_hz: match s.frequency_hz.load(Ordering::Relaxed) {
                0 => None,
                f => Some(f),
            },
            sample_rate_hz: s.rate_index().map(|i| SAMPLE_RATES[i]),
        }
    }

    /// Whether [`stop`](Self::stop) has been called.
    pub fn is_stopped(&self) -> bool {
        self.accept.is_none()
    }

    /// "Unplugs" the device: closes the listener and every connection, and waits for the
    /// server's threads to end. Idempotent.
    pub fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        for (_, stream) in lock(&self.shared.streams).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // The listener lives in the accept thread; joining it closes the port.
        let _ = accept.join();
        let threads: Vec<_> = lock(&self.shared.threads).drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// "Replugs" the device: stops it if running, then starts a fresh server on the same port
    /// with the same scene (counters start again from zero).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        *self = Self::start(self.config.clone())?;
        Ok(())
    }
}

impl Drop for RedPitayaEmulator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, scene: Scene) {
    let mut next_id = 0u64;
    while !shared.stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                next_id += 1;
                shared.connections.fetch_add(1, Ordering::Relaxed);
                if let Err(error) = spawn_connection(&shared, &scene, stream, next_id) {
                    tracing::warn!(%error, "emulator: cannot serve a connection");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(POLL)
            }
            Err(error) => {
                tracing::warn!(%error, "emulator: accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn spawn_connection(shared: &Arc<Shared>, scene: &Scene, stream: TcpStream, id: u64) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    lock(&shared.streams).push((id, stream.try_clone()?));
    let thread = {
        let shared = shared.clone();
        let scene = scene.clone();
        std::thread::Builder::new()
            .name(format!("rp-emu-conn-{id}"))
            .spawn(move || {
                if let Err(error) = serve(&shared, &scene, stream, id) {
                    tracing::debug!(%error, id, "emulator: connection ended");
                }
                lock(&shared.streams).retain(|(i, _)| *i != id);
            })?
    };
    let mut threads = lock(&shared.threads);
    threads.retain(|t| !t.is_finished());
    threads.push(thread);
    Ok(())
}

fn serve(shared: &Shared, scene: &Scene, mut stream: TcpStream, id: u64) -> io::Result<()> {
    stream.set_read_timeout(Some(HELLO_TIMEOUT))?;
    let mut hello = [0u8; 4];
    stream.read_exact(&mut hello)?;
    match Role::from_word(u32::from_le_bytes(hello)) {
        Some(Role::RxControl) => control(shared, stream),
        Some(Role::RxData) => {
            shared.data_clients.fetch_add(1, Ordering::Relaxed);
            let result = data(shared, scene, stream, id);
            shared.data_clients.fetch_sub(1, Ordering::Relaxed);
            result
        }
        // No transmitter: swallow whatever arrives until the client leaves.
        Some(Role::TxControl) | Some(Role::TxData) => drain(shared, stream),
        None => Err(io::Error::new(ErrorKind::InvalidData, "unknown connection role")),
    }
}

/// Reads from `stream` with a short timeout so the stop flag is seen; `Ok(0)` is end of stream.
fn read_polling(shared: &Shared, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        if shared.stopping() {
            return Ok(0);
        }
        match stream.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            other => return other,
        }
    }
}

fn control(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(POLL * 10))?;
    let mut word = [0u8; 4];
    let mut filled = 0;
    loop {
        let n = read_polling(shared, &mut stream, &mut word[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        if filled < 4 {
            continue;
        }
        filled = 0;
        match Command::from_word(u32::from_le_bytes(word)) {
            // Like the real server: an out-of-range frequency is ignored.
            Command::Frequency(hz) if hz <= MAX_FREQUENCY_HZ => {
                shared.frequency_hz.store(hz, Ordering::Release)
            }
            Command::Rate(index) if index < SAMPLE_RATES.len() => {
                shared.rate_index.store(index, Ordering::Release)
            }
            other => tracing::debug!(?other, "emulator: ignored command"),
        }
    }
}

fn drain(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(POLL * 10))?;
    let mut buf = [0u8; 4096];
    while read_polling(shared, &mut stream, &mut buf)? > 0 {}
    Ok(())
}

/// Streams the scene: one block every `BLOCK_SAMPLES / rate` seconds. A block is written only
/// when the previous one has fully left; otherwise it is dropped, so a slow client loses
/// samples, as with the real hardware, and never receives a burst.
fn data(shared: &Shared, scene: &Scene, mut stream: TcpStream, id: u64) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let mut block = vec![0u8; BLOCK_BYTES];
    let mut discard = vec![0u8; BLOCK_BYTES];
    // Bytes at the end of `block` not yet written.
    let mut pending = 0usize;
    let mut current: Option<(usize, SceneGenerator, Duration)> = None;
    let mut next_due = Instant::now();
    while !shared.stopping() {
        let Some(index) = shared.rate_index() else {
            std::thread::sleep(POLL);
            continue;
        };
        if current.as_ref().map(|c| c.0) != Some(index) {
            let rate = SAMPLE_RATES[index];
            let period = Duration::from_secs_f64(BLOCK_SAMPLES as f64 / rate);
            current = Some((index, SceneGenerator::new(scene, rate, id), period));
            // The first block is complete one block period after the rate is known.
            next_due = Instant::now() + period;
        }
        // Invariant: `current` was set just above.
        let (_, generator, period) = current.as_mut().expect("generator set above");
        if pending > 0 {
            pending -= write_some(&mut stream, &block[BLOCK_BYTES - pending..])?;
        }
        let now = Instant::now();
        if now < next_due {
            let idle = if pending > 0 { POLL / 5 } else { POLL };
            std::thread::sleep((next_due - now).min(idle));
            continue;
        }
        if now > next_due + MAX_LAG {
            let missed = ((now - next_due).as_secs_f64() / period.as_secs_f64()) as u32;
            shared
                .blocks_dropped
                .fetch_add(u64::from(missed), Ordering::Relaxed);
            next_due += *period * missed;
        }
        if pending == 0 {
            generator.fill_cf32_le(&mut block);
            pending = BLOCK_BYTES - write_some(&mut stream, &block)?;
            shared.blocks_sent.fetch_add(1, Ordering::Relaxed);
        } else {
            // The samples still happen (the phase moves on); they just never reach the client.
            generator.fill_cf32_le(&mut discard);
            shared.blocks_dropped.fetch_add(1, Ordering::Relaxed);
        }
        next_due += *period;
    }
    Ok(())
}

/// Writes what the socket takes now without blocking; a closed client is an error.
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    match stream.write(bytes) {
        Ok(0) => Err(io::Error::new(ErrorKind::WriteZero, "client closed")),
        Ok(n) => Ok(n),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(0),
        Err(e) => Err(e),
    }
}
