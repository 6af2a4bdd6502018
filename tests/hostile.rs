//! One hostile peer against the real `sdrhub` binary with its embedded default configuration
//! (the simulated scene, no auth): each attack goes through a real socket while the test reads
//! the server process's resident memory from /proc and an honest client keeps receiving.
//! Memory must stay bounded by configuration whatever the peer sends: the server's RSS may
//! grow by less than 16 MB during an attack, the honest client must get every event (nothing
//! dropped, nobody closed for being slow) with p99 latency under 50 ms.
//!
//! The attacks run one after another in one test: they share the server and the RSS baseline,
//! and nothing else in this test binary competes for the machine.

mod common;

use futures_util::StreamExt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Growth of the server's RSS an attack may cause.
const RSS_BUDGET_KB: u64 = 16 * 1024;
/// Honest client's 99th percentile latency (envelope time to receipt).
const P99_LIMIT_MS: f64 = 50.0;
/// Send timeout of the server under test (short, so a stalled peer is dropped within the test).
const SEND_TIMEOUT_S: f64 = 2.0;

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with its embedded default, on a free port; health reported as often as the status
/// task runs, so the honest client has a steady stream of events to time.
fn start_default() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(["--bind", "127.0.0.1:0", "--log-format", "human"])
        .env_remove("SDRHUB_CONFIG")
        .env("SDRHUB_SERVER__HEALTH_INTERVAL_S", "0.1")
        .env("SDRHUB_SERVER__SEND_TIMEOUT_S", SEND_TIMEOUT_S.to_string())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let _ = tx.send(line[at + "listening on http://".len()..].trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its address")
        .parse()
        .expect("an address");
    Server { child, addr }
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Samples the server's RSS every 10 ms until stopped; the highest value seen.
struct RssWatch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssWatch {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        Self { stop, peak, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}

/// A blocking socket upgraded to a WebSocket that subscribes to nothing.
fn upgrade(addr: SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        socket,
        "GET /ws?events= HTTP/1.1\r\nHost: sdrhub\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        socket.read_exact(&mut byte).expect("the handshake answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    socket
}

/// What the honest client saw.
#[derive(Debug)]
struct Honest {
    received: usize,
    latencies_ms: Vec<f64>,
    closed: Option<String>,
}

impl Honest {
    fn p99(&mut self) -> f64 {
        self.latencies_ms.sort_by(f64::total_cmp);
        self.latencies_ms[(self.latencies_ms.len() * 99 / 100).min(self.latencies_ms.len() - 1)]
    }
}

/// Receives `services:health` until `stop`, timing each from its envelope timestamp.
async fn honest_client(addr: SocketAddr, stop: Arc<AtomicBool>) -> Honest {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?events=services:health"))
        .await
        .expect("the honest client connects");
    let mut honest = Honest {
        received: 0,
        latencies_ms: Vec::new(),
        closed: None,
    };
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(frame)) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await else {
            continue;
        };
        match frame {
            Ok(tokio_tungstenite::tungstenite::Message::Text(text)) => {
                let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                if v["event"] == "services:health" {
                    let sent = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap())
                        .unwrap()
                        .timestamp_nanos_opt()
                        .unwrap();
                    honest.received += 1;
                    honest.latencies_ms.push((now_ns - sent) as f64 / 1e6);
                }
            }
            Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                honest.closed = Some(format!("{frame:?}"));
                break;
            }
            Ok(_) => {}
            Err(e) => {
                honest.closed = Some(e.to_string());
                break;
            }
        }
    }
    honest
}

/// A frame header from a client declaring `len` payload bytes (masked).
fn header(first_byte: u8, len: u64) -> Vec<u8> {
    let mut out = vec![first_byte, 0x80 | 127];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[1, 2, 3, 4]);
    out
}

