//! What the dashboard gets: `[spectrum_frames]` (the opt-in `spectrum:frame` stream) and
//! `[dashboard]` (what `GET /api/v1/dashboard-config` tells it).

use serde::{Deserialize, Serialize};

/// Highest `spectrum_frames.rate_hz`: a waterfall needs no more, and each frame costs every
/// subscriber a message.
pub const MAX_SPECTRUM_FRAME_RATE_HZ: f64 = 50.0;
/// Allowed `spectrum_frames.bins`: fewer is too coarse to see a signal; more is wider than
/// any screen.
pub const SPECTRUM_FRAME_BINS: std::ops::RangeInclusive<usize> = 16..=8192;

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
}

impl Default for SpectrumFramesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rate_hz: 4.0,
            bins: 512,
        }
    }
}

impl SpectrumFramesConfig {
    /// Time between frames of one receiver, ns; `None` when frames are off.
    pub fn period_ns(&self) -> Option<i64> {
        (self.enabled && self.rate_hz > 0.0).then(|| (1e9 / self.rate_hz).round() as i64)
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
