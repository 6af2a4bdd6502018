//! `spectrum:frame`, against the real server with real clients: opt-in (by `?events=`, by
//! `subscribe`, and by token), at the configured rate for every receiver, with the simulated
//! carrier near the top of the scale.

mod common;

use base64::Engine;
use common::*;
use sdrhub::config::{Config, TokenConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const RATE_HZ: f64 = 4.0;
const BINS: usize = 256;
/// How long frames are counted.
const WINDOW: Duration = Duration::from_secs(4);

/// The test scene with its carrier alone, so the carrier is the strongest bin of every frame.
fn frames_config() -> Config {
    let mut config = test_config();
    config.simulation.transmitters.retain(|t| t.id == "carrier");
    config.spectrum_frames.rate_hz = RATE_HZ;
    config.spectrum_frames.bins = BINS;
    config
}

/// Reads `ws` for `window`, returning every message.
async fn collect(ws: &mut Ws, window: Duration) -> Vec<Value> {
    let deadline = Instant::now() + window;
    let mut messages = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match next_json(ws, left).await {
            Some(message) => messages.push(message),
            None => break,
        }
    }
    messages
}

fn frames(messages: &[Value]) -> Vec<&Value> {
    messages
        .iter()
        .filter(|m| m["event"] == "spectrum:frame")
        .collect()
}

