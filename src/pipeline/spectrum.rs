//! Per-receiver DSP: IQ blocks in, per-spectrum detections (and now and then a
//! `spectrum:frame`) out.

use super::frames::SpectrumFramer;
use crate::events::SpectrumFrame;
use crate::history::occupancy::{OccupancyAccumulator, Spectrum};
use crate::history::{HistoryWriter, Record};
use sdrhub_dsp::detect::{Detection, Detector, DetectorConfig};
use sdrhub_dsp::spectrum::{SpectrumConfig, Welch};
use sdrhub_hardware::IqBlock;

/// Detections of one averaged spectrum of one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumDetections {
    /// Receiver index.
    pub receiver: usize,
    /// Time of the first sample of the spectrum, ns since the epoch.
    pub time_ns: i64,
    /// Whether that time is GPS-disciplined.
    pub gps_locked: bool,
    /// What was found.
    pub detections: Vec<Detection>,
    /// The spectrum for waterfalls, when a frame is due.
    pub frame: Option<SpectrumFrame>,
}

/// The Welch spectrum and detector of one receiver, fed block by block.
#[derive(Debug)]
pub struct ReceiverDsp {
    receiver: usize,
    welch: Welch,
    detector: Detector,
    /// Sample index (since the last reset) of the first sample of the current block.
    block_start: u64,
    /// Set by the first block, and after a discontinuity, so the spectrum restarts.
    needs_reset: bool,
    spectra: u64,
    frames: Option<SpectrumFramer>,
    /// Occupancy per minute for the history database, and where it goes.
    occupancy: Option<(OccupancyAccumulator, HistoryWriter)>,
}

impl ReceiverDsp {
    /// The DSP for receiver `receiver`.
    pub fn new(receiver: usize, spectrum: &SpectrumConfig, detector: &DetectorConfig) -> Self {
        Self {
            receiver,
            welch: Welch::new(spectrum),
            detector: Detector::new(spectrum, detector),
            block_start: 0,
            needs_reset: true,
            spectra: 0,
            frames: None,
            occupancy: None,
        }
    }

    /// Also accumulates occupancy for the history database (one record per minute, handed to
    /// `writer` without waiting; a full queue drops it and counts).
    pub fn with_occupancy(mut self, accumulator: OccupancyAccumulator, writer: HistoryWriter) -> Self {
        self.occupancy = Some((accumulator, writer));
        self
    }

    /// Also makes `spectrum:frame`s, with `framer`.
    pub fn with_frames(mut self, framer: SpectrumFramer) -> Self {
        self.frames = Some(framer);
        self
    }

    /// Spectra computed so far.
    pub fn spectra(&self) -> u64 {
        self.spectra
    }

    /// Processes one block, calling `on_spectrum` for every completed spectrum.
    pub fn process(&mut self, block: &IqBlock, mut on_spectrum: impl FnMut(SpectrumDetections)) {
        if block.discontinuity || self.needs_reset {
            // Frames must not straddle lost samples: their average would mix two moments.
            self.welch.reset();
            self.block_start = 0;
            self.needs_reset = false;
        }
        let (receiver, block_start) = (self.receiver, self.block_start);
        let detector = &mut self.detector;
        let spectra = &mut self.spectra;
        let frames = &mut self.frames;
        let occupancy = &mut self.occupancy;
        self.welch.push(&block.samples, |psd, first_sample| {
            let mut detections = Vec::new();
            detector.detect(psd, block.center_hz, block.sample_rate_hz, &mut detections);
            *spectra += 1;
            let offset = first_sample as i64 - block_start as i64;
            let time_ns = block.sample_time_ns(offset);
            if let Some((accumulator, writer)) = occupancy.as_mut() {
                let spectrum = Spectrum {
                    time_ns,
                    center_hz: block.center_hz,
                    sample_rate_hz: block.sample_rate_hz,
                    psd,
                    floor: detector.noise_floor(),
                    factor: detector.threshold().factor() as f32,
                };
                if let Some(minute) = accumulator.push(&spectrum) {
                    writer.try_record(Record::Occupancy(minute));
                }
            }
            let frame = frames.as_mut().and_then(|framer| {
                framer.frame(
                    psd,
                    detector.noise_floor(),
                    block.center_hz,
                    block.sample_rate_hz,
                    time_ns,
                )
            });
            on_spectrum(SpectrumDetections {
                receiver,
                time_ns,
                gps_locked: block.gps_locked,
                detections,
                frame,
            });
        });
        self.block_start += block.samples.len() as u64;
    }
}
