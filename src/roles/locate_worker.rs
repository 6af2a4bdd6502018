//! The `locate-worker` role: TDOA across acquisition nodes.
//!
//! It follows the snippets stream (`SDRHUB_SNIPPETS`, [`crate::bus::snippet`]) from the newest
//! snippet on, groups the snippets that belong together (the same grid window, frequencies
//! within `tracker.frequency_tolerance_hz` or half a bandwidth), and once a group has settled
//! with snippets from at least 3 receivers, correlates and solves them as the local TDOA
//! worker does ([`crate::pipeline::tdoa::solve`]), off the async runtime. Each fix goes to the
//! events stream as a `localizations:updated` (method `tdoa`) under the signal id of the node
//! whose receiver heard it best. Its own health (`bus`, `localization`) goes out as a node's
//! does, on `sdrhub.services.health.<worker id>`.

use crate::bus::publisher::{Publisher, PublisherTask};
use crate::bus::snippet::{decode, SnippetMeta, META_HEADER};
use crate::bus::{Bus, SNIPPETS_STREAM};
use crate::config::Config;
use crate::events::{Event, HealthReport, HealthStatus, LocalizationReport, ServiceHealth, Timestamp};
use crate::pipeline::snippets::Snippet;
use crate::pipeline::tdoa::{solve, ReceiverSnippet, SignalBand, TdoaError, TdoaSolution};
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures_util::StreamExt;
use sdrhub_dsp::geo::GeoPoint;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long a group waits for more snippets after its first arrived: every node cuts a window
/// a fixed delay after it ends, so their snippets arrive within this of each other.
const SETTLE: Duration = Duration::from_millis(1500);
/// How often groups are checked and health is evaluated.
const TICK: Duration = Duration::from_millis(100);
/// Groups being solved at once; beyond, the oldest settled group waits (each takes a few ms to a
/// few hundred ms of one core).
const SOLVING: usize = 2;

/// Counters of the worker, for its health and for tests.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Snippets read.
    pub snippets: AtomicU64,
    /// Snippets that could not be read.
    pub malformed: AtomicU64,
    /// Groups solved into a fix.
    pub fixes: AtomicU64,
    /// Groups with fewer than 3 receivers when they settled.
    pub incomplete: AtomicU64,
    /// Groups TDOA found no position for.
    pub failed: AtomicU64,
    /// Why the last one failed.
    pub last_failure: Mutex<Option<String>>,
}

/// Runs a locate worker until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let worker = RunningWorker::start(config).await?;
    shutdown.await;
    worker.stop().await;
    Ok(())
}

/// A running locate worker, for tests and embedding.
#[derive(Debug)]
pub struct RunningWorker {
    /// Its id: `bus.node_id`, else `locate-<host name>`.
    pub id: String,
    /// Its counters.
    pub stats: Arc<WorkerStats>,
    publisher_task: PublisherTask,
    task: tokio::task::JoinHandle<()>,
}

impl RunningWorker {
    /// Connects to the bus (in the background) and starts following the snippets.
    pub async fn start(config: Config) -> anyhow::Result<RunningWorker> {
        config.validate()?;
        let id = if config.bus.node_id.is_empty() {
            format!("locate-{}", config.bus.node())
        } else {
            config.bus.node_id.clone()
        };
        let bus = Bus::connect(
            &config.bus,
            &format!("sdrhub locate-worker {id}"),
            "locate-worker",
        )
        .await?;
        let (publisher, publisher_task) = Publisher::spawn(
            bus.clone(),
            &config.bus,
            id.clone(),
            Duration::from_secs_f64(config.server.shutdown_grace_s),
            false,
        );
        let stats = Arc::new(WorkerStats::default());
        let worker = Worker {
            bus,
            config: Arc::new(config),
            publisher,
            stats: stats.clone(),
            groups: Vec::new(),
            solving: Arc::new(tokio::sync::Semaphore::new(SOLVING)),
        };
        tracing::info!(id, "locate worker started");
        Ok(RunningWorker {
            id,
            stats,
            publisher_task,
            task: tokio::spawn(worker.run()),
        })
    }

    /// Stops following snippets and publishes what is left.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        self.publisher_task.finish().await;
    }
}

/// Snippets of one transmission in one window.
struct Group {
    window_ns: i64,
    frequency_hz: f64,
    bandwidth_hz: f64,
    first: Instant,
    members: Vec<(SnippetMeta, Snippet)>,
}

