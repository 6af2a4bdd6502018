//! The live pipeline: acquisition threads -> per-receiver DSP threads -> fusion task -> hub,
//! plus the status task that reports receiver status and service health.
//!
//! ```text
//! source thread --bounded--> DSP thread --bounded--> fusion task --> hub --> clients
//!  (drops, counted)           (Welch, CFAR)           (tracker, localization)
//! ```

pub mod emitter_fixes;
pub mod frames;
pub mod fusion;
pub mod listen_taps;
pub mod names;
pub mod probe;
pub mod snippets;
pub mod sources;
pub mod spectrum;
pub mod status;
pub mod tdoa;
pub mod watchdog;

use crate::config::Config;
use crate::events::Event;
use crate::history::occupancy::OccupancyAccumulator;
use crate::history::LiveHistory;
use crate::hub::Hub;
use frames::{FrameSettings, SpectrumFramer};
use fusion::{Fusion, ReceiverMeta};
use probe::RemoteReceiver;
use sdrhub_dsp::spectrum::SpectrumConfig;
use sdrhub_hardware::acquisition::{Acquisition, ReceiverStats};
use sdrhub_hardware::source::SourceBuilder;
use sdrhub_hardware::ReceiverInfo;
use snippets::SnippetRing;
use spectrum::{ReceiverDsp, SpectrumDetections};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Spectra that may wait for the fusion task. Fusion is cheap; if it still falls behind, the
/// DSP threads wait, their block queues fill, and acquisition drops (and counts) blocks.
const SPECTRUM_QUEUE: usize = 256;

/// How often fusion expires signals when no spectra arrive.
const FUSION_TICK: Duration = Duration::from_millis(250);

/// How often receiver status and health are evaluated.
const STATUS_TICK: Duration = Duration::from_millis(250);

/// Where the pipeline's events go: the local hub (`serve`), or the bus (`acquire`); with a
/// history database (`serve`), each is labelled (`known`, `novel`) and recorded on the way.
#[derive(Debug, Clone)]
pub struct Output {
    sink: Arc<dyn EventSink>,
    history: Option<Arc<LiveHistory>>,
}

/// Where [`Output`] hands events: the hub, or (for an acquisition node) the bus publisher,
/// which implements this in `crate::bus` so that the pipeline knows nothing of the bus.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Hands over one broadcast event (waiting for room, as the sink's back-pressure says).
    fn publish(&self, event: Event) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

impl EventSink for Hub {
    fn publish(&self, event: Event) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(Hub::publish(self, event))
    }
}

impl Output {
    /// To the in-process hub.
    pub fn hub(hub: Hub) -> Self {
        Self::to(Arc::new(hub))
    }

    /// To any sink (an acquisition node's bus publisher).
    pub fn to(sink: Arc<dyn EventSink>) -> Self {
        Self { sink, history: None }
    }

    /// Also labels and records every event in `history`.
    pub fn with_history(mut self, history: Option<Arc<LiveHistory>>) -> Self {
        self.history = history;
        self
    }

    /// The history database events are recorded in, if any.
    pub fn history(&self) -> Option<&Arc<LiveHistory>> {
        self.history.as_ref()
    }

    /// Publishes a broadcast event.
    pub async fn publish(&self, mut event: Event) {
        if let Some(history) = &self.history {
            if let Event::SignalsDetected(report) = &mut event {
                history.label(report).await;
            }
            history.record(&event);
        }
        self.sink.publish(event).await;
    }
}

impl From<Hub> for Output {
    fn from(hub: Hub) -> Self {
        Output::hub(hub)
    }
}

pub use status::FrontService;

/// Asks the role how its front service is doing (see [`Pipeline::spawn_status`]).
pub type FrontProbe =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = FrontService> + Send>> + Send + Sync>;

