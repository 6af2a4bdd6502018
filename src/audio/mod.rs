//! Listening: a client asks (`listen`) to hear a frequency of a receiver in a mode; a listener
//! thread demodulates the receiver's IQ and the audio reaches the client in binary WebSocket
//! frames on the same connection.
//!
//! ```text
//! DSP thread of rx1 --offer (never waits)--> [block queue per listener] --> listener thread:
//!     demodulate, packetize, IMA ADPCM --try_send--> [audio.client_queue] --> the client's session
//! ```
//!
//! Rooms: `crate::pipeline::listen_taps` (where a receiver's blocks meet its listeners, in the
//! pipeline that owns the DSP threads), [`listener`] (one listener's
//! thread), [`packet`] and [`adpcm`] (the binary frame and its codec), and here [`Audio`], the
//! service that checks a request (receiver, frequency, mode, passband, the token's audio
//! access, `audio.max_listeners`) and starts a listener.
//!
//! Back-pressure: detection never waits for audio (a listener's full block queue drops blocks
//! for it alone) and audio never waits for a client (a full client queue drops packets, whose
//! sequence numbers show the gap). Every drop is counted in `/metrics`.
//!
//! Codec: IMA ADPCM, as OpenWebRX streams, rather than Opus. Opus would take a third of the
//! bandwidth, but its 20 ms frames and look-ahead add latency, it needs libopus at build time
//! and WebCodecs (or a WebAssembly decoder) in the browser; ADPCM is decoded by a dozen lines
//! in the AudioWorklet, costs next to no CPU per listener, and a lost packet costs only its own
//! audio (each carries its coder state). 12 kHz audio is 48 kbit/s; wide FM at 48 kHz 192.

pub mod adpcm;
pub mod listener;
pub mod packet;
pub mod recorder;

use crate::auth::AudioAccess;
use crate::config::AudioConfig;
use crate::events::{ErrorReport, ListeningReport};
use crate::pipeline::ReceiverHandle;
use actix_web::web::Bytes;
use listener::{Listener, ListenerCounters, Plan};
use sdrhub_dsp::demod::{DemodConfig, Mode, Passband};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a client asks to hear.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenRequest {
    /// The receiver's id.
    pub receiver: String,
    /// The frequency, Hz.
    pub frequency_hz: f64,
    /// The mode.
    pub mode: Mode,
    /// The passband relative to the frequency; `None`: the mode's usual one.
    pub passband: Option<Passband>,
    /// Squelch level, dBFS of channel power; `None`: always open.
    pub squelch_dbfs: Option<f32>,
}

/// The listening service of a `serve` process (cheap to clone).
#[derive(Debug, Clone)]
pub struct Audio {
    receivers: Arc<Vec<ReceiverHandle>>,
    config: AudioConfig,
    active: Arc<AtomicUsize>,
    next_id: Arc<AtomicU64>,
    /// What the listeners count, together.
    pub counters: Arc<ListenerCounters>,
    /// Where recordings find their signal's history entry.
    history: Option<crate::history::HistoryStore>,
    /// The room all recordings share (`audio.max_recordings_bytes`).
    recordings_space: Arc<recorder::Space>,
}

/// A client's listener: audio frames arrive on `frames`; dropping it stops the listener.
#[derive(Debug)]
pub struct Listening {
    /// The answer to send the client.
    pub report: ListeningReport,
    /// The audio frames.
    pub frames: mpsc::Receiver<Bytes>,
    _listener: Listener,
    _slot: Slot,
    history: Option<crate::history::HistoryStore>,
}

/// One of the `audio.max_listeners` places, given back when dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn refuse(code: &'static str, message: impl Into<String>) -> ErrorReport {
    ErrorReport {
        code,
        message: message.into(),
    }
}

impl Listening {
    /// Starts recording what is heard (see [`recorder`]), naming `signal_id`.
    ///
    /// # Errors
    /// Why not (already recording, the files cannot be created).
    pub async fn record(&self, signal_id: Option<String>) -> Result<(), String> {
        let subject = recorder::Subject {
            receiver: self.report.receiver.clone(),
            frequency_hz: self.report.frequency_hz,
            mode: self.report.mode,
            passband_hz: self.report.passband_hz,
            signal_id,
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self._listener
            .commands
            .try_send(listener::Command::Record(subject, reply))
            .map_err(|_| "the listener is busy; try again".to_string())?;
        answer.await.map_err(|_| "the listener stopped".to_string())?
    }

    /// Finishes the recording: its files, and the history entry of the signal it names.
    ///
    /// # Errors
    /// Why there are none (not recording, a write failed).
    pub async fn stop_recording(&self) -> Result<crate::events::RecordedReport, String> {
        self.recording().stop().await
    }

    /// Ready once a recording has stopped on its own (its length or space limit, a failed
    /// write): [`Listening::recording`]`().take_stopped()` then gives its files or what went
    /// wrong.
    pub fn poll_recording_stopped(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match self._listener.recording_stopped.poll_recv(cx) {
            std::task::Poll::Ready(Some(())) => std::task::Poll::Ready(()),
            _ => std::task::Poll::Pending,
        }
    }

    /// A handle that finishes this listener's recording from elsewhere (a task of the session).
    pub fn recording(&self) -> RecordingControl {
        RecordingControl {
            commands: self._listener.commands.clone(),
            history: self.history.clone(),
        }
    }
}

/// Finishes a listener's recording (see [`Listening::recording`]).
#[derive(Debug, Clone)]
pub struct RecordingControl {
    commands: crossbeam_channel::Sender<listener::Command>,
    history: Option<crate::history::HistoryStore>,
}

impl RecordingControl {
    /// Finishes the recording: its files, and the history entry of the signal it names.
    ///
    /// # Errors
    /// Why there are none (not recording, a write failed, the listener is gone).
    pub async fn stop(&self) -> Result<crate::events::RecordedReport, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.commands
            .try_send(listener::Command::Stop(reply))
            .map_err(|_| "the listener is busy; try again".to_string())?;
        let report = answer.await.map_err(|_| "the listener stopped".to_string())??;
        Ok(self.linked(report).await)
    }

