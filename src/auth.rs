//! Access control for the WebSocket upgrade and REST: static bearer tokens and HS256 JWTs,
//! each allowing some topics (and, for admin tokens, publishing), plus an origin allow-list.
//!
//! A token is read from the `Authorization: Bearer <token>` header, the `?token=` query
//! parameter, or (for browsers, which cannot set headers on a WebSocket) a
//! `Sec-WebSocket-Protocol` entry `bearer.<token>` offered next to `sdrhub`. Static tokens are
//! compared by their SHA-256 digests in constant time; JWT signatures are checked by `hmac` in
//! constant time. Tokens never reach the logs: denials log the reason only.

use crate::config::auth::AUDIO_PREFIX;
use crate::config::AuthConfig;
use crate::events::{Topic, TopicSet};
use actix_web::http::header::{self, HeaderMap};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The WebSocket subprotocol sdrhub speaks, echoed when a browser offers it.
pub const SUBPROTOCOL: &str = "sdrhub";
/// Prefix of the subprotocol entry carrying a token.
const SUBPROTOCOL_TOKEN_PREFIX: &str = "bearer.";
/// Longest token accepted: a JWT with a few claims is a few hundred bytes.
const MAX_TOKEN_BYTES: usize = 4096;

/// What a client may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Topics it may receive.
    pub topics: TopicSet,
    /// May publish events (`POST /api/v1/publish`).
    pub admin: bool,
    /// Receivers it may listen to.
    pub audio: AudioAccess,
}

impl Access {
    /// Everything (auth off).
    pub const ALL: Access = Access {
        topics: TopicSet::ALL,
        admin: true,
        audio: AudioAccess::All,
    };
}

/// The receivers whose audio a client may hear: named among a token's events as
/// `audio:<receiver>`, or `audio:*` for every receiver. Listening costs a demodulator thread,
/// so no token gets it without naming it (`auth.default_events` does not by default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AudioAccess {
    /// None.
    #[default]
    None,
    /// Every receiver.
    All,
    /// These receivers.
    Receivers(std::sync::Arc<[String]>),
}

impl AudioAccess {
    /// The audio grants among `names`; `default` when there are no names.
    pub fn from_names(names: Option<&[String]>, default: &AudioAccess) -> AudioAccess {
        let Some(names) = names else {
            return default.clone();
        };
        let receivers: Vec<String> = names
            .iter()
            .filter_map(|n| n.strip_prefix(AUDIO_PREFIX))
            .map(str::to_string)
            .collect();
        if receivers.iter().any(|r| r == "*") {
            AudioAccess::All
        } else if receivers.is_empty() {
            AudioAccess::None
        } else {
            AudioAccess::Receivers(receivers.into())
        }
    }

    /// Whether `receiver` may be heard.
    pub fn allows(&self, receiver: &str) -> bool {
        match self {
            AudioAccess::None => false,
            AudioAccess::All => true,
            AudioAccess::Receivers(list) => list.iter().any(|r| r == receiver),
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No credentials, or bad ones: HTTP 401.
    Unauthorized(String),
    /// Valid credentials that do not allow this (a topic, publishing, an origin): HTTP 403.
    Forbidden(String),
}

impl Denied {
    /// The HTTP response.
    pub fn response(&self) -> actix_web::HttpResponse {
        match self {
            Denied::Unauthorized(message) => actix_web::HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"sdrhub\""))
                .json(serde_json::json!({"code": "unauthorized", "message": message})),
            Denied::Forbidden(message) => actix_web::HttpResponse::Forbidden()
                .json(serde_json::json!({"code": "forbidden", "message": message})),
        }
    }
}

/// Checks requests against the `[auth]` configuration.
#[derive(Debug, Clone)]
pub struct Authenticator {
    enabled: bool,
    tokens: Vec<([u8; 32], Access)>,
    jwt: Option<JwtRules>,
    origins: Vec<String>,
}

/// How JWTs are checked.
#[derive(Debug, Clone)]
struct JwtRules {
    secret: Vec<u8>,
    leeway_s: i64,
    audience: Option<String>,
    issuer: Option<String>,
    /// Topics of a token without an `events` claim.
    default_topics: TopicSet,
    /// Audio of a token without an `events` claim.
    default_audio: AudioAccess,
}

