//! The position half of emitter identity. The tracker matches a returning transmitter by
//! frequency and bandwidth alone (it knows no positions, see `sdrhub_dsp::emitter`); fusion
//! remembers where each emitter was located and, when a later transmission attributed to it is
//! located somewhere else (beyond the two fixes' uncertainties), that transmission is another
//! transmitter on the same channel: it becomes the remembered emitter on that frequency that
//! was located where it is, if any, else an emitter of its own.
//!
//! Until a transmission has a fix, its emitter rests on frequency and bandwidth; the check
//! happens at its first fix, so its first reports may carry the remembered `emitter_id`.

use sdrhub_dsp::geo::GeoPoint;
use std::collections::{HashMap, HashSet};

/// Two fixes of one emitter may be this many times their combined 68 % radii apart (the radii
/// are about 1.5 standard deviations; 3 of them is about 4.5 sigma, so a genuine return is
/// almost never split, while power fixes, coarse as they are, still split transmitters tens
/// of kilometres apart).
pub const POSITION_GATE: f64 = 3.0;

/// Where an emitter was last located.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fix {
    /// The track (transmission) located.
    track: u64,
    position: GeoPoint,
    uncertainty_m: f64,
}

/// The latest fix of every located emitter still remembered.
#[derive(Debug, Clone, Default)]
pub struct EmitterFixes {
    fixes: HashMap<u64, Fix>,
}

impl EmitterFixes {
    /// Whether a fix of track `track` (attributed to emitter `emitter`) at `position`, within
    /// `uncertainty_m`, contradicts the emitter's fix from an earlier transmission. A fix from
    /// the same transmission never does (a moving transmitter stays itself).
    pub fn contradicts(&self, emitter: u64, track: u64, position: GeoPoint, uncertainty_m: f64) -> bool {
        self.fixes.get(&emitter).is_some_and(|old| {
            old.track != track
                && old.position.distance_m(position) > POSITION_GATE * old.uncertainty_m.hypot(uncertainty_m)
        })
    }

    /// How far a fix at `position`, within `uncertainty_m`, is from emitter `emitter`'s fix,
    /// in units of the gate's reach: at most 1 is compatible; `None` when it has no fix.
    pub fn gated_distance(&self, emitter: u64, position: GeoPoint, uncertainty_m: f64) -> Option<f64> {
        self.fixes.get(&emitter).map(|old| {
            old.position.distance_m(position) / (POSITION_GATE * old.uncertainty_m.hypot(uncertainty_m))
        })
    }

    /// Records emitter `emitter`'s latest fix, from track `track`.
    pub fn record(&mut self, emitter: u64, track: u64, position: GeoPoint, uncertainty_m: f64) {
        self.fixes.insert(
            emitter,
            Fix {
                track,
                position,
                uncertainty_m,
            },
        );
    }

    /// Forgets the fixes of emitters not in `remembered` (the tracker forgot them): the map
    /// stays as bounded as the tracker's emitter memory.
    pub fn retain(&mut self, remembered: &HashSet<u64>) {
        self.fixes.retain(|id, _| remembered.contains(id));
    }

    /// Emitters with a fix.
    pub fn len(&self) -> usize {
        self.fixes.len()
    }

    /// Whether no emitter has a fix.
    pub fn is_empty(&self) -> bool {
        self.fixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_elsewhere_contradicts_and_a_return_in_place_does_not() {
        let mut fixes = EmitterFixes::default();
        let paris = GeoPoint::new(48.8566, 2.3522);
        fixes.record(1, 10, paris, 500.0);
        let near = GeoPoint::new(48.8600, 2.3522); // ~380 m north
        let far = GeoPoint::new(49.0, 2.3522); // ~16 km north
        assert!(!fixes.contradicts(1, 11, near, 500.0));
        assert!(fixes.contradicts(1, 11, far, 500.0));
        assert!(
            !fixes.contradicts(1, 10, far, 500.0),
            "the same transmission moved"
        );
        assert!(!fixes.contradicts(2, 11, far, 500.0), "no fix of that emitter");
        fixes.retain(&HashSet::new());
        assert!(fixes.is_empty());
    }
}
