//! A SoapySDR device as an [`IqSource`].
//!
//! Reading follows what the least forgiving drivers need: at most one stream MTU per
//! `readStream` call, with a timeout of about one MTU's duration (the Red Pitaya driver returns
//! data only when the whole request is already buffered, and otherwise sleeps the whole
//! timeout), called continuously from the acquisition thread. Reads are gathered into blocks of
//! about [`BLOCK_SECONDS`]. A device that stops delivering (unplugged, or a network device whose
//! driver just times out forever) is reported after [`STALL_TIMEOUT`] so the receiver goes
//! offline and the worker reopens it.

use super::args::DeviceArgs;
use super::config::{GainConfig, SoapyReceiverConfig};
use super::drivers::installed_drivers;
use super::settings::{apply, Applied};
use crate::acquisition::now_ns;
use crate::source::{IqBlock, IqSource, ReadOutcome, ReceiverInfo, SourceBuilder, SourceError, SourceKind};
use num_complex::{Complex, Complex32};
use sdrhub_dsp::convert::{convert_into, SampleFormat};
use sdrhub_dsp::geo::GeoPoint;
use soapysdr::{Device, ErrorCode, Format, RxStream};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// Target duration of one block: short enough that a dropped block loses little and the
/// spectrum stays current, long enough that per-block overhead (queue hand-off, timestamps)
/// is negligible.
pub const BLOCK_SECONDS: f64 = 0.05;

/// Largest block, samples: bounds the memory of the hand-off queue at high sample rates
/// (16 blocks of 64 Ki samples is 8 MiB per receiver).
pub const MAX_BLOCK_SAMPLES: usize = 65_536;

/// With no samples for this long while streaming, the device is considered gone. Well above
/// the gap between reads at the slowest rates (one 1024-sample MTU at 20 kS/s is 51 ms), and
/// short enough that a receiver is shown offline within 2 s.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Like [`STALL_TIMEOUT`], before the first samples after opening: devices take a moment to
/// start streaming (tuner settling, USB transfers filling).
pub const START_TIMEOUT: Duration = Duration::from_secs(3);

/// Bounds of the per-call `readStream` timeout. About one MTU's duration is right: the call
/// returns as soon as the MTU is there, and a driver that sleeps the whole timeout when data
/// is short (Red Pitaya) wakes to find one more MTU buffered. The floor keeps high rates from
/// spinning; the ceiling keeps the loop responsive.
const MIN_CALL_TIMEOUT: Duration = Duration::from_millis(1);
const MAX_CALL_TIMEOUT: Duration = Duration::from_millis(50);

/// MTU to use when the driver reports none.
const DEFAULT_MTU: usize = 1024;

/// Hardware time this close to the host's clock is taken as already on the Unix epoch (set
/// from GPS or by the host); otherwise it is offset onto the epoch when the stream starts.
const EPOCH_WINDOW_NS: i64 = 86_400 * 1_000_000_000;

/// Routes SoapySDR's log through the `log` facade (and from there to `tracing`), once.
pub(crate) fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(soapysdr::configure_logging);
}

/// Opens a SoapySDR device with the settings of a [`SoapyReceiverConfig`].
#[derive(Debug, Clone)]
pub struct SoapyBuilder {
    config: SoapyReceiverConfig,
    args: DeviceArgs,
    id: Arc<str>,
}

impl SoapyBuilder {
    /// Checks what can be checked without the device (the args string, finite numbers, the
    /// position); the device's own ranges are checked by [`SourceBuilder::open`].
    ///
    /// # Errors
    /// [`SourceError::Config`] naming the offending key.
    pub fn new(config: SoapyReceiverConfig) -> Result<Self, SourceError> {
        let args = DeviceArgs::parse(&config.args)?;
        let bad =
            |key: &str, value: f64, what: &str| Err(SourceError::Config(format!("{key} = {value}: {what}")));
        if config.id.is_empty() {
            return Err(SourceError::Config("id: must not be empty".to_owned()));
        }
        if !(config.frequency_hz.is_finite() && config.frequency_hz > 0.0) {
            return bad("frequency_hz", config.frequency_hz, "must be > 0");
        }
        if !(config.sample_rate_hz.is_finite() && config.sample_rate_hz > 0.0) {
            return bad("sample_rate_hz", config.sample_rate_hz, "must be > 0");
        }
        if !(config.bandwidth_hz.is_finite() && config.bandwidth_hz >= 0.0) {
            return bad(
                "bandwidth_hz",
                config.bandwidth_hz,
                "must be >= 0 (0: the driver's default)",
            );
        }
        if !config.ppm.is_finite() {
            return bad("ppm", config.ppm, "must be finite");
        }
        match &config.gain {
            GainConfig::Overall(db) if !db.is_finite() => return bad("gain", *db, "must be finite"),
            GainConfig::Elements(map) => {
                if let Some((name, db)) = map.iter().find(|(_, db)| !db.is_finite()) {
                    return bad(&format!("gain.{name}"), *db, "must be finite");
                }
            }
            _ => {}
        }
        match (config.latitude, config.longitude) {
            (None, None) => {}
            (Some(lat), Some(lon)) => {
                if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
                    return bad("latitude", lat, "must be in -90..=90");
                }
                if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
                    return bad("longitude", lon, "must be in -180..=180");
                }
            }
            _ => {
                return Err(SourceError::Config(
                    "latitude and longitude: give both or neither".to_owned(),
                ))
            }
        }
        let id = Arc::from(config.id.as_str());
        Ok(Self { config, args, id })
    }

    /// The configuration this builder opens.
    pub fn config(&self) -> &SoapyReceiverConfig {
        &self.config
    }

    /// Opens the device, applies and checks every setting, and starts the stream.
    ///
    /// # Errors
    /// [`SourceError::Config`] for settings the device cannot honour or a driver that is not
    /// installed; [`SourceError::Open`] when the device is absent or fails (worth retrying).
    pub fn open_source(&self) -> Result<SoapySource, SourceError> {
        init_logging();
        let device = open_device(&self.args)?;
        let applied = apply(&device, &self.config)?;
        let stream = Reader::open(&device, &applied, self.config.channel)?;
        Ok(SoapySource::new(device, stream, applied, self.id.clone()))
    }
}

