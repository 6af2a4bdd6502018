//! Field truth (issue 14, acceptance 1, 4 and 6): real `kiwirecorder.py --kiwi-wav`
//! recordings of a transmitter at a published position, located, dated and named correctly.
//!
//! The recordings are public but not part of this repository (files fetched from elsewhere are
//! never committed): they are the six DCF77 recordings of the `iq/` folder of
//! <https://github.com/hcab14/TDoA> (Christoph Mayer's KiwiSDR TDoA tools), made by public
//! KiwiSDRs with kiwirecorder. Copy them into a directory and run
//!
//! ```sh
//! SDRHUB_REAL_KIWI_DIR=/path/to/iq cargo test --release --test real_kiwi -- --ignored --nocapture
//! ```
//!
//! (or `scripts/check-real-kiwi.sh /path/to/iq`). Without the variable the test is ignored, and
//! says why. Truth: DCF77, Mainflingen, 50.0152 N 9.0112 E (the TDoA repository's
//! configuration; the published site is 50.0156 N 9.0108 E, 55 m away). The receivers'
//! positions are those the same repository lists for them (`gnss_pos/`).
//!
//! - 2020-08-13 06:52:20Z, HB9ODP, JO51xl, pa0rdt (300-400 km from DCF77): the first frames
//!   stamped zero and 11 600 s stale, 15 solutions in 30 s. Within 2 km, the truth inside the
//!   95 % ellipse.
//! - 2017-11-27 10:41:56Z, DF0KL, F1JEK, HB9RYZ (320-700 km): stale first stamps, 6 solutions
//!   in 30 s, and pairs whose cross-spectra disagree across the band by tens of us (multipath
//!   and the receivers' filters at long wave). Within 10 km, the truth inside the 95 % ellipse.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sdrhub");
/// Where the recordings are. (sdrhub reads every `SDRHUB_*` variable as configuration, so the
/// processes the test starts do not inherit it.)
const DIR_VARIABLE: &str = "SDRHUB_REAL_KIWI_DIR";

/// `sdrhub` without the test's own variable.
fn sdrhub() -> Command {
    let mut command = Command::new(BIN);
    command.env_remove(DIR_VARIABLE);
    command
}
/// DCF77, Mainflingen.
const TRUTH: (f64, f64) = (50.0152, 9.0112);

/// One set of simultaneous recordings.
struct Set {
    time: &'static str,
    stations: [(&'static str, f64, f64); 3],
    /// The bound on the position error, m.
    within_m: f64,
}

const SETS: [Set; 2] = [
    Set {
        time: "20200813T065220Z",
        stations: [
            ("HB9ODP", 46.499351, 8.798828),
            ("JO51xl", 51.466044, 11.977189),
            ("pa0rdt", 51.500500, 3.600690),
        ],
        within_m: 2_000.0,
    },
    Set {
        time: "20171127T104156Z",
        stations: [
            ("DF0KL", 53.665337, 7.282766),
            ("F1JEK", 45.779290, 0.614638),
            ("HB9RYZ", 47.1721, 8.42683),
        ],
        within_m: 10_000.0,
    },
];

fn file(dir: &Path, set: &Set, station: &str) -> PathBuf {
    dir.join(format!("{}_77500_{station}_iq.wav", set.time))
}

#[test]
#[ignore = "needs SDRHUB_REAL_KIWI_DIR (real kiwirecorder files, see README)"]
fn real_kiwirecorder_recordings_of_dcf77_are_located_dated_and_named() {
    let dir = PathBuf::from(
        std::env::var_os(DIR_VARIABLE)
            .expect("SDRHUB_REAL_KIWI_DIR: a directory holding the hcab14/TDoA iq/ recordings"),
    );
    for set in &SETS {
        let files: Vec<PathBuf> = set.stations.iter().map(|(s, _, _)| file(&dir, set, s)).collect();
        for f in &files {
            assert!(f.is_file(), "{} is missing", f.display());
        }
        // detect, no flags: the carrier at 77.5 kHz (the name's RF centre), dated by the name.
        for f in &files {
            let output = sdrhub().arg("detect").arg(f).output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let strongest = String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .max_by(|a, b| {
                    a["snr_db"]
                        .as_f64()
                        .unwrap()
                        .total_cmp(&b["snr_db"].as_f64().unwrap())
                })
                .expect("a signal");
            eprintln!("detect {}: {strongest}", f.display());
            assert!(
                (strongest["frequency_hz"].as_f64().unwrap() - 77_500.0).abs() < 2.0,
                "{strongest}"
            );
            let date = format!("{}-{}-{}T", &set.time[..4], &set.time[4..6], &set.time[6..8]);
            assert!(
                strongest["start_time"].as_str().unwrap().starts_with(&date),
                "{strongest}"
            );
        }
        // locate, positions by station name.
        let mut command = sdrhub();
        command.arg("locate").args(&files).args(["--json", "--truth"]);
        command.arg(format!("{},{}", TRUTH.0, TRUTH.1));
        for (station, lat, lon) in &set.stations {
            command.arg("--position").arg(format!("{station}={lat},{lon}"));
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "locate {}: {stderr}", set.time);
        let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        eprintln!("{stderr}locate {}: {result}", set.time);
        let error = result["error_m"].as_f64().unwrap();
        assert!(error < set.within_m, "{}: {error:.0} m from the truth", set.time);
        assert_eq!(result["truth_inside_95"], true, "{}: {result}", set.time);
        for f in result["files"].as_array().unwrap() {
            assert!(f["timing_problem"].is_null(), "{f}");
            assert!(f["anchors"].as_u64().unwrap() >= 6, "{f}");
            assert!(f["residual_worst_us"].as_f64().unwrap() < 1.0, "{f}");
            assert!(f["date"].as_str().unwrap().starts_with(&set.time[..4]), "{f}");
        }
    }
}
