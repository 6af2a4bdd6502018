//! `/api/v1/known-signals`: named frequency ranges and lockouts, stored in the history database
//! (`crate::history::known`). Reading needs `signals:detected`; writing needs a token that may
//! publish (see [`super::guard`]). Every write tells this process's live history, and the
//! pipeline then reports every active signal again, so the new `known` goes out at once.

use super::error::ApiError;
use super::history::{csv_answer, store};
use super::params::{Format, Params};
use crate::app_state::AppState;
use crate::events::history::KnownSignalDraft;
use actix_web::{web, HttpRequest, HttpResponse};

/// Registers the known-signal routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/known-signals", web::get().to(list))
        .route("/api/v1/known-signals", web::post().to(create))
        .route("/api/v1/known-signals/{id}", web::get().to(one))
        .route("/api/v1/known-signals/{id}", web::put().to(replace))
        .route("/api/v1/known-signals/{id}", web::delete().to(delete));
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "id = {}: must be a known signal's id (a whole number)",
            crate::events::quoted(text)
        ))
    })
}

fn draft(body: &[u8]) -> Result<KnownSignalDraft, ApiError> {
    let draft = KnownSignalDraft::from_json(body).map_err(|p| ApiError::BadRequest(p.join("; ")))?;
    // Checked here too (the store checks again), so a bad draft never waits for the database.
    let problems = draft.problems();
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems.join("; ")));
    }
    Ok(draft)
}

fn absent(id: i64) -> ApiError {
    ApiError::NotFound(format!("no known signal with id {id}"))
}

/// Live signals are labelled again (`crate::history::LiveHistory::label`).
fn changed(state: &AppState) {
    if let Some(live) = &state.live_history {
        live.known_signals_changed();
    }
}

/// `GET /api/v1/known-signals`: `{"known_signals": [...]}`, by frequency.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let format = Params::parse(req.query_string(), &["format"])?.format(&[Format::Json, Format::Csv])?;
    let known = store.known_signals().await?;
    Ok(match format {
        Format::Csv => csv_answer().body(super::csv::known_signals(&known)),
        _ => HttpResponse::Ok().json(serde_json::json!({ "known_signals": known })),
    })
}

/// `GET /api/v1/known-signals/{id}`.
async fn one(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let id = parse_id(&path)?;
    let known = store.known_signal(id).await?.ok_or_else(|| absent(id))?;
    Ok(HttpResponse::Ok().json(known))
}

/// `POST /api/v1/known-signals`: 201 with the stored record and its `Location`.
async fn create(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let draft = draft(&body)?;
    let known = store.create_known_signal(&draft).await?;
    changed(&state);
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/known-signals/{}", known.id),
        ))
        .json(known))
}

/// `PUT /api/v1/known-signals/{id}`: replaces every field; 404 when there is no such record.
async fn replace(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let id = parse_id(&path)?;
    let draft = draft(&body)?;
    let known = store
        .update_known_signal(id, &draft)
        .await?
        .ok_or_else(|| absent(id))?;
    changed(&state);
    Ok(HttpResponse::Ok().json(known))
}

/// `DELETE /api/v1/known-signals/{id}`: 204, or 404 when there is no such record.
async fn delete(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let id = parse_id(&path)?;
    if !store.delete_known_signal(id).await? {
        return Err(absent(id));
    }
    changed(&state);
    Ok(HttpResponse::NoContent().finish())
}