/// `Device::new`, with SoapySDR's "no match" turned into an error that says which of the two
/// things went wrong.
pub(crate) fn open_device(args: &DeviceArgs) -> Result<Device, SourceError> {
    init_logging();
    let soapy_args: soapysdr::Args = args
        .pairs()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Device::new(soapy_args).map_err(|e| {
        let drivers = installed_drivers();
        match args.driver() {
            Some(driver) if !drivers.iter().any(|d| d == driver) => SourceError::Config(format!(
                "args: driver={driver} is not installed: installed drivers are {} (Debian packages \
                 soapysdr-module-<driver>)",
                drivers.join(", ")
            )),
            _ => SourceError::Open(format!(
                "no device matches args \"{args}\" ({}); is it plugged in and not used by another program?",
                e.message
            )),
        }
    })
}

impl SourceBuilder for SoapyBuilder {
    fn info(&self) -> ReceiverInfo {
        ReceiverInfo {
            id: self.id.clone(),
            name: if self.config.name.is_empty() {
                self.config.id.clone()
            } else {
                self.config.name.clone()
            },
            kind: SourceKind::Soapy,
            position: match (self.config.latitude, self.config.longitude) {
                (Some(lat), Some(lon)) => Some(GeoPoint::new(lat, lon)),
                _ => None,
            },
            center_hz: self.config.frequency_hz,
            sample_rate_hz: self.config.sample_rate_hz,
        }
    }

    fn open(&mut self) -> Result<Box<dyn IqSource>, SourceError> {
        Ok(Box::new(self.open_source()?))
    }
}

/// An RX stream in one of the formats sdrhub converts, with its raw buffer.
enum Reader {
    /// CF32 is read straight into the block.
    Cf32(RxStream<Complex32>),
    Cs16(RxStream<Complex<i16>>, Vec<Complex<i16>>, SampleFormat),
    Cs8(RxStream<Complex<i8>>, Vec<Complex<i8>>),
    Cu8(RxStream<Complex<u8>>, Vec<Complex<u8>>),
}

impl Reader {
    fn open(device: &Device, applied: &Applied, channel: usize) -> Result<Self, SourceError> {
        let driver = &applied.driver;
        let setup = |e: soapysdr::Error| {
            SourceError::Open(format!(
                "driver={driver}: setting up the {} RX stream failed: {}",
                applied.stream_format, e.message
            ))
        };
        let channels = [channel];
        let mut reader = match applied.stream_format {
            Format::CS16 => Reader::Cs16(
                device.rx_stream(&channels).map_err(setup)?,
                Vec::new(),
                applied.sample_format,
            ),
            Format::CS8 => Reader::Cs8(device.rx_stream(&channels).map_err(setup)?, Vec::new()),
            Format::CU8 => Reader::Cu8(device.rx_stream(&channels).map_err(setup)?, Vec::new()),
            _ => Reader::Cf32(device.rx_stream(&channels).map_err(setup)?),
        };
        let activate = |e: soapysdr::Error| {
            SourceError::Open(format!(
                "driver={driver}: starting the RX stream failed: {} (is the device reachable?)",
                e.message
            ))
        };
        match &mut reader {
            Reader::Cf32(s) => s.activate(None).map_err(activate)?,
            Reader::Cs16(s, ..) => s.activate(None).map_err(activate)?,
            Reader::Cs8(s, _) => s.activate(None).map_err(activate)?,
            Reader::Cu8(s, _) => s.activate(None).map_err(activate)?,
        }
        Ok(reader)
    }

