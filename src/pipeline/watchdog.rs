//! The DSP watchdog: whether a receiver's DSP thread has stopped producing spectra.
//!
//! It compares wall-clock time, not counters between two status ticks: a process frozen
//! (SIGSTOP, a debugger, a VM pause) and resumed wakes with its status task and its DSP
//! threads in no particular order, and the first report after the resume must still say that
//! no spectrum came for the whole freeze until the DSP has produced one.

/// Shortest silence called a stall, ns: shorter gaps are scheduling noise on a busy machine
/// (spectra come every 32 ms by default), and a stall must be reported within 2 s (issue 19):
/// this plus the 250 ms status tick is 1.75 s.
pub const MIN_STALL_NS: i64 = 1_500_000_000;
/// Expected spectrum intervals without a spectrum before a stall is reported (one late
/// spectrum is jitter; three in a row is not).
pub const STALL_INTERVALS: i64 = 3;

/// How long a receiver may go without a spectrum before it is called stalled, ns:
/// `max(MIN_STALL_NS, STALL_INTERVALS x interval_ns)`.
pub fn stall_after_ns(interval_ns: i64) -> i64 {
    MIN_STALL_NS.max(STALL_INTERVALS.saturating_mul(interval_ns))
}

/// How long the DSP has been silent, ns, when that is a stall; `None` while it is not.
///
/// `last_output_ns` is the wall-clock time of the last spectrum (0: none yet) and
/// `streaming_since_ns` the time the receiver started streaming, so a receiver that just
/// (re)opened is given its full allowance before it is blamed.
pub fn stalled_for_ns(
    now_ns: i64,
    last_output_ns: i64,
    streaming_since_ns: i64,
    interval_ns: i64,
) -> Option<i64> {
    let silent = now_ns - last_output_ns.max(streaming_since_ns);
    (silent > stall_after_ns(interval_ns)).then_some(silent)
}

/// The expected time between two spectra, ns: `samples` per spectrum at `sample_rate_hz`.
pub fn spectrum_interval_ns(samples: u64, sample_rate_hz: f64) -> i64 {
    if sample_rate_hz > 0.0 {
        (samples as f64 / sample_rate_hz * 1e9) as i64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_fast_spectrum_is_stalled_after_one_and_a_half_seconds_not_before() {
        // 32 ms spectra (4096 x 8 at 1.024 MS/s): the 1.5 s floor applies.
        let interval = spectrum_interval_ns(4096 * 8, 1_024_000.0);
        assert_eq!(interval, 32_000_000);
        let last = 100 * S;
        assert_eq!(stalled_for_ns(last + S, last, 0, interval), None);
        assert_eq!(stalled_for_ns(last + 1_500_000_000, last, 0, interval), None);
        assert_eq!(
            stalled_for_ns(last + 1_600_000_000, last, 0, interval),
            Some(1_600_000_000)
        );
        assert_eq!(
            stalled_for_ns(last + 2_400_000_000, last, 0, interval),
            Some(2_400_000_000)
        );
    }

    #[test]
    fn a_slow_spectrum_gets_three_intervals() {
        // A 12 kS/s remote channel with 1 s spectra: 3 s before a stall.
        let interval = spectrum_interval_ns(12_000, 12_000.0);
        assert_eq!(stall_after_ns(interval), 3 * S);
        assert_eq!(stalled_for_ns(12 * S, 10 * S, 0, interval), None);
        assert_eq!(stalled_for_ns(14 * S, 10 * S, 0, interval), Some(4 * S));
    }

    #[test]
    fn after_a_freeze_the_first_check_says_stalled_until_a_spectrum_comes() {
        // The process was stopped for 50 s: the clock jumped, the last spectrum is old.
        let last = 1_000 * S;
        let resumed = last + 50 * S;
        assert_eq!(stalled_for_ns(resumed, last, 0, 32_000_000), Some(50 * S));
        // The DSP produced a spectrum right after the resume: no longer stalled.
        assert_eq!(stalled_for_ns(resumed + S / 10, resumed, 0, 32_000_000), None);
    }

    #[test]
    fn a_receiver_that_just_started_streaming_is_not_blamed() {
        // No spectrum yet (0), but streaming only since a second ago.
        assert_eq!(stalled_for_ns(10 * S, 0, 9 * S, 32_000_000), None);
        // Reopened after an outage: the old spectrum time does not count against it.
        assert_eq!(stalled_for_ns(10 * S, 2 * S, 9 * S, 32_000_000), None);
        assert_eq!(stalled_for_ns(12 * S, 0, 9 * S, 32_000_000), Some(3 * S));
    }
}
