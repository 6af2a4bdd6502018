//! The WebSocket protocol, tested against the real server over real sockets with a real client.

mod common;

use common::*;
use sdrhub::events::Timestamp;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn is_rfc3339_ms_utc(text: &str) -> bool {
    // 2026-11-22T10:00:00.123Z
    let b = text.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_has_the_envelope_and_seq_strictly_increases_but_a_pong_repeats_it() {
    let server = start(test_config());
    let mut ws = connect(&server, "/ws/updates").await;
    send(&mut ws, r#"{"event":"ping","data":{}}"#).await;
    let mut last_seq = 0u64;
    let mut events = HashSet::new();
    for _ in 0..12 {
        let message = next_json(&mut ws, WAIT).await.expect("a message");
        assert_eq!(keys(&message), ["data", "event", "seq", "timestamp"], "{message}");
        let seq = message["seq"].as_u64().expect("seq is an unsigned integer");
        // A pong repeats the seq of the message before it (the session answers it without the
        // hub); everything else moves it up.
        if message["event"] == "pong" {
            assert_eq!(seq, last_seq, "pong seq {seq} after {last_seq}");
        } else {
            assert!(seq > last_seq, "seq {seq} after {last_seq}");
        }
        last_seq = seq;
        assert!(
            is_rfc3339_ms_utc(message["timestamp"].as_str().unwrap()),
            "{}",
            message["timestamp"]
        );
        assert!(message["data"].is_object());
        events.insert(message["event"].as_str().unwrap().to_string());
    }
    assert!(
        events.contains("pong") && events.contains("services:health"),
        "{events:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_message_is_a_snapshot_of_all_topics_of_state() {
    let server = start(test_config());
    // Even a client that subscribes to one topic gets the whole state first.
    for path in ["/ws/updates", "/ws?events=signals:detected"] {
        let mut ws = connect(&server, path).await;
        let first = next_json(&mut ws, WAIT).await.expect("snapshot");
        assert_eq!(first["event"], "snapshot", "{first}");
        let data = &first["data"];
        assert_eq!(
            keys(data),
            [
                "alerts:raised",
                "localizations:updated",
                "services:health",
                "signals:detected",
                "websdrs:status"
            ]
        );
        assert!(data["services:health"]["services"].is_array());
        assert!(data["websdrs:status"]["websdrs"].is_array());
        assert!(data["signals:detected"]["signals"].is_array());
        assert!(data["localizations:updated"]["localizations"].is_array());
        assert!(data["alerts:raised"]["alerts"].is_array());
    }
    // Once the receivers are up, a new client's snapshot lists them at once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut ws = connect(&server, "/ws").await;
    let first = next_json(&mut ws, WAIT).await.expect("snapshot");
    assert_eq!(
        first["data"]["websdrs:status"]["websdrs"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "{first}"
    );
    server.stop().await.unwrap();
}

/// Collects the event names received during `window`.
async fn events_during(ws: &mut Ws, window: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + window;
    let mut names = Vec::new();
    while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
        match next_json(ws, left).await {
            Some(message) => names.push(message["event"].as_str().unwrap().to_string()),
            None => break,
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_filtered_on_the_server() {
    let server = start(test_config());
    let mut ws = connect(&server, "/ws/updates?events=websdrs:status").await;
    assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "snapshot");
    // Health is broadcast every 0.5 s, but this client did not ask for it.
    let names = events_during(&mut ws, Duration::from_secs(2)).await;
    assert!(names.iter().any(|n| n == "websdrs:status"), "{names:?}");
    assert!(names.iter().all(|n| n == "websdrs:status"), "{names:?}");

    send(
        &mut ws,
        r#"{"event":"subscribe","data":{"events":["services:health"]}}"#,
    )
    .await;
    let (ack, _) = until_event(&mut ws, "subscriptions", WAIT).await;
    assert_eq!(
        ack.unwrap()["data"]["events"],
        serde_json::json!(["services:health", "websdrs:status"])
    );
    let names = events_during(&mut ws, Duration::from_secs(2)).await;
    assert!(names.iter().any(|n| n == "services:health"), "{names:?}");

    send(
        &mut ws,
        r#"{"event":"unsubscribe","data":{"events":["websdrs:status"]}}"#,
    )
    .await;
    let (ack, _) = until_event(&mut ws, "subscriptions", WAIT).await;
    assert_eq!(
        ack.unwrap()["data"]["events"],
        serde_json::json!(["services:health"])
    );
    let names = events_during(&mut ws, Duration::from_secs(2)).await;
    assert!(names.iter().any(|n| n == "services:health"), "{names:?}");
    assert!(!names.iter().any(|n| n == "websdrs:status"), "{names:?}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_with_pong_and_the_server_time() {
    let server = start(test_config());
    let mut ws = connect(&server, "/ws?events=").await;
    assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "snapshot");
    let before = Timestamp::now().to_rfc3339();
    send(&mut ws, r#"{"event":"ping","data":{}}"#).await;
    let pong = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(pong["event"], "pong");
    let server_time = pong["data"]["server_time"].as_str().unwrap();
    assert!(is_rfc3339_ms_utc(server_time));
    assert!(server_time >= before.as_str(), "{server_time} < {before}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_an_error_and_the_connection_survives() {
    let server = start(test_config());
    let mut ws = connect(&server, "/ws?events=").await;
    assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "snapshot");
    let cases = [
        ("{not json", "bad_json"),
        ("[1, 2, 3]", "bad_message"),
        (r#"{"data":{}}"#, "bad_message"),
        (r#"{"event": 42, "data": {}}"#, "bad_message"),
        (
            r#"{"event":"subscribe","data":{"events":"signals:detected"}}"#,
            "bad_message",
        ),
        (r#"{"event":"subscribe","data":{"events":[1, 2]}}"#, "bad_message"),
        (r#"{"event":"launch","data":{}}"#, "unknown_event"),
        (
            r#"{"event":"subscribe","data":{"events":["weather:report"]}}"#,
            "unknown_topic",
        ),
    ];
    for (input, code) in cases {
        send(&mut ws, input).await;
        let reply = next_json(&mut ws, WAIT)
            .await
            .expect("the connection is still open");
        assert_eq!(reply["event"], "error", "{input} -> {reply}");
        assert_eq!(reply["data"]["code"], code, "{input} -> {reply}");
        assert!(!reply["data"]["message"].as_str().unwrap().is_empty());
    }
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        vec![1, 2, 3].into(),
    ))
    .await
    .unwrap();
    let reply = next_json(&mut ws, WAIT).await.unwrap();
    assert_eq!(reply["data"]["code"], "unsupported_frame");
    // A 60 kB name is not sent back whole: the message quotes its start and says how long it was.
    let long = "x".repeat(60_000);
    for (input, code) in [
        (format!(r#"{{"event":"{long}","data":{{}}}}"#), "unknown_event"),
        (
            format!(r#"{{"event":"subscribe","data":{{"events":["{long}"]}}}}"#),
            "unknown_topic",
        ),
        (
            format!(r#"{{"event":"listen","data":{{"receiver":"{long}","frequency_hz":1e6,"mode":"am"}}}}"#),
            "listen_refused",
        ),
        (
            format!(r#"{{"event":"listen","data":{{"receiver":"rx1","frequency_hz":1e6,"mode":"{long}"}}}}"#),
            "bad_message",
        ),
    ] {
        send(&mut ws, &input).await;
        let reply = next_json(&mut ws, WAIT).await.unwrap();
        let message = reply["data"]["message"].as_str().unwrap();
        assert_eq!(reply["data"]["code"], code, "{message}");
        assert!(
            message.len() < 400 && message.contains("(60000 bytes)"),
            "{message}"
        );
    }
    // After all that, the session works normally.
    send(&mut ws, r#"{"event":"ping","data":{}}"#).await;
    assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "pong");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topic_in_the_query_is_refused_with_a_clear_message() {
    let server = start(test_config());
    let url = format!("ws://{}/ws?events=signals:detected,nope", server.addr);
    let (status, body) = common::refused_upgrade(&url).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("nope") && body.contains("signals:detected"),
        "{body}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_delay_another_clients_events() {
    let mut config = test_config();
    config.server.client_queue = 1024;
    let server = start(config);
    // The stalled client subscribes and then never reads a byte.
    let mut stalled = connect(&server, "/ws?events=signals:detected").await;
    let mut live = connect(&server, "/ws?events=signals:detected").await;
    assert_eq!(next_json(&mut live, WAIT).await.unwrap()["event"], "snapshot");

    // 30 MB at about 4000 events/s: far more than the stalled client's socket buffers and queue.
    const EVENTS: u64 = 30_000;
    let hub = server.hub().clone();
    let publisher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for n in 0..EVENTS {
            if n % 40 == 0 {
                tick.tick().await;
            }
            hub.publish(fake_signal("load", n, 60)).await;
        }
    });
    let mut expected = 0;
    let mut last_seq = 0;
    let mut latencies_ms = Vec::with_capacity(EVENTS as usize);
    while expected < EVENTS {
        let message = next_json(&mut live, WAIT)
            .await
            .expect("the live client keeps receiving");
        let id = message["data"]["signal_id"].as_str().unwrap_or("");
        if message["event"] != "signals:detected" || !id.starts_with("load-") {
            continue;
        }
        let sent = chrono::DateTime::parse_from_rfc3339(message["timestamp"].as_str().unwrap()).unwrap();
        latencies_ms.push((chrono::Utc::now() - sent.with_timezone(&chrono::Utc)).num_milliseconds());
        assert_eq!(id, format!("load-{expected}"), "in order, none missing");
        assert!(message["seq"].as_u64().unwrap() > last_seq);
        last_seq = message["seq"].as_u64().unwrap();
        expected += 1;
    }
    publisher.await.unwrap();
    latencies_ms.sort_unstable();
    let p99 = latencies_ms[latencies_ms.len() * 99 / 100];
    // Envelope time to receipt for the live client, while the other one is stalled.
    assert!(p99 < 1_000, "p99 latency {p99} ms");

    // The stalled client was closed by the slow-client policy, and the close says why.
    let stats = get_json(&server, "/api/v1/ws/stats").await.1;
    assert!(stats["slow_clients_closed"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["messages_dropped"].as_u64().unwrap() >= 1, "{stats}");
    // The server's own view of its lag agrees: events reached sockets quickly.
    let p99_ms = stats["fanout_latency_p99_ms"].as_f64().expect("a fan-out p99");
    assert!(p99_ms > 0.0 && p99_ms <= 1_000.0, "{stats}");
    let mut close = None;
    while let Ok(Some(frame)) = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut stalled)).await
    {
        if let Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) = frame {
            close = frame;
            break;
        }
    }
    let close = close.expect("a close frame after the queued messages");
    assert_eq!(u16::from(close.code), 1013);
    assert!(close.reason.contains("slow consumer"), "{}", close.reason);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_answering_pings_is_closed_and_cleaned_up() {
    let mut config = test_config();
    config.server.heartbeat_interval_s = 0.2;
    config.server.heartbeat_timeout_s = 0.8;
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=").await;
    assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "snapshot");
    // Reading answers the server's pings automatically: the client stays.
    let _ = events_during(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(get_json(&server, "/api/v1/ws/stats").await.1["connections"], 1);
    // A client that goes silent (stops reading, so stops answering pings) is dropped.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(get_json(&server, "/api/v1/ws/stats").await.1["connections"], 0);
    drop(ws);
    server.stop().await.unwrap();
}

/// Collects one payload of each broadcast event type.
async fn one_of_each(ws: &mut Ws) -> std::collections::HashMap<String, Value> {
    let mut found = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while found.len() < 4 {
        let left = deadline
            .checked_duration_since(tokio::time::Instant::now())
            .expect("all four events in 30 s");
        let message = next_json(ws, left).await.expect("a message");
        let event = message["event"].as_str().unwrap().to_string();
        if event != "snapshot" {
            found.insert(event, message["data"].clone());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_payloads_have_the_same_shapes_as_the_events() {
    let server = start(test_config());
    let mut ws = connect(&server, "/ws/updates").await;
    let events = one_of_each(&mut ws).await;

    let (status, websdrs) = get_json(&server, "/api/v1/websdrs").await;
    assert_eq!(status, 200);
    assert_eq!(keys(&websdrs), keys(&events["websdrs:status"]));
    assert_eq!(
        keys(&websdrs["websdrs"][0]),
        keys(&events["websdrs:status"]["websdrs"][0])
    );

    let (_, health) = get_json(&server, "/api/v1/system/status").await;
    let mut expected = keys(&events["services:health"]);
    expected.extend(["uptime_s".to_string(), "version".to_string()]);
    expected.sort();
    assert_eq!(keys(&health), expected);
    assert_eq!(
        keys(&health["services"][0]),
        keys(&events["services:health"]["services"][0])
    );

    let (_, signals) = get_json(&server, "/api/v1/signals").await;
    let first = &signals["signals"][0];
    assert_eq!(keys(first), keys(&events["signals:detected"]), "{signals}");

    let (_, localizations) = get_json(&server, "/api/v1/localizations").await;
    let first = &localizations["localizations"][0];
    assert_eq!(
        keys(first),
        keys(&events["localizations:updated"]),
        "{localizations}"
    );
    assert_eq!(
        keys(&first["ellipse"]),
        ["orientation_deg", "semi_major_m", "semi_minor_m"]
    );

    let (_, stats) = get_json(&server, "/api/v1/ws/stats").await;
    assert_eq!(stats["connections"], 1);
    assert!(
        stats["messages_sent"]["snapshot"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    let (status, healthz) = get_json(&server, "/healthz").await;
    assert_eq!(status, 200);
    assert!(healthz["status"].is_string());
    let (status, missing) = get_json(&server, "/api/v1/nothing").await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_client_with_going_away() {
    let server = start(test_config());
    let mut ws = connect(&server, "/ws?events=").await;
    assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "snapshot");
    let stopping = tokio::spawn(server.stop());
    let mut code = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut ws)).await {
        if let tokio_tungstenite::tungstenite::Message::Close(frame) = frame {
            code = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(code, Some(1001));
    stopping.await.unwrap().unwrap();
}

type SmallBufferWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A client connected through a socket with a 4 KiB receive buffer (so the server's writes to
/// it fill up after a frame or two whenever it stops reading).
async fn connect_small_buffer(server: &sdrhub::roles::RunningServer, path: &str) -> SmallBufferWs {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.expect("tcp connects");
    let url = format!("ws://{}{}", server.addr, path);
    tokio_tungstenite::client_async(url, stream)
        .await
        .expect("websocket connects")
        .0
}

/// How a test reader behaves.
struct Reader {
    /// Listen to this (receiver, frequency) first: the server then gives the socket a small
    /// send buffer, so its events queue while the reader pauses.
    listen: Option<(&'static str, f64)>,
    /// Pause after every this many events ...
    every: u64,
    /// ... for this long.
    pause: Duration,
}

/// The next text message (binary audio skipped), or what went wrong.
async fn next_text(ws: &mut SmallBufferWs, after: &str) -> Result<Value, String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| format!("nothing for {WAIT:?} after {after}"))?
            .ok_or("the server closed the connection")?
            .map_err(|e| format!("not a valid WebSocket stream after {after}: {e}"))?;
        match frame {
            Message::Text(text) => {
                return serde_json::from_str(&text).map_err(|e| format!("not JSON after {after}: {e}"))
            }
            Message::Close(close) => return Err(format!("closed after {after}: {close:?}")),
            _ => continue,
        }
    }
}

/// Takes the snapshot (and starts listening), says so on `ready`, then reads `count` test
/// events (`load-0` ...) as `reader` says; returns the first thing that is wrong, if any.
async fn read_in_order(
    mut ws: SmallBufferWs,
    reader: Reader,
    count: u64,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<(), String> {
    use futures_util::SinkExt;
    let first = next_text(&mut ws, "the upgrade").await?;
    if first["event"] != "snapshot" {
        return Err(format!("the first message is not the snapshot: {first}"));
    }
    if let Some((receiver, frequency_hz)) = reader.listen {
        let request = serde_json::json!({"event": "listen", "data": {"receiver": receiver, "frequency_hz": frequency_hz, "mode": "cw"}});
        ws.send(tokio_tungstenite::tungstenite::Message::Text(
            request.to_string().into(),
        ))
        .await
        .map_err(|e| e.to_string())?;
        let answer = next_text(&mut ws, "listen").await?;
        if answer["event"] != "listening" {
            return Err(format!("listen was answered with {answer}"));
        }
    }
    let _ = ready.send(());
    let mut last_seq = 0;
    for next in 0..count {
        let message = next_text(&mut ws, &format!("load-{next}")).await?;
        let id = message["data"]["signal_id"].as_str().unwrap_or("");
        if message["event"] != "signals:detected" || id != format!("load-{next}") {
            return Err(format!("expected load-{next}, got {message}"));
        }
        let seq = message["seq"].as_u64().unwrap_or(0);
        if seq <= last_seq {
            return Err(format!("seq {seq} after {last_seq}"));
        }
        last_seq = seq;
        if (next + 1) % reader.every == 0 {
            tokio::time::sleep(reader.pause).await;
        }
    }
    Ok(())
}

/// Whatever way an event reaches a socket (written by the publishing thread while the client has
/// nothing queued, started there and finished by the client's connection when the socket takes
/// only part of it, or queued for the connection), a client that is not ours (tungstenite) reads
/// whole frames, every event, in order: one reader that keeps up, and one that listens (so the
/// server gives its socket a small send buffer) and stops reading now and then; both read
/// through 4 KiB receive buffers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_and_pausing_readers_with_small_buffers_get_every_event_whole_and_in_order() {
    let mut config = quiet_config();
    // This test is about the bytes on the wire, not the slow-client policy: nothing may drop.
    config.server.client_queue = 10_000;
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    let server = start(config);
    const EVENTS: u64 = 3_000;
    let readers = [
        Reader {
            listen: None,
            every: EVENTS,
            pause: Duration::ZERO,
        },
        Reader {
            listen: Some(("rx1", carrier_hz)),
            every: 150,
            pause: Duration::from_millis(150),
        },
    ];
    let mut tasks = Vec::new();
    for reader in readers {
        let ws = connect_small_buffer(&server, "/ws?events=signals:detected").await;
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        tasks.push(tokio::spawn(read_in_order(ws, reader, EVENTS, ready)));
        is_ready.await.expect("the reader is ready");
    }
    let hub = server.hub().clone();
    // About 500 events/s of 2 kB each.
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for n in 0..EVENTS {
        if n % 5 == 0 {
            tick.tick().await;
        }
        hub.publish(fake_signal("load", n, 100)).await;
    }
    for (task, who) in tasks
        .into_iter()
        .zip(["the reader that keeps up", "the reader that pauses"])
    {
        task.await.unwrap().expect(who);
    }

    let stats = get_json(&server, "/api/v1/ws/stats").await.1;
    println!("{stats}");
    assert_eq!(stats["messages_dropped"], 0, "{stats}");
    assert_eq!(stats["slow_clients_closed"], 0, "{stats}");
    assert_eq!(stats["resyncs"], 0, "{stats}");
    // All three ways in were taken: whole writes by the publishing thread, writes it started
    // that the connection finished (once or so per pause), and the connection's queue.
    let sent = stats["messages_sent"]["signals:detected"].as_u64().unwrap();
    let whole = stats["direct_writes"].as_u64().unwrap();
    let partial = stats["direct_writes_partial"].as_u64().unwrap();
    assert_eq!(sent, 2 * EVENTS, "{stats}");
    assert!(whole > 0 && partial > 0 && whole + partial < sent, "{stats}");
    server.stop().await.unwrap();
}
