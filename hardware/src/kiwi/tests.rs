use super::gps::{gps_week_to_unix_ns, unix_ns_to_gps_week, GpsClock};
use super::protocol::*;
use super::*;
use crate::acquisition::{now_ns, Acquisition, AcquisitionConfig, AcquisitionState};
use crate::recording::{GpsStamp, KiwiWav, KiwiWavBuilder, KiwiWavInfo, KiwiWavWriter};
use crate::sim::Scene;
use crate::source::{IqBlock, IqSource, ReadOutcome, SourceBuilder, SourceError};
use num_complex::Complex32;
use proptest::prelude::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn scene() -> Scene {
    Scene::new(hf_scene()).expect("the HF scene is valid")
}

fn client_for(emulator: &KiwiEmulator) -> KiwiBuilder {
    let url = emulator.url().parse().expect("emulator URL parses");
    KiwiBuilder::new(KiwiConfig::new("rx", url, 10.0e6)).expect("valid config")
}

#[test]
fn snd_frames_round_trip_through_encoder_and_parser() {
    let header = SndHeader {
        flags: flags::IQ | flags::ADC_OVERFLOW,
        sequence: 0xDEAD_BEEF,
        smeter: 777,
        last_gps_solution: 3,
        gps_sec: 604_799,
        gps_nsec: 999_999_999,
    };
    let samples: Vec<Complex32> = (0..SAMPLES_PER_FRAME)
        .map(|n| Complex32::new(n as f32 / 1024.0 - 0.25, -(n as f32) / 2048.0))
        .collect();
    for little in [false, true] {
        let header = SndHeader {
            flags: header.flags | if little { flags::LITTLE_ENDIAN } else { 0 },
            ..header
        };
        let mut bytes = Vec::new();
        encode_snd(&header, &samples, &mut bytes);
        assert_eq!(bytes.len(), SND_IQ_HEADER_LEN + 2048);
        let Ok(Frame::Snd {
            header: parsed,
            samples: raw,
        }) = parse_frame(&bytes)
        else {
            panic!("not parsed as SND");
        };
        assert_eq!(parsed, header);
        assert!(parsed.adc_overflow());
        assert!((parsed.smeter_dbm() - (-49.3)).abs() < 1e-9);
        let mut decoded = Vec::new();
        decode_iq(raw, little, &mut decoded);
        // These values are exact multiples of 1/32768, so the round trip is exact.
        assert_eq!(decoded, samples);
    }
}

#[test]
fn msg_values_are_url_decoded_and_interpreted() {
    let cfg = r#"{"rx_name":"Test & Co","rx_gps":"(48.390000, -4.490000)"}"#;
    let frame = encode_msg(&[
        ("load_cfg", Some(cfg)),
        ("down", None),
        ("sample_rate", Some("12001.135000")),
    ]);
    let Ok(Frame::Msg(body)) = parse_frame(&frame) else {
        panic!("not a MSG");
    };
    let messages: Vec<KiwiMessage> = msg_pairs(body).map(|(n, v)| interpret(n, v.as_deref())).collect();
    assert_eq!(
        messages,
        vec![
            KiwiMessage::Config {
                position: Some(sdrhub_dsp::geo::GeoPoint::new(48.39, -4.49)),
                name: Some("Test & Co".into()),
            },
            KiwiMessage::Down,
            KiwiMessage::SampleRate(12001.135),
        ]
    );
    assert_eq!(interpret("badp", Some("1")), KiwiMessage::BadPassword(1));
    assert_eq!(interpret("badp", Some("0")), KiwiMessage::AuthOk);
    assert_eq!(interpret("too_busy", Some("4")), KiwiMessage::TooBusy(4));
    // An operator who never set a position sends (0, 0): that is "unknown", not the Gulf of Guinea.
    assert_eq!(parse_rx_gps("(0, 0)"), None);
    assert_eq!(parse_rx_gps("(91, 0)"), None);
}

#[test]
fn malformed_frames_are_errors_not_panics() {
    assert!(matches!(parse_frame(b"SN"), Err(FrameError::Truncated { .. })));
    assert!(matches!(
        parse_frame(b"SND\x08\x01"),
        Err(FrameError::Truncated { .. })
    ));
    assert!(matches!(parse_frame(b"XYZabc"), Err(FrameError::UnknownTag(_))));
    assert!(matches!(parse_frame(b"SND\x00rest"), Err(FrameError::NotIq(0))));
    let mut ragged = vec![0u8; SND_IQ_HEADER_LEN + 6];
    ragged[..4].copy_from_slice(b"SND\x08");
    assert!(matches!(parse_frame(&ragged), Err(FrameError::Ragged(6))));
    assert!(matches!(
        parse_frame(&vec![b'S'; MAX_FRAME_BYTES + 1]),
        Err(FrameError::Oversized(_))
    ));
    assert!(matches!(parse_frame(b"MSG \xff\xfe"), Err(FrameError::NotText)));
}

