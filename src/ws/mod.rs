//! The WebSocket endpoint: `GET /ws/updates` (alias `/ws`), `?events=a,b` for the initial topics,
//! `?since=<seq>` to resume after a disconnect.

pub mod protocol;
pub mod session;

use crate::events::{Topic, TopicSet};
use crate::server::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// Upgrades the request and starts a session task.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let topics = match initial_topics(req.query_string()) {
        Ok(topics) => topics,
        Err(message) => {
            return Ok(HttpResponse::BadRequest()
                .json(serde_json::json!({"code": "unknown_topic", "message": message})))
        }
    };
    let since = match resume_position(req.query_string()) {
        Ok(since) => since,
        Err(message) => {
            return Ok(
                HttpResponse::BadRequest().json(serde_json::json!({"code": "bad_since", "message": message}))
            )
        }
    };
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let Some(connection) = state.hub.resume(topics, since).await else {
        // The hub is gone: the server is shutting down.
        actix_web::rt::spawn(session.close(Some(actix_ws::CloseCode::Away.into())));
        return Ok(response);
    };
    let limit = state.config.server.max_message_bytes;
    let stream = stream
        .max_frame_size(limit)
        .aggregate_continuations()
        .max_continuation_size(limit);
    actix_web::rt::spawn(session::run(
        session,
        stream,
        state.hub.clone(),
        connection,
        topics,
        state.session,
        state.shutdown.clone(),
    ));
    Ok(response)
}

/// The `seq` named by `?since=N`: the last event the client saw before reconnecting.
fn resume_position(query: &str) -> Result<Option<u64>, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "since")
        .map(|(_, value)| {
            value.parse::<u64>().map_err(|_| {
                format!("since={value:?}: must be the seq of the last event received (0 or more)")
            })
        })
        .transpose()
}

/// The topics named by `?events=a,b`; all four without the parameter.
fn initial_topics(query: &str) -> Result<TopicSet, String> {
    let Some(list) = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == "events")
        .map(|(_, value)| value)
    else {
        return Ok(TopicSet::ALL);
    };
    let decoded = list
        .replace("%3A", ":")
        .replace("%3a", ":")
        .replace("%2C", ",")
        .replace("%2c", ",");
    decoded
        .split(',')
        .filter(|name| !name.is_empty())
        .map(|name| Topic::parse(name).ok_or_else(|| protocol::unknown_topic(name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_query_selects_topics() {
        assert_eq!(initial_topics(""), Ok(TopicSet::ALL));
        assert_eq!(
            initial_topics("x=1&events=signals:detected,services%3Ahealth"),
            Ok([Topic::SignalsDetected, Topic::ServicesHealth]
                .into_iter()
                .collect())
        );
        assert_eq!(initial_topics("events="), Ok(TopicSet::NONE));
        assert!(initial_topics("events=signals").unwrap_err().contains("signals"));
    }

    #[test]
    fn since_query_is_a_seq() {
        assert_eq!(resume_position(""), Ok(None));
        assert_eq!(resume_position("events=x&since=42"), Ok(Some(42)));
        assert!(resume_position("since=-1").is_err());
        assert!(resume_position("since=abc").is_err());
    }
}
