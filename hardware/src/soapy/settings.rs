//! Applies a [`SoapyReceiverConfig`] to an opened device: every setting is checked against the
//! range the driver reports, applied, and read back. A setting the device cannot honour is a
//! [`SourceError::Config`] that names the key and what the device supports; drivers that
//! silently clamp or ignore a value (the Red Pitaya driver keeps an unsupported rate as if it
//! worked) are caught by the check or the read-back, never passed on as a working receiver.

use super::config::{GainConfig, SoapyReceiverConfig, StreamFormat};
use crate::source::SourceError;
use sdrhub_dsp::convert::SampleFormat;
use soapysdr::{Device, Direction, Format, Range};

const RX: Direction = Direction::Rx;

/// Relative tolerance of a read-back sample rate: drivers derive the rate from a clock divider
/// and report the exact result (an RTL-SDR's 2.4 MS/s is off by a few Hz); 100 ppm is far finer
/// than any rate a user would mistake for another.
const RATE_TOLERANCE: f64 = 1e-4;

/// Tolerance of a read-back centre frequency, Hz: synthesizers report the frequency their PLL
/// actually reached (tens of Hz from the request on some devices). Blocks carry the read-back
/// value, so a residual this small costs nothing.
const FREQUENCY_TOLERANCE_HZ: f64 = 100.0;

/// Tolerance of a read-back gain, dB: tuners quantize gain to their own steps (the R820T's are
/// up to 3.5 dB apart) and report the step they chose.
const GAIN_TOLERANCE_DB: f64 = 4.0;

/// Relative tolerance of a read-back analog bandwidth: drivers pick the nearest filter of a
/// bank, and a filter within 10 % serves the same purpose.
const BANDWIDTH_TOLERANCE: f64 = 0.1;

/// Tolerance of a read-back frequency correction, ppm.
const PPM_TOLERANCE: f64 = 0.01;

/// What the device ended up doing, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The driver's key, e.g. `redpitaya`, used in messages as `driver=...`.
    pub driver: String,
    /// Centre frequency, Hz.
    pub frequency_hz: f64,
    /// Sample rate, samples/s.
    pub sample_rate_hz: f64,
    /// Stream format requested from the driver.
    pub stream_format: Format,
    /// How sdrhub converts that format.
    pub sample_format: SampleFormat,
    /// Whether the device keeps hardware time.
    pub has_hardware_time: bool,
}

/// The host-endian `SampleFormat` of a SoapySDR stream format, when `sdrhub_dsp::convert` has
/// a kernel for it.
pub fn sample_format(format: Format) -> Option<SampleFormat> {
    let little = cfg!(target_endian = "little");
    match format {
        Format::CF32 if little => Some(SampleFormat::Cf32Le),
        Format::CF32 => Some(SampleFormat::Cf32Be),
        Format::CS16 if little => Some(SampleFormat::Cs16Le),
        Format::CS16 => Some(SampleFormat::Cs16Be),
        Format::CS8 => Some(SampleFormat::Cs8),
        Format::CU8 => Some(SampleFormat::Cu8),
        _ => None,
    }
}

