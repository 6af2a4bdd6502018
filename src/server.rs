//! HTTP and WebSocket on a listener: the REST API, the dashboard and the WebSocket upgrade
//! (taken over by `crate::ws`), until a shutdown signal; then every WebSocket gets 1001 and the
//! server drains. The roles (`crate::roles`) decide what feeds the hub.

use crate::app_state::AppState;
use crate::config::Config;
use crate::hub::Hub;
use actix_service::ServiceFactoryExt;
use actix_web::{web, App, HttpResponse};
use anyhow::Context;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves HTTP and WebSocket from `hub` on `listener` until `shutdown` completes, then closes
/// every WebSocket with 1001 and stops accepting connections.
pub async fn serve(
    listener: TcpListener,
    config: Arc<Config>,
    hub: Hub,
    backing: crate::app_state::Backing,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // Listening needs the pipeline's receivers (a gateway has none).
    let audio = (!backing.receivers.is_empty()).then(|| {
        crate::audio::Audio::new(backing.receivers.clone(), config.audio.clone())
            .with_history(backing.history.clone())
    });
    let state = web::Data::new(AppState::new(config.clone(), hub.clone(), backing).with_audio(audio.clone()));
    let pool = crate::ws::pool::Pool::start(config.server.session_threads, config.server.session_nice)
        .context("cannot start the WebSocket session threads")?;
    let ws = Arc::new(
        crate::ws::WsContext::new(config.clone(), hub.clone())
            .with_audio(audio)
            .with_pool(pool),
    );
    let address = listener.local_addr().context("listener has no address")?;
    let handshake_timeout = Duration::from_secs_f64(config.server.handshake_timeout_s);
    let server = actix_server::Server::build()
        .workers(2)
        .disable_signals()
        .shutdown_timeout(config.server.shutdown_grace_s.ceil() as u64)
        .listen("sdrhub", listener, move || {
            let ws_state = ws.clone();
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

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    HttpResponse::NotFound()
        .json(serde_json::json!({"code": "not_found", "message": format!("no route for {}", req.path())}))
}
