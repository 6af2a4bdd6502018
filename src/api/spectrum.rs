//! `/api/v1/spectrum/*`: the spectrum kept in memory, not in the database. A token needs
//! `spectrum:frame` to read it, like the live frames (checked in [`super::guard`]).

use super::error::ApiError;
use crate::app_state::AppState;
use crate::events::history::WaterfallHistory;
use actix_web::{web, HttpResponse};

/// Registers the spectrum routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/spectrum/{receiver}/waterfall", web::get().to(waterfall));
}

/// `GET /api/v1/spectrum/{receiver}/waterfall`: the receiver's recent waterfall, one row per
/// `[spectrum_frames] history_row_s`, oldest first, so a page just opened can draw the last
/// minutes at once. 404 for a receiver the hub does not know; no rows when the history is off.
async fn waterfall(path: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let receiver = path.into_inner();
    let Some(rows) = state.hub.waterfall(&receiver).await else {
        return Ok(super::unavailable());
    };
    let rows =
        rows.ok_or_else(|| ApiError::NotFound(format!("no receiver {}", crate::events::quoted(&receiver))))?;
    let frames = &state.config.spectrum_frames;
    let kept = frames.history().is_some();
    Ok(HttpResponse::Ok().json(WaterfallHistory {
        receiver_id: receiver,
        row_s: frames.history_row_s,
        history_s: if kept { frames.history_s } else { 0.0 },
        rows,
    }))
}
