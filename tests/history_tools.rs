//! `sdrhub detect --history` as a user runs it: a recording the test makes (two tones in noise,
//! recorded in 2021), detected by the binary into an SQLite file, read back with
//! `HistoryStore`: the signals are tracks of the recording's receiver, timed by the recording.
//! (`sdrhub locate --history` is checked in tests/locate.rs, on its recordings.)

use num_complex::Complex32;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use sdrhub::events::Timestamp;
use sdrhub::history::query::SignalQuery;
use sdrhub::history::{HistoryConfig, HistoryStore};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RATE: f64 = 250_000.0;
const CENTER: f64 = 433.92e6;
const SECONDS: f64 = 2.0;
/// When the recording was made: years before any wall clock this test runs by.
const DATETIME: &str = "2021-03-04T05:06:07Z";
const DATETIME_NS: i64 = 1_614_834_367_000_000_000;

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sdrhub-history-tools-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A steady tone 60 kHz below the centre and a burst 80 kHz above it from 0.8 s to 1.4 s, in
/// complex Gaussian noise (per-bin SNRs about 27 dB), as little-endian cf32.
fn recording_bytes() -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(7);
    let sigma = (0.01f64 / 2.0).sqrt();
    let mut out = Vec::new();
    for i in 0..(SECONDS * RATE) as usize {
        let t = i as f64 / RATE;
        let mut x = Complex32::new(
            (sigma * rng.sample::<f64, _>(StandardNormal)) as f32,
            (sigma * rng.sample::<f64, _>(StandardNormal)) as f32,
        );
        for (offset, on) in [(-60_000.0, (0.0, SECONDS)), (80_000.0, (0.8, 1.4))] {
            if t >= on.0 && t < on.1 {
                let phase = 2.0 * std::f64::consts::PI * offset * t;
                x += Complex32::new((0.1 * phase.cos()) as f32, (0.1 * phase.sin()) as f32);
            }
        }
        out.extend(x.re.to_le_bytes());
        out.extend(x.im.to_le_bytes());
    }
    out
}

fn write_sigmf(base: &Path, datetime: Option<&str>) {
    let mut capture = json!({"core:sample_start": 0, "core:frequency": CENTER});
    if let Some(datetime) = datetime {
        capture["core:datetime"] = json!(datetime);
    }
    let meta = json!({
        "global": {"core:datatype": "cf32_le", "core:sample_rate": RATE, "core:version": "1.0.0"},
        "captures": [capture],
        "annotations": []
    });
    std::fs::write(format!("{}.sigmf-meta", base.display()), meta.to_string()).unwrap();
    std::fs::write(format!("{}.sigmf-data", base.display()), recording_bytes()).unwrap();
}

fn detect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .arg("detect")
        .args(args)
        .args(["--fft-size", "1024", "--averages", "8"])
        .env_remove("SDRHUB_CONFIG")
        .output()
        .expect("the binary runs")
}

fn lines(output: &Output) -> Vec<Value> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every track in the database at `url`, oldest first.
fn tracks(url: &str) -> Vec<sdrhub::events::history::HistorySignal> {
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
        .expect("the tool's database opens");
        let page = store
            .signals(&SignalQuery {
                limit: Some(1000),
                ..SignalQuery::default()
            })
            .await
            .unwrap();
        assert!(page.next_cursor.is_none());
        store.close().await;
        let mut signals = page.signals;
        signals.reverse();
        signals
    })
}

fn f64_of(line: &Value, key: &str) -> f64 {
    line[key].as_f64().unwrap_or_else(|| panic!("{key} in {line}"))
}

#[test]
fn detected_signals_are_stored_as_tracks_of_the_recordings_receiver_at_its_time() {
    let dir = TempDir::new("detect");
    let base = dir.0.join("roof-rx");
    write_sigmf(&base, Some(DATETIME));
    let url = format!("sqlite://{}/db/history.sqlite", dir.0.display());
    let path = base.display().to_string();
    let output = detect(&[&path, "--history", &url]);
    let found = lines(&output);
    assert_eq!(found.len(), 2, "{found:#?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2 result(s) stored in the history"), "{stderr}");

    let stored = tracks(&url);
    assert_eq!(stored.len(), 2, "{stored:#?}");
    let now = Timestamp::now().0;
    for line in &found {
        let id = format!("roof-rx/{}", line["signal_id"].as_str().unwrap());
        let track = stored
            .iter()
            .find(|t| t.signal_id == id)
            .unwrap_or_else(|| panic!("no track {id}: {stored:#?}"));
        // The recording's receiver and time: its datetime plus the offsets detect printed.
        assert_eq!(track.best_receiver, "roof-rx");
        assert_eq!(track.receivers, ["roof-rx"]);
        let at = |key: &str| DATETIME_NS + (f64_of(line, key) * 1e9).round() as i64;
        assert!(
            (track.first_seen.0 - at("start_s")).abs() <= 1,
            "{track:?} {line}"
        );
        assert!((track.last_seen.0 - at("end_s")).abs() <= 1, "{track:?} {line}");
        assert!(
            now - track.last_seen.0 > 365 * 86_400 * 1_000_000_000,
            "not the wall clock"
        );
        assert!((track.frequency_hz - f64_of(line, "frequency_hz")).abs() < 1e-6);
        assert!((track.bandwidth_hz - f64_of(line, "bandwidth_hz")).abs() < 1e-6);
        assert!(
            (track.mean_snr_db - f64_of(line, "snr_db")).abs() < 1e-9,
            "{track:?}"
        );
        assert!((track.mean_power_dbfs - f64_of(line, "power_dbfs")).abs() < 1e-9);
        assert!((track.peak_bin_dbfs - f64_of(line, "peak_power_dbfs")).abs() < 1e-9);
        assert_eq!(track.reports, 1, "one measurement per signal");
        assert!(track.lost, "a recording's signals have ended");
    }

    // Again over the same recording: nothing stored twice, and said so.
    let output = detect(&[&path, "--history", &url]);
    assert_eq!(lines(&output).len(), 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("0 result(s) stored") && stderr.contains("2 were stored by an earlier run"),
        "{stderr}"
    );
    let again = tracks(&url);
    assert_eq!(again, stored, "the second run changed nothing");
}

#[test]
fn a_recording_without_a_start_time_needs_one_to_be_stored() {
    let dir = TempDir::new("raw");
    let base = dir.0.join("capture");
    write_sigmf(&base, None);
    let url = format!("sqlite://{}/history.sqlite", dir.0.display());
    let path = base.display().to_string();
    let output = detect(&[&path, "--history", &url]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--start-time"), "{stderr}");
    assert!(
        !dir.0.join("history.sqlite").exists(),
        "nothing is created before the run can be stored"
    );

    // Given, with another receiver id: both are what is stored.
    let output = detect(&[
        &path,
        "--history",
        &url,
        "--start-time",
        "2020-01-02T03:04:05.5Z",
        "--receiver",
        "rtl-roof",
    ]);
    let found = lines(&output);
    assert_eq!(found.len(), 2);
    assert!(found[0]["start_time"]
        .as_str()
        .unwrap()
        .starts_with("2020-01-02T03:04:0"));
    let stored = tracks(&url);
    assert_eq!(stored.len(), 2);
    let start_ns = 1_577_934_245_500_000_000;
    for track in &stored {
        assert!(track.signal_id.starts_with("rtl-roof/sig-"), "{track:?}");
        assert_eq!(track.best_receiver, "rtl-roof");
        assert!(track.first_seen.0 >= start_ns && track.last_seen.0 <= start_ns + 2_100_000_000);
    }
}
