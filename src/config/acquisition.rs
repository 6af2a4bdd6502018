//! `[acquisition]`: the workers that read the receivers, and which simulated receivers a node
//! runs.

use sdrhub_hardware::acquisition::AcquisitionConfig;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[acquisition]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcquisitionSettings {
    /// Blocks that may wait for DSP before new ones are dropped (and counted).
    pub queue_blocks: usize,
    /// First wait before reopening a failed receiver, s.
    pub backoff_initial_s: f64,
    /// Cap of the doubling reopen wait, s.
    pub backoff_max_s: f64,
    /// A receiver with no samples for this long is reported offline, s.
    pub offline_after_s: f64,
    /// First wait after a receiver refused us (busy, bad password, down), s.
    pub refused_backoff_initial_s: f64,
    /// Cap of the doubling wait after refusals, s.
    pub refused_backoff_max_s: f64,
    /// Ids of the simulated scene's receivers this process runs; empty: all. The scene stays
    /// whole (same transmitters, each receiver its own noise), so acquisition nodes that each
    /// run some receivers of one scene hear the same transmissions, as TDOA across nodes needs.
    pub simulated_receivers: Vec<String>,
    /// The simulated scene's epoch (its sample 0), s since the Unix epoch; unset: when the
    /// process starts. Nodes that share one scene must share its epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulation_epoch_s: Option<i64>,
}

impl Default for AcquisitionSettings {
    fn default() -> Self {
        let a = AcquisitionConfig::default();
        Self {
            queue_blocks: a.queue_blocks,
            backoff_initial_s: a.backoff_initial.as_secs_f64(),
            backoff_max_s: a.backoff_max.as_secs_f64(),
            offline_after_s: 2.0,
            refused_backoff_initial_s: a.refused_backoff_initial.as_secs_f64(),
            refused_backoff_max_s: a.refused_backoff_max.as_secs_f64(),
            simulated_receivers: Vec::new(),
            simulation_epoch_s: None,
        }
    }
}

impl AcquisitionSettings {
    /// The worker's own config.
    pub fn acquisition(&self) -> AcquisitionConfig {
        AcquisitionConfig {
            queue_blocks: self.queue_blocks,
            backoff_initial: Duration::from_secs_f64(self.backoff_initial_s),
            backoff_max: Duration::from_secs_f64(self.backoff_max_s),
            refused_backoff_initial: Duration::from_secs_f64(self.refused_backoff_initial_s),
            refused_backoff_max: Duration::from_secs_f64(self.refused_backoff_max_s),
            ..AcquisitionConfig::default()
        }
    }
}

impl AcquisitionSettings {
    /// Every problem of `[acquisition]`, each naming its key; `scene_ids` are the simulated
    /// scene's receivers (which `simulated_receivers` must name).
    pub fn problems(&self, scene_ids: &[String]) -> Vec<String> {
        let mut p = super::Problems::default();
        p.range("acquisition.queue_blocks", self.queue_blocks, 1, 4096);
        p.check(
            self.backoff_initial_s > 0.0 && self.backoff_max_s >= self.backoff_initial_s,
            format!(
                "acquisition.backoff_initial_s = {} / backoff_max_s = {}: need 0 < initial <= max",
                self.backoff_initial_s, self.backoff_max_s
            ),
        );
        p.check(
            self.refused_backoff_initial_s > 0.0
                && self.refused_backoff_max_s >= self.refused_backoff_initial_s
                && self.refused_backoff_max_s <= 86_400.0,
            format!(
                "acquisition.refused_backoff_initial_s = {} / refused_backoff_max_s = {}: need 0 < initial <= max <= 86400",
                self.refused_backoff_initial_s, self.refused_backoff_max_s
            ),
        );
        p.check(
            self.offline_after_s > 0.0,
            format!(
                "acquisition.offline_after_s = {}: must be > 0",
                self.offline_after_s
            ),
        );
        for id in &self.simulated_receivers {
            p.check(
                scene_ids.contains(id),
                format!(
                    "acquisition.simulated_receivers: {id:?} is not a receiver of the simulated scene ({})",
                    scene_ids.join(", ")
                ),
            );
        }
        if let Some(epoch) = self.simulation_epoch_s {
            p.check(
                epoch > 0,
                format!("acquisition.simulation_epoch_s = {epoch}: must be > 0 (s since 1970)"),
            );
        }
        p.into_vec()
    }
}
