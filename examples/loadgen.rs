//! sdrhub's load generator: real WebSocket clients (tokio-tungstenite) against a running server.
//!
//! ```text
//! cargo run --release --example loadgen -- fanout --clients 1000 --rate 100 --seconds 20 \
//!     --token <admin token> --server-pid <pid>
//! cargo run --release --example loadgen -- fanout --clients 100 --rate 100 --size 1024 --stalled 0.1 ...
//! cargo run --release --example loadgen -- idle --clients 10000 --server-pid <pid>
//! cargo run --release --example loadgen -- churn --cycles 100000 --server-pid <pid>
//! cargo run --release --example loadgen -- pingers --pingers 2000 --ping-rate 20 --seconds 40 &
//! cargo run --release --example loadgen -- bare --listen 127.0.0.1:18091 --rate 100
//! cargo run --release --example loadgen -- fanout --server 127.0.0.1:18091 --self-publishing ...
//! ```
//!
//! `fanout`: opens N connections subscribed to `signals:detected` (a share of them never read;
//! with `--pingers P --ping-rate R`, P more connections that subscribe to nothing and each send
//! R `ping` messages a second, reading the pongs: a swarm of cheap client messages),
//! publishes events at a rate through `POST /api/v1/publish` (admin token), and reports
//! deliveries per second, latency percentiles from publication (the publish time is carried in
//! the event) to receipt, losses, errors, and the server's CPU and RSS (from /proc, with
//! `--server-pid`). `idle`: holds N connections and reports server memory per connection.
//! `churn`: connects and disconnects N times and compares RSS before and after.
//!
//! `bare` is the floor to compare sdrhub with: the least a WebSocket broadcaster can do on this
//! machine. One thread accepts handshakes and, at the rate, writes one pre-framed event to
//! every socket with one non-blocking `write` each (no hub, no queues, no framework). Measured
//! with `fanout --self-publishing` (clients only read; the events carry their creation time).

use futures_util::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

struct Args {
    mode: String,
    url: String,
    http: String,
    clients: usize,
    rate: f64,
    size: usize,
    stalled: f64,
    seconds: f64,
    cycles: usize,
    token: String,
    server_pid: Option<u32>,
    listen: String,
    self_publishing: bool,
    pingers: usize,
    ping_rate: f64,
    receiver: String,
    frequency: f64,
    listen_mode: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        mode: String::new(),
        url: "ws://127.0.0.1:8080/ws".into(),
        http: "http://127.0.0.1:8080".into(),
        clients: 1000,
        rate: 100.0,
        size: 300,
        stalled: 0.0,
        seconds: 20.0,
        cycles: 100_000,
        token: String::new(),
        server_pid: None,
        listen: "127.0.0.1:18091".into(),
        self_publishing: false,
        pingers: 0,
        ping_rate: 20.0,
        receiver: "rx1".into(),
        frequency: 145_350_000.0,
        listen_mode: "nfm".into(),
    };
    let mut it = std::env::args().skip(1);
    args.mode = it
        .next()
        .unwrap_or_else(|| usage("a mode: fanout, idle, churn or bare"));
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--server" => {
                let host = value();
                args.url = format!("ws://{host}/ws");
                args.http = format!("http://{host}");
            }
            "--clients" => args.clients = value().parse().unwrap_or_else(|_| usage("--clients N")),
            "--rate" => args.rate = value().parse().unwrap_or_else(|_| usage("--rate EVENTS_PER_S")),
            "--size" => args.size = value().parse().unwrap_or_else(|_| usage("--size BYTES")),
            "--stalled" => args.stalled = value().parse().unwrap_or_else(|_| usage("--stalled SHARE")),
            "--seconds" => args.seconds = value().parse().unwrap_or_else(|_| usage("--seconds S")),
            "--cycles" => args.cycles = value().parse().unwrap_or_else(|_| usage("--cycles N")),
            "--token" => args.token = value(),
            "--listen" => args.listen = value(),
            "--self-publishing" => args.self_publishing = true,
            "--pingers" => args.pingers = value().parse().unwrap_or_else(|_| usage("--pingers N")),
            "--ping-rate" => args.ping_rate = value().parse().unwrap_or_else(|_| usage("--ping-rate PER_S")),
            "--receiver" => args.receiver = value(),
            "--frequency" => args.frequency = value().parse().unwrap_or_else(|_| usage("--frequency HZ")),
            "--listen-mode" => args.listen_mode = value(),
            "--server-pid" => {
                args.server_pid = Some(value().parse().unwrap_or_else(|_| usage("--server-pid PID")))
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!("loadgen: {problem}\nusage: loadgen fanout|idle|churn|bare|pingers|listeners [--server HOST:PORT] [--receiver ID] [--frequency HZ] [--listen-mode MODE] [--listen HOST:PORT] [--self-publishing] [--clients N] [--pingers N] [--ping-rate PER_S] [--rate EVENTS_PER_S] [--size BYTES] [--stalled SHARE] [--seconds S] [--cycles N] [--token ADMIN_TOKEN] [--server-pid PID]");
    std::process::exit(2);
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// (CPU seconds, RSS bytes) of a process, from /proc.
fn process_usage(pid: Option<u32>) -> Option<(f64, u64)> {
    let pid = pid?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (index 11 and 12 after the command name).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks / 100.0, rss_kb * 1024))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    match args.mode.as_str() {
        "fanout" => fanout(&args).await,
        "idle" => idle(&args).await,
        "churn" => churn(&args).await,
        "pingers" => pingers(&args).await,
        "listeners" => listeners(&args).await,
        "bare" => {
            let (listen, rate, size) = (args.listen.clone(), args.rate, args.size);
            let _ = tokio::task::spawn_blocking(move || bare(&listen, rate, size)).await;
        }
        other => usage(&format!("unknown mode {other}")),
    }
}

