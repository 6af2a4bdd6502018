//! `/api/v1/history/*`: what the history database remembers (see docs/history.md#rest). The
//! handlers read parameters ([`super::params`]), ask the store (`crate::history::query`) and
//! shape the answer as JSON (the types of `crate::events::history`), CSV ([`super::csv`]) or
//! GeoJSON ([`super::geojson`]). Which token may ask is decided in [`super::guard`].

use super::csv::OccupancyValues;
use super::error::ApiError;
use super::params::{Format, Params};
use crate::app_state::AppState;
use crate::events::Topic;
use crate::history::query::{BBox, LocalizationQuery, OccupancyQuery, SignalQuery};
use crate::history::HistoryStore;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

/// Header of a CSV page of signals: the `next_cursor` of its JSON form (absent on the last page).
pub const NEXT_CURSOR_HEADER: &str = "X-Next-Cursor";
/// Header of a CSV answer that left records out (`truncated` of its JSON form): `true`.
pub const TRUNCATED_HEADER: &str = "X-Truncated";

/// Registers the history routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/history/signals", web::get().to(signals))
        .route("/api/v1/history/signals/{id}", web::get().to(signal))
        .route("/api/v1/history/localizations", web::get().to(localizations))
        .route("/api/v1/history/occupancy", web::get().to(occupancy));
}

/// The history database, or 503 when the server has none.
pub(super) fn store(state: &AppState) -> Result<&HistoryStore, ApiError> {
    state.history.as_ref().ok_or(ApiError::HistoryDisabled)
}

/// A CSV answer, for its headers and then its body.
pub(super) fn csv_answer() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.content_type("text/csv; charset=utf-8");
    response
}

/// `GET /api/v1/history/signals`: a page of stored signals, newest first.
async fn signals(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let params = Params::parse(
        req.query_string(),
        &[
            "from", "to", "freq_min", "freq_max", "receiver", "limit", "cursor", "format",
        ],
    )?;
    let format = params.format(&[Format::Json, Format::Csv])?;
    let query = SignalQuery {
        from: params.time("from")?,
        to: params.time("to")?,
        freq_min_hz: params.number("freq_min", "Hz")?,
        freq_max_hz: params.number("freq_max", "Hz")?,
        receiver: params.text("receiver").map(str::to_string),
        limit: params.count("limit")?,
        cursor: params.text("cursor").map(str::to_string),
    };
    let page = store.signals(&query).await?;
    Ok(match format {
        Format::Csv => {
            let mut response = csv_answer();
            if let Some(cursor) = &page.next_cursor {
                response.insert_header((NEXT_CURSOR_HEADER, cursor.as_str()));
            }
            response.body(super::csv::signals(&page.signals))
        }
        _ => HttpResponse::Ok().json(page),
    })
}

/// `GET /api/v1/history/signals/{id}`: one signal with its observations and fixes; the fixes are
/// left out (an empty list) for a token without `localizations:updated`.
async fn signal(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let params = Params::parse(req.query_string(), &["format"])?;
    let format = params.format(&[Format::Json, Format::Csv])?;
    let id: i64 = id.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "id = {}: must be a signal's history id (the `id` of /api/v1/history/signals, a whole number)",
            crate::events::quoted(&id)
        ))
    })?;
    let mut detail = store
        .signal(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no signal with id {id} in the history")))?;
    let may_see_fixes = req
        .extensions()
        .get::<crate::auth::Access>()
        .is_some_and(|a| a.topics.contains(Topic::LocalizationsUpdated));
    if !may_see_fixes {
        detail.localizations.clear();
    }
    Ok(match format {
        Format::Csv => {
            let mut response = csv_answer();
            if detail.truncated {
                response.insert_header((TRUNCATED_HEADER, "true"));
            }
            response.body(super::csv::observations(&detail.observations))
        }
        _ => HttpResponse::Ok().json(detail),
    })
}

/// `GET /api/v1/history/localizations`: stored fixes in a time range (and box), newest first.
async fn localizations(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let params = Params::parse(req.query_string(), &["from", "to", "bbox", "limit", "format"])?;
    let format = params.format(&[Format::Json, Format::Csv, Format::GeoJson])?;
    let query = LocalizationQuery {
        from: params.time("from")?,
        to: params.time("to")?,
        bbox: params.text("bbox").map(BBox::parse).transpose()?,
        limit: params.count("limit")?,
    };
    let history = store.localizations(&query).await?;
    Ok(match format {
        Format::Csv => {
            let mut response = csv_answer();
            if history.truncated {
                response.insert_header((TRUNCATED_HEADER, "true"));
            }
            response.body(super::csv::localizations(&history.localizations))
        }
        Format::GeoJson => HttpResponse::Ok()
            .content_type("application/geo+json")
            .body(super::geojson::localizations(&history).to_string()),
        Format::Json => HttpResponse::Ok().json(history),
    })
}

/// `GET /api/v1/history/occupancy`: one receiver's minutes x frequency cells.
async fn occupancy(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let params = Params::parse(
        req.query_string(),
        &[
            "receiver", "from", "to", "freq_min", "freq_max", "format", "values",
        ],
    )?;
    let format = params.format(&[Format::Json, Format::Csv])?;
    let values = match params.text("values") {
        None | Some("occupancy") => OccupancyValues::Share,
        Some("max_power_dbfs") => OccupancyValues::MaxPower,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "values = {}: must be occupancy or max_power_dbfs",
                crate::events::quoted(other)
            )))
        }
    };
    if params.text("values").is_some() && format != Format::Csv {
        return Err(ApiError::BadRequest(
            "values: only with format=csv (the JSON answer holds both matrices)".into(),
        ));
    }
    let receiver = params.text("receiver").ok_or_else(|| {
        ApiError::BadRequest("receiver: required (a receiver id, as in websdrs:status)".into())
    })?;
    let query = OccupancyQuery {
        receiver: receiver.to_string(),
        from: params.time("from")?,
        to: params.time("to")?,
        freq_min_hz: params.number("freq_min", "Hz")?,
        freq_max_hz: params.number("freq_max", "Hz")?,
    };
    let matrix = store.occupancy(&query).await?;
    Ok(match format {
        Format::Csv => csv_answer().body(super::csv::occupancy(&matrix, values)),
        _ => HttpResponse::Ok().json(matrix),
    })
}
