//! End-to-end latency through NATS JetStream: from the moment an acquisition node's pipeline
//! hands a `signals:detected` to the bus (where detection's events leave the node) to its
//! delivery to WebSocket clients of a gateway; and, for comparison, from the hand-over to a
//! single `serve` hub to its clients.
//!
//! ```text
//! cargo run --release --example bus_latency -- [--clients 10] [--rate 200] [--seconds 10] [--gateways 2]
//! ```
//!
//! Starts `nats-server -js` (Debian's, `apt-get install nats-server`) on a free loopback port
//! with a temporary store, an acquisition node (a light simulated scene with no transmitters,
//! so the only signals are the benchmark's), the gateways and the clients, all on this machine
//! (the node, gateways and clients in this process). Each event's hand-over time is kept here,
//! and each client takes its latency when the event's frame has been read from its socket.
//! Prints the percentiles of every (event, client) delivery.

use futures_util::StreamExt;
use sdrhub::config::Config;
use sdrhub::events::{Event, SignalReport, SignalState, Timestamp};
use sdrhub::roles::acquire::RunningNode;
use sdrhub::roles::RunningServer;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

struct Args {
    clients: usize,
    rate: f64,
    seconds: f64,
    gateways: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        clients: 10,
        rate: 200.0,
        seconds: 10.0,
        gateways: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--clients" => args.clients = value().parse().expect("--clients N"),
            "--rate" => args.rate = value().parse().expect("--rate EVENTS_PER_S"),
            "--seconds" => args.seconds = value().parse().expect("--seconds S"),
            "--gateways" => args.gateways = value().parse().expect("--gateways N"),
            other => panic!("unknown flag {other}; see the doc comment of examples/bus_latency.rs"),
        }
    }
    assert!(args.clients > 0 && args.gateways > 0 && args.rate > 0.0 && args.seconds > 0.0);
    args
}

/// A light configuration: loopback port 0, two simulated receivers at 256 kS/s, no
/// transmitters.
fn light_config(bus: &str) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.server.client_queue = 4096;
    // Every client of this bench comes from 127.0.0.1.
    config.server.max_connections_per_address = 100_000;
    config.server.connects_per_address_per_s = 10_000.0;
    config.server.connect_burst_per_address = 100_000.0;
    config.dsp.fft_size = 1024;
    config.simulation.sample_rate_hz = 256_000.0;
    config.simulation.block_samples = 8192;
    config.simulation.receiver_count = 2;
    config.simulation.transmitters.clear();
    config.bus.url = bus.into();
    config.bus.node_id = "bench".into();
    config
}

fn signal(n: usize) -> Event {
    Event::SignalsDetected(SignalReport {
        signal_id: format!("lat-{n}"),
        // Lost: the hubs keep no state for them.
        state: SignalState::Lost,
        frequency_hz: 145e6,
        frequency_mhz: 145.0,
        bandwidth_hz: 12_500.0,
        snr_db: 20.0,
        power_dbfs: -40.0,
        peak_power_dbfs: -45.0,
        websdr_id: "rx1".into(),
        receivers: vec!["rx1".into()],
        first_seen: Timestamp::now(),
        timestamp: Timestamp::now(),
        known: None,
        novel: false,
        identity: Default::default(),
    })
}

/// A nats-server on a free loopback port, killed and its store removed on drop.
struct Nats {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Nats {
    fn start() -> Nats {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("nats-server not found: apt-get install nats-server");
        let dir = std::env::temp_dir().join(format!("sdrhub-bus-latency-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary store");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server does not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nats { child, dir, port }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Hand-over times of the benchmark's events, by number.
type Sent = Arc<Mutex<Vec<Option<Instant>>>>;

/// Connects `clients` clients to `servers` (round robin); each records the latency of every
/// benchmark event it gets. Returns once all have their snapshot.
async fn clients(
    servers: &[std::net::SocketAddr],
    clients: usize,
    sent: &Sent,
    latencies: &Arc<Mutex<Vec<f64>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for i in 0..clients {
        let url = format!("ws://{}/ws?events=signals:detected", servers[i % servers.len()]);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connects");
        // The snapshot first.
        let _ = ws.next().await;
        let (sent, latencies) = (sent.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let received = Instant::now();
                let Message::Text(text) = frame else { continue };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                let id = value["data"]["signal_id"].as_str().unwrap_or_default();
                let Some(n) = id.rsplit("lat-").next().and_then(|n| n.parse::<usize>().ok()) else {
                    continue;
                };
                let at = sent.lock().unwrap().get(n).copied().flatten();
                if let Some(at) = at {
                    latencies
                        .lock()
                        .unwrap()
                        .push(received.duration_since(at).as_secs_f64() * 1e3);
                }
            }
        }));
    }
    tasks
}

/// Hands `count` events over at `rate` through `publish`, recording their times.
async fn run_events<F, Fut>(count: usize, rate: f64, sent: &Sent, publish: F)
where
    F: Fn(Event) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    *sent.lock().unwrap() = vec![None; count];
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    for n in 0..count {
        tick.tick().await;
        let event = signal(n);
        sent.lock().unwrap()[n] = Some(Instant::now());
        publish(event).await;
    }
}

/// Events handed over per measurement.
fn events(args: &Args) -> usize {
    (args.rate * args.seconds).round() as usize
}

/// One measurement: `args.clients` clients on `servers` read while the benchmark's events are
/// handed over through `publish`; prints their latencies under `what`.
async fn measure<F, Fut>(what: &str, servers: &[std::net::SocketAddr], args: &Args, publish: F)
where
    F: Fn(Event) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let count = events(args);
    let sent: Sent = Arc::default();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let readers = clients(servers, args.clients, &sent, &latencies).await;
    run_events(count, args.rate, &sent, publish).await;
    // Let the last events arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for reader in readers {
        reader.abort();
    }
    report(
        what,
        std::mem::take(&mut latencies.lock().unwrap()),
        count * args.clients,
    );
}

fn report(what: &str, mut latencies: Vec<f64>, expected: usize) {
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{what}: {} of {expected} deliveries; latency ms p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        latencies.len(),
        pick(0.5),
        pick(0.9),
        pick(0.99),
        pick(0.999),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = parse_args();
    println!(
        "{} client(s), {} event(s) at {}/s, {} gateway(s)",
        args.clients,
        events(&args),
        args.rate,
        args.gateways
    );

    // Through NATS: node -> JetStream -> gateway(s) -> clients.
    let nats = Nats::start();
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let node = RunningNode::start(light_config(&url))
        .await
        .expect("the node starts");
    let gateways: Vec<RunningServer> = (0..args.gateways)
        .map(|_| RunningServer::start_gateway(light_config(&url)).expect("a gateway starts"))
        .collect();
    // Let the gateways catch up with the stream and the node settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let addrs: Vec<_> = gateways.iter().map(|g| g.addr).collect();
    let publisher = node.publisher().clone();
    measure("through NATS", &addrs, &args, |event| {
        let publisher = publisher.clone();
        async move { publisher.publish(event).await }
    })
    .await;
    for gateway in gateways {
        gateway.stop().await.expect("the gateway stops");
    }
    node.stop().await.expect("the node stops");
    drop(nats);

    // For comparison: the same hand-over to a single serve hub.
    let server = RunningServer::start(light_config("")).expect("the server starts");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hub = server.hub().clone();
    measure("serve (one hub)", &[server.addr], &args, |event| {
        let hub = hub.clone();
        async move { hub.publish(event).await }
    })
    .await;
    server.stop().await.expect("the server stops");
}
