//! The command line: `sdrhub [serve]` (the default) and `sdrhub config`.

use crate::config::{Config, ConfigError, LogFormat};
use clap::{Args, Parser, Subcommand};
use figment::providers::Serialized;
use figment::Figment;
use std::path::PathBuf;

/// sdrhub: radio receivers in, a live and trustworthy picture of the spectrum out.
#[derive(Debug, Parser)]
#[command(name = "sdrhub", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: receivers, DSP, REST, WebSocket and the dashboard (the default).
    Serve,
    /// Print the effective configuration (defaults, file, environment and flags merged) as TOML.
    Config,
}

/// Flags that override the configuration (the last layer).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(short, long, global = true, env = "SDRHUB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 (server.bind).
    #[arg(long, global = true)]
    pub bind: Option<String>,
    /// Log format (log.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or sdrhub=debug (log.level).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Seed of the simulated scene (simulation.seed).
    #[arg(long, global = true)]
    pub seed: Option<u64>,
    /// Number of simulated receivers placed on a ring (simulation.receiver_count).
    #[arg(long, global = true)]
    pub receivers: Option<usize>,
}

impl GlobalArgs {
    /// Loads and validates the configuration with these flags as the last layer.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut overrides = Figment::new();
        if let Some(bind) = &self.bind {
            overrides = overrides.merge(Serialized::default("server.bind", bind));
        }
        if let Some(format) = self.log_format {
            overrides = overrides.merge(Serialized::default("log.format", format));
        }
        if let Some(level) = &self.log_level {
            overrides = overrides.merge(Serialized::default("log.level", level));
        }
        if let Some(seed) = self.seed {
            overrides = overrides.merge(Serialized::default("simulation.seed", seed));
        }
        if let Some(receivers) = self.receivers {
            overrides = overrides.merge(Serialized::default("simulation.receiver_count", receivers));
        }
        Config::load(self.config.as_deref(), overrides)
    }
}
