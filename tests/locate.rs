//! `sdrhub locate` the way a user runs it: `sdrhub simulate --kiwi` serves the HF scene as five
//! emulated KiwiSDRs, five `sdrhub record --format kiwi-wav` processes record them at the same
//! time, and `sdrhub locate` on the five files must recover the simulated transmitter; with
//! `--history`, its fixes are stored as localizations at the recordings' time.

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
    let recording_from = sdrhub::events::Timestamp::now().0;
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
    let recording_to = sdrhub::events::Timestamp::now().0;

    let files: Vec<_> = ids.iter().map(|id| dir.join(format!("{id}.wav"))).collect();
    let map = dir.join("map.svg");
    let history = format!("sqlite://{}", dir.join("history.sqlite").display());
    // The scene's data bursts transmitter (hf_scene: tx-data).
    let truth = sdrhub_dsp::geo::GeoPoint::new(46.2, 3.9);
    let output = Command::new(BIN)
        .arg("locate")
        .args(&files)
        .args(["--json", "--truth", "46.2,3.9", "--history", &history, "--map"])
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
    let solved = result["windows_solved"].as_u64().unwrap();
    assert_stored(&history, solved, (recording_from, recording_to), position);
    std::fs::remove_dir_all(Path::new(&dir)).ok();
}

/// `--history`: one localization per solved window, at a time inside the recordings (not when
/// locate ran), belonging to the track of the signal found in the first file (kiwi-brest's);
/// the best of them is the fix locate printed.
fn assert_stored(url: &str, solved: u64, recorded: (i64, i64), printed: sdrhub_dsp::geo::GeoPoint) {
    use sdrhub::history::query::{LocalizationQuery, SignalQuery};
    use sdrhub::history::{HistoryConfig, HistoryStore};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = HistoryStore::open(&HistoryConfig {
            url: url.into(),
            ..HistoryConfig::default()
        })
        .await
        .unwrap();
        let signals = store.signals(&SignalQuery::default()).await.unwrap().signals;
        assert_eq!(signals.len(), 1, "the located signal's track: {signals:#?}");
        let track = &signals[0];
        assert!(track.signal_id.starts_with("kiwi-brest/sig-"), "{track:?}");
        assert_eq!(track.best_receiver, "kiwi-brest");
        let fixes = store
            .localizations(&LocalizationQuery {
                from: Some(sdrhub::events::Timestamp(0)),
                to: Some(sdrhub::events::Timestamp(i64::MAX / 2)),
                ..LocalizationQuery::default()
            })
            .await
            .unwrap()
            .localizations;
        assert_eq!(fixes.len() as u64, solved, "one fix per solved window");
        for fix in &fixes {
            let l = &fix.localization;
            assert_eq!(fix.history_id, Some(track.id), "{fix:?}");
            assert_eq!(l.signal_id, track.signal_id);
            assert_eq!(l.method, sdrhub::events::LocalizationMethod::Tdoa);
            assert!(l.receivers.len() >= 3, "{l:?}");
            let t = l.timestamp.0;
            assert!(
                // (1 µs: the track's times are rounded, the windows' cut)
                t >= recorded.0
                    && t < recorded.1
                    && t >= track.first_seen.0 - 1_000
                    && t <= track.last_seen.0,
                "a fix at {t}, the recordings from {} to {}, the signal from {} to {}",
                recorded.0,
                recorded.1,
                track.first_seen.0,
                track.last_seen.0
            );
        }
        let best = fixes
            .iter()
            .min_by(|a, b| {
                a.localization
                    .uncertainty_m
                    .total_cmp(&b.localization.uncertainty_m)
            })
            .unwrap();
        let at = sdrhub_dsp::geo::GeoPoint::new(best.localization.latitude, best.localization.longitude);
        assert!(
            at.distance_m(printed) < 1e-3,
            "the best stored fix is the one printed"
        );
        store.close().await;
    });
}