impl Group {
    fn matches(&self, meta: &SnippetMeta, tolerance_hz: f64) -> bool {
        meta.window_ns == self.window_ns
            && (meta.frequency_hz - self.frequency_hz).abs()
                <= tolerance_hz.max(self.bandwidth_hz.max(meta.bandwidth_hz) / 2.0)
    }
}

struct Worker {
    bus: Bus,
    config: Arc<Config>,
    publisher: Publisher,
    stats: Arc<WorkerStats>,
    groups: Vec<Group>,
    solving: Arc<tokio::sync::Semaphore>,
}

type Messages = async_nats::jetstream::consumer::pull::Ordered;

impl Worker {
    async fn run(mut self) {
        let mut link = self.bus.link.clone();
        let mut messages: Option<Messages> = None;
        let mut retry_at: Option<Instant> = None;
        let mut attempt = 0u32;
        let mut tick = tokio::time::interval(TICK);
        let health_every = Duration::from_secs_f64(self.config.server.health_interval_s);
        let mut last_health: Option<(Instant, Vec<HealthStatus>)> = None;
        let mut since: Vec<(HealthStatus, Timestamp)> = Vec::new();
        loop {
            if link.borrow().connected && messages.is_none() && retry_at.is_none() {
                match self.subscribe().await {
                    Ok(stream) => {
                        messages = Some(stream);
                        attempt = 0;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot follow the snippets stream; retrying");
                        retry_at = Some(Instant::now() + crate::bus::retry_delay(attempt));
                        attempt += 1;
                    }
                }
            }
            tokio::select! {
                message = async { messages.as_mut().expect("guarded by is_some").next().await }, if messages.is_some() => {
                    match message {
                        Some(Ok(message)) => self.take(&message),
                        Some(Err(error)) => {
                            tracing::warn!(%error, "the snippets consumer failed; following again");
                            messages = None;
                            retry_at = Some(Instant::now() + crate::bus::retry_delay(attempt));
                            attempt += 1;
                        }
                        None => messages = None,
                    }
                }
                changed = link.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if link.borrow().connected {
                        retry_at = None;
                    } else {
                        // From the newest snippet again once back: older ones are stale.
                        messages = None;
                    }
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    retry_at = None;
                }
                _ = tick.tick() => {
                    self.solve_settled();
                    let health = self.health(&mut since);
                    let statuses: Vec<HealthStatus> = health.services.iter().map(|s| s.status).collect();
                    let due = last_health
                        .as_ref()
                        .is_none_or(|(at, last)| at.elapsed() >= health_every || *last != statuses);
                    if due {
                        last_health = Some((Instant::now(), statuses));
                        self.publisher.publish(Event::ServicesHealth(health)).await;
                    }
                }
            }
        }
    }

    /// A consumer of the snippets stream from the newest snippet on.
    async fn subscribe(&self) -> Result<Messages, String> {
        self.bus
            .ensure_streams(&self.config.bus)
            .await
            .map_err(|e| e.to_string())?;
        let stream = self
            .bus
            .jetstream
            .get_stream(SNIPPETS_STREAM)
            .await
            .map_err(|e| e.to_string())?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::New,
                description: Some("sdrhub locate worker".into()),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        consumer.messages().await.map_err(|e| e.to_string())
    }

    /// Files one snippet into its group.
    fn take(&mut self, message: &async_nats::jetstream::Message) {
        let decoded = message
            .headers
            .as_ref()
            .and_then(|h| h.get(META_HEADER))
            .ok_or_else(|| format!("no {META_HEADER} header"))
            .and_then(|header| decode(header.as_str(), &message.payload));
        let (meta, snippet) = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                let count = self.stats.malformed.fetch_add(1, Ordering::Relaxed) + 1;
                if count.is_power_of_two() {
                    tracing::warn!(%error, count, "skipped a malformed snippet");
                }
                return;
            }
        };
        self.stats.snippets.fetch_add(1, Ordering::Relaxed);
        let tolerance = self.config.tracker.frequency_tolerance_hz;
        match self.groups.iter_mut().find(|g| g.matches(&meta, tolerance)) {
            Some(group) => {
                if !group.members.iter().any(|(m, _)| m.receiver == meta.receiver) {
                    group.members.push((meta, snippet));
                }
            }
            None => self.groups.push(Group {
                window_ns: meta.window_ns,
                frequency_hz: meta.frequency_hz,
                bandwidth_hz: meta.bandwidth_hz,
                first: Instant::now(),
                members: vec![(meta, snippet)],
            }),
        }
    }

    /// Solves every group that has settled, as far as the solving slots allow.
    fn solve_settled(&mut self) {
        let mut index = 0;
        while index < self.groups.len() {
            if self.groups[index].first.elapsed() < SETTLE {
                index += 1;
                continue;
            }
            if self.groups[index].members.len() < crate::pipeline::fusion::TDOA_MIN_RECEIVERS {
                self.groups.swap_remove(index);
                self.stats.incomplete.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Ok(permit) = self.solving.clone().try_acquire_owned() else {
                return;
            };
            let group = self.groups.swap_remove(index);
            let (config, stats, publisher) =
                (self.config.clone(), self.stats.clone(), self.publisher.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let outcome = match tokio::task::spawn_blocking(move || locate(&group, &config)).await {
                    Ok(outcome) => outcome.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("the solver failed: {e}")),
                };
                match outcome {
                    Ok(report) => {
                        stats.fixes.fetch_add(1, Ordering::Relaxed);
                        publisher.publish(Event::LocalizationsUpdated(report)).await;
                    }
                    Err(reason) => {
                        tracing::debug!(%reason, "no TDOA position across nodes");
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        *stats.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                    }
                }
            });
        }
    }

    /// The worker's own services: `bus` and `localization`.
    fn health(&self, since: &mut Vec<(HealthStatus, Timestamp)>) -> HealthReport {
        let (bus_status, bus_detail) = self.publisher.health();
        let s = &self.stats;
        let mut detail = format!(
            "{} TDOA fix(es) across nodes from {} snippet(s); {} window(s) with fewer than 3 receivers, {} unsolved",
            s.fixes.load(Ordering::Relaxed),
            s.snippets.load(Ordering::Relaxed),
            s.incomplete.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
        );
        if let Some(failure) = s.last_failure.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            detail.push_str(&format!("; last: {failure}"));
        }
        let services: Vec<(&str, HealthStatus, String)> = vec![
            ("bus", bus_status, bus_detail),
            ("localization", HealthStatus::Healthy, detail),
        ];
        since.resize(services.len(), (HealthStatus::Healthy, Timestamp::now()));
        let services: Vec<ServiceHealth> = services
            .into_iter()
            .zip(since.iter_mut())
            .map(|((name, status, detail), held)| {
                if held.0 != status {
                    *held = (status, Timestamp::now());
                }
                ServiceHealth {
                    name: name.into(),
                    status,
                    detail,
                    since: held.1,
                }
            })
            .collect();
        HealthReport::of(services)
    }
}

