//! The command line: the roles `sdrhub [serve]` (the default: everything in one process),
//! `sdrhub acquire`, `sdrhub gateway`, `sdrhub locate-worker` and `sdrhub history-writer` (the
//! same joined by NATS JetStream), `sdrhub config`,
//! and the tools (`detect`, `record`, `devices`, `simulate`, `locate`).

use crate::config::{Config, ConfigError, LogFormat};
use crate::tools::detect::DetectArgs;
use crate::tools::devices::DevicesArgs;
use crate::tools::locate::LocateArgs;
use crate::tools::record::RecordArgs;
use crate::tools::simulate::SimulateArgs;
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
    /// Run an acquisition node: receivers and DSP, every event published to the bus
    /// (--bus / bus.url); serves nothing.
    Acquire,
    /// Run a gateway: REST, WebSocket and the dashboard for the events on the bus
    /// (--bus / bus.url); no receivers.
    Gateway,
    /// Run a locate worker: TDOA across acquisition nodes from the IQ snippets on the bus
    /// (--bus / bus.url); fixes go back to the bus.
    LocateWorker,
    /// Run a history writer: every event on the bus (--bus / bus.url) stored once in the
    /// history database ([history] url, PostgreSQL in a cluster).
    HistoryWriter,
    /// Print the effective configuration (defaults, file, environment and flags merged) as TOML.
    Config,
    /// Run the detector over a recording and print one JSON line per signal found.
    Detect(DetectArgs),
    /// Record a receiver to SigMF, with the signals it detects written as annotations.
    Record(RecordArgs),
    /// List the SoapySDR devices found, with frequency ranges, sample rates, gains, antennas.
    Devices(DevicesArgs),
    /// Serve the simulated scene's receivers as emulated KiwiSDRs on loopback and print the
    /// configuration that connects sdrhub to them.
    Simulate(SimulateArgs),
    /// Locate a transmitter by TDOA from Kiwi WAV recordings of 3 or more receivers made at
    /// the same time.
    Locate(LocateArgs),
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
    /// NATS server(s) of the acquire and gateway roles, e.g. nats://127.0.0.1:4222 (bus.url).
    #[arg(long, global = true, value_name = "URL")]
    pub bus: Option<String>,
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
        if let Some(bus) = &self.bus {
            overrides = overrides.merge(Serialized::default("bus.url", bus));
        }
        Config::load(self.config.as_deref(), overrides)
    }
}