#[test]
fn status_page_and_urls_parse() {
    let page = parse_status_page(
        "status=active\nname=Test\nusers=2\nusers_max=8\ngps=(48.1, 2.2)\nbogus\noffline=no\n",
    );
    assert_eq!(
        (page.users, page.users_max, page.offline),
        (Some(2), Some(8), false)
    );
    assert_eq!(page.name.as_deref(), Some("Test"));
    assert!(page.position.is_some());
    let url: KiwiUrl = "kiwi://sdr.example.org:8074".parse().unwrap();
    assert_eq!((url.host.as_str(), url.port), ("sdr.example.org", 8074));
    assert_eq!(url.status_url(), "http://sdr.example.org:8074/status");
    let url: KiwiUrl = "http://10.0.0.5".parse().unwrap();
    assert_eq!(url.port, DEFAULT_PORT);
    assert!("ftp://x:1".parse::<KiwiUrl>().is_err());
    assert!("kiwi://host:99999".parse::<KiwiUrl>().is_err());
    assert!("kiwi://host:8073/path".parse::<KiwiUrl>().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    // Any bytes at all: the frame parser returns, and an accepted SND frame is self-consistent.
    #[test]
    fn frame_parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        if let Ok(Frame::Snd { samples, .. }) = parse_frame(&bytes) {
            prop_assert_eq!(samples.len() % 4, 0);
            prop_assert_eq!(samples.len() + SND_IQ_HEADER_LEN, bytes.len());
        }
    }

    // Frames that start like real ones but are cut or corrupted anywhere.
    #[test]
    fn corrupted_real_frames_never_panic(cut in 0usize..2100, flip in 0usize..2100, value in any::<u8>()) {
        let mut bytes = Vec::new();
        encode_snd(&SndHeader { flags: flags::IQ, ..SndHeader::default() }, &[Complex32::new(0.1, 0.2); 512], &mut bytes);
        if flip < bytes.len() { bytes[flip] = value; }
        bytes.truncate(cut);
        let _ = parse_frame(&bytes);
    }

    // MSG bodies, URL escapes, SET commands, status pages, rx_gps and URLs from arbitrary text.
    #[test]
    fn text_parsers_are_total(text in "\\PC{0,200}") {
        for (name, value) in msg_pairs(&text) {
            let _ = interpret(name, value.as_deref());
            let _ = interpret("load_cfg", value.as_deref());
            let _ = interpret("sample_rate", value.as_deref());
        }
        let _ = url_decode(&text);
        let round = url_decode(&url_encode(&text));
        prop_assert_eq!(round.as_deref(), Some(text.as_str()));
        let _ = parse_set(&text);
        let _ = parse_status_page(&text);
        let _ = parse_rx_gps(&text);
        let _ = text.parse::<KiwiUrl>();
    }

    #[test]
    fn gps_week_time_round_trips(unix_ns in 1_000_000_000_000_000_000i64..4_000_000_000_000_000_000i64) {
        let (sec, nsec) = unix_ns_to_gps_week(unix_ns);
        prop_assert!(sec < 604_800 && nsec < 1_000_000_000);
        // Resolved near a host clock that is off by up to three days.
        prop_assert_eq!(gps_week_to_unix_ns(sec, nsec, unix_ns + 3 * 86_400_000_000_000), unix_ns);
        prop_assert_eq!(gps_week_to_unix_ns(sec, nsec, unix_ns - 3 * 86_400_000_000_000), unix_ns);
    }
}

#[test]
fn gps_time_matches_a_known_date() {
    // 2026-11-22T00:00:00Z is a Sunday: GPS week seconds 18 (leap seconds) at midnight UTC.
    let unix_ns = 1_795_305_600i64 * 1_000_000_000;
    assert_eq!(unix_ns_to_gps_week(unix_ns), (18, 0));
}

