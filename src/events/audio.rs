//! The wire types of listening: the answers to `listen`, `unlisten` and `record_stop` (the
//! audio itself travels in binary frames, see `crate::audio::packet`).

use super::Timestamp;
use serde::Serialize;

/// Payload of `listening`: the answer to a client's `listen` (the audio follows in binary
/// frames, see `docs/protocol.md#listening`), or to its `unlisten` (`active` false).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListeningReport {
    /// Whether audio is flowing now (false after `unlisten`, or when the listener ended).
    pub active: bool,
    /// The receiver.
    pub receiver: String,
    /// The listened frequency, Hz.
    pub frequency_hz: f64,
    /// `am`, `nfm`, `wfm`, `usb`, `lsb` or `cw`.
    pub mode: &'static str,
    /// The passband relative to `frequency_hz`, Hz: `[low, high]`.
    pub passband_hz: [f64; 2],
    /// Squelch level, dBFS of channel power; `null`: open.
    pub squelch_dbfs: Option<f32>,
    /// Audio samples per second.
    pub sample_rate_hz: f64,
    /// `ima-adpcm`: 4 bits a sample (see the packet layout in the protocol).
    pub codec: &'static str,
    /// Samples per packet (one binary frame).
    pub packet_samples: usize,
    /// The demodulator's delay, s (included in each packet's time).
    pub latency_s: f64,
    /// Why the listener ended, when it did on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

/// Payload of `recorded`: a listener's recording, finished (`record_stop`, `unlisten`, or
/// its length limit): the files to download.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedReport {
    /// The recording's name (its files are `<name>.wav`, `.sigmf-meta`, `.sigmf-data`).
    pub name: String,
    /// The receiver.
    pub receiver: String,
    /// The listened frequency, Hz.
    pub frequency_hz: f64,
    /// The mode.
    pub mode: &'static str,
    /// The signal listened to, as the client named it.
    pub signal_id: Option<String>,
    /// Antenna time of the first sample.
    pub started: Timestamp,
    /// Length, s.
    pub seconds: f64,
    /// URL of the audio (16-bit WAV).
    pub wav: String,
    /// URL of the channel IQ's SigMF metadata.
    pub sigmf_meta: String,
    /// URL of the channel IQ (`cf32_le`).
    pub sigmf_data: String,
    /// URL of the signal's history entry (`/api/v1/history/signals/{id}`), when the recording
    /// names a signal that is stored.
    pub history: Option<String>,
    /// Why the recording stopped on its own before the client finished it (its length limit,
    /// or the recordings' space limit); `null` when it ran until `record_stop` or `unlisten`.
    pub stopped: Option<String>,
}
