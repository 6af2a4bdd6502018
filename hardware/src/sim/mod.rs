//! The simulated scene: receivers and transmitters on a map, with true propagation.
//!
//! A [`Scene`] is built from a [`SceneConfig`] (`[simulation]` in the gateway config; its
//! `Default` is the scene sdrhub runs when no hardware is configured). Every transmitter's
//! waveform is a closed-form function of time; a receiver at distance d hears it delayed by
//! exactly d / c (to a fraction of a sample, carrier phase included), attenuated by the
//! [`PathLossConfig`] model, on top of complex Gaussian noise. Samples are deterministic given
//! the seed, the receiver, the scene epoch and the sample index.
//!
//! - [`Scene::builders`] gives one real-time [`SimulatedBuilder`] per receiver for
//!   [`crate::acquisition::Acquisition`].
//! - [`Scene::generator`] gives an unpaced [`ReceiverGenerator`] for tests and offline work.
//! - The `Scene` accessors ([`Scene::received_dbfs`], [`Scene::delay_s`], [`Scene::is_on`],
//!   [`Scene::noise_dbfs_per_bin`]...) are the ground truth to test detection and localization.
//!
//! ```
//! use sdrhub_hardware::sim::{Scene, SceneConfig};
//! use sdrhub_hardware::IqBlock;
//!
//! let scene = Scene::new(SceneConfig::default()).expect("the default scene is valid");
//! let mut generator = scene.generator(0, 1_700_000_000_000_000_000);
//! let mut block = IqBlock::with_capacity(4096);
//! generator.fill(&mut block, 4096);
//! assert_eq!((block.samples.len(), &*block.receiver_id), (4096, "rx1"));
//! // The interfering carrier is on from the start, well above the noise at every receiver.
//! assert!(scene.received_dbfs(0, 0) > scene.noise_dbfs_per_bin(4096, 2.0) + 15.0);
//! ```

mod config;
mod error;
mod fastmath;
mod generator;
mod noise;
mod path;
mod path_loss;
mod scene;
mod signal;
mod source;
#[cfg(test)]
mod tests;

pub use config::{
    SceneConfig, ScheduleConfig, SignalKind, SimReceiverConfig, TransmitterConfig, MAX_BLOCK_SAMPLES,
    MAX_RECEIVERS, MIN_FM_BANDWIDTH_HZ, MIN_SCHEDULE_PERIOD_S,
};
pub use error::{ConfigProblem, SceneError};
pub use generator::ReceiverGenerator;
pub use path_loss::{free_space_loss_db, PathLossConfig, MIN_PATH_DISTANCE_M};
pub use scene::{Scene, SimReceiver, SimTransmitter};
pub use source::{SimulatedBuilder, SimulatedSource};
