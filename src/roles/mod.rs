//! The five ways to run sdrhub, one file each:
//!
//! - [`serve`]: everything in one process (receivers, DSP, fusion, hub, HTTP).
//! - [`acquire`]: an acquisition node; its events go to NATS JetStream, nothing is served.
//! - [`gateway`]: no receivers; a hub fed by the bus serves the clients.
//! - [`locate_worker`]: TDOA across nodes from the snippets on the bus.
//! - [`history_writer`]: the history database filled from the bus, each event once.
//!
//! Each role builds what it needs (the pipeline, the bus publisher or follower, the hub) and
//! hands the pieces to the shared parts: `crate::pipeline`, `crate::server` (HTTP only),
//! `crate::bus`.

pub mod acquire;
pub mod gateway;
pub mod history_writer;
pub mod locate_worker;
pub mod serve;

use crate::config::Config;
use crate::hub::{empty_snapshot, Hub};
use anyhow::Context;
use std::net::{SocketAddr, TcpListener};

/// A handle on the running server, for tests and embedding.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    hub: Hub,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Binds `config.server.bind` and serves in a background task of the current runtime.
    pub fn start(config: Config) -> anyhow::Result<RunningServer> {
        Self::start_role(config, false)
    }

    /// [`RunningServer::start`] for the `gateway` role: fed by the bus, no receivers.
    pub fn start_gateway(config: Config) -> anyhow::Result<RunningServer> {
        Self::start_role(config, true)
    }

    fn start_role(config: Config, gateway: bool) -> anyhow::Result<RunningServer> {
        config.validate()?;
        let listener = TcpListener::bind(&config.server.bind)
            .with_context(|| format!("cannot listen on {} (server.bind)", config.server.bind))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let (hub, task) = if gateway {
            let hub = Hub::spawn(gateway::gateway_hub(&config), empty_snapshot());
            let task = tokio::spawn(gateway::run_gateway_with_hub(
                listener,
                config,
                hub.clone(),
                stopped,
            ));
            (hub, task)
        } else {
            let hub = Hub::spawn(config.hub(), empty_snapshot());
            let task = tokio::spawn(serve::run_with_hub(listener, config, hub.clone(), stopped));
            (hub, task)
        };
        Ok(RunningServer {
            addr,
            hub,
            stop: Some(stop),
            task,
        })
    }

    /// The server's hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Shuts down gracefully and waits for the server to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?
    }
}
