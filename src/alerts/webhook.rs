//! Webhooks: every alert change (raised, acknowledged, resolved) POSTed as JSON to each
//! `[[alerts.webhooks]]` URL, signed, retried, and never in anyone's way.
//!
//! The body is the WebSocket envelope without `seq`:
//! `{"event": "alerts:raised", "data": <the alert>, "timestamp": "..."}`. Headers:
//! `X-Sdrhub-Signature-256: sha256=<hex HMAC-SHA256 of the body under the webhook's secret>`,
//! `X-Sdrhub-Delivery: <alert_id>.<state>` (the same on every attempt, for de-duplication) and
//! `X-Sdrhub-Attempt: <n>`. A 2xx answer delivers; anything else (another status, a refused
//! connection, no answer within `timeout_s`) is retried after 0.5 s, 1 s, 2 s, ... capped at
//! `max_backoff_s`, each wait drawn between half and all of its step (jitter, so that many
//! hubs do not retry in step), up to `max_attempts`; then the change is given up and counted
//! as failed. Changes go out one at a time, in order, per webhook.
//!
//! Back-pressure: each webhook has its own queue of `alerts.webhook_queue` changes, filled by
//! the alert engine without waiting; when it is full (a receiver down for long) the new change
//! is dropped and counted. The engine, the hub and the WebSocket clients never wait for a
//! webhook.

use crate::config::WebhookConfig;
use crate::events::{AlertReport, AlertState, Event, Timestamp};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The first wait between attempts; it doubles each time up to `max_backoff_s`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What happened to the changes of one webhook.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    /// Answered with 2xx.
    pub delivered: AtomicU64,
    /// Given up after `max_attempts`.
    pub failed: AtomicU64,
    /// Not queued: the webhook's queue was full.
    pub dropped: AtomicU64,
}

/// The engine's end of one webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    sender: mpsc::Sender<AlertReport>,
    /// Its counters.
    pub counters: Arc<WebhookCounters>,
}

impl Webhook {
    /// Starts the delivery task of `config` on the current runtime, with a queue of `queue`.
    pub fn start(config: &WebhookConfig, queue: usize) -> Webhook {
        let (sender, receiver) = mpsc::channel(queue.max(1));
        let counters = Arc::new(WebhookCounters::default());
        tokio::spawn(deliver(config.clone(), receiver, counters.clone()));
        Webhook { sender, counters }
    }

    /// Queues `report` without waiting; a full queue drops it and counts.
    pub fn offer(&self, report: &AlertReport) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.sender.try_send(report.clone()) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(alert = %report.alert_id, "webhook queue full: alert change dropped");
        }
    }
}

/// The signature header's value for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // Invariant: HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The wait before attempt `attempt + 1` (attempt counts from 1): half to all of
/// min(cap, 0.5 s x 2^(attempt-1)), by `unit` in [0, 1).
fn backoff(attempt: u32, cap: Duration, unit: f64) -> Duration {
    let step = FIRST_BACKOFF
        .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20))
        .min(cap);
    step.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

async fn deliver(
    config: WebhookConfig,
    mut changes: mpsc::Receiver<AlertReport>,
    counters: Arc<WebhookCounters>,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(config.timeout_s))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(url = %config.url, error = %e, "webhook client could not be built; its alerts are dropped");
            return;
        }
    };
    let cap = Duration::from_secs_f64(config.max_backoff_s);
    // Jitter from a xorshift generator seeded by the clock: spreads retries, needs no crate.
    let mut seed = (Timestamp::now().0 as u64) | 1;
    let mut unit = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    while let Some(report) = changes.recv().await {
        let state = match report.state {
            AlertState::Raised => "raised",
            AlertState::Acked => "acked",
            AlertState::Resolved => "resolved",
        };
        let delivery = format!("{}.{state}", report.alert_id);
        let body = envelope(report);
        let signed = signature(config.secret.as_bytes(), &body);
        let mut attempt = 1;
        loop {
            let sent = client
                .post(&config.url)
                .header("Content-Type", "application/json")
                .header("X-Sdrhub-Signature-256", &signed)
                .header("X-Sdrhub-Delivery", &delivery)
                .header("X-Sdrhub-Attempt", attempt.to_string())
                .body(body.clone())
                .send()
                .await;
            let why = match sent {
                Ok(answer) if answer.status().is_success() => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(answer) => format!("answered {}", answer.status()),
                Err(e) => e.to_string(),
            };
            if attempt >= config.max_attempts {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(url = %config.url, %delivery, attempts = attempt, why, "webhook delivery given up");
                break;
            }
            tracing::debug!(url = %config.url, %delivery, attempt, why, "webhook delivery failed; retrying");
            tokio::time::sleep(backoff(attempt, cap, unit())).await;
            attempt += 1;
        }
    }
}

/// The JSON body: the WebSocket envelope of the change, without `seq`.
pub(crate) fn envelope(report: AlertReport) -> Vec<u8> {
    body(&Event::AlertsRaised(report))
}

/// The WebSocket envelope of `event` without `seq` (which numbers one server's WebSocket
/// messages, and means nothing elsewhere).
pub(crate) fn body(event: &Event) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(flatten)]
        event: &'a Event,
        timestamp: Timestamp,
    }
    // Invariant: event payloads always serialize (see `Envelope::to_json`).
    serde_json::to_vec(&Body {
        event,
        timestamp: Timestamp::now(),
    })
    .expect("event payloads always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_the_cap_with_jitter() {
        let cap = Duration::from_secs(10);
        assert_eq!(backoff(1, cap, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(1, cap, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(3, cap, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(10, cap, 1.0), cap);
        assert_eq!(backoff(60, cap, 0.0), cap / 2);
    }
}
