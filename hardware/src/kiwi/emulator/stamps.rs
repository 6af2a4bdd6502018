//! The GPS stamps an emulated KiwiSDR puts on its frames: exact on the frame after each
//! solution, the receiver's own extrapolation in between, and, on demand, the faults real
//! receivers show ([`StampFaults`]).

use super::{GpsMode, KiwiEmulatorConfig};
use crate::kiwi::gps::unix_ns_to_gps_week;
use crate::kiwi::protocol::{self, SndHeader, SAMPLES_PER_FRAME};

/// How a receiver's GPS stamps misbehave, as those of real KiwiSDRs recorded with
/// `kiwirecorder --kiwi-wav` do (the `real-world` profile, [`KiwiEmulatorConfig::real_world`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StampFaults {
    /// The first frame of a session stamped all zeros (seconds since solution 0).
    pub zero_first: bool,
    /// The second frame stamped this many seconds early and marked "0 s since the last
    /// solution": a stale solution from long before (11 600 s in a real file).
    pub stale_second_s: Option<f64>,
    /// Each solution's time off by up to this many ns (a fixed pseudo-random pattern): a real
    /// receiver's solutions scatter by 0.1-0.2 us about a steady clock.
    pub solution_jitter_ns: f64,
}

/// The header of the `frame_number`-th frame of a session (1 for the first), whose first sample
/// is stream sample `k`, taken at `true_time_ns`; `fs` is the true rate, `reported` the one
/// the receiver believes in (its extrapolation between solutions).
#[allow(clippy::too_many_arguments)]
pub(super) fn frame_header(
    config: &KiwiEmulatorConfig,
    sequence: u32,
    frame_number: u64,
    k: u64,
    true_time_ns: i64,
    fs: f64,
    reported: f64,
    overflow: bool,
) -> SndHeader {
    let mut flags = protocol::flags::IQ;
    if overflow {
        flags |= protocol::flags::ADC_OVERFLOW;
    }
    let mut header = SndHeader {
        flags,
        sequence,
        smeter: 500,
        last_gps_solution: protocol::NO_GPS_FIX,
        gps_sec: 0,
        gps_nsec: 0,
    };
    let GpsMode::Fix { solution_interval_s } = config.gps else {
        return header;
    };
    let faults = config.stamps;
    if faults.zero_first && frame_number == 1 {
        header.last_gps_solution = 0;
        return header;
    }
    let interval_ns = (solution_interval_s * 1e9) as i64;
    let since_epoch = true_time_ns - config.epoch_ns;
    // The last solution at or before this frame, and the first frame at or after it: that
    // frame carries the solution's time; the rest extrapolate from it.
    let solution_index = since_epoch.div_euclid(interval_ns);
    let solution_ns = config.epoch_ns + solution_index * interval_ns;
    let frame = SAMPLES_PER_FRAME as f64;
    let anchor_k = (((solution_ns - config.epoch_ns) as f64 * 1e-9 * fs) / frame).ceil() * frame;
    let anchor_k = anchor_k.min(k as f64);
    let jitter = faults.solution_jitter_ns * pattern(config.receiver as i64, solution_index);
    let anchor_time = config.epoch_ns + (anchor_k * 1e9 / fs).round() as i64 + jitter.round() as i64;
    let mut stamp = anchor_time + ((k as f64 - anchor_k) * 1e9 / reported).round() as i64;
    header.last_gps_solution = ((true_time_ns - solution_ns) / 1_000_000_000).clamp(0, 252) as u8;
    if let Some(stale_s) = faults.stale_second_s.filter(|_| frame_number == 2) {
        stamp -= (stale_s * 1e9) as i64;
        header.last_gps_solution = 0;
    }
    let (sec, nsec) = unix_ns_to_gps_week(stamp);
    header.gps_sec = sec;
    header.gps_nsec = nsec;
    header
}

/// A fixed pseudo-random number in [-1, 1] for (receiver, solution).
fn pattern(receiver: i64, solution: i64) -> f64 {
    let mut x = (receiver as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (solution as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_spans_minus_one_to_one_and_repeats() {
        let values: Vec<f64> = (0..1000).map(|s| pattern(3, s)).collect();
        assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert!(values.iter().any(|&v| v < -0.9) && values.iter().any(|&v| v > 0.9));
        assert_eq!(pattern(3, 17), pattern(3, 17));
        assert_ne!(pattern(3, 17), pattern(4, 17));
    }
}
