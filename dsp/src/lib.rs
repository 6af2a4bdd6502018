//! # sdrhub-dsp
//!
//! The pure, synchronous signal-processing core of sdrhub. Nothing here knows about threads,
//! sockets or async runtimes: every stage is a struct that plans its work (FFT plans, windows,
//! scratch buffers) once in its constructor and then processes slices without allocating.
//!
//! The stages, in the order a block of IQ samples meets them:
//!
//! - [`window`]: window functions and their noise bandwidth / coherent gain.
//! - [`spectrum`]: the Welch power spectrum (windowed FFT frames, |X|^2 averaged over K frames).
//! - [`noise`]: a noise-floor estimate that stays put when much of the band is occupied.
//! - [`cfar`]: the detection threshold that gives a chosen false-alarm probability per bin.
//! - [`detect`]: bins over threshold grouped into [`detect::Detection`]s.
//! - [`tracker`]: per-frame detections from many receivers fused into signals with stable ids,
//!   and [`emitter`]: which transmitter a signal is, across its transmissions.
//! - [`resample`]: band-limited interpolation onto a common time grid (receivers' clocks
//!   differ), and [`delay`]: the delay between two receivers' copies of a signal, with its
//!   variance.
//! - [`geo`] and [`locate`]: positions, and transmitter localization from received power or
//!   from time differences of arrival.
//! - [`demod`]: a listener's audio: one channel mixed to 0 Hz, decimated, filtered and
//!   demodulated (AM, NFM, WFM, USB, LSB, CW) to 12 kHz (48 kHz for wide FM).
//!
//! ```
//! use num_complex::Complex32;
//! use sdrhub_dsp::detect::{Detector, DetectorConfig};
//! use sdrhub_dsp::spectrum::{SpectrumConfig, Welch};
//!
//! let fft_size = 1024;
//! let spectrum = SpectrumConfig { fft_size, averages: 4, ..SpectrumConfig::default() };
//! let mut welch = Welch::new(&spectrum);
//! let mut detector = Detector::new(&spectrum, &DetectorConfig::default());
//! // A full-scale tone a quarter of the way up the band, plus a little noise-like dither.
//! let samples: Vec<Complex32> = (0..fft_size * 4)
//!     .map(|n| {
//!         let phase = 2.0 * std::f32::consts::PI * 0.25 * n as f32;
//!         let dither = ((n * 7919) % 101) as f32 / 101.0 - 0.5;
//!         Complex32::from_polar(1.0, phase) + Complex32::new(1e-3 * dither, -1e-3 * dither)
//!     })
//!     .collect();
//! let mut detections = Vec::new();
//! welch.push(&samples, |psd, _first_sample| {
//!     detector.detect(psd, 100e6, 1e6, &mut detections);
//! });
//! assert!(detections.iter().any(|d| (d.frequency_hz - 100.25e6).abs() < 1e6 / 1024.0));
//! ```
#![warn(missing_docs)]

pub mod batch;
pub mod cfar;
pub mod convert;
pub mod delay;
pub mod demod;
pub mod detect;
pub mod emitter;
pub mod geo;
pub mod locate;
pub mod noise;
pub mod resample;
pub mod spectrum;
pub mod tracker;
pub mod window;

/// Complex baseband sample type used throughout sdrhub.
pub use num_complex::Complex32;

/// Converts a linear power ratio to decibels; zero and negative powers map to a floor of -300 dB
/// instead of `-inf`/NaN so that results stay printable and comparable.
pub fn db(power: f64) -> f64 {
    if power > 0.0 {
        10.0 * power.log10()
    } else {
        -300.0
    }
}
