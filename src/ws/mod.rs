//! The WebSocket endpoint: `GET /ws/updates` (alias `/ws`), `?events=a,b` for the initial topics,
//! `?since=<seq>` to resume after a disconnect.
//!
//! actix-http hands every `Connection: Upgrade` request, with its TCP socket, to [`serve`]:
//! after checking the request it answers `101 Switching Protocols` itself and runs the
//! session on the bare socket ([`session`]), so a WebSocket costs one task and no HTTP buffers.
//! The session then moves to the session threads ([`pool`]), away from the HTTP workers.
//! Refusals are ordinary HTTP responses with a JSON body.

pub mod addresses;
pub mod handshake;
pub mod pool;
pub mod protocol;
pub mod reader;
pub mod session;
pub mod transport;
pub mod writer;

use crate::config::Config;
use crate::events::{Topic, TopicSet};
use crate::hub::Hub;
use actix_codec::Framed;
use actix_http::{h1, HttpMessage, Request};
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::HttpResponse;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// What the WebSocket endpoint shares between connections: the hub, access control, the
/// session limits and the per-address accounting, all derived from the configuration once.
#[derive(Debug)]
pub struct WsContext {
    /// The hub.
    pub hub: Hub,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Access control.
    pub auth: crate::auth::Authenticator,
    /// Session tunables.
    pub session: session::SessionConfig,
    /// WebSocket sessions open now (for `server.max_connections`).
    pub live_sessions: Arc<AtomicUsize>,
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: Vec<addresses::Network>,
    /// What each client address may hold and open.
    pub addresses: addresses::AddressLimits,
    /// Listening (`serve` only).
    pub audio: Option<crate::audio::Audio>,
    /// The threads sessions run on (`None`: on the HTTP worker that made the handshake).
    pub pool: Option<pool::Pool>,
}

impl WsContext {
    /// The context of an endpoint serving `hub` under `config`.
    pub fn new(config: Arc<Config>, hub: Hub) -> Self {
        WsContext {
            hub,
            auth: crate::auth::Authenticator::new(&config.auth),
            session: session::SessionConfig {
                limits: crate::ws::transport::Limits {
                    heartbeat_interval: Duration::from_secs_f64(config.server.heartbeat_interval_s),
                    heartbeat_timeout: Duration::from_secs_f64(config.server.heartbeat_timeout_s),
                    send_timeout: Duration::from_secs_f64(config.server.send_timeout_s),
                    max_message_bytes: config.server.max_message_bytes,
                    write_backlog_bytes: crate::ws::session::WRITE_BACKLOG_BYTES,
                },
                messages_per_s: config.server.client_messages_per_s,
                message_burst: config.server.client_message_burst,
                max_subscriptions: config.server.max_subscriptions,
            },
            live_sessions: Arc::new(AtomicUsize::new(0)),
            // Validation has checked every entry.
            trusted_proxies: config
                .server
                .trusted_proxies
                .iter()
                .filter_map(|p| addresses::Network::parse(p).ok())
                .collect(),
            addresses: addresses::AddressLimits::new(addresses::AddressLimitsConfig {
                max_connections: config.server.max_connections_per_address,
                connects_per_s: config.server.connects_per_address_per_s,
                connect_burst: config.server.connect_burst_per_address,
            }),
            config,
            audio: None,
            pool: None,
        }
    }

