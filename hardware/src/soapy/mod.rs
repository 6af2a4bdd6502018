//! SoapySDR receivers (RTL-SDR, Airspy, HackRF, ...). The device code is behind the `soapy`
//! cargo feature; the configuration and the device descriptions parse in every build.
//!
//! [`SoapyBuilder`] opens a device from a [`SoapyReceiverConfig`], checks every setting against
//! the ranges the driver reports and reads each back, and streams through a [`SoapySource`] on
//! the acquisition thread. [`devices::list_devices`] and [`devices::probe`] describe devices for
//! `sdrhub devices`.
//!
//! ```no_run
//! # #[cfg(feature = "soapy")] {
//! use sdrhub_hardware::acquisition::{Acquisition, AcquisitionConfig};
//! use sdrhub_hardware::soapy::{SoapyBuilder, SoapyReceiverConfig};
//!
//! let config: SoapyReceiverConfig = serde_json::from_value(serde_json::json!({
//!     "id": "rtl", "args": "driver=rtlsdr", "frequency_hz": 100e6, "sample_rate_hz": 2.4e6,
//! })).unwrap();
//! let builder = SoapyBuilder::new(config)?;
//! let acquisition = Acquisition::spawn(Box::new(builder), AcquisitionConfig::default());
//! let block = acquisition.blocks().recv().unwrap();
//! # }
//! # Ok::<(), sdrhub_hardware::SourceError>(())
//! ```

pub mod args;
pub mod config;
pub mod devices;
#[cfg(feature = "soapy")]
mod drivers;
#[cfg(feature = "soapy")]
mod settings;
#[cfg(feature = "soapy")]
mod source;

pub use args::DeviceArgs;
pub use config::{GainConfig, SoapyReceiverConfig, StreamFormat};
#[cfg(feature = "soapy")]
pub use devices::{list_devices, probe};
pub use devices::{ChannelDescription, DeviceDescription, GainElementDescription, RangeDescription};
#[cfg(feature = "soapy")]
pub use drivers::installed_drivers;
#[cfg(feature = "soapy")]
pub use source::{SoapyBuilder, SoapySource, BLOCK_SECONDS, MAX_BLOCK_SAMPLES, STALL_TIMEOUT, START_TIMEOUT};
