//! The `serve` role: one process with everything, its receivers, DSP, fusion and the hub
//! that serves the clients.

use crate::config::Config;
use crate::history::LiveHistory;
use crate::hub::{empty_snapshot, Hub};
use crate::pipeline::probe::run_probe;
use crate::pipeline::{FrontService, Output, Pipeline};
use anyhow::Context;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

/// Serves on `listener` until `shutdown` completes, then closes every WebSocket with 1001,
/// stops accepting connections, stops the pipeline and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let hub = Hub::spawn(config.hub(), empty_snapshot());
    run_with_hub(listener, config, hub, shutdown).await
}

/// [`run`] with a hub made by the caller (who can then publish into it, as tests do).
pub async fn run_with_hub(
    listener: TcpListener,
    config: Config,
    hub: Hub,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let sources = crate::pipeline::sources::build_sources(&config)?;
    let (history, history_task) = open_history(&config).await?;
    // Tapped before the pipeline starts, so the engine sees every event from the first.
    let alerts = crate::alerts::Alerts::start(&config.alerts, hub.clone(), history.clone()).await;
    let output = Output::hub(hub.clone()).with_history(history.clone());
    let mut pipeline = Pipeline::start(&config, sources, output.clone());
    let front: crate::pipeline::FrontProbe = {
        let hub = hub.clone();
        Arc::new(move || {
            let hub = hub.clone();
            Box::pin(async move {
                FrontService {
                    name: "gateway",
                    status: crate::events::HealthStatus::Healthy,
                    detail: format!(
                        "serving {} WebSocket client(s)",
                        hub.stats().await.map_or(0, |s| s.connections)
                    ),
                }
            })
        })
    };
    let status_task = pipeline.spawn_status(output, front, config.clone());
    let probe_tasks: Vec<_> = pipeline
        .receivers()
        .iter()
        .filter_map(|r| r.remote.clone())
        .map(|remote| tokio::spawn(run_probe(remote)))
        .collect();
    let receivers = Arc::new(pipeline.receivers().to_vec());
    let store = history.as_ref().map(|h| h.store().clone());
    let served = crate::server::serve(
        listener,
        config,
        hub,
        crate::app_state::Backing {
            receivers,
            bus_fed: false,
            history: store,
            live_history: history.clone(),
            alerts,
        },
        shutdown,
    )
    .await;
    status_task.abort();
    for task in probe_tasks {
        task.abort();
    }
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .ok();
    if let Some(history) = history {
        // What the pipeline reported before it stopped is committed before the process ends.
        if !history.flush().await {
            tracing::warn!("the history writer had stopped before everything was written");
        }
        history.store().close().await;
    }
    if let Some(task) = history_task {
        task.abort();
    }
    tracing::info!("stopped");
    served
}

/// Opens `[history]` when it is enabled: the database and its writer.
///
/// # Errors
/// When the database cannot be opened (the message names `history.url`).
pub async fn open_history(
    config: &Config,
) -> anyhow::Result<(Option<Arc<LiveHistory>>, Option<tokio::task::JoinHandle<()>>)> {
    if !config.history.enabled {
        return Ok((None, None));
    }
    let (history, task) = LiveHistory::open(&config.history).await.with_context(|| {
        format!(
            "cannot open the history database (history.url = {:?})",
            config.history.url
        )
    })?;
    tracing::info!(url = %config.history.url, "history database open");
    Ok((Some(history), Some(task)))
}