/// Counters of one receiver's DSP thread.
#[derive(Debug, Default)]
pub struct DspStats {
    /// Spectra computed.
    pub spectra: AtomicU64,
    /// Blocks processed.
    pub blocks: AtomicU64,
    /// Time spent processing, ns.
    pub busy_ns: AtomicU64,
    /// Wall-clock time (ns since the epoch) of the last spectrum; 0 before the first. The
    /// status task's [`watchdog`] compares it with the clock to see a stalled DSP thread.
    pub last_spectrum_ns: AtomicI64,
    /// Samples per spectrum (FFT length x averages), for the expected spectrum interval.
    pub spectrum_samples: u64,
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
    /// Its recent IQ, for TDOA.
    pub snippets: Arc<SnippetRing>,
    /// Its listeners (audio).
    pub listen: Arc<listen_taps::ListenTaps>,
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
    pub fn start(config: &Config, sources: Vec<ReceiverSource>, output: impl Into<Output>) -> Pipeline {
        let output = output.into();
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
            let dsp_stats = Arc::new(DspStats {
                spectrum_samples: (spectrum.fft_size * spectrum.averages) as u64,
                ..DspStats::default()
            });
            let snippets = Arc::new(SnippetRing::new(acquisition.info().sample_rate_hz));
            let listen = Arc::new(listen_taps::ListenTaps::default());
            receivers.push(ReceiverHandle {
                info: acquisition.info().clone(),
                acquisition: acquisition.stats().clone(),
                dsp: dsp_stats.clone(),
                remote: source.remote,
                snippets: snippets.clone(),
                listen: listen.clone(),
            });
            let mut dsp = ReceiverDsp::new(index, &spectrum, &config.dsp.detector());
            if let Some(period_ns) = config.spectrum_frames.period_ns() {
                dsp = dsp.with_frames(SpectrumFramer::new(FrameSettings {
                    receiver_id: acquisition.info().id.to_string(),
                    period_ns,
                    bins: config.spectrum_frames.bins,
                }));
            }
            if let Some(history) = output.history() {
                dsp = dsp.with_occupancy(
                    OccupancyAccumulator::new(
                        acquisition.info().id.clone(),
                        config.history.occupancy_cell_hz,
                    ),
                    history.writer().clone(),
                );
            }
            let worker = DspWorker {
                acquisition: acquisition.clone(),
                dsp,
                stats: dsp_stats,
                out: spectra_tx.clone(),
                stop: stop.clone(),
                snippets,
                listen,
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
                gps_locked: false,
            })
            .collect();
        let mut fusion = Fusion::new(
            metas,
            config.tracker.tracker(),
            config.localization.clone(),
            config.path_loss_exponent(),
        );
        if config.simulation_enabled() {
            fusion.set_names(names::TransmitterNames::from_scene(
                &config.simulation,
                config.tracker.frequency_tolerance_hz,
            ));
        }
        let fusion_stats = Arc::new(Mutex::new(fusion::FusionStats::default()));
        let stats = receivers.iter().map(|r| r.acquisition.clone()).collect();
        let worker = tdoa::TdoaWorker::spawn(
            receivers.iter().map(|r| r.snippets.clone()).collect(),
            config.localization.clone(),
            stop.clone(),
        );
        tokio::spawn(run_fusion(
            fusion,
            spectra_rx,
            output,
            fusion_stats.clone(),
            stats,
            worker,
        ));
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

