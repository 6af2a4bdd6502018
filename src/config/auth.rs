//! `[auth]`: tokens, JWTs and origins (checked by `crate::auth`).

use serde::{Deserialize, Serialize};

/// `[auth]`: tokens, JWTs and origins for the WebSocket and REST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require a token on `/ws` and `/api/*` (the dashboard page and `/healthz` stay open).
    pub enabled: bool,
    /// Static bearer tokens (`[[auth.tokens]]`).
    pub tokens: Vec<TokenConfig>,
    /// Secret of HS256 JWTs (claims: `exp` required, `nbf`, `aud`, `iss`, `events`, `admin`);
    /// empty: no JWTs.
    pub jwt_hs256_secret: String,
    /// Seconds of clock difference tolerated on a JWT's `exp` and `nbf` (the issuer's clock and
    /// ours are never exactly equal).
    pub jwt_leeway_s: f64,
    /// When set, a JWT must name this audience in `aud` (a string or a list).
    pub jwt_audience: String,
    /// When set, a JWT's `iss` must be exactly this.
    pub jwt_issuer: String,
    /// Topics of a token (static or JWT) that names none: by default every topic but the
    /// `spectrum:frame` stream, so a token grants the heavy stream only when it says so.
    pub default_events: Vec<String>,
    /// Browser origins allowed (`https://ops.example.org`); empty: any. Requests without an
    /// `Origin` header (scripts) are not affected.
    pub allowed_origins: Vec<String>,
}

/// Longest JWT leeway accepted: more would make expiry meaningless.
pub const MAX_JWT_LEEWAY_S: f64 = 600.0;

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            tokens: Vec::new(),
            jwt_hs256_secret: String::new(),
            jwt_leeway_s: 30.0,
            jwt_audience: String::new(),
            jwt_issuer: String::new(),
            default_events: crate::events::Topic::ALL
                .iter()
                .filter(|t| !t.is_stream())
                .map(|t| t.as_str().to_string())
                .collect(),
            allowed_origins: Vec::new(),
        }
    }
}

impl AuthConfig {
    /// Every problem of `[auth]`, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        p.check(
            !self.enabled || !self.tokens.is_empty() || !self.jwt_hs256_secret.is_empty(),
            "auth.enabled = true: configure [[auth.tokens]] or auth.jwt_hs256_secret, or nobody can connect"
                .into(),
        );
        p.check(
            self.jwt_hs256_secret.is_empty() || self.jwt_hs256_secret.len() >= 32,
            "auth.jwt_hs256_secret: must be at least 32 characters".into(),
        );
        p.check(
            (0.0..=MAX_JWT_LEEWAY_S).contains(&self.jwt_leeway_s),
            format!(
                "auth.jwt_leeway_s: must be 0 to {MAX_JWT_LEEWAY_S} seconds (got {})",
                self.jwt_leeway_s
            ),
        );
        for name in &self.default_events {
            p.check(
                valid_event_name(name),
                format!("auth.default_events: unknown topic {name:?} (topics, or audio:<receiver>, audio:*)"),
            );
        }
        for (i, token) in self.tokens.iter().enumerate() {
            p.check(
                token.token.len() >= 16,
                format!(
                    "auth.tokens[{i}] ({}).token: must be at least 16 characters",
                    token.name
                ),
            );
            for name in token.events.iter().flatten() {
                p.check(
                    valid_event_name(name),
                    format!("auth.tokens[{i}] ({}).events: unknown topic {name:?}", token.name),
                );
            }
        }
        p.into_vec()
    }
}

/// One static token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who it is for (logs and stats; never the token itself).
    pub name: String,
    /// The secret (at least 16 characters).
    pub token: String,
    /// Topics it may receive; unset: `auth.default_events`.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// May publish (`POST /api/v1/publish`).
    #[serde(default)]
    pub admin: bool,
}

/// The prefix of an audio grant among a token's events (`audio:<receiver>`, `audio:*`).
pub const AUDIO_PREFIX: &str = "audio:";

/// Whether `name` may stand among a token's events: a topic, or an audio grant
/// (`audio:<receiver>`, `audio:*`).
pub fn valid_event_name(name: &str) -> bool {
    crate::events::Topic::parse(name).is_some()
        || name
            .strip_prefix(AUDIO_PREFIX)
            .is_some_and(|r| !r.trim().is_empty())
}