    fn mtu(&self) -> usize {
        let mtu = match self {
            Reader::Cf32(s) => s.mtu(),
            Reader::Cs16(s, ..) => s.mtu(),
            Reader::Cs8(s, _) => s.mtu(),
            Reader::Cu8(s, _) => s.mtu(),
        };
        match mtu {
            Ok(0) | Err(_) => DEFAULT_MTU,
            Ok(n) => n,
        }
    }

    /// Time of the last read's first sample, as the driver reported it (0 or stale when the
    /// driver keeps no time).
    fn time_ns(&self) -> i64 {
        match self {
            Reader::Cf32(s) => s.time_ns(),
            Reader::Cs16(s, ..) => s.time_ns(),
            Reader::Cs8(s, _) => s.time_ns(),
            Reader::Cu8(s, _) => s.time_ns(),
        }
    }

    /// Reads up to `n` samples, appending them to `out`, converted to `Complex32`.
    fn read_append(
        &mut self,
        out: &mut Vec<Complex32>,
        n: usize,
        timeout_us: i64,
    ) -> Result<usize, soapysdr::Error> {
        let start = out.len();
        out.resize(start + n, Complex32::default());
        let result = match self {
            Reader::Cf32(stream) => stream.read(&mut [&mut out[start..]], timeout_us),
            Reader::Cs16(stream, raw, format) => {
                read_converted(stream, raw, *format, &mut out[start..], timeout_us)
            }
            Reader::Cs8(stream, raw) => {
                read_converted(stream, raw, SampleFormat::Cs8, &mut out[start..], timeout_us)
            }
            Reader::Cu8(stream, raw) => {
                read_converted(stream, raw, SampleFormat::Cu8, &mut out[start..], timeout_us)
            }
        };
        let got = *result.as_ref().unwrap_or(&0);
        out.truncate(start + got);
        result
    }
}

/// Reads into the raw buffer, then converts what arrived with the DSP kernels.
fn read_converted<E>(
    stream: &mut RxStream<E>,
    raw: &mut Vec<E>,
    format: SampleFormat,
    out: &mut [Complex32],
    timeout_us: i64,
) -> Result<usize, soapysdr::Error>
where
    E: soapysdr::StreamSample + bytemuck::Pod,
{
    if raw.len() < out.len() {
        raw.resize(out.len(), bytemuck::Zeroable::zeroed());
    }
    let got = stream.read(&mut [&mut raw[..out.len()]], timeout_us)?;
    convert_into(format, bytemuck::cast_slice(&raw[..got]), &mut out[..got]);
    Ok(got)
}

/// A streaming SoapySDR device.
pub struct SoapySource {
    /// Kept so the device outlives nothing it needs; the stream also holds it.
    _device: Device,
    reader: Reader,
    applied: Applied,
    receiver_id: Arc<str>,
    mtu: usize,
    block_samples: usize,
    call_timeout_us: i64,
    /// Samples of the block being gathered, kept between calls that time out.
    partial: Vec<Complex32>,
    partial_time_ns: i64,
    /// Samples were lost (overflow) since the last block returned.
    discontinuity: bool,
    seq: u64,
    /// Samples read since open; the index of the next sample.
    position: u64,
    /// Host-time anchor: (time of sample `index`, `index`); cleared after lost samples.
    anchor: Option<(i64, u64)>,
    /// Offset from hardware time to the Unix epoch, fixed at the first timed read.
    hardware_offset_ns: Option<i64>,
    last_hardware_time: i64,
    overflows: u64,
    last_data: Instant,
    seen_data: bool,
}

impl std::fmt::Debug for SoapySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoapySource")
            .field("receiver_id", &self.receiver_id)
            .field("applied", &self.applied)
            .field("mtu", &self.mtu)
            .field("block_samples", &self.block_samples)
            .field("seq", &self.seq)
            .field("overflows", &self.overflows)
            .finish_non_exhaustive()
    }
}

impl SoapySource {
    fn new(device: Device, reader: Reader, applied: Applied, receiver_id: Arc<str>) -> Self {
        let mtu = reader.mtu();
        let rate = applied.sample_rate_hz;
        let target = (rate * BLOCK_SECONDS) as usize;
        // Whole MTUs where possible, so every read is a full transfer.
        let block_samples = (target.div_ceil(mtu).max(1) * mtu).min(MAX_BLOCK_SAMPLES);
        let call_timeout =
            Duration::from_secs_f64(mtu as f64 / rate).clamp(MIN_CALL_TIMEOUT, MAX_CALL_TIMEOUT);
        let last_hardware_time = reader.time_ns();
        tracing::info!(
            receiver = %receiver_id,
            driver = %applied.driver,
            frequency_hz = applied.frequency_hz,
            sample_rate_hz = rate,
            format = %applied.stream_format,
            mtu,
            block_samples,
            "SoapySDR stream started"
        );
        Self {
            _device: device,
            reader,
            receiver_id,
            mtu,
            block_samples,
            call_timeout_us: call_timeout.as_micros() as i64,
            partial: Vec::with_capacity(block_samples),
            partial_time_ns: 0,
            discontinuity: false,
            seq: 0,
            position: 0,
            anchor: None,
            hardware_offset_ns: None,
            last_hardware_time,
            overflows: 0,
            last_data: Instant::now(),
            seen_data: false,
            applied,
        }
    }

