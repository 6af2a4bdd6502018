//! Issue 17, acceptance 4: active alerts come back from the history database after a restart
//! without being raised twice.
//!
//! The real binary (the default scene plus two KiwiSDR receivers served by the emulator, an
//! SQLite history in its working directory) raises three alerts: the scene's steady carrier
//! over a level, and each KiwiSDR receiver stopped. It is killed with SIGKILL; one receiver is
//! brought back while the hub is down, and the hub restarted on the same directory. Then:
//! the three alerts are in the first snapshot under their ids; over the whole restore grace
//! nothing is raised again (the carrier, now tracked under other signal and emitter ids, and
//! the receiver still down keep their alerts), the receiver that came back gets its alert
//! resolved once; `GET /api/v1/alerts` agrees, and the next alert is numbered after the stored
//! ones.

mod common;

use common::{next_json, wait_for, Ws};
use sdrhub::config::{AlertRule, Config, KiwiReceiverConfig, ReceiverConfig};
use sdrhub::events::AlertKind;
use sdrhub_hardware::acquisition::now_ns;
use sdrhub_hardware::kiwi::{hf_scene, KiwiEmulator, KiwiEmulatorConfig};
use sdrhub_hardware::sim::Scene;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `alerts.restore_grace_s` of the test: the KiwiSDR receivers connect and the carrier is
/// confirmed well within it.
const GRACE_S: f64 = 15.0;
/// The scene's steady carrier ("Interfering carrier" of the embedded configuration).
const CARRIER_HZ: f64 = 145_112_500.0;

