//! The whole hardware path, as a user runs it: sdrhub with a SoapySDR receiver
//! (`driver=redpitaya`, the real libSoapySDR and the real Debian driver module) streaming from
//! the Red Pitaya emulator, watched through the WebSocket. The emulator is killed and
//! restarted mid-stream like an unplugged and replugged device.

mod common;

use common::{connect, wait_for};
use sdrhub::config::{Config, ReceiverConfig};
use sdrhub_hardware::emulator::{EmulatorConfig, RedPitayaEmulator, Scene, Tone};
use sdrhub_hardware::soapy::SoapyReceiverConfig;
use serde_json::Value;
use std::time::{Duration, Instant};

const CENTER_HZ: f64 = 7_100_000.0;
const TONE_OFFSET_HZ: f64 = 12_500.0;
const RATE_HZ: f64 = 100_000.0;

fn config(device_args: String) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.server.status_interval_s = 0.5;
    config.server.health_interval_s = 0.5;
    config.dsp.fft_size = 1024;
    config.acquisition.backoff_initial_s = 0.2;
    config.acquisition.backoff_max_s = 1.0;
    config.receivers.push(ReceiverConfig::Soapy(SoapyReceiverConfig {
        id: "pitaya".into(),
        name: "Emulated Red Pitaya".into(),
        args: device_args,
        channel: 0,
        frequency_hz: CENTER_HZ,
        sample_rate_hz: RATE_HZ,
        bandwidth_hz: 0.0,
        gain: Default::default(),
        antenna: String::new(),
        ppm: 0.0,
        format: Default::default(),
        latitude: Some(52.0),
        longitude: Some(4.5),
    }));
    config
}

fn receiver_status(message: &Value) -> Option<&str> {
    (message["event"] == "websdrs:status")
        .then(|| {
            message["data"]["websdrs"]
                .as_array()?
                .iter()
                .find(|r| r["id"] == "pitaya")?["status"]
                .as_str()
        })
        .flatten()
}

fn is_the_tone(message: &Value, states: &[&str]) -> bool {
    let bin_hz = RATE_HZ / 1024.0;
    message["event"] == "signals:detected"
        && states.iter().any(|s| message["data"]["state"] == *s)
        && (message["data"]["frequency_hz"].as_f64().unwrap_or(0.0) - (CENTER_HZ + TONE_OFFSET_HZ)).abs()
            <= bin_hz
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soapysdr_receiver_streams_detects_and_survives_being_unplugged() {
    let scene = Scene {
        tones: vec![Tone {
            offset_hz: TONE_OFFSET_HZ,
            amplitude: 0.3,
        }],
        noise_rms: 0.01,
        seed: 7,
    };
    let mut emulator = RedPitayaEmulator::start(EmulatorConfig { port: 0, scene }).expect("emulator starts");
    let server = sdrhub::roles::RunningServer::start(config(emulator.device_args())).expect("server starts");
    let mut ws = connect(&server, "/ws/updates").await;

    // The tone, at RF = centre + offset, and the receiver online.
    wait_for(&mut ws, Duration::from_secs(15), "detection of the tone", |m| {
        is_the_tone(m, &["new"])
    })
    .await;
    wait_for(&mut ws, Duration::from_secs(5), "receiver online", |m| {
        receiver_status(m) == Some("online")
    })
    .await;

    // Unplug: offline within 2 s, and the signal is reported lost.
    emulator.stop();
    let (_, offline) = wait_for(&mut ws, Duration::from_secs(2), "receiver offline", |m| {
        receiver_status(m) == Some("offline")
    })
    .await;
    eprintln!("offline {offline:?} after the emulator stopped");
    wait_for(&mut ws, Duration::from_secs(6), "the tone lost", |m| {
        is_the_tone(m, &["lost"])
    })
    .await;

    // Replug: streaming and detection resume within 5 s, same process.
    emulator.restart().expect("emulator restarts on the same port");
    // Both within 5 s, in either order (the detection can beat the next status report).
    let started = Instant::now();
    let (online, detected) = (std::cell::Cell::new(false), std::cell::Cell::new(false));
    wait_for(
        &mut ws,
        Duration::from_secs(5),
        "receiver online and the tone detected again",
        |m| {
            online.set(online.get() || receiver_status(m) == Some("online"));
            detected.set(detected.get() || is_the_tone(m, &["new"]));
            online.get() && detected.get()
        },
    )
    .await;
    eprintln!(
        "streaming and detection resumed {:?} after the restart",
        started.elapsed()
    );
    server.stop().await.unwrap();
}

#[test]
fn sdrhub_devices_lists_the_emulated_device() {
    let emulator = RedPitayaEmulator::start(EmulatorConfig {
        port: 0,
        scene: Scene::default(),
    })
    .expect("emulator");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(["devices", "--probe", &emulator.device_args(), "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let devices: Value = serde_json::from_slice(&output.stdout).unwrap();
    let text = devices.to_string();
    assert_eq!(devices[0]["driver"], "redpitaya", "{text}");
    for rate in ["20000", "1250000"] {
        assert!(text.contains(rate), "sample rate {rate} listed: {text}");
    }
    assert!(text.contains("60000000"), "frequency range listed: {text}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(["devices", "--probe", &emulator.device_args()])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("redpitaya"));
}

#[test]
fn sdrhub_records_a_soapysdr_receiver_and_detect_finds_its_tone() {
    let scene = Scene {
        tones: vec![Tone {
            offset_hz: TONE_OFFSET_HZ,
            amplitude: 0.3,
        }],
        noise_rms: 0.01,
        seed: 3,
    };
    let emulator = RedPitayaEmulator::start(EmulatorConfig { port: 0, scene }).expect("emulator");
    let dir = std::env::temp_dir().join(format!("sdrhub-soapy-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("sdrhub.toml");
    std::fs::write(
        &config_path,
        format!(
            "[[receivers]]\nkind = \"soapy\"\nid = \"pitaya\"\nargs = \"{}\"\nfrequency_hz = {CENTER_HZ}\nsample_rate_hz = {RATE_HZ}\n",
            emulator.device_args()
        ),
    )
    .unwrap();
    let out = dir.join("pitaya");
    let sdrhub = env!("CARGO_BIN_EXE_sdrhub");
    let config_arg = config_path.to_str().unwrap();
    let record = std::process::Command::new(sdrhub)
        .args([
            "--config",
            config_arg,
            "record",
            "--seconds",
            "1.5",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        record.status.success(),
        "{}",
        String::from_utf8_lossy(&record.stderr)
    );
    let detect = std::process::Command::new(sdrhub)
        .args(["detect", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        detect.status.success(),
        "{}",
        String::from_utf8_lossy(&detect.stderr)
    );
    let bin_hz = RATE_HZ / 4096.0;
    let found = String::from_utf8_lossy(&detect.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|s| (s["frequency_hz"].as_f64().unwrap_or(0.0) - (CENTER_HZ + TONE_OFFSET_HZ)).abs() <= bin_hz);
    assert!(
        found,
        "the emulated tone in the recording: {}",
        String::from_utf8_lossy(&detect.stdout)
    );
    std::fs::remove_dir_all(&dir).ok();
}
