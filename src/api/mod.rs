//! REST endpoints: the dashboard's polling fallback and the way scripts read the hub. Every
//! body is built from the same types as the events, so shapes cannot drift.

pub mod alerts;
mod csv;
pub mod error;
mod geojson;
pub mod history;
pub mod known_signals;
pub mod metrics;
mod params;
pub mod recordings;
pub mod spectrum;

use crate::app_state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;

/// Registers the `/api/v1/*` routes and `/healthz`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/api/v1/system/status", web::get().to(system_status))
        .route("/api/v1/websdrs", web::get().to(websdrs))
        .route("/api/v1/signals", web::get().to(signals))
        .route("/api/v1/localizations", web::get().to(localizations))
        .route("/api/v1/ws/stats", web::get().to(ws_stats))
        .route("/api/v1/dashboard-config", web::get().to(dashboard_config))
        .route("/api/v1/publish", web::post().to(publish))
        .route("/metrics", web::get().to(metrics::metrics))
        .configure(history::configure)
        .configure(spectrum::configure)
        .configure(known_signals::configure)
        .configure(alerts::configure)
        .configure(recordings::configure);
}

/// The topic a token must allow to read `path`: the live topic whose history it is. Occupancy
/// is the spectrum's history (the highest power of every cell, minute by minute): it needs
/// `spectrum:frame`, like the live waterfall, not the detections' topic; so does the recent
/// waterfall (`/api/v1/spectrum/...`).
fn topic_of(path: &str) -> Option<crate::events::Topic> {
    use crate::events::Topic;
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    match path {
        "/api/v1/system/status" => Some(Topic::ServicesHealth),
        "/api/v1/websdrs" => Some(Topic::WebsdrsStatus),
        "/api/v1/signals" => Some(Topic::SignalsDetected),
        "/api/v1/localizations" => Some(Topic::LocalizationsUpdated),
        "/api/v1/history/localizations" => Some(Topic::LocalizationsUpdated),
        "/api/v1/history/occupancy" => Some(Topic::SpectrumFrame),
        _ if under("/api/v1/spectrum") => Some(Topic::SpectrumFrame),
        _ if under("/api/v1/alerts") => Some(Topic::AlertsRaised),
        _ if under("/api/v1/history/signals") || under("/api/v1/known-signals") => {
            Some(Topic::SignalsDetected)
        }
        _ => None,
    }
}

/// Whether a request changes what the server says to everyone (naming signals, acknowledging
/// alerts): it needs the
/// right to publish, an admin token (every client has it with `[auth]` off, where the
/// dashboard's users name signals; `POST /api/v1/publish` is refused there for its own reason,
/// see [`publish`]).
fn needs_admin(method: &actix_web::http::Method, path: &str) -> bool {
    use actix_web::http::Method;
    let known = path == "/api/v1/known-signals" || path.starts_with("/api/v1/known-signals/");
    let alerts = path == "/api/v1/alerts" || path.starts_with("/api/v1/alerts/");
    (known || alerts) && !matches!(*method, Method::GET | Method::HEAD)
}

/// Access control for `/api/*`: the origin allow-list, then the token, then the topic the
/// endpoint serves (the `services:health` topic for system status). `/healthz`, the dashboard
/// and everything else pass; the WebSocket upgrade checks its own.
pub async fn guard(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody + 'static>, actix_web::Error> {
    // The path as the router matches it (escapes of plain characters decoded: `%77ebsdrs`
    // reaches `websdrs`), not as sent: a check of the raw path could be walked around.
    let path = req.match_info().as_str().to_string();
    if !path.starts_with("/api/") && path != "/metrics" {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let topic = topic_of(&path);
    let admin_only = needs_admin(req.method(), &path);
    let decision = state
        .auth
        .check_origin(req.headers())
        .and_then(|()| state.auth.authenticate(req.headers(), req.query_string()))
        .and_then(|access| match topic {
            Some(topic) if !access.topics.contains(topic) => Err(crate::auth::Denied::Forbidden(format!(
                "your token does not allow {}",
                topic.as_str()
            ))),
            _ if admin_only && !access.admin => Err(crate::auth::Denied::Forbidden(
                "naming signals (POST, PUT, DELETE /api/v1/known-signals) and acknowledging alerts (POST /api/v1/alerts/{id}/ack) need a token that may publish (admin)"
                    .into(),
            )),
            _ => Ok(access),
        });
    match decision {
        Ok(access) => {
            actix_web::HttpMessage::extensions_mut(&req).insert(access);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(denied) => Ok(req.into_response(denied.response()).map_into_right_body()),
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(serde_json::json!({"code": "shutting_down", "message": "the server is shutting down"}))
}

/// `GET /healthz`: 200 while the process serves requests (liveness), with the overall status.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.current_state().await {
        Some(s) => HttpResponse::Ok().json(serde_json::json!({"status": s.services_health.status})),
        None => unavailable(),
    }
}

#[derive(Serialize)]
struct SystemStatus {
    #[serde(flatten)]
    health: crate::events::HealthReport,
    version: &'static str,
    uptime_s: f64,
}

/// `GET /api/v1/system/status`: the `services:health` payload plus version and uptime.
async fn system_status(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.current_state().await {
        Some(s) => HttpResponse::Ok().json(SystemStatus {
            health: s.services_health,
            version: env!("CARGO_PKG_VERSION"),
            uptime_s: state.started.elapsed().as_secs_f64(),
        }),
        None => unavailable(),
    }
}

/// `GET /api/v1/websdrs`: the `websdrs:status` payload.
async fn websdrs(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.current_state().await {
        Some(s) => HttpResponse::Ok().json(s.websdrs_status),
        None => unavailable(),
    }
}

/// `GET /api/v1/signals`: active signals, each shaped like a `signals:detected` payload.
async fn signals(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.current_state().await {
        Some(s) => HttpResponse::Ok().json(s.signals_detected),
        None => unavailable(),
    }
}

/// `GET /api/v1/localizations`: recent localizations, each shaped like a
/// `localizations:updated` payload.
async fn localizations(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.current_state().await {
        Some(s) => HttpResponse::Ok().json(s.localizations_updated),
        None => unavailable(),
    }
}

/// `GET /api/v1/ws/stats`: connections and delivery counters.
async fn ws_stats(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.stats().await {
        Some(stats) => HttpResponse::Ok().json(stats),
        None => unavailable(),
    }
}

#[derive(Serialize)]
struct DashboardSettings<'a> {
    #[serde(flatten)]
    dashboard: &'a crate::config::DashboardConfig,
    spectrum_frames: &'a crate::config::SpectrumFramesConfig,
    /// `server.health_interval_s` and `server.status_interval_s`: with frames off, the
    /// longest the dashboard should wait for news before it calls its data stale.
    health_interval_s: f64,
    status_interval_s: f64,
}

