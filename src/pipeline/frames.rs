//! `spectrum:frame`: one receiver's averaged spectrum, decimated and quantized for waterfalls.
//!
//! Decimation keeps the strongest FFT bin of each group (max-hold), so a carrier one FFT bin
//! wide is as bright in the frame as in the full spectrum. The levels span from
//! [`FLOOR_MARGIN_DB`] under the noise floor to [`PEAK_MARGIN_DB`] over the strongest bin, at
//! least [`MIN_SPAN_DB`], so noise is dark and the strongest signal is near the top whatever
//! the gain, and each byte is one 255th of that span.

use crate::events::{SpectrumEncoding, SpectrumFrame, Timestamp};
use base64::Engine;

/// Bottom of the scale under the median noise floor, dB: noise fills the lower part of the
/// scale instead of sitting at 0, so its texture stays visible.
pub const FLOOR_MARGIN_DB: f32 = 10.0;
/// Top of the scale over the strongest bin, dB: the strongest signal is bright, not clipped.
pub const PEAK_MARGIN_DB: f32 = 5.0;
/// Smallest span, dB: a spectrum of pure noise must not be stretched over all 256 levels.
pub const MIN_SPAN_DB: f32 = 30.0;
/// Powers at or below this (an all-zero input) read as this level, dBFS, instead of -inf.
const FLOOR_DB: f32 = -300.0;

/// How one receiver's frames are cut.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameSettings {
    /// The receiver id written in every frame.
    pub receiver_id: String,
    /// Time between frames, ns (of sample time, so a replayed source gets the same frames).
    pub period_ns: i64,
    /// Bins per frame at most.
    pub bins: usize,
}

/// Makes the frames of one receiver: at most one per `period_ns` of sample time.
#[derive(Debug)]
pub struct SpectrumFramer {
    settings: FrameSettings,
    /// Sample time at or after which the next frame is due.
    next_due_ns: Option<i64>,
    levels: Vec<f32>,
    floor: Vec<f32>,
    bytes: Vec<u8>,
}

/// The group size and bin count that decimate `fft_bins` to at most `bins`.
pub fn grouping(fft_bins: usize, bins: usize) -> (usize, usize) {
    let group = fft_bins.div_ceil(bins.max(1)).max(1);
    (group, fft_bins.div_ceil(group))
}

/// Max-hold decimation: `out[j]` is the strongest of `psd[j * group..(j + 1) * group]` (the
/// last group may be shorter), in dB.
pub fn decimate_max_db(psd: &[f32], group: usize, out: &mut Vec<f32>) {
    out.clear();
    out.extend(
        psd.chunks(group.max(1))
            .map(|chunk| to_db(chunk.iter().copied().fold(0.0, f32::max))),
    );
}

/// One byte per level: `round((clamp(dB, db_min, db_max) - db_min) / (db_max - db_min) * 255)`.
pub fn quantize(levels_db: &[f32], db_min: f32, db_max: f32, out: &mut Vec<u8>) {
    let scale = 255.0 / (db_max - db_min);
    out.clear();
    out.extend(
        levels_db
            .iter()
            .map(|&db| ((db.clamp(db_min, db_max) - db_min) * scale).round() as u8),
    );
}

fn to_db(power: f32) -> f32 {
    if power > 0.0 {
        (10.0 * power.log10()).max(FLOOR_DB)
    } else {
        FLOOR_DB
    }
}

impl SpectrumFramer {
    /// A framer with these settings.
    ///
    /// # Panics
    /// If `settings.period_ns` or `settings.bins` is 0 (validation refuses both).
    pub fn new(settings: FrameSettings) -> Self {
        assert!(settings.period_ns > 0, "the frame period must be positive");
        assert!(settings.bins > 0, "frames need at least one bin");
        Self {
            levels: Vec::with_capacity(settings.bins),
            floor: Vec::with_capacity(settings.bins),
            bytes: Vec::with_capacity(settings.bins),
            settings,
            next_due_ns: None,
        }
    }

