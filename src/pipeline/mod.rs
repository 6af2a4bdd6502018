//! The live pipeline: acquisition threads -> per-receiver DSP threads -> fusion task -> hub,
//! plus the status task that reports receiver status and service health.
//!
//! ```text
//! source thread --bounded--> DSP thread --bounded--> fusion task --> hub --> clients
//!  (drops, counted)           (Welch, CFAR)           (tracker, localization)
//! ```

pub mod fusion;
pub mod probe;
pub mod spectrum;
pub mod status;

use crate::config::Config;
use crate::hub::Hub;
use fusion::{Fusion, ReceiverMeta};
use probe::RemoteReceiver;
use sdrhub_dsp::spectrum::SpectrumConfig;
use sdrhub_hardware::acquisition::{Acquisition, ReceiverStats};
use sdrhub_hardware::source::SourceBuilder;
use sdrhub_hardware::ReceiverInfo;
use spectrum::{ReceiverDsp, SpectrumDetections};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Spectra that may wait for the fusion task. Fusion is cheap; if it still falls behind, the
/// DSP threads wait, their block queues fill, and acquisition drops (and counts) blocks.
const SPECTRUM_QUEUE: usize = 256;

/// How often fusion expires signals when no spectra arrive.
const FUSION_TICK: Duration = Duration::from_millis(250);

/// Counters of one receiver's DSP thread.
#[derive(Debug, Default)]
pub struct DspStats {
    /// Spectra computed.
    pub spectra: AtomicU64,
    /// Blocks processed.
    pub blocks: AtomicU64,
    /// Time spent processing, ns.
    pub busy_ns: AtomicU64,
}

/// Everything the status task needs to know about one receiver.
#[derive(Debug, Clone)]
pub struct ReceiverHandle {
    /// Description at start (see [`ReceiverHandle::current_info`] for what it told since).
    pub info: ReceiverInfo,
    /// Acquisition counters.
    pub acquisition: Arc<ReceiverStats>,
    /// DSP counters.
    pub dsp: Arc<DspStats>,
    /// Link and probe state of a remote receiver.
    pub remote: Option<Arc<RemoteReceiver>>,
}

impl ReceiverHandle {
    /// The description as of the receiver's last successful open (a remote receiver's
    /// position, name and real rate), else the one at start.
    pub fn current_info(&self) -> ReceiverInfo {
        self.acquisition.info().unwrap_or_else(|| self.info.clone())
    }
}

/// One receiver to run: its source, and what differs from the defaults for it.
pub struct ReceiverSource {
    /// Opens the stream.
    pub builder: Box<dyn SourceBuilder>,
    /// Spectrum settings replacing `[dsp]`'s (a 12 kHz remote channel needs a shorter FFT).
    pub spectrum: Option<SpectrumConfig>,
    /// Link and probe state, for remote receivers.
    pub remote: Option<Arc<RemoteReceiver>>,
}

impl ReceiverSource {
    /// A source with the `[dsp]` settings and nothing remote.
    pub fn plain(builder: Box<dyn SourceBuilder>) -> Self {
        Self {
            builder,
            spectrum: None,
            remote: None,
        }
    }
}

impl std::fmt::Debug for ReceiverSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverSource")
            .field("receiver", &self.builder.info().id)
            .field("spectrum", &self.spectrum)
            .finish()
    }
}

/// The running pipeline. Dropping it stops every thread.
#[derive(Debug)]
pub struct Pipeline {
    receivers: Vec<ReceiverHandle>,
    acquisitions: Vec<Arc<Acquisition>>,
    dsp_threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    fusion_stats: Arc<Mutex<fusion::FusionStats>>,
}

