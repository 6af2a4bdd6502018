//! The `acquire` role: an acquisition node. Its receivers, DSP and fusion run as in `serve`,
//! but every event goes to the bus instead of a local hub, and nothing is served: gateways
//! serve the clients.
//!
//! The node's `websdrs:status` and `services:health` report its own receivers and services
//! (its front service is `bus`: how publishing to NATS is going) on subjects ending in its
//! node id, and gateways merge the nodes' reports.

use crate::bus::publisher::{Publisher, PublisherTask};
use crate::bus::Bus;
use crate::config::Config;
use crate::pipeline::probe::run_probe;
use crate::pipeline::{Output, Pipeline};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs an acquisition node until `shutdown` completes, then stops the receivers and publishes
/// what NATS has not acknowledged yet (for at most `server.shutdown_grace_s`).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let node = RunningNode::start(config).await?;
    shutdown.await;
    node.stop().await
}

/// A running acquisition node, for tests and embedding.
#[derive(Debug)]
pub struct RunningNode {
    /// The node id (`bus.node_id` or the host name).
    pub node: String,
    /// The snippet cutter's counters (TDOA across nodes); `None` with TDOA off.
    pub snippets: Option<Arc<crate::bus::snippet::CutterStats>>,
    publisher: Publisher,
    publisher_task: PublisherTask,
    pipeline: Pipeline,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningNode {
    /// Connects to the bus (in the background: NATS may come later) and starts the receivers.
    pub async fn start(config: Config) -> anyhow::Result<RunningNode> {
        config.validate()?;
        let config = Arc::new(config);
        let node = config.bus.node();
        let bus = Bus::connect(&config.bus, &format!("sdrhub acquire {node}"), "acquire").await?;
        let sources = crate::pipeline::sources::build_sources(&config)?;
        let (mut publisher, publisher_task) = Publisher::spawn(
            bus.clone(),
            &config.bus,
            node.clone(),
            Duration::from_secs_f64(config.server.shutdown_grace_s),
            true,
        );
        // TDOA across nodes: the snippet cutter learns which signals are active from what the
        // publisher publishes, and cuts the receivers' rings once the pipeline has made them.
        let tdoa = config.localization.enabled && config.localization.tdoa;
        let (signal_tap, signal_reports) = tokio::sync::mpsc::channel(crate::bus::snippet::TAP_QUEUE);
        if tdoa {
            publisher = publisher.with_signal_tap(signal_tap);
        }
        let pipeline = Pipeline::start(&config, sources, Output::to(Arc::new(publisher.clone())));
        let front: crate::pipeline::FrontProbe = {
            let publisher = publisher.clone();
            Arc::new(move || {
                let (status, detail) = publisher.health();
                Box::pin(std::future::ready(crate::pipeline::FrontService {
                    name: "bus",
                    status,
                    detail,
                }))
            })
        };
        let mut tasks =
            vec![pipeline.spawn_status(Output::to(Arc::new(publisher.clone())), front, config.clone())];
        let mut snippets = None;
        if tdoa {
            let (stats, task) = crate::bus::snippet::spawn_cutter(
                bus,
                node.clone(),
                pipeline.receivers().to_vec(),
                signal_reports,
                Duration::from_secs_f64(config.localization.interval_s),
                config.localization.tdoa_window_s,
            );
            snippets = Some(stats);
            tasks.push(task);
        }
        tasks.extend(
            pipeline
                .receivers()
                .iter()
                .filter_map(|r| r.remote.clone())
                .map(|remote| tokio::spawn(run_probe(remote))),
        );
        tracing::info!(node, url = %config.bus.url, receivers = pipeline.receivers().len(), "acquisition node started");
        Ok(RunningNode {
            node,
            snippets,
            publisher,
            publisher_task,
            pipeline,
            tasks,
        })
    }

    /// The node's publisher (tests publish through it as the pipeline does).
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Stops the receivers, then publishes what is left (at most `server.shutdown_grace_s`).
    pub async fn stop(self) -> anyhow::Result<()> {
        let RunningNode {
            node,
            snippets: _,
            publisher,
            publisher_task,
            mut pipeline,
            tasks,
        } = self;
        for task in tasks {
            task.abort();
        }
        tokio::task::spawn_blocking(move || pipeline.shutdown())
            .await
            .ok();
        drop(publisher);
        publisher_task.finish().await;
        tracing::info!(node, "acquisition node stopped");
        Ok(())
    }
}