/// Topics from names, `default` when there are none; unknown names are a configuration error
/// caught by validation (and never grant anything).
pub fn topics_from(names: Option<&[String]>, default: TopicSet) -> TopicSet {
    match names {
        None => default,
        Some(names) => names.iter().filter_map(|n| Topic::parse(n)).collect(),
    }
}

impl Authenticator {
    /// From the validated configuration.
    pub fn new(config: &AuthConfig) -> Self {
        // A token that names no topics gets these: never everything by omission.
        let default_topics = topics_from(Some(&config.default_events), TopicSet::NONE);
        let default_audio = AudioAccess::from_names(Some(&config.default_events), &AudioAccess::None);
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Self {
            enabled: config.enabled,
            tokens: config
                .tokens
                .iter()
                .map(|t| {
                    (
                        Sha256::digest(t.token.as_bytes()).into(),
                        Access {
                            topics: topics_from(t.events.as_deref(), default_topics),
                            admin: t.admin,
                            audio: AudioAccess::from_names(t.events.as_deref(), &default_audio),
                        },
                    )
                })
                .collect(),
            jwt: (!config.jwt_hs256_secret.is_empty()).then(|| JwtRules {
                secret: config.jwt_hs256_secret.as_bytes().to_vec(),
                leeway_s: config.jwt_leeway_s.round() as i64,
                audience: optional(&config.jwt_audience),
                issuer: optional(&config.jwt_issuer),
                default_topics,
                default_audio,
            }),
            origins: config.allowed_origins.clone(),
        }
    }

    /// Refuses a browser request from an origin not on the allow-list (requests without an
    /// `Origin` header, from scripts, pass).
    ///
    /// # Errors
    /// [`Denied::Forbidden`] naming the origin.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), Denied> {
        if self.origins.is_empty() {
            return Ok(());
        }
        match headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("")) {
            None => Ok(()),
            Some(origin) if self.origins.iter().any(|o| o == origin) => Ok(()),
            Some(origin) => Err(Denied::Forbidden(format!(
                "origin {:?} is not allowed (auth.allowed_origins)",
                origin.chars().take(200).collect::<String>()
            ))),
        }
    }

    /// What the credentials in a request's headers or query string allow.
    ///
    /// # Errors
    /// [`Denied::Unauthorized`] without a token or with one that is unknown, malformed,
    /// wrongly signed or expired.
    pub fn authenticate(&self, headers: &HeaderMap, query: &str) -> Result<Access, Denied> {
        if !self.enabled {
            return Ok(Access::ALL);
        }
        let token = presented_token(headers, query).ok_or_else(|| {
            Denied::Unauthorized(
                "a token is required: Authorization: Bearer <token>, ?token=, or the bearer.<token> subprotocol"
                    .into(),
            )
        })?;
        self.check_token(&token, crate::events::Timestamp::now().0 / 1_000_000_000)
    }

    /// What `token` allows at Unix time `now_s`.
    ///
    /// # Errors
    /// As [`Authenticator::authenticate`].
    pub fn check_token(&self, token: &str, now_s: i64) -> Result<Access, Denied> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Denied::Unauthorized("token too long".into()));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every configured token is compared, in constant time, whatever matches first.
        let mut found = None;
        for (candidate, access) in &self.tokens {
            if constant_time_eq(candidate, &digest) {
                found = Some(access.clone());
            }
        }
        if let Some(access) = found {
            return Ok(access);
        }
        match &self.jwt {
            Some(rules) if token.matches('.').count() == 2 => verify_jwt(token, rules, now_s),
            _ => Err(Denied::Unauthorized("unknown token".into())),
        }
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token from the header, the query or the subprotocol list, in that order.
pub fn presented_token(headers: &HeaderMap, query: &str) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Some(token.trim().to_string());
        }
    }
    let from_query = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "token").then(|| value.replace("%2E", ".").replace("%2e", "."))
    });
    if from_query.is_some() {
        return from_query;
    }
    offered_subprotocols(headers).find_map(|p| p.strip_prefix(SUBPROTOCOL_TOKEN_PREFIX).map(str::to_string))
}

/// The subprotocols a WebSocket client offered.
pub fn offered_subprotocols(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

#[derive(serde::Deserialize)]
struct JwtHeader {
    alg: String,
}

#[derive(serde::Deserialize)]
struct Claims {
    exp: Option<i64>,
    nbf: Option<i64>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    admin: bool,
}

/// `aud`: one audience or several (RFC 7519 §4.1.3).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn names(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(list) => list.iter().any(|a| a == wanted),
        }
    }
}

