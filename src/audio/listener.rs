//! One listener: a thread of its own that takes its receiver's blocks from its tap, demodulates
//! them ([`sdrhub_dsp::demod::Demodulator`]), cuts the audio into packets of `audio.packet_ms`,
//! encodes them ([`super::packet`]) and hands the frames to the client's session.
//!
//! Back-pressure: frames go to the session's queue (`audio.client_queue`) without waiting;
//! when it is full (the client does not read) the packet is dropped and counted, and its
//! sequence number skipped, so the client sees the gap. The thread ends when the session lets
//! go of the listener, or the receiver's pipeline stops.

use super::adpcm::State;
use super::packet::{self, Header};
use super::recorder::{Recorder, Space, Subject};
use crate::events::RecordedReport;
use crate::pipeline::listen_taps::{Chunk, ListenTaps};
use actix_web::web::Bytes;
use sdrhub_dsp::demod::{DemodConfig, DemodError, Demodulator};
use sdrhub_dsp::Complex32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::sync::oneshot;

/// How often the thread looks at its stop flag while no block arrives.
const POLL: Duration = Duration::from_millis(200);

/// What the listeners count, together (`/metrics`).
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Blocks its tap could not queue for it.
    pub blocks_dropped: Arc<AtomicU64>,
    /// Packets sent to the session.
    pub packets_sent: AtomicU64,
    /// Packets dropped because the session's queue was full.
    pub packets_dropped: AtomicU64,
    /// Time spent demodulating and encoding, ns.
    pub busy_ns: AtomicU64,
}

/// What the session asks of its listener's thread.
#[derive(Debug)]
pub enum Command {
    /// Start recording `subject` (the answer: started, or why not).
    Record(Subject, oneshot::Sender<Result<(), String>>),
    /// Finish the recording (the answer: its files, or why there are none).
    Stop(oneshot::Sender<Result<RecordedReport, String>>),
    /// Hand over the recording that stopped on its own, if it is still there.
    TakeStopped(oneshot::Sender<Option<Result<RecordedReport, String>>>),
}

/// A running listener; dropping it stops the thread and removes its tap.
#[derive(Debug)]
pub struct Listener {
    id: u64,
    taps: Arc<ListenTaps>,
    stop: Arc<AtomicBool>,
    /// Commands to its thread.
    pub commands: crossbeam_channel::Sender<Command>,
    /// A message each time a recording stops on its own (its length or space limit, a failed
    /// write): its outcome waits in the thread for the next [`Command::Stop`].
    pub recording_stopped: mpsc::Receiver<()>,
    /// The demodulator's delay, s.
    pub latency_s: f64,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.taps.remove(self.id);
    }
}

/// Everything a listener thread needs.
pub struct Plan {
    /// Listener id (unique in the process).
    pub id: u64,
    /// The listened frequency, Hz.
    pub frequency_hz: f64,
    /// The demodulator's settings (`offset_hz` for the receiver's centre at start).
    pub demod: DemodConfig,
    /// Audio samples per packet.
    pub packet_samples: usize,
    /// Blocks that may wait for it.
    pub block_queue: usize,
    /// Where recordings go.
    pub recordings_dir: PathBuf,
    /// Longest recording, s.
    pub max_record_s: f64,
    /// The room all recordings share.
    pub recordings_space: Arc<Space>,
}

/// Starts the listener of `plan` on `taps`; frames go to `frames`, counts to `counters`.
///
/// # Errors
/// When the demodulator cannot be made (the message says why).
pub fn start(
    plan: Plan,
    taps: Arc<ListenTaps>,
    frames: mpsc::Sender<Bytes>,
    counters: Arc<ListenerCounters>,
) -> Result<Listener, DemodError> {
    let demodulator = Demodulator::new(&plan.demod)?;
    let latency_s = demodulator.latency_s();
    let (blocks_in, blocks) = crossbeam_channel::bounded(plan.block_queue);
    let stop = Arc::new(AtomicBool::new(false));
    let (commands, commanded) = crossbeam_channel::bounded(4);
    let (stopped_tx, recording_stopped) = mpsc::channel(1);
    taps.add(plan.id, blocks_in, counters.blocks_dropped.clone());
    let worker = Worker {
        demodulator,
        frequency_hz: plan.frequency_hz,
        packet_samples: plan.packet_samples,
        audio: Vec::new(),
        state: State::default(),
        seq: 0,
        audio_end_ns: None,
        frames,
        counters,
        stop: stop.clone(),
        channel: Vec::new(),
        recorder: None,
        finished: None,
        recordings_dir: plan.recordings_dir,
        max_record_s: plan.max_record_s,
        recordings_space: plan.recordings_space,
        recording_stopped: stopped_tx,
    };
    let spawned = std::thread::Builder::new()
        .name(format!("listen-{}", plan.id))
        .spawn(move || worker.run(blocks, commanded));
    if spawned.is_err() {
        taps.remove(plan.id);
        return Err(DemodError::Parameter {
            name: "listener thread",
            value: 0.0,
            expected: "a thread the OS can start",
        });
    }
    Ok(Listener {
        id: plan.id,
        taps,
        stop,
        commands,
        recording_stopped,
        latency_s,
    })
}

struct Worker {
    demodulator: Demodulator,
    frequency_hz: f64,
    packet_samples: usize,
    /// Audio not yet sent.
    audio: Vec<f32>,
    /// The coder state at the start of the next packet.
    state: State,
    seq: u32,
    /// Antenna time of the sample after the last one in `audio`, ns.
    audio_end_ns: Option<f64>,
    frames: mpsc::Sender<Bytes>,
    counters: Arc<ListenerCounters>,
    stop: Arc<AtomicBool>,
    /// The channel IQ of the current block (while recording).
    channel: Vec<Complex32>,
    recorder: Option<Recorder>,
    /// A recording that stopped on its own, for the next `Stop`.
    finished: Option<Result<RecordedReport, String>>,
    /// Says that one did.
    recording_stopped: mpsc::Sender<()>,
    recordings_dir: PathBuf,
    max_record_s: f64,
    recordings_space: Arc<Space>,
}

