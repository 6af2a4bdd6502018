//! How the history and known-signal endpoints refuse: one error type, and the one place that
//! maps it to an HTTP status and a JSON body `{"code", "error", "message"}` (`error` and
//! `message` carry the same text: `error` is the history API's documented field, `message` the
//! one the rest of the REST API uses).

use crate::history::HistoryError;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// Why a history or known-signal request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter, path segment or body field is wrong; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// No such record.
    #[error("{0}")]
    NotFound(String),
    /// The server has no history database (`[history] enabled = false`).
    #[error("history is disabled on this server ([history] enabled = false)")]
    HistoryDisabled,
    /// The history database refused, failed or could not be reached.
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl ApiError {
    /// The machine-readable code of the body.
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::HistoryDisabled => "history_disabled",
            ApiError::History(HistoryError::Invalid(_)) => "bad_request",
            ApiError::History(HistoryError::TooLarge(_)) => "too_large",
            ApiError::History(error) if unreachable(error) => "history_unavailable",
            ApiError::History(_) => "history_error",
        }
    }
}

/// Whether the database could not be reached (rather than answered with an error): the
/// request may work later.
fn unreachable(error: &HistoryError) -> bool {
    matches!(
        error,
        HistoryError::Database(
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
        )
    )
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::HistoryDisabled => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::History(HistoryError::Invalid(_) | HistoryError::TooLarge(_)) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::History(error) if unreachable(error) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::History(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let text = self.to_string();
        if status.is_server_error() && !matches!(self, ApiError::HistoryDisabled) {
            tracing::warn!(error = %text, "history request failed");
        }
        HttpResponse::build(status).json(serde_json::json!({
            "code": self.code(),
            "error": text,
            "message": text,
        }))
    }
}