/// Checks an HS256 JWT: the algorithm (only HS256; `none` and others are refused), the
/// signature in constant time, `exp` (required) and `nbf` with the configured leeway, `aud` and
/// `iss` when configured; its `events` claim limits the topics (without it: the default ones).
fn verify_jwt(token: &str, rules: &JwtRules, now_s: i64) -> Result<Access, Denied> {
    let secret = &rules.secret[..];
    let bad = |why: &str| Denied::Unauthorized(format!("invalid token: {why}"));
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(signature)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("not a JWT"));
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: JwtHeader = b64
        .decode(head)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| bad("malformed header"))?;
    if header.alg != "HS256" {
        return Err(bad("only HS256 is accepted"));
    }
    let signature = b64.decode(signature).map_err(|_| bad("malformed signature"))?;
    // Invariant: HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(head.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&signature).map_err(|_| bad("bad signature"))?;
    let claims: Claims = b64
        .decode(body)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or_else(|| bad("malformed claims"))?;
    let exp = claims.exp.ok_or_else(|| bad("no exp claim"))?;
    if now_s >= exp.saturating_add(rules.leeway_s) {
        return Err(bad("expired"));
    }
    if claims
        .nbf
        .is_some_and(|nbf| now_s < nbf.saturating_sub(rules.leeway_s))
    {
        return Err(bad("not valid yet"));
    }
    if let Some(audience) = &rules.audience {
        if !claims.aud.as_ref().is_some_and(|aud| aud.names(audience)) {
            return Err(bad("not for this audience (aud)"));
        }
    }
    if let Some(issuer) = &rules.issuer {
        if claims.iss.as_deref() != Some(issuer.as_str()) {
            return Err(bad("not from the expected issuer (iss)"));
        }
    }
    Ok(Access {
        topics: topics_from(claims.events.as_deref(), rules.default_topics),
        admin: claims.admin,
        audio: AudioAccess::from_names(claims.events.as_deref(), &rules.default_audio),
    })
}

