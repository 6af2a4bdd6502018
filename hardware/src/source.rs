//! The one trait every IQ source implements, and the block it yields.

use num_complex::Complex32;
use sdrhub_dsp::geo::GeoPoint;
use std::sync::Arc;
use std::time::Duration;

/// What kind of receiver a source is; shown to users in `websdrs:status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A receiver of the simulated scene.
    Simulated,
    /// A local device through SoapySDR.
    Soapy,
    /// A remote KiwiSDR.
    Kiwisdr,
    /// A recording replayed from disk.
    File,
}

impl SourceKind {
    /// The wire name (`simulated`, `soapy`, `kiwisdr`, `file`).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Simulated => "simulated",
            SourceKind::Soapy => "soapy",
            SourceKind::Kiwisdr => "kiwisdr",
            SourceKind::File => "file",
        }
    }
}

/// Static description of a receiver, known before it streams.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverInfo {
    /// Stable id, unique in one hub (used as `websdr_id` on the wire).
    pub id: Arc<str>,
    /// Human-readable name.
    pub name: String,
    /// Kind of source.
    pub kind: SourceKind,
    /// Antenna position, when known.
    pub position: Option<GeoPoint>,
    /// Centre frequency, Hz.
    pub center_hz: f64,
    /// Sample rate, Hz.
    pub sample_rate_hz: f64,
}

/// A block of consecutive complex samples from one receiver.
///
/// Blocks are recycled between the acquisition thread and DSP: a source fills `samples` in place
/// (clearing and extending it), so steady-state streaming allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct IqBlock {
    /// Id of the receiver that produced the block.
    pub receiver_id: Arc<str>,
    /// Centre frequency the samples are relative to, Hz.
    pub center_hz: f64,
    /// Sample rate, Hz.
    pub sample_rate_hz: f64,
    /// Time of the first sample, ns since the Unix epoch.
    pub time_ns: i64,
    /// Whether `time_ns` is disciplined by GPS (true) or host/sample-count time (false).
    pub gps_locked: bool,
    /// Block sequence number, counted by the source from 0 at open.
    pub seq: u64,
    /// Samples were lost between the previous block and this one.
    pub discontinuity: bool,
    /// The receiver's own time stamp of the first sample, as it sent it, when it has one (a
    /// KiwiSDR frame's GPS stamp, extrapolated, stale or zero as it may be): what a
    /// `kiwirecorder`-style recording keeps. `time_ns` is sdrhub's reconstruction.
    pub receiver_stamp: Option<crate::recording::GpsStamp>,
    /// The samples.
    pub samples: Vec<Complex32>,
}

impl IqBlock {
    /// An empty block with room for `capacity` samples.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            receiver_id: Arc::from(""),
            center_hz: 0.0,
            sample_rate_hz: 0.0,
            time_ns: 0,
            gps_locked: false,
            seq: 0,
            discontinuity: false,
            receiver_stamp: None,
            samples: Vec::with_capacity(capacity),
        }
    }

    /// Time of sample `index` of this block, ns since the Unix epoch.
    pub fn sample_time_ns(&self, index: i64) -> i64 {
        self.time_ns + (index as f64 * 1e9 / self.sample_rate_hz).round() as i64
    }
}

/// What one call to [`IqSource::read`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// `block` holds a new block.
    Block,
    /// No data arrived within the timeout; the source is still healthy.
    Timeout,
    /// The source has no more data (the end of a recording).
    End,
}

/// Why a source failed. Every variant carries a message fit to show a user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The configuration cannot work (bad frequency, unknown device...). Retrying will not help.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The device or remote receiver could not be opened or reached. Retried with backoff.
    #[error("cannot open: {0}")]
    Open(String),
    /// The stream broke (device unplugged, connection lost). Retried with backoff.
    #[error("stream lost: {0}")]
    Stream(String),
    /// The receiver refused us for a reason that says "come back later" (busy, bad password).
    #[error("refused: {0}")]
    Refused(String),
}

/// A running IQ stream. Implementations block in [`IqSource::read`]; they are driven from a
/// dedicated OS thread (see [`crate::acquisition`]), never from an async executor.
pub trait IqSource: Send {
    /// Reads the next block into `block`, waiting at most about `timeout`.
    ///
    /// The source sets every field of `block` and replaces its samples (reusing the allocation).
    fn read(&mut self, block: &mut IqBlock, timeout: Duration) -> Result<ReadOutcome, SourceError>;
}

/// Opens (and after a fault, reopens) one receiver's stream.
pub trait SourceBuilder: Send {
    /// Static description of the receiver.
    fn info(&self) -> ReceiverInfo;
    /// Opens the stream. Called again after every fault, with backoff in between.
    fn open(&mut self) -> Result<Box<dyn IqSource>, SourceError>;
}
