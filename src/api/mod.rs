//! REST endpoints: the dashboard's polling fallback and the way scripts read the hub. Every
//! body is built from the same types as the events, so shapes cannot drift.

use crate::server::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;

/// Registers the `/api/v1/*` routes and `/healthz`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/api/v1/system/status", web::get().to(system_status))
        .route("/api/v1/websdrs", web::get().to(websdrs))
        .route("/api/v1/signals", web::get().to(signals))
        .route("/api/v1/localizations", web::get().to(localizations))
        .route("/api/v1/ws/stats", web::get().to(ws_stats));
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(serde_json::json!({"code": "shutting_down", "message": "the server is shutting down"}))
}

/// `GET /healthz`: 200 while the process serves requests (liveness), with the overall status.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.snapshot().await {
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
    match state.hub.snapshot().await {
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
    match state.hub.snapshot().await {
        Some(s) => HttpResponse::Ok().json(s.websdrs_status),
        None => unavailable(),
    }
}

/// `GET /api/v1/signals`: active signals, each shaped like a `signals:detected` payload.
async fn signals(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.snapshot().await {
        Some(s) => HttpResponse::Ok().json(s.signals_detected),
        None => unavailable(),
    }
}

/// `GET /api/v1/localizations`: recent localizations, each shaped like a
/// `localizations:updated` payload.
async fn localizations(state: web::Data<AppState>) -> HttpResponse {
    match state.hub.snapshot().await {
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
