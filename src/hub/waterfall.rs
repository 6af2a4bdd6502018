//! The recent waterfall of every receiver: its `spectrum:frame`s decimated in time to one row
//! per `row_ns`, kept for a few minutes so that a dashboard opened now shows them at once
//! (`GET /api/v1/spectrum/{receiver}/waterfall`) instead of an empty waterfall.
//!
//! A row is the bin-by-bin maximum (in dB) of the frames whose timestamps fall in its period,
//! so a burst shorter than a row is as bright in the history as in the live frames. Each row is
//! a [`SpectrumFrame`] with its own `start_hz`, `bin_hz` and scale, so rows from before a retune
//! still say where they were.
//!
//! Memory is bounded: at most [`WaterfallSettings::rows`] rows per receiver (older ones are
//! dropped first, and so are rows older than that many periods before the newest), each the
//! size of one frame (about `bins * 4 / 3` bytes), plus the row being built (`bins` floats).
//! Receivers are those that publish frames, which the configuration bounds.

use crate::events::{SpectrumFrame, Timestamp};
use base64::Engine;
use std::collections::{HashMap, VecDeque};

/// How much waterfall the hub keeps (from `spectrum_frames.history_s` and `history_row_s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaterfallSettings {
    /// Rows kept per receiver, at most.
    pub rows: usize,
    /// Time one row covers, ns.
    pub row_ns: i64,
}

/// The row being built: the maximum so far of its period's frames.
#[derive(Debug)]
struct OpenRow {
    /// Period number: `timestamp / row_ns`.
    period: i64,
    /// The first frame of the row, for its receiver and frequencies.
    template: SpectrumFrame,
    /// Highest level of each bin so far, dB.
    max_db: Vec<f32>,
}

impl OpenRow {
    fn fits(&self, frame: &SpectrumFrame, period: i64) -> bool {
        self.period == period
            && self.template.bins == frame.bins
            && self.template.start_hz == frame.start_hz
            && self.template.bin_hz == frame.bin_hz
    }

    /// The row as a frame stamped with the start of its period, on a scale that holds every
    /// level in it.
    fn close(&self, row_ns: i64) -> SpectrumFrame {
        let lowest = self.max_db.iter().copied().fold(f32::INFINITY, f32::min);
        let highest = self.max_db.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        // The frames' own margins are kept: the lowest level is already under the noise floor.
        let db_min = (f64::from(lowest) * 100.0).floor() / 100.0;
        let db_max = ((f64::from(highest) * 100.0).ceil() / 100.0).max(db_min + 1.0);
        // `u8-base64` ([`crate::events::SpectrumEncoding`]), as the pipeline's framer writes it
        // (the hub does not depend on the pipeline).
        let scale = 255.0 / (db_max - db_min) as f32;
        let bytes: Vec<u8> = self
            .max_db
            .iter()
            .map(|&db| ((db.clamp(db_min as f32, db_max as f32) - db_min as f32) * scale).round() as u8)
            .collect();
        SpectrumFrame {
            timestamp: Timestamp(self.period * row_ns),
            db_min,
            db_max,
            data: base64::engine::general_purpose::STANDARD.encode(&bytes),
            ..self.template.clone()
        }
    }
}

/// One receiver's kept rows, oldest first, and the row being built.
#[derive(Debug, Default)]
struct Receiver {
    rows: VecDeque<SpectrumFrame>,
    open: Option<OpenRow>,
}

/// Every receiver's recent waterfall.
#[derive(Debug)]
pub(super) struct Waterfalls {
    settings: WaterfallSettings,
    receivers: HashMap<String, Receiver>,
}

/// A frame's levels in dB, or `None` when its data does not decode to `bins` bytes.
fn levels_db(frame: &SpectrumFrame) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&frame.data)
        .ok()?;
    if bytes.len() != frame.bins
        || frame.db_max.partial_cmp(&frame.db_min) != Some(std::cmp::Ordering::Greater)
    {
        return None;
    }
    let step = (frame.db_max - frame.db_min) / 255.0;
    Some(
        bytes
            .iter()
            .map(|&b| (frame.db_min + f64::from(b) * step) as f32)
            .collect(),
    )
}

impl Waterfalls {
    /// An empty history kept as `settings` says.
    ///
    /// # Panics
    /// If `settings.rows` or `settings.row_ns` is 0 (configuration validation refuses both).
    pub(super) fn new(settings: WaterfallSettings) -> Self {
        assert!(
            settings.rows > 0 && settings.row_ns > 0,
            "a waterfall history needs rows"
        );
        Self {
            settings,
            receivers: HashMap::new(),
        }
    }

