//! Remote receivers: their link state (from the client source) and an HTTP probe of their
//! status page, for liveness, response time and channel use.

use sdrhub_hardware::kiwi::protocol::{parse_status_page, StatusPage};
use sdrhub_hardware::kiwi::KiwiLink;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A probe that takes longer than this fails: a receiver that slow cannot stream either.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The status page is a few hundred bytes; more is not a KiwiSDR.
const MAX_STATUS_BYTES: usize = 64 * 1024;

/// The last probe of a receiver's status page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeResult {
    /// When it completed, ns since the epoch (0: never).
    pub at_ns: i64,
    /// Round trip of the request, ms, when it succeeded.
    pub response_time_ms: Option<f64>,
    /// The parsed page, when it succeeded.
    pub page: Option<StatusPage>,
    /// Why it failed.
    pub error: Option<String>,
    /// Failures in a row.
    pub failures: u32,
}

/// One remote receiver's shared state.
#[derive(Debug)]
pub struct RemoteReceiver {
    /// What its client source reports.
    pub link: Arc<KiwiLink>,
    /// `http://host:port/status`.
    pub status_url: String,
    /// Seconds between probes.
    pub interval: Duration,
    probe: Mutex<ProbeResult>,
}

impl RemoteReceiver {
    /// State for a receiver whose client reports into `link`.
    pub fn new(link: Arc<KiwiLink>, status_url: String, interval: Duration) -> Self {
        Self {
            link,
            status_url,
            interval,
            probe: Mutex::new(ProbeResult::default()),
        }
    }

    /// The last probe.
    pub fn probe(&self) -> ProbeResult {
        // A poisoned lock only means a writer panicked; the value is still whole.
        self.probe.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_probe(&self, result: ProbeResult) {
        *self.probe.lock().unwrap_or_else(|e| e.into_inner()) = result;
    }
}

/// Probes `receiver`'s status page every `receiver.interval`, forever (abort the task to stop).
pub async fn run_probe(receiver: Arc<RemoteReceiver>) {
    let client = match reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .user_agent(concat!("sdrhub/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client for status probes");
            return;
        }
    };
    let mut tick = tokio::time::interval(receiver.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = Instant::now();
        let outcome = fetch(&client, &receiver.status_url).await;
        let previous = receiver.probe();
        let result = match outcome {
            Ok(page) => ProbeResult {
                at_ns: sdrhub_hardware::acquisition::now_ns(),
                response_time_ms: Some(started.elapsed().as_secs_f64() * 1e3),
                page: Some(page),
                error: None,
                failures: 0,
            },
            Err(error) => ProbeResult {
                at_ns: sdrhub_hardware::acquisition::now_ns(),
                response_time_ms: None,
                page: None,
                error: Some(error),
                failures: previous.failures.saturating_add(1),
            },
        };
        receiver.set_probe(result);
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<StatusPage, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("status page unreachable: {}", without_url(&e)))?;
    if !response.status().is_success() {
        return Err(format!("status page answered HTTP {}", response.status()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("status page read failed: {}", without_url(&e)))?;
    if body.len() > MAX_STATUS_BYTES {
        return Err(format!("status page of {} bytes is not a KiwiSDR's", body.len()));
    }
    Ok(parse_status_page(&String::from_utf8_lossy(&body)))
}

/// The error without the URL (it is known, and may carry a password in a query someday).
fn without_url(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", PROBE_TIMEOUT.as_secs());
    }
    if error.is_connect() {
        return "connection refused or unreachable".to_string();
    }
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "");
    }
    text.trim().to_string()
}
