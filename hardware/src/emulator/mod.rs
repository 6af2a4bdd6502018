//! An emulator of the Red Pitaya SDR transceiver's TCP server, so the real SoapySDR library and
//! Debian's `soapysdr-module-redpitaya` driver can stream into sdrhub on a machine with no
//! radio. Plain std TCP on 127.0.0.1; no SoapySDR needed to build it.
//!
//! The driver opens a control connection and a data connection when its RX stream is
//! activated, tunes and selects one of six sample rates (20 k, 50 k, 100 k, 250 k, 500 k and
//! 1.25 MS/s); the emulator then streams a [`Scene`] of tones plus Gaussian noise as CF32 in
//! 16384-byte blocks, in real time, dropping blocks (never bursting) when the client falls
//! behind. [`RedPitayaEmulator::stop`] "unplugs" it and [`RedPitayaEmulator::restart`] plugs it
//! back on the same port.
//!
//! ```
//! use sdrhub_hardware::emulator::{EmulatorConfig, RedPitayaEmulator, Scene, Tone};
//!
//! let scene = Scene { tones: vec![Tone { offset_hz: 10e3, amplitude: 0.5 }], ..Scene::default() };
//! let mut emulator = RedPitayaEmulator::start(EmulatorConfig { port: 0, scene })?;
//! let args = emulator.device_args(); // "driver=redpitaya,addr=127.0.0.1,port=..."
//! assert!(args.starts_with("driver=redpitaya"));
//! emulator.stop();
//! emulator.restart()?; // same port
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod protocol;
mod scene;
mod server;

pub use scene::{Scene, SceneGenerator, Tone};
pub use server::{EmulatorConfig, EmulatorStats, RedPitayaEmulator};

#[cfg(test)]
mod tests;