    /// The recording that stopped on its own, unless a [`RecordingControl::stop`] or a new
    /// recording took its place: its files, or what went wrong.
    pub async fn take_stopped(&self) -> Option<Result<crate::events::RecordedReport, String>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.commands
            .try_send(listener::Command::TakeStopped(reply))
            .ok()?;
        match answer.await.ok()? {
            Some(Ok(report)) => Some(Ok(self.linked(report).await)),
            other => other,
        }
    }

    /// `report` with the history entry of the signal it names.
    async fn linked(&self, mut report: crate::events::RecordedReport) -> crate::events::RecordedReport {
        if let (Some(store), Some(signal)) = (&self.history, &report.signal_id) {
            match store.latest_track(signal).await {
                Ok(Some(id)) => report.history = Some(format!("/api/v1/history/signals/{id}")),
                Ok(None) => {}
                Err(e) => tracing::warn!("the recording's signal not looked up in the history: {e}"),
            }
        }
        report
    }
}

impl Audio {
    /// The directory recordings are written to.
    pub fn recordings_dir(&self) -> std::path::PathBuf {
        self.config.recordings_dir.clone().into()
    }

    /// `audio.max_recordings_bytes`.
    pub fn max_recordings_bytes(&self) -> u64 {
        self.recordings_space.max_bytes()
    }

    /// The service over `receivers` (their taps).
    pub fn new(receivers: Arc<Vec<ReceiverHandle>>, config: AudioConfig) -> Self {
        Self {
            receivers,
            active: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            counters: Arc::default(),
            history: None,
            recordings_space: Arc::new(recorder::Space::new(config.max_recordings_bytes)),
            config,
        }
    }

    /// With the history database, which recordings link to.
    pub fn with_history(mut self, history: Option<crate::history::HistoryStore>) -> Self {
        self.history = history;
        self
    }

    /// Listeners now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// `audio.max_listeners`.
    pub fn max_listeners(&self) -> usize {
        self.config.max_listeners
    }

    /// Starts a listener for `request` if `access` allows its receiver and a place is free.
    ///
    /// # Errors
    /// The error event to send the client: `forbidden_audio`, `too_many_listeners` or
    /// `listen_refused` (the message names what cannot work).
    pub fn listen(&self, request: &ListenRequest, access: &AudioAccess) -> Result<Listening, ErrorReport> {
        let max = self.config.max_listeners;
        if max == 0 {
            return Err(refuse(
                "listen_refused",
                "listening is off on this server (audio.max_listeners = 0)",
            ));
        }
        let Some(receiver) = self.receivers.iter().find(|r| *r.info.id == *request.receiver) else {
            let known: Vec<&str> = self.receivers.iter().map(|r| &*r.info.id).collect();
            return Err(refuse(
                "listen_refused",
                format!(
                    "unknown receiver {}; receivers here: {}",
                    crate::events::quoted(&request.receiver),
                    known.join(", ")
                ),
            ));
        };
        if !access.allows(&request.receiver) {
            return Err(refuse(
                "forbidden_audio",
                format!(
                    "your token does not allow audio:{} (name it, or audio:*, in the token's events)",
                    request.receiver
                ),
            ));
        }
        let claimed = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        if claimed.is_err() {
            return Err(refuse(
                "too_many_listeners",
                format!(
                    "the server holds its limit of {max} listeners (audio.max_listeners); try again later"
                ),
            ));
        }
        let slot = Slot(self.active.clone());
        let info = receiver.current_info();
        let mut demod = DemodConfig::new(
            request.mode,
            info.sample_rate_hz,
            request.frequency_hz - info.center_hz,
        );
        if let Some(passband) = request.passband {
            demod.passband = passband;
        }
        demod.squelch_dbfs = request.squelch_dbfs;
        let rate = request.mode.output_rate_hz();
        let packet_samples = ((rate * f64::from(self.config.packet_ms) / 1000.0).round() as usize).max(1);
        let (frames_in, frames) = mpsc::channel(self.config.client_queue);
        let plan = Plan {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            frequency_hz: request.frequency_hz,
            demod: demod.clone(),
            packet_samples,
            block_queue: self.config.block_queue,
            recordings_dir: self.config.recordings_dir.clone().into(),
            max_record_s: self.config.max_record_s,
            recordings_space: self.recordings_space.clone(),
        };
        let started = listener::start(plan, receiver.listen.clone(), frames_in, self.counters.clone());
        let listener = started.map_err(|e| {
            refuse(
                "listen_refused",
                format!(
                    "cannot listen to {:.4} MHz on {} (centre {:.4} MHz, {:.0} S/s): {e}",
                    request.frequency_hz / 1e6,
                    request.receiver,
                    info.center_hz / 1e6,
                    info.sample_rate_hz
                ),
            )
        })?;
        let latency_s = listener.latency_s;
        Ok(Listening {
            report: ListeningReport {
                active: true,
                receiver: request.receiver.clone(),
                frequency_hz: request.frequency_hz,
                mode: request.mode.as_str(),
                passband_hz: [demod.passband.low_hz, demod.passband.high_hz],
                squelch_dbfs: request.squelch_dbfs,
                sample_rate_hz: rate,
                codec: "ima-adpcm",
                packet_samples,
                latency_s,
                ended: None,
            },
            frames,
            _listener: listener,
            _slot: slot,
            history: self.history.clone(),
        })
    }
}