#[test]
fn clock_fits_fresh_solutions_measures_the_rate_and_rejects_a_bad_anchor() {
    let fs = 12_001.135 * (1.0 + 2.5e-6);
    let epoch = 1_795_305_600_000_000_000i64;
    let time = |k: u64| epoch + (k as f64 * 1e9 / fs).round() as i64;
    // The receiver reports a rate 3 ppm off; only anchors can tell the truth.
    let mut clock = GpsClock::new(fs * (1.0 + 3e-6));
    let mut worst_ns = 0i64;
    for frame in 0..600u64 {
        let k = frame * 512;
        let t = time(k);
        let age = (((t - epoch) / 1_000_000_000) % 3) as u8;
        // Stamps between solutions drift; the fresh ones are exact, except one wrong solution.
        let mut stamp = t + 7_000 * i64::from(age);
        if frame == 301 && age == 0 {
            stamp += 500_000;
        }
        let (gps_sec, gps_nsec) = unix_ns_to_gps_week(stamp);
        let header = SndHeader {
            flags: flags::IQ,
            last_gps_solution: age,
            gps_sec,
            gps_nsec,
            ..SndHeader::default()
        };
        let result = clock.frame_time(k, &header, epoch);
        if clock.anchors() >= super::timing::MIN_ANCHORS {
            worst_ns = worst_ns.max((result.time_ns - t).abs());
            assert!(result.gps_locked);
        }
    }
    assert!(clock.rate_measured());
    assert!(
        ((clock.rate_hz() - fs) / fs).abs() < 1e-8,
        "rate {}",
        clock.rate_hz()
    );
    assert!(worst_ns <= 2, "worst error {worst_ns} ns");
}

#[test]
fn frames_without_gps_are_timed_by_the_host_clock_and_not_locked() {
    let mut clock = GpsClock::new(12_000.0);
    let header = SndHeader {
        flags: flags::IQ,
        last_gps_solution: NO_GPS_FIX,
        ..SndHeader::default()
    };
    let a = clock.frame_time(0, &header, 5_000_000_000);
    let b = clock.frame_time(12_000, &header, 9_000_000_000);
    assert!(!a.gps_locked && !b.gps_locked && a.fix_age_s.is_none());
    assert_eq!(b.time_ns - a.time_ns, 1_000_000_000);
}

/// Acceptance: over a 10 s run against the emulator, every block's reconstructed time matches
/// the emulator's clock within 1 us, and the measured rate its true rate within 1 ppm.
#[test]
fn emulator_stream_times_match_the_emulator_clock_within_a_microsecond() {
    let mut config = KiwiEmulatorConfig::new(scene(), 1, now_ns());
    config.clock_ppm = -4.2;
    config.reported_rate_error_ppm = 3.0;
    let emulator = KiwiEmulator::start(config).unwrap();
    let true_rate = emulator.config().true_rate_hz();
    let mut builder = client_for(&emulator);
    let mut source = KiwiSource::open_for_test(&mut builder);
    let mut block = IqBlock::with_capacity(512);
    let started = Instant::now();
    let (mut checked, mut worst_ns, mut samples) = (0, 0i64, 0u64);
    while started.elapsed() < Duration::from_secs(10) {
        if source.read(&mut block, Duration::from_millis(500)).unwrap() != ReadOutcome::Block {
            continue;
        }
        samples += block.samples.len() as u64;
        assert_eq!(block.samples.len(), 512);
        let sequence = source.last_sequence().unwrap();
        let truth = emulator
            .frame_time_ns(sequence)
            .expect("the emulator sent this frame");
        if block.gps_locked {
            worst_ns = worst_ns.max((block.time_ns - truth).abs());
            checked += 1;
        }
    }
    let rate = source.rate_hz();
    let rate_error_ppm = (rate - true_rate) / true_rate * 1e6;
    eprintln!(
        "10 s run: {samples} samples, {checked} GPS-locked blocks, worst time error {worst_ns} ns, \
         rate error {rate_error_ppm:.4} ppm (reported rate was 3 ppm off)"
    );
    assert!(checked > 100, "only {checked} locked blocks");
    assert!(worst_ns < 1_000, "worst time error {worst_ns} ns");
    assert!(rate_error_ppm.abs() < 1.0, "rate error {rate_error_ppm} ppm");
}

