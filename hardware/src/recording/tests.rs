//! Reading, writing and replaying recordings, and every kind of bad file.

use super::*;
use crate::source::{IqBlock, ReadOutcome, SourceBuilder, SourceKind};
use num_complex::Complex32;
use sdrhub_dsp::convert::{convert, SampleFormat};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ALL_FORMATS: [SampleFormat; 6] = SampleFormat::ALL;

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sdrhub-recording-{}-{}",
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

/// A slow complex ramp inside full scale.
fn ramp(n: usize) -> Vec<Complex32> {
    (0..n)
        .map(|i| {
            let phase = i as f32 * 0.01;
            Complex32::new(0.9 * phase.cos(), -0.7 * phase.sin())
        })
        .collect()
}

fn write_meta(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write meta");
}

fn open_err(base: &Path) -> String {
    Recording::open_sigmf(base, Truncation::Refuse)
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn every_format_round_trips_through_the_writer_and_reader() {
    let dir = TempDir::new();
    let x = ramp(10_000);
    for format in ALL_FORMATS {
        let base = dir.path(datatype_name(format));
        let mut meta = RecordingMeta::new(format, 250_000.0, 433.92e6);
        meta.captures[0].time_ns = Some(1_790_000_000_123_456_789);
        let mut writer = SigmfWriter::create(&base, meta, false).expect("create");
        writer.write(&x[..3000]).expect("write");
        writer.write(&x[3000..]).expect("write");
        writer.finish().expect("finish");

        let recording = Recording::open_sigmf(&base, Truncation::Refuse).expect("open");
        assert_eq!(recording.samples(), x.len() as u64);
        assert_eq!(recording.meta().format, format);
        assert_eq!(recording.meta().center_hz(), 433.92e6);
        assert_eq!(recording.meta().start_time_ns(), Some(1_790_000_000_123_456_789));
        let mut reader = recording.reader().expect("reader");
        let (mut all, mut chunk) = (Vec::new(), Vec::new());
        while reader.read(4096, &mut chunk).expect("read") > 0 {
            all.extend_from_slice(&chunk);
        }
        // Half a quantization step of the format (1/128 for 8 bits), or exact for floats.
        let step = match format {
            SampleFormat::Cf32Le | SampleFormat::Cf32Be => 0.0,
            SampleFormat::Cs16Le | SampleFormat::Cs16Be => 0.5 / 32768.0,
            _ => 0.5 / 127.5,
        };
        let worst = all
            .iter()
            .zip(&x)
            .map(|(a, b)| (a.re - b.re).abs().max((a.im - b.im).abs()))
            .fold(0.0f32, f32::max);
        assert_eq!(all.len(), x.len());
        assert!(worst <= step * 1.0001, "{format:?}: {worst}");
    }
}

#[test]
fn encode_is_the_inverse_of_convert_on_every_code() {
    for format in [
        SampleFormat::Cs8,
        SampleFormat::Cu8,
        SampleFormat::Cs16Le,
        SampleFormat::Cs16Be,
    ] {
        let size = format.bytes_per_sample();
        let codes: Vec<u8> = (0..=255u8).flat_map(|b| std::iter::repeat_n(b, size)).collect();
        let mut samples = Vec::new();
        convert(format, &codes, &mut samples);
        let mut back = Vec::new();
        encode(format, &samples, &mut back);
        assert_eq!(back, codes, "{format:?}");
    }
}

#[test]
fn metadata_round_trips_and_is_sorted() {
    let mut meta = RecordingMeta::new(SampleFormat::Cf32Le, 1.024e6, 145e6);
    meta.description = Some("test".into());
    meta.hw = Some("sim".into());
    meta.recorder = Some("sdrhub 0.1.0".into());
    meta.position = Some(sdrhub_dsp::geo::GeoPoint::new(48.8, 2.3));
    meta.captures[0].time_ns = Some(1_790_000_000_000_000_000);
    for start in [500u64, 100] {
        meta.annotations.push(Annotation {
            sample_start: start,
            sample_count: 10,
            freq_lower_edge_hz: 145.1e6,
            freq_upper_edge_hz: 145.2e6,
            label: Some("sig".into()),
            comment: Some("SNR 20 dB".into()),
            generator: Some("sdrhub".into()),
        });
    }
    let json = meta.to_json();
    assert_eq!(json["global"]["core:version"], SIGMF_VERSION);
    assert_eq!(json["captures"][0]["core:datetime"], "2026-09-21T14:13:20Z");
    assert_eq!(json["annotations"][0]["core:sample_start"], 100);
    let parsed = RecordingMeta::parse(&json.to_string(), Path::new("x.sigmf-meta")).expect("parse");
    meta.annotations.sort_by_key(|a| a.sample_start);
    assert_eq!(parsed, meta);
}

#[test]
fn sigmf_paths_accept_the_base_name_or_either_file() {
    for given in ["a/rec", "a/rec.sigmf-meta", "a/rec.sigmf-data"] {
        assert_eq!(sigmf_base(Path::new(given)), PathBuf::from("a/rec"), "{given}");
    }
    // A dot in the base name is part of it.
    assert_eq!(
        with_extension(Path::new("a/rec.2026"), META_EXTENSION),
        PathBuf::from("a/rec.2026.sigmf-meta")
    );
    let dir = TempDir::new();
    let base = dir.path("rec");
    let mut writer =
        SigmfWriter::create(&base, RecordingMeta::new(SampleFormat::Cu8, 1e6, 0.0), false).expect("create");
    writer.write(&ramp(10)).expect("write");
    writer.finish().expect("finish");
    for path in [
        base.clone(),
        with_extension(&base, META_EXTENSION),
        with_extension(&base, DATA_EXTENSION),
    ] {
        assert!(looks_like_sigmf(&path));
        assert_eq!(
            Recording::open_sigmf(&path, Truncation::Refuse)
                .expect("open")
                .samples(),
            10
        );
    }
    assert!(!looks_like_sigmf(&dir.path("other.iq")));
}

#[test]
fn the_writer_refuses_to_overwrite_unless_asked() {
    let dir = TempDir::new();
    let base = dir.path("rec");
    let meta = RecordingMeta::new(SampleFormat::Cf32Le, 1e6, 0.0);
    SigmfWriter::create(&base, meta.clone(), false)
        .expect("create")
        .finish()
        .expect("finish");
    let error = SigmfWriter::create(&base, meta.clone(), false)
        .expect_err("exists")
        .to_string();
    assert!(error.contains("already exists"), "{error}");
    SigmfWriter::create(&base, meta, true).expect("overwrite");
}

/// Writes `rec.sigmf-meta` with `meta` and `rec.sigmf-data` with `data`; returns the base.
fn pair(dir: &TempDir, meta: &str, data: &[u8]) -> PathBuf {
    let base = dir.path("rec");
    write_meta(&with_extension(&base, META_EXTENSION), meta);
    std::fs::write(with_extension(&base, DATA_EXTENSION), data).expect("write data");
    base
}

const GOOD_META: &str = r#"{"global": {"core:datatype": "ci16_le", "core:sample_rate": 1000000, "core:version": "1.0.0"},
  "captures": [{"core:sample_start": 0, "core:frequency": 100000000}], "annotations": []}"#;

