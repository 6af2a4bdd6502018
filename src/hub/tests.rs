use super::*;
use crate::events::Timestamp;
use crate::events::{SignalReport, Topic};
use std::collections::VecDeque;

fn hub(numbering: Numbering) -> Hub {
    Hub::spawn(
        HubConfig {
            client_queue: 64,
            slow_client_policy: SlowClientPolicy::Close,
            recent_localizations: 10,
            replay_events: 100,
            replay_age_ns: 300_000_000_000,
            numbering,
            waterfall: None,
        },
        empty_snapshot(),
    )
}

fn gateway_hub() -> Hub {
    hub(Numbering::External)
}

fn signal(id: &str) -> Event {
    Event::SignalsDetected(SignalReport::example(id, "rx1"))
}

/// `(event, seq, signal_id)` of every message queued for `connection` by now.
async fn drain(hub: &Hub, connection: &Connection) -> Vec<(String, u64, String)> {
    // The hub answers in order: once it has answered this, it has queued everything before.
    hub.stats().await.unwrap();
    let mut queued = VecDeque::new();
    std::future::poll_fn(|cx| {
        let _ = connection.outbox.poll_take(cx, &mut queued);
        std::task::Poll::Ready(())
    })
    .await;
    queued
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(m.json()).unwrap();
            (
                v["event"].as_str().unwrap().to_string(),
                v["seq"].as_u64().unwrap(),
                v["data"]["signal_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_gateway_numbers_events_as_the_bus_does_and_ignores_what_it_has() {
    let hub = gateway_hub();
    let client = hub.connect(TopicSet::ALL).await.unwrap();
    hub.publish_numbered(signal("a"), 5).await;
    hub.publish_numbered(signal("b"), 7).await;
    // A consumer that starts over after a reconnect hands in old events again.
    hub.publish_numbered(signal("a-again"), 5).await;
    hub.publish_numbered(signal("b-again"), 7).await;
    hub.publish_numbered(signal("c"), 8).await;
    // Replies and the gateway's own news carry the latest bus seq and do not advance it.
    hub.reply(
        client.id,
        Event::Pong(crate::events::Pong {
            server_time: Timestamp(0),
        }),
    )
    .await;
    // Replies and publications travel on separate queues: wait for the reply to be queued
    // before publishing more (publications are never held back by client commands).
    hub.stats().await.unwrap();
    hub.publish(signal("local")).await;
    hub.publish_numbered(signal("d"), 9).await;
    let stats = hub.stats().await.unwrap();
    assert_eq!(stats.seq, 9);
    let got = drain(&hub, &client).await;
    let got: Vec<(&str, u64, &str)> = got.iter().map(|(e, s, i)| (e.as_str(), *s, i.as_str())).collect();
    assert_eq!(
        got,
        [
            ("snapshot", 0, ""),
            ("signals:detected", 5, "a"),
            ("signals:detected", 7, "b"),
            ("signals:detected", 8, "c"),
            ("pong", 8, ""),
            ("signals:detected", 8, "local"),
            ("signals:detected", 9, "d"),
        ]
    );
    // Before seq 5 nothing is held; from 5 on, bus events are replayed, local ones not.
    assert_eq!(stats.replay_from_seq, 4);
    let resumed = hub.resume(TopicSet::ALL, TopicSet::ALL, Some(7)).await.unwrap();
    let replayed: Vec<u64> = drain(&hub, &resumed).await.iter().map(|m| m.1).collect();
    assert_eq!(replayed, [8, 9]);
    let too_old = hub.resume(TopicSet::ALL, TopicSet::ALL, Some(3)).await.unwrap();
    assert_eq!(drain(&hub, &too_old).await[0].0, "resync");
    let topics = TopicSet::NONE.with(Topic::ServicesHealth);
    let filtered = hub.resume(topics, TopicSet::ALL, Some(5)).await.unwrap();
    assert!(drain(&hub, &filtered).await.is_empty());
}

#[tokio::test]
async fn a_client_ahead_of_the_gateway_waits_for_it_to_catch_up() {
    let hub = gateway_hub();
    hub.publish_numbered(signal("a"), 1).await;
    // A client that saw seq 3 on a gateway further ahead.
    let waiting = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.resume(TopicSet::ALL, TopicSet::ALL, Some(3)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        !waiting.is_finished(),
        "answered before the gateway reached seq 3"
    );
    hub.publish_numbered(signal("b"), 2).await;
    hub.publish_numbered(signal("c"), 3).await;
    hub.publish_numbered(signal("d"), 4).await;
    let connection = waiting.await.unwrap().unwrap();
    let got: Vec<(u64, String)> = drain(&hub, &connection)
        .await
        .into_iter()
        .map(|m| (m.1, m.2))
        .collect();
    // Nothing before its position, nothing twice: the events after 3.
    assert_eq!(got, [(4, "d".to_string())]);
}

#[tokio::test(start_paused = true)]
async fn a_client_ahead_of_a_gateway_that_does_not_catch_up_gets_a_resync() {
    let hub = gateway_hub();
    hub.publish_numbered(signal("a"), 1).await;
    let started = tokio::time::Instant::now();
    let connection = hub.resume(TopicSet::ALL, TopicSet::ALL, Some(50)).await.unwrap();
    assert!(started.elapsed() >= RESUME_CATCH_UP);
    let got = drain(&hub, &connection).await;
    assert_eq!((got[0].0.as_str(), got[0].1), ("resync", 1));
}

#[tokio::test]
async fn serve_numbering_is_unchanged_by_bus_numbers() {
    let hub = hub(Numbering::Local);
    let client = hub.connect(TopicSet::ALL).await.unwrap();
    hub.publish_numbered(signal("a"), 100).await;
    hub.publish(signal("b")).await;
    let seqs: Vec<u64> = drain(&hub, &client).await.iter().map(|m| m.1).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[tokio::test]
async fn a_restricted_client_is_resynced_with_its_topics_only() {
    let hub = Hub::spawn(
        HubConfig {
            client_queue: 2,
            slow_client_policy: SlowClientPolicy::Resync,
            recent_localizations: 10,
            replay_events: 100,
            replay_age_ns: 300_000_000_000,
            numbering: Numbering::Local,
            waterfall: None,
        },
        empty_snapshot(),
    );
    let allowed = TopicSet::NONE.with(Topic::SignalsDetected);
    let client = hub.resume(allowed, allowed, None).await.unwrap();
    let take = || async {
        hub.stats().await.unwrap();
        let mut queued = VecDeque::new();
        std::future::poll_fn(|cx| {
            let _ = client.outbox.poll_take(cx, &mut queued);
            std::task::Poll::Ready(())
        })
        .await;
        queued
            .iter()
            .map(|m| serde_json::from_slice::<serde_json::Value>(m.json()).unwrap())
            .collect::<Vec<_>>()
    };
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v["data"].as_object().unwrap().keys().cloned().collect() };
    // The snapshot and one event fill the queue of 2; the next ones find it full.
    for n in 0..3 {
        hub.publish(signal(&format!("s{n}"))).await;
    }
    let first = take().await;
    assert_eq!(first[0]["event"], "snapshot");
    assert_eq!(keys(&first[0]), ["signals:detected"]);
    // Drained: the next event brings a resync, again with the allowed topic only.
    hub.publish(signal("s3")).await;
    let second = take().await;
    assert_eq!(second[0]["event"], "resync");
    assert_eq!(keys(&second[0]), ["signals:detected"]);
}

#[test]
fn histogram_quantiles_name_the_bucket_they_fall_in() {
    let histogram = Histogram::new(LATENCY_BUCKETS_S);
    assert_eq!(histogram.quantile_bound(0.5), None);
    for _ in 0..98 {
        histogram.observe(0.0003);
    }
    histogram.observe(0.02);
    histogram.observe(0.02);
    assert_eq!(histogram.quantile_bound(0.5), Some(0.0005));
    assert_eq!(histogram.quantile_bound(0.99), Some(0.025));
    histogram.observe(60.0);
    assert_eq!(histogram.quantile_bound(1.0), None, "beyond the last bound");
}

fn alert(id: &str, state: crate::events::AlertState) -> Event {
    use crate::events::{AlertKind, AlertReport, Severity};
    Event::AlertsRaised(AlertReport {
        alert_id: id.into(),
        rule: "r".into(),
        kind: AlertKind::Level,
        severity: Severity::Warning,
        state,
        signal_id: None,
        emitter_id: "sig-1".into(),
        receivers: vec!["rx1".into()],
        frequency_hz: None,
        labels: Default::default(),
        message: String::new(),
        raised_at: Timestamp(1),
        resolved_at: None,
        acked: false,
    })
}

#[tokio::test]
async fn the_tap_copies_events_of_state_never_waits_and_counts_what_it_drops() {
    use crate::events::AlertState;
    let hub = hub(Numbering::Local);
    let (tap, mut copies, dropped) = Tap::new(2);
    hub.tap(tap).await;
    // Its own alerts are not fed back to the engine.
    hub.publish(alert("alert-1", AlertState::Raised)).await;
    for id in ["a", "b", "c", "d"] {
        hub.publish(signal(id)).await;
    }
    // The hub went on: its state has every signal, though the tap held only two.
    let state = hub.current_state().await.unwrap();
    assert_eq!(state.signals_detected.signals.len(), 4);
    assert_eq!(state.alerts_raised.alerts.len(), 1);
    assert_eq!(dropped.load(std::sync::atomic::Ordering::Relaxed), 2);
    let mut got = Vec::new();
    while let Ok(event) = copies.try_recv() {
        got.push(event);
    }
    assert_eq!(got, vec![signal("a"), signal("b")]);
    // A resolved alert leaves the active set.
    hub.publish(alert("alert-1", AlertState::Resolved)).await;
    let state = hub.current_state().await.unwrap();
    assert!(state.alerts_raised.alerts.is_empty());
    let client = hub.connect(TopicSet::DEFAULT).await.unwrap();
    let snapshot = drain(&hub, &client).await;
    assert_eq!(snapshot[0].0, "snapshot");
}
