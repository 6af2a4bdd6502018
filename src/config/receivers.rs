//! `[[receivers]]`: local SoapySDR devices and remote KiwiSDRs. Each kind's settings and
//! checks live beside its source in `sdrhub-hardware`.

use sdrhub_hardware::kiwi::KiwiReceiverConfig;
use sdrhub_hardware::soapy::SoapyReceiverConfig;
use serde::{Deserialize, Serialize};

/// One configured receiver, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ReceiverConfig {
    /// A local device through SoapySDR (needs a build with `--features soapy`).
    Soapy(SoapyReceiverConfig),
    /// A remote KiwiSDR web receiver (IQ with GPS timestamps).
    Kiwisdr(KiwiReceiverConfig),
}

impl ReceiverConfig {
    /// The receiver's id.
    pub fn id(&self) -> &str {
        match self {
            ReceiverConfig::Soapy(c) => &c.id,
            ReceiverConfig::Kiwisdr(c) => &c.id,
        }
    }
}

impl ReceiverConfig {
    /// Every problem of this receiver's own settings, each naming its key (`key`: where it
    /// sits, e.g. `receivers[0]`); `min_fft_size` bounds a KiwiSDR's `fft_size`.
    pub fn problems(&self, key: &str, min_fft_size: usize) -> Vec<String> {
        match self {
            ReceiverConfig::Kiwisdr(kiwi) => kiwi.problems(key, min_fft_size),
            ReceiverConfig::Soapy(soapy) => soapy.problems(key),
        }
    }
}