    /// Starts the status task: evaluates receivers and services every 250 ms and
    /// publishes `websdrs:status` and `services:health` to `output` on change and periodically.
    /// `front` reports the health of what carries this process's events out (the role knows:
    /// the hub's WebSocket clients for `serve`, the bus for `acquire`). It runs until aborted.
    pub fn spawn_status(
        &self,
        output: Output,
        front: FrontProbe,
        config: std::sync::Arc<Config>,
    ) -> tokio::task::JoinHandle<()> {
        let receivers = self.receivers.clone();
        let fusion_stats = self.fusion_stats.clone();
        tokio::spawn(async move {
            let offline_after_ns = (config.acquisition.offline_after_s * 1e9) as i64;
            let mut tracker = status::StatusTracker::new(offline_after_ns);
            let mut last = None;
            let mut tick = tokio::time::interval(STATUS_TICK);
            loop {
                tick.tick().await;
                let fusion = fusion_stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let front = front().await;
                let now_ns = sdrhub_hardware::acquisition::now_ns();
                let inputs = status::StatusInputs {
                    now_ns,
                    front,
                    localization_enabled: config.localization.enabled,
                    min_receivers: config.localization.min_receivers,
                    localizations: fusion.localizations,
                    last_localization_failure: fusion.last_failure,
                    tdoa_localizations: fusion.tdoa_localizations,
                    last_tdoa_failure: fusion.last_tdoa_failure,
                    history: output.history().map(|h| h.health()),
                };
                let (websdrs, health) = tracker.evaluate(&receivers, &inputs);
                let events = status::due_events(
                    websdrs,
                    health,
                    &mut last,
                    now_ns,
                    (config.server.status_interval_s * 1e9) as i64,
                    (config.server.health_interval_s * 1e9) as i64,
                );
                for event in events {
                    output.publish(event).await;
                }
            }
        })
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
    snippets: Arc<SnippetRing>,
    listen: Arc<listen_taps::ListenTaps>,
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
            // Kept for TDOA (which uses only GPS-timed stretches of it).
            self.snippets.push(&block);
            // Listeners get it without this thread waiting for them.
            self.listen.offer(&block);
            let out = &self.out;
            let mut closed = false;
            self.dsp.process(&block, |spectrum| {
                // Waiting here is the back-pressure that makes acquisition drop and count blocks.
                closed |= out.blocking_send(spectrum).is_err();
            });
            self.stats.blocks.fetch_add(1, Ordering::Relaxed);
            let spectra = self.dsp.spectra();
            if self.stats.spectra.swap(spectra, Ordering::Relaxed) != spectra {
                self.stats
                    .last_spectrum_ns
                    .store(sdrhub_hardware::acquisition::now_ns(), Ordering::Release);
            }
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
    output: Output,
    stats: Arc<Mutex<fusion::FusionStats>>,
    receivers: Vec<Arc<ReceiverStats>>,
    mut tdoa: tdoa::TdoaWorker,
) {
    let mut tick = tokio::time::interval(FUSION_TICK);
    let mut events = Vec::new();
    let mut measurements = Vec::new();
    // The known signals' version the active signals were last labelled against.
    let mut labelled = output.history().map(|h| h.known_generation());
    loop {
        tokio::select! {
            spectrum = spectra.recv() => {
                let Some(spectrum) = spectrum else { break };
                fusion.ingest(&spectrum, &mut events);
                if let Some(history) = output.history() {
                    measurements.clear();
                    fusion.measurements(spectrum.receiver, spectrum.time_ns, &mut measurements);
                    history.observe(&measurements);
                }
                // The hub drops frames nobody subscribed to before serializing them.
                events.extend(spectrum.frame.map(crate::events::Event::SpectrumFrame));
                for request in fusion.take_tdoa_requests() {
                    if let Err(request) = tdoa.submit(request) {
                        fusion.complete_tdoa(request, Err(tdoa::TdoaError::Busy), &mut events);
                    }
                }
            }
            Some((request, outcome)) = tdoa.results.recv() => {
                fusion.complete_tdoa(request, outcome, &mut events);
            }
            _ = tick.tick() => {
                // Remote receivers tell their position when they connect.
                for (index, receiver) in receivers.iter().enumerate() {
                    if let Some(info) = receiver.info() {
                        fusion.set_position(index, info.position);
                    }
                }
                let now_ns = sdrhub_hardware::acquisition::now_ns();
                fusion.tick(now_ns, &mut events);
                if let Some(history) = output.history() {
                    history.tick(now_ns);
                    // Known signals changed: every active signal is reported again (and so
                    // labelled again) within a tick, not at its next material change.
                    let generation = history.known_generation();
                    if labelled != Some(generation) {
                        labelled = Some(generation);
                        fusion.current_reports(&mut events);
                    }
                }
                *stats.lock().unwrap_or_else(|e| e.into_inner()) = fusion.stats().clone();
            }
        }
        for event in events.drain(..) {
            output.publish(event).await;
        }
    }
}
