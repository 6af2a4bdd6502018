//! Emitter identity and names through a real server (issue 19): a transmitter that keys off
//! and on keeps its `emitter_id` while each transmission gets a new `signal_id`, and signals
//! carry the configured transmitters' names.
//!
//! The scene is the light test scene (`common::test_config`) with its FM voice keyed faster
//! than the default scene's 20 s of every 30 s: on 5 s of every 10 s (the 5 s silences are
//! longer than `tracker.lost_after_s`, 3 s, so each transmission is lost and a new track),
//! asserted over at least 3 activations. Ten activations at the default scene's schedule are
//! the DSP test `a_keyed_voice_keeps_one_emitter_id_over_ten_activations`.

mod common;

use common::*;
use sdrhub_hardware::sim::ScheduleConfig;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_voice_keeps_one_emitter_id_over_its_activations_and_carries_its_name() {
    let mut config = test_config();
    for tx in &mut config.simulation.transmitters {
        if tx.id == "voice" {
            tx.schedule = Some(ScheduleConfig {
                period_s: 10.0,
                on_s: 5.0,
                offset_s: 0.0,
            });
        }
    }
    let voice_hz = config.simulation.center_frequency_hz - 60_000.0;
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=signals:detected").await;
    let mut voice: Vec<Value> = Vec::new();
    let mut carrier: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let activations = |reports: &[Value]| {
        reports
            .iter()
            .filter(|r| r["state"] == "new")
            .map(|r| r["signal_id"].as_str().unwrap_or_default().to_owned())
            .collect::<BTreeSet<String>>()
            .len()
    };
    while activations(&voice) < 3 && tokio::time::Instant::now() < deadline {
        let Some(m) = next_json(&mut ws, Duration::from_secs(1)).await else {
            continue;
        };
        let reports: Vec<Value> = match m["event"].as_str() {
            Some("signals:detected") => vec![m["data"].clone()],
            // The steady carrier may have been reported before the client connected.
            Some("snapshot") => m["data"]["signals:detected"]["signals"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            _ => continue,
        };
        for r in reports {
            let f = r["frequency_hz"].as_f64().unwrap_or(0.0);
            if (f - voice_hz).abs() < 10_000.0 {
                voice.push(r);
            } else if (f - carrier_hz).abs() < 2_000.0 {
                carrier.push(r);
            }
        }
    }
    server.stop().await.unwrap();
    let news: Vec<&Value> = voice.iter().filter(|r| r["state"] == "new").collect();
    assert!(
        news.len() >= 3,
        "3 activations of the voice within 60 s: {voice:#?}"
    );
    let signals: BTreeSet<&str> = news.iter().filter_map(|r| r["signal_id"].as_str()).collect();
    assert_eq!(
        signals.len(),
        news.len(),
        "each activation is a new signal: {news:#?}"
    );
    let emitters: BTreeSet<&str> = voice.iter().filter_map(|r| r["emitter_id"].as_str()).collect();
    assert_eq!(emitters.len(), 1, "one emitter over every activation: {voice:#?}");
    let emitter = *emitters.iter().next().expect("one");
    assert!(emitter.starts_with("em-"), "{emitter}");
    for (n, r) in news.iter().enumerate() {
        // The first one seen may be the emitter's first activation or, if the test missed
        // the start, a later one: the count rises by one each time either way.
        let count = r["activations"].as_u64().expect("activations");
        assert_eq!(
            count,
            news[0]["activations"].as_u64().unwrap_or(0) + n as u64,
            "{r}"
        );
        assert_eq!(r["first_heard"], news[0]["first_heard"], "{r}");
        assert_eq!(r["name"], "Test voice", "{r}");
        assert_eq!(r["last_heard"], r["timestamp"], "{r}");
    }
    let last = news.last().expect("3 of them");
    let duty = last["duty_cycle"].as_f64().expect("duty_cycle");
    assert!(
        duty > 0.2 && duty < 0.9,
        "on 5 s of every 10 s: duty cycle {duty}"
    );
    eprintln!(
        "voice: {} activations seen as {emitter}, duty cycle {duty:.3} at the last",
        news.len()
    );
    let carrier_ids: BTreeSet<&str> = carrier.iter().filter_map(|r| r["emitter_id"].as_str()).collect();
    assert_eq!(
        carrier_ids.len(),
        1,
        "the steady carrier is one emitter: {carrier:#?}"
    );
    assert!(
        !carrier_ids.contains(emitter),
        "the carrier is another emitter: {carrier_ids:?} vs {emitter}"
    );
    assert!(
        carrier.iter().all(|r| r["name"] == "Test carrier"),
        "{carrier:#?}"
    );
}