#[test]
fn bad_recordings_are_refused_with_the_file_and_the_problem() {
    let dir = TempDir::new();
    let cases: [(&str, &[u8], &[&str]); 11] = [
        ("{not json", &[0; 8], &["rec.sigmf-meta", "not valid JSON"]),
        (r#"{"captures": []}"#, &[0; 8], &["no \"global\" object"]),
        (
            r#"{"global": {"core:sample_rate": 1e6}}"#,
            &[0; 8],
            &["core:datatype is missing"],
        ),
        (
            r#"{"global": {"core:datatype": "rf32_le", "core:sample_rate": 1e6}}"#,
            &[0; 8],
            &["unsupported core:datatype \"rf32_le\"", "real-valued"],
        ),
        (
            r#"{"global": {"core:datatype": "cf64_le", "core:sample_rate": 1e6}}"#,
            &[0; 16],
            &[
                "unsupported core:datatype \"cf64_le\"",
                "supported: cf32_le, cf32_be, ci16_le",
            ],
        ),
        (
            r#"{"global": {"core:datatype": "iq16", "core:sample_rate": 1e6}}"#,
            &[0; 8],
            &["not a SigMF datatype"],
        ),
        (
            r#"{"global": {"core:datatype": "cf32_le"}}"#,
            &[0; 8],
            &["core:sample_rate is missing"],
        ),
        (
            r#"{"global": {"core:datatype": "cf32_le", "core:sample_rate": 0}}"#,
            &[0; 8],
            &["core:sample_rate = 0", "must be a number > 0"],
        ),
        (
            r#"{"global": {"core:datatype": "cf32_le", "core:sample_rate": 1e6, "core:num_channels": 2}}"#,
            &[0; 8],
            &["single-channel"],
        ),
        (
            r#"{"global": {"core:datatype": "cf32_le", "core:sample_rate": 1e6},
                "captures": [{"core:sample_start": 0, "core:datetime": "yesterday"}]}"#,
            &[0; 8],
            &["captures[0] core:datetime", "RFC 3339"],
        ),
        (
            GOOD_META,
            &[0; 4 * 10 + 3],
            &["rec.sigmf-data", "truncated", "3 stray bytes"],
        ),
    ];
    for (meta, data, expected) in cases {
        let base = pair(&dir, meta, data);
        let error = open_err(&base);
        for part in expected {
            assert!(error.contains(part), "{meta}: {error:?} lacks {part:?}");
        }
    }

    let base = pair(&dir, GOOD_META, &[]);
    let error = open_err(&base);
    assert!(
        error.contains("rec.sigmf-data") && error.contains("no samples"),
        "{error}"
    );

    let base = pair(&dir, GOOD_META, &[0; 16]);
    std::fs::remove_file(with_extension(&base, META_EXTENSION)).expect("rm");
    let error = open_err(&base);
    assert!(error.contains("rec.sigmf-meta: missing"), "{error}");

    let base = pair(&dir, GOOD_META, &[0; 16]);
    std::fs::remove_file(with_extension(&base, DATA_EXTENSION)).expect("rm");
    let error = open_err(&base);
    assert!(error.contains("rec.sigmf-data: missing"), "{error}");
}

