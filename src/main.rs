//! The `sdrhub` binary: parses the command line, sets up logging, and runs a role (`serve`,
//! `acquire`, `gateway`, `locate-worker`, `history-writer`) until SIGINT or SIGTERM, or runs one of the tools (`detect`, `record`).

use clap::Parser;
use sdrhub::cli::{Cli, Command};
use sdrhub::config::{Config, LogFormat};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match cli.global.load_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("sdrhub: {error}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    // The tools' detector flags are the last configuration layer.
    let flags = match &command {
        Command::Detect(args) => args.detector.apply(&mut config),
        Command::Record(args) => args.detector.apply(&mut config),
        Command::Serve
        | Command::Acquire
        | Command::Gateway
        | Command::LocateWorker
        | Command::HistoryWriter
        | Command::Config
        | Command::Devices(_)
        | Command::Simulate(_)
        | Command::Locate(_) => Ok(()),
    };
    if let Err(error) = flags {
        eprintln!("sdrhub: {error}");
        return ExitCode::from(2);
    }
    match command {
        Command::Config => {
            print!("{}", config.to_toml());
            ExitCode::SUCCESS
        }
        Command::Serve
        | Command::Acquire
        | Command::Gateway
        | Command::LocateWorker
        | Command::HistoryWriter => serve(config, command),
        Command::Detect(args) => tool("detect", sdrhub::tools::detect::run(&args, &config)),
        Command::Record(args) => tool("record", sdrhub::tools::record::run(&args, &config)),
        Command::Devices(args) => tool("devices", sdrhub::tools::devices::run(&args)),
        Command::Locate(args) => tool("locate", sdrhub::tools::locate::run(&args, &config)),
        Command::Simulate(args) => {
            init_logging(&config);
            tool("simulate", sdrhub::tools::simulate::run(&args, &config))
        }
    }
}

/// The exit of a tool: 0, or 1 with the error (and its causes) on stderr.
fn tool(name: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sdrhub {name}: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    // Invariant: the filter was validated with the rest of the configuration.
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs a role until SIGINT or SIGTERM.
fn serve(config: Config, role: Command) -> ExitCode {
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sdrhub: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        if matches!(role, Command::Acquire) {
            return sdrhub::roles::acquire::run(config, shutdown_signal()).await;
        }
        if matches!(role, Command::LocateWorker) {
            return sdrhub::roles::locate_worker::run(config, shutdown_signal()).await;
        }
        if matches!(role, Command::HistoryWriter) {
            return sdrhub::roles::history_writer::run(config, shutdown_signal()).await;
        }
        let listener = std::net::TcpListener::bind(&config.server.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (server.bind): {e}", config.server.bind))?;
        if matches!(role, Command::Gateway) {
            sdrhub::roles::gateway::run(listener, config, shutdown_signal()).await
        } else {
            sdrhub::roles::serve::run(listener, config, shutdown_signal()).await
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("sdrhub: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
