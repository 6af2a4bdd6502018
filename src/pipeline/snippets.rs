//! The last few seconds of each receiver's IQ, kept with the time of every block, so TDOA can
//! cut time-aligned snippets out of every receiver that heard a signal: timestamps, not arrival
//! order, decide which samples belong together.

use sdrhub_dsp::Complex32;
use sdrhub_hardware::IqBlock;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Seconds of IQ kept per receiver: enough for a localization request to find its window
/// after the spectrum that triggered it was processed (a 12 kHz KiwiSDR spectrum alone spans
/// 0.34 s).
const KEEP_S: f64 = 4.0;
/// Most samples kept per receiver (4 MiB): bounds memory for MHz-wide receivers, which keep
/// 0.5 s at 1 MS/s.
pub const MAX_RING_SAMPLES: usize = 1 << 19;
/// Fewest samples kept.
const MIN_RING_SAMPLES: usize = 1 << 14;

/// Why no snippet could be cut.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnippetError {
    /// The window starts before the oldest sample kept.
    #[error("the window has left the receiver's buffer")]
    Expired,
    /// The window ends after the newest sample received.
    #[error("the receiver has not delivered the window yet")]
    NotYet,
    /// Samples in the window were lost, or its time is not GPS-disciplined.
    #[error("{0}")]
    Unusable(&'static str),
}

/// Samples cut from one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Snippet {
    /// The samples.
    pub samples: Vec<Complex32>,
    /// Time of the first sample, ns since the epoch (exact to the ns).
    pub start_ns: i64,
    /// Sample rate, Hz.
    pub rate_hz: f64,
    /// Centre frequency, Hz.
    pub center_hz: f64,
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    /// Index (in samples written) of the block's first sample.
    first: u64,
    len: usize,
    time_ns: i64,
    rate_hz: f64,
    center_hz: f64,
    gps_locked: bool,
    discontinuity: bool,
}

impl Mark {
    fn end(&self) -> u64 {
        self.first + self.len as u64
    }

    fn time_of(&self, index: u64) -> f64 {
        self.time_ns as f64 + (index as f64 - self.first as f64) * 1e9 / self.rate_hz
    }
}

#[derive(Debug)]
struct Ring {
    samples: Vec<Complex32>,
    written: u64,
    marks: VecDeque<Mark>,
}

/// A receiver's recent IQ. Written by its DSP thread, read by the localization worker; the
/// lock is held only to copy samples in or out.
#[derive(Debug)]
pub struct SnippetRing {
    ring: Mutex<Ring>,
}

impl SnippetRing {
    /// A ring sized for a receiver streaming at `rate_hz`.
    pub fn new(rate_hz: f64) -> Self {
        let wanted = (rate_hz.max(1.0) * KEEP_S).ceil() as usize;
        let capacity = wanted
            .next_power_of_two()
            .clamp(MIN_RING_SAMPLES, MAX_RING_SAMPLES);
        Self {
            ring: Mutex::new(Ring {
                samples: vec![Complex32::new(0.0, 0.0); capacity],
                written: 0,
                marks: VecDeque::new(),
            }),
        }
    }