    /// Settings as the device read them back.
    pub fn frequency_hz(&self) -> f64 {
        self.applied.frequency_hz
    }

    /// Sample rate as the device read it back.
    pub fn sample_rate_hz(&self) -> f64 {
        self.applied.sample_rate_hz
    }

    /// Samples per block.
    pub fn block_samples(&self) -> usize {
        self.block_samples
    }

    /// Samples per `readStream` call.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Overflows the driver reported since open.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Time of the first sample of a read of `n` samples that just returned, ns since the epoch.
    fn read_time_ns(&mut self, n: usize) -> i64 {
        let rate = self.applied.sample_rate_hz;
        let hardware = self.reader.time_ns();
        let fresh = self.applied.has_hardware_time && hardware != self.last_hardware_time;
        self.last_hardware_time = hardware;
        if fresh {
            let offset = *self.hardware_offset_ns.get_or_insert_with(|| {
                let host = now_ns() - (n as f64 * 1e9 / rate) as i64;
                if (host - hardware).abs() < EPOCH_WINDOW_NS {
                    0
                } else {
                    host - hardware
                }
            });
            return hardware + offset;
        }
        let (time, index) = *self.anchor.get_or_insert_with(|| {
            // The samples just arrived: the first of them was taken n sample periods ago.
            (now_ns() - (n as f64 * 1e9 / rate) as i64, self.position)
        });
        time + ((self.position - index) as f64 * 1e9 / rate).round() as i64
    }
}

impl IqSource for SoapySource {
    fn read(&mut self, block: &mut IqBlock, timeout: Duration) -> Result<ReadOutcome, SourceError> {
        let deadline = Instant::now() + timeout;
        std::mem::swap(&mut block.samples, &mut self.partial);
        self.partial.clear();
        loop {
            let want = (self.block_samples - block.samples.len()).min(self.mtu);
            let result = self
                .reader
                .read_append(&mut block.samples, want, self.call_timeout_us);
            match result {
                Ok(0) => {}
                Ok(n) => {
                    if block.samples.len() == n {
                        self.partial_time_ns = self.read_time_ns(n);
                    } else {
                        // Keep the hardware-time change detector in step.
                        self.last_hardware_time = self.reader.time_ns();
                    }
                    self.position += n as u64;
                    self.last_data = Instant::now();
                    self.seen_data = true;
                    if block.samples.len() >= self.block_samples {
                        block.receiver_id = self.receiver_id.clone();
                        block.center_hz = self.applied.frequency_hz;
                        block.sample_rate_hz = self.applied.sample_rate_hz;
                        block.time_ns = self.partial_time_ns;
                        block.gps_locked = false;
                        block.seq = self.seq;
                        block.discontinuity = std::mem::take(&mut self.discontinuity);
                        block.receiver_stamp = None;
                        self.seq += 1;
                        return Ok(ReadOutcome::Block);
                    }
                    continue;
                }
                Err(e) if e.code == ErrorCode::Timeout => {}
                Err(e) if e.code == ErrorCode::Overflow => {
                    // Samples were lost inside the driver: what was gathered no longer joins
                    // up with what follows, so start the block afresh and re-anchor time.
                    self.overflows += 1;
                    self.discontinuity = true;
                    self.anchor = None;
                    block.samples.clear();
                    tracing::debug!(receiver = %self.receiver_id, overflows = self.overflows, "overflow");
                }
                Err(e) => {
                    return Err(SourceError::Stream(format!(
                        "driver={}: readStream failed: {:?}: {}",
                        self.applied.driver, e.code, e.message
                    )))
                }
            }
            let limit = if self.seen_data {
                STALL_TIMEOUT
            } else {
                START_TIMEOUT
            };
            let silent = self.last_data.elapsed();
            if silent >= limit {
                return Err(SourceError::Stream(format!(
                    "no samples for {:.1} s from driver={}",
                    silent.as_secs_f64(),
                    self.applied.driver
                )));
            }
            if Instant::now() >= deadline {
                std::mem::swap(&mut block.samples, &mut self.partial);
                return Ok(ReadOutcome::Timeout);
            }
        }
    }
}
