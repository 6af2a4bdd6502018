//! `sdrhub locate` the way a user runs it: `sdrhub simulate --kiwi` serves the HF scene as five
//! emulated KiwiSDRs, five `sdrhub record --format kiwi-wav` processes record them at the same
//! time, and `sdrhub locate` on the five files must recover the simulated transmitter.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sdrhub");

/// Starts `sdrhub simulate --kiwi --port 0` and returns it with the configuration it printed.
fn simulate() -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .args(["simulate", "--kiwi", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sdrhub simulate starts");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut config = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Five receivers, each "frequency_hz = ..." closing its entry.
    while config.matches("frequency_hz").count() < 5 {
        assert!(
            Instant::now() < deadline,
            "simulate printed no configuration: {config}"
        );
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("simulate exited: {config}");
        }
        config.push_str(&line);
    }
    (child, config)
}

#[test]
fn locate_on_kiwi_wav_recordings_of_the_emulator_recovers_the_transmitter() {
    let dir = std::env::temp_dir().join(format!("sdrhub-locate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut simulator, config) = simulate();
    let config_path = dir.join("kiwis.toml");
    std::fs::write(&config_path, &config).unwrap();
    let ids = [
        "kiwi-brest",
        "kiwi-lille",
        "kiwi-strasbourg",
        "kiwi-nice",
        "kiwi-toulouse",
    ];
    let recorders: Vec<_> = ids
        .iter()
        .map(|id| {
            Command::new(BIN)
                .arg("--config")
                .arg(&config_path)
                .args([
                    "record",
                    "--receiver",
                    id,
                    "--seconds",
                    "8",
                    "--format",
                    "kiwi-wav",
                    "--out",
                ])
                .arg(dir.join(id))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("sdrhub record starts")
        })
        .collect();
    for (id, mut recorder) in ids.iter().zip(recorders) {
        let status = recorder.wait().unwrap();
        let mut log = String::new();
        recorder.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        assert!(status.success(), "record {id}: {log}");
        eprint!("{log}");
    }
    let _ = simulator.kill();
    let _ = simulator.wait();

    let files: Vec<_> = ids.iter().map(|id| dir.join(format!("{id}.wav"))).collect();
    let map = dir.join("map.svg");
    // The scene's data bursts transmitter (hf_scene: tx-data).
    let truth = sdrhub_dsp::geo::GeoPoint::new(46.2, 3.9);
    let output = Command::new(BIN)
        .arg("locate")
        .args(&files)
        .args(["--json", "--truth", "46.2,3.9", "--map"])
        .arg(&map)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "locate failed: {stderr}");
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    eprintln!("{stderr}{result}");
    let position = sdrhub_dsp::geo::GeoPoint::new(
        result["latitude"].as_f64().unwrap(),
        result["longitude"].as_f64().unwrap(),
    );
    let error = position.distance_m(truth);
    let radius = result["uncertainty_m"].as_f64().unwrap();
    assert!(
        (result["frequency_hz"].as_f64().unwrap() - 9.998e6).abs() < 100.0,
        "{result}"
    );
    // Five receivers 300-900 km apart, 1 s of 12 kHz IQ: a few hundred metres.
    assert!(radius > 10.0 && radius < 3_000.0, "{result}");
    assert!(
        error < 3.0 * radius,
        "error {error:.0} m against a 68 % radius of {radius:.0} m"
    );
    assert_eq!(result["delays"].as_array().unwrap().len(), 4, "{result}");
    assert!(result["delays"][0]["residual_m"].as_f64().is_some(), "{result}");
    let svg = std::fs::read_to_string(&map).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<ellipse") && svg.matches("<path").count() >= 4);
    std::fs::remove_dir_all(Path::new(&dir)).ok();
}
