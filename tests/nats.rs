//! Acquisition nodes and gateways joined by a real NATS JetStream (`nats-server -js` on
//! loopback, started by each test): every gateway gives an event the same `seq`, a client
//! resumes on another gateway without missing anything, and a NATS killed and restarted
//! mid-stream loses no event the node had acknowledged while the gateways report the outage.

mod common;

use common::nats::NatsServer;
use common::{connect, get_json, next_json, quiet_config, Ws};
use sdrhub::config::Config;
use sdrhub::roles::acquire::RunningNode;
use sdrhub::roles::RunningServer;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// An acquisition node's configuration: a light simulated scene with no transmitters (the
/// only signals are the test's), publishing to `url` as `node`.
fn node_config(url: &str, node: &str) -> Config {
    let mut config = quiet_config();
    config.simulation.receiver_count = 3;
    config.bus.url = url.into();
    config.bus.node_id = node.into();
    config.bus.ack_timeout_s = 1.0;
    config
}

/// A gateway's configuration: loopback port 0, following `url`.
fn gateway_config(url: &str) -> Config {
    let mut config = quiet_config();
    config.bus.url = url.into();
    config
}

/// A `signals:detected` event numbered `n`, as a node's pipeline would publish it.
fn signal(n: u64) -> sdrhub::events::Event {
    common::fake_signal("test", n, 1)
}

/// Reads `ws` until it has `count` of the test's signals; returns their `(seq, signal_id)`,
/// checking that no message's `seq` goes down.
async fn signals(ws: &mut Ws, count: usize) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut last_seq = 0;
    while out.len() < count {
        let m = next_json(ws, WAIT)
            .await
            .unwrap_or_else(|| panic!("only {} of {count} signals: {out:?}", out.len()));
        let seq = m["seq"].as_u64().expect("a seq");
        assert!(seq >= last_seq, "seq went down from {last_seq} to {seq}: {m}");
        last_seq = seq;
        if m["event"] == "signals:detected" {
            let id = m["data"]["signal_id"].as_str().unwrap().to_string();
            if id.contains("/test-") {
                out.push((seq, id));
            }
        }
    }
    out
}

/// The test's signal ids `from..to` as the node publishes them.
fn ids(node: &str, range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|n| format!("{node}/test-{n}")).collect()
}

