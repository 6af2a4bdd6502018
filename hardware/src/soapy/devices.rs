//! What `sdrhub devices` shows: the SoapySDR devices found and what each can do.
//!
//! The description types are plain serde data, available in every build; listing and probing
//! need the `soapy` feature. Finding devices does not always contact them (the Red Pitaya
//! driver "finds" whatever address it is given), but probing opens each one and queries it,
//! without streaming.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A range of values a device accepts; `minimum == maximum` is a single value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RangeDescription {
    /// Lowest value.
    pub minimum: f64,
    /// Highest value.
    pub maximum: f64,
    /// Step between values; 0 when continuous or unknown.
    pub step: f64,
}

/// One gain element (e.g. `LNA`, `TUNER`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainElementDescription {
    /// Element name, the key of a per-element `gain` table.
    pub name: String,
    /// Its range, dB.
    pub range: RangeDescription,
}

/// What one RX channel can do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChannelDescription {
    /// Channel index (`channel` in the config).
    pub channel: usize,
    /// Tunable centre frequencies, Hz (at the current sample rate: some drivers' range depends
    /// on it).
    pub frequency_ranges: Vec<RangeDescription>,
    /// Sample rates, samples/s.
    pub sample_rates: Vec<RangeDescription>,
    /// Analog bandwidths, Hz; empty when not adjustable.
    pub bandwidths: Vec<RangeDescription>,
    /// Overall gain range, dB; absent when the device has no gain controls.
    pub gain_range: Option<RangeDescription>,
    /// Gain elements.
    pub gain_elements: Vec<GainElementDescription>,
    /// Whether the device has automatic gain control (`gain = "auto"`).
    pub automatic_gain: bool,
    /// Selectable antennas.
    pub antennas: Vec<String>,
    /// Tuning components (`RF`, `BB`, `CORR` when it takes a ppm correction).
    pub frequency_components: Vec<String>,
    /// Native stream format (`CS16`, `CU8`, ...).
    pub native_format: Option<String>,
    /// Full-scale value of the native format.
    pub native_full_scale: Option<f64>,
    /// Formats the driver can stream.
    pub stream_formats: Vec<String>,
    /// Samples per stream transfer, when setting up a stream was possible.
    pub mtu: Option<usize>,
}

/// One device and its RX capabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DeviceDescription {
    /// Driver key (`rtlsdr`, `redpitaya`, ...).
    pub driver: String,
    /// Human-readable label from discovery (or the hardware key).
    pub label: String,
    /// Device arguments that open this device (put them in `args` of a receiver).
    pub args: String,
    /// Hardware key, when the device could be opened.
    pub hardware: Option<String>,
    /// Driver-specific hardware information (serial, firmware...).
    pub hardware_info: BTreeMap<String, String>,
    /// RX channels.
    pub rx_channels: Vec<ChannelDescription>,
    /// Why the device could not be probed (busy, unplugged...), when listing.
    pub error: Option<String>,
}

fn range_text(r: &RangeDescription) -> String {
    if r.minimum == r.maximum {
        format!("{}", r.minimum)
    } else if r.step > 0.0 {
        format!("{}..{} step {}", r.minimum, r.maximum, r.step)
    } else {
        format!("{}..{}", r.minimum, r.maximum)
    }
}

fn ranges_text(ranges: &[RangeDescription]) -> String {
    if ranges.is_empty() {
        return "-".to_owned();
    }
    ranges.iter().map(range_text).collect::<Vec<_>>().join(", ")
}

fn list_text(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

impl fmt::Display for DeviceDescription {
    /// A few indented lines per device, for `sdrhub devices`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({})", self.label, self.driver)?;
        writeln!(f, "  args: {}", self.args)?;
        if let Some(hardware) = &self.hardware {
            writeln!(f, "  hardware: {hardware}")?;
        }
        for (key, value) in &self.hardware_info {
            writeln!(f, "  {key}: {value}")?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "  error: {error}")?;
        }
        for ch in &self.rx_channels {
            writeln!(f, "  RX channel {}:", ch.channel)?;
            writeln!(f, "    frequency Hz: {}", ranges_text(&ch.frequency_ranges))?;
            writeln!(f, "    sample rates: {}", ranges_text(&ch.sample_rates))?;
            writeln!(f, "    bandwidth Hz: {}", ranges_text(&ch.bandwidths))?;
            let gains: Vec<String> = ch
                .gain_elements
                .iter()
                .map(|g| format!("{} {} dB", g.name, range_text(&g.range)))
                .collect();
            writeln!(
                f,
                "    gain: {}{}{}",
                ch.gain_range
                    .as_ref()
                    .map_or("-".to_owned(), |r| format!("{} dB", range_text(r))),
                if gains.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", gains.join(", "))
                },
                if ch.automatic_gain { ", auto available" } else { "" }
            )?;
            writeln!(f, "    antennas: {}", list_text(&ch.antennas))?;
            writeln!(
                f,
                "    tuning components: {}",
                list_text(&ch.frequency_components)
            )?;
            writeln!(
                f,
                "    formats: native {}, stream {}{}",
                ch.native_format.as_deref().unwrap_or("-"),
                list_text(&ch.stream_formats),
                ch.mtu.map_or(String::new(), |m| format!(", MTU {m} samples"))
            )?;
        }
        Ok(())
    }
}

