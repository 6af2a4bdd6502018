//! The limits that keep one client from hurting the server or anyone else, each a config key
//! and each answered with its own HTTP status or close code — against the real server with
//! real sockets: oversized frames and messages (1009), broken frames (1002, 1007), too many
//! subscriptions, a slow handshake (408), and a plain GET on the WebSocket endpoint (426).

mod common;

use common::{connect, next_json, refused_upgrade, send, start, test_config, Ws};
use futures_util::{SinkExt, StreamExt};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

/// The close code the server ends `ws` with.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    while let Ok(Some(frame)) = tokio::time::timeout(WAIT, ws.next()).await {
        match frame {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

fn fragment(opcode: OpCode, payload: &[u8], last: bool) -> Message {
    Message::Frame(Frame::message(payload.to_vec(), opcode, last))
}

async fn assert_pong(ws: &mut Ws) {
    send(ws, r#"{"event":"ping"}"#).await;
    loop {
        let message = next_json(ws, WAIT).await.expect("an answer to ping");
        if message["event"] == "pong" {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_and_messages_are_closed_with_1009_and_others_keep_working() {
    let mut config = test_config();
    config.server.max_message_bytes = 1024;
    let server = start(config);
    let mut bystander = connect(&server, "/ws?events=").await;
    assert_eq!(
        next_json(&mut bystander, WAIT).await.unwrap()["event"],
        "snapshot"
    );

    // One frame over the limit.
    let mut big = connect(&server, "/ws?events=").await;
    let text = format!(r#"{{"event":"ping","data":{{"pad":"{}"}}}}"#, "x".repeat(2000));
    big.send(Message::Text(text.into())).await.unwrap();
    assert_eq!(close_code(&mut big).await, Some(1009));

    // Small fragments that join into a message over the limit.
    let mut fragmented = connect(&server, "/ws?events=").await;
    fragmented
        .send(fragment(OpCode::Data(Data::Text), &[b' '; 600], false))
        .await
        .unwrap();
    fragmented
        .send(fragment(OpCode::Data(Data::Continue), &[b' '; 600], true))
        .await
        .unwrap();
    assert_eq!(close_code(&mut fragmented).await, Some(1009));

    // A fragmented message within the limit is joined and answered.
    let mut polite = connect(&server, "/ws?events=").await;
    assert_eq!(next_json(&mut polite, WAIT).await.unwrap()["event"], "snapshot");
    polite
        .send(fragment(OpCode::Data(Data::Text), br#"{"event":"#, false))
        .await
        .unwrap();
    polite
        .send(fragment(OpCode::Data(Data::Continue), br#""ping","#, false))
        .await
        .unwrap();
    polite
        .send(fragment(OpCode::Data(Data::Continue), br#""data":{}}"#, true))
        .await
        .unwrap();
    assert_eq!(next_json(&mut polite, WAIT).await.unwrap()["event"], "pong");

    assert_pong(&mut bystander).await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_are_closed_with_the_protocol_codes() {
    let server = start(test_config());
    // Text that is not UTF-8.
    let mut garbled = connect(&server, "/ws?events=").await;
    garbled
        .send(fragment(OpCode::Data(Data::Text), &[0xff, 0xfe, 0x80], true))
        .await
        .unwrap();
    assert_eq!(close_code(&mut garbled).await, Some(1007));
    // A continuation with no message to continue.
    let mut orphan = connect(&server, "/ws?events=").await;
    orphan
        .send(fragment(OpCode::Data(Data::Continue), b"tail", true))
        .await
        .unwrap();
    assert_eq!(close_code(&mut orphan).await, Some(1002));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_beyond_the_limit_are_refused_with_a_reason() {
    let mut config = test_config();
    config.server.max_subscriptions = 2;
    let server = start(config);
    // The query may not name more than the limit...
    let url = format!(
        "ws://{}/ws?events=services:health,websdrs:status,signals:detected",
        server.addr
    );
    let (status, body) = refused_upgrade(&url).await;
    assert_eq!(status, 400);
    assert!(body.contains("too_many_subscriptions"), "{body}");
    // ... and neither may a subscribe message; the subscriptions stay as they were.
    let mut ws = connect(&server, "/ws?events=services:health,websdrs:status").await;
    assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "snapshot");
    send(
        &mut ws,
        r#"{"event":"subscribe","data":{"events":["signals:detected"]}}"#,
    )
    .await;
    loop {
        let message = next_json(&mut ws, WAIT).await.expect("an answer to subscribe");
        if message["event"] == "error" {
            assert_eq!(message["data"]["code"], "too_many_subscriptions", "{message}");
            break;
        }
        assert_ne!(
            message["event"], "subscriptions",
            "the subscription was accepted: {message}"
        );
    }
    // Swapping one topic for another stays within the limit.
    send(
        &mut ws,
        r#"{"event":"unsubscribe","data":{"events":["websdrs:status"]}}"#,
    )
    .await;
    send(
        &mut ws,
        r#"{"event":"subscribe","data":{"events":["signals:detected"]}}"#,
    )
    .await;
    let mut acknowledged = None;
    while let Some(message) = next_json(&mut ws, WAIT).await {
        if message["event"] == "subscriptions" {
            acknowledged = Some(message["data"]["events"].clone());
            if message["data"]["events"].as_array().is_some_and(|e| e.len() == 2) {
                break;
            }
        }
    }
    assert_eq!(
        acknowledged,
        Some(serde_json::json!(["services:health", "signals:detected"]))
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_finish_its_handshake_gets_408_and_is_disconnected() {
    let mut config = test_config();
    config.server.handshake_timeout_s = 0.5;
    let server = start(config);
    let addr = server.addr;
    let (reply, waited) = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = Instant::now();
        // Half a request head, then nothing.
        socket
            .write_all(b"GET /ws HTTP/1.1\r\nHost: sdrhub\r\nUpgrade: websocket\r\n")
            .unwrap();
        let mut reply = Vec::new();
        let _ = socket.read_to_end(&mut reply);
        (String::from_utf8_lossy(&reply).into_owned(), started.elapsed())
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "disconnected after {waited:?}"
    );
    // The server is fine.
    let mut ws = connect(&server, "/ws?events=").await;
    assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "snapshot");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_get_on_the_websocket_endpoint_says_it_needs_an_upgrade() {
    let server = start(test_config());
    let response = reqwest::get(format!("http://{}/ws/updates", server.addr))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 426);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upgrade_required");
    // An upgrade on a path that is not a WebSocket endpoint is refused with 404.
    let url = format!("ws://{}/api/v1/signals", server.addr);
    assert_eq!(refused_upgrade(&url).await.0, 404);
    server.stop().await.unwrap();
}