/// `GET /api/v1/dashboard-config`: what the dashboard needs to know about the server's
/// configuration (`[dashboard]`, and `[spectrum_frames]` so it can say when frames are off).
async fn dashboard_config(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(DashboardSettings {
        dashboard: &state.config.dashboard,
        spectrum_frames: &state.config.spectrum_frames,
        health_interval_s: state.config.server.health_interval_s,
        status_interval_s: state.config.server.status_interval_s,
    })
}

/// Events accepted by one `POST /api/v1/publish` (a JSON array is a batch).
const MAX_PUBLISH_BATCH: usize = 10_000;

/// `POST /api/v1/publish`: external producers and load tests inject broadcast events, one
/// `{"event", "data"}` object or an array of them. Needs `[auth]` on and an admin token (a
/// static token with `admin = true`, or a JWT with `"admin": true`).
async fn publish(req: actix_web::HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let access = actix_web::HttpMessage::extensions(&req)
        .get::<crate::auth::Access>()
        .cloned();
    if !state.config.auth.enabled {
        return crate::auth::Denied::Forbidden(
            "publishing needs [auth] enabled and an admin token; it is off on an open server".into(),
        )
        .response();
    }
    if !access.is_some_and(|a| a.admin) {
        return crate::auth::Denied::Forbidden("publishing needs an admin token".into()).response();
    }
    if state.bus_fed {
        // Events published here would reach this gateway's clients only, unnumbered: no other
        // gateway would have them and no resume could replay them.
        return HttpResponse::Conflict().json(serde_json::json!({
            "code": "bus_fed",
            "message": "a gateway serves the events on the bus: publish them to NATS instead \
                        (subject sdrhub.<topic>.<key>, payload {\"event\", \"data\"})",
        }));
    }
    let events: Vec<crate::events::Published> = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(items)) if items.len() > MAX_PUBLISH_BATCH => {
            return HttpResponse::PayloadTooLarge().json(serde_json::json!({
                "code": "batch_too_large",
                "message": format!("at most {MAX_PUBLISH_BATCH} events per request"),
            }))
        }
        Ok(serde_json::Value::Array(items)) => {
            match items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(events) => events,
                Err(error) => return bad_event(&error),
            }
        }
        Ok(item) => match serde_json::from_value(item) {
            Ok(event) => vec![event],
            Err(error) => return bad_event(&error),
        },
        Err(error) => return bad_event(&error),
    };
    let count = events.len();
    for event in events {
        let mut event: crate::events::Event = event.into();
        // Published events are heard like the pipeline's: labelled and remembered.
        if let Some(history) = &state.live_history {
            if let crate::events::Event::SignalsDetected(report) = &mut event {
                history.label(report).await;
            }
            history.record(&event);
        }
        state.hub.publish(event).await;
    }
    HttpResponse::Accepted().json(serde_json::json!({"published": count}))
}

fn bad_event(error: &serde_json::Error) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({
        "code": "bad_event",
        "message": format!("not a broadcast event ({{\"event\": \"signals:detected\", \"data\": {{...}}}}): {error}"),
    }))
}