/// Ranges as users read them: "20000, 50000" for discrete values, "[24000000, 1766000000]" for
/// intervals (with the step when there is one).
pub fn ranges_text(ranges: &[Range]) -> String {
    if ranges.is_empty() {
        return "none reported".to_owned();
    }
    ranges
        .iter()
        .map(|r| {
            if r.minimum == r.maximum {
                format!("{}", r.minimum)
            } else if r.step > 0.0 {
                format!("[{}, {}] step {}", r.minimum, r.maximum, r.step)
            } else {
                format!("[{}, {}]", r.minimum, r.maximum)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `value` lies in one of `ranges`, within `tolerance`.
fn in_ranges(ranges: &[Range], value: f64, tolerance: f64) -> bool {
    ranges
        .iter()
        .any(|r| value >= r.minimum - tolerance && value <= r.maximum + tolerance)
}

/// A failed query or setter: the device misbehaved or went away, which is worth retrying.
fn device_error(driver: &str, what: &str) -> impl FnOnce(soapysdr::Error) -> SourceError {
    let (driver, what) = (driver.to_owned(), what.to_owned());
    move |e| SourceError::Open(format!("driver={driver}: {what} failed: {}", e.message))
}

/// Checks, applies and reads back every setting of `config` on `device`, in the order drivers
/// expect (antenna, rate, bandwidth, frequency, correction, gain), then picks the stream format.
pub fn apply(device: &Device, config: &SoapyReceiverConfig) -> Result<Applied, SourceError> {
    let driver = device
        .driver_key()
        .map_err(|e| SourceError::Open(format!("reading the driver key failed: {}", e.message)))?;
    let driver = driver.as_str();
    let ch = config.channel;

    let channels = device
        .num_channels(RX)
        .map_err(device_error(driver, "counting RX channels"))?;
    if ch >= channels {
        return Err(SourceError::Config(format!(
            "channel = {ch} not available on driver={driver}: it has {channels} RX channel(s){}",
            if channels > 0 {
                format!(", 0..={}", channels - 1)
            } else {
                String::new()
            }
        )));
    }

    apply_antenna(device, driver, ch, &config.antenna)?;
    let sample_rate_hz = apply_sample_rate(device, driver, ch, config.sample_rate_hz)?;
    apply_bandwidth(device, driver, ch, config.bandwidth_hz)?;
    let frequency_hz = apply_frequency(device, driver, ch, config.frequency_hz, sample_rate_hz)?;
    apply_ppm(device, driver, ch, config.ppm)?;
    apply_gain(device, driver, ch, &config.gain)?;
    let (stream_format, sample_format) = choose_format(device, driver, ch, config.format)?;
    let has_hardware_time = device.has_hardware_time(None).unwrap_or(false);
    Ok(Applied {
        driver: driver.to_owned(),
        frequency_hz,
        sample_rate_hz,
        stream_format,
        sample_format,
        has_hardware_time,
    })
}

fn apply_antenna(device: &Device, driver: &str, ch: usize, antenna: &str) -> Result<(), SourceError> {
    if antenna.is_empty() {
        return Ok(());
    }
    let antennas = device
        .antennas(RX, ch)
        .map_err(device_error(driver, "listing antennas"))?;
    if !antennas.iter().any(|a| a == antenna) {
        return Err(SourceError::Config(format!(
            "antenna = {antenna:?} not available on driver={driver}: {}",
            if antennas.is_empty() {
                "it has no selectable antenna; leave antenna empty".to_owned()
            } else {
                format!("supported {}", antennas.join(", "))
            }
        )));
    }
    device
        .set_antenna(RX, ch, antenna)
        .map_err(device_error(driver, "setting the antenna"))?;
    let actual = device
        .antenna(RX, ch)
        .map_err(device_error(driver, "reading the antenna back"))?;
    if actual != antenna {
        return Err(SourceError::Config(format!(
            "antenna = {antenna:?} not applied by driver={driver}: it reads back {actual:?}"
        )));
    }
    Ok(())
}

fn apply_sample_rate(device: &Device, driver: &str, ch: usize, rate: f64) -> Result<f64, SourceError> {
    let ranges = device
        .get_sample_rate_range(RX, ch)
        .map_err(device_error(driver, "reading the sample-rate range"))?;
    let tolerance = (rate * RATE_TOLERANCE).max(1.0);
    apply_ranged(
        Ranged {
            driver,
            key: "sample_rate_hz",
            what: "the sample rate",
            ranges: &ranges,
            tolerance,
        },
        rate,
        |rate| device.set_sample_rate(RX, ch, rate),
        || device.sample_rate(RX, ch),
    )
}

fn apply_bandwidth(device: &Device, driver: &str, ch: usize, bandwidth: f64) -> Result<(), SourceError> {
    if bandwidth == 0.0 {
        return Ok(());
    }
    let ranges = device
        .bandwidth_range(RX, ch)
        .map_err(device_error(driver, "reading the bandwidth range"))?;
    if ranges.is_empty() {
        return Err(SourceError::Config(format!(
            "bandwidth_hz = {bandwidth} not supported by driver={driver}: it has no adjustable \
             bandwidth; set bandwidth_hz = 0"
        )));
    }
    apply_ranged(
        Ranged {
            driver,
            key: "bandwidth_hz",
            what: "the bandwidth",
            ranges: &ranges,
            tolerance: bandwidth * BANDWIDTH_TOLERANCE,
        },
        bandwidth,
        |bandwidth| device.set_bandwidth(RX, ch, bandwidth),
        || device.bandwidth(RX, ch),
    )?;
    Ok(())
}

/// A continuous setting as [`apply_ranged`] checks it.
struct Ranged<'a> {
    driver: &'a str,
    /// The config key, for messages (`sample_rate_hz`).
    key: &'a str,
    /// The setting in words, for messages (`the sample rate`).
    what: &'a str,
    /// What the driver supports; empty when it does not say.
    ranges: &'a [Range],
    /// How far the value read back may be from the one asked for.
    tolerance: f64,
}

/// Checks `value` against the setting's ranges (unless the driver lists none), sets it with
/// `set`, reads it back with `get` and checks it stuck; the value read back.
fn apply_ranged(
    setting: Ranged<'_>,
    value: f64,
    set: impl FnOnce(f64) -> Result<(), soapysdr::Error>,
    get: impl FnOnce() -> Result<f64, soapysdr::Error>,
) -> Result<f64, SourceError> {
    let Ranged {
        driver,
        key,
        what,
        ranges,
        tolerance,
    } = setting;
    if !ranges.is_empty() && !in_ranges(ranges, value, tolerance) {
        return Err(SourceError::Config(format!(
            "{key} = {value} not supported by driver={driver}: supported {}",
            ranges_text(ranges)
        )));
    }
    set(value).map_err(device_error(driver, &format!("setting {what}")))?;
    let actual = get().map_err(device_error(driver, &format!("reading {what} back")))?;
    if (actual - value).abs() > tolerance {
        return Err(SourceError::Config(format!(
            "{key} = {value} not applied by driver={driver}: it reads back {actual}; supported {}",
            ranges_text(ranges)
        )));
    }
    Ok(actual)
}

fn apply_frequency(
    device: &Device,
    driver: &str,
    ch: usize,
    frequency: f64,
    rate: f64,
) -> Result<f64, SourceError> {
    // Read after the rate is set: some drivers' range depends on it (Red Pitaya: [rate/2, 60 MHz]).
    let ranges = device
        .frequency_range(RX, ch)
        .map_err(device_error(driver, "reading the frequency range"))?;
    if !ranges.is_empty() && !in_ranges(&ranges, frequency, FREQUENCY_TOLERANCE_HZ) {
        return Err(SourceError::Config(format!(
            "frequency_hz = {frequency} out of range for driver={driver} at sample_rate_hz = {rate}: \
             supported {}",
            ranges_text(&ranges)
        )));
    }
    device
        .set_frequency(RX, ch, frequency, ())
        .map_err(device_error(driver, "tuning"))?;
    let actual = device
        .frequency(RX, ch)
        .map_err(device_error(driver, "reading the frequency back"))?;
    if (actual - frequency).abs() > FREQUENCY_TOLERANCE_HZ {
        return Err(SourceError::Config(format!(
            "frequency_hz = {frequency} not applied by driver={driver}: it reads back {actual}; \
             supported {}",
            ranges_text(&ranges)
        )));
    }
    Ok(actual)
}

/// Frequency correction through the `CORR` tuning component, SoapySDR's convention for a
/// correction in ppm (the RTL-SDR driver has it). A device without it cannot be corrected, and
/// saying so beats a receiver that is silently off frequency.
fn apply_ppm(device: &Device, driver: &str, ch: usize, ppm: f64) -> Result<(), SourceError> {
    let components = device
        .list_frequencies(RX, ch)
        .map_err(device_error(driver, "listing tuning components"))?;
    if !components.iter().any(|c| c == "CORR") {
        if ppm == 0.0 {
            return Ok(());
        }
        return Err(SourceError::Config(format!(
            "ppm = {ppm} not supported by driver={driver}: it has no CORR tuning component \
             (components: {}); set ppm = 0",
            components.join(", ")
        )));
    }
    let ranges = device
        .component_frequency_range(RX, ch, "CORR")
        .map_err(device_error(driver, "reading the correction range"))?;
    if !ranges.is_empty() && !in_ranges(&ranges, ppm, PPM_TOLERANCE) {
        return Err(SourceError::Config(format!(
            "ppm = {ppm} not supported by driver={driver}: supported {}",
            ranges_text(&ranges)
        )));
    }
    device
        .set_component_frequency(RX, ch, "CORR", ppm, ())
        .map_err(device_error(driver, "setting the frequency correction"))?;
    let actual = device
        .component_frequency(RX, ch, "CORR")
        .map_err(device_error(driver, "reading the frequency correction back"))?;
    if (actual - ppm).abs() > PPM_TOLERANCE {
        return Err(SourceError::Config(format!(
            "ppm = {ppm} not applied by driver={driver}: it reads back {actual}"
        )));
    }
    Ok(())
}

fn apply_gain(device: &Device, driver: &str, ch: usize, gain: &GainConfig) -> Result<(), SourceError> {
    let elements = device
        .list_gains(RX, ch)
        .map_err(device_error(driver, "listing gain elements"))?;
    let has_agc = device
        .has_gain_mode(RX, ch)
        .map_err(device_error(driver, "querying automatic gain"))?;
    let overall = device
        .gain_range(RX, ch)
        .map_err(device_error(driver, "reading the gain range"))?;
    let manual_hint = || {
        if elements.is_empty() {
            "it has no gain controls".to_owned()
        } else {
            format!(
                "set gain in dB within {} or per element ({})",
                ranges_text(std::slice::from_ref(&overall)),
                elements.join(", ")
            )
        }
    };
    match gain {
        GainConfig::Auto(_) => {
            if !has_agc {
                if elements.is_empty() {
                    // Nothing to control: "auto" is what the device does anyway.
                    return Ok(());
                }
                return Err(SourceError::Config(format!(
                    "gain = \"auto\" not supported by driver={driver}: it has no automatic gain \
                     control; {}",
                    manual_hint()
                )));
            }
            device
                .set_gain_mode(RX, ch, true)
                .map_err(device_error(driver, "enabling automatic gain"))?;
            if !device
                .gain_mode(RX, ch)
                .map_err(device_error(driver, "reading the gain mode back"))?
            {
                return Err(SourceError::Config(format!(
                    "gain = \"auto\" not applied by driver={driver}: automatic gain reads back off"
                )));
            }
        }
        GainConfig::Overall(db) => {
            if elements.is_empty() {
                return Err(SourceError::Config(format!(
                    "gain = {db} not supported by driver={driver}: it has no gain controls; \
                     use gain = \"auto\""
                )));
            }
            manual_mode(device, driver, ch, has_agc)?;
            if !in_ranges(std::slice::from_ref(&overall), *db, 1e-6) {
                return Err(SourceError::Config(format!(
                    "gain = {db} not supported by driver={driver}: supported {}",
                    ranges_text(std::slice::from_ref(&overall))
                )));
            }
            device
                .set_gain(RX, ch, *db)
                .map_err(device_error(driver, "setting the gain"))?;
            let actual = device
                .gain(RX, ch)
                .map_err(device_error(driver, "reading the gain back"))?;
            if (actual - db).abs() > GAIN_TOLERANCE_DB {
                return Err(SourceError::Config(format!(
                    "gain = {db} not applied by driver={driver}: it reads back {actual}"
                )));
            }
        }
        GainConfig::Elements(map) => {
            manual_mode(device, driver, ch, has_agc)?;
            for (name, db) in map {
                if !elements.iter().any(|e| e == name) {
                    return Err(SourceError::Config(format!(
                        "gain.{name} not available on driver={driver}: {}",
                        if elements.is_empty() {
                            "it has no gain controls".to_owned()
                        } else {
                            format!("gain elements are {}", elements.join(", "))
                        }
                    )));
                }
                let range = device
                    .gain_element_range(RX, ch, name.as_str())
                    .map_err(device_error(driver, "reading a gain element's range"))?;
                if !in_ranges(std::slice::from_ref(&range), *db, 1e-6) {
                    return Err(SourceError::Config(format!(
                        "gain.{name} = {db} not supported by driver={driver}: supported {}",
                        ranges_text(std::slice::from_ref(&range))
                    )));
                }
                device
                    .set_gain_element(RX, ch, name.as_str(), *db)
                    .map_err(device_error(driver, "setting a gain element"))?;
                let actual = device
                    .gain_element(RX, ch, name.as_str())
                    .map_err(device_error(driver, "reading a gain element back"))?;
                if (actual - db).abs() > GAIN_TOLERANCE_DB {
                    return Err(SourceError::Config(format!(
                        "gain.{name} = {db} not applied by driver={driver}: it reads back {actual}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Turns automatic gain off, if the device has it, so manual gains stick.
fn manual_mode(device: &Device, driver: &str, ch: usize, has_agc: bool) -> Result<(), SourceError> {
    if has_agc {
        device
            .set_gain_mode(RX, ch, false)
            .map_err(device_error(driver, "disabling automatic gain"))?;
    }
    Ok(())
}

fn choose_format(
    device: &Device,
    driver: &str,
    ch: usize,
    requested: StreamFormat,
) -> Result<(Format, SampleFormat), SourceError> {
    let formats = device
        .stream_formats(RX, ch)
        .map_err(device_error(driver, "listing stream formats"))?;
    let listed = |f: Format| formats.is_empty() || formats.contains(&f);
    let wanted = match requested {
        StreamFormat::Native => {
            let (native, _full_scale) = device
                .native_stream_format(RX, ch)
                .map_err(device_error(driver, "reading the native stream format"))?;
            if sample_format(native).is_some() {
                native
            } else if listed(Format::CF32) {
                // No kernel for this native format (e.g. CS12): let the driver convert.
                tracing::info!(%native, driver, "no converter for the native format; streaming CF32");
                Format::CF32
            } else {
                return Err(SourceError::Config(format!(
                    "format = \"native\" not usable with driver={driver}: its native format {native} \
                     has no converter and it offers {}; set format to one of cf32, cs16, cs8, cu8 it supports",
                    format_list(&formats)
                )));
            }
        }
        StreamFormat::Cf32 => Format::CF32,
        StreamFormat::Cs16 => Format::CS16,
        StreamFormat::Cs8 => Format::CS8,
        StreamFormat::Cu8 => Format::CU8,
    };
    if !listed(wanted) {
        return Err(SourceError::Config(format!(
            "format = {:?} not supported by driver={driver}: supported {}",
            wanted.as_str().to_lowercase(),
            format_list(&formats)
        )));
    }
    // Invariant: every format chosen above is one `sample_format` maps (CF32/CS16/CS8/CU8 or
    // a native format it accepted).
    let sample = sample_format(wanted).expect("chosen format has a converter");
    Ok((wanted, sample))
}

fn format_list(formats: &[Format]) -> String {
    formats
        .iter()
        .map(|f| f.as_str().to_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}
