//! The history of a running hub, as its clients see it: a transmitter heard for the first time
//! arrives `novel`, the same transmitter back on air does not; what the hub reported is in its
//! database (through the store, as the REST endpoints read it).

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
