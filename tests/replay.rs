//! Resume after a disconnect (`?since=<seq>`), `resync` when the position is gone, and the
//! `resync` slow-client policy: the real server, real WebSocket clients, events published into
//! its hub.

mod common;

use common::{connect, fake_signal, next_json, quiet_config, start, Ws};
use sdrhub::hub::SlowClientPolicy;
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// The `(seq, signal_id)` of the next `count` `signals:detected` messages.
async fn signals(ws: &mut Ws, count: usize) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while out.len() < count {
        let m = next_json(ws, WAIT).await.expect("a message");
        if m["event"] == "signals:detected" {
            out.push((
                m["seq"].as_u64().unwrap(),
                m["data"]["signal_id"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_resumes_gets_exactly_the_events_it_missed_then_live_ones() {
    let server = start(quiet_config());
    let hub = server.hub().clone();
    // The reference client stays connected throughout.
    let mut reference = connect(&server, "/ws?events=signals:detected").await;
    let mut client = connect(&server, "/ws?events=signals:detected").await;
    assert_eq!(
        next_json(&mut reference, WAIT).await.unwrap()["event"],
        "snapshot"
    );
    assert_eq!(next_json(&mut client, WAIT).await.unwrap()["event"], "snapshot");
    for n in 0..5 {
        hub.publish(fake_signal("replay", n, 1)).await;
    }
    let seen = signals(&mut client, 5).await;
    let last = seen.last().unwrap().0;
    drop(client);
    for n in 5..25 {
        hub.publish(fake_signal("replay", n, 1)).await;
    }
    let all = signals(&mut reference, 25).await;
    let missed: Vec<_> = all.iter().filter(|(seq, _)| *seq > last).cloned().collect();
    assert_eq!(missed.len(), 20);

    let mut resumed = connect(&server, &format!("/ws?events=signals:detected&since={last}")).await;
    // No snapshot: the missed events, in order, no gaps, no duplicates...
    let replayed = signals(&mut resumed, 20).await;
    assert_eq!(replayed, missed);
    // ... then live ones, the same as the reference client's.
    hub.publish(fake_signal("replay", 99, 1)).await;
    let live = signals(&mut resumed, 1).await;
    assert_eq!(live, signals(&mut reference, 1).await);
    assert_eq!(live[0].1, "replay-99");
    let (_, stats) = common::get_json(&server, "/api/v1/ws/stats").await;
    assert_eq!(stats["resumes"], 1, "{stats}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_a_position_no_longer_retained_gets_a_resync() {
    let mut config = quiet_config();
    config.server.replay_events = 5;
    let server = start(config);
    let hub = server.hub().clone();
    let mut client = connect(&server, "/ws?events=signals:detected").await;
    assert_eq!(next_json(&mut client, WAIT).await.unwrap()["event"], "snapshot");
    hub.publish(fake_signal("replay", 0, 1)).await;
    let last = signals(&mut client, 1).await[0].0;
    drop(client);
    for n in 1..20 {
        hub.publish(fake_signal("replay", n, 1)).await;
    }
    let expect_resync = |m: Value| {
        assert_eq!(m["event"], "resync", "{m}");
        for topic in [
            "services:health",
            "websdrs:status",
            "signals:detected",
            "localizations:updated",
        ] {
            assert!(m["data"].get(topic).is_some(), "resync carries {topic}: {m}");
        }
    };
    // 19 events were published since, only 5 are kept.
    let mut resumed = connect(&server, &format!("/ws?events=signals:detected&since={last}")).await;
    expect_resync(next_json(&mut resumed, WAIT).await.unwrap());
    // A position from the future (the server restarted and counts from 0 again).
    let mut future = connect(&server, "/ws?since=999999999").await;
    expect_resync(next_json(&mut future, WAIT).await.unwrap());
    // Live events follow the resync.
    hub.publish(fake_signal("replay", 100, 1)).await;
    assert_eq!(signals(&mut resumed, 1).await[0].1, "replay-100");
    // A malformed position is refused before the upgrade.
    let response = reqwest::get(format!("http://{}/ws?since=yesterday", server.addr))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "bad_since");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_resync_policy_a_stalled_client_is_skipped_ahead_not_closed() {
    let mut config = quiet_config();
    // Deep enough that the reading client keeps up on a busy machine (a reader that falls
    // 4096 events behind would itself be resynced), and still far below what the stalled
    // client is sent: its socket buffers hold a few thousand of these 2 kB events at most.
    config.server.client_queue = 4096;
    config.server.slow_client_policy = SlowClientPolicy::Resync;
    let server = start(config);
    let hub = server.hub().clone();
    let mut stalled = connect(&server, "/ws?events=signals:detected").await;
    let mut live = connect(&server, "/ws?events=signals:detected").await;
    assert_eq!(next_json(&mut live, WAIT).await.unwrap()["event"], "snapshot");
    // About 20 MB of 2 kB events while `stalled` reads nothing: more than its socket buffers
    // and its 4096-message queue.
    const EVENTS: u64 = 10_000;
    let publisher = tokio::spawn(async move {
        for n in 0..EVENTS {
            hub.publish(fake_signal("replay", n, 120)).await;
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    // The live client gets every event, in order.
    let got = signals(&mut live, EVENTS as usize).await;
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    publisher.await.unwrap();
    // Now the stalled client reads: what was queued, then a resync once it has drained (the
    // next event triggers it), then live events; never a close.
    let hub = server.hub().clone();
    let mut saw_resync = false;
    let mut after_resync = 0;
    let mut seen = 0;
    let drain = tokio::spawn(async move {
        for n in 0..200u64 {
            hub.publish(fake_signal("replay", EVENTS + n, 1)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    while let Some(m) = next_json(&mut stalled, WAIT).await {
        seen += 1;
        if m["event"] == "resync" {
            saw_resync = true;
        } else if saw_resync && m["event"] == "signals:detected" {
            after_resync += 1;
            if after_resync == 5 {
                break;
            }
        }
    }
    drain.abort();
    assert!(saw_resync, "no resync after {seen} messages");
    assert_eq!(after_resync, 5, "live events after the resync");
    assert!(
        seen < EVENTS as usize,
        "the stalled client skipped ahead ({seen} messages)"
    );
    let (_, stats) = common::get_json(&server, "/api/v1/ws/stats").await;
    assert!(stats["resyncs"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["slow_clients_closed"], 0, "{stats}");
    assert_eq!(stats["connections"], 2, "{stats}");
    server.stop().await.unwrap();
}
