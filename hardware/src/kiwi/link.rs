//! The live facts about the link to one KiwiSDR ([`KiwiLink`]): counters, what the receiver
//! said about itself, why it refused, and the GPS timing of its stream; written by its client
//! source, read by whoever reports status.

use super::protocol::NO_GPS_FIX;
use super::timing::TimingFit;
use sdrhub_dsp::geo::GeoPoint;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

/// Live facts about the link to one KiwiSDR, shared between its source (which writes them) and
/// whoever reports status.
#[derive(Debug)]
pub struct KiwiLink {
    /// Connection attempts (successful or not).
    pub attempts: AtomicU64,
    /// Sessions that reached streaming.
    pub sessions: AtomicU64,
    /// A session is streaming now.
    pub connected: AtomicBool,
    /// IQ frames received.
    pub frames: AtomicU64,
    /// Frames lost (gaps in the sequence numbers).
    pub frames_lost: AtomicU64,
    /// Frames flagged with an ADC overflow.
    pub adc_overflows: AtomicU64,
    /// Binary frames that could not be parsed (truncated, unknown tag, not IQ...).
    pub malformed_frames: AtomicU64,
    /// Text frames (the protocol has none from the server).
    pub text_frames: AtomicU64,
    /// Frames over the size limit (each ends the connection).
    pub oversized_frames: AtomicU64,
    /// Seconds since the receiver's last GPS solution; 255: none.
    pub fix_age_s: AtomicU8,
    /// Sample times are GPS-disciplined.
    pub gps_locked: AtomicBool,
    /// Receiver channels (`rx_chans`), 0 if unknown.
    pub channels: AtomicU32,
    pub(super) measured_rate_bits: AtomicU64,
    pub(super) smeter_bits: AtomicU64,
    pub(super) detail: Mutex<LinkDetail>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct LinkDetail {
    pub(super) position: Option<GeoPoint>,
    pub(super) name: Option<String>,
    pub(super) reported_rate_hz: Option<f64>,
    pub(super) refusal: Option<String>,
    pub(super) last_problem: Option<String>,
    pub(super) timing: TimingStatus,
}

/// The GPS timing of a live stream: the robust fit of its solutions (see
/// [`super::timing`]), or why there is none.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TimingStatus {
    /// The fit, when trusted.
    pub fit: Option<TimingFit>,
    /// The rate the receiver announced (`MSG sample_rate`), Hz.
    pub announced_rate_hz: Option<f64>,
    /// Candidate solutions in the window rejected as inconsistent (zero, stale, out of order).
    pub rejected: u64,
    /// Why the timing is not trusted; `None` when it is (or no frame has arrived).
    pub problem: Option<String>,
}

impl Default for KiwiLink {
    fn default() -> Self {
        Self {
            attempts: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            frames_lost: AtomicU64::new(0),
            adc_overflows: AtomicU64::new(0),
            malformed_frames: AtomicU64::new(0),
            text_frames: AtomicU64::new(0),
            oversized_frames: AtomicU64::new(0),
            fix_age_s: AtomicU8::new(NO_GPS_FIX),
            gps_locked: AtomicBool::new(false),
            channels: AtomicU32::new(0),
            measured_rate_bits: AtomicU64::new(0),
            smeter_bits: AtomicU64::new(f64::NAN.to_bits()),
            detail: Mutex::new(LinkDetail::default()),
        }
    }
}

impl KiwiLink {
    pub(super) fn detail(&self) -> std::sync::MutexGuard<'_, LinkDetail> {
        // A poisoned lock only means a writer panicked mid-update; the fields are still whole.
        self.detail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The receiver's position from its configuration (`rx_gps`), once connected.
    pub fn position(&self) -> Option<GeoPoint> {
        self.detail().position
    }

    /// The receiver's name from its configuration, once connected.
    pub fn name(&self) -> Option<String> {
        self.detail().name.clone()
    }

    /// The sample rate the receiver reported (`MSG sample_rate`).
    pub fn reported_rate_hz(&self) -> Option<f64> {
        self.detail().reported_rate_hz
    }

    /// The sample rate measured between GPS anchors; `None` before two anchors.
    pub fn measured_rate_hz(&self) -> Option<f64> {
        let rate = f64::from_bits(self.measured_rate_bits.load(Ordering::Relaxed));
        (rate > 0.0).then_some(rate)
    }

    /// The last S-meter reading, dBm.
    pub fn smeter_dbm(&self) -> Option<f64> {
        let value = f64::from_bits(self.smeter_bits.load(Ordering::Relaxed));
        value.is_finite().then_some(value)
    }

    /// Why the receiver last refused us (busy, bad password, down, redirect); cleared when a
    /// session starts streaming.
    pub fn refusal(&self) -> Option<String> {
        self.detail().refusal.clone()
    }

    /// The last protocol problem seen (a malformed frame, a text frame...), kept for status.
    pub fn last_problem(&self) -> Option<String> {
        self.detail().last_problem.clone()
    }

    /// A session is streaming. It starts a new sample count: what the last one fitted says
    /// nothing about it until its own GPS solutions arrive.
    pub(super) fn session_started(&self) {
        {
            let mut detail = self.detail();
            detail.refusal = None;
            detail.timing = TimingStatus::default();
        }
        self.gps_locked.store(false, Ordering::Relaxed);
        self.sessions.fetch_add(1, Ordering::Relaxed);
        self.connected.store(true, Ordering::Release);
    }

    /// The stream's GPS timing: fitted rate, residuals, and why it is not trusted.
    pub fn timing(&self) -> TimingStatus {
        self.detail().timing.clone()
    }

    /// Seconds since the receiver's last GPS solution, `None` when it has no fix.
    pub fn fix_age(&self) -> Option<u8> {
        let age = self.fix_age_s.load(Ordering::Relaxed);
        (age != NO_GPS_FIX).then_some(age)
    }

    pub(super) fn problem(&self, what: String) {
        tracing::debug!(problem = %what, "KiwiSDR protocol problem");
        self.detail().last_problem = Some(what);
    }
}