/// Signs claims as an HS256 JWT (for tests and for operators minting tokens).
pub fn sign_jwt(claims: &serde_json::Value, secret: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(claims.to_string());
    // Invariant: HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(head.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    format!("{head}.{body}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;

    fn authenticator() -> Authenticator {
        Authenticator::new(&AuthConfig {
            enabled: true,
            tokens: vec![
                TokenConfig {
                    name: "viewer".into(),
                    token: "viewer-secret".into(),
                    events: Some(vec!["signals:detected".into()]),
                    admin: false,
                },
                TokenConfig {
                    name: "admin".into(),
                    token: "admin-secret".into(),
                    events: None,
                    admin: true,
                },
            ],
            jwt_hs256_secret: "jwt-key".into(),
            jwt_leeway_s: 0.0,
            ..AuthConfig::default()
        })
    }

    #[test]
    fn static_tokens_and_jwts_grant_what_they_say() {
        let a = authenticator();
        let viewer = a.check_token("viewer-secret", 0).unwrap();
        assert_eq!(viewer.topics, [Topic::SignalsDetected].into_iter().collect());
        assert!(!viewer.admin);
        assert!(a.check_token("admin-secret", 0).unwrap().admin);
        assert!(matches!(
            a.check_token("viewer-secreT", 0),
            Err(Denied::Unauthorized(_))
        ));
        let jwt = sign_jwt(
            &serde_json::json!({"sub": "x", "exp": 2000, "events": ["websdrs:status"]}),
            b"jwt-key",
        );
        let access = a.check_token(&jwt, 1000).unwrap();
        assert_eq!(access.topics, [Topic::WebsdrsStatus].into_iter().collect());
        assert!(matches!(a.check_token(&jwt, 2000), Err(Denied::Unauthorized(m)) if m.contains("expired")));
        let forged = sign_jwt(&serde_json::json!({"exp": 2000, "admin": true}), b"other-key");
        assert!(
            matches!(a.check_token(&forged, 1000), Err(Denied::Unauthorized(m)) if m.contains("signature"))
        );
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none"}"#),
            b64.encode(br#"{"exp":9999999999,"admin":true}"#)
        );
        assert!(matches!(a.check_token(&none, 1000), Err(Denied::Unauthorized(m)) if m.contains("HS256")));
        let no_exp = sign_jwt(&serde_json::json!({"admin": true}), b"jwt-key");
        assert!(a.check_token(&no_exp, 1000).is_err());
    }

    fn with(config: impl FnOnce(&mut AuthConfig)) -> Authenticator {
        let mut auth = AuthConfig {
            enabled: true,
            jwt_hs256_secret: "jwt-key".into(),
            ..AuthConfig::default()
        };
        config(&mut auth);
        Authenticator::new(&auth)
    }

    #[test]
    fn jwt_times_allow_the_configured_clock_skew_and_no_more() {
        let a = with(|c| c.jwt_leeway_s = 30.0);
        let jwt = sign_jwt(&serde_json::json!({"exp": 1000, "nbf": 500}), b"jwt-key");
        assert!(a.check_token(&jwt, 1029).is_ok(), "29 s after exp, within leeway");
        assert!(matches!(a.check_token(&jwt, 1030), Err(Denied::Unauthorized(m)) if m.contains("expired")));
        assert!(a.check_token(&jwt, 471).is_ok(), "29 s before nbf, within leeway");
        assert!(
            matches!(a.check_token(&jwt, 469), Err(Denied::Unauthorized(m)) if m.contains("not valid yet"))
        );
    }

    #[test]
    fn audience_and_issuer_are_checked_when_configured() {
        let a = with(|c| {
            c.jwt_audience = "sdrhub-eu".into();
            c.jwt_issuer = "https://auth.example.org".into();
        });
        let token = |claims: serde_json::Value| sign_jwt(&claims, b"jwt-key");
        let good =
            token(serde_json::json!({"exp": 2000, "aud": "sdrhub-eu", "iss": "https://auth.example.org"}));
        assert!(a.check_token(&good, 1000).is_ok());
        let in_list = token(
            serde_json::json!({"exp": 2000, "aud": ["x", "sdrhub-eu"], "iss": "https://auth.example.org"}),
        );
        assert!(a.check_token(&in_list, 1000).is_ok());
        for (claims, why) in [
            (
                serde_json::json!({"exp": 2000, "iss": "https://auth.example.org"}),
                "aud",
            ),
            (
                serde_json::json!({"exp": 2000, "aud": "other", "iss": "https://auth.example.org"}),
                "aud",
            ),
            (serde_json::json!({"exp": 2000, "aud": "sdrhub-eu"}), "iss"),
            (
                serde_json::json!({"exp": 2000, "aud": "sdrhub-eu", "iss": "https://evil.example"}),
                "iss",
            ),
        ] {
            assert!(
                matches!(a.check_token(&token(claims.clone()), 1000), Err(Denied::Unauthorized(m)) if m.contains(why)),
                "{claims}"
            );
        }
        // Not configured: not required.
        let open = with(|_| {});
        assert!(open
            .check_token(&token(serde_json::json!({"exp": 2000})), 1000)
            .is_ok());
    }

    #[test]
    fn a_token_naming_no_topics_gets_the_default_ones_not_everything() {
        let a = with(|c| {
            c.tokens = vec![TokenConfig {
                name: "plain".into(),
                token: "plain-token-0123456789".into(),
                events: None,
                admin: false,
            }]
        });
        let expected: TopicSet = Topic::ALL.iter().copied().filter(|t| !t.is_stream()).collect();
        assert_eq!(
            a.check_token("plain-token-0123456789", 0).unwrap().topics,
            expected
        );
        assert!(!expected.contains(Topic::SpectrumFrame));
        let jwt = sign_jwt(&serde_json::json!({"exp": 2000}), b"jwt-key");
        assert_eq!(a.check_token(&jwt, 1000).unwrap().topics, expected);
        let narrow = with(|c| c.default_events = vec!["services:health".into()]);
        let jwt = sign_jwt(&serde_json::json!({"exp": 2000}), b"jwt-key");
        assert_eq!(
            narrow.check_token(&jwt, 1000).unwrap().topics,
            [Topic::ServicesHealth].into_iter().collect()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]
        // Arbitrary text, and JWT-shaped garbage, never panics and never authenticates.
        #[test]
        fn token_checking_is_total(text in "\\PC{0,300}", a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,80}", c in "[A-Za-z0-9_-]{0,80}") {
            let auth = authenticator();
            proptest::prop_assert!(auth.check_token(&text, 1000).is_err() || text == "viewer-secret" || text == "admin-secret");
            let jwt_shaped = format!("{a}.{b}.{c}");
            proptest::prop_assert!(auth.check_token(&jwt_shaped, 1000).is_err());
        }
    }
}
