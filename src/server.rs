//! The server: builds the hub and the pipeline, serves HTTP and WebSocket on a listener, and
//! drains gracefully when told to shut down.

use crate::config::{Config, ReceiverConfig};
use crate::hub::{empty_snapshot, Hub, Numbering};
use crate::pipeline::probe::{run_probe, RemoteReceiver};
use crate::pipeline::{Output, Pipeline, ReceiverSource};
use crate::ws::session::SessionConfig;
use actix_service::ServiceFactoryExt;
use actix_web::{web, App, HttpResponse};
use anyhow::Context;
use sdrhub_hardware::sim::Scene;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared by every request handler.
#[derive(Debug)]
pub struct AppState {
    /// The hub.
    pub hub: Hub,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Session tunables derived from the configuration.
    pub session: SessionConfig,
    /// When the server started.
    pub started: Instant,
    /// Access control.
    pub auth: crate::auth::Authenticator,
    /// WebSocket sessions open now (for `server.max_connections`).
    pub live_sessions: Arc<std::sync::atomic::AtomicUsize>,
    /// The pipeline's receivers (for `/metrics`); none on a gateway.
    pub receivers: Arc<Vec<crate::pipeline::ReceiverHandle>>,
    /// A gateway: the hub's events come from the bus, and only from it.
    pub bus_fed: bool,
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: Vec<crate::ws::addresses::Network>,
    /// What each client address may hold and open.
    pub addresses: crate::ws::addresses::AddressLimits,
}

/// The IQ sources the configuration asks for: the simulated scene's receivers (when enabled)
/// and every `[[receivers]]` entry.
pub fn build_sources(config: &Config) -> anyhow::Result<Vec<ReceiverSource>> {
    let mut sources = Vec::new();
    if config.simulation_enabled() {
        let scene = Scene::new(config.simulation.clone()).context("the simulated scene is invalid")?;
        let epoch_ns = config
            .acquisition
            .simulation_epoch_s
            .map_or_else(sdrhub_hardware::acquisition::now_ns, |s| {
                s.saturating_mul(1_000_000_000)
            });
        let wanted = &config.acquisition.simulated_receivers;
        sources.extend(
            scene
                .builders(epoch_ns)
                .into_iter()
                .filter(|b| wanted.is_empty() || wanted.iter().any(|id| **id == *b.info().id))
                .map(ReceiverSource::plain),
        );
    }
    for (index, receiver) in config.receivers.iter().enumerate() {
        sources.push(
            build_receiver(receiver, config)
                .with_context(|| format!("receivers[{index}] ({})", receiver.id()))?,
        );
    }
    Ok(sources)
}

/// The source of one `[[receivers]]` entry.
pub fn build_receiver(receiver: &ReceiverConfig, config: &Config) -> anyhow::Result<ReceiverSource> {
    match receiver {
        ReceiverConfig::Kiwisdr(kiwi) => {
            let client = kiwi.client().map_err(anyhow::Error::msg)?;
            let status_url = client.url.status_url();
            let builder = sdrhub_hardware::kiwi::KiwiBuilder::new(client)?;
            let remote = Arc::new(RemoteReceiver::new(
                builder.link(),
                status_url,
                Duration::from_secs_f64(kiwi.status_probe_interval_s),
            ));
            Ok(ReceiverSource {
                builder: Box::new(builder),
                spectrum: Some(sdrhub_dsp::spectrum::SpectrumConfig {
                    fft_size: kiwi.fft_size,
                    averages: kiwi.averages,
                    ..config.dsp.spectrum()
                }),
                remote: Some(remote),
            })
        }
        ReceiverConfig::Soapy(soapy) => build_soapy(soapy),
    }
}

#[cfg(feature = "soapy")]
fn build_soapy(soapy: &sdrhub_hardware::soapy::SoapyReceiverConfig) -> anyhow::Result<ReceiverSource> {
    Ok(ReceiverSource::plain(Box::new(
        sdrhub_hardware::soapy::SoapyBuilder::new(soapy.clone())?,
    )))
}

#[cfg(not(feature = "soapy"))]
fn build_soapy(soapy: &sdrhub_hardware::soapy::SoapyReceiverConfig) -> anyhow::Result<ReceiverSource> {
    // Validation refuses these configurations first; this is the same message for callers
    // that skip validation.
    anyhow::bail!("receiver {:?} needs a build with `--features soapy`", soapy.id)
}

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
    let sources = build_sources(&config)?;
    let mut pipeline = Pipeline::start(&config, sources, hub.clone());
    let status_task = pipeline.spawn_status(Output::Hub(hub.clone()), config.clone());
    let probe_tasks: Vec<_> = pipeline
        .receivers()
        .iter()
        .filter_map(|r| r.remote.clone())
        .map(|remote| tokio::spawn(run_probe(remote)))
        .collect();
    let receivers = Arc::new(pipeline.receivers().to_vec());
    let served = serve(listener, config, hub, receivers, false, shutdown).await;
    status_task.abort();
    for task in probe_tasks {
        task.abort();
    }
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .ok();
    tracing::info!("stopped");
    served
}

/// The `gateway` role: no receivers; the hub is fed by the bus (`[bus] url`) with every event
/// the acquisition nodes publish, numbered by the events stream, and serves REST, WebSocket and
/// the dashboard like `serve`. Runs until `shutdown` completes.
pub async fn run_gateway(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let hub = Hub::spawn(gateway_hub(&config), empty_snapshot());
    run_gateway_with_hub(listener, config, hub, shutdown).await
}

