//! `[audio]`: listening to a signal (demodulated audio over the WebSocket).

use serde::{Deserialize, Serialize};

/// Allowed `audio.max_listeners`: each listener is a demodulator thread of its own (a few
/// percent of a core each at 2.4 MS/s); beyond a few dozen the DSP threads would share their
/// cores with audio.
pub const MAX_LISTENERS: std::ops::RangeInclusive<usize> = 0..=64;
/// Allowed `audio.packet_ms`: shorter packets cost a frame header and a wake-up each; longer
/// ones add their length to the latency.
pub const PACKET_MS: std::ops::RangeInclusive<u32> = 10..=200;
/// Allowed `audio.client_queue`: packets waiting for one listener's socket.
pub const CLIENT_QUEUE: std::ops::RangeInclusive<usize> = 2..=1000;
/// Allowed `audio.block_queue`: IQ blocks waiting for one listener's demodulator.
pub const BLOCK_QUEUE: std::ops::RangeInclusive<usize> = 2..=1000;

/// Allowed `audio.max_record_s`: an hour of NFM is ~700 MB of channel IQ and audio.
pub const MAX_RECORD_S: f64 = 3_600.0;
/// Allowed `audio.max_recordings_bytes`: from 1 MiB (a few seconds of NFM) to 1 PiB.
pub const MAX_RECORDINGS_BYTES: std::ops::RangeInclusive<u64> = (1 << 20)..=(1 << 50);

/// `[audio]`: see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Listeners at once, over every client and receiver (0: listening is off).
    pub max_listeners: usize,
    /// Audio per packet (binary frame), ms.
    pub packet_ms: u32,
    /// Packets that may wait for a listener's socket; beyond, the newest are dropped and
    /// counted (a listener that stops reading loses audio; nobody else does).
    pub client_queue: usize,
    /// IQ blocks that may wait for a listener's demodulator; beyond, blocks are dropped for
    /// that listener and counted (the receiver's DSP thread never waits for a listener).
    pub block_queue: usize,
    /// Where recordings of what listeners heard go (SigMF channel IQ and WAV audio).
    pub recordings_dir: String,
    /// Longest recording, s (it stops there).
    pub max_record_s: f64,
    /// Bytes the recording files in `recordings_dir` may take together: a recording that
    /// reaches it stops there, and none starts while the directory holds this much (delete
    /// old recordings to record again). WFM's channel IQ alone is ~7 GB an hour.
    pub max_recordings_bytes: u64,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            max_listeners: 4,
            packet_ms: 40,
            client_queue: 25,
            block_queue: 32,
            recordings_dir: "data/recordings".into(),
            max_record_s: 300.0,
            max_recordings_bytes: 4 << 30,
        }
    }
}

impl AudioConfig {
    /// Every problem, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        p.range(
            "audio.max_listeners",
            self.max_listeners,
            *MAX_LISTENERS.start(),
            *MAX_LISTENERS.end(),
        );
        p.range(
            "audio.packet_ms",
            self.packet_ms,
            *PACKET_MS.start(),
            *PACKET_MS.end(),
        );
        p.range(
            "audio.client_queue",
            self.client_queue,
            *CLIENT_QUEUE.start(),
            *CLIENT_QUEUE.end(),
        );
        p.range(
            "audio.block_queue",
            self.block_queue,
            *BLOCK_QUEUE.start(),
            *BLOCK_QUEUE.end(),
        );
        p.interval("audio.max_record_s", self.max_record_s, 1.0, MAX_RECORD_S);
        p.range(
            "audio.max_recordings_bytes",
            self.max_recordings_bytes,
            *MAX_RECORDINGS_BYTES.start(),
            *MAX_RECORDINGS_BYTES.end(),
        );
        p.check(
            !self.recordings_dir.trim().is_empty(),
            "audio.recordings_dir: must not be empty".into(),
        );
        p.into_vec()
    }
}