#[test]
fn a_truncated_recording_can_be_read_up_to_its_last_whole_sample() {
    let dir = TempDir::new();
    let base = pair(&dir, GOOD_META, &[1; 4 * 10 + 3]);
    let recording = Recording::open_sigmf(&base, Truncation::IgnorePartialSample).expect("open");
    assert_eq!((recording.samples(), recording.stray_bytes()), (10, 3));
    let mut samples = Vec::new();
    assert_eq!(
        recording
            .reader()
            .expect("reader")
            .read(100, &mut samples)
            .expect("read"),
        10
    );
}

#[test]
fn raw_files_need_a_positive_rate_and_honour_header_and_trailing_bytes() {
    let dir = TempDir::new();
    let path = dir.path("capture.cu8");
    std::fs::write(&path, [128u8; 2 * 100]).expect("write");
    let recording =
        Recording::open_raw(&path, SampleFormat::Cu8, 2.4e6, 100e6, Truncation::Refuse).expect("open raw");
    assert_eq!((recording.samples(), recording.meta().center_hz()), (100, 100e6));
    assert!(recording.meta_path().is_none());
    let error = Recording::open_raw(&path, SampleFormat::Cu8, 0.0, 0.0, Truncation::Refuse)
        .expect_err("zero rate")
        .to_string();
    assert!(
        error.contains("capture.cu8") && error.contains("sample rate"),
        "{error}"
    );

    // A non-conforming dataset: 6 header bytes, 2 trailing bytes, named by core:dataset.
    let meta = r#"{"global": {"core:datatype": "ci8", "core:sample_rate": 1e6, "core:dataset": "odd.bin",
        "core:trailing_bytes": 2}, "captures": [{"core:sample_start": 0, "core:header_bytes": 6}]}"#;
    write_meta(&dir.path("odd.sigmf-meta"), meta);
    let mut data = vec![0xAAu8; 6];
    data.extend((0..20).map(|i| i as u8));
    data.extend([0xBB, 0xBB]);
    std::fs::write(dir.path("odd.bin"), &data).expect("write");
    let recording = Recording::open_sigmf(&dir.path("odd"), Truncation::Refuse).expect("open");
    assert_eq!(recording.samples(), 10);
    let mut samples = Vec::new();
    recording
        .reader()
        .expect("reader")
        .read(100, &mut samples)
        .expect("read");
    assert_eq!(samples[0], Complex32::new(0.0, 1.0 / 128.0));
    assert_eq!(samples[9], Complex32::new(18.0 / 128.0, 19.0 / 128.0));
}

