//! KiwiSDR receivers: the client source, GPS timing, and an emulator.
//!
//! Public KiwiSDRs are the realistic remote IQ source: each streams one 12 kHz IQ channel
//! with the GPS time of every frame, which is what makes TDOA localization possible.
//!
//! - [`protocol`]: the wire format (frames, `MSG` pairs, the `SND` header, `SET` commands,
//!   the `/status` page). Pure parsers that never panic on any input.
//! - [`timing`]: the robust fit of GPS time against sample count (fresh solutions as anchors;
//!   zero, stale, out-of-order and inconsistent stamps rejected), shared by the live client and
//!   the Kiwi WAV reader, with the fitted rate, residuals and a typed reason when untrusted.
//! - [`gps`]: GPS week time and the [`gps::GpsClock`] that times every sample of a live stream
//!   from that fit.
//! - [`client`]: [`KiwiBuilder`] / [`KiwiSource`], the [`crate::IqSource`] (auth, IQ mode at
//!   fixed gain, keepalive, errors such as `too_busy` and `badp` as refusals, sequence gaps as
//!   discontinuities, the first frame dropped), and [`KiwiLink`], its live status (counters,
//!   refusals, the GPS timing of the stream).
//! - [`emulator`]: [`KiwiEmulator`], a simulated scene's receiver served as a KiwiSDR on
//!   loopback, with faults on demand.
//!
//! ```
//! use sdrhub_hardware::kiwi::{hf_scene, KiwiBuilder, KiwiConfig, KiwiEmulator, KiwiEmulatorConfig};
//! use sdrhub_hardware::sim::Scene;
//! use sdrhub_hardware::source::{IqBlock, IqSource, ReadOutcome, SourceBuilder};
//! use std::time::Duration;
//!
//! let scene = Scene::new(hf_scene()).expect("valid scene");
//! let epoch = sdrhub_hardware::acquisition::now_ns();
//! let emulator = KiwiEmulator::start(KiwiEmulatorConfig::new(scene, 0, epoch))?;
//! let url = emulator.url().parse().expect("a kiwi:// URL");
//! let mut builder = KiwiBuilder::new(KiwiConfig::new("brest", url, 10.0e6)).expect("valid");
//! let mut source = builder.open().expect("the emulator accepts us");
//! let mut block = IqBlock::with_capacity(512);
//! while source.read(&mut block, Duration::from_secs(1)).unwrap() != ReadOutcome::Block {}
//! assert_eq!(block.samples.len(), 512);
//! // The receiver's position came from its load_cfg.
//! assert!(builder.info().position.is_some());
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod client;
pub mod emulator;
pub mod gps;
mod link;
pub mod protocol;
pub mod settings;
#[cfg(test)]
mod tests;
pub mod timing;

pub use client::{
    KiwiBuilder, KiwiConfig, KiwiLink, KiwiSource, KiwiUrl, TimingStatus, DEFAULT_PORT, NOMINAL_RATE_HZ,
};
pub use emulator::{hf_scene, Admission, Faults, GpsMode, KiwiEmulator, KiwiEmulatorConfig, KIWI_RATE_HZ};
pub use settings::KiwiReceiverConfig;
