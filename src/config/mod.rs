//! The typed configuration, loaded in layers: built-in defaults, then a TOML file, then
//! `SDRHUB_*` environment variables, then command-line flags; validated once at start-up.
//!
//! One file a section (or a few related ones), each type with its `Default` and its
//! `problems()`: every problem names its key and the allowed range. [`Config::validate`] only
//! gathers them and checks what spans sections (receiver ids, KiwiSDR FFT sizes against the
//! detector). The bus's and the receivers' settings live with their code (`crate::bus::config`,
//! `sdrhub_hardware::{kiwi, soapy}`).

mod acquisition;
pub mod alerts;
pub mod audio;
pub mod auth;
pub mod bus;
mod dashboard;
pub mod history;
pub mod network;
mod processing;
mod receivers;
mod server;

pub use acquisition::AcquisitionSettings;
pub use alerts::{AlertRule, AlertsConfig, MqttConfig, WebhookConfig};
pub use audio::AudioConfig;
pub use auth::{AuthConfig, TokenConfig, MAX_JWT_LEEWAY_S};
pub use bus::BusConfig;
pub use dashboard::{DashboardConfig, SpectrumFramesConfig, MAX_SPECTRUM_FRAME_RATE_HZ, SPECTRUM_FRAME_BINS};
pub use network::Network;
pub use processing::{DspConfig, LocalizationConfig, PropagationSetting, TrackerSettings};
pub use receivers::ReceiverConfig;
pub use sdrhub_hardware::kiwi::KiwiReceiverConfig;
pub use server::{LogConfig, LogFormat, ServerConfig};

use crate::hub::HubConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use sdrhub_hardware::sim::SceneConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The problems of a configuration section, each naming its key and what is allowed.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Records `problem` unless `ok`.
    pub fn check(&mut self, ok: bool, problem: String) {
        if !ok {
            self.0.push(problem);
        }
    }

    /// Records a problem.
    pub fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    /// `key = value: must be in lo..=hi` unless it is.
    pub fn range<T: PartialOrd + std::fmt::Display>(&mut self, key: &str, value: T, lo: T, hi: T) {
        if !(value >= lo && value <= hi) {
            self.0.push(format!("{key} = {value}: must be in {lo}..={hi}"));
        }
    }

    /// `key = value: must be in [lo, hi]` unless it is (NaN never is).
    pub fn interval(&mut self, key: &str, value: f64, lo: f64, hi: f64) {
        if !(value >= lo && value <= hi) {
            self.0.push(format!("{key} = {value}: must be in [{lo}, {hi}]"));
        }
    }

    /// `key = value: must be in (0, hi]` unless it is.
    pub fn positive(&mut self, key: &str, value: f64, hi: f64) {
        if !(value > 0.0 && value <= hi) {
            self.0.push(format!("{key} = {value}: must be in (0, {hi}]"));
        }
    }

    /// The problems found.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file, variable or flag could not be read into the typed config.
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    /// Values that parse but cannot work; every message names its key.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP and WebSocket serving.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// Spectrum and detection.
    pub dsp: DspConfig,
    /// Signal tracking.
    pub tracker: TrackerSettings,
    /// Localization.
    pub localization: LocalizationConfig,
    /// Acquisition workers.
    pub acquisition: AcquisitionSettings,
    /// The simulated scene (the embedded default source).
    pub simulation: SceneConfig,
    /// Hardware and remote receivers (`[[receivers]]`).
    pub receivers: Vec<ReceiverConfig>,
    /// Who may connect (off by default).
    pub auth: AuthConfig,
    /// The opt-in `spectrum:frame` stream.
    pub spectrum_frames: SpectrumFramesConfig,
    /// The embedded dashboard.
    pub dashboard: DashboardConfig,
    /// The NATS JetStream bus of the `acquire` and `gateway` roles (unused by `serve`).
    pub bus: BusConfig,
    /// The history database (`[history]`).
    pub history: history::HistoryConfig,
    /// Alert rules (`[alerts]`).
    pub alerts: AlertsConfig,
    /// Listening to signals (`[audio]`).
    pub audio: AudioConfig,
}

