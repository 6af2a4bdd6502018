//! # sdrhub-hardware
//!
//! Every IQ source sdrhub can read (the simulated scene, SoapySDR devices, KiwiSDR receivers
//! and recordings) sits behind one blocking trait, [`IqSource`], and is driven by
//! [`acquisition::Acquisition`] on a dedicated OS thread with a bounded hand-off to DSP.
#![warn(missing_docs)]

pub mod acquisition;
pub mod emulator;
pub mod kiwi;
pub mod recording;
pub mod sim;
pub mod soapy;
pub mod source;

pub use source::{IqBlock, IqSource, ReadOutcome, ReceiverInfo, SourceError, SourceKind};