/// Checks one frame's payload; returns its bytes.
fn check_frame(frame: &Value) -> Vec<u8> {
    let data = &frame["data"];
    assert_eq!(data["encoding"], "u8-base64", "{data}");
    assert_eq!(data["bins"].as_u64(), Some(BINS as u64), "{data}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data["data"].as_str().expect("data is a string"))
        .expect("data is base64");
    assert_eq!(bytes.len(), BINS);
    let (db_min, db_max) = (data["db_min"].as_f64().unwrap(), data["db_max"].as_f64().unwrap());
    assert!(db_min < db_max, "{data}");
    // 256 kS/s in 1024 FFT bins, 4 to a frame bin.
    assert_eq!(data["bin_hz"].as_f64(), Some(1000.0));
    assert!(data["timestamp"].is_string());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_frames_of_every_receiver_at_the_rate_and_others_get_none() {
    let config = frames_config();
    let carrier_hz = config.simulation.transmitters[0].frequency_hz;
    let server = start(config);
    let mut by_query = connect(&server, "/ws/updates?events=spectrum:frame,signals:detected").await;
    let mut by_default = connect(&server, "/ws/updates").await;
    let mut by_message = connect(&server, "/ws?events=websdrs:status").await;
    send(
        &mut by_message,
        r#"{"event":"subscribe","data":{"events":["spectrum:frame"]}}"#,
    )
    .await;
    let (ack, _) = until_event(&mut by_message, "subscriptions", WAIT).await;
    assert_eq!(
        ack.expect("subscriptions ack")["data"]["events"],
        serde_json::json!(["websdrs:status", "spectrum:frame"])
    );
    // The snapshot never carries frames.
    let snapshot = next_json(&mut by_default, WAIT).await.expect("snapshot");
    assert_eq!(snapshot["event"], "snapshot");
    assert!(snapshot["data"].get("spectrum:frame").is_none(), "{snapshot}");

    // Let the receivers start and the carrier settle, then count.
    wait_for(&mut by_query, WAIT, "a first frame", |m| {
        m["event"] == "spectrum:frame"
    })
    .await;
    let settle = Duration::from_secs(1);
    let _ = tokio::join!(
        collect(&mut by_query, settle),
        collect(&mut by_default, settle),
        collect(&mut by_message, settle),
    );
    let (query_messages, default_messages, message_messages) = tokio::join!(
        collect(&mut by_query, WINDOW),
        collect(&mut by_default, WINDOW),
        collect(&mut by_message, WINDOW),
    );

    assert!(
        frames(&default_messages).is_empty(),
        "a client that did not ask got frames"
    );
    assert!(
        default_messages.iter().any(|m| m["event"] == "services:health"),
        "the default client is still served"
    );
    let expected = RATE_HZ * WINDOW.as_secs_f64();
    let (_, websdrs) = get_json(&server, "/api/v1/websdrs").await;
    let receivers: Vec<String> = websdrs["websdrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(receivers.len(), 4);
    for (who, messages) in [("?events=", &query_messages), ("subscribe", &message_messages)] {
        let mut per_receiver: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for frame in frames(messages) {
            let id = frame["data"]["receiver_id"].as_str().unwrap().to_string();
            per_receiver.entry(id).or_default().push(frame);
        }
        assert_eq!(
            per_receiver.keys().cloned().collect::<Vec<_>>(),
            receivers,
            "{who}: frames of every receiver"
        );
        for (id, frames) in &per_receiver {
            let n = frames.len() as f64;
            assert!(
                (n - expected).abs() <= 0.25 * expected + 1.0,
                "{who}: {n} frames of {id} in {WINDOW:?}, expected about {expected}"
            );
            for frame in frames {
                let bytes = check_frame(frame);
                let data = &frame["data"];
                let start = data["start_hz"].as_f64().unwrap();
                let bin = data["bin_hz"].as_f64().unwrap();
                let index = ((carrier_hz - start) / bin).floor() as usize;
                let brightest = (0..BINS).max_by_key(|&i| bytes[i]).unwrap();
                let mut sorted = bytes.clone();
                sorted.sort_unstable();
                let median = sorted[BINS / 2];
                // The top of the scale is 5 dB over the strongest bin: the carrier's byte is
                // (span - 5) / span * 255, over 220 for any span over 40 dB.
                assert!(
                    brightest.abs_diff(index) <= 1 && bytes[brightest] >= 220 && median < 110,
                    "{who}: {id}: carrier expected in bin {index}, brightest is {brightest} ({}/255), median {median}: {data}",
                    bytes[brightest]
                );
            }
        }
    }
    // Frames are counted like every other event.
    let (_, stats) = get_json(&server, "/api/v1/ws/stats").await;
    assert!(
        stats["messages_sent"]["spectrum:frame"].as_u64().unwrap() > 0,
        "{stats}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_allow_frames_only_when_they_list_them_or_the_default_topics_do() {
    let mut config = frames_config();
    config.auth.enabled = true;
    config.auth.tokens = vec![
        TokenConfig {
            name: "ops".into(),
            token: "ops-token-0123456789abc".into(),
            events: None,
            admin: false,
        },
        TokenConfig {
            name: "wall".into(),
            token: "wall-token-0123456789ab".into(),
            events: Some(vec!["signals:detected".into()]),
            admin: false,
        },
        TokenConfig {
            name: "waterfall".into(),
            token: "waterfall-token-012345".into(),
            events: Some(vec!["spectrum:frame".into()]),
            admin: false,
        },
    ];
    let server = start(config);
    // A token listing topics without spectrum:frame may not ask for it.
    let url = format!(
        "ws://{}/ws?events=spectrum:frame&token=wall-token-0123456789ab",
        server.addr
    );
    assert_eq!(common::refused_upgrade(&url).await.0, 403);
    let mut wall = connect(&server, "/ws?token=wall-token-0123456789ab").await;
    send(
        &mut wall,
        r#"{"event":"subscribe","data":{"events":["spectrum:frame"]}}"#,
    )
    .await;
    let (error, _) = until_event(&mut wall, "error", WAIT).await;
    assert_eq!(error.expect("an error")["data"]["code"], "forbidden_topic");

    // A token without a list gets [auth] default_events: by default not the frames, so it
    // may not subscribe to them (never everything by omission).
    let mut ops = connect(&server, "/ws?token=ops-token-0123456789abc").await;
    send(
        &mut ops,
        r#"{"event":"subscribe","data":{"events":["spectrum:frame"]}}"#,
    )
    .await;
    let (error, _) = until_event(&mut ops, "error", WAIT).await;
    assert_eq!(error.expect("an error")["data"]["code"], "forbidden_topic");
    // Listing it in a token allows it; the client still asks for it.
    let mut waterfall = connect(&server, "/ws?events=spectrum:frame&token=waterfall-token-012345").await;
    wait_for(&mut waterfall, WAIT, "a frame", |m| {
        m["event"] == "spectrum:frame"
    })
    .await;
    server.stop().await.unwrap();

    // With the frames among the default topics, a token without a list gets no frames until
    // it asks, then gets them.
    let mut config = frames_config();
    config.auth.enabled = true;
    config.auth.default_events.push("spectrum:frame".into());
    config.auth.tokens = vec![TokenConfig {
        name: "ops".into(),
        token: "ops-token-0123456789abc".into(),
        events: None,
        admin: false,
    }];
    let server = start(config);
    let mut ops = connect(&server, "/ws?token=ops-token-0123456789abc").await;
    let messages = collect(&mut ops, Duration::from_secs(2)).await;
    assert!(frames(&messages).is_empty(), "frames without asking");
    send(
        &mut ops,
        r#"{"event":"subscribe","data":{"events":["spectrum:frame"]}}"#,
    )
    .await;
    wait_for(&mut ops, WAIT, "a frame after subscribing", |m| {
        m["event"] == "spectrum:frame"
    })
    .await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_frames_when_they_are_off() {
    let mut config = frames_config();
    config.spectrum_frames.enabled = false;
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=spectrum:frame,services:health").await;
    let messages = collect(&mut ws, Duration::from_secs(3)).await;
    assert!(messages.iter().any(|m| m["event"] == "services:health"));
    assert!(frames(&messages).is_empty());
    let (_, settings) = get_json(&server, "/api/v1/dashboard-config").await;
    assert_eq!(settings["spectrum_frames"]["enabled"], false, "{settings}");
    assert_eq!(settings["map_tiles_url"], "", "{settings}");
    // With frames off, these tell the dashboard how long a silence means stale data.
    assert!(
        settings["status_interval_s"].as_f64().is_some_and(|s| s > 0.0),
        "{settings}"
    );
    assert!(
        settings["health_interval_s"].as_f64().is_some_and(|s| s > 0.0),
        "{settings}"
    );
    server.stop().await.unwrap();
}
