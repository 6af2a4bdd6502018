//! `/api/v1/alerts`: the active and recently resolved alerts, and acknowledging one. Reading
//! needs the `alerts:raised` topic; acknowledging needs a token that may publish (see
//! [`super::guard`]). Past alerts come from the history database when it is enabled (else
//! those this process resolved since it started), the last `alerts.keep_resolved`.

use super::error::ApiError;
use crate::alerts::Ack;
use crate::app_state::AppState;
use crate::events::AlertsListing;
use actix_web::{web, HttpResponse};

/// Registers the alert routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/alerts", web::get().to(list))
        .route("/api/v1/alerts/{id}/ack", web::post().to(ack));
}

/// `GET /api/v1/alerts`: `{"active": [...], "past": [...]}`, each shaped like an
/// `alerts:raised` payload.
async fn list(state: web::Data<AppState>) -> HttpResponse {
    let Some(alerts) = &state.alerts else {
        // No rules: nothing is ever raised.
        return HttpResponse::Ok().json(AlertsListing {
            active: Vec::new(),
            past: Vec::new(),
        });
    };
    match alerts.listing().await {
        Some(listing) => HttpResponse::Ok().json(listing),
        None => super::unavailable(),
    }
}

/// `POST /api/v1/alerts/{id}/ack`: the alert, acknowledged; an active alert's
/// acknowledgement goes out on `alerts:raised` (state `acked`) once.
async fn ack(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let absent = || ApiError::NotFound(format!("no alert with id {}", crate::events::quoted(&id)));
    let Some(alerts) = &state.alerts else {
        return Err(absent());
    };
    match alerts.ack(&id).await {
        Some(Ack::Acked(report)) | Some(Ack::Unchanged(report)) => Ok(HttpResponse::Ok().json(report)),
        Some(Ack::Unknown) => Err(absent()),
        None => Ok(super::unavailable()),
    }
}
