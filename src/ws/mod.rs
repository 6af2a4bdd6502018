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
    if let Err(denied) = state.auth.check_origin(&req) {
        return Ok(denied.response());
    }
    let access = match state.auth.authenticate(&req) {
        Ok(access) => access,
        Err(denied) => {
            tracing::info!(peer = ?req.peer_addr(), "WebSocket upgrade refused: not authenticated");
            return Ok(denied.response());
        }
    };
    let topics = match initial_topics(req.query_string()) {
        // Without ?events=, everything the token allows except the opt-in streams.
        Ok(topics) if topics == TopicSet::ALL && !has_events_parameter(req.query_string()) => {
            access.topics.intersection(TopicSet::DEFAULT)
        }
        Ok(topics) => topics,
        Err(message) => {
            return Ok(HttpResponse::BadRequest()
                .json(serde_json::json!({"code": "unknown_topic", "message": message})))
        }
    };
    if let Some(topic) = topics.topics().find(|t| !access.topics.contains(*t)) {
        return Ok(
            crate::auth::Denied::Forbidden(format!("your token does not allow {}", topic.as_str()))
                .response(),
        );
    }
    let max = state.config.server.max_connections;
    if state.live_sessions.load(std::sync::atomic::Ordering::Acquire) >= max {
        return Ok(HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "5")).json(serde_json::json!({
            "code": "too_many_connections",
            "message": format!("the server holds its limit of {max} connections (server.max_connections); retry later"),
        })));
    }
    let since = match resume_position(req.query_string()) {
        Ok(since) => since,
        Err(message) => {
            return Ok(
                HttpResponse::BadRequest().json(serde_json::json!({"code": "bad_since", "message": message}))
            )
        }
    };
    let (mut response, session, stream) = actix_ws::handle(&req, body)?;
    // Browsers that pass their token as a subprotocol must get one of theirs back.
    if crate::auth::offered_subprotocols(&req).any(|p| p == crate::auth::SUBPROTOCOL) {
        response.headers_mut().insert(
            actix_web::http::header::SEC_WEBSOCKET_PROTOCOL,
            actix_web::http::header::HeaderValue::from_static(crate::auth::SUBPROTOCOL),
        );
    }
    state
        .live_sessions
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    let Some(connection) = state.hub.resume(topics, since).await else {
        // The hub is gone: the server is shutting down.
        state
            .live_sessions
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
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
        session::SessionSetup {
            hub: state.hub.clone(),
            connection,
            topics,
            allowed: access.topics,
            config: state.session,
            shutdown: state.shutdown.clone(),
            live_sessions: state.live_sessions.clone(),
        },
    ));
    Ok(response)
}

fn has_events_parameter(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair == "events" || pair.starts_with("events="))
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]
        // Untrusted input: query strings and client messages never panic, and whatever parses
        // is well-formed.
        #[test]
        fn query_and_message_parsers_are_total(query in "\\PC{0,200}", message in "\\PC{0,300}") {
            let _ = initial_topics(&query);
            let _ = resume_position(&query);
            let _ = has_events_parameter(&query);
            let _ = protocol::parse(&message);
        }

        #[test]
        fn json_shaped_messages_are_total(event in "[a-z:]{0,20}", items in proptest::collection::vec("\\PC{0,20}", 0..6)) {
            let text = serde_json::json!({"event": event, "data": {"events": items}}).to_string();
            let _ = protocol::parse(&text);
        }
    }

    #[test]
    fn since_query_is_a_seq() {
        assert_eq!(resume_position(""), Ok(None));
        assert_eq!(resume_position("events=x&since=42"), Ok(Some(42)));
        assert!(resume_position("since=-1").is_err());
        assert!(resume_position("since=abc").is_err());
    }
}
