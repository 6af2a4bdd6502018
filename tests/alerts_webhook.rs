//! Alert webhooks against real HTTP receivers on 127.0.0.1 (issue 17, acceptance 3): a receiver
//! that fails the first attempts gets the alert after retries, signed with HMAC-SHA256 of the
//! body; a receiver that accepts and never answers does not delay anything the WebSocket
//! clients get.

mod common;

use common::*;
use hmac::{Hmac, Mac};
use sdrhub::config::{AlertRule, Config, WebhookConfig};
use sdrhub::events::AlertKind;
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "a-webhook-secret-0123456789";

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

/// A level rule on the test scene's always-on carrier: it holds from the carrier's first
/// report.
fn carrier_alert(url: String, timeout_s: f64) -> Config {
    let mut config = test_config();
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    config.alerts.rules = vec![AlertRule {
        for_s: 0.5,
        freq_min_hz: Some(carrier_hz - 5_000.0),
        freq_max_hz: Some(carrier_hz + 5_000.0),
        power_dbfs: Some(-200.0),
        ..AlertRule::new("carrier-on", AlertKind::Level)
    }];
    config.alerts.webhooks = vec![WebhookConfig {
        url,
        secret: SECRET.into(),
        timeout_s,
        max_attempts: 6,
        max_backoff_s: 1.0,
    }];
    config
}

/// Reads one HTTP/1.1 request (head and Content-Length body) from `stream`.
async fn read_request(stream: &mut TcpStream) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((headers, body))
}

/// A receiver that answers 500 to its first `failures` requests and 200 after.
async fn flaky_receiver(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/sdrhub", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = got.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                while let Some((headers, body)) = read_request(&mut stream).await {
                    let status = {
                        let mut log = log.lock().unwrap();
                        let status = if log.len() < failures { 500 } else { 200 };
                        log.push(Received {
                            headers,
                            body,
                            status,
                        });
                        status
                    };
                    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_signed_alert_after_retries() {
    let (url, got) = flaky_receiver(2).await;
    let server = start(carrier_alert(url, 2.0));
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let done = got.lock().unwrap().iter().find(|r| r.status == 200).cloned();
        if let Some(done) = done {
            break done;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery within 30 s: {:?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let requests = got.lock().unwrap().clone();
    // The same change, three attempts: two refused, the third delivered.
    let delivery = &delivered.headers["x-sdrhub-delivery"];
    let attempts: Vec<&str> = requests
        .iter()
        .filter(|r| &r.headers["x-sdrhub-delivery"] == delivery)
        .map(|r| r.headers["x-sdrhub-attempt"].as_str())
        .collect();
    assert_eq!(attempts, ["1", "2", "3"], "{requests:?}");
    assert!(delivery.ends_with(".raised"), "{delivery}");
    // Signed: HMAC-SHA256 of the body under the secret, checked here with the hmac crate.
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&delivered.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        delivered.headers["x-sdrhub-signature-256"],
        format!("sha256={want}")
    );
    assert_eq!(delivered.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(body["event"], "alerts:raised", "{body}");
    assert_eq!(body["data"]["rule"], "carrier-on", "{body}");
    assert_eq!(body["data"]["state"], "raised", "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    // Counted.
    let metrics = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sdrhub_alert_webhook_changes_total{webhook=\"0\",outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_delays_no_websocket_client() {
    // Accepts, reads nothing, answers nothing; holds every connection.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let hold = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            hold.lock().unwrap().push(stream);
        }
    });
    let server = start(carrier_alert(url, 10.0));
    let mut ws = connect(&server, "/ws?events=services:health,alerts:raised").await;
    // The alert reaches the WebSocket in time although its webhook hangs.
    let (alert, _) = wait_for(&mut ws, Duration::from_secs(20), "the alert", |m| {
        m["event"] == "alerts:raised" && m["data"]["state"] == "raised"
    })
    .await;
    assert_eq!(alert["data"]["rule"], "carrier-on");
    // Then 8 s of the periodic health (every 0.5 s in the test config): no gap over 1.5 s.
    let until = Instant::now() + Duration::from_secs(8);
    let mut last = Instant::now();
    let mut reports = 0;
    while Instant::now() < until {
        let (_, _) = wait_for(&mut ws, Duration::from_millis(1500), "services:health", |m| {
            m["event"] == "services:health"
        })
        .await;
        let now = Instant::now();
        assert!(
            now - last < Duration::from_millis(1500),
            "health came {:?} late",
            now - last
        );
        last = now;
        reports += 1;
    }
    assert!(reports >= 10, "{reports} health reports in 8 s");
    assert!(
        !held.lock().unwrap().is_empty(),
        "the webhook did try the receiver"
    );
    server.stop().await.unwrap();
}