impl Worker {
    fn run(
        mut self,
        blocks: crossbeam_channel::Receiver<Arc<Chunk>>,
        commands: crossbeam_channel::Receiver<Command>,
    ) {
        while !self.stop.load(Ordering::Acquire) && !self.frames.is_closed() {
            crossbeam_channel::select! {
                recv(blocks) -> chunk => match chunk {
                    Ok(chunk) => {
                        let started = std::time::Instant::now();
                        self.block(&chunk);
                        self.counters
                            .busy_ns
                            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    }
                    Err(_) => break,
                },
                recv(commands) -> command => match command {
                    Ok(command) => self.command(command),
                    Err(_) => break,
                },
                default(POLL) => {}
            }
        }
        // A recording in progress is completed, not left with a broken WAV header.
        if let Some(recorder) = self.recorder.take() {
            if let Err(e) = recorder.finish() {
                tracing::warn!("recording not completed: {e}");
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Record(subject, reply) => {
                if self.recorder.is_some() {
                    let _ = reply.send(Err("already recording".into()));
                    return;
                }
                let end = self.audio_end_ns.unwrap_or(0.0) as i64;
                let started = Recorder::start(
                    &self.recordings_dir,
                    subject,
                    self.demodulator.channel_rate_hz(),
                    self.demodulator.channel_offset_hz(),
                    self.demodulator.output_rate_hz(),
                    end.max(sdrhub_hardware::acquisition::now_ns() - 1_000_000_000),
                    self.max_record_s,
                    self.recordings_space.clone(),
                );
                let outcome = started.map(|recorder| {
                    self.recorder = Some(recorder);
                    self.finished = None;
                });
                let _ = reply.send(outcome);
            }
            Command::Stop(reply) => {
                let outcome = match (self.recorder.take(), self.finished.take()) {
                    (Some(recorder), _) => recorder.finish(),
                    (None, Some(finished)) => finished,
                    (None, None) => Err("not recording".into()),
                };
                let _ = reply.send(outcome);
            }
            Command::TakeStopped(reply) => {
                let _ = reply.send(self.finished.take());
            }
        }
    }

    fn block(&mut self, chunk: &Chunk) {
        let config = self.demodulator.config();
        let offset = self.frequency_hz - chunk.center_hz;
        if chunk.sample_rate_hz != config.input_rate_hz {
            // The receiver changed its rate (a remote receiver reconnected): a new chain.
            let demod = DemodConfig {
                input_rate_hz: chunk.sample_rate_hz,
                offset_hz: offset,
                ..config.clone()
            };
            match Demodulator::new(&demod) {
                Ok(d) => self.demodulator = d,
                Err(e) => {
                    tracing::warn!("listener stopped: {e}");
                    self.stop.store(true, Ordering::Release);
                    return;
                }
            }
        } else if offset != config.offset_hz && self.demodulator.retune(offset).is_err() {
            // Retuned away from the listened frequency: nothing to hear until it comes back.
            return;
        }
        let rate = self.demodulator.output_rate_hz();
        let before = self.audio.len();
        if let Some(recorder) = &mut self.recorder {
            self.channel.clear();
            self.demodulator
                .process_with_channel(&chunk.samples, &mut self.audio, &mut self.channel);
            let written = recorder.write(&self.channel, &self.audio[before..]);
            if !matches!(written, Ok(true)) {
                // The length limit, or a write that failed: the recording ends here.
                if let Some(recorder) = self.recorder.take() {
                    self.finished = Some(written.and_then(|_| recorder.finish()));
                    // Full only if the session has not yet taken the last one: it will ask.
                    let _ = self.recording_stopped.try_send(());
                }
            }
        } else {
            self.demodulator.process(&chunk.samples, &mut self.audio);
        }
        let produced = self.audio.len() - before;
        // The last sample out heard what the antenna received `latency` before the block's end.
        let block_end_ns = chunk.time_ns as f64 + chunk.samples.len() as f64 / chunk.sample_rate_hz * 1e9;
        let end = block_end_ns - self.demodulator.latency_s() * 1e9;
        if chunk.discontinuity || self.audio_end_ns.is_none() {
            self.audio_end_ns = Some(end);
        } else if let Some(at) = &mut self.audio_end_ns {
            // Follows the clock by counting samples, corrected slowly toward the block times
            // (blocks are stamped with jitter; audio must not jump).
            *at += produced as f64 / rate * 1e9;
            *at += (end - *at) * 0.01;
        }
        while self.audio.len() >= self.packet_samples {
            self.send(rate);
        }
    }

    fn send(&mut self, rate: f64) {
        let end = self.audio_end_ns.unwrap_or(0.0);
        let time_ns = (end - self.audio.len() as f64 / rate * 1e9) as i64;
        let header = Header {
            seq: self.seq,
            time_ns,
            squelch_open: self.demodulator.squelch_open(),
            power_dbfs: self.demodulator.channel_power_dbfs(),
        };
        self.seq = self.seq.wrapping_add(1);
        let payload = packet::encode(header, &mut self.state, &self.audio[..self.packet_samples]);
        self.audio.drain(..self.packet_samples);
        match self.frames.try_send(packet::frame(&payload)) {
            Ok(()) => self.counters.packets_sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.counters.packets_dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}
