//! The history of a running hub, as its clients see it: a transmitter heard for the first time
//! arrives `novel`, the same transmitter back on air does not; what the hub reported is in its
//! database (through the store, as the REST endpoints read it); a name given to a steady carrier
//! reaches the clients at once.

mod common;

use common::*;
use sdrhub_hardware::sim::ScheduleConfig;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transmitter_heard_for_the_first_time_is_novel_and_the_second_time_is_not() {
    let mut config = test_config();
    // The voice transmitter keys on for 6 s of every 12 s; the carrier stays on.
    for tx in &mut config.simulation.transmitters {
        if tx.id == "voice" {
            tx.schedule = Some(ScheduleConfig {
                period_s: 12.0,
                on_s: 6.0,
                offset_s: 0.0,
            });
        }
    }
    let voice_hz = config.simulation.center_frequency_hz - 60_000.0;
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=signals:detected").await;
    let mut first: Option<serde_json::Value> = None;
    let mut second: Option<serde_json::Value> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while second.is_none() && tokio::time::Instant::now() < deadline {
        let Some(m) = next_json(&mut ws, Duration::from_secs(1)).await else {
            continue;
        };
        if m["event"] != "signals:detected" || m["data"]["state"] != "new" {
            continue;
        }
        let f = m["data"]["frequency_hz"].as_f64().unwrap();
        if (f - voice_hz).abs() > 10_000.0 {
            continue;
        }
        match &first {
            None => first = Some(m["data"].clone()),
            Some(earlier) if m["data"]["signal_id"] != earlier["signal_id"] => {
                second = Some(m["data"].clone());
            }
            Some(_) => {}
        }
    }
    let first = first.expect("the voice transmitter was detected");
    let second = second.expect("the voice transmitter came back within 40 s");
    assert_eq!(first["novel"], true, "first time on air: {first}");
    assert_eq!(second["novel"], false, "back on air: {second}");
    assert_eq!(first["known"], serde_json::Value::Null);
    server.stop().await.unwrap();
}

/// A steady carrier is reported again only when it changes materially, which may be never:
/// naming it must not wait for that. The server reports every active signal again when the
/// known signals change, so the name reaches the clients at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_carrier_carries_its_new_name_at_once() {
    let config = test_config();
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=signals:detected").await;
    let near = |m: &serde_json::Value| {
        m["event"] == "signals:detected"
            && (m["data"]["frequency_hz"].as_f64().unwrap() - carrier_hz).abs() < 2_000.0
    };
    let (first, _) = wait_for(&mut ws, Duration::from_secs(20), "the carrier", near).await;
    assert_eq!(first["data"]["known"], serde_json::Value::Null, "{first}");
    // Until an operator names it, it goes by the configured transmitter's name.
    assert_eq!(first["data"]["name"], "Test carrier", "{first}");
    // Let it settle (its first reports follow each other while its receiver set fills), and
    // drop what was sent meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while next_json(&mut ws, Duration::from_millis(100)).await.is_some() {}
    let draft = serde_json::json!({"name": "Steady", "freq_min_hz": carrier_hz - 2_000.0, "freq_max_hz": carrier_hz + 2_000.0});
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/v1/known-signals", server.addr))
        .json(&draft)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 201);
    // Without the re-report it would come only with the carrier's next material change (none
    // within this test: it failed so before the fix).
    let (named, _) = wait_for(
        &mut ws,
        Duration::from_secs(3),
        "the carrier with its name",
        |m| near(m) && m["data"]["known"]["name"] == "Steady",
    )
    .await;
    assert_eq!(named["data"]["state"], "update", "{named}");
    assert_eq!(
        named["data"]["signal_id"], first["data"]["signal_id"],
        "the same signal, relabelled"
    );
    // The known signal's name wins over the configured transmitter's.
    assert_eq!(named["data"]["name"], "Steady", "{named}");
    server.stop().await.unwrap();
}
