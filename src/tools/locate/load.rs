//! One recording for `sdrhub locate`: its samples, who recorded it, where, and the GPS clock
//! fitted to its stamps; and the cutting of a common-time window out of it.

use anyhow::Context;
use sdrhub_dsp::geo::GeoPoint;
use sdrhub_dsp::resample::{Resampler, HALF_WIDTH};
use sdrhub_dsp::Complex32;
use sdrhub_hardware::kiwi::timing::TimingFit;
use sdrhub_hardware::recording::{FileTiming, KiwiWav};
use std::path::{Path, PathBuf};

/// Frames dropped at the start of every file: the first frame after a client connects holds
/// stale samples from before its settings (the protocol's rule, which the public TDoA tools
/// follow too).
pub const FIRST_FRAMES_SKIPPED: usize = 1;

/// Where a receiver's position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSource {
    /// The file's `sdrh` chunk (the receiver's own configuration, recorded by sdrhub).
    File,
    /// `--position` on the command line.
    CommandLine,
}

/// One recording, loaded.
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// Receiver id (`sdrh` chunk, else the station in a kiwirecorder name, else the stem).
    pub id: String,
    /// Antenna position.
    pub position: GeoPoint,
    /// Where it came from.
    pub position_source: PositionSource,
    /// RF frequency of the IQ centre, Hz, when the file says.
    pub center_hz: Option<f64>,
    /// The rate the file declares (WAV header, or the exact one in the `sdrh` chunk), Hz.
    pub nominal_rate_hz: f64,
    /// GPS timing of the whole file.
    pub timing: FileTiming,
    /// When the recording started, if the file says (`sdrh` chunk or kiwirecorder name).
    pub date_hint_ns: Option<i64>,
    /// Every sample of the file, in order.
    pub samples: Vec<Complex32>,
    /// First sample used: after the skipped frames and where the fit may time it.
    pub first_usable: u64,
    /// One past the last sample used.
    pub end_usable: u64,
}

impl Loaded {
    /// Opens `path`; `positions` are the `--position` entries (ID=LAT,LON).
    ///
    /// # Errors
    /// When the file cannot be read, or has no position anywhere.
    pub fn open(path: &Path, positions: &[(String, GeoPoint)]) -> anyhow::Result<Self> {
        let wav = KiwiWav::open(path)?;
        let id = wav.receiver_id();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let station = wav.recorder_name().and_then(|n| n.station.clone());
        // A receiver is named by its id, its station (kiwirecorder's name for it) or its file.
        let given = positions
            .iter()
            .find(|(name, _)| *name == id || Some(name) == station.as_ref() || *name == stem)
            .map(|(_, p)| *p);
        let file_position = wav.info().and_then(|i| i.position());
        let (position, position_source) = match (given, file_position) {
            (Some(p), _) => (p, PositionSource::CommandLine),
            (None, Some(p)) => (p, PositionSource::File),
            (None, None) => anyhow::bail!(
                "receiver {id} has no position in the file; give it with --position {id}=LAT,LON"
            ),
        };
        let timing = wav.timing();
        let samples = read_samples(&wav).with_context(|| format!("cannot read {}", path.display()))?;
        let skipped: u64 = wav
            .frames()
            .iter()
            .take(FIRST_FRAMES_SKIPPED)
            .map(|f| f.samples as u64)
            .sum();
        Ok(Self {
            path: path.to_path_buf(),
            id,
            position,
            position_source,
            center_hz: wav.center_hz(),
            nominal_rate_hz: wav.sample_rate_hz(),
            date_hint_ns: wav.date_hint_ns(),
            first_usable: timing.usable.0.max(skipped),
            end_usable: timing.usable.1,
            timing,
            samples,
        })
    }

    /// The fitted clock, when the file's timing can be trusted.
    pub fn fit(&self) -> Option<&TimingFit> {
        self.timing.fit.as_ref().ok()
    }

    /// The span of GPS time (ns) over which a window can be cut from this file: its usable
    /// samples, less the interpolator's reach at either end.
    pub fn time_span(&self) -> Option<(i64, i64)> {
        let fit = self.fit()?;
        let first = self.first_usable + HALF_WIDTH as u64;
        let last = self.end_usable.checked_sub(HALF_WIDTH as u64 + 1)?;
        (last > first).then(|| (fit.time_ns(first as f64), fit.time_ns(last as f64)))
    }

    /// `out.len()` samples at GPS times `start_ns` + n / `rate_hz`, interpolated from this
    /// file's samples by its fitted clock.
    ///
    /// # Panics
    /// If the file has no trusted fit (the caller only cuts from files with one).
    pub fn cut(&self, resampler: &Resampler, start_ns: i64, rate_hz: f64, out: &mut [Complex32]) {
        // Invariant: windows are only cut from files whose time span exists, which needs a fit.
        let fit = self
            .fit()
            .expect("a window is only cut from a file with a trusted fit");
        let first = fit.sample_at(start_ns, 0.0);
        resampler.process(&self.samples, first, fit.rate_hz / rate_hz, out);
    }
}

fn read_samples(wav: &KiwiWav) -> anyhow::Result<Vec<Complex32>> {
    let mut reader = wav.reader()?;
    let mut samples = Vec::with_capacity(wav.samples() as usize);
    while let Some((_, frame)) = reader.next_frame()? {
        samples.extend_from_slice(frame);
    }
    Ok(samples)
}