impl Pipeline {
    /// Starts acquisition and DSP threads for every source, and the fusion task on the
    /// current tokio runtime.
    pub fn start(config: &Config, sources: Vec<ReceiverSource>, hub: Hub) -> Pipeline {
        let stop = Arc::new(AtomicBool::new(false));
        let (spectra_tx, spectra_rx) = mpsc::channel(SPECTRUM_QUEUE);
        let mut receivers = Vec::new();
        let mut acquisitions = Vec::new();
        let mut dsp_threads = Vec::new();
        for (index, source) in sources.into_iter().enumerate() {
            let spectrum = source.spectrum.unwrap_or_else(|| config.dsp.spectrum());
            let acquisition = Arc::new(Acquisition::spawn(
                source.builder,
                config.acquisition.acquisition(),
            ));
            let dsp_stats = Arc::new(DspStats::default());
            receivers.push(ReceiverHandle {
                info: acquisition.info().clone(),
                acquisition: acquisition.stats().clone(),
                dsp: dsp_stats.clone(),
                remote: source.remote,
            });
            let dsp = ReceiverDsp::new(index, &spectrum, &config.dsp.detector());
            let worker = DspWorker {
                acquisition: acquisition.clone(),
                dsp,
                stats: dsp_stats,
                out: spectra_tx.clone(),
                stop: stop.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("dsp-{}", acquisition.info().id))
                .spawn(move || worker.run())
                // Invariant: thread creation only fails when the OS is out of resources at start.
                .expect("cannot spawn a DSP thread");
            acquisitions.push(acquisition);
            dsp_threads.push(thread);
        }
        let metas = receivers
            .iter()
            .map(|r| ReceiverMeta {
                id: r.info.id.clone(),
                position: r.info.position,
            })
            .collect();
        let fusion = Fusion::new(
            metas,
            config.tracker.tracker(),
            config.localization.clone(),
            config.path_loss_exponent(),
        );
        let fusion_stats = Arc::new(Mutex::new(fusion::FusionStats::default()));
        let stats = receivers.iter().map(|r| r.acquisition.clone()).collect();
        tokio::spawn(run_fusion(fusion, spectra_rx, hub, fusion_stats.clone(), stats));
        Pipeline {
            receivers,
            acquisitions,
            dsp_threads,
            stop,
            fusion_stats,
        }
    }

    /// The receivers, in index order.
    pub fn receivers(&self) -> &[ReceiverHandle] {
        &self.receivers
    }

    /// Fusion counters, refreshed by the fusion task several times a second.
    pub fn fusion_stats_handle(&self) -> Arc<Mutex<fusion::FusionStats>> {
        self.fusion_stats.clone()
    }

    /// Stops every thread and waits for them.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        for acquisition in &self.acquisitions {
            acquisition.request_stop();
        }
        for thread in self.dsp_threads.drain(..) {
            let _ = thread.join();
        }
        self.acquisitions.clear();
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct DspWorker {
    acquisition: Arc<Acquisition>,
    dsp: ReceiverDsp,
    stats: Arc<DspStats>,
    out: mpsc::Sender<SpectrumDetections>,
    stop: Arc<AtomicBool>,
}

impl DspWorker {
    fn run(mut self) {
        let blocks = self.acquisition.blocks().clone();
        let recycler = self.acquisition.recycler().clone();
        while !self.stop.load(Ordering::Acquire) {
            let block = match blocks.recv_timeout(Duration::from_millis(200)) {
                Ok(block) => block,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            let started = Instant::now();
            let out = &self.out;
            let mut closed = false;
            self.dsp.process(&block, |spectrum| {
                // Waiting here is the back-pressure that makes acquisition drop and count blocks.
                closed |= out.blocking_send(spectrum).is_err();
            });
            self.stats.blocks.fetch_add(1, Ordering::Relaxed);
            self.stats.spectra.store(self.dsp.spectra(), Ordering::Relaxed);
            self.stats
                .busy_ns
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            let _ = recycler.try_send(block);
            if closed {
                break;
            }
        }
    }
}

async fn run_fusion(
    mut fusion: Fusion,
    mut spectra: mpsc::Receiver<SpectrumDetections>,
    hub: Hub,
    stats: Arc<Mutex<fusion::FusionStats>>,
    receivers: Vec<Arc<ReceiverStats>>,
) {
    let mut tick = tokio::time::interval(FUSION_TICK);
    let mut events = Vec::new();
    loop {
        tokio::select! {
            spectrum = spectra.recv() => {
                let Some(spectrum) = spectrum else { break };
                fusion.ingest(&spectrum, &mut events);
            }
            _ = tick.tick() => {
                // Remote receivers tell their position when they connect.
                for (index, receiver) in receivers.iter().enumerate() {
                    if let Some(info) = receiver.info() {
                        fusion.set_position(index, info.position);
                    }
                }
                fusion.tick(sdrhub_hardware::acquisition::now_ns(), &mut events);
                *stats.lock().unwrap_or_else(|e| e.into_inner()) = fusion.stats().clone();
            }
        }
        for event in events.drain(..) {
            hub.publish(event).await;
        }
    }
}