    /// The frame of this spectrum if one is due at `time_ns`, else `None`. `psd` is the
    /// frequency-ordered averaged spectrum (linear, full-scale tone = 1) and `noise_floor` the
    /// detector's per-bin floor on the same scale.
    pub fn frame(
        &mut self,
        psd: &[f32],
        noise_floor: &[f32],
        center_hz: f64,
        sample_rate_hz: f64,
        time_ns: i64,
    ) -> Option<SpectrumFrame> {
        let period = self.settings.period_ns;
        match self.next_due_ns {
            // A source whose clock jumped back (a new timeline) starts over.
            Some(due) if time_ns < due && due - time_ns <= period => return None,
            // Behind by more than a period (a gap in the stream): no burst to catch up.
            Some(due) if time_ns >= due && time_ns - due < period => self.next_due_ns = Some(due + period),
            _ => self.next_due_ns = Some(time_ns + period),
        }
        if psd.is_empty() {
            return None;
        }
        let (group, bins) = grouping(psd.len(), self.settings.bins);
        decimate_max_db(psd, group, &mut self.levels);
        // The median of the floor sampled once per group: cheap, and a few strong signals
        // raising the floor locally do not move it.
        self.floor.clear();
        self.floor
            .extend(noise_floor.iter().step_by(group).map(|&p| to_db(p)));
        let floor_db = if self.floor.is_empty() {
            self.levels.iter().copied().fold(f32::INFINITY, f32::min)
        } else {
            let middle = self.floor.len() / 2;
            *self.floor.select_nth_unstable_by(middle, f32::total_cmp).1
        };
        let peak_db = self.levels.iter().copied().fold(FLOOR_DB, f32::max);
        // Rounded to 0.01 dB before use, so the JSON stays short and decoding with the
        // transmitted values is exact.
        let hundredths = |db: f32| (f64::from(db) * 100.0).round() / 100.0;
        let db_min = hundredths(floor_db - FLOOR_MARGIN_DB);
        let db_max = hundredths((peak_db + PEAK_MARGIN_DB).max(db_min as f32 + MIN_SPAN_DB));
        quantize(&self.levels, db_min as f32, db_max as f32, &mut self.bytes);
        let fft_bin_hz = sample_rate_hz / psd.len() as f64;
        Some(SpectrumFrame {
            receiver_id: self.settings.receiver_id.clone(),
            timestamp: Timestamp(time_ns),
            center_frequency_hz: center_hz,
            // Frequency-ordered index N/2 is the centre, so index 0's lower edge is half a bin
            // under centre - rate / 2.
            start_hz: center_hz - sample_rate_hz / 2.0 - fft_bin_hz / 2.0,
            bin_hz: fft_bin_hz * group as f64,
            bins,
            db_min,
            db_max,
            encoding: SpectrumEncoding::U8Base64,
            data: base64::engine::general_purpose::STANDARD.encode(&self.bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(bins: usize, period_ns: i64) -> SpectrumFramer {
        SpectrumFramer::new(FrameSettings {
            receiver_id: "rx1".into(),
            period_ns,
            bins,
        })
    }

    fn decode(frame: &SpectrumFrame) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&frame.data)
            .expect("valid base64")
    }

    #[test]
    fn decimation_keeps_the_strongest_bin_of_each_group() {
        let mut psd = vec![1e-10_f32; 4096];
        psd[1234] = 1e-3; // a carrier one FFT bin wide
        psd[4095] = 1e-5; // in the last group
        let (group, bins) = grouping(psd.len(), 512);
        assert_eq!((group, bins), (8, 512));
        let mut out = Vec::new();
        decimate_max_db(&psd, group, &mut out);
        assert_eq!(out.len(), 512);
        assert!((out[1234 / 8] - -30.0).abs() < 1e-4, "{}", out[1234 / 8]);
        assert!((out[511] - -50.0).abs() < 1e-4);
        assert!((out[0] - -100.0).abs() < 1e-4);
        // Not a multiple: the last group is shorter, and no bin is lost.
        assert_eq!(grouping(1000, 512), (2, 500));
        assert_eq!(grouping(1001, 512), (2, 501));
        assert_eq!(grouping(256, 512), (1, 256));
        decimate_max_db(&[0.0, 1.0, 0.5], 2, &mut out);
        assert_eq!(out, [0.0, to_db(0.5)]);
        assert_eq!(to_db(0.0), FLOOR_DB);
    }

    #[test]
    fn bytes_map_the_span_linearly_and_clamp_outside_it() {
        let mut out = Vec::new();
        quantize(
            &[-100.0, -60.0, -20.0, -150.0, 0.0, -59.9],
            -100.0,
            -20.0,
            &mut out,
        );
        // (-60 + 100) / 80 * 255 = 127.5 -> 128; -59.9 -> 127.8 -> 128.
        assert_eq!(out, [0, 128, 255, 0, 255, 128]);
        quantize(&[-99.84], -100.0, -20.0, &mut out);
        assert_eq!(out, [1]); // 0.51 rounds up
    }

    #[test]
    fn a_frame_puts_the_carrier_near_the_top_and_noise_near_the_bottom() {
        let n = 1024;
        let mut psd = vec![1e-9_f32; n]; // -90 dBFS per bin
        let floor = vec![1e-9_f32; n];
        let carrier = n / 2 + 100; // centre + 100 bins
        psd[carrier] = 1e-4; // -40 dBFS, 50 dB over the floor
        let mut framer = framer(256, 250_000_000);
        let (center, rate) = (145e6, 1.024e6);
        let frame = framer
            .frame(&psd, &floor, center, rate, 0)
            .expect("first spectrum makes a frame");
        assert_eq!(frame.bins, 256);
        assert_eq!(frame.data.len(), 4 * 256_usize.div_ceil(3));
        let bytes = decode(&frame);
        assert_eq!(bytes.len(), 256);
        assert!((frame.db_min - -100.0).abs() < 1e-3, "{}", frame.db_min);
        assert!((frame.db_max - -35.0).abs() < 1e-3, "{}", frame.db_max);
        for level in [frame.db_min, frame.db_max] {
            assert_eq!(
                (level * 100.0).round() / 100.0,
                level,
                "to 0.01 dB, short in JSON"
            );
        }
        // The carrier's bin, found from its frequency through start_hz and bin_hz.
        let carrier_hz = center + 100.0 * rate / n as f64;
        let index = ((carrier_hz - frame.start_hz) / frame.bin_hz).floor() as usize;
        assert_eq!(index, carrier / 4);
        // (-40 + 100) / 65 * 255 = 235.4; noise (-90 + 100) / 65 * 255 = 39.2.
        assert_eq!(bytes[index], 235);
        assert!(bytes.iter().enumerate().all(|(i, &b)| i == index || b == 39));
        assert_eq!(frame.bin_hz, 4000.0);
        assert_eq!(frame.start_hz, 145e6 - 512_000.0 - 500.0);
    }

    #[test]
    fn pure_noise_is_not_stretched_over_the_whole_scale() {
        let psd = vec![1e-9_f32; 512];
        let frame = framer(512, 1).frame(&psd, &psd, 0.0, 1e3, 0).unwrap();
        assert!((frame.db_max - frame.db_min - f64::from(MIN_SPAN_DB)).abs() < 1e-3);
        assert!(decode(&frame).iter().all(|&b| b == 85)); // 10 / 30 * 255
    }

    #[test]
    fn frames_come_at_the_configured_rate_of_sample_time() {
        let psd = vec![1e-9_f32; 64];
        let mut framer = framer(64, 250_000_000);
        // Spectra every 32 ms for 2 s: frames at 0, 256, 512, ... ms (the first spectrum at
        // or after each due time), 8 in all.
        let times: Vec<i64> = (0..63)
            .map(|i| i * 32_000_000)
            .filter(|&t| framer.frame(&psd, &psd, 0.0, 1e3, t).is_some())
            .collect();
        assert_eq!(times.len(), 8, "{times:?}");
        assert!(times
            .windows(2)
            .all(|w| (w[1] - w[0] - 250_000_000).abs() <= 32_000_000));
        // A gap in the stream does not cause a burst, and a clock that jumps back restarts.
        assert!(framer.frame(&psd, &psd, 0.0, 1e3, 60_000_000_000).is_some());
        assert!(framer.frame(&psd, &psd, 0.0, 1e3, 60_032_000_000).is_none());
        assert!(framer.frame(&psd, &psd, 0.0, 1e3, 1_000).is_some());
        assert!(framer.frame(&psd, &psd, 0.0, 1e3, 2_000).is_none());
    }
}