    /// Adds one live frame to its receiver's history. A frame that does not decode is left out.
    pub(super) fn push(&mut self, frame: &SpectrumFrame) {
        let Some(levels) = levels_db(frame) else {
            tracing::debug!(receiver = %frame.receiver_id, "a spectrum frame that does not decode is not kept");
            return;
        };
        let WaterfallSettings {
            rows: max_rows,
            row_ns,
        } = self.settings;
        let period = frame.timestamp.0.div_euclid(row_ns);
        let receiver = self.receivers.entry(frame.receiver_id.clone()).or_default();
        match &mut receiver.open {
            Some(open) if open.fits(frame, period) => {
                for (kept, level) in open.max_db.iter_mut().zip(levels) {
                    *kept = kept.max(level);
                }
                return;
            }
            Some(open) => {
                let row = open.close(row_ns);
                if period < open.period {
                    // The source's clock went back (a replay starting over): a new timeline.
                    receiver.rows.clear();
                } else {
                    receiver.rows.push_back(row);
                }
            }
            None => {}
        }
        receiver.open = Some(OpenRow {
            period,
            template: frame.clone(),
            max_db: levels,
        });
        // Rows older than the history (a receiver that was silent for a while) go too.
        let oldest = (period - max_rows as i64) * row_ns;
        while receiver
            .rows
            .front()
            .is_some_and(|row| receiver.rows.len() >= max_rows || row.timestamp.0 < oldest)
        {
            receiver.rows.pop_front();
        }
    }

    /// A receiver's kept rows, oldest first, the row being built last; `None` if it has sent
    /// no frame.
    pub(super) fn rows(&self, receiver: &str) -> Option<Vec<SpectrumFrame>> {
        let kept = self.receivers.get(receiver)?;
        let mut rows: Vec<SpectrumFrame> = kept.rows.iter().cloned().collect();
        rows.extend(kept.open.as_ref().map(|open| open.close(self.settings.row_ns)));
        Some(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::SpectrumEncoding;

    const SECOND: i64 = 1_000_000_000;

    fn frame(t_ns: i64, bytes: &[u8], db_min: f64, db_max: f64) -> SpectrumFrame {
        SpectrumFrame {
            receiver_id: "rx1".into(),
            timestamp: Timestamp(t_ns),
            center_frequency_hz: 145e6,
            start_hz: 144.9e6,
            bin_hz: 1000.0,
            bins: bytes.len(),
            db_min,
            db_max,
            encoding: SpectrumEncoding::U8Base64,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    #[test]
    fn a_row_holds_the_strongest_level_of_each_bin_in_its_period() {
        let mut w = Waterfalls::new(WaterfallSettings {
            rows: 10,
            row_ns: SECOND,
        });
        // Two scales: byte 255 of the first is -20 dB, byte 0 of the second -100 dB.
        w.push(&frame(0, &[0, 255, 0], -100.0, -20.0));
        w.push(&frame(SECOND / 4, &[255, 0, 0], -60.0, -30.0));
        let rows = w.rows("rx1").expect("rx1 sent frames");
        assert_eq!(rows.len(), 1, "one open row");
        let levels = levels_db(&rows[0]).unwrap();
        for (got, want) in levels.iter().zip([-30.0, -20.0, -60.0]) {
            assert!((got - want).abs() < 0.2, "{levels:?}");
        }
        assert_eq!(rows[0].timestamp, Timestamp(0));
        assert!(w.rows("rx2").is_none());
    }

    #[test]
    fn rows_are_in_time_order_and_bounded() {
        let mut w = Waterfalls::new(WaterfallSettings {
            rows: 5,
            row_ns: SECOND,
        });
        for i in 0..40 {
            w.push(&frame(i * SECOND / 4, &[i as u8, 0], -100.0, -20.0));
        }
        let rows = w.rows("rx1").unwrap();
        assert_eq!(rows.len(), 5);
        let times: Vec<i64> = rows.iter().map(|r| r.timestamp.0 / SECOND).collect();
        assert_eq!(times, [5, 6, 7, 8, 9]);
        // A silence longer than the history leaves only what is recent.
        w.push(&frame(100 * SECOND, &[1, 2], -100.0, -20.0));
        w.push(&frame(101 * SECOND, &[1, 2], -100.0, -20.0));
        let times: Vec<i64> = w
            .rows("rx1")
            .unwrap()
            .iter()
            .map(|r| r.timestamp.0 / SECOND)
            .collect();
        assert_eq!(times, [100, 101]);
        // A clock that goes back starts over.
        w.push(&frame(3 * SECOND, &[1, 2], -100.0, -20.0));
        assert_eq!(w.rows("rx1").unwrap().len(), 1);
    }
}
