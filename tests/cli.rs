//! The `sdrhub` binary as a user runs it: the embedded default, bad configuration, signals.

mod common;

use common::{next_json, Ws};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary with the embedded default configuration on a free loopback port and
/// returns it with the address it logged.
fn start_default() -> (Child, String, Instant) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(["--bind", "127.0.0.1:0", "--log-format", "human"])
        .env_remove("SDRHUB_CONFIG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let addr = line[at + "listening on http://".len()..].trim().to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server logs its address");
    (child, addr, started)
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_hub_sends_all_four_events_within_ten_seconds_and_stops_cleanly_on_sigterm() {
    let (mut child, addr, started) = start_default();
    let (mut ws, _): (Ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/updates"))
        .await
        .expect("connects");
    let mut seen = HashSet::new();
    let deadline = started + Duration::from_secs(10);
    while seen.len() < 4 {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| {
                panic!("only {seen:?} within 10 s of start");
            });
        let message = next_json(&mut ws, left)
            .await
            .unwrap_or_else(|| panic!("only {seen:?} within 10 s"));
        let event = message["event"].as_str().unwrap().to_string();
        if event == "snapshot" {
            // Health is sent on a change and every 10 s: a change that came before the client
            // is in the snapshot, which holds the same report.
            if message["data"]["services:health"]["services"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
            {
                seen.insert("services:health".to_string());
            }
        } else {
            seen.insert(event);
        }
    }
    // The dashboard is served too.
    let page = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("/js/main.js"));

    terminate(&child);
    let mut close_code = None;
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut ws)).await
    {
        if let tokio_tungstenite::tungstenite::Message::Close(frame) = frame {
            close_code = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(close_code, Some(1001), "clients get 'going away' on shutdown");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

fn run_with(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sdrhub"));
    command.args(args).env_remove("SDRHUB_CONFIG");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

#[test]
fn a_bad_setting_stops_start_up_with_a_message_naming_the_key() {
    let output = run_with(&["config"], &[("SDRHUB_DSP__FFT_SIZE", "1000")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dsp.fft_size") && stderr.contains("power of two"),
        "{stderr}"
    );

    let output = run_with(&["--bind", "not-an-address", "config"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("server.bind"));

    let dir = std::env::temp_dir().join(format!("sdrhub-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[server]\nheartbeat_interval_s = \"often\"\n").unwrap();
    let output = run_with(&["--config", file.to_str().unwrap(), "config"], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("heartbeat_interval_s"), "{stderr}");

    std::fs::write(&file, "[server]\nport = 80\n").unwrap();
    let output = run_with(&["--config", file.to_str().unwrap(), "config"], &[]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("port"),
        "unknown keys are refused"
    );

    let output = run_with(&["--config", "/nonexistent/sdrhub.toml", "config"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/sdrhub.toml"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn layers_apply_in_order_file_then_environment_then_flags() {
    let dir = std::env::temp_dir().join(format!("sdrhub-layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sdrhub.toml");
    std::fs::write(
        &file,
        "[server]\nbind = \"127.0.0.1:9001\"\nclient_queue = 99\n[simulation]\nseed = 5\n",
    )
    .unwrap();
    let output = run_with(
        &["--config", file.to_str().unwrap(), "--seed", "7", "config"],
        &[
            ("SDRHUB_SERVER__CLIENT_QUEUE", "123"),
            ("SDRHUB_SIMULATION__SEED", "6"),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let effective: toml::Value = toml::from_str(&String::from_utf8_lossy(&output.stdout)).unwrap();
    assert_eq!(
        effective["server"]["bind"].as_str(),
        Some("127.0.0.1:9001"),
        "file"
    );
    assert_eq!(
        effective["server"]["client_queue"].as_integer(),
        Some(123),
        "env over file"
    );
    assert_eq!(
        effective["simulation"]["seed"].as_integer(),
        Some(7),
        "flag over env"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_example_config_is_valid_and_documents_the_defaults() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/sdrhub.example.toml");
    let output = run_with(&["--config", example, "config"], &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn simulate_describe_prints_the_scene_with_the_tones_of_its_fm_voice() {
    let output = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(["simulate", "--describe"])
        .env_remove("SDRHUB_CONFIG")
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let scene: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(scene["receivers"].as_array().unwrap().len(), 5);
    let transmitters = scene["transmitters"].as_array().unwrap();
    let voice = transmitters
        .iter()
        .find(|t| t["kind"] == "fm")
        .expect("an FM voice");
    let tones = voice["message_tones"].as_array().unwrap();
    assert_eq!(tones.len(), 3, "{voice}");
    // Strongest first, each inside the voice band, their shares of the deviation under 1.
    let shares: Vec<f64> = tones.iter().map(|t| t["share"].as_f64().unwrap()).collect();
    assert!(shares.windows(2).all(|w| w[0] >= w[1]), "{shares:?}");
    assert!(shares.iter().sum::<f64>() <= 1.0 + 1e-9, "{shares:?}");
    assert!(tones
        .iter()
        .all(|t| (100.0..3_200.0).contains(&t["frequency_hz"].as_f64().unwrap())));
    // A carrier has none.
    let carrier = transmitters
        .iter()
        .find(|t| t["kind"] == "cw")
        .expect("a carrier");
    assert_eq!(carrier["message_tones"], serde_json::json!([]));
}
