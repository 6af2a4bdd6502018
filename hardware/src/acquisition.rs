//! Drives one [`SourceBuilder`] on a dedicated OS thread: opens the source, reads blocks, hands
//! them to DSP through a bounded queue (dropping and counting when DSP falls behind), and
//! reopens the source with exponential backoff after a fault.

use crate::source::{IqBlock, ReadOutcome, ReceiverInfo, SourceBuilder, SourceError};
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Tunables of an acquisition worker.
#[derive(Debug, Clone, PartialEq)]
pub struct AcquisitionConfig {
    /// Blocks that may wait for DSP. Beyond this, new blocks are dropped and counted: a late
    /// spectrum is worth less than a current one, and memory must stay bounded.
    pub queue_blocks: usize,
    /// How long one read may block before the worker checks for shutdown.
    pub read_timeout: Duration,
    /// First wait before reopening a failed source.
    pub backoff_initial: Duration,
    /// Cap of the doubling reopen wait.
    pub backoff_max: Duration,
    /// First wait after the receiver refused us ([`SourceError::Refused`]: busy, bad password,
    /// down): a receiver that says "not now" must not be hammered.
    pub refused_backoff_initial: Duration,
    /// Cap of the doubling wait after refusals.
    pub refused_backoff_max: Duration,
}

impl Default for AcquisitionConfig {
    fn default() -> Self {
        Self {
            queue_blocks: 16,
            read_timeout: Duration::from_millis(200),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            refused_backoff_initial: Duration::from_secs(30),
            refused_backoff_max: Duration::from_secs(300),
        }
    }
}

/// Lifecycle state of a receiver's acquisition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AcquisitionState {
    /// Opening for the first time.
    Starting = 0,
    /// Streaming.
    Online = 1,
    /// Failed; waiting to reopen.
    Offline = 2,
    /// The source ended (a recording reached its end) or the worker was stopped.
    Ended = 3,
}

impl AcquisitionState {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => AcquisitionState::Starting,
            1 => AcquisitionState::Online,
            2 => AcquisitionState::Offline,
            _ => AcquisitionState::Ended,
        }
    }
}

/// Live counters of one receiver, shared between its worker and whoever reports status.
#[derive(Debug)]
pub struct ReceiverStats {
    state: AtomicU8,
    /// Wall-clock time (ns since the epoch) the state last changed.
    state_since_ns: AtomicI64,
    /// Blocks read from the source.
    pub blocks: AtomicU64,
    /// Samples read from the source.
    pub samples: AtomicU64,
    /// Samples dropped because DSP was behind (the hand-off queue was full).
    pub samples_dropped: AtomicU64,
    /// Blocks the source itself flagged as following lost samples.
    pub discontinuities: AtomicU64,
    /// Times the source was (re)opened successfully.
    pub opens: AtomicU64,
    /// Wall-clock time (ns since the epoch) of the last block read; 0 before the first.
    pub last_block_ns: AtomicI64,
    /// Whether the last block's time was GPS-disciplined.
    pub gps_locked: AtomicBool,
    last_error: Mutex<Option<String>>,
    info: Mutex<Option<ReceiverInfo>>,
}

impl Default for ReceiverStats {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(AcquisitionState::Starting as u8),
            state_since_ns: AtomicI64::new(now_ns()),
            blocks: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            samples_dropped: AtomicU64::new(0),
            discontinuities: AtomicU64::new(0),
            opens: AtomicU64::new(0),
            last_block_ns: AtomicI64::new(0),
            gps_locked: AtomicBool::new(false),
            last_error: Mutex::new(None),
            info: Mutex::new(None),
        }
    }
}

