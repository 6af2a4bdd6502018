//! GPS time: conversion between the KiwiSDR's GPS week seconds and Unix time, and the clock
//! that gives every sample a GPS-disciplined time from the receiver's fresh-fix frames.
//!
//! A KiwiSDR stamps each `SND` frame with the GPS time of its first sample, but between GPS
//! solutions that stamp is the receiver's own extrapolation. The frames right after a fresh
//! solution ("seconds since the last solution" drops) are the accurate ones: they are the
//! anchors. Between anchors the sample rate is measured, fs = samples / elapsed, and sample k
//! gets t = t_anchor + (k - k_anchor) / fs. Anchors whose spacing disagrees with the sample
//! count by more than one sample are discarded, and the median of the recent rates is used, so
//! one bad solution cannot bend the timeline.

use super::protocol::SndHeader;
use std::collections::VecDeque;

/// Unix time of the GPS epoch (1980-01-06T00:00:00Z), s.
pub const GPS_EPOCH_UNIX_S: i64 = 315_964_800;
/// GPS time minus UTC, s: 18 since 2017-01-01, and no leap second has been announced since.
pub const GPS_LEAP_SECONDS: i64 = 18;
/// Seconds in a GPS week.
pub const WEEK_S: i64 = 604_800;
const NS: i64 = 1_000_000_000;

/// The GPS seconds-of-week and nanoseconds of a Unix time (ns).
pub fn unix_ns_to_gps_week(unix_ns: i64) -> (u32, u32) {
    let gps_ns = unix_ns - GPS_EPOCH_UNIX_S * NS + GPS_LEAP_SECONDS * NS;
    let week_ns = gps_ns.rem_euclid(WEEK_S * NS);
    ((week_ns / NS) as u32, (week_ns % NS) as u32)
}

/// The Unix time (ns) of a GPS seconds-of-week stamp, in the GPS week that puts it nearest to
/// `near_unix_ns` (usually the host clock: it only has to be right to within half a week).
pub fn gps_week_to_unix_ns(gps_sec: u32, gps_nsec: u32, near_unix_ns: i64) -> i64 {
    let near_gps_ns = near_unix_ns - GPS_EPOCH_UNIX_S * NS + GPS_LEAP_SECONDS * NS;
    let week_start = near_gps_ns.div_euclid(WEEK_S * NS) * WEEK_S * NS;
    let in_week = i64::from(gps_sec) * NS + i64::from(gps_nsec);
    let candidates = [week_start - WEEK_S * NS, week_start, week_start + WEEK_S * NS].map(|w| w + in_week);
    let best = candidates
        .into_iter()
        .min_by_key(|t| (t - near_gps_ns).abs())
        .unwrap_or(week_start + in_week);
    best + GPS_EPOCH_UNIX_S * NS - GPS_LEAP_SECONDS * NS
}

/// Anchors kept for the rate estimate: about half a minute at a solution every 2-4 s.
const MAX_ANCHORS: usize = 16;
/// Frames with a fix older than this are not called GPS-disciplined: the ADC clock has been
/// free-running that long. A KiwiSDR with a working antenna solves every few seconds.
pub const MAX_FIX_AGE_S: u8 = 60;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Anchor {
    sample: u64,
    time_ns: i64,
}

/// The time of one frame's first sample, and how much to trust it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTime {
    /// ns since the Unix epoch.
    pub time_ns: i64,
    /// Derived from GPS anchors with a recent fix.
    pub gps_locked: bool,
    /// Seconds since the receiver's last GPS solution; `None` when it never had one (or GPS
    /// timestamps are off).
    pub fix_age_s: Option<u8>,
}

/// Sample times of one receiver's stream from its frames' GPS stamps.
///
/// Frames are called GPS-locked once two consistent anchors have measured the rate and the
/// receiver's fix is at most [`MAX_FIX_AGE_S`] old.
#[derive(Debug, Clone)]
pub struct GpsClock {
    reported_rate_hz: f64,
    anchors: VecDeque<Anchor>,
    rate_hz: Option<f64>,
    previous_age: Option<u8>,
    rejected: u64,
    /// Host-clock fallback: (sample, time) of the first frame without GPS time.
    free_run: Option<Anchor>,
}

impl GpsClock {
    /// A clock for a stream whose receiver reports `reported_rate_hz` (`MSG sample_rate`).
    pub fn new(reported_rate_hz: f64) -> Self {
        Self {
            reported_rate_hz,
            anchors: VecDeque::with_capacity(MAX_ANCHORS),
            rate_hz: None,
            previous_age: None,
            rejected: 0,
            free_run: None,
        }
    }

