//! GPS time: conversion between the KiwiSDR's GPS week seconds and Unix time, and the clock
//! that gives every sample of a live stream a GPS-disciplined time.
//!
//! A KiwiSDR stamps each `SND` frame with the GPS time of its first sample, but between GPS
//! solutions that stamp is the receiver's own extrapolation, and some stamps are plain wrong
//! (zero, stale, out of order). [`GpsClock`] feeds every frame's stamp to the robust fit of
//! [`super::timing`] over a sliding window of the recent solutions, and times each sample from
//! the fitted line: t = t0 + (k - k0) / fs, with fs the rate the solutions measure, whatever
//! the receiver announces.

use super::protocol::{SndHeader, NO_GPS_FIX};
use super::timing::{AnchorRule, TimingFit, TimingFitter, TimingProblem};

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

/// Solutions kept in the live fit's window: half a minute to over a minute of them (one every
/// 2-5 s), enough to reject a bad one, short enough to follow a drifting crystal.
pub const LIVE_ANCHORS: usize = 16;
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
    /// Derived from a trusted fit of GPS solutions, with a recent fix.
    pub gps_locked: bool,
    /// Seconds since the receiver's last GPS solution; `None` when it never had one (or GPS
    /// timestamps are off).
    pub fix_age_s: Option<u8>,
}

/// Sample times of one receiver's live stream from its frames' GPS stamps.
///
/// Frames are called GPS-locked once the fit is trusted (at least [`super::timing::MIN_ANCHORS`] consistent
/// solutions, see [`super::timing`]) and the receiver's fix is at most [`MAX_FIX_AGE_S`] old.
#[derive(Debug, Clone)]
pub struct GpsClock {
    fitter: TimingFitter,
    fit: Option<TimingFit>,
    problem: Option<TimingProblem>,
    /// Host-clock fallback: (sample, time) of the first frame without GPS time.
    free_run: Option<Anchor>,
}

impl GpsClock {
    /// A clock for a stream whose receiver reports `reported_rate_hz` (`MSG sample_rate`).
    pub fn new(reported_rate_hz: f64) -> Self {
        Self {
            fitter: TimingFitter::new(AnchorRule::SolutionCycle, reported_rate_hz, 0, LIVE_ANCHORS),
            fit: None,
            problem: None,
            free_run: None,
        }
    }

    /// Updates the rate the receiver reports (a later `MSG sample_rate`).
    pub fn set_reported_rate(&mut self, rate_hz: f64) {
        self.fitter.set_nominal_rate(rate_hz);
    }

    /// The sample rate the solutions measure, or the reported one before the fit is trusted.
    pub fn rate_hz(&self) -> f64 {
        self.fit.map_or(self.fitter.nominal_rate_hz(), |f| f.rate_hz)
    }

    /// The rate the receiver reported.
    pub fn reported_rate_hz(&self) -> f64 {
        self.fitter.nominal_rate_hz()
    }

    /// Whether the rate is measured (a trusted fit).
    pub fn rate_measured(&self) -> bool {
        self.fit.is_some()
    }

    /// The current fit, when trusted.
    pub fn fit(&self) -> Option<&TimingFit> {
        self.fit.as_ref()
    }

    /// Why the timing is not trusted (yet); `None` when it is.
    pub fn problem(&self) -> Option<TimingProblem> {
        if self.fit.is_some() {
            None
        } else {
            self.problem
        }
    }

    /// Anchors in the current fit.
    pub fn anchors(&self) -> usize {
        self.fit.map_or(0, |f| f.anchors)
    }

    /// Candidate solutions in the window rejected as inconsistent with the fit.
    pub fn rejected_anchors(&self) -> u64 {
        self.fitter.counts().rejected
    }

    /// Forgets the solutions (after the receiver restarted its stream, or a retune).
    pub fn reset(&mut self) {
        self.fitter.reset();
        self.fit = None;
        self.problem = None;
        self.free_run = None;
    }

    /// The time of the frame whose first sample is stream sample `sample` (counted by the
    /// client, lost frames included), given its header; `host_now_ns` is the host clock, used
    /// to pick the GPS week and as the fallback without GPS.
    pub fn frame_time(&mut self, sample: u64, header: &SndHeader, host_now_ns: i64) -> FrameTime {
        self.fitter.set_week_hint(host_now_ns);
        let candidate = self
            .fitter
            .push(sample, header.last_gps_solution, header.gps_sec, header.gps_nsec);
        if !header.has_gps_time() {
            if header.last_gps_solution == NO_GPS_FIX {
                self.problem = Some(TimingProblem::NoGpsStamps);
            }
            let start = *self.free_run.get_or_insert(Anchor {
                sample,
                time_ns: host_now_ns,
            });
            let elapsed = (sample as f64 - start.sample as f64) * 1e9 / self.rate_hz();
            return FrameTime {
                time_ns: start.time_ns + elapsed.round() as i64,
                gps_locked: false,
                fix_age_s: None,
            };
        }
        self.free_run = None;
        let age = header.last_gps_solution;
        if candidate {
            match self.fitter.fit() {
                Ok(fit) => {
                    self.fit = Some(fit);
                    self.problem = None;
                }
                Err(problem) => {
                    if let TimingProblem::TooFewAnchors { .. } = problem {
                        // Still gathering solutions: a trusted fit stays until a bad one.
                        if self.fit.is_none() {
                            self.problem = Some(problem);
                        }
                    } else {
                        tracing::debug!(%problem, "GPS timing not trusted");
                        self.fit = None;
                        self.problem = Some(problem);
                    }
                }
            }
        }
        match self.fit {
            Some(fit) => FrameTime {
                time_ns: fit.time_ns(sample as f64),
                gps_locked: age <= MAX_FIX_AGE_S,
                fix_age_s: Some(age),
            },
            // Not trusted yet: the receiver's own (extrapolated) stamp.
            None => FrameTime {
                time_ns: gps_week_to_unix_ns(header.gps_sec, header.gps_nsec, host_now_ns),
                gps_locked: false,
                fix_age_s: Some(age),
            },
        }
    }
}