/// A fresh working directory, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> WorkDir {
        let dir = std::env::temp_dir().join(format!("sdrhub-alerts-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a working directory");
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A hub process, killed when dropped (a failed test leaves nothing running).
struct Hub(Child, String);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kiwi(id: &str, url: String) -> ReceiverConfig {
    ReceiverConfig::Kiwisdr(KiwiReceiverConfig {
        id: id.into(),
        name: String::new(),
        url,
        password: String::new(),
        frequency_hz: hf_scene().center_frequency_hz,
        latitude: None,
        longitude: None,
        user: "sdrhub-test".into(),
        gain_db: 50,
        fft_size: 1024,
        averages: 4,
        status_probe_interval_s: 1.0,
    })
}

/// The embedded default plus the two KiwiSDR receivers and the rules.
fn config(kiwi_a: String, kiwi_b: String) -> Config {
    let mut config = Config::default();
    config.server.status_interval_s = 0.5;
    // The scene runs beside the configured receivers.
    config.simulation.enabled = Some(true);
    config.receivers.push(kiwi("kiwi-a", kiwi_a));
    config.receivers.push(kiwi("kiwi-b", kiwi_b));
    config.alerts.restore_grace_s = GRACE_S;
    config.alerts.rules = vec![
        AlertRule {
            for_s: 1.0,
            freq_min_hz: Some(CARRIER_HZ - 10_000.0),
            freq_max_hz: Some(CARRIER_HZ + 10_000.0),
            power_dbfs: Some(-200.0),
            ..AlertRule::new("carrier", AlertKind::Level)
        },
        AlertRule {
            for_s: 1.0,
            receivers: vec!["kiwi-a".into(), "kiwi-b".into()],
            ..AlertRule::new("kiwi-down", AlertKind::ReceiverOffline)
        },
    ];
    config
}

/// `sdrhub serve` with `config.toml` in `dir`, on a free loopback port.
fn start(dir: &Path) -> Hub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "human",
            "--config",
            "config.toml",
            "serve",
        ])
        .current_dir(dir)
        .env_remove("SDRHUB_CONFIG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Shown when the test fails.
            eprintln!("hub: {line}");
            if let Some(at) = line.find("listening on http://") {
                let _ = tx.send(line[at + "listening on http://".len()..].trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server logs its address");
    Hub(child, addr)
}

async fn connect(hub: &Hub) -> Ws {
    let url = format!("ws://{}/ws?events=alerts:raised,websdrs:status", hub.1);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects")
        .0
}

fn status(message: &Value, receiver: &str) -> Option<String> {
    (message["event"] == "websdrs:status").then_some(())?;
    let entry = message["data"]["websdrs"]
        .as_array()?
        .iter()
        .find(|r| r["id"] == receiver)?;
    Some(entry["status"].as_str()?.to_string())
}

fn alert(message: &Value) -> Option<&Value> {
    (message["event"] == "alerts:raised").then_some(&message["data"])
}

/// The raised alert about `emitter` (or any of `rule` when `None`), waiting at most `limit`.
async fn raised(ws: &mut Ws, rule: &str, emitter: Option<&str>, limit: Duration) -> Value {
    let (message, _) = wait_for(ws, limit, rule, |m| {
        alert(m).is_some_and(|a| {
            a["state"] == "raised" && a["rule"] == rule && emitter.is_none_or(|e| a["emitter_id"] == e)
        })
    })
    .await;
    message["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_alerts_come_back_after_a_kill_without_being_raised_again() {
    let dir = WorkDir::new();
    let scene = |receiver| Scene::new(hf_scene()).map(|s| KiwiEmulatorConfig::new(s, receiver, now_ns()));
    let mut kiwi_a = KiwiEmulator::start(scene(0).unwrap()).expect("emulator A");
    let mut kiwi_b = KiwiEmulator::start(scene(1).unwrap()).expect("emulator B");
    std::fs::write(
        dir.0.join("config.toml"),
        config(kiwi_a.url(), kiwi_b.url()).to_toml(),
    )
    .unwrap();

    // First run: the carrier's alert, then both receivers stopped.
    let hub = start(&dir.0);
    let mut ws = connect(&hub).await;
    let snapshot = next_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("a snapshot");
    // Raised a second after the start: maybe before the client connected.
    let carrier = match snapshot["data"]["alerts:raised"]["alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["rule"] == "carrier"))
    {
        Some(report) => report.clone(),
        None => raised(&mut ws, "carrier", None, Duration::from_secs(30)).await,
    };
    for receiver in ["kiwi-a", "kiwi-b"] {
        wait_for(&mut ws, Duration::from_secs(30), "online", |m| {
            status(m, receiver).as_deref() == Some("online")
        })
        .await;
    }
    // Any alert about the start-up (receivers not yet connected) resolves before they stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while next_json(&mut ws, Duration::from_millis(200)).await.is_some() {}
    kiwi_a.stop();
    kiwi_b.stop();
    let mut before = BTreeMap::new();
    before.insert("carrier".to_string(), carrier);
    // Both, in whichever order they come.
    let deadline = Instant::now() + Duration::from_secs(15);
    while before.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let report = raised(&mut ws, "kiwi-down", None, left).await;
        let receiver = report["emitter_id"].as_str().unwrap().to_string();
        before.insert(receiver, report);
    }
    let (_, listing) = get(&hub, "/api/v1/alerts").await;
    let active_before: BTreeSet<String> = ids(&listing["active"]);
    assert_eq!(
        active_before,
        before
            .values()
            .map(|a| a["alert_id"].as_str().unwrap().to_string())
            .collect(),
        "{listing}"
    );
    let largest = active_before
        .iter()
        .chain(&ids(&listing["past"]))
        .map(|id| id["alert-".len()..].parse::<u64>().unwrap())
        .max()
        .unwrap();
    // The history writer commits every 200 ms.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(ws);
    let mut hub = hub;
    // SIGKILL: nothing is flushed at exit.
    hub.0.kill().unwrap();
    hub.0.wait().unwrap();
    drop(hub);

    // While the hub is down, B comes back.
    kiwi_b.restart().expect("emulator B restarts");
    let hub = start(&dir.0);
    let started = Instant::now();
    let mut ws = connect(&hub).await;
    let snapshot = next_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("a snapshot");
    assert_eq!(
        ids(&snapshot["data"]["alerts:raised"]["alerts"]),
        active_before,
        "{snapshot}"
    );
    for report in snapshot["data"]["alerts:raised"]["alerts"].as_array().unwrap() {
        let was = before
            .values()
            .find(|a| a["alert_id"] == report["alert_id"])
            .unwrap();
        assert_eq!(report["raised_at"], was["raised_at"], "{report}");
    }

    // Through the grace and beyond: only B's alert changes, resolved once.
    let mut said: Vec<Value> = Vec::new();
    let until = started + Duration::from_secs_f64(GRACE_S + 5.0);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match next_json(&mut ws, left).await {
            Some(m) => said.extend(alert(&m).cloned()),
            None => break,
        }
    }
    let b_id = &before["kiwi-b"]["alert_id"];
    let changes: Vec<(String, String)> = said
        .iter()
        .map(|a| {
            (
                a["alert_id"].as_str().unwrap().into(),
                a["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [(b_id.as_str().unwrap().to_string(), "resolved".to_string())],
        "after the restart, only B's alert changed: {said:#?}"
    );
    let (_, listing) = get(&hub, "/api/v1/alerts").await;
    let still: BTreeSet<String> = [&before["carrier"], &before["kiwi-a"]]
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids(&listing["active"]), still, "{listing}");
    let carrier_now = listing["active"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "carrier")
        .unwrap();
    assert!(
        (carrier_now["frequency_hz"].as_f64().unwrap() - CARRIER_HZ).abs() < 2_000.0,
        "{carrier_now}"
    );
    assert!(
        ids(&listing["past"]).contains(b_id.as_str().unwrap()),
        "{listing}"
    );

    // A new alert is numbered after the stored ones.
    kiwi_b.stop();
    let again = raised(&mut ws, "kiwi-down", Some("kiwi-b"), Duration::from_secs(15)).await;
    let number: u64 = again["alert_id"].as_str().unwrap()["alert-".len()..]
        .parse()
        .unwrap();
    assert!(number > largest, "{again} after alert-{largest}");
    drop(hub);
    drop(kiwi_a);
}

async fn get(hub: &Hub, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}{path}", hub.1))
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["alert_id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
