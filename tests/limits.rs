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
    // 1 s, not less: the honest client at the end must finish its handshake within it while
    // the other tests of this file load the machine (0.5 s once timed it out in a gate run).
    config.server.handshake_timeout_s = 1.0;
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
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
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

/// A masked client frame.
fn raw_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![first_byte];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A blocking socket upgraded to a WebSocket on `path` (the 101 and its head read).
fn raw_upgrade(addr: std::net::SocketAddr, path: &str) -> std::net::TcpStream {
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: sdrhub\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        socket.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    socket
}

/// Reads server frames until a close frame; its code, and what came after it (Ok(0): a clean
/// FIN, Err: e.g. a reset), with how long after the close frame that answer came.
fn read_until_close(socket: &mut std::net::TcpStream) -> (u16, std::io::Result<usize>, Duration) {
    loop {
        let mut head = [0u8; 2];
        socket.read_exact(&mut head).unwrap();
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                socket.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                socket.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        socket.read_exact(&mut payload).unwrap();
        if head[0] & 0x0f == 0x8 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let at = Instant::now();
            let mut rest = [0u8; 64];
            let after = socket.read(&mut rest);
            return (code, after, at.elapsed());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_protocol_error_the_server_closes_tcp_within_100_ms_of_its_close_frame() {
    let server = start(test_config());
    let addr = server.addr;
    let (code, after, waited) = tokio::task::spawn_blocking(move || {
        let mut socket = raw_upgrade(addr, "/ws?events=");
        // An unmasked frame, then bytes that will never be parsed.
        socket.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        socket.write_all(&[0u8; 4096]).unwrap();
        read_until_close(&mut socket)
    })
    .await
    .unwrap();
    assert_eq!(code, 1002);
    assert!(matches!(after, Ok(0)), "after the close frame: {after:?}");
    assert!(
        waited < Duration::from_millis(100),
        "TCP closed {waited:?} after the close frame"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_with_unread_bytes_behind_it_ends_in_a_fin_not_a_reset() {
    let server = start(test_config());
    let addr = server.addr;
    let (code, after, _) = tokio::task::spawn_blocking(move || {
        let mut socket = raw_upgrade(addr, "/ws?events=");
        // The client's close, then 64 KiB the server will not read as frames.
        let mut bytes = raw_frame(0x88, &4000u16.to_be_bytes());
        bytes.extend(std::iter::repeat_n(0u8, 64 * 1024));
        socket.write_all(&bytes).unwrap();
        read_until_close(&mut socket)
    })
    .await
    .unwrap();
    assert_eq!(code, 4000, "the close code is echoed");
    // Without the half-close and drain, the unread bytes turn the server's close into a reset.
    assert!(matches!(after, Ok(0)), "after the close frame: {after:?}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_head_trickled_after_a_harmless_request_is_timed_from_its_first_byte() {
    let mut config = test_config();
    config.server.handshake_timeout_s = 1.0;
    let server = start(config);
    let addr = server.addr;
    let (outcome, waited) = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: sdrhub\r\n\r\n")
            .unwrap();
        let mut reply = [0u8; 4096];
        let n = socket.read(&mut reply).unwrap();
        assert!(
            reply[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&reply[..n])
        );
        // Now an upgrade head, one byte every 200 ms (it would take 40 s).
        let head = b"GET /ws HTTP/1.1\r\nHost: sdrhub\r\nUpgrade: websocket\r\n\r\n";
        let started = Instant::now();
        for byte in head {
            if socket.write_all(&[*byte]).is_err() {
                return ("write refused", started.elapsed());
            }
            match socket.read(&mut reply) {
                Ok(0) => return ("closed", started.elapsed()),
                Ok(_) => return ("answered", started.elapsed()),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return ("reset", started.elapsed()),
            }
        }
        ("completed", started.elapsed())
    })
    .await
    .unwrap();
    assert!(
        outcome == "closed" || outcome == "reset" || outcome == "write refused",
        "{outcome}"
    );
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_millis(2500),
        "disconnected {waited:?} after the first byte of the upgrade head"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_websocket_version_gets_426_naming_version_13() {
    let server = start(test_config());
    let addr = server.addr;
    let reply = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        socket
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: sdrhub\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            )
            .unwrap();
        let mut reply = Vec::new();
        let _ = socket.read_to_end(&mut reply);
        String::from_utf8_lossy(&reply).to_lowercase()
    })
    .await
    .unwrap();
    assert!(reply.starts_with("http/1.1 426"), "{reply}");
    assert!(reply.contains("sec-websocket-version: 13\r\n"), "{reply}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_trickled_byte_by_byte_does_not_keep_a_connection_alive() {
    let mut config = test_config();
    config.server.heartbeat_interval_s = 0.25;
    config.server.heartbeat_timeout_s = 1.0;
    let server = start(config);
    let addr = server.addr;
    let (code, waited) = tokio::task::spawn_blocking(move || {
        let mut socket = raw_upgrade(addr, "/ws?events=");
        let mut reader = socket.try_clone().unwrap();
        // Everything the server sends (its pings, then its close), until it closes.
        let collected = std::thread::spawn(move || {
            let started = Instant::now();
            let mut bytes = Vec::new();
            let mut chunk = [0u8; 1024];
            // The close frame is the last thing the server sends: when it arrived.
            let mut last_arrival = Duration::ZERO;
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                last_arrival = started.elapsed();
                bytes.extend_from_slice(&chunk[..n]);
            }
            (bytes, last_arrival)
        });
        let frame = raw_frame(0x81, &[b' '; 1000]);
        for byte in frame {
            if collected.is_finished() || socket.write_all(&[byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (bytes, waited) = collected.join().unwrap();
        // Server frames are unmasked: walk them (the snapshot, pings) to the close.
        let mut at = 0;
        while at + 2 <= bytes.len() {
            let opcode = bytes[at] & 0x0f;
            let (len, header) = match bytes[at + 1] & 0x7f {
                126 => (u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(bytes[at + 2..at + 10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            if opcode == 0x8 {
                return (
                    u16::from_be_bytes([bytes[at + header], bytes[at + header + 1]]),
                    waited,
                );
            }
            at += header + len;
        }
        (0, waited)
    })
    .await
    .unwrap();
    assert_eq!(code, 1001, "closed for silence (heartbeat timeout)");
    assert!(waited < Duration::from_secs(3), "closed after {waited:?}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_more_than_its_share_while_another_still_connects() {
    let mut config = test_config();
    config.server.trusted_proxies = vec!["127.0.0.1".into()];
    config.server.max_connections_per_address = 4;
    config.server.connects_per_address_per_s = 0.5;
    config.server.connect_burst_per_address = 6.0;
    let server = start(config);
    let url = format!("ws://{}/ws?events=", server.addr);
    let from = |address: &'static str| {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
                .unwrap();
        request
            .headers_mut()
            .insert("x-forwarded-for", address.parse().unwrap());
        request
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            tokio_tungstenite::connect_async(from("198.51.100.7"))
                .await
                .expect("within the share")
                .0,
        );
    }
    let refused = |result: Result<_, tokio_tungstenite::tungstenite::Error>| match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
        ),
        Ok(_) => panic!("accepted beyond the share"),
        Err(other) => panic!("{other}"),
    };
    let (status, retry) = refused(
        tokio_tungstenite::connect_async(from("198.51.100.7"))
            .await
            .map(|_| ()),
    );
    assert_eq!(status, 429);
    assert!(retry.is_some(), "429 without Retry-After");
    // Another address connects: the share is per address, not global.
    let other = tokio_tungstenite::connect_async(from("203.0.113.5")).await;
    assert!(other.is_ok(), "another address was refused");
    // Freed slots come back, but the connect rate still holds: of the burst of 6, four went to
    // the held connections, so at most two more connect quickly and the next must wait.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        match tokio_tungstenite::connect_async(from("198.51.100.7")).await {
            Ok((ws, _)) => again.push(ws),
            Err(e) => {
                last = Some(refused(Err(e)));
                break;
            }
        }
    }
    let (status, retry) = last.expect("the connect rate was not enforced");
    assert_eq!(status, 429);
    let wait: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert!(again.len() <= 2, "{} connected within the burst", again.len());
    server.stop().await.unwrap();
}
