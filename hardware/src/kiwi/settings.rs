//! How a KiwiSDR channel is configured (`[[receivers]]` with `kind = "kiwisdr"` in sdrhub's
//! configuration), with its checks, beside the client it configures.

use serde::{Deserialize, Serialize};

/// One KiwiSDR channel (`[[receivers]]` with `kind = "kiwisdr"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KiwiReceiverConfig {
    /// Stable id, unique among receivers.
    pub id: String,
    /// Human-readable name; empty: the receiver's own name.
    #[serde(default)]
    pub name: String,
    /// `kiwi://host:port` or `http://host:port` (port 8073 when omitted).
    pub url: String,
    /// Password; empty for public receivers.
    #[serde(default)]
    pub password: String,
    /// Centre frequency, Hz (0-30 MHz).
    pub frequency_hz: f64,
    /// Antenna latitude, degrees; unset: the receiver's own (`rx_gps`).
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Antenna longitude, degrees.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// The name shown in the receiver's user list.
    #[serde(default = "default_kiwi_user")]
    pub user: String,
    /// Manual gain, dB (AGC stays off so powers compare).
    #[serde(default = "default_kiwi_gain")]
    pub gain_db: u32,
    /// FFT size for this receiver's spectrum: a 12 kHz channel needs a shorter FFT than
    /// `[dsp]` uses for MHz-wide receivers. Default 1024 (11.7 Hz bins).
    #[serde(default = "default_kiwi_fft")]
    pub fft_size: usize,
    /// Frames averaged per spectrum. Default 4 (one spectrum every 0.34 s).
    #[serde(default = "default_kiwi_averages")]
    pub averages: usize,
    /// Seconds between `GET /status` probes (liveness, response time, users).
    #[serde(default = "default_kiwi_probe")]
    pub status_probe_interval_s: f64,
}

fn default_kiwi_user() -> String {
    "sdrhub".into()
}
fn default_kiwi_gain() -> u32 {
    50
}
fn default_kiwi_fft() -> usize {
    1024
}
fn default_kiwi_averages() -> usize {
    4
}
fn default_kiwi_probe() -> f64 {
    5.0
}

impl KiwiReceiverConfig {
    /// The client's configuration.
    ///
    /// # Errors
    /// When the URL does not parse (validation reports it first).
    pub fn client(&self) -> Result<super::KiwiConfig, String> {
        let url = self.url.parse()?;
        let mut config = super::KiwiConfig::new(self.id.clone(), url, self.frequency_hz);
        config.name = self.name.clone();
        config.password = self.password.clone();
        config.user = self.user.clone();
        config.manual_gain_db = self.gain_db;
        config.position = match (self.latitude, self.longitude) {
            (Some(lat), Some(lon)) => Some(sdrhub_dsp::geo::GeoPoint::new(lat, lon)),
            _ => None,
        };
        Ok(config)
    }
}

impl KiwiReceiverConfig {
    /// Every problem of this receiver, each naming its key (`key` is where it sits, e.g.
    /// `receivers[2]`); `min_fft_size` is the shortest FFT the detector's noise estimate can use.
    pub fn problems(&self, key: &str, min_fft_size: usize) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, message: String| {
            if !ok {
                problems.push(message);
            }
        };
        if let Err(problem) = self.url.parse::<super::KiwiUrl>() {
            check(false, format!("{key}.url = {problem}"));
        }
        check(
            self.frequency_hz.is_finite() && (0.0..=30e6).contains(&self.frequency_hz),
            format!(
                "{key}.frequency_hz = {}: a KiwiSDR tunes 0..=30000000 Hz",
                self.frequency_hz
            ),
        );
        check(
            self.latitude.is_some() == self.longitude.is_some(),
            format!("{key}: give both latitude and longitude, or neither (the receiver's own position is used then)"),
        );
        if let (Some(lat), Some(lon)) = (self.latitude, self.longitude) {
            check(
                sdrhub_dsp::geo::GeoPoint::new(lat, lon).is_valid(),
                format!("{key}: latitude {lat} / longitude {lon} out of range"),
            );
        }
        check(
            self.fft_size.is_power_of_two() && (64..=65_536).contains(&self.fft_size),
            format!(
                "{key}.fft_size = {}: must be a power of two in 64..=65536",
                self.fft_size
            ),
        );
        check(
            self.fft_size >= min_fft_size,
            format!(
                "{key}.fft_size = {}: must be at least dsp.noise_segment_bins ({min_fft_size})",
                self.fft_size
            ),
        );
        check(
            (1..=4096).contains(&self.averages),
            format!("{key}.averages = {}: must be in 1..=4096", self.averages),
        );
        check(
            self.gain_db <= 120,
            format!("{key}.gain_db = {}: must be in 0..=120", self.gain_db),
        );
        check(
            (0.5..=3600.0).contains(&self.status_probe_interval_s),
            format!(
                "{key}.status_probe_interval_s = {}: must be in [0.5, 3600]",
                self.status_probe_interval_s
            ),
        );
        problems
    }
}