    /// Updates the rate the receiver reports (a later `MSG sample_rate`).
    pub fn set_reported_rate(&mut self, rate_hz: f64) {
        self.reported_rate_hz = rate_hz;
    }

    /// The sample rate measured between anchors (median of the recent anchor pairs), or the
    /// reported one before two anchors exist.
    pub fn rate_hz(&self) -> f64 {
        self.rate_hz.unwrap_or(self.reported_rate_hz)
    }

    /// Whether the rate is measured (two or more consistent anchors).
    pub fn rate_measured(&self) -> bool {
        self.rate_hz.is_some()
    }

    /// Anchors currently in use.
    pub fn anchors(&self) -> usize {
        self.anchors.len()
    }

    /// Anchors discarded as inconsistent with the sample count.
    pub fn rejected_anchors(&self) -> u64 {
        self.rejected
    }

    /// Forgets the anchors (after the receiver restarted its stream, or a retune).
    pub fn reset(&mut self) {
        self.anchors.clear();
        self.rate_hz = None;
        self.previous_age = None;
        self.free_run = None;
    }

    /// The time of the frame whose first sample is stream sample `sample` (counted by the
    /// client, lost frames included), given its header; `host_now_ns` is the host clock, used
    /// to pick the GPS week and as the fallback without GPS.
    pub fn frame_time(&mut self, sample: u64, header: &SndHeader, host_now_ns: i64) -> FrameTime {
        if !header.has_gps_time() {
            self.previous_age = None;
            let start = *self.free_run.get_or_insert(Anchor {
                sample,
                time_ns: host_now_ns,
            });
            return FrameTime {
                time_ns: start.time_ns + self.offset_ns(sample, start.sample),
                gps_locked: false,
                fix_age_s: None,
            };
        }
        self.free_run = None;
        let age = header.last_gps_solution;
        let fresh = self.previous_age.is_some_and(|previous| age < previous);
        self.previous_age = Some(age);
        if fresh {
            let time_ns = gps_week_to_unix_ns(header.gps_sec, header.gps_nsec, host_now_ns);
            self.add_anchor(Anchor { sample, time_ns });
        }
        match self.anchors.back() {
            // Locked once the rate is measured: with one anchor the reported rate, a few ppm
            // off, would put microseconds of drift into the next seconds.
            Some(&anchor) => FrameTime {
                time_ns: anchor.time_ns + self.offset_ns(sample, anchor.sample),
                gps_locked: age <= MAX_FIX_AGE_S && self.rate_hz.is_some(),
                fix_age_s: Some(age),
            },
            // A fix, but no fresh solution seen yet: the receiver's own extrapolated stamp.
            None => FrameTime {
                time_ns: gps_week_to_unix_ns(header.gps_sec, header.gps_nsec, host_now_ns),
                gps_locked: false,
                fix_age_s: Some(age),
            },
        }
    }

    /// ns from sample `from` to sample `to` at the current rate.
    fn offset_ns(&self, to: u64, from: u64) -> i64 {
        let samples = to as f64 - from as f64;
        (samples * 1e9 / self.rate_hz()).round() as i64
    }

    fn add_anchor(&mut self, anchor: Anchor) {
        if let Some(last) = self.anchors.back() {
            let samples = anchor.sample as f64 - last.sample as f64;
            let elapsed_s = (anchor.time_ns - last.time_ns) as f64 * 1e-9;
            // The reported rate is good to a few ppm: one sample over the span is far more
            // than clock error and far less than a wrong solution.
            let expected = elapsed_s * self.reported_rate_hz;
            if samples <= 0.0 || elapsed_s <= 0.0 || (samples - expected).abs() > 1.0 {
                self.rejected += 1;
                tracing::debug!(
                    samples,
                    expected,
                    "GPS anchor inconsistent with the sample count; ignored"
                );
                if self.anchors.len() == 1 {
                    // With one earlier anchor we cannot tell which one is wrong: keep the newer.
                    self.anchors.clear();
                    self.anchors.push_back(anchor);
                }
                return;
            }
        }
        if self.anchors.len() == MAX_ANCHORS {
            self.anchors.pop_front();
        }
        self.anchors.push_back(anchor);
        let mut rates: Vec<f64> = self
            .anchors
            .iter()
            .zip(self.anchors.iter().skip(1))
            .map(|(a, b)| (b.sample - a.sample) as f64 / ((b.time_ns - a.time_ns) as f64 * 1e-9))
            .collect();
        if !rates.is_empty() {
            rates.sort_by(f64::total_cmp);
            self.rate_hz = Some(rates[rates.len() / 2]);
        }
    }
}
