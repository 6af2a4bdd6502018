//! Propagation loss between a transmitter and a receiver.

use sdrhub_dsp::geo::SPEED_OF_LIGHT_M_S;
use serde::{Deserialize, Serialize};

/// Distances are clamped to at least this before computing a loss, because both models diverge
/// (to -inf dB) at zero distance. A receiver a metre from an antenna is overloaded anyway.
pub const MIN_PATH_DISTANCE_M: f64 = 1.0;

/// How path loss grows with distance (`simulation.path_loss`, tagged by `model`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PathLossConfig {
    /// Friis free-space loss, 20 log10(4 pi d f / c): exponent 2.
    FreeSpace,
    /// Free-space loss up to `ref_distance_m`, then `10 * exponent * log10(d / ref_distance_m)`
    /// more: the usual empirical model for ground-level links in built-up areas.
    LogDistance {
        /// Path-loss exponent n (2 = free space; 2.7 to 3.5 for urban ground-level links).
        #[serde(default = "default_exponent")]
        exponent: f64,
        /// Reference distance d0 where free space still holds, m.
        #[serde(default = "default_ref_distance_m")]
        ref_distance_m: f64,
    },
}

fn default_exponent() -> f64 {
    2.8
}

fn default_ref_distance_m() -> f64 {
    100.0
}

impl Default for PathLossConfig {
    /// Log-distance with n = 2.8 beyond 100 m: an urban VHF link between rooftop antennas.
    fn default() -> Self {
        PathLossConfig::LogDistance {
            exponent: default_exponent(),
            ref_distance_m: default_ref_distance_m(),
        }
    }
}

impl PathLossConfig {
    /// Path loss in dB over `distance_m` at `frequency_hz` (distance clamped to
    /// [`MIN_PATH_DISTANCE_M`]). The log-distance formula is also used below its reference
    /// distance, so the loss is exactly `a + 10 n log10(d)` everywhere, which is what a
    /// localizer fitting that model expects.
    pub fn loss_db(&self, distance_m: f64, frequency_hz: f64) -> f64 {
        let d = distance_m.max(MIN_PATH_DISTANCE_M);
        match *self {
            PathLossConfig::FreeSpace => free_space_loss_db(d, frequency_hz),
            PathLossConfig::LogDistance {
                exponent,
                ref_distance_m,
            } => {
                free_space_loss_db(ref_distance_m, frequency_hz)
                    + 10.0 * exponent * (d / ref_distance_m).log10()
            }
        }
    }

    /// The path-loss exponent n: the loss grows by 10 n dB per decade of distance.
    pub fn exponent(&self) -> f64 {
        match *self {
            PathLossConfig::FreeSpace => 2.0,
            PathLossConfig::LogDistance { exponent, .. } => exponent,
        }
    }
}

/// Friis free-space path loss, 20 log10(4 pi d f / c), dB.
pub fn free_space_loss_db(distance_m: f64, frequency_hz: f64) -> f64 {
    20.0 * (4.0 * std::f64::consts::PI * distance_m * frequency_hz / SPEED_OF_LIGHT_M_S).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_loss_matches_the_textbook_value_at_145_mhz() {
        // 20 log10(4 pi 1000 145e6 / c) = 75.68 dB (hand-computed); tolerance 0.01 dB.
        let loss = PathLossConfig::FreeSpace.loss_db(1000.0, 145e6);
        assert!((loss - 75.68).abs() < 0.01, "{loss}");
        assert_eq!(PathLossConfig::FreeSpace.exponent(), 2.0);
    }

    #[test]
    fn log_distance_adds_ten_n_db_per_decade_beyond_the_reference() {
        let model = PathLossConfig::LogDistance {
            exponent: 3.0,
            ref_distance_m: 100.0,
        };
        let at_ref = model.loss_db(100.0, 145e6);
        assert!((at_ref - free_space_loss_db(100.0, 145e6)).abs() < 1e-9);
        let decade = model.loss_db(1000.0, 145e6) - at_ref;
        assert!((decade - 30.0).abs() < 1e-9, "{decade}");
        assert_eq!(model.exponent(), 3.0);
    }
}
