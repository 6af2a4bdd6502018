//! Configuration of one SoapySDR receiver (`[[receivers]]` with `kind = "soapy"`).
//!
//! Parsed in every build, so a configuration naming a SoapySDR receiver gets a clear error from
//! a binary built without the `soapy` feature instead of an "unknown key".

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Gain setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GainConfig {
    /// `"auto"`: the device's automatic gain control.
    Auto(AutoGain),
    /// Overall gain in dB, distributed by the driver.
    Overall(f64),
    /// Per-element gains in dB, e.g. `{ LNA = 20, VGA = 10 }`.
    Elements(BTreeMap<String, f64>),
}

/// The literal `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoGain {
    /// Automatic gain control.
    Auto,
}

impl Default for GainConfig {
    fn default() -> Self {
        GainConfig::Auto(AutoGain::Auto)
    }
}

/// Stream sample format requested from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    /// The device's native format (converted by the DSP kernels): least CPU in the driver.
    #[default]
    Native,
    /// Complex float32 converted by the driver.
    Cf32,
    /// Complex int16.
    Cs16,
    /// Complex int8.
    Cs8,
    /// Complex uint8.
    Cu8,
}

/// One SoapySDR receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoapyReceiverConfig {
    /// Stable id, unique among receivers.
    pub id: String,
    /// Human-readable name; empty means the id.
    #[serde(default)]
    pub name: String,
    /// SoapySDR device arguments, e.g. `driver=rtlsdr,serial=00000001`.
    pub args: String,
    /// RX channel.
    #[serde(default)]
    pub channel: usize,
    /// Centre frequency, Hz.
    pub frequency_hz: f64,
    /// Sample rate, Hz.
    pub sample_rate_hz: f64,
    /// Analog bandwidth, Hz; 0 leaves the driver's default.
    #[serde(default)]
    pub bandwidth_hz: f64,
    /// Gain: `"auto"`, overall dB, or per element.
    #[serde(default)]
    pub gain: GainConfig,
    /// Antenna name; empty leaves the driver's default.
    #[serde(default)]
    pub antenna: String,
    /// Frequency correction, parts per million.
    #[serde(default)]
    pub ppm: f64,
    /// Stream format.
    #[serde(default)]
    pub format: StreamFormat,
    /// Antenna latitude, degrees (needed for localization).
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Antenna longitude, degrees.
    #[serde(default)]
    pub longitude: Option<f64>,
}

impl SoapyReceiverConfig {
    /// Every problem of this receiver, each naming its key (`key` is where it sits, e.g.
    /// `receivers[0]`), including a build without SoapySDR support.
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, message: String| {
            if !ok {
                problems.push(message);
            }
        };
        check(
            cfg!(feature = "soapy"),
            format!(
                "{key} (kind = \"soapy\", id {:?}): this sdrhub was built without SoapySDR support; \
                 rebuild with `cargo build --release --features soapy`",
                self.id
            ),
        );
        check(
            !self.args.trim().is_empty(),
            format!("{key}.args: must name a device, e.g. \"driver=rtlsdr\""),
        );
        check(
            self.frequency_hz.is_finite() && self.frequency_hz > 0.0,
            format!("{key}.frequency_hz = {}: must be > 0", self.frequency_hz),
        );
        check(
            self.sample_rate_hz.is_finite() && self.sample_rate_hz > 0.0,
            format!("{key}.sample_rate_hz = {}: must be > 0", self.sample_rate_hz),
        );
        check(
            self.latitude.is_some() == self.longitude.is_some(),
            format!("{key}: give both latitude and longitude, or neither"),
        );
        if let (Some(lat), Some(lon)) = (self.latitude, self.longitude) {
            check(
                sdrhub_dsp::geo::GeoPoint::new(lat, lon).is_valid(),
                format!("{key}: latitude {lat} / longitude {lon} out of range"),
            );
        }
        problems
    }
}