#[cfg(feature = "soapy")]
pub use probe::{list_devices, probe};

#[cfg(feature = "soapy")]
mod probe {
    use super::*;
    use crate::soapy::args::DeviceArgs;
    use crate::soapy::source::open_device;
    use crate::source::SourceError;
    use num_complex::Complex32;
    use soapysdr::{Device, Direction, Range};

    fn range(r: &Range) -> RangeDescription {
        RangeDescription {
            minimum: r.minimum,
            maximum: r.maximum,
            step: r.step,
        }
    }

    fn ranges(rs: Result<Vec<Range>, soapysdr::Error>) -> Vec<RangeDescription> {
        rs.map(|v| v.iter().map(range).collect()).unwrap_or_default()
    }

    /// Finds the devices matching `filter_args` (`""` for all; `driver=rtlsdr` for one kind)
    /// and probes each. A device that cannot be opened (busy, gone) is still listed, with
    /// `error` set.
    ///
    /// Without a `driver` filter every installed driver searches, which for network drivers
    /// (UHD, SoapyRemote) means broadcasts on the local network, as `SoapySDRUtil --find` does.
    ///
    /// # Errors
    /// [`SourceError::Config`] for a malformed filter; [`SourceError::Open`] when SoapySDR
    /// itself fails.
    pub fn list_devices(filter_args: &str) -> Result<Vec<DeviceDescription>, SourceError> {
        let filter = DeviceArgs::parse(filter_args)?;
        let soapy_filter: soapysdr::Args = filter
            .pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        crate::soapy::source::init_logging();
        let found = soapysdr::enumerate(soapy_filter)
            .map_err(|e| SourceError::Open(format!("finding SoapySDR devices failed: {}", e.message)))?;
        let mut devices = Vec::with_capacity(found.len());
        for args in found {
            // Joined with plain commas so the string pastes into a config unchanged.
            let args_text = args
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let label = args.get("label").unwrap_or_default().to_owned();
            let driver = args.get("driver").unwrap_or_default().to_owned();
            match probe(&args_text) {
                Ok(mut description) => {
                    if !label.is_empty() {
                        description.label = label;
                    }
                    devices.push(description);
                }
                Err(error) => devices.push(DeviceDescription {
                    label: if label.is_empty() { driver.clone() } else { label },
                    driver,
                    args: args_text,
                    error: Some(error.to_string()),
                    ..DeviceDescription::default()
                }),
            }
        }
        Ok(devices)
    }

    /// Opens the device `args` names (without streaming) and describes its RX channels.
    ///
    /// # Errors
    /// [`SourceError::Config`] for malformed args or a driver that is not installed;
    /// [`SourceError::Open`] when no such device answers.
    pub fn probe(args: &str) -> Result<DeviceDescription, SourceError> {
        let parsed = DeviceArgs::parse(args)?;
        let device = open_device(&parsed)?;
        let driver = device.driver_key().unwrap_or_default();
        let hardware = device.hardware_key().ok().filter(|h| !h.is_empty());
        let hardware_info = device
            .hardware_info()
            .map(|info| info.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
            .unwrap_or_default();
        let channels = device.num_channels(Direction::Rx).map_err(|e| {
            SourceError::Open(format!(
                "driver={driver}: counting RX channels failed: {}",
                e.message
            ))
        })?;
        let rx_channels = (0..channels).map(|ch| describe_channel(&device, ch)).collect();
        Ok(DeviceDescription {
            label: hardware.clone().unwrap_or_else(|| driver.clone()),
            driver,
            args: parsed.to_string(),
            hardware,
            hardware_info,
            rx_channels,
            error: None,
        })
    }

    fn describe_channel(device: &Device, ch: usize) -> ChannelDescription {
        let rx = Direction::Rx;
        let gain_elements: Vec<GainElementDescription> = device
            .list_gains(rx, ch)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|name| {
                let r = device.gain_element_range(rx, ch, name.as_str()).ok()?;
                Some(GainElementDescription {
                    name,
                    range: range(&r),
                })
            })
            .collect();
        let native = device.native_stream_format(rx, ch).ok();
        ChannelDescription {
            channel: ch,
            frequency_ranges: ranges(device.frequency_range(rx, ch)),
            sample_rates: ranges(device.get_sample_rate_range(rx, ch)),
            bandwidths: ranges(device.bandwidth_range(rx, ch)),
            gain_range: if gain_elements.is_empty() {
                None
            } else {
                device.gain_range(rx, ch).ok().map(|r| range(&r))
            },
            gain_elements,
            automatic_gain: device.has_gain_mode(rx, ch).unwrap_or(false),
            antennas: device.antennas(rx, ch).unwrap_or_default(),
            frequency_components: device.list_frequencies(rx, ch).unwrap_or_default(),
            native_format: native.map(|(f, _)| f.to_string()),
            native_full_scale: native.map(|(_, s)| s),
            stream_formats: device
                .stream_formats(rx, ch)
                .unwrap_or_default()
                .iter()
                .map(|f| f.to_string())
                .collect(),
            // Setting up a stream without activating it touches no data path; the stream is
            // closed again at once.
            mtu: device
                .rx_stream::<Complex32>(&[ch])
                .ok()
                .and_then(|s| s.mtu().ok())
                .filter(|&m| m > 0),
        }
    }
}