/// Issue 14, acceptance 2 and 5: against the `real-world` profile (zero and stale first
/// stamps, a solution only every 5 s, the ADC 150 ppm fast while the receiver announces and
/// extrapolates the nominal rate), the client rejects the bad stamps, fits the true rate, times
/// every locked block to the emulator's clock within a microsecond, and reports it all.
#[test]
fn real_world_stamps_are_fitted_to_the_true_clock() {
    let emulator = KiwiEmulator::start(KiwiEmulatorConfig::real_world(scene(), 0, now_ns())).unwrap();
    let true_rate = emulator.config().true_rate_hz();
    let announced = emulator.config().reported_rate_hz();
    assert!(((true_rate / announced - 1.0) * 1e6 - 150.0).abs() < 0.01);
    let mut builder = client_for(&emulator);
    let link = builder.link();
    let mut source = KiwiSource::open_for_test(&mut builder);
    let mut block = IqBlock::with_capacity(512);
    let started = Instant::now();
    let (mut checked, mut worst_ns, mut first_locked) = (0, 0i64, None);
    while started.elapsed() < Duration::from_secs(20) && checked < 100 {
        if source.read(&mut block, Duration::from_millis(500)).unwrap() != ReadOutcome::Block {
            continue;
        }
        let truth = emulator.frame_time_ns(source.last_sequence().unwrap()).unwrap();
        if block.gps_locked {
            first_locked.get_or_insert(started.elapsed());
            worst_ns = worst_ns.max((block.time_ns - truth).abs());
            checked += 1;
        }
    }
    let timing = link.timing();
    let fit = timing.fit.expect("a trusted fit");
    let ppm = fit.ppm_from(timing.announced_rate_hz.unwrap());
    eprintln!(
        "real-world stream: locked after {first_locked:?}, {checked} locked blocks, worst time error          {worst_ns} ns, fitted {:.4} Hz ({ppm:+.1} ppm from the announced rate), worst residual {:.0} ns,          {} stamp(s) rejected",
        fit.rate_hz, fit.residual_worst_ns, timing.rejected
    );
    assert!(checked >= 100, "only {checked} locked blocks");
    assert!(worst_ns < 1_000, "worst time error {worst_ns} ns");
    assert!((ppm - 150.0).abs() < 1.0, "{ppm} ppm");
    assert!(fit.residual_worst_ns < 400.0, "{fit:?}");
    assert_eq!(timing.rejected, 1, "the stale stamp");
    assert!(timing.problem.is_none());
}

