//! Transmitter localization.
//!
//! A transmitter is located from the power it is received with at three or more receivers
//! ([`locate_power`]), which needs no common time base between receivers, or, for receivers
//! sharing a clock, from the differences of its arrival times ([`locate_tdoa`], with the delays
//! from [`crate::delay`]), which is far more precise. Every fix carries an uncertainty meant to
//! be taken literally: its 68 % circle and ellipse hold the true position in 68 % of fixes when
//! the model and the per-receiver sigmas are right, and the fix's `confidence` (a chi-square
//! p-value) says how well the measurements agree with that model.
//!
//! - [`power`]: the log-distance model, the solver and the Cramer-Rao bound.
//! - [`tdoa`]: time differences of arrival: Chan's closed form, a Levenberg-Marquardt fit on
//!   the ellipsoid that works from regional to continental scale, outlier rejection, the
//!   Cramer-Rao bound.
//! - [`pairs`]: arrival times fitted to the delays of every pair of receivers (no reference
//!   receiver to choose).
//! - [`ellipse`]: error ellipses and the circle that holds a given probability.
//! - [`linalg`]: the small fixed-size solvers both locators share.
//!
//! ```
//! use sdrhub_dsp::geo::{GeoPoint, LocalFrame};
//! use sdrhub_dsp::locate::{locate_power, PathLossModel, PowerObservation};
//!
//! let model = PathLossModel { exponent: 3.0, ref_distance_m: 1.0 };
//! let frame = LocalFrame::new(GeoPoint::new(47.0, 8.0));
//! let transmitter = frame.offset(60.0, 2_000.0);
//! let observations: Vec<PowerObservation> = [0.0, 90.0, 200.0, 300.0]
//!     .iter()
//!     .map(|&bearing| {
//!         let position = frame.offset(bearing, 10_000.0);
//!         // -20 dBFS at 1 m, falling off with the cube of the distance.
//!         let power_db = -20.0 - 30.0 * position.distance_m(transmitter).log10();
//!         PowerObservation { position, power_db, sigma_db: 2.0 }
//!     })
//!     .collect();
//! let fix = locate_power(&observations, &model).unwrap();
//! assert!(fix.position.distance_m(transmitter) < 1.0);
//! assert!((fix.ref_power_db + 20.0).abs() < 1e-3);
//! // With 2 dB per receiver, the 68 % radius is a few hundred metres here.
//! assert!(fix.uncertainty_m > 100.0 && fix.uncertainty_m < 5_000.0);
//! ```

mod chi2;
pub mod ellipse;
pub mod linalg;
pub mod pairs;
pub mod power;
pub mod tdoa;

pub use ellipse::{error_ellipse, radius_containing, Ellipse, ONE_SIGMA_PROBABILITY};
pub use power::{locate_power, power_crlb, Alternative, PathLossModel, PowerFix, PowerObservation};
pub use tdoa::{locate_tdoa, tdoa_crlb, Propagation, TdoaConfig, TdoaFix, TdoaReceiver};

/// Why a position could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocateError {
    /// Not enough receivers reported the signal.
    #[error("locating needs at least {need} receivers hearing the signal, only {have} did")]
    TooFewReceivers {
        /// Receivers given.
        have: usize,
        /// Receivers the method needs.
        need: usize,
    },
    /// The receivers' layout or the measurements cannot pin down a single position.
    #[error("no reliable position: {0}")]
    Degenerate(String),
    /// The solver did not settle on a position.
    #[error("the position solver did not converge")]
    NoConvergence,
    /// An input was out of range (non-finite power, non-positive sigma, invalid coordinates...).
    #[error("invalid localization input: {0}")]
    InvalidInput(String),
}