/// TDOA over one group's snippets.
fn locate(group: &Group, config: &Config) -> Result<LocalizationReport, TdoaError> {
    // `solve_settled` hands over only groups of TDOA_MIN_RECEIVERS or more snippets.
    let best = group
        .members
        .iter()
        .max_by(|a, b| a.0.snr_db.total_cmp(&b.0.snr_db))
        .expect("a group is solved only with TDOA_MIN_RECEIVERS members");
    let (reference, reference_snippet) = best;
    let mut receivers = Vec::new();
    let mut excluded = Vec::new();
    for (meta, snippet) in &group.members {
        if (snippet.rate_hz - reference_snippet.rate_hz).abs() > 1e-3 * reference_snippet.rate_hz
            || (snippet.center_hz - reference_snippet.center_hz).abs() > 1.0
        {
            excluded.push((
                meta.receiver.clone(),
                "tuned differently from the reference (rate or centre frequency)".to_string(),
            ));
            continue;
        }
        receivers.push(ReceiverSnippet {
            id: meta.receiver.clone(),
            position: GeoPoint::new(meta.latitude, meta.longitude),
            snippet: snippet.clone(),
            snr_db: meta.snr_db,
            timing_sigma_s: config.localization.timing_sigma_ns * 1e-9,
        });
    }
    let offset = reference.frequency_hz - reference_snippet.center_hz;
    let half = reference.bandwidth_hz.max(1.0) / 2.0;
    let l = &config.localization;
    let solution: TdoaSolution = solve(
        &receivers,
        SignalBand::Given(offset - half, offset + half),
        l.propagation.model(),
    )?;
    Ok(solution.report(
        reference.signal_id.clone(),
        reference.frequency_hz,
        excluded,
        Timestamp::now(),
    ))
}