#[test]
fn session_set_up_follows_the_protocol_and_learns_the_receiver() {
    let mut config = KiwiEmulatorConfig::new(scene(), 2, now_ns());
    config.password = Some("s3cret & more".into());
    let emulator = KiwiEmulator::start(config).unwrap();
    let url: KiwiUrl = emulator.url().parse().unwrap();
    let mut with_password = KiwiConfig::new("rx", url.clone(), 10.0e6);
    with_password.password = "s3cret & more".into();
    let mut builder = KiwiBuilder::new(with_password).unwrap();
    let mut source = builder.open().expect("the right password is accepted");
    let mut block = IqBlock::with_capacity(512);
    while source.read(&mut block, Duration::from_secs(1)).unwrap() != ReadOutcome::Block {}
    let info = builder.info();
    let truth = scene().receivers()[2].clone();
    assert_eq!(info.name, truth.name);
    assert!(info.position.unwrap().distance_m(truth.position) < 1.0);
    assert_eq!(builder.link().channels.load(Ordering::Relaxed), 4);
    drop(source);

    let mut wrong = KiwiBuilder::new(KiwiConfig::new("rx", url, 10.0e6)).unwrap();
    match wrong.open() {
        Err(SourceError::Refused(reason)) => assert!(reason.contains("password"), "{reason}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    assert!(wrong.link().refusal().unwrap().contains("password"));
}

/// Acceptance: a busy receiver and a refused password are reported with the reason, and the
/// retries back off: over 10 s the worker tries at most twice.
#[test]
fn refusals_are_reported_and_retried_slowly() {
    for (admission, password, expected) in [
        (Admission::Busy, None, "too busy"),
        (Admission::Open, Some("secret".to_string()), "password"),
        (Admission::Down, None, "down"),
    ] {
        let mut config = KiwiEmulatorConfig::new(scene(), 0, now_ns());
        config.admission = admission;
        config.password = password;
        let emulator = KiwiEmulator::start(config).unwrap();
        let builder = client_for(&emulator);
        let link = builder.link();
        let acquisition = Acquisition::spawn(Box::new(builder), AcquisitionConfig::default());
        std::thread::sleep(Duration::from_secs(10));
        let attempts = link.attempts.load(Ordering::Relaxed);
        let auths = emulator.counters().auth_attempts.load(Ordering::Relaxed);
        assert_eq!(acquisition.stats().state(), AcquisitionState::Offline);
        let error = acquisition.stats().last_error().unwrap();
        assert!(error.contains(expected), "{error}");
        assert!(link.refusal().unwrap().contains(expected));
        assert!((1..=2).contains(&attempts), "{attempts} attempts in 10 s");
        assert!(auths <= 2, "{auths} auth attempts reached the receiver");
    }
}

/// Acceptance: malformed, truncated, text and oversized frames are counted and reported; the
/// client survives them or reconnects cleanly and keeps streaming.
#[test]
fn hostile_frames_are_counted_and_the_stream_survives() {
    let mut config = KiwiEmulatorConfig::new(scene(), 0, now_ns());
    config.faults = Faults {
        drop_every: Some(13),
        overflow_every: Some(17),
        text_every: Some(5),
        truncated_every: Some(7),
        unknown_tag_every: Some(11),
        oversized_after: Some(40),
    };
    let emulator = KiwiEmulator::start(config).unwrap();
    let builder = client_for(&emulator);
    let link = builder.link();
    let acquisition = Acquisition::spawn(
        Box::new(builder),
        AcquisitionConfig {
            backoff_initial: Duration::from_millis(200),
            ..AcquisitionConfig::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut blocks_after_reconnect = 0;
    while Instant::now() < deadline {
        if let Ok(block) = acquisition.blocks().recv_timeout(Duration::from_millis(200)) {
            assert_eq!(block.samples.len(), 512);
            if link.sessions.load(Ordering::Relaxed) >= 2 {
                blocks_after_reconnect += 1;
            }
        }
    }
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    eprintln!(
        "malformed {} text {} oversized {} lost {} overflows {} sessions {} discontinuities {}",
        count(&link.malformed_frames),
        count(&link.text_frames),
        count(&link.oversized_frames),
        count(&link.frames_lost),
        count(&link.adc_overflows),
        count(&link.sessions),
        count(&acquisition.stats().discontinuities),
    );
    assert!(count(&link.malformed_frames) >= 5);
    assert!(count(&link.text_frames) >= 5);
    // The emulator sends one oversized frame 40 frames into every session; each ends it.
    assert!(count(&link.oversized_frames) >= 1);
    assert!(count(&link.sessions) >= count(&link.oversized_frames));
    assert!(count(&link.frames_lost) >= 3);
    assert!(count(&link.adc_overflows) >= 3);
    assert!(
        count(&link.sessions) >= 2,
        "reconnected after the oversized frame"
    );
    assert!(
        blocks_after_reconnect > 20,
        "streaming resumed: {blocks_after_reconnect} blocks"
    );
    assert!(count(&acquisition.stats().discontinuities) >= 3);
    assert!(link.last_problem().is_some());
}

#[test]
fn a_stopped_emulator_is_a_stream_error_and_a_restarted_one_streams_again() {
    let mut emulator = KiwiEmulator::start(KiwiEmulatorConfig::new(scene(), 0, now_ns())).unwrap();
    let builder = client_for(&emulator);
    let link = builder.link();
    let acquisition = Acquisition::spawn(
        Box::new(builder),
        AcquisitionConfig {
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            ..AcquisitionConfig::default()
        },
    );
    let wait_for = |what: &str, limit: Duration, ok: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !ok() {
            assert!(start.elapsed() < limit, "{what} within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
            while acquisition.blocks().try_recv().is_ok() {}
        }
        start.elapsed()
    };
    wait_for("streaming", Duration::from_secs(5), &|| {
        acquisition.stats().blocks.load(Ordering::Relaxed) > 10
    });
    emulator.stop();
    let offline = wait_for("offline", Duration::from_secs(5), &|| {
        acquisition.stats().state() == AcquisitionState::Offline
    });
    std::thread::sleep(Duration::from_secs(2));
    emulator.restart().unwrap();
    let before = acquisition.stats().blocks.load(Ordering::Relaxed);
    let back = wait_for("streaming again", Duration::from_secs(10), &|| {
        acquisition.stats().blocks.load(Ordering::Relaxed) > before + 10
    });
    eprintln!("offline after {offline:?}; streaming again {back:?} after restart");
    assert!(link.sessions.load(Ordering::Relaxed) >= 2);
}

/// Acceptance: a Kiwi WAV written and read back has exactly the samples and GPS stamps.
#[test]
fn kiwi_wav_round_trip_preserves_samples_and_stamps_exactly() {
    let dir = std::env::temp_dir().join(format!("sdrhub-kiwi-wav-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("round.wav");
    let info = KiwiWavInfo {
        receiver_id: "kiwi-brest".into(),
        name: "Brest".into(),
        latitude: Some(48.39),
        longitude: Some(-4.49),
        center_hz: 10e6,
        sample_rate_hz: 12_001.135,
        start_ns: Some(1_795_305_600_000_000_000),
    };
    let mut writer = KiwiWavWriter::create(&path, info.sample_rate_hz, Some(&info)).unwrap();
    let mut written = Vec::new();
    for frame in 0..50u32 {
        let stamp = GpsStamp {
            last_gps_solution: (frame % 4) as u8,
            gps_sec: 18 + frame / 23,
            gps_nsec: frame.wrapping_mul(42_666_111) % 1_000_000_000,
        };
        // int16 values (including both extremes) are exact in the file.
        let samples: Vec<Complex32> = (0..512i32)
            .map(|n| {
                let i = ((n * 131 + frame as i32 * 7) % 65_536 - 32_768) as f32 / 32_768.0;
                let q = if n == 0 {
                    -1.0
                } else {
                    (32_767 - n) as f32 / 32_768.0
                };
                Complex32::new(i, q)
            })
            .collect();
        writer.write_frame(stamp, &samples).unwrap();
        written.push((stamp, samples));
    }
    writer.finish().unwrap();
    let wav = KiwiWav::open(&path).unwrap();
    assert_eq!(wav.info(), Some(&info));
    assert_eq!(wav.sample_rate_hz(), 12_001.135);
    assert_eq!(wav.read_all().unwrap(), written);
    // The replay source times frames from the stamps' solution cycle.
    let mut builder = KiwiWavBuilder::new(wav);
    assert_eq!(&*builder.info().id, "kiwi-brest");
    assert!(builder.info().position.is_some());
    let mut source = builder.open().unwrap();
    let mut block = IqBlock::with_capacity(512);
    let mut frames = 0;
    while source.read(&mut block, Duration::ZERO).unwrap() == ReadOutcome::Block {
        assert_eq!(block.samples, written[frames].1);
        frames += 1;
    }
    assert_eq!(frames, 50);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn recording_a_kiwi_stream_keeps_its_gps_time_to_the_nanosecond() {
    let emulator = KiwiEmulator::start(KiwiEmulatorConfig::new(scene(), 3, now_ns())).unwrap();
    let mut builder = client_for(&emulator);
    let mut source = KiwiSource::open_for_test(&mut builder);
    let dir = std::env::temp_dir().join(format!("sdrhub-kiwi-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rec.wav");
    let info = builder.info();
    let mut writer = KiwiWavWriter::create(
        &path,
        info.sample_rate_hz,
        Some(&KiwiWavInfo {
            receiver_id: info.id.to_string(),
            center_hz: info.center_hz,
            sample_rate_hz: info.sample_rate_hz,
            start_ns: Some(now_ns()),
            ..KiwiWavInfo::default()
        }),
    )
    .unwrap();
    let mut block = IqBlock::with_capacity(512);
    let mut recorded = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if source.read(&mut block, Duration::from_millis(500)).unwrap() == ReadOutcome::Block
            && block.gps_locked
        {
            writer.write_block(&block).unwrap();
            recorded.push(block.time_ns);
        }
    }
    writer.finish().unwrap();
    let mut replay = KiwiWavBuilder::new(KiwiWav::open(&path).unwrap()).open().unwrap();
    let mut times = Vec::new();
    while replay.read(&mut block, Duration::ZERO).unwrap() == ReadOutcome::Block {
        assert!(block.gps_locked);
        times.push(block.time_ns);
    }
    assert!(recorded.len() > 20);
    assert_eq!(times, recorded);
    std::fs::remove_dir_all(&dir).ok();
}

impl KiwiSource {
    /// Opens a session through `builder` and returns the concrete source, for tests that look
    /// at its clock.
    fn open_for_test(builder: &mut KiwiBuilder) -> KiwiSource {
        let config = builder.config().clone();
        let url = config.url.clone();
        match KiwiSource::connect(&config, &url, builder.link()) {
            Ok(source) => source,
            Err(_) => panic!("cannot connect to the emulator"),
        }
    }
}
