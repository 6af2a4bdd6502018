//! The recent waterfall (`GET /api/v1/spectrum/{receiver}/waterfall`) against the real server:
//! a page opened after the server has run a while gets the last rows of every receiver at
//! once, in time order, bounded to `[spectrum_frames] history_s`, and only with a token that
//! allows `spectrum:frame`.

mod common;

use base64::Engine;
use common::*;
use sdrhub::config::{Config, TokenConfig};
use serde_json::Value;
use std::time::{Duration, Instant};

const BINS: usize = 256;
const ROW_S: f64 = 0.5;
const HISTORY_S: f64 = 3.0;
const FULL: &str = "waterfall-token-012345";
const WALL: &str = "wall-token-0123456789ab";

fn config() -> Config {
    let mut config = test_config();
    config.simulation.transmitters.retain(|t| t.id == "carrier");
    config.spectrum_frames.rate_hz = 4.0;
    config.spectrum_frames.bins = BINS;
    config.spectrum_frames.history_s = HISTORY_S;
    config.spectrum_frames.history_row_s = ROW_S;
    config.auth.enabled = true;
    config.auth.tokens = vec![
        TokenConfig {
            name: "waterfall".into(),
            token: FULL.into(),
            events: Some(vec!["spectrum:frame".into(), "websdrs:status".into()]),
            admin: false,
        },
        TokenConfig {
            name: "wall".into(),
            token: WALL.into(),
            events: Some(vec!["signals:detected".into(), "websdrs:status".into()]),
            admin: false,
        },
    ];
    config
}

async fn get(addr: std::net::SocketAddr, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn time_ms(value: &Value) -> i64 {
    let text = value.as_str().expect("a timestamp string");
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_page_gets_the_recent_rows_of_every_receiver_at_once_and_only_with_spectrum_frame() {
    let config = config();
    let carrier_hz = config.simulation.transmitters[0].frequency_hz;
    let server = start(config);
    // Nobody watches the frames meanwhile: the hub keeps them anyway.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let (status, websdrs) = get(server.addr, "/api/v1/websdrs", FULL).await;
    assert_eq!(status, 200, "{websdrs}");
    let receivers: Vec<String> = websdrs["websdrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(receivers.len(), 4);
    for id in &receivers {
        let asked = Instant::now();
        let (status, body) = get(server.addr, &format!("/api/v1/spectrum/{id}/waterfall"), FULL).await;
        assert!(asked.elapsed() < Duration::from_secs(2), "the rows come at once");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["receiver_id"], id.as_str());
        assert_eq!(body["row_s"].as_f64(), Some(ROW_S));
        assert_eq!(body["history_s"].as_f64(), Some(HISTORY_S));
        let rows = body["rows"].as_array().expect("rows");
        // 5 s of frames, kept for 3 s in rows of 0.5 s: exactly the last 6 rows, the newest
        // still filling.
        let max_rows = (HISTORY_S / ROW_S) as usize;
        assert_eq!(rows.len(), max_rows, "{id}: bounded to the history");
        let times: Vec<i64> = rows.iter().map(|r| time_ms(&r["timestamp"])).collect();
        assert!(
            times.windows(2).all(|w| w[1] - w[0] == (ROW_S * 1e3) as i64),
            "{id}: one row per period, oldest first: {times:?}"
        );
        let now = chrono::Utc::now().timestamp_millis();
        assert!(
            (now - times[max_rows - 1]).abs() < 2_000,
            "{id}: the newest row is recent"
        );
        for row in rows {
            assert_eq!(row["receiver_id"], id.as_str());
            assert_eq!(row["encoding"], "u8-base64");
            assert_eq!(row["bins"].as_u64(), Some(BINS as u64));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(row["data"].as_str().unwrap())
                .expect("base64");
            assert_eq!(bytes.len(), BINS);
            let start = row["start_hz"].as_f64().unwrap();
            let bin = row["bin_hz"].as_f64().unwrap();
            let index = ((carrier_hz - start) / bin).floor() as usize;
            let brightest = (0..BINS).max_by_key(|&i| bytes[i]).unwrap();
            assert!(
                brightest.abs_diff(index) <= 1,
                "{id}: the carrier is in its bin: {row}"
            );
        }
    }

    // Unknown receivers are not found; a token without spectrum:frame is refused.
    let (status, _) = get(server.addr, "/api/v1/spectrum/nobody/waterfall", FULL).await;
    assert_eq!(status, 404);
    let path = format!("/api/v1/spectrum/{}/waterfall", receivers[0]);
    let (status, body) = get(server.addr, &path, WALL).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.get("rows").is_none());
    let (status, _) = get(server.addr, &path, "not-a-token-at-all-0000").await;
    assert_eq!(status, 401);
    server.stop().await.unwrap();
}