async fn connect(
    url: &str,
) -> Option<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    for _ in 0..20 {
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => return Some(ws),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    None
}

async fn fanout(args: &Args) {
    let url = format!("{}?events=signals:detected&token={}", args.url, args.token);
    let stalled = (args.clients as f64 * args.stalled).round() as usize;
    let live = args.clients - stalled;
    let received = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let mut tasks = Vec::new();
    let mut stalled_sockets = Vec::new();
    for i in 0..args.clients {
        let Some(mut ws) = connect(&url).await else {
            errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if i < stalled {
            // Never read: its socket buffers and then its server-side queue fill.
            stalled_sockets.push(ws);
            continue;
        }
        let (received, errors, closed, latencies) = (
            received.clone(),
            errors.clone(),
            closed.clone(),
            latencies.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(frame) = ws.next().await {
                match frame {
                    Ok(Message::Text(text)) => {
                        let now = now_ns();
                        if let Some(start) = text.find("\"signal_id\":\"load-") {
                            let rest = &text[start + 18..];
                            if let Some(sent) = rest.split('"').next().and_then(|t| t.parse::<i64>().ok()) {
                                mine.push((now - sent) as f64 * 1e-6);
                                received.fetch_add(1, Ordering::Relaxed);
                                if mine.len() >= 256 {
                                    latencies.lock().unwrap().append(&mut mine);
                                }
                            }
                        }
                    }
                    Ok(Message::Close(_)) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    let pongs = Arc::new(AtomicU64::new(0));
    let pings_sent = Arc::new(AtomicU64::new(0));
    let mut pinger_tasks = Vec::new();
    for _ in 0..args.pingers {
        let Some(ws) = connect(&format!("{}?events=&token={}", args.url, args.token)).await else {
            errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        pinger_tasks.push(tokio::spawn(pinger(
            ws,
            args.ping_rate,
            pongs.clone(),
            pings_sent.clone(),
        )));
    }
    eprintln!(
        "loadgen: {} live and {stalled} stalled clients connected, {} pingers",
        tasks.len(),
        pinger_tasks.len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = process_usage(args.server_pid);
    let padding = "x".repeat(args.size.saturating_sub(300));
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut published = 0u64;
    if args.self_publishing {
        // The server makes its own events (`loadgen bare`): only listen.
        tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    } else {
        published = publish(args, &http, &padding, &started, &errors).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Let the last deliveries arrive.
    let expected = published * live as u64;
    let settle = Instant::now();
    while received.load(Ordering::Relaxed) < expected && settle.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = process_usage(args.server_pid);
    let got = received.load(Ordering::Relaxed);
    drop(stalled_sockets);
    let stats: serde_json::Value = match http
        .get(format!("{}/api/v1/ws/stats", args.http))
        .bearer_auth(&args.token)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    };
    for task in tasks.into_iter().chain(pinger_tasks) {
        task.abort();
    }
    let mut all = latencies.lock().unwrap().clone();
    all.sort_by(f64::total_cmp);
    println!(
        "fanout: {} clients ({live} reading, {stalled} stalled), {:.0} events/s of ~{} B for {elapsed:.1} s",
        args.clients,
        args.rate,
        args.size.max(300)
    );
    if args.self_publishing {
        println!("  delivered {got} ({:.0} deliveries/s)", got as f64 / elapsed);
    } else {
        println!(
            "  published {published}; delivered {got} of {expected} to reading clients ({:.3} % lost); {:.0} deliveries/s",
            100.0 * (expected.saturating_sub(got)) as f64 / expected.max(1) as f64,
            got as f64 / elapsed
        );
    }
    println!(
        "  latency publish -> receipt (ms, {} samples, collected after the run): p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
    if args.pingers > 0 {
        println!(
            "  pingers: {} clients sent {} pings ({:.0}/s), got {} pongs",
            args.pingers,
            pings_sent.load(Ordering::Relaxed),
            pings_sent.load(Ordering::Relaxed) as f64 / elapsed,
            pongs.load(Ordering::Relaxed)
        );
    }
    println!(
        "  errors {}; reading clients closed by the server {}",
        errors.load(Ordering::Relaxed),
        closed.load(Ordering::Relaxed)
    );
    if let (Some((cpu0, _)), Some((cpu1, rss))) = (before, after) {
        println!(
            "  server CPU {:.1} % of one core; RSS {:.1} MB",
            100.0 * (cpu1 - cpu0) / settle.duration_since(started).as_secs_f64().max(elapsed),
            rss as f64 / 1e6
        );
    }
    println!(
        "  server stats: dropped {}, slow clients closed {}, resyncs {}",
        stats["messages_dropped"], stats["slow_clients_closed"], stats["resyncs"]
    );
}

/// `listeners`: `--clients` connections that each `listen` to `--frequency` on `--receiver` in
/// `--listen-mode` for `--seconds`; a `--stalled` share of them never read after asking. The
/// reading ones count the audio packets and the packets lost (gaps in `seq`).
async fn listeners(args: &Args) {
    use futures_util::SinkExt;
    let url = format!("{}?events=&token={}", args.url, args.token);
    let stalled = (args.clients as f64 * args.stalled).round() as usize;
    let packets = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let request = serde_json::json!({"event": "listen", "data": {
        "receiver": args.receiver, "frequency_hz": args.frequency, "mode": args.listen_mode}})
    .to_string();
    let mut tasks = Vec::new();
    let mut refused = 0;
    for n in 0..args.clients {
        let Some(mut ws) = connect(&url).await else {
            eprintln!("loadgen: a listener could not connect");
            continue;
        };
        if ws.send(Message::Text(request.clone().into())).await.is_err() {
            continue;
        }
        // The answer: `listening`, or an error.
        let mut answered = false;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            if let Message::Text(text) = frame {
                if text.contains("\"listening\"") {
                    answered = true;
                    break;
                }
                if text.contains("\"error\"") {
                    eprintln!("loadgen: listen refused: {text}");
                    break;
                }
            }
        }
        if !answered {
            refused += 1;
            continue;
        }
        let (packets, lost) = (packets.clone(), lost.clone());
        let reads = n >= stalled;
        tasks.push(tokio::spawn(async move {
            if !reads {
                // Holds the connection without reading.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                drop(ws);
                return;
            }
            let mut last: Option<u32> = None;
            while let Some(Ok(frame)) = ws.next().await {
                if let Message::Binary(bytes) = frame {
                    if bytes.len() >= 6 {
                        let seq = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
                        if let Some(last) = last {
                            lost.fetch_add(
                                u64::from(seq.wrapping_sub(last).saturating_sub(1)),
                                Ordering::Relaxed,
                            );
                        }
                        last = Some(seq);
                        packets.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let before = process_usage(args.server_pid);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (before, process_usage(args.server_pid)) {
        (Some((a, _)), Some((b, rss))) => format!(
            "; server CPU {:.0} % of a core, RSS {:.0} MB",
            100.0 * (b - a) / elapsed,
            rss as f64 / 1e6
        ),
        _ => String::new(),
    };
    println!(
        "listeners: {} listening ({} reading, {stalled} stalled, {refused} refused) for {elapsed:.1} s: {} packets read, {} lost by the reading ones{cpu}",
        tasks.len(),
        tasks.len().saturating_sub(stalled),
        packets.load(Ordering::Relaxed),
        lost.load(Ordering::Relaxed),
    );
    for task in tasks {
        task.abort();
    }
}

/// `pingers`: only the ping swarm (`--pingers`, `--ping-rate`) for `--seconds`, in a process of
/// its own so that a `fanout` run beside it measures delivery with its own runtime. The swarm's
/// clients are raw sockets writing one pre-masked `{"event":"ping"}` frame per tick and
/// discarding what comes back (counting `pong`s), so the generator costs a few microseconds
/// per ping and the server, not the generator, is what the run loads.
async fn pingers(args: &Args) {
    let pongs = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let host = args.http.trim_start_matches("http://").to_string();
    let path = format!("/ws?events=&token={}", args.token);
    let mut tasks = Vec::new();
    for _ in 0..args.pingers {
        match raw_upgrade(&host, &path).await {
            Some(stream) => tasks.push(tokio::spawn(raw_pinger(
                stream,
                args.ping_rate,
                pongs.clone(),
                sent.clone(),
            ))),
            None => eprintln!("loadgen: a pinger could not connect"),
        }
    }
    eprintln!("loadgen: {} pingers connected", tasks.len());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "pingers: {} clients sent {} pings ({:.0}/s) in {elapsed:.1} s, got {} pongs",
        tasks.len(),
        sent.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed) as f64 / elapsed,
        pongs.load(Ordering::Relaxed)
    );
    for task in tasks {
        task.abort();
    }
}

/// A WebSocket upgrade by hand; the socket after the 101 head.
async fn raw_upgrade(host: &str, path: &str) -> Option<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.ok()?;
        head.push(byte[0]);
    }
    head.starts_with(b"HTTP/1.1 101").then_some(stream)
}

/// Writes a masked `{"event":"ping"}` text frame at `rate` (starting at a random point of the
/// period) and reads what comes back, counting the `pong` events in it.
async fn raw_pinger(stream: tokio::net::TcpStream, rate: f64, pongs: Arc<AtomicU64>, sent: Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let payload = br#"{"event":"ping"}"#;
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let (mut reader, mut writer) = stream.into_split();
    let counter = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let got = buf[..n].windows(6).filter(|w| w == b"\"pong\"").count();
            pongs.fetch_add(got as u64, Ordering::Relaxed);
        }
    });
    let period = Duration::from_secs_f64(1.0 / rate);
    let offset = period.mul_f64((now_ns() % 1000) as f64 / 1000.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if writer.write_all(&frame).await.is_err() {
            break;
        }
        sent.fetch_add(1, Ordering::Relaxed);
    }
    counter.abort();
}

/// A client of the ping swarm: sends `ping` messages at `rate` (the first after a random part
/// of the period, so the swarm is spread out) and reads the answers.
async fn pinger(
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    rate: f64,
    pongs: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
) {
    use futures_util::SinkExt;
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(&frame, Message::Text(t) if t.contains("\"pong\"")) {
                pongs.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let period = Duration::from_secs_f64(1.0 / rate);
    let offset = period.mul_f64((now_ns() % 1000) as f64 / 1000.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    // A late tick is not made up for: the rate is an upper bound.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if sink
            .send(Message::Text(r#"{"event":"ping"}"#.into()))
            .await
            .is_err()
        {
            break;
        }
        sent.fetch_add(1, Ordering::Relaxed);
    }
    reader.abort();
}

/// Publishes events at the rate for the run's duration; how many were accepted.
async fn publish(
    args: &Args,
    http: &reqwest::Client,
    padding: &str,
    started: &Instant,
    errors: &AtomicU64,
) -> u64 {
    let publish_url = format!("{}/api/v1/publish", args.http);
    // Publish in batches every 10 ms.
    let tick = Duration::from_millis(10);
    let per_tick = args.rate * tick.as_secs_f64();
    let mut published = 0u64;
    let mut due = 0.0;
    let mut interval = tokio::time::interval(tick);
    while started.elapsed().as_secs_f64() < args.seconds {
        interval.tick().await;
        due += per_tick;
        let n = due.floor() as u64;
        due -= n as f64;
        if n == 0 {
            continue;
        }
        let batch: Vec<serde_json::Value> = (0..n)
            .map(|k| {
                serde_json::json!({"event": "signals:detected", "data": {
                    "signal_id": format!("load-{}", now_ns()), "state": "lost",
                    "frequency_hz": 145e6 + (published + k) as f64, "frequency_mhz": 145.0,
                    "bandwidth_hz": 12500.0, "snr_db": 20.0, "power_dbfs": -40.0, "peak_power_dbfs": -45.0,
                    "websdr_id": padding, "receivers": ["rx1"],
                    "first_seen": "2026-11-22T10:00:00.000Z", "timestamp": "2026-11-22T10:00:00.000Z"}})
            })
            .collect();
        match http
            .post(&publish_url)
            .bearer_auth(&args.token)
            .json(&batch)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => published += n,
            Ok(r) => {
                eprintln!("loadgen: publish answered {}", r.status());
                errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                eprintln!("loadgen: publish failed: {e}");
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    published
}

async fn idle(args: &Args) {
    let before = process_usage(args.server_pid);
    let mut sockets = Vec::with_capacity(args.clients);
    let mut failed = 0;
    for _ in 0..args.clients {
        match connect(&format!("{}?token={}", args.url, args.token)).await {
            Some(ws) => sockets.push(ws),
            None => failed += 1,
        }
    }
    // Drain each socket's snapshot so the server's buffers hold only what an idle client costs.
    for ws in sockets.iter_mut() {
        let _ = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = process_usage(args.server_pid);
    println!("idle: {} connections held ({failed} failed)", sockets.len());
    if let (Some((_, rss0)), Some((_, rss1))) = (before, after) {
        println!(
            "  server RSS {:.1} MB -> {:.1} MB: {:.0} bytes per connection",
            rss0 as f64 / 1e6,
            rss1 as f64 / 1e6,
            (rss1 as f64 - rss0 as f64) / sockets.len().max(1) as f64
        );
    }
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
}

async fn churn(args: &Args) {
    // Warm up so allocator pools exist before the baseline.
    for _ in 0..1000 {
        if let Some(mut ws) = connect(&format!("{}?token={}", args.url, args.token)).await {
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
            let _ = ws.close(None).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = process_usage(args.server_pid);
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers = 32;
    let per = args.cycles / workers;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (url, done, failed) = (
            format!("{}?token={}", args.url, args.token),
            done.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let cycle = async {
                    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.ok()?;
                    ws.next().await?.ok()?;
                    ws.close(None).await.ok()?;
                    // Until the server's close frame; then drop the socket.
                    while let Some(Ok(message)) = ws.next().await {
                        if message.is_close() {
                            break;
                        }
                    }
                    Some(())
                };
                match tokio::time::timeout(Duration::from_secs(5), cycle).await {
                    Ok(Some(())) => done.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = process_usage(args.server_pid);
    println!(
        "churn: {} connect/disconnect cycles in {:.1} s ({} failed)",
        done.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );
    if let (Some((_, rss0)), Some((_, rss1))) = (before, after) {
        println!(
            "  server RSS {:.1} MB before, {:.1} MB after ({:+.1} %)",
            rss0 as f64 / 1e6,
            rss1 as f64 / 1e6,
            100.0 * (rss1 as f64 - rss0 as f64) / rss0 as f64
        );
    }
}

/// The floor: a broadcaster with nothing but one non-blocking `write` per client per event.
fn bare(listen: &str, rate: f64, size: usize) {
    use std::io::{Read, Write};
    let listener =
        std::net::TcpListener::bind(listen).unwrap_or_else(|e| usage(&format!("--listen {listen}: {e}")));
    let clients: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    let accepted = clients.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            let Some(key) = text.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_string())
            }) else {
                continue;
            };
            let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            if stream.write_all(response.as_bytes()).is_ok()
                && stream.set_nodelay(true).is_ok()
                && stream.set_nonblocking(true).is_ok()
            {
                accepted.lock().unwrap().push(stream);
            }
        }
    });
    eprintln!("loadgen bare: broadcasting {rate} events/s on {listen}");
    let tick = Duration::from_millis(10);
    let per_tick = rate * tick.as_secs_f64();
    let padding = "x".repeat(size.saturating_sub(300));
    let (mut due, mut seq, mut dropped) = (0.0, 0u64, 0u64);
    let mut next = Instant::now();
    loop {
        next += tick;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        due += per_tick;
        while due >= 1.0 {
            due -= 1.0;
            seq += 1;
            let json = serde_json::json!({"event": "signals:detected", "seq": seq, "data": {
                "signal_id": format!("load-{}", now_ns()), "state": "lost", "frequency_hz": 145e6,
                "websdr_id": padding, "receivers": ["rx1"]}})
            .to_string();
            let mut frame = vec![0x81u8];
            match json.len() {
                n if n < 126 => frame.push(n as u8),
                n if n <= 65_535 => {
                    frame.push(126);
                    frame.extend_from_slice(&(n as u16).to_be_bytes());
                }
                n => {
                    frame.push(127);
                    frame.extend_from_slice(&(n as u64).to_be_bytes());
                }
            }
            frame.extend_from_slice(json.as_bytes());
            let mut clients = clients.lock().unwrap();
            // A client that cannot take a whole frame now is dropped (the floor keeps no queues).
            clients.retain_mut(|client| match client.write(&frame) {
                Ok(n) if n == frame.len() => true,
                _ => {
                    dropped += 1;
                    false
                }
            });
        }
        if seq % 1000 == 0 && dropped > 0 {
            eprintln!("loadgen bare: {dropped} clients dropped so far");
        }
    }
}
