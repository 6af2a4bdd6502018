//! `sdrhub detect` and `sdrhub record` as a user runs them: recordings the tests generate with
//! known tones, a recording of the simulated scene, the official SigMF validator, and every
//! kind of bad file.

use num_complex::Complex32;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sdrhub-recording-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with `args`, no config file from the environment.
fn sdrhub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(args)
        .env_remove("SDRHUB_CONFIG")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON lines of stdout; every line must be one JSON object.
fn lines(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
        .collect()
}

/// Asserts the run succeeded, showing its stderr if not.
fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {:?}\nstderr: {}",
        output.status,
        text(&output.stderr)
    );
}

fn f64_of(line: &Value, key: &str) -> f64 {
    line[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {line}"))
}

const RATE: f64 = 250_000.0;
const CENTER: f64 = 433.92e6;
const FFT: usize = 1024;
const AVERAGES: usize = 8;
const SECONDS: f64 = 2.0;
/// The recording's `core:datetime` (2026-09-21T14:13:20Z).
const DATETIME: &str = "2026-09-21T14:13:20Z";

/// A tone of the generated recordings: offset from the centre, amplitude, and when it is on.
struct Tone {
    offset_hz: f64,
    amplitude: f64,
    on_s: (f64, f64),
}

/// Two steady tones, one off a bin centre, and a tone on from 0.8 s to 1.4 s. Per-bin SNRs
/// (noise variance 0.01, Blackman-Harris): about 27, 21 and 27 dB.
const TONES: [Tone; 3] = [
    Tone {
        offset_hz: -60_000.0,
        amplitude: 0.1,
        on_s: (0.0, SECONDS),
    },
    Tone {
        offset_hz: 37_312.7,
        amplitude: 0.05,
        on_s: (0.0, SECONDS),
    },
    Tone {
        offset_hz: 80_000.0,
        amplitude: 0.1,
        on_s: (0.8, 1.4),
    },
];

/// `SECONDS` of the tones in complex Gaussian noise of total variance 0.01, seeded.
fn tones_in_noise(seed: u64) -> Vec<Complex32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let sigma = (0.01f64 / 2.0).sqrt();
    let n = (SECONDS * RATE) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE;
            let mut x = Complex32::new(
                (sigma * rng.sample::<f64, _>(StandardNormal)) as f32,
                (sigma * rng.sample::<f64, _>(StandardNormal)) as f32,
            );
            for tone in TONES.iter().filter(|tone| t >= tone.on_s.0 && t < tone.on_s.1) {
                let phase = 2.0 * std::f64::consts::PI * tone.offset_hz * t;
                x += Complex32::new(
                    (tone.amplitude * phase.cos()) as f32,
                    (tone.amplitude * phase.sin()) as f32,
                );
            }
            x
        })
        .collect()
}

/// The samples in a SigMF datatype, written out independently of sdrhub's own writer.
fn encode(datatype: &str, samples: &[Complex32]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in samples {
        for v in [s.re, s.im] {
            match datatype {
                "cf32_le" => out.extend(v.to_le_bytes()),
                "cf32_be" => out.extend(v.to_be_bytes()),
                "ci16_le" => out.extend(((v * 32767.0).round() as i16).to_le_bytes()),
                "ci16_be" => out.extend(((v * 32767.0).round() as i16).to_be_bytes()),
                "ci8" => out.push((v * 127.0).round() as i8 as u8),
                "cu8" => out.push((v * 127.5 + 127.5).round() as u8),
                other => panic!("no encoder for {other}"),
            }
        }
    }
    out
}

/// Writes `base.sigmf-meta` and `base.sigmf-data`.
fn write_sigmf(base: &Path, meta: &Value, data: &[u8]) {
    let meta_path = PathBuf::from(format!("{}.sigmf-meta", base.display()));
    std::fs::write(meta_path, serde_json::to_string_pretty(meta).expect("json")).expect("write meta");
    std::fs::write(format!("{}.sigmf-data", base.display()), data).expect("write data");
}

fn meta_for(datatype: &str) -> Value {
    json!({
        "global": {"core:datatype": datatype, "core:sample_rate": RATE, "core:version": "1.0.0"},
        "captures": [{"core:sample_start": 0, "core:frequency": CENTER, "core:datetime": DATETIME}],
        "annotations": []
    })
}