/// A recording of `n` ramp samples at `rate` with a known start time.
fn recording(dir: &TempDir, n: usize, rate: f64) -> Recording {
    let base = dir.path("replay");
    let mut meta = RecordingMeta::new(SampleFormat::Cf32Le, rate, 145e6);
    meta.captures[0].time_ns = Some(1_790_000_000_000_000_000);
    let mut writer = SigmfWriter::create(&base, meta, true).expect("create");
    writer.write(&ramp(n)).expect("write");
    writer.finish().expect("finish");
    Recording::open_sigmf(&base, Truncation::Refuse).expect("open")
}

#[test]
fn a_replay_yields_every_sample_in_blocks_with_recorded_timestamps_then_ends() {
    let dir = TempDir::new();
    let rate = 1e6;
    let mut builder = RecordingBuilder::new(recording(&dir, 10_000, rate)).block_samples(4096);
    let info = builder.info();
    assert_eq!(
        (info.kind, &*info.id, info.center_hz, info.sample_rate_hz),
        (SourceKind::File, "replay", 145e6, rate)
    );
    let mut source = builder.open().expect("open");
    let mut block = IqBlock::with_capacity(0);
    let mut all = Vec::new();
    let mut times = Vec::new();
    loop {
        match source.read(&mut block, Duration::from_secs(1)).expect("read") {
            ReadOutcome::Block => {
                times.push((block.seq, block.time_ns, block.samples.len()));
                all.extend_from_slice(&block.samples);
            }
            ReadOutcome::End => break,
            ReadOutcome::Timeout => panic!("an unpaced replay never times out"),
        }
    }
    assert_eq!(all, ramp(10_000));
    let t0 = 1_790_000_000_000_000_000;
    assert_eq!(
        times,
        vec![
            (0, t0, 4096),
            (1, t0 + 4_096_000, 4096),
            (2, t0 + 8_192_000, 1808)
        ]
    );
    assert_eq!(
        source.read(&mut block, Duration::ZERO).expect("read"),
        ReadOutcome::End
    );
}

#[test]
fn a_paced_replay_takes_the_recording_s_duration_and_times_out_early() {
    let dir = TempDir::new();
    // 0.3 s at 100 kS/s in blocks of 10 ms.
    let mut builder = RecordingBuilder::new(recording(&dir, 30_000, 100e3))
        .block_samples(1000)
        .paced(true)
        .clock(ReplayClock::Opened);
    let before = crate::acquisition::now_ns();
    let started = Instant::now();
    let mut source = builder.open().expect("open");
    let mut block = IqBlock::with_capacity(0);
    assert_eq!(
        source.read(&mut block, Duration::from_millis(1)).expect("read"),
        ReadOutcome::Timeout
    );
    let mut samples = 0;
    let mut first_time = None;
    while source.read(&mut block, Duration::from_secs(1)).expect("read") != ReadOutcome::End {
        first_time.get_or_insert(block.time_ns);
        samples += block.samples.len();
    }
    let elapsed = started.elapsed();
    assert_eq!(samples, 30_000);
    assert!(elapsed >= Duration::from_millis(295), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    // The opened clock: sample 0 is stamped with the time of the open.
    let first = first_time.expect("blocks");
    assert!(
        first >= before && first - before < 1_000_000_000,
        "{first} vs {before}"
    );
}

#[test]
fn a_reopened_replay_resumes_where_it_stopped() {
    let dir = TempDir::new();
    let mut builder = RecordingBuilder::new(recording(&dir, 10_000, 1e6)).block_samples(3000);
    let mut block = IqBlock::with_capacity(0);
    let mut source = builder.open().expect("open");
    source.read(&mut block, Duration::ZERO).expect("read");
    drop(source);
    let mut source = builder.open().expect("reopen");
    source.read(&mut block, Duration::ZERO).expect("read");
    assert_eq!(block.samples, ramp(10_000)[3000..6000]);
    assert_eq!(block.time_ns, 1_790_000_000_000_000_000 + 3_000_000);
}