/// A 4 GiB frame declared, then 200 MB of its payload sent as fast as the server takes it.
/// Returns the close code received and the payload bytes the server accepted.
fn attack_huge_frame(addr: SocketAddr) -> (Option<u16>, u64) {
    let mut socket = upgrade(addr);
    let mut reader = socket.try_clone().unwrap();
    let close = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..n]);
        }
        // The snapshot (a text frame), then the close: find the close.
        let mut at = 0;
        while at + 2 <= bytes.len() {
            let (len, head) = match bytes[at + 1] & 0x7f {
                126 => (u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(bytes[at + 2..at + 10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            if bytes[at] & 0x0f == 0x8 && bytes.len() >= at + head + 2 {
                return Some(u16::from_be_bytes([bytes[at + head], bytes[at + head + 1]]));
            }
            at += head + len;
        }
        None
    });
    socket.write_all(&header(0x82, 4 << 30)).unwrap();
    let chunk = vec![0x5a; 64 * 1024];
    let mut sent = 0u64;
    while sent < 200_000_000 {
        match socket.write(&chunk) {
            Ok(n) => sent += n as u64,
            Err(_) => break,
        }
    }
    drop(socket);
    (close.join().unwrap(), sent)
}

/// Two million 125-byte pings from a client that never reads. Returns how many were sent
/// before the server stopped taking them.
fn attack_ping_flood(addr: SocketAddr) -> u64 {
    let mut socket = upgrade(addr);
    socket.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut ping = vec![0x89, 0x80 | 125, 9, 8, 7, 6];
    ping.extend(std::iter::repeat_n(0x41, 125));
    let batch: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 1000).collect();
    let mut sent = 0u64;
    while sent < 2_000_000 {
        if socket.write_all(&batch).is_err() {
            break;
        }
        sent += 1000;
    }
    // Keep the socket open (unread) while the server decides what to do with it.
    std::thread::sleep(Duration::from_secs_f64(SEND_TIMEOUT_S + 1.0));
    drop(socket);
    sent
}

async fn connections(addr: SocketAddr) -> u64 {
    let stats: serde_json::Value = reqwest::get(format!("http://{addr}/api/v1/ws/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["connections"].as_u64().unwrap()
}

async fn ws_stats(addr: SocketAddr) -> serde_json::Value {
    reqwest::get(format!("http://{addr}/api/v1/ws/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hostile_peer_cannot_grow_the_servers_memory_or_delay_an_honest_client() {
    let server = start_default();
    let addr = server.addr;
    let pid = server.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let honest = tokio::spawn(honest_client(addr, stop.clone()));
    // Let the scene and the allocator settle; the baseline is the highest RSS of the next two
    // seconds of normal work.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let watch = RssWatch::start(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = watch.finish();

    // 1. A frame declaring 4 GiB: refused (1009) at its header, nothing of it buffered.
    let watch = RssWatch::start(pid);
    let (close, accepted) = tokio::task::spawn_blocking(move || attack_huge_frame(addr))
        .await
        .unwrap();
    let peak = watch.finish();
    assert_eq!(close, Some(1009), "the declared length is refused with 1009");
    assert!(
        peak.saturating_sub(baseline) < RSS_BUDGET_KB,
        "4 GiB frame: RSS grew by {} kB (accepted {accepted} payload bytes)",
        peak - baseline
    );
    println!("huge frame: RSS {baseline} -> peak {peak} kB, {accepted} payload bytes taken before the close");

    // 2. A ping flood from a client that never reads: at most one pong waits; once the socket
    // takes nothing, the client is dropped after the send timeout.
    let watch = RssWatch::start(pid);
    let flood = tokio::task::spawn_blocking(move || attack_ping_flood(addr));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(connections(addr).await, 2, "the honest client and the flooder");
    let sent = flood.await.unwrap();
    let peak = watch.finish();
    assert!(
        peak.saturating_sub(baseline) < RSS_BUDGET_KB,
        "ping flood: RSS grew by {} kB ({sent} pings sent)",
        peak - baseline
    );
    println!("ping flood: RSS {baseline} -> peak {peak} kB, {sent} pings sent");
    // By now (send timeout + 1 s after the flood ended) only the honest client is left.
    assert_eq!(connections(addr).await, 1, "the flooder was not dropped");

    stop.store(true, Ordering::Relaxed);
    let mut honest = honest.await.unwrap();
    let stats = ws_stats(addr).await;
    assert!(
        honest.closed.is_none(),
        "the honest client was closed: {:?}",
        honest.closed
    );
    assert_eq!(stats["messages_dropped"], 0, "{stats}");
    assert_eq!(stats["slow_clients_closed"], 0, "{stats}");
    // The status task reports about four times a second at most.
    assert!(honest.received > 20, "only {} health events", honest.received);
    let p99 = honest.p99();
    println!("honest client: {} events, p99 {p99:.1} ms", honest.received);
    assert!(p99 < P99_LIMIT_MS, "honest client's p99 {p99:.1} ms");
}
