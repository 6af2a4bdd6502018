//! Replaying a Kiwi WAV file as an [`IqSource`].

use super::{KiwiWav, KiwiWavReader};
use crate::kiwi::gps::{gps_week_to_unix_ns, MAX_FIX_AGE_S};
use crate::kiwi::protocol::NO_GPS_FIX;
use crate::kiwi::timing::{AnchorRule, TimingFit};
use crate::source::{IqBlock, IqSource, ReadOutcome, ReceiverInfo, SourceBuilder, SourceError, SourceKind};
use sdrhub_dsp::geo::GeoPoint;
use std::sync::Arc;
use std::time::Duration;

/// Replays a Kiwi WAV file as an [`IqSource`] of kind [`SourceKind::File`], one block per
/// frame, timed from its GPS stamps (see [`KiwiWav::timing`]), as fast as it reads.
#[derive(Debug, Clone)]
pub struct KiwiWavBuilder {
    wav: KiwiWav,
    id: Arc<str>,
    name: String,
    position: Option<GeoPoint>,
    center_hz: f64,
}

impl KiwiWavBuilder {
    /// A builder for `wav`: id, name, position and frequency from its `sdrh` chunk, else the
    /// station and RF frequency of a `kiwirecorder` name, else the file name, no position and
    /// 0 Hz (override with the setters).
    pub fn new(wav: KiwiWav) -> Self {
        let info = wav.info.clone().unwrap_or_default();
        let id = wav.receiver_id();
        Self {
            name: if info.name.is_empty() {
                id.clone()
            } else {
                info.name.clone()
            },
            id: Arc::from(id),
            position: info.position(),
            center_hz: wav.center_hz().unwrap_or(0.0),
            wav,
        }
    }

    /// Sets the receiver position (when the file has none, or it is wrong).
    pub fn position(mut self, position: GeoPoint) -> Self {
        self.position = Some(position);
        self
    }

    /// Sets the centre frequency.
    pub fn center_hz(mut self, center_hz: f64) -> Self {
        self.center_hz = center_hz;
        self
    }

    /// The file.
    pub fn wav(&self) -> &KiwiWav {
        &self.wav
    }
}

impl SourceBuilder for KiwiWavBuilder {
    fn info(&self) -> ReceiverInfo {
        ReceiverInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: SourceKind::File,
            position: self.position,
            center_hz: self.center_hz,
            sample_rate_hz: self.wav.sample_rate_hz,
        }
    }

    fn open(&mut self) -> Result<Box<dyn IqSource>, SourceError> {
        let reader = self.wav.reader().map_err(|e| SourceError::Open(e.to_string()))?;
        let timing = self.wav.timing();
        let clock = match (timing.rule, timing.fit) {
            (AnchorRule::SolutionCycle, Ok(fit)) => Clock::Fitted(fit),
            (AnchorRule::SolutionCycle, Err(_)) => Clock::ReceiverStamps,
            (AnchorRule::EveryFreshFrame, _) => Clock::FrameStamps,
        };
        Ok(Box::new(KiwiWavSource {
            reader,
            id: self.id.clone(),
            center_hz: self.center_hz,
            clock,
            week_hint_ns: self.wav.date_hint_ns().unwrap_or(0),
            sample: 0,
            seq: 0,
        }))
    }
}

/// How a replayed file's frames are timed.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// The robust fit of the receiver's solutions: GPS-locked.
    Fitted(TimingFit),
    /// The fit failed: each frame's own (receiver-extrapolated) stamp, not GPS-locked.
    ReceiverStamps,
    /// Every frame carries its own reconstructed time (sdrhub's files): locked when fresh.
    FrameStamps,
}

/// A Kiwi WAV file being replayed.
#[derive(Debug)]
pub struct KiwiWavSource {
    reader: KiwiWavReader,
    id: Arc<str>,
    center_hz: f64,
    clock: Clock,
    week_hint_ns: i64,
    sample: u64,
    seq: u64,
}

impl IqSource for KiwiWavSource {
    fn read(&mut self, block: &mut IqBlock, _timeout: Duration) -> Result<ReadOutcome, SourceError> {
        let rate = self.reader.wav.sample_rate_hz;
        let Some((stamp, samples)) = self
            .reader
            .next_frame()
            .map_err(|e| SourceError::Stream(e.to_string()))?
        else {
            return Ok(ReadOutcome::End);
        };
        let stamped = stamp.last_gps_solution != NO_GPS_FIX && !(stamp.gps_sec == 0 && stamp.gps_nsec == 0);
        let own_stamp = || gps_week_to_unix_ns(stamp.gps_sec, stamp.gps_nsec, self.week_hint_ns);
        let free_run = self.week_hint_ns + (self.sample as f64 * 1e9 / rate).round() as i64;
        let (time_ns, locked, block_rate) = match self.clock {
            Clock::Fitted(fit) => (fit.time_ns(self.sample as f64), true, fit.rate_hz),
            Clock::ReceiverStamps if stamped => (own_stamp(), false, rate),
            Clock::FrameStamps if stamped => (own_stamp(), stamp.last_gps_solution <= MAX_FIX_AGE_S, rate),
            _ => (free_run, false, rate),
        };
        block.receiver_id = self.id.clone();
        block.center_hz = self.center_hz;
        block.sample_rate_hz = block_rate;
        block.time_ns = time_ns;
        block.gps_locked = locked;
        block.seq = self.seq;
        block.discontinuity = false;
        block.receiver_stamp = Some(stamp);
        block.samples.clear();
        block.samples.extend_from_slice(samples);
        self.sample += samples.len() as u64;
        self.seq += 1;
        Ok(ReadOutcome::Block)
    }
}
