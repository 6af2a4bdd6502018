//! The `gateway` role: no receivers; the hub is fed by the bus.
//!
//! History on a gateway: it reads the database `sdrhub history-writer` fills
//! ([`open_history`]); it creates no schema, writes no events and prunes nothing (the writer
//! owns all three), so gateways of different versions never race to migrate it.

use crate::config::Config;
use crate::hub::{empty_snapshot, Hub, Numbering};
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

/// The `gateway` role: no receivers; the hub is fed by the bus (`[bus] url`) with every event
/// the acquisition nodes publish, numbered by the events stream, and serves REST, WebSocket and
/// the dashboard like `serve`. Runs until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let hub = Hub::spawn(gateway_hub(&config), empty_snapshot());
    run_gateway_with_hub(listener, config, hub, shutdown).await
}

/// The history database of a gateway (`[history] url`, PostgreSQL in a cluster), opened for
/// reading, or `None` with `history.enabled = false`. Connections are made on the first query:
/// the gateway starts whether the database is up or not, and history queries fail (the store's
/// error) until it is and `sdrhub history-writer` has created the schema. Known-signal edits
/// made through a gateway go to the same database. Call it within a tokio runtime.
pub fn open_history(
    config: &Config,
) -> Result<Option<crate::history::HistoryStore>, crate::history::HistoryError> {
    if !config.history.enabled {
        return Ok(None);
    }
    let store = crate::history::HistoryStore::open_reader(&config.history)?;
    // Said once at start, so a gateway pointed at the wrong database or started long before
    // the writer is noticed in its log.
    let probe = store.clone();
    tokio::spawn(async move {
        match probe.schema_ready().await {
            Ok(true) => tracing::info!("history database ready"),
            Ok(false) => tracing::warn!(
                "the history database has no schema yet: `sdrhub history-writer` creates it; history queries fail until then"
            ),
            Err(error) => tracing::warn!(%error, "the history database cannot be reached yet; history queries fail until it can"),
        }
    });
    Ok(Some(store))
}

/// The hub settings of a gateway: numbered by the bus.
pub(super) fn gateway_hub(config: &Config) -> crate::hub::HubConfig {
    crate::hub::HubConfig {
        numbering: Numbering::External,
        ..config.hub()
    }
}

pub(super) async fn run_gateway_with_hub(
    listener: TcpListener,
    config: Config,
    hub: Hub,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let name = format!(
        "sdrhub gateway {}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    let bus = crate::bus::Bus::connect(&config.bus, &name, "gateway").await?;
    let (_stats, follower) = crate::bus::follower::spawn(
        bus,
        hub.clone(),
        crate::bus::follower::FollowerSettings {
            bus: config.bus.clone(),
            report_interval: std::time::Duration::from_secs_f64(
                config
                    .server
                    .health_interval_s
                    .max(config.server.status_interval_s),
            ),
        },
    );
    // History is answered from the database `sdrhub history-writer` fills.
    let history = open_history(&config)?;
    let served = crate::server::serve(
        listener,
        config,
        hub,
        crate::app_state::Backing {
            bus_fed: true,
            history,
            ..Default::default()
        },
        shutdown,
    )
    .await;
    follower.abort();
    tracing::info!("stopped");
    served
}