impl ReceiverStats {
    /// Current state.
    pub fn state(&self) -> AcquisitionState {
        AcquisitionState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// When the current state began, ns since the epoch.
    pub fn state_since_ns(&self) -> i64 {
        self.state_since_ns.load(Ordering::Acquire)
    }

    /// The last error, if the source has failed since it was created.
    pub fn last_error(&self) -> Option<String> {
        // A poisoned lock only means a reporter panicked mid-update; the string is still whole.
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The receiver's description as of its last successful open: a remote receiver tells its
    /// position, name and real sample rate only once connected.
    pub fn info(&self) -> Option<ReceiverInfo> {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_info(&self, info: ReceiverInfo) {
        *self.info.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
    }

    fn set_state(&self, state: AcquisitionState) {
        if self.state.swap(state as u8, Ordering::AcqRel) != state as u8 {
            self.state_since_ns.store(now_ns(), Ordering::Release);
        }
    }

    fn set_error(&self, error: &SourceError) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }
}

/// A running acquisition worker. Dropping it stops the worker and joins its thread.
#[derive(Debug)]
pub struct Acquisition {
    info: ReceiverInfo,
    stats: Arc<ReceiverStats>,
    blocks: Receiver<IqBlock>,
    recycle: Sender<IqBlock>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acquisition {
    /// Starts a worker thread for `builder`.
    ///
    /// # Panics
    /// If `config.queue_blocks` is 0 or the OS refuses to create a thread.
    pub fn spawn(mut builder: Box<dyn SourceBuilder>, config: AcquisitionConfig) -> Self {
        assert!(config.queue_blocks > 0, "queue_blocks must be at least 1");
        let info = builder.info();
        let stats = Arc::new(ReceiverStats::default());
        stats.set_info(info.clone());
        let (block_tx, block_rx) = bounded(config.queue_blocks);
        // Room for every block that can be in flight, so recycling never blocks.
        let (recycle_tx, recycle_rx) = bounded(config.queue_blocks + 4);
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            stats: stats.clone(),
            stop: stop.clone(),
            blocks: block_tx,
            recycle: recycle_rx,
            config,
        };
        let thread = std::thread::Builder::new()
            .name(format!("acq-{}", info.id))
            .spawn(move || worker.run(builder.as_mut()))
            // Invariant: thread creation only fails when the OS is out of resources at start-up.
            .expect("cannot spawn acquisition thread");
        Self {
            info,
            stats,
            blocks: block_rx,
            recycle: recycle_tx,
            stop,
            thread: Some(thread),
        }
    }

    /// The receiver's static description.
    pub fn info(&self) -> &ReceiverInfo {
        &self.info
    }

    /// The receiver's live counters.
    pub fn stats(&self) -> &Arc<ReceiverStats> {
        &self.stats
    }

    /// Blocks ready for DSP.
    pub fn blocks(&self) -> &Receiver<IqBlock> {
        &self.blocks
    }

    /// Where DSP returns blocks it has finished with, so their buffers are reused.
    pub fn recycler(&self) -> &Sender<IqBlock> {
        &self.recycle
    }

    /// Asks the worker to stop; it does within about one read timeout.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Drop for Acquisition {
    fn drop(&mut self) {
        self.request_stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    stats: Arc<ReceiverStats>,
    stop: Arc<AtomicBool>,
    blocks: Sender<IqBlock>,
    recycle: Receiver<IqBlock>,
    config: AcquisitionConfig,
}

impl Worker {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn run(self, builder: &mut dyn SourceBuilder) {
        let mut backoff = self.config.backoff_initial;
        let mut refused_backoff = self.config.refused_backoff_initial;
        while !self.stopping() {
            let mut source = match builder.open() {
                Ok(source) => source,
                Err(error) => {
                    self.stats.set_error(&error);
                    self.stats.set_state(AcquisitionState::Offline);
                    let wait = if matches!(error, SourceError::Refused(_)) {
                        let wait = jittered(refused_backoff);
                        refused_backoff = (refused_backoff * 2).min(self.config.refused_backoff_max);
                        wait
                    } else {
                        let wait = jittered(backoff);
                        backoff = (backoff * 2).min(self.config.backoff_max);
                        wait
                    };
                    tracing::warn!(%error, retry_in = ?wait, "source failed to open");
                    self.sleep(wait);
                    continue;
                }
            };
            refused_backoff = self.config.refused_backoff_initial;
            self.stats.opens.fetch_add(1, Ordering::Relaxed);
            self.stats.set_info(builder.info());
            self.stats.set_state(AcquisitionState::Online);
            let opened_at = Instant::now();
            match self.stream(source.as_mut()) {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, "source failed");
                    self.stats.set_error(&error);
                    self.stats.set_state(AcquisitionState::Offline);
                    // A source that streamed for a while earns a fresh backoff.
                    if opened_at.elapsed() > self.config.backoff_max {
                        backoff = self.config.backoff_initial;
                    }
                    let wait = if matches!(error, SourceError::Refused(_)) {
                        jittered(refused_backoff)
                    } else {
                        jittered(backoff)
                    };
                    self.sleep(wait);
                    backoff = (backoff * 2).min(self.config.backoff_max);
                }
            }
        }
        self.stats.set_state(AcquisitionState::Ended);
    }

    /// Streams until the source ends (`Ok`), fails (`Err`) or the worker is stopped (`Ok`).
    fn stream(&self, source: &mut dyn crate::source::IqSource) -> Result<(), SourceError> {
        let mut lost_since_last_sent = false;
        let mut spare: Option<IqBlock> = None;
        while !self.stopping() {
            let mut block = spare
                .take()
                .or_else(|| self.recycle.try_recv().ok())
                .unwrap_or_else(|| IqBlock::with_capacity(0));
            match source.read(&mut block, self.config.read_timeout)? {
                ReadOutcome::Timeout => spare = Some(block),
                ReadOutcome::End => return Ok(()),
                ReadOutcome::Block => {
                    let n = block.samples.len() as u64;
                    self.stats.blocks.fetch_add(1, Ordering::Relaxed);
                    self.stats.samples.fetch_add(n, Ordering::Relaxed);
                    self.stats.last_block_ns.store(now_ns(), Ordering::Release);
                    self.stats.gps_locked.store(block.gps_locked, Ordering::Relaxed);
                    if block.discontinuity {
                        self.stats.discontinuities.fetch_add(1, Ordering::Relaxed);
                    }
                    block.discontinuity |= lost_since_last_sent;
                    match self.blocks.try_send(block) {
                        Ok(()) => lost_since_last_sent = false,
                        Err(TrySendError::Full(block)) => {
                            self.stats.samples_dropped.fetch_add(n, Ordering::Relaxed);
                            lost_since_last_sent = true;
                            spare = Some(block);
                        }
                        // Nobody is listening any more: the pipeline shut down.
                        Err(TrySendError::Disconnected(_)) => return Ok(()),
                    }
                }
            }
        }
        Ok(())
    }

    /// Sleeps for `duration`, waking early when the worker is stopped.
    fn sleep(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while !self.stopping() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    }
}

/// `wait` scaled by a random factor in [0.5, 1]: receivers that failed together (a network
/// outage, a restarted server) do not all come back in the same instant.
fn jittered(wait: Duration) -> Duration {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(now_ns() as u64);
    wait.mul_f64(rng.random_range(0.5..=1.0))
}

/// Wall-clock time, ns since the Unix epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