/// The status of service `name` in a health report.
fn service_status(health: &Value, name: &str) -> Option<String> {
    health["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["status"].as_str().unwrap_or_default().to_string())
}

/// Waits until the gateway's REST health shows service `name` with `status`.
async fn wait_for_service(gateway: &RunningServer, name: &str, status: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (_, health) = get_json(gateway, "/api/v1/system/status").await;
        if service_status(&health, name).as_deref() == Some(status) {
            return health;
        }
        assert!(
            started.elapsed() < WAIT,
            "{name} not {status} on {} within {WAIT:?}: {health}",
            gateway.addr
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_give_every_event_the_same_seq_and_a_client_resumes_on_the_other() {
    let nats = NatsServer::start();
    let node = RunningNode::start(node_config(&nats.url(), "edge-1"))
        .await
        .expect("node starts");
    let a = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway A starts");
    let b = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway B starts");
    for gateway in [&a, &b] {
        wait_for_service(gateway, "bus", "healthy").await;
    }
    let mut on_a = connect(&a, "/ws?events=signals:detected").await;
    let mut on_b = connect(&b, "/ws?events=signals:detected").await;
    let mut leaving = connect(&a, "/ws?events=signals:detected").await;
    for ws in [&mut on_a, &mut on_b, &mut leaving] {
        assert_eq!(next_json(ws, WAIT).await.unwrap()["event"], "snapshot");
    }
    for n in 0..40 {
        node.publisher().publish(signal(n)).await;
    }
    let seen_a = signals(&mut on_a, 40).await;
    let seen_b = signals(&mut on_b, 40).await;
    // The same events, in the node's order, under the same seq on both gateways.
    assert_eq!(seen_a, seen_b);
    let got: Vec<String> = seen_a.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(got, ids("edge-1", 0..40));
    assert!(seen_a.windows(2).all(|w| w[0].0 < w[1].0), "{seen_a:?}");

    // A client leaves gateway A after 15 events and resumes on gateway B.
    let first = signals(&mut leaving, 15).await;
    let last = first.last().unwrap().0;
    drop(leaving);
    for n in 40..70 {
        node.publisher().publish(signal(n)).await;
    }
    let reference = signals(&mut on_b, 30).await;
    let mut resumed = connect(&b, &format!("/ws?events=signals:detected&since={last}")).await;
    let replayed = signals(&mut resumed, 55).await;
    let expected: Vec<(u64, String)> = seen_b
        .iter()
        .chain(&reference)
        .filter(|(seq, _)| *seq > last)
        .cloned()
        .collect();
    assert_eq!(
        replayed, expected,
        "exactly the events after {last}, no gap, no duplicate"
    );
    // Live events follow on every connection alike.
    node.publisher().publish(signal(70)).await;
    let live = signals(&mut resumed, 1).await;
    assert_eq!(live, signals(&mut on_a, 31).await[30..]);
    assert_eq!(live[0].1, "edge-1/test-70");

    // Both gateways merge the node's receivers and show its services.
    for gateway in [&a, &b] {
        let (_, websdrs) = get_json(gateway, "/api/v1/websdrs").await;
        assert_eq!(websdrs["websdrs"].as_array().unwrap().len(), 3, "{websdrs}");
        let health = wait_for_service(gateway, "bus@edge-1", "healthy").await;
        assert_eq!(service_status(&health, "gateway").as_deref(), Some("healthy"));
        assert!(service_status(&health, "dsp@edge-1").is_some(), "{health}");
        let (_, stats) = get_json(gateway, "/api/v1/ws/stats").await;
        assert!(stats["seq"].as_u64().unwrap() >= live[0].0, "{stats}");
    }
    let published = node.publisher().stats();
    assert_eq!(published.dropped.load(Ordering::Relaxed), 0);

    // A gateway started now rebuilds its state from the stream and resumes any client: the
    // receivers are there, and a resume from before the first event gets all 71.
    let c = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway C starts");
    wait_for_service(&c, "bus", "healthy").await;
    let (_, websdrs) = get_json(&c, "/api/v1/websdrs").await;
    assert_eq!(websdrs["websdrs"].as_array().unwrap().len(), 3, "{websdrs}");
    let before = seen_a[0].0 - 1;
    let mut late = connect(&c, &format!("/ws?events=signals:detected&since={before}")).await;
    let all = signals(&mut late, 71).await;
    assert_eq!(all[..40], seen_a[..]);
    assert_eq!(all[70], live[0]);
    c.stop().await.unwrap();
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    node.stop().await.unwrap();
}

/// What a client of the restart test has received: the test's signals, and whether a health
/// report with the gateway's `bus` degraded came.
#[derive(Debug, Default)]
struct Received {
    signals: Vec<(u64, String)>,
    saw_bus_degraded: bool,
    saw_node_bus_degraded: bool,
    last_seq: u64,
}

impl Received {
    /// Reads `ws` until `done` holds.
    async fn read_until(&mut self, ws: &mut Ws, done: impl Fn(&Received) -> bool) {
        while !done(self) {
            let m = next_json(ws, WAIT)
                .await
                .unwrap_or_else(|| panic!("stalled after {} signals", self.signals.len()));
            let seq = m["seq"].as_u64().expect("a seq");
            assert!(
                seq >= self.last_seq,
                "seq went down from {} to {seq}: {m}",
                self.last_seq
            );
            self.last_seq = seq;
            if m["event"] == "signals:detected" {
                self.signals
                    .push((seq, m["data"]["signal_id"].as_str().unwrap().to_string()));
            } else if m["event"] == "services:health" {
                let degraded = |name| service_status(&m["data"], name).as_deref() == Some("degraded");
                self.saw_bus_degraded |= degraded("bus");
                self.saw_node_bus_degraded |= degraded("bus@edge-1");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_loses_no_acknowledged_event_and_the_gateways_report_the_outage() {
    const EVENTS: u64 = 300;
    let mut nats = NatsServer::start();
    let node = RunningNode::start(node_config(&nats.url(), "edge-1"))
        .await
        .expect("node starts");
    let a = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway A starts");
    let b = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway B starts");
    for gateway in [&a, &b] {
        wait_for_service(gateway, "bus", "healthy").await;
    }
    let topics = "/ws?events=signals:detected,services:health";
    let mut on_a = connect(&a, topics).await;
    let mut on_b = connect(&b, topics).await;
    for ws in [&mut on_a, &mut on_b] {
        assert_eq!(next_json(ws, WAIT).await.unwrap()["event"], "snapshot");
    }
    // The node publishes steadily, through the outage.
    let publisher = node.publisher().clone();
    let producer = tokio::spawn(async move {
        for n in 0..EVENTS {
            publisher.publish(signal(n)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let stats = node.publisher().stats().clone();
    let (mut got_a, mut got_b) = (Received::default(), Received::default());
    got_a.read_until(&mut on_a, |r| r.signals.len() >= 50).await;
    nats.kill();
    let acked_before_kill = stats.acked.load(Ordering::Relaxed);

    // Both gateways say so, over REST and to their WebSocket clients.
    for gateway in [&a, &b] {
        let health = wait_for_service(gateway, "bus", "degraded").await;
        assert_ne!(health["status"], "healthy", "{health}");
    }
    got_a.read_until(&mut on_a, |r| r.saw_bus_degraded).await;
    got_b.read_until(&mut on_b, |r| r.saw_bus_degraded).await;

    // NATS comes back after a while, with the same store; meanwhile the node buffers.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let waiting_during_outage = stats.waiting.load(Ordering::Relaxed);
    assert!(
        waiting_during_outage > 0,
        "the outage was real: events waited for NATS ({stats:?})"
    );
    nats.restart();
    producer.await.unwrap();

    // Every event reaches both clients once, in order, under the same seq: those NATS had
    // acknowledged before it was killed, and those the node held through the outage.
    let all = |r: &Received| r.signals.len() >= EVENTS as usize;
    got_a.read_until(&mut on_a, all).await;
    got_b.read_until(&mut on_b, all).await;
    let ids_a: Vec<String> = got_a.signals.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids_a, ids("edge-1", 0..EVENTS), "every event once, in order");
    assert_eq!(got_a.signals, got_b.signals, "the same seq on both gateways");
    assert!(got_a.signals.windows(2).all(|w| w[0].0 < w[1].0));
    // The node's own reports from the outage arrive too: its bus link was degraded.
    got_a.read_until(&mut on_a, |r| r.saw_node_bus_degraded).await;
    assert!(acked_before_kill > 0);
    eprintln!(
        "outage: {acked_before_kill} events acknowledged before the kill, {waiting_during_outage} \
         waiting during it; node: {stats:?}"
    );
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0, "{stats:?}");
    for gateway in [&a, &b] {
        wait_for_service(gateway, "bus", "healthy").await;
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_is_shown_offline_on_the_gateways_until_it_is_back() {
    let nats = NatsServer::start();
    let node = RunningNode::start(node_config(&nats.url(), "edge-1"))
        .await
        .expect("node starts");
    let gateway = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway starts");
    wait_for_service(&gateway, "dsp@edge-1", "healthy").await;
    let mut ws = connect(&gateway, "/ws?events=websdrs:status").await;
    let all = |status: &'static str| {
        move |m: &Value| {
            m["event"] == "websdrs:status"
                && m["data"]["websdrs"]
                    .as_array()
                    .is_some_and(|w| w.len() == 3 && w.iter().all(|r| r["status"] == status))
        }
    };
    common::wait_for(&mut ws, WAIT, "the node's receivers online", all("online")).await;
    node.stop().await.unwrap();
    // Silent for 3 intervals (0.5 s here): its receivers go offline, saying why, and its
    // services unhealthy.
    common::wait_for(&mut ws, WAIT, "the node's receivers offline", |m| {
        all("offline")(m)
            && m["data"]["websdrs"].as_array().is_some_and(|w| {
                w.iter().all(|r| {
                    r["detail"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("node edge-1 has not reported since"))
                })
            })
    })
    .await;
    wait_for_service(&gateway, "dsp@edge-1", "unhealthy").await;
    // It comes back.
    let node = RunningNode::start(node_config(&nats.url(), "edge-1"))
        .await
        .expect("node restarts");
    common::wait_for(&mut ws, WAIT, "the node's receivers back", |m| {
        m["event"] == "websdrs:status"
            && m["data"]["websdrs"].as_array().is_some_and(|w| {
                w.iter().all(|r| {
                    r["status"] != "offline" && r["detail"].as_str().is_none_or(|d| !d.starts_with("node "))
                })
            })
    })
    .await;
    gateway.stop().await.unwrap();
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_nats_buffers_up_to_its_bound_and_counts_what_it_drops() {
    const BOUND: usize = 20;
    let mut nats = NatsServer::reserve();
    let mut config = node_config(&nats.url(), "edge-1");
    config.bus.buffer_events = BOUND;
    let node = RunningNode::start(config)
        .await
        .expect("a node starts without NATS");
    for n in 0..50 {
        node.publisher().publish(signal(n)).await;
    }
    let stats = node.publisher().stats().clone();
    let started = std::time::Instant::now();
    while stats.accepted.load(Ordering::Relaxed) < 50 {
        assert!(started.elapsed() < WAIT, "{stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The buffer holds the newest events up to its bound; the rest are counted, and the
    // node's bus health says so.
    assert_eq!(stats.waiting.load(Ordering::Relaxed), BOUND as u64, "{stats:?}");
    assert!(stats.dropped.load(Ordering::Relaxed) >= 30, "{stats:?}");
    let (status, detail) = node.publisher().health();
    assert_eq!(status, sdrhub::events::HealthStatus::Degraded);
    assert!(
        detail.contains("unreachable") && detail.contains("dropped"),
        "{detail}"
    );

    // NATS appears: what the buffer held is published, oldest first.
    nats.restart();
    let gateway = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway starts");
    wait_for_service(&gateway, "bus", "healthy").await;
    let mut ws = connect(&gateway, "/ws?events=signals:detected&since=0").await;
    let mut received = Received::default();
    received
        .read_until(&mut ws, |r| {
            r.signals.last().is_some_and(|(_, id)| id == "edge-1/test-49")
        })
        .await;
    let got: Vec<String> = received.signals.iter().map(|(_, id)| id.clone()).collect();
    let first: u64 = got[0].trim_start_matches("edge-1/test-").parse().unwrap();
    assert_eq!(
        got,
        ids("edge-1", first..50),
        "the newest events, in order, none twice"
    );
    assert!(first >= 30, "at most {BOUND} events were held: {got:?}");
    gateway.stop().await.unwrap();
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_the_cluster_nginx_get_the_same_events_whichever_gateway_serves_them() {
    let nats = NatsServer::start();
    let node = RunningNode::start(node_config(&nats.url(), "edge-1"))
        .await
        .expect("node starts");
    let a = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway A starts");
    let b = RunningServer::start_gateway(gateway_config(&nats.url())).expect("gateway B starts");
    for gateway in [&a, &b] {
        wait_for_service(gateway, "bus", "healthy").await;
    }
    let nginx = common::nginx::Nginx::start_cluster(a.addr, b.addr);
    let path = "/ws?events=signals:detected";
    let through_nginx = |path: &str| format!("ws://{}{path}", nginx.addr);
    // Clients until both gateways serve some (nginx balances per worker process).
    let mut clients: Vec<Ws> = Vec::new();
    let connections = |stats: &Value| stats["connections"].as_u64().unwrap_or(0);
    loop {
        let (mut ws, _) = tokio_tungstenite::connect_async(through_nginx(path))
            .await
            .expect("connects through nginx");
        assert_eq!(next_json(&mut ws, WAIT).await.unwrap()["event"], "snapshot");
        clients.push(ws);
        let (_, on_a) = get_json(&a, "/api/v1/ws/stats").await;
        let (_, on_b) = get_json(&b, "/api/v1/ws/stats").await;
        if connections(&on_a) > 0 && connections(&on_b) > 0 {
            eprintln!(
                "{} client(s) through nginx: {} on gateway A, {} on gateway B",
                clients.len(),
                connections(&on_a),
                connections(&on_b)
            );
            break;
        }
        assert!(
            clients.len() < 32,
            "nginx sends every client to one gateway: {on_a} {on_b}"
        );
    }
    for n in 0..20 {
        node.publisher().publish(signal(n)).await;
    }
    let mut seen = Vec::new();
    for ws in &mut clients {
        seen.push(signals(ws, 20).await);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    assert_eq!(
        seen[0].iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(),
        ids("edge-1", 0..20)
    );
    // A client that reconnects through nginx, wherever it lands, resumes where it was.
    let mut leaving = clients.pop().unwrap();
    let _ = leaving.close(None).await;
    let last = seen[0][9].0;
    for n in 20..30 {
        node.publisher().publish(signal(n)).await;
    }
    let (mut resumed, _) = tokio_tungstenite::connect_async(through_nginx(&format!("{path}&since={last}")))
        .await
        .expect("reconnects through nginx");
    let replayed = signals(&mut resumed, 20).await;
    let expected: Vec<(u64, String)> = seen[0][10..]
        .iter()
        .cloned()
        .chain(signals(&mut clients[0], 10).await)
        .collect();
    assert_eq!(replayed, expected);
    // The dashboard comes through too.
    let page = reqwest::get(format!("http://{}/", nginx.addr)).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    drop(nginx);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    node.stop().await.unwrap();
}

/// The scene of the TDOA test as node `node` runs it: four receivers on a 10 km ring (this
/// node runs `receivers` of them), one FM transmitter always on, one shared epoch.
fn tdoa_node_config(url: &str, node: &str, receivers: &[&str], epoch_s: i64) -> Config {
    let mut config = node_config(url, node);
    config.simulation.receiver_count = 4;
    config.simulation.transmitters = common::test_config()
        .simulation
        .transmitters
        .into_iter()
        .filter(|t| t.id == "voice")
        .map(|mut t| {
            t.schedule = None;
            t
        })
        .collect();
    config.acquisition.simulated_receivers = receivers.iter().map(|r| r.to_string()).collect();
    config.acquisition.simulation_epoch_s = Some(epoch_s);
    config.localization.interval_s = 1.0;
    config.localization.tdoa_window_s = 0.25;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_acquisition_nodes_locate_a_transmitter_by_tdoa_through_the_locate_worker() {
    let nats = NatsServer::start();
    let url = nats.url();
    let epoch_s = chrono_now_s() - 5;
    let split: [(&str, &[&str]); 3] = [
        ("edge-1", &["rx1", "rx2"]),
        ("edge-2", &["rx3"]),
        ("edge-3", &["rx4"]),
    ];
    let mut nodes = Vec::new();
    for (node, receivers) in split {
        nodes.push(
            RunningNode::start(tdoa_node_config(&url, node, receivers, epoch_s))
                .await
                .expect("node starts"),
        );
    }
    let mut worker_config = gateway_config(&url);
    worker_config.bus.node_id = "locate-1".into();
    let worker = sdrhub::roles::locate_worker::RunningWorker::start(worker_config)
        .await
        .expect("the locate worker starts");
    let gateway = RunningServer::start_gateway(gateway_config(&url)).expect("gateway starts");
    let mut ws = connect(&gateway, "/ws?events=localizations:updated").await;
    let (fix, took) = common::wait_for(&mut ws, Duration::from_secs(60), "a TDOA fix across nodes", |m| {
        m["event"] == "localizations:updated" && m["data"]["method"] == "tdoa"
    })
    .await;
    let data = &fix["data"];
    let used: Vec<&str> = data["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    // Receivers of all three nodes took part.
    assert!(used.contains(&"rx3") && used.contains(&"rx4"), "{data}");
    assert!(used.contains(&"rx1") || used.contains(&"rx2"), "{data}");
    assert!(data["signal_id"].as_str().unwrap().starts_with("edge-"), "{data}");
    // Where the transmitter is.
    let truth = common::test_config()
        .simulation
        .transmitters
        .into_iter()
        .find(|t| t.id == "voice")
        .unwrap();
    let error_m = sdrhub_dsp::geo::GeoPoint::new(truth.latitude, truth.longitude).distance_m(
        sdrhub_dsp::geo::GeoPoint::new(
            data["latitude"].as_f64().unwrap(),
            data["longitude"].as_f64().unwrap(),
        ),
    );
    let uncertainty_m = data["uncertainty_m"].as_f64().unwrap();
    eprintln!(
        "TDOA across 3 nodes after {took:?}: error {error_m:.0} m, 68 % radius {uncertainty_m:.0} m, receivers {used:?}; worker {:?}",
        worker.stats
    );
    assert!(
        error_m < (4.0 * uncertainty_m).max(300.0),
        "{error_m:.0} m from the transmitter, 68 % radius {uncertainty_m:.0} m: {data}"
    );
    // The worker reports its health like a node.
    wait_for_service(&gateway, "localization@locate-1", "healthy").await;
    gateway.stop().await.unwrap();
    worker.stop().await;
    for node in nodes {
        node.stop().await.unwrap();
    }
}

fn chrono_now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A light scene for the binaries: two receivers at 256 kS/s.
const LIGHT_SCENE: &str = r#"
[server]
health_interval_s = 0.5
status_interval_s = 0.5
[dsp]
fft_size = 1024
averages = 8
[simulation]
sample_rate_hz = 256000.0
block_samples = 8192
receiver_count = 2
transmitters = []
[bus]
node_id = "edge-bin"
"#;

/// Starts `sdrhub <args>` with `config`; returns it and a channel of its stderr lines.
fn spawn_sdrhub(args: &[&str], config: &std::path::Path) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// SIGTERM, then the exit status.
async fn terminate(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_as_acquisition_node_and_gateway_joined_by_nats() {
    let nats = NatsServer::start();
    let config = nats.store.parent().unwrap().join("sdrhub.toml");
    std::fs::write(&config, LIGHT_SCENE).unwrap();
    let (node, _node_log) = spawn_sdrhub(&["acquire", "--bus", &nats.url()], &config);
    let (gateway, gateway_log) = spawn_sdrhub(
        &["gateway", "--bus", &nats.url(), "--bind", "127.0.0.1:0"],
        &config,
    );
    let addr = loop {
        let line = gateway_log
            .recv_timeout(WAIT)
            .expect("the gateway logs its address");
        if let Some(at) = line.find("listening on http://") {
            break line[at + "listening on http://".len()..].trim().to_string();
        }
    };
    let (mut ws, _): (Ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?events=websdrs:status"))
            .await
            .expect("connects");
    // The node's two receivers reach the gateway's clients.
    let (status, _) = common::wait_for(&mut ws, WAIT, "the node's receivers", |m| {
        m["event"] == "websdrs:status" && m["data"]["websdrs"].as_array().is_some_and(|w| w.len() == 2)
    })
    .await;
    assert!(
        status["seq"].as_u64().unwrap() > 0,
        "numbered by the stream: {status}"
    );
    // Both stop cleanly on SIGTERM.
    assert!(terminate(gateway).await.success(), "the gateway exits 0");
    assert!(terminate(node).await.success(), "the node exits 0");

    // The roles need a bus, and say so.
    for role in ["acquire", "gateway"] {
        let output = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
            .args([role, "--bind", "127.0.0.1:0"])
            .env_remove("SDRHUB_CONFIG")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("bus.url is empty"), "{role}: {stderr}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(["gateway", "--bus", "http://127.0.0.1:4222"])
        .env_remove("SDRHUB_CONFIG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bus.url = \"http://127.0.0.1:4222\""), "{stderr}");
}
