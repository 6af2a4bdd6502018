//! The `gateway` role: no receivers; the hub is fed by the bus.

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
    let served = crate::server::serve(
        listener,
        config,
        hub,
        crate::app_state::Backing {
            bus_fed: true,
            ..Default::default()
        },
        shutdown,
    )
    .await;
    follower.abort();
    tracing::info!("stopped");
    served
}