impl Config {
    /// Loads the layers: defaults, `file` (if given), `SDRHUB_*` variables (nested keys split
    /// by `__`, e.g. `SDRHUB_SERVER__BIND`), then `overrides` (from flags), and validates.
    pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Invalid(vec![format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )]));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("SDRHUB_").ignore(&["config"]).split("__"))
            .merge(overrides)
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the error lists every problem, each naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        problems.extend(self.server.problems());
        problems.extend(self.log.problems());
        problems.extend(self.dsp.problems());
        problems.extend(self.tracker.problems());
        problems.extend(self.localization.problems(self.tracker.power_window));
        problems.extend(self.spectrum_frames.problems());
        problems.extend(self.dashboard.problems());
        if self.simulation_enabled() {
            if let Err(errors) = self.simulation.validate() {
                problems.extend(errors.into_iter().map(|e| e.to_string()));
            }
        }
        let scene_ids: Vec<String> = self
            .simulation
            .resolved_receivers()
            .into_iter()
            .map(|r| r.id)
            .collect();
        problems.extend(self.acquisition.problems(&scene_ids));
        problems.extend(self.receiver_problems(scene_ids));
        problems.extend(self.alerts.problems(&self.receiver_ids(), &self.history));
        problems.extend(self.auth.problems());
        problems.extend(self.bus.problems());
        problems.extend(self.history.problems());
        problems.extend(self.audio.problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The receivers together: ids unique among the simulated and configured ones, and each
    /// receiver's own settings.
    fn receiver_problems(&self, scene_ids: Vec<String>) -> Vec<String> {
        let mut problems = Vec::new();
        let wanted = &self.acquisition.simulated_receivers;
        let mut ids: Vec<String> = if self.simulation_enabled() {
            scene_ids
                .into_iter()
                .filter(|id| wanted.is_empty() || wanted.contains(id))
                .collect()
        } else {
            Vec::new()
        };
        for (index, receiver) in self.receivers.iter().enumerate() {
            let key = format!("receivers[{index}]");
            let id = receiver.id();
            if id.trim().is_empty() {
                problems.push(format!("{key}.id: must not be empty"));
            }
            if ids.iter().any(|other| other == id) {
                problems.push(format!("{key}.id = {id:?}: already used by another receiver"));
            }
            ids.push(id.to_string());
            problems.extend(receiver.problems(&key, self.dsp.noise_segment_bins));
        }
        // No receivers at all is allowed: a hub fed only by POST /api/v1/publish (its health
        // report says so).
        problems
    }

    /// The ids of every receiver this process runs: the simulated scene's it runs, then the
    /// configured ones.
    pub fn receiver_ids(&self) -> Vec<String> {
        let wanted = &self.acquisition.simulated_receivers;
        let mut ids: Vec<String> = if self.simulation_enabled() {
            self.simulation
                .resolved_receivers()
                .into_iter()
                .map(|r| r.id)
                .filter(|id| wanted.is_empty() || wanted.contains(id))
                .collect()
        } else {
            Vec::new()
        };
        ids.extend(self.receivers.iter().map(|r| r.id().to_string()));
        ids
    }

    /// Whether the simulated scene runs: as configured, or else only when no `[[receivers]]`
    /// are configured.
    pub fn simulation_enabled(&self) -> bool {
        self.simulation.enabled.unwrap_or(self.receivers.is_empty())
    }

    /// The path-loss exponent localization uses: the configured one; else the simulated
    /// scene's when only simulated receivers run; else 2 (free space).
    pub fn path_loss_exponent(&self) -> f64 {
        self.localization.path_loss_exponent.unwrap_or_else(|| {
            if self.simulation_enabled() && self.receivers.is_empty() {
                self.simulation.path_loss.exponent()
            } else {
                2.0
            }
        })
    }

    /// The hub's settings.
    pub fn hub(&self) -> HubConfig {
        HubConfig {
            client_queue: self.server.client_queue,
            slow_client_policy: self.server.slow_client_policy,
            replay_events: self.server.replay_events,
            replay_age_ns: (self.server.replay_age_s * 1e9) as i64,
            numbering: crate::hub::Numbering::Local,
            recent_localizations: self.server.recent_localizations,
            waterfall: self
                .spectrum_frames
                .history()
                .map(|(rows, row_ns)| crate::hub::WaterfallSettings { rows, row_ns }),
        }
    }

    /// The configuration as TOML (for `sdrhub config`).
    pub fn to_toml(&self) -> String {
        // Invariant: every field is TOML-representable (no maps with non-string keys).
        toml::to_string_pretty(self).expect("config serializes to TOML")
    }
}

#[cfg(test)]
mod tests;