    /// Runs sessions on `pool`.
    pub fn with_pool(mut self, pool: pool::Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// With the listening service.
    pub fn with_audio(mut self, audio: Option<crate::audio::Audio>) -> Self {
        self.audio = audio;
        self
    }
}

/// Paths that accept a WebSocket upgrade.
pub const PATHS: [&str; 2] = ["/ws/updates", "/ws"];

/// Takes over an upgrade request's connection: refuses it with an HTTP error, or completes the
/// handshake and runs the session until it ends.
pub async fn serve<T: handshake::IntoTcp>(state: Arc<WsContext>, req: Request, framed: Framed<T, h1::Codec>) {
    // The handshake's futures are boxed so that they are freed once it is done: only the
    // session's state stays in the connection's task for its lifetime.
    let Some((io, early, setup)) = Box::pin(open(state.clone(), req, framed)).await else {
        return;
    };
    let Some(pool) = &state.pool else {
        session::run(io, early, setup).await;
        return;
    };
    // The socket leaves this worker's reactor for the pool thread's.
    let io = match io.into_std() {
        Ok(io) => io,
        Err(error) => {
            tracing::warn!(%error, "a session could not be moved to its thread");
            setup.hub.disconnect(setup.connection.id).await;
            setup.connection.outbox.close();
            return;
        }
    };
    let started = pool
        .run(move || async move {
            match TcpStream::from_std(io) {
                Ok(io) => session::run(io, early, setup).await,
                Err(error) => {
                    tracing::warn!(%error, "a session could not start on its thread");
                    setup.hub.disconnect(setup.connection.id).await;
                    setup.connection.outbox.close();
                }
            }
        })
        .await;
    if started.is_none() {
        tracing::warn!("a session ended without finishing (its thread stopped or it panicked)");
    }
}

/// Admits the client or refuses it; on admission, answers `101 Switching Protocols` and returns
/// the bare socket, any bytes the client sent behind its handshake, and the session's setup.
async fn open<T: handshake::IntoTcp>(
    state: Arc<WsContext>,
    req: Request,
    mut framed: Framed<T, h1::Codec>,
) -> Option<(TcpStream, BytesMut, session::SessionSetup)> {
    let setup = match admit(&state, &req).await {
        Ok(setup) => setup,
        Err(refusal) => {
            handshake::refuse(&mut framed, refusal).await;
            return None;
        }
    };
    // Browsers that pass their token as a subprotocol must get one of theirs back.
    let subprotocol = crate::auth::offered_subprotocols(req.headers())
        .any(|p| p == crate::auth::SUBPROTOCOL)
        .then_some(crate::auth::SUBPROTOCOL);
    match handshake::accept(&req, framed, subprotocol).await {
        Some((io, early)) => Some((io, early, setup)),
        None => {
            setup.hub.disconnect(setup.connection.id).await;
            setup.connection.outbox.close();
            None
        }
    }
}

/// Checks the request (path, handshake, origin, credentials, topics, capacity, resume
/// position) and registers the client with the hub.
async fn admit(state: &WsContext, req: &Request) -> Result<session::SessionSetup, HttpResponse> {
    if !PATHS.contains(&req.path()) {
        return Err(HttpResponse::NotFound().json(serde_json::json!({
            "code": "not_found",
            "message": format!("no WebSocket endpoint at {}; use /ws/updates", req.path()),
        })));
    }
    if let Some(refusal) = handshake::refusal(req) {
        return Err(refusal);
    }
    let client = client_address(state, req);
    let address_slot = state
        .addresses
        .admit(client, std::time::Instant::now())
        .map_err(|refusal| {
            tracing::info!(%client, ?refusal, "WebSocket upgrade refused: per-address limit");
            address_refusal(refusal)
        })?;
    let query = req.uri().query().unwrap_or("");
    state
        .auth
        .check_origin(req.headers())
        .map_err(|denied| denied.response())?;
    let access = state.auth.authenticate(req.headers(), query).map_err(|denied| {
        tracing::info!(peer = ?req.peer_addr(), "WebSocket upgrade refused: not authenticated");
        denied.response()
    })?;
    let topics = match initial_topics(query) {
        // Without ?events=, everything the token allows except the opt-in streams.
        Ok(topics) if topics == TopicSet::ALL && !has_events_parameter(query) => {
            access.topics.intersection(TopicSet::DEFAULT)
        }
        Ok(topics) => topics,
        Err(message) => {
            return Err(HttpResponse::BadRequest()
                .json(serde_json::json!({"code": "unknown_topic", "message": message})))
        }
    };
    if let Some(topic) = topics.topics().find(|t| !access.topics.contains(*t)) {
        return Err(
            crate::auth::Denied::Forbidden(format!("your token does not allow {}", topic.as_str()))
                .response(),
        );
    }
    let max_subscriptions = state.config.server.max_subscriptions;
    if topics.topics().count() > max_subscriptions {
        return Err(HttpResponse::BadRequest().json(serde_json::json!({
            "code": "too_many_subscriptions",
            "message": format!(
                "at most {max_subscriptions} topics at once (server.max_subscriptions); name them with ?events="
            ),
        })));
    }
    let since = resume_position(query).map_err(|message| {
        HttpResponse::BadRequest().json(serde_json::json!({"code": "bad_since", "message": message}))
    })?;
    let max = state.config.server.max_connections;
    let Some(slot) = session::SessionSlot::claim(&state.live_sessions, max) else {
        return Err(HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "5")).json(serde_json::json!({
            "code": "too_many_connections",
            "message": format!("the server holds its limit of {max} connections (server.max_connections); retry later"),
        })));
    };
    let Some(connection) = state.hub.resume(topics, access.topics, since).await else {
        return Err(HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "code": "shutting_down",
            "message": "the server is shutting down",
        })));
    };
    Ok(session::SessionSetup {
        hub: state.hub.clone(),
        connection,
        topics,
        allowed: access.topics,
        audio: state.audio.clone().map(|service| (service, access.audio.clone())),
        config: state.session,
        slot,
        address_slot,
    })
}

/// The client's address (from `X-Forwarded-For` when the peer is a trusted proxy).
fn client_address(state: &WsContext, req: &Request) -> std::net::IpAddr {
    let peer = req
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    addresses::client_address(peer, forwarded, &state.trusted_proxies)
}

/// 429 for an address over its share, with when to try again.
fn address_refusal(refusal: addresses::Refusal) -> HttpResponse {
    let (retry_after, code, message) = match refusal {
        addresses::Refusal::TooManyConnections { max } => (
            10,
            "too_many_connections_from_address",
            format!("your address holds its limit of {max} connections (server.max_connections_per_address)"),
        ),
        addresses::Refusal::TooFast { retry_after } => (
            retry_after.as_secs_f64().ceil().max(1.0) as u64,
            "connecting_too_fast",
            "your address opens connections faster than server.connects_per_address_per_s allows".to_string(),
        ),
    };
    HttpResponse::TooManyRequests()
        .insert_header(("Retry-After", retry_after.to_string()))
        .json(serde_json::json!({"code": code, "message": message}))
}

/// `GET /ws` without an upgrade: the query is checked as for an upgrade (so its mistakes are
/// reported), then the caller is told this endpoint needs a WebSocket client.
pub async fn not_upgraded(req: actix_web::HttpRequest) -> HttpResponse {
    let query = req.query_string();
    if let Err(message) = initial_topics(query) {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({"code": "unknown_topic", "message": message}));
    }
    if let Err(message) = resume_position(query) {
        return HttpResponse::BadRequest().json(serde_json::json!({"code": "bad_since", "message": message}));
    }
    HttpResponse::build(actix_web::http::StatusCode::UPGRADE_REQUIRED)
        .insert_header((header::UPGRADE, "websocket"))
        .insert_header((header::SEC_WEBSOCKET_VERSION, handshake::VERSION))
        .json(serde_json::json!({
            "code": "upgrade_required",
            "message": "this is a WebSocket endpoint: connect with a WebSocket client",
        }))
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

/// The topics named by `?events=a,b`; every topic without the parameter (the caller narrows
/// that to what the token allows, minus the opt-in streams).
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