/// The hub settings of a gateway: numbered by the bus.
fn gateway_hub(config: &Config) -> crate::hub::HubConfig {
    crate::hub::HubConfig {
        numbering: Numbering::External,
        ..config.hub()
    }
}

async fn run_gateway_with_hub(
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
    let (_stats, follower) = crate::bus::follower::spawn(bus, hub.clone(), config.clone());
    let served = serve(listener, config, hub, Arc::new(Vec::new()), true, shutdown).await;
    follower.abort();
    tracing::info!("stopped");
    served
}

/// Serves HTTP and WebSocket from `hub` on `listener` until `shutdown` completes, then closes
/// every WebSocket with 1001 and stops accepting connections.
async fn serve(
    listener: TcpListener,
    config: Arc<Config>,
    hub: Hub,
    receivers: Arc<Vec<crate::pipeline::ReceiverHandle>>,
    bus_fed: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let state = web::Data::new(AppState {
        hub: hub.clone(),
        config: config.clone(),
        session: SessionConfig {
            limits: crate::ws::transport::Limits {
                heartbeat_interval: Duration::from_secs_f64(config.server.heartbeat_interval_s),
                heartbeat_timeout: Duration::from_secs_f64(config.server.heartbeat_timeout_s),
                send_timeout: Duration::from_secs_f64(config.server.send_timeout_s),
                max_message_bytes: config.server.max_message_bytes,
                write_backlog_bytes: crate::ws::session::WRITE_BACKLOG_BYTES,
            },
            messages_per_s: config.server.client_messages_per_s,
            message_burst: config.server.client_message_burst,
            max_subscriptions: config.server.max_subscriptions,
        },
        started,
        auth: crate::auth::Authenticator::new(&config.auth),
        live_sessions: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        receivers,
        bus_fed,
        // Validation has checked every entry.
        trusted_proxies: config
            .server
            .trusted_proxies
            .iter()
            .filter_map(|p| crate::ws::addresses::Network::parse(p).ok())
            .collect(),
        addresses: crate::ws::addresses::AddressLimits::new(crate::ws::addresses::AddressLimitsConfig {
            max_connections: config.server.max_connections_per_address,
            connects_per_s: config.server.connects_per_address_per_s,
            connect_burst: config.server.connect_burst_per_address,
        }),
    });
    let address = listener.local_addr().context("listener has no address")?;
    let handshake_timeout = Duration::from_secs_f64(config.server.handshake_timeout_s);
    let server = actix_server::Server::build()
        .workers(2)
        .disable_signals()
        .shutdown_timeout(config.server.shutdown_grace_s.ceil() as u64)
        .listen("sdrhub", listener, move || {
            let ws_state = state.clone();
            let app = App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(crate::api::guard))
                .wrap(actix_web::middleware::Compress::default())
                .configure(crate::web::configure)
                .configure(crate::api::configure)
                .route("/ws/updates", web::get().to(crate::ws::not_upgraded))
                .route("/ws", web::get().to(crate::ws::not_upgraded))
                .default_service(web::to(not_found));
            let http = actix_http::HttpService::build()
                // A client must finish its request head (a WebSocket handshake included)
                // within this time, or it gets 408 and is disconnected.
                .client_request_timeout(handshake_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                .keep_alive(Duration::from_secs(5))
                .local_addr(address)
                // Upgrade requests skip the app: the WebSocket transport takes the socket.
                .upgrade(actix_service::fn_service(
                    move |(req, framed): (actix_http::Request, _)| {
                        let state = ws_state.clone();
                        // Boxed: the connection's task is sized for its largest future, and
                        // this one would otherwise make every connection carry ~10 KB.
                        Box::pin(async move {
                            crate::ws::serve(state, req, framed).await;
                            Ok::<(), actix_web::Error>(())
                        })
                    },
                ))
                // Boxed too, so that a request's future is a pointer in each connection's task
                // rather than the whole middleware chain inline (another ~10 KB each).
                .finish(actix_service::boxed::factory(actix_service::map_config(
                    app,
                    |_| actix_web::dev::AppConfig::default(),
                )));
            // Every request head on a connection is timed, not only the first
            // (crate::head_deadline).
            actix_service::fn_service(move |io: tokio::net::TcpStream| {
                let peer = io.peer_addr().ok();
                let io = crate::head_deadline::DeadlineStream::new(io, handshake_timeout);
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                    io,
                    actix_http::Protocol::Http1,
                    peer,
                )))
            })
            .and_then(http)
        })
        .context("cannot serve on the listener")?
        .run();
    let server_handle = server.handle();
    tracing::info!("listening on http://{address}");
    let server_task = tokio::spawn(server);

    shutdown.await;
    tracing::info!("shutting down");
    hub.close_all(crate::hub::Kick {
        code: 1001,
        reason: "server shutting down".into(),
    })
    .await;
    // Give sessions a moment to send their close frames before connections are torn down.
    let grace = Duration::from_secs_f64(config.server.shutdown_grace_s);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        match hub.stats().await {
            Some(stats) if stats.connections > 0 => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => break,
        }
    }
    server_handle.stop(true).await;
    let _ = server_task.await;
    Ok(())
}

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
            let hub = Hub::spawn(gateway_hub(&config), empty_snapshot());
            let task = tokio::spawn(run_gateway_with_hub(listener, config, hub.clone(), stopped));
            (hub, task)
        } else {
            let hub = Hub::spawn(config.hub(), empty_snapshot());
            let task = tokio::spawn(run_with_hub(listener, config, hub.clone(), stopped));
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

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    HttpResponse::NotFound()
        .json(serde_json::json!({"code": "not_found", "message": format!("no route for {}", req.path())}))
}
