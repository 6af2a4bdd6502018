//! What the dashboard gets: `[spectrum_frames]` (the opt-in `spectrum:frame` stream) and
//! `[dashboard]` (what `GET /api/v1/dashboard-config` tells it).

use serde::{Deserialize, Serialize};

/// Highest `spectrum_frames.rate_hz`: a waterfall needs no more, and each frame costs every
/// subscriber a message.
pub const MAX_SPECTRUM_FRAME_RATE_HZ: f64 = 50.0;
/// Allowed `spectrum_frames.bins`: fewer is too coarse to see a signal; more is wider than
/// any screen.
pub const SPECTRUM_FRAME_BINS: std::ops::RangeInclusive<usize> = 16..=8192;
/// Longest `spectrum_frames.history_s`: an hour of waterfall is what the History view's
/// occupancy is for; the live history only has to fill a freshly opened page.
pub const MAX_WATERFALL_HISTORY_S: f64 = 3600.0;
/// Allowed `spectrum_frames.history_row_s`: shorter rows cost memory without showing more than
/// the live frames do; longer ones blur a minute into one line.
pub const WATERFALL_ROW_S: std::ops::RangeInclusive<f64> = 0.1..=60.0;
/// Most rows kept per receiver (`history_s / history_row_s`): with the largest frames (8192
/// bins, about 11 KB of base64 a row) 3600 rows are about 40 MB per receiver; the defaults
/// (300 rows of 512 bins) about 210 KB.
pub const MAX_WATERFALL_ROWS: f64 = 3600.0;

/// `[spectrum_frames]`: decimated spectra of every receiver for waterfalls (`spectrum:frame`,
/// sent only to clients that subscribe to it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpectrumFramesConfig {
    /// Make frames at all.
    pub enabled: bool,
    /// Frames per second per receiver (at most one per spectrum); 0: none.
    pub rate_hz: f64,
    /// Bins per frame (fewer when the FFT is shorter); each is the strongest of its FFT bins.
    pub bins: usize,
    /// Seconds of recent waterfall the hub keeps per receiver, so a page opened now shows the
    /// last minutes at once (`GET /api/v1/spectrum/{receiver}/waterfall`); 0: none.
    pub history_s: f64,
    /// One kept row per this many seconds: the bin-by-bin maximum of the frames in it, so a
    /// burst shorter than a row is still seen.
    pub history_row_s: f64,
}

impl Default for SpectrumFramesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rate_hz: 4.0,
            bins: 512,
            history_s: 300.0,
            history_row_s: 1.0,
        }
    }
}

impl SpectrumFramesConfig {
    /// Time between frames of one receiver, ns; `None` when frames are off.
    pub fn period_ns(&self) -> Option<i64> {
        (self.enabled && self.rate_hz > 0.0).then(|| (1e9 / self.rate_hz).round() as i64)
    }

    /// Rows of waterfall history kept per receiver and the time each covers, ns; `None` when
    /// frames or their history are off.
    pub fn history(&self) -> Option<(usize, i64)> {
        let rows = (self.history_s / self.history_row_s).ceil();
        (self.period_ns().is_some() && rows >= 1.0)
            .then(|| (rows as usize, (self.history_row_s * 1e9).round() as i64))
    }
}

impl SpectrumFramesConfig {
    /// Every problem of `[spectrum_frames]`, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        p.check(
            self.rate_hz.is_finite() && (0.0..=MAX_SPECTRUM_FRAME_RATE_HZ).contains(&self.rate_hz),
            format!(
                "spectrum_frames.rate_hz = {}: must be in [0, {MAX_SPECTRUM_FRAME_RATE_HZ}] (0: no frames)",
                self.rate_hz
            ),
        );
        p.check(
            SPECTRUM_FRAME_BINS.contains(&self.bins),
            format!(
                "spectrum_frames.bins = {}: must be in {}..={}",
                self.bins,
                SPECTRUM_FRAME_BINS.start(),
                SPECTRUM_FRAME_BINS.end()
            ),
        );
        p.check(
            self.history_s.is_finite() && (0.0..=MAX_WATERFALL_HISTORY_S).contains(&self.history_s),
            format!(
                "spectrum_frames.history_s = {}: must be in [0, {MAX_WATERFALL_HISTORY_S}] (0: no history)",
                self.history_s
            ),
        );
        let row_ok = self.history_row_s.is_finite() && WATERFALL_ROW_S.contains(&self.history_row_s);
        p.check(
            row_ok,
            format!(
                "spectrum_frames.history_row_s = {}: must be in [{}, {}]",
                self.history_row_s,
                WATERFALL_ROW_S.start(),
                WATERFALL_ROW_S.end()
            ),
        );
        p.check(
            !row_ok || self.history_s / self.history_row_s <= MAX_WATERFALL_ROWS,
            format!(
                "spectrum_frames.history_s / history_row_s = {} / {}: at most {MAX_WATERFALL_ROWS} rows per receiver",
                self.history_s, self.history_row_s
            ),
        );
        p.into_vec()
    }
}

/// `[dashboard]`: what the embedded dashboard is told (`GET /api/v1/dashboard-config`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Map tiles drawn under the map, as an `http(s)://` URL template with `{z}`, `{x}` and
    /// `{y}` (OpenStreetMap-style slippy tiles); empty: no tiles, the map works offline.
    pub map_tiles_url: String,
    /// Attribution shown with the tiles (most tile servers require one).
    pub map_tiles_attribution: String,
}

impl DashboardConfig {
    /// Every problem of `[dashboard]`, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        let tiles = &self.map_tiles_url;
        p.check(
            tiles.is_empty()
                || ((tiles.starts_with("https://") || tiles.starts_with("http://"))
                    && ["{z}", "{x}", "{y}"].iter().all(|p| tiles.contains(p))),
            format!(
                "dashboard.map_tiles_url = {tiles:?}: must be empty or an http(s):// URL template with {{z}}, {{x}} and {{y}}, \
                 e.g. \"https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png\""
            ),
        );
        p.into_vec()
    }
}