    /// A ring holding at least `samples` samples (for offline work over whole recordings).
    pub fn with_capacity(samples: usize) -> Self {
        Self {
            ring: Mutex::new(Ring {
                samples: vec![Complex32::new(0.0, 0.0); samples.max(1).next_power_of_two()],
                written: 0,
                marks: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // The ring stays consistent even if a holder panicked mid-copy: worst case a snippet
        // holds a few stale samples, which its correlation will show.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a block.
    pub fn push(&self, block: &IqBlock) {
        if block.samples.is_empty() || block.sample_rate_hz.is_nan() || block.sample_rate_hz <= 0.0 {
            return;
        }
        let mut ring = self.lock();
        let capacity = ring.samples.len();
        let first = ring.written;
        let samples = if block.samples.len() > capacity {
            &block.samples[block.samples.len() - capacity..]
        } else {
            &block.samples[..]
        };
        let skipped = block.samples.len() - samples.len();
        let at = ((first + skipped as u64) % capacity as u64) as usize;
        let head = samples.len().min(capacity - at);
        ring.samples[at..at + head].copy_from_slice(&samples[..head]);
        ring.samples[..samples.len() - head].copy_from_slice(&samples[head..]);
        ring.written = first + block.samples.len() as u64;
        ring.marks.push_back(Mark {
            first,
            len: block.samples.len(),
            time_ns: block.time_ns,
            rate_hz: block.sample_rate_hz,
            center_hz: block.center_hz,
            gps_locked: block.gps_locked,
            discontinuity: block.discontinuity,
        });
        let oldest = ring.written.saturating_sub(capacity as u64);
        while ring.marks.front().is_some_and(|m| m.end() <= oldest) {
            ring.marks.pop_front();
        }
    }

    /// Time of the newest sample received, ns (`None` before any).
    pub fn newest_ns(&self) -> Option<i64> {
        let ring = self.lock();
        let mark = ring.marks.back()?;
        Some(mark.time_of(mark.end()) as i64)
    }

    /// `len` consecutive samples starting at the sample nearest to `start_ns`, if the ring
    /// still (or already) holds them, none were lost in between, and all are GPS-timed.
    ///
    /// # Errors
    /// See [`SnippetError`].
    pub fn cut(&self, start_ns: i64, len: usize) -> Result<Snippet, SnippetError> {
        let ring = self.lock();
        let capacity = ring.samples.len() as u64;
        let oldest = ring.written.saturating_sub(capacity);
        let Some(position) = ring.marks.iter().position(|m| {
            let end_ns = m.time_of(m.end());
            (start_ns as f64) < end_ns
        }) else {
            return Err(SnippetError::NotYet);
        };
        let mark = ring.marks[position];
        let offset = ((start_ns as f64 - mark.time_ns as f64) * mark.rate_hz / 1e9).round();
        if offset < 0.0 && position == 0 {
            return Err(SnippetError::Expired);
        }
        let first = (mark.first as i64 + offset as i64).max(0) as u64;
        if first < oldest {
            return Err(SnippetError::Expired);
        }
        let end = first + len as u64;
        if end > ring.written {
            return Err(SnippetError::NotYet);
        }
        for m in ring.marks.iter().filter(|m| m.end() > first && m.first < end) {
            if !m.gps_locked {
                return Err(SnippetError::Unusable("samples in the window are not GPS-timed"));
            }
            if m.discontinuity && m.first > first {
                return Err(SnippetError::Unusable("samples were lost inside the window"));
            }
            if (m.rate_hz - mark.rate_hz).abs() > 1e-3 * mark.rate_hz || m.center_hz != mark.center_hz {
                return Err(SnippetError::Unusable(
                    "the receiver was retuned inside the window",
                ));
            }
        }
        let mut samples = Vec::with_capacity(len);
        let start = (first % capacity) as usize;
        let head = len.min(capacity as usize - start);
        samples.extend_from_slice(&ring.samples[start..start + head]);
        samples.extend_from_slice(&ring.samples[..len - head]);
        Ok(Snippet {
            samples,
            start_ns: mark.time_of(first).round() as i64,
            rate_hz: mark.rate_hz,
            center_hz: mark.center_hz,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn block(first: u64, len: usize, rate: f64, t0: i64) -> IqBlock {
        IqBlock {
            receiver_id: Arc::from("rx"),
            center_hz: 10e6,
            sample_rate_hz: rate,
            time_ns: t0 + (first as f64 * 1e9 / rate).round() as i64,
            gps_locked: true,
            seq: 0,
            discontinuity: false,
            receiver_stamp: None,
            samples: (first..first + len as u64)
                .map(|n| Complex32::new(n as f32, 0.0))
                .collect(),
        }
    }

    #[test]
    fn cuts_by_time_across_blocks_and_the_wrap() {
        let ring = SnippetRing::new(12_000.0);
        let t0 = 1_000_000_000_000;
        for i in 0..220u64 {
            ring.push(&block(i * 512, 512, 12_000.0, t0));
        }
        // Sample 100_000 is at t0 + 100000 / 12000 s.
        let start = t0 + (100_000.0 * 1e9 / 12_000.0) as i64;
        let snippet = ring.cut(start, 3000).unwrap();
        assert_eq!(snippet.samples[0].re, 100_000.0);
        assert_eq!(snippet.samples[2999].re, 102_999.0);
        assert!((snippet.start_ns - start).abs() <= 1);
        assert_eq!(ring.cut(t0, 100), Err(SnippetError::Expired));
        assert_eq!(ring.cut(start + 10_000_000_000, 100), Err(SnippetError::NotYet));
    }

    #[test]
    fn refuses_windows_with_lost_samples_or_without_gps() {
        let ring = SnippetRing::new(12_000.0);
        let t0 = 1_000_000_000_000;
        ring.push(&block(0, 512, 12_000.0, t0));
        let mut gap = block(1024, 512, 12_000.0, t0);
        gap.discontinuity = true;
        ring.push(&gap);
        assert!(matches!(ring.cut(t0, 600), Err(SnippetError::Unusable(_))));
        let mut unlocked = block(1536, 512, 12_000.0, t0);
        unlocked.gps_locked = false;
        ring.push(&unlocked);
        let start = t0 + (1600.0 * 1e9 / 12_000.0) as i64;
        assert!(matches!(ring.cut(start, 100), Err(SnippetError::Unusable(_))));
    }
}