/// Checks `detect`'s lines against [`TONES`]: exactly one signal per tone, within one bin of
/// its frequency, starting and ending within one spectrum (plus the tracker's confirmation) of
/// the tone's own start and end.
fn assert_finds_the_tones(found: &[Value], what: &str) {
    let bin = RATE / FFT as f64;
    let spectrum_s = (FFT * AVERAGES) as f64 / RATE;
    assert_eq!(found.len(), TONES.len(), "{what}: {found:#?}");
    for tone in &TONES {
        let expected = CENTER + tone.offset_hz;
        let signal = found
            .iter()
            .find(|s| (f64_of(s, "frequency_hz") - expected).abs() <= bin)
            .unwrap_or_else(|| panic!("{what}: no signal within a bin of {expected} Hz: {found:#?}"));
        let (start, end) = (f64_of(signal, "start_s"), f64_of(signal, "end_s"));
        assert!(
            (start - tone.on_s.0).abs() <= spectrum_s,
            "{what}: {expected} Hz starts at {start} s"
        );
        assert!(
            (end - tone.on_s.1).abs() <= 2.0 * spectrum_s,
            "{what}: {expected} Hz ends at {end} s"
        );
        assert!(f64_of(signal, "snr_db") > 15.0, "{what}: {signal}");
        let power = f64_of(signal, "power_dbfs");
        let truth = 20.0 * tone.amplitude.log10();
        assert!(
            (power - truth).abs() < 1.5,
            "{what}: power {power} dBFS, tone {truth} dBFS"
        );
        assert!(f64_of(signal, "peak_power_dbfs").is_finite());
        assert!(f64_of(signal, "bandwidth_hz") >= bin * 0.99, "{what}: {signal}");
        let start_time = signal["start_time"]
            .as_str()
            .expect("the recording has a datetime");
        assert!(
            start_time.starts_with("2026-09-21T14:13:2"),
            "{what}: {start_time}"
        );
        assert!(signal["signal_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("sig-")));
    }
}

fn detector_flags() -> Vec<String> {
    [
        "--fft-size",
        &FFT.to_string(),
        "--averages",
        &AVERAGES.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn detect_finds_the_tones_of_a_generated_sigmf_recording_in_every_datatype() {
    let dir = TempDir::new();
    let samples = tones_in_noise(1);
    for datatype in ["cf32_le", "cf32_be", "ci16_le", "ci16_be", "ci8", "cu8"] {
        let base = dir.path(&format!("tones-{datatype}"));
        write_sigmf(&base, &meta_for(datatype), &encode(datatype, &samples));
        // The base name, the metadata file and the dataset file all name the recording.
        for given in ["", ".sigmf-meta", ".sigmf-data"] {
            let path = format!("{}{given}", base.display());
            let mut args = vec!["detect".to_string(), path];
            args.extend(detector_flags());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = sdrhub(&args);
            assert_success(&output, datatype);
            assert_finds_the_tones(&lines(&output), &format!("{datatype} {given:?}"));
            let stderr = text(&output.stderr);
            assert!(
                stderr.contains(&format!("{} samples", samples.len())) && stderr.contains("MS/s"),
                "the throughput summary: {stderr}"
            );
        }
    }
}

#[test]
fn detect_reads_raw_files_given_rate_format_and_centre_frequency() {
    let dir = TempDir::new();
    let samples = tones_in_noise(2);
    for (format, datatype) in [
        ("cu8", "cu8"),
        ("cs8", "ci8"),
        ("cs16le", "ci16_le"),
        ("cs16be", "ci16_be"),
        ("cf32le", "cf32_le"),
        ("cf32be", "cf32_be"),
    ] {
        let path = dir.path(&format!("capture.{format}"));
        std::fs::write(&path, encode(datatype, &samples)).expect("write");
        let path = path.display().to_string();
        let rate = RATE.to_string();
        let center = CENTER.to_string();
        let mut args = vec![
            "detect",
            &path,
            "--rate",
            &rate,
            "--format",
            format,
            "--center-freq",
            &center,
        ];
        let flags = detector_flags();
        args.extend(flags.iter().map(String::as_str));
        let output = sdrhub(&args);
        assert_success(&output, format);
        let found = lines(&output);
        // No datetime in a raw file: no absolute times.
        assert!(found.iter().all(|s| s.get("start_time").is_none()), "{found:#?}");
        let with_times: Vec<Value> = found
            .into_iter()
            .map(|mut s| {
                s["start_time"] = json!("2026-09-21T14:13:20Z");
                s
            })
            .collect();
        assert_finds_the_tones(&with_times, format);
    }
    // Without a centre frequency, frequencies are baseband offsets.
    let path = dir.path("capture.cf32le").display().to_string();
    let rate = RATE.to_string();
    let output = sdrhub(&["detect", &path, "--rate", &rate, "--format", "cf32le"]);
    assert_success(&output, "baseband");
    let found = lines(&output);
    assert!(
        found
            .iter()
            .any(|s| (f64_of(s, "frequency_hz") + 60_000.0).abs() < RATE / 4096.0),
        "{found:#?}"
    );
}

/// The chunk size and the thread count must not change what is found: the same samples pushed
/// at once, in odd-sized pieces, and with one or two threads give identical signals.
#[test]
fn detection_does_not_depend_on_chunking_or_threads() {
    use sdrhub::tools::detect::SignalFinder;
    let samples = tones_in_noise(3);
    let mut config = sdrhub::config::Config::default();
    config.dsp.fft_size = FFT;
    config.dsp.averages = AVERAGES;
    let run = |pieces: usize, threads: usize| {
        let mut finder = SignalFinder::new(&config, None, threads, CENTER, RATE).expect("finder");
        let mut found: Vec<_> = Vec::new();
        for piece in samples.chunks(pieces) {
            finder.push(piece);
            found.extend(finder.take_finished());
        }
        found.extend(finder.finish());
        found.sort_by_key(|s| (s.start_sample, s.id));
        found
    };
    let whole = run(samples.len(), 1);
    assert_eq!(whole.len(), TONES.len(), "{whole:#?}");
    assert_eq!(run(1000, 1), whole);
    assert_eq!(run(3 * FFT * AVERAGES + 17, 2), whole);
    assert_eq!(run(samples.len(), 2), whole);
}

/// What a recording of the simulated scene must contain: every default transmitter on in the
/// first 1.5 s (the carrier, the voice, and the burst from 1.0 s to 1.3 s).
fn assert_finds_the_scene(found: &[Value], what: &str) {
    let bin = 1.024e6 / 4096.0;
    for (name, frequency) in [
        ("carrier", 145.1125e6),
        ("voice", 145.35e6),
        ("data burst", 144.8e6),
    ] {
        assert!(
            found
                .iter()
                .any(|s| (f64_of(s, "frequency_hz") - frequency).abs() <= bin),
            "{what}: the {name} at {frequency} Hz is missing: {found:#?}"
        );
    }
    let burst = found
        .iter()
        .find(|s| (f64_of(s, "frequency_hz") - 144.8e6).abs() <= bin)
        .expect("checked");
    let (start, end) = (f64_of(burst, "start_s"), f64_of(burst, "end_s"));
    assert!(
        (0.9..1.1).contains(&start) && (1.2..1.4).contains(&end),
        "{what}: burst {start}..{end} s"
    );
}

/// `sdrhub record --fast` of receiver rx2, in `format`, to `base`.
fn record_fast(base: &Path, format: &str) -> Output {
    let out = base.display().to_string();
    let output = sdrhub(&[
        "record",
        "--fast",
        "--receiver",
        "rx2",
        "--seconds",
        "1.5",
        "--format",
        format,
        "--out",
        &out,
    ]);
    assert_success(&output, "record");
    output
}

#[test]
fn record_then_detect_finds_the_simulated_transmitters_at_their_frequencies() {
    let dir = TempDir::new();
    let base = dir.path("scene");
    let recorded = record_fast(&base, "cf32_le");
    let recorded_lines = lines(&recorded);
    assert_finds_the_scene(&recorded_lines, "record's own output");

    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.sigmf-meta", base.display())).expect("meta written"),
    )
    .expect("meta is JSON");
    let samples = std::fs::metadata(format!("{}.sigmf-data", base.display()))
        .expect("data written")
        .len()
        / 8;
    assert_eq!(samples, (1.5 * 1.024e6) as u64);
    let global = &meta["global"];
    assert_eq!(global["core:datatype"], "cf32_le");
    assert_eq!(global["core:sample_rate"], 1.024e6);
    assert!(global["core:recorder"]
        .as_str()
        .is_some_and(|r| r.starts_with("sdrhub ")));
    assert!(global["core:hw"].as_str().is_some_and(|h| h.contains("rx2")));
    assert_eq!(meta["captures"][0]["core:frequency"], 145e6);
    assert!(meta["captures"][0]["core:datetime"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    // One annotation per signal, enclosing its frequency, in time order.
    let annotations = meta["annotations"].as_array().expect("annotations");
    assert_eq!(annotations.len(), recorded_lines.len());
    for (a, line) in annotations.iter().zip(&recorded_lines) {
        let (lo, hi) = (
            f64_of(a, "core:freq_lower_edge"),
            f64_of(a, "core:freq_upper_edge"),
        );
        let f = f64_of(line, "frequency_hz");
        assert!(lo < f && f < hi, "{a} vs {line}");
        assert_eq!(
            a["core:sample_start"].as_f64(),
            Some((f64_of(line, "start_s") * 1.024e6).round())
        );
        assert!(a["core:comment"]
            .as_str()
            .is_some_and(|c| c.contains("SNR") && c.contains("dBFS")));
        assert!(a["core:label"].as_str().is_some_and(|l| l.len() <= 20), "{a}");
    }

    let detected = sdrhub(&["detect", &base.display().to_string()]);
    assert_success(&detected, "detect");
    let detected_lines = lines(&detected);
    assert_finds_the_scene(&detected_lines, "detect on the recording");
    // cf32 keeps the samples exactly, and both start spectra at sample 0: the same signals.
    let mut sorted = detected_lines.clone();
    sorted.sort_by(|a, b| f64_of(a, "start_s").total_cmp(&f64_of(b, "start_s")));
    assert_eq!(
        sorted.len(),
        recorded_lines.len(),
        "{sorted:#?} vs {recorded_lines:#?}"
    );
    for (d, r) in sorted.iter().zip(&recorded_lines) {
        assert!(
            (f64_of(d, "frequency_hz") - f64_of(r, "frequency_hz")).abs() < 1e-3,
            "{d} vs {r}"
        );
        assert_eq!(d["start_s"], r["start_s"]);
    }

    // A 16-bit recording holds the same transmitters.
    let base16 = dir.path("scene16");
    record_fast(&base16, "ci16_le");
    let detected = sdrhub(&["detect", &format!("{}.sigmf-meta", base16.display())]);
    assert_success(&detected, "detect ci16");
    assert_finds_the_scene(&lines(&detected), "detect on the ci16_le recording");
}

/// Python with the `sigmf` package, or `None` (with the reason) when it cannot be imported.
fn sigmf_python() -> Result<String, String> {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import sigmf; print(sigmf.__version__, sigmf.__specification__)",
        ])
        .output()
        .map_err(|e| format!("python3 cannot run: {e}"))?;
    if probe.status.success() {
        Ok(text(&probe.stdout).trim().to_string())
    } else {
        Err(text(&probe.stderr))
    }
}

/// Validates with the official validator: the `sigmf_validate` entry point (which loads the
/// pair, checks the dataset against the datatype and validates the metadata) and the schema
/// check of the metadata exactly as written (the loader replaces `core:version` with its own);
/// then reads the samples back with the package.
const VALIDATE: &str = r#"
import json, sys, warnings
import sigmf
from sigmf import validate, sigmffile
warnings.simplefilter("error")
base = sys.argv[1]
try:
    validate.main([base + ".sigmf-meta"])
except SystemExit as e:
    if e.code:
        sys.exit(f"sigmf_validate failed with {e.code}")
with open(base + ".sigmf-meta") as f:
    validate.validate(json.load(f))
recording = sigmffile.fromfile(base)
recording.validate()
samples = recording.read_samples()
print(len(samples), len(recording.get_annotations()), recording.get_global_field("core:datatype"))
"#;

#[test]
fn a_recording_is_valid_under_the_official_sigmf_validator() {
    let version = match sigmf_python() {
        Ok(version) => version,
        Err(why) => {
            // CI runs scripts/test.sh, which installs the package: there, missing is a failure.
            assert!(
                std::env::var_os("CI").is_none(),
                "the python `sigmf` package cannot be imported in CI: {why}"
            );
            eprintln!(
                "SKIPPED: the python `sigmf` package cannot be imported (scripts/test.sh installs it: python3 -m pip install sigmf): {why}"
            );
            return;
        }
    };
    eprintln!("validating with sigmf (package, specification) {version}");
    let dir = TempDir::new();
    for format in ["cf32_le", "ci16_le"] {
        let base = dir.path(&format!("valid-{format}"));
        let recorded = record_fast(&base, format);
        let output = Command::new("python3")
            .args(["-c", VALIDATE, &base.display().to_string()])
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "{format}: the validator refused the recording:\n{}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        let report = text(&output.stdout);
        let expected = format!("{} {} {format}", (1.5 * 1.024e6) as u64, lines(&recorded).len());
        assert_eq!(
            report.trim(),
            expected,
            "samples, annotations and datatype as sigmf reads them"
        );
    }
}

/// A failed run: non-zero exit, not a panic (Rust exits 101 on a panic), and an error message.
fn assert_refused(output: &Output, what: &str, expected: &[&str]) {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{what}: accepted\nstderr: {stderr}");
    assert_ne!(output.status.code(), Some(101), "{what}: panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: panicked: {stderr}");
    for part in expected {
        assert!(stderr.contains(part), "{what}: stderr lacks {part:?}: {stderr}");
    }
    assert!(
        output.stdout.is_empty(),
        "{what}: printed {}",
        text(&output.stdout)
    );
}

#[test]
fn bad_files_give_a_clear_error_and_never_panic() {
    let dir = TempDir::new();
    let good = encode("ci16_le", &tones_in_noise(4)[..10_000]);
    let base_of = |name: &str| dir.path(name).display().to_string();

    let truncated = base_of("truncated");
    write_sigmf(
        Path::new(&truncated),
        &meta_for("ci16_le"),
        &good[..good.len() - 3],
    );
    assert_refused(
        &sdrhub(&["detect", &truncated]),
        "truncated",
        &[
            "truncated.sigmf-data",
            "truncated",
            "whole number of 4-byte samples",
            "1 stray bytes",
        ],
    );
    // The user may choose to read it anyway, up to its last whole sample.
    let output = sdrhub(&["detect", &truncated, "--allow-truncated", "--fft-size", "1024"]);
    assert_success(&output, "--allow-truncated");
    assert!(
        text(&output.stderr).contains("warning"),
        "{}",
        text(&output.stderr)
    );

    for (datatype, reason) in [
        ("rf32_le", "real-valued"),
        ("cf64_le", "not supported"),
        ("complex16", "not a SigMF datatype"),
    ] {
        let base = base_of(&format!("type-{datatype}"));
        write_sigmf(Path::new(&base), &meta_for(datatype), &good);
        assert_refused(
            &sdrhub(&["detect", &base]),
            datatype,
            &[
                &format!("type-{datatype}.sigmf-meta"),
                &format!("unsupported core:datatype \"{datatype}\""),
                reason,
            ],
        );
    }

    let no_meta = base_of("no-meta");
    std::fs::write(format!("{no_meta}.sigmf-data"), &good).expect("write");
    for given in [no_meta.clone(), format!("{no_meta}.sigmf-data")] {
        assert_refused(
            &sdrhub(&["detect", &given]),
            "missing meta",
            &["no-meta.sigmf-meta: missing"],
        );
    }

    let no_data = base_of("no-data");
    write_sigmf(Path::new(&no_data), &meta_for("ci16_le"), &good);
    std::fs::remove_file(format!("{no_data}.sigmf-data")).expect("rm");
    assert_refused(
        &sdrhub(&["detect", &no_data]),
        "missing data",
        &["no-data.sigmf-data: missing"],
    );

    let bad_json = base_of("bad-json");
    write_sigmf(Path::new(&bad_json), &json!(null), &good);
    std::fs::write(
        format!("{bad_json}.sigmf-meta"),
        "{\"global\": {\"core:datatype\": \"ci16_le\",",
    )
    .expect("write");
    assert_refused(
        &sdrhub(&["detect", &bad_json]),
        "bad JSON",
        &["bad-json.sigmf-meta", "not valid JSON"],
    );

    let zero_rate = base_of("zero-rate");
    let mut meta = meta_for("ci16_le");
    meta["global"]["core:sample_rate"] = json!(0);
    write_sigmf(Path::new(&zero_rate), &meta, &good);
    assert_refused(
        &sdrhub(&["detect", &zero_rate]),
        "zero sample rate",
        &["zero-rate.sigmf-meta", "core:sample_rate = 0", "> 0"],
    );

    let no_rate = base_of("no-rate");
    let mut meta = meta_for("ci16_le");
    meta["global"]
        .as_object_mut()
        .expect("object")
        .remove("core:sample_rate");
    write_sigmf(Path::new(&no_rate), &meta, &good);
    assert_refused(
        &sdrhub(&["detect", &no_rate]),
        "no sample rate",
        &["no-rate.sigmf-meta", "core:sample_rate is missing"],
    );

    let empty = base_of("empty");
    write_sigmf(Path::new(&empty), &meta_for("ci16_le"), &[]);
    assert_refused(
        &sdrhub(&["detect", &empty]),
        "empty",
        &["empty.sigmf-data", "no samples"],
    );

    let raw = base_of("capture.bin");
    std::fs::write(&raw, &good).expect("write");
    assert_refused(
        &sdrhub(&["detect", &raw]),
        "raw without flags",
        &["capture.bin", "not a SigMF recording", "--rate"],
    );
    assert_refused(
        &sdrhub(&["detect", &raw, "--rate", "1e6"]),
        "raw without format",
        &["--format"],
    );
    assert_refused(
        &sdrhub(&["detect", &raw, "--rate", "0", "--format", "cs16le"]),
        "raw at rate 0",
        &["capture.bin", "sample rate must be > 0"],
    );
    assert_refused(
        &sdrhub(&[
            "detect",
            &raw,
            "--rate",
            "1e6",
            "--format",
            "cs16le",
            "--fft-size",
            "1000",
        ]),
        "bad FFT size",
        &["dsp.fft_size = 1000"],
    );
    assert_refused(
        &sdrhub(&["detect", &base_of("nothing-here")]),
        "nothing",
        &["nothing-here.sigmf-meta: missing"],
    );
}

#[test]
fn record_refuses_an_unknown_receiver_a_bad_duration_and_an_existing_recording() {
    let dir = TempDir::new();
    let out = dir.path("rec").display().to_string();
    assert_refused(
        &sdrhub(&[
            "record",
            "--fast",
            "--receiver",
            "rx9",
            "--seconds",
            "1",
            "--out",
            &out,
        ]),
        "unknown receiver",
        &["rx9", "rx1, rx2, rx3, rx4, rx5"],
    );
    assert_refused(
        &sdrhub(&["record", "--fast", "--seconds", "0", "--out", &out]),
        "zero seconds",
        &["--seconds 0"],
    );
    let output = sdrhub(&["record", "--fast", "--seconds", "0.05", "--out", &out]);
    assert_success(&output, "short recording");
    let again = sdrhub(&["record", "--fast", "--seconds", "0.05", "--out", &out]);
    assert_refused(&again, "existing", &["rec.sigmf-meta: already exists"]);
    let forced = sdrhub(&["record", "--fast", "--seconds", "0.05", "--out", &out, "--force"]);
    assert_success(&forced, "--force");
}

/// Real time (no `--fast`): half a second of recording takes about half a second.
#[test]
fn record_in_real_time_is_paced_by_the_receiver() {
    let dir = TempDir::new();
    let out = dir.path("live").display().to_string();
    let started = std::time::Instant::now();
    let output = sdrhub(&[
        "record",
        "--receiver",
        "rx1",
        "--seconds",
        "0.5",
        "--format",
        "ci16_le",
        "--out",
        &out,
    ]);
    let elapsed = started.elapsed();
    assert_success(&output, "real-time record");
    assert!(elapsed.as_secs_f64() >= 0.45, "{elapsed:?}");
    let bytes = std::fs::metadata(format!("{out}.sigmf-data"))
        .expect("data")
        .len();
    assert_eq!(bytes, 512_000 * 4);
}
