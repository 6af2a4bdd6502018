//! Alerts over MQTT against Debian's real mosquitto on 127.0.0.1 (issue 17, acceptance 2):
//! an alert arrives with QoS 1 and the rule's active set is retained; with the broker stopped
//! for 10 s and started again, an alert raised meanwhile is delivered after it returns. The
//! mirror of the event topics publishes what WebSocket clients get, the state topics retained.
//! (`scripts/test.sh` installs mosquitto.)

mod common;

use common::*;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use sdrhub::config::{AlertRule, Config, MqttConfig};
use sdrhub::events::AlertKind;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A message the subscriber got.
#[derive(Debug, Clone)]
struct Got {
    topic: String,
    payload: Value,
    qos: QoS,
    retain: bool,
    at: Instant,
}

/// mosquitto on `port` of 127.0.0.1, anonymous, keeping its sessions in `dir` across a clean
/// stop (so the test's subscriber, with a persistent session, misses nothing; the hub's own
/// session is a clean one, so what it had in flight is its own to send again). `user root`:
/// started as root, mosquitto would drop to its own user, which cannot write the test's
/// directory (not started as root, the option is ignored).
fn broker(port: u16, dir: &std::path::Path) -> Broker {
    assert!(
        std::path::Path::new(MOSQUITTO).exists(),
        "{MOSQUITTO} not found: apt-get install -y mosquitto (scripts/test.sh does)"
    );
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location {}/\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new(MOSQUITTO)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto starts");
    let broker = Broker(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    broker
}

/// A running mosquitto, killed if the test fails before stopping it.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The active alerts the hub lists.
async fn active(server: &sdrhub::roles::RunningServer) -> Vec<Value> {
    let listed: Value = reqwest::get(format!("http://{}/api/v1/alerts", server.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["active"].as_array().cloned().unwrap_or_default()
}

/// A subscriber to `sdrhub/alerts/#` that subscribes again after every reconnect.
fn subscriber(port: u16) -> Arc<Mutex<Vec<Got>>> {
    subscribe(port, "alerts-test-subscriber", "sdrhub/alerts/#")
}

/// A subscriber (client id `id`) to `filter`.
fn subscribe(port: u16, id: &str, filter: &'static str) -> Arc<Mutex<Vec<Got>>> {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let log = got.clone();
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_clean_session(false);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
                }
                Ok(Event::Incoming(Packet::Publish(p))) => log.lock().unwrap().push(Got {
                    topic: p.topic.clone(),
                    payload: serde_json::from_slice(&p.payload).unwrap_or(Value::Null),
                    qos: p.qos,
                    retain: p.retain,
                    at: Instant::now(),
                }),
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    got
}

/// Stops mosquitto as its service would (SIGTERM: it saves its sessions).
fn stop(mosquitto: &mut Broker) {
    let status = Command::new("kill")
        .args(["-TERM", &mosquitto.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    mosquitto.0.wait().unwrap();
}

async fn wait_got(
    got: &Arc<Mutex<Vec<Got>>>,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Got) -> bool,
) -> Got {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(g) = got.lock().unwrap().iter().find(|g| pred(g)).cloned() {
            return g;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {limit:?}: {:?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn level_rule(name: &str, carrier_hz: f64, for_s: f64) -> AlertRule {
    AlertRule {
        for_s,
        freq_min_hz: Some(carrier_hz - 5_000.0),
        freq_max_hz: Some(carrier_hz + 5_000.0),
        power_dbfs: Some(-200.0),
        ..AlertRule::new(name, AlertKind::Level)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_broker_with_qos_1_and_survive_its_restart() {
    let dir = temp_path("mosquitto", "d");
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut mosquitto = broker(port, &dir);
    let got = subscriber(port);

    let mut config: Config = test_config();
    let carrier_hz = config.simulation.center_frequency_hz + 50_000.0;
    // Both hold from the carrier's first report: the second is raised 7.5 s after the first,
    // while the broker is down.
    config.alerts.rules = vec![
        level_rule("carrier-on", carrier_hz, 0.5),
        level_rule("carrier-long", carrier_hz, 8.0),
    ];
    config.alerts.mqtt = MqttConfig {
        url: format!("mqtt://127.0.0.1:{port}"),
        ..MqttConfig::default()
    };
    let server = start(config);

    // As soon as the hub has raised the first alert, the broker is stopped for 10 s: the
    // second (7.5 s later) is raised while it is away.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !active(&server).await.iter().any(|a| a["rule"] == "carrier-on") {
        assert!(Instant::now() < deadline, "carrier-on not raised within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(&mut mosquitto);
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        active(&server).await.iter().any(|a| a["rule"] == "carrier-long"),
        "carrier-long raised while the broker was down"
    );
    // Taken as the restart begins: the hub may deliver before `broker` sees the port open.
    let up = Instant::now();
    let mut mosquitto = broker(port, &dir);
    let late = wait_got(
        &got,
        Duration::from_secs(30),
        "carrier-long after the restart",
        |g| g.topic == "sdrhub/alerts/carrier-long" && g.payload["data"]["state"] == "raised",
    )
    .await;
    assert!(late.at > up, "delivered once the broker came back");
    assert_eq!(late.qos, QoS::AtLeastOnce);
    // The first alert reached the subscriber too (before the stop or after the restart), with
    // QoS 1, and the rule's active set is retained.
    let first = wait_got(&got, Duration::from_secs(10), "carrier-on", |g| {
        g.topic == "sdrhub/alerts/carrier-on" && g.payload["data"]["state"] == "raised"
    })
    .await;
    assert_eq!(first.qos, QoS::AtLeastOnce, "{first:?}");
    assert_eq!(first.payload["event"], "alerts:raised");
    let retained = wait_got(&got, Duration::from_secs(10), "the retained active set", |g| {
        g.topic == "sdrhub/alerts/carrier-long/active"
    })
    .await;
    assert_eq!(retained.payload.as_array().map(Vec::len), Some(1), "{retained:?}");
    eprintln!(
        "broker down {:?}; carrier-long delivered {:?} after it came back",
        up - down,
        late.at - up
    );
    let metrics = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sdrhub_alert_mqtt_messages_total{outcome=\"dropped\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("sdrhub_alert_mqtt_connected 1"), "{metrics}");
    server.stop().await.unwrap();
    stop(&mut mosquitto);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrored_event_topics_reach_the_broker_and_state_is_retained() {
    let dir = temp_path("mosquitto", "d");
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _mosquitto = broker(port, &dir);
    let early = subscribe(port, "mirror-early", "sdrhub/events/#");
    let mut config: Config = test_config();
    // No rules: the mirror runs on its own.
    config.alerts.mqtt = MqttConfig {
        url: format!("mqtt://127.0.0.1:{port}"),
        mirror: vec!["signals:detected".into(), "websdrs:status".into()],
        ..MqttConfig::default()
    };
    let server = start(config);
    let mut ws = connect(&server, "/ws?events=signals:detected").await;
    let (first, _) = wait_for(&mut ws, Duration::from_secs(20), "a signal", |m| {
        m["event"] == "signals:detected"
    })
    .await;
    let signal = wait_got(&early, Duration::from_secs(10), "a mirrored signal", |g| {
        g.topic == "sdrhub/events/signals:detected"
            && g.payload["data"]["signal_id"] == first["data"]["signal_id"]
    })
    .await;
    assert_eq!(signal.payload["event"], "signals:detected");
    assert!(signal.payload.get("seq").is_none(), "{:?}", signal.payload);
    assert!(!signal.retain);
    wait_got(&early, Duration::from_secs(5), "a mirrored status", |g| {
        g.topic == "sdrhub/events/websdrs:status" && g.payload["data"]["websdrs"].is_array()
    })
    .await;
    assert!(
        early
            .lock()
            .unwrap()
            .iter()
            .all(|g| g.topic.starts_with("sdrhub/events/")
                && !g.topic.ends_with("services:health")
                && !g.topic.ends_with("localizations:updated")),
        "only the mirrored topics"
    );
    // A subscriber arriving later gets the status at once, retained; no signal is retained.
    let late = subscribe(port, "mirror-late", "sdrhub/events/#");
    let status = wait_got(&late, Duration::from_secs(5), "the retained status", |g| {
        g.topic == "sdrhub/events/websdrs:status"
    })
    .await;
    assert!(status.retain);
    assert!(
        !late
            .lock()
            .unwrap()
            .iter()
            .any(|g| g.retain && g.topic.ends_with("signals:detected")),
        "a signal report is not retained"
    );
    let metrics = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sdrhub_mqtt_mirror_messages_total{outcome=\"sent\"} "))
        .expect("the mirror's counter")
        .parse()
        .unwrap();
    assert!(sent >= 2, "{metrics}");
    assert!(metrics.contains("sdrhub_mqtt_mirror_connected 1"), "{metrics}");
    server.stop().await.unwrap();
}
