//! The SoapySDR source through the real stack: libSoapySDR, Debian's
//! `soapysdr-module-redpitaya` driver, TCP on 127.0.0.1, and the in-crate Red Pitaya emulator.
//!
//! Needs `libsoapysdr-dev` and `soapysdr-module-redpitaya`; run with
//! `cargo test -p sdrhub-hardware --features soapy --test soapy`.

use num_complex::Complex32;
use rustfft::FftPlanner;
use sdrhub_hardware::acquisition::{Acquisition, AcquisitionConfig, AcquisitionState};
use sdrhub_hardware::emulator::{EmulatorConfig, RedPitayaEmulator, Scene, Tone};
use sdrhub_hardware::soapy::{
    installed_drivers, list_devices, probe, GainConfig, SoapyBuilder, SoapyReceiverConfig, StreamFormat,
};
use sdrhub_hardware::source::SourceBuilder;
use sdrhub_hardware::{IqBlock, SourceError, SourceKind};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TONE_HZ: f64 = 12_500.0;

fn emulator() -> RedPitayaEmulator {
    let scene = Scene {
        tones: vec![Tone {
            offset_hz: TONE_HZ,
            amplitude: 0.5,
        }],
        noise_rms: 0.005,
        seed: 11,
    };
    RedPitayaEmulator::start(EmulatorConfig { port: 0, scene }).expect("emulator binds 127.0.0.1")
}

fn receiver(args: &str, sample_rate_hz: f64) -> SoapyReceiverConfig {
    SoapyReceiverConfig {
        id: "rp".into(),
        name: "Red Pitaya (emulated)".into(),
        args: args.into(),
        channel: 0,
        frequency_hz: 7_100_000.0,
        sample_rate_hz,
        bandwidth_hz: 0.0,
        gain: GainConfig::default(),
        antenna: String::new(),
        ppm: 0.0,
        format: StreamFormat::Native,
        latitude: Some(52.0),
        longitude: Some(4.5),
    }
}

/// Fast reopen, so the recovery tests measure detection rather than backoff.
fn acquisition_config(queue_blocks: usize) -> AcquisitionConfig {
    AcquisitionConfig {
        queue_blocks,
        read_timeout: Duration::from_millis(100),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        ..AcquisitionConfig::default()
    }
}

/// Polls `done` every 10 ms; returns how long it took, or `None` after `timeout`.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if done() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn config_error(result: Result<impl Sized, SourceError>) -> String {
    match result {
        Err(SourceError::Config(message)) => message,
        Err(other) => panic!("expected a configuration error, got {other:?}"),
        Ok(_) => panic!("expected a configuration error, got a working source"),
    }
}

/// Frequency of the strongest FFT bin of `samples`, Hz, and its power over the median bin, dB.
fn peak(samples: &[Complex32], rate: f64) -> (f64, f64) {
    let n = samples.len();
    let mut buf = samples.to_vec();
    FftPlanner::<f32>::new().plan_fft_forward(n).process(&mut buf);
    let mut power: Vec<f32> = buf.iter().map(|c| c.norm_sqr()).collect();
    let (bin, &max) = power
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("non-empty spectrum");
    let freq = if bin < n / 2 {
        bin as f64
    } else {
        bin as f64 - n as f64
    } * rate
        / n as f64;
    power.sort_by(f32::total_cmp);
    (freq, 10.0 * (max / power[n / 2]).log10() as f64)
}

#[test]
fn the_redpitaya_driver_is_installed() {
    let drivers = installed_drivers();
    assert!(drivers.iter().any(|d| d == "redpitaya"), "{drivers:?}");
}

#[test]
fn streams_the_emulated_tone_at_its_offset_through_acquisition() {
    let emulator = emulator();
    let builder = SoapyBuilder::new(receiver(&emulator.device_args(), 100e3)).unwrap();
    let info = builder.info();
    assert_eq!(info.kind, SourceKind::Soapy);
    assert_eq!(&*info.id, "rp");
    assert_eq!(info.center_hz, 7.1e6);
    assert!(info.position.is_some());
    let acquisition = Acquisition::spawn(Box::new(builder), acquisition_config(16));

    let started = Instant::now();
    let blocks: Vec<IqBlock> = (0..10)
        .map(|_| {
            acquisition
                .blocks()
                .recv_timeout(Duration::from_secs(5))
                .expect("a block")
        })
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(acquisition.stats().state(), AcquisitionState::Online);

    // The driver told the "hardware" what we configured.
    let stats = emulator.stats();
    assert_eq!(stats.frequency_hz, Some(7_100_000));
    assert_eq!(stats.sample_rate_hz, Some(100e3));

    let now = sdrhub_hardware::acquisition::now_ns();
    for (k, block) in blocks.iter().enumerate() {
        assert_eq!(&*block.receiver_id, "rp");
        assert_eq!(block.center_hz, 7.1e6);
        assert_eq!(block.sample_rate_hz, 100e3);
        assert!(!block.gps_locked);
        assert_eq!(
            block.seq,
            blocks[0].seq + k as u64,
            "consecutive sequence numbers"
        );
        // 50 ms blocks, a whole number of 1024-sample MTUs.
        assert_eq!(block.samples.len(), 5120);
        assert!((now - block.time_ns).abs() < 3_000_000_000, "host time near now");
        let (freq, snr_db) = peak(&block.samples[..4096], 100e3);
        assert!(
            (freq - TONE_HZ).abs() <= 100e3 / 4096.0,
            "tone at {freq} Hz in block {k}"
        );
        assert!(snr_db > 40.0, "tone {snr_db:.1} dB over the noise floor");
    }
    // Sample counting: each block starts where the previous one ended.
    for pair in blocks.windows(2) {
        let expected = pair[0].sample_time_ns(pair[0].samples.len() as i64);
        assert!(!pair[1].discontinuity);
        assert!(
            (pair[1].time_ns - expected).abs() <= 1,
            "{} vs {expected}",
            pair[1].time_ns
        );
    }
    // Real time: 10 blocks of 50 ms take about 0.5 s once streaming (the first one includes
    // start-up), never a burst.
    assert!(
        elapsed > 0.4,
        "10 blocks in {elapsed:.3} s: faster than real time"
    );
    eprintln!("10 blocks in {elapsed:.3} s");
}

#[test]
fn receiver_goes_offline_when_the_emulator_dies_and_resumes_when_it_returns() {
    let mut emulator = emulator();
    let builder = SoapyBuilder::new(receiver(&emulator.device_args(), 250e3)).unwrap();
    let acquisition = Acquisition::spawn(Box::new(builder), acquisition_config(16));
    let stats = acquisition.stats().clone();
    // Drain blocks in the background like DSP would.
    let blocks = acquisition.blocks().clone();
    let drain = std::thread::spawn(move || while blocks.recv().is_ok() {});

    wait_until(Duration::from_secs(5), || {
        stats.blocks.load(std::sync::atomic::Ordering::Relaxed) >= 5
    })
    .expect("streaming starts");
    assert_eq!(stats.state(), AcquisitionState::Online);

    // Unplug.
    emulator.stop();
    let to_offline = wait_until(Duration::from_secs(2), || {
        stats.state() == AcquisitionState::Offline
    })
    .expect("offline within 2 s");
    let error = stats.last_error().expect("an error is reported");
    assert!(error.contains("no samples for"), "{error}");

    // Stays offline while the device is gone (reopen attempts fail).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stats.state(), AcquisitionState::Offline);
    let opens_before = stats.opens.load(std::sync::atomic::Ordering::Relaxed);

    // Replug on the same port.
    emulator.restart().unwrap();
    let blocks_at_replug = stats.blocks.load(std::sync::atomic::Ordering::Relaxed);
    let to_resume = wait_until(Duration::from_secs(5), || {
        stats.state() == AcquisitionState::Online
            && stats.blocks.load(std::sync::atomic::Ordering::Relaxed) >= blocks_at_replug + 3
    })
    .expect("streaming again within 5 s");
    assert_eq!(
        stats.opens.load(std::sync::atomic::Ordering::Relaxed),
        opens_before + 1
    );
    assert!(emulator.stats().blocks_sent > 0);
    eprintln!("offline after {to_offline:?}; streaming again {to_resume:?} after the replug");

    drop(acquisition);
    drain.join().unwrap();
}

#[test]
fn misconfiguration_is_an_error_naming_the_setting_and_the_allowed_range() {
    let emulator = emulator();
    let args = emulator.device_args();
    let open = |config: SoapyReceiverConfig| SoapyBuilder::new(config).and_then(|b| b.open_source());

    let message = config_error(open(receiver(&args, 300e3)));
    assert_eq!(
        message,
        "sample_rate_hz = 300000 not supported by driver=redpitaya: supported 20000, 50000, 100000, \
         250000, 500000, 1250000"
    );

    let mut config = receiver(&args, 100e3);
    config.frequency_hz = 100e6;
    let message = config_error(open(config));
    assert!(
        message.starts_with("frequency_hz = 100000000 out of range for driver=redpitaya"),
        "{message}"
    );
    assert!(message.contains("supported [50000, 60000000]"), "{message}");

    let message = config_error(open(receiver("driver=nosuchsdr", 100e3)));
    assert!(message.contains("driver=nosuchsdr is not installed"), "{message}");
    assert!(
        message.contains("redpitaya"),
        "lists the installed drivers: {message}"
    );

    let message = config_error(SoapyBuilder::new(receiver("driver redpitaya, port=1", 100e3)));
    assert!(
        message.starts_with("args = \"driver redpitaya, port=1\" is malformed"),
        "{message}"
    );

    let mut config = receiver(&args, 100e3);
    config.gain = GainConfig::Overall(20.0);
    assert!(config_error(open(config))
        .contains("gain = 20 not supported by driver=redpitaya: it has no gain controls"));
    let mut config = receiver(&args, 100e3);
    config.gain = GainConfig::Elements(BTreeMap::from([("LNA".to_owned(), 10.0)]));
    assert!(config_error(open(config)).contains("gain.LNA not available on driver=redpitaya"));
    let mut config = receiver(&args, 100e3);
    config.bandwidth_hz = 50e3;
    assert!(config_error(open(config)).contains("bandwidth_hz = 50000 not supported"));
    let mut config = receiver(&args, 100e3);
    config.antenna = "RX2".into();
    assert!(config_error(open(config)).contains("antenna = \"RX2\" not available"));
    let mut config = receiver(&args, 100e3);
    config.channel = 1;
    assert!(config_error(open(config))
        .contains("channel = 1 not available on driver=redpitaya: it has 1 RX channel(s), 0..=0"));
    let mut config = receiver(&args, 100e3);
    config.ppm = 1.5;
    assert!(config_error(open(config)).contains("ppm = 1.5 not supported by driver=redpitaya"));
    let mut config = receiver(&args, 100e3);
    config.format = StreamFormat::Cs16;
    assert!(config_error(open(config))
        .contains("format = \"cs16\" not supported by driver=redpitaya: supported cf32"));
    let mut config = receiver(&args, 100e3);
    config.latitude = None;
    assert!(config_error(SoapyBuilder::new(config)).contains("latitude and longitude"));

    // The same errors reach the acquisition's status, and the receiver is offline.
    for (config, expected) in [
        (receiver(&args, 300e3), "sample_rate_hz = 300000 not supported"),
        (
            SoapyReceiverConfig {
                frequency_hz: 100e6,
                ..receiver(&args, 100e3)
            },
            "frequency_hz = 100000000 out of range",
        ),
        (
            receiver("driver=nosuchsdr", 100e3),
            "driver=nosuchsdr is not installed",
        ),
    ] {
        let acquisition = Acquisition::spawn(
            Box::new(SoapyBuilder::new(config).unwrap()),
            acquisition_config(4),
        );
        let stats = acquisition.stats().clone();
        wait_until(Duration::from_secs(5), || stats.last_error().is_some()).expect("an error is reported");
        let error = stats.last_error().unwrap();
        assert!(error.starts_with("invalid configuration: "), "{error}");
        assert!(error.contains(expected), "{error}");
        assert_eq!(stats.state(), AcquisitionState::Offline);
    }
    // Nothing ever streamed.
    assert_eq!(emulator.stats().data_clients, 0);
}

#[test]
fn a_slow_consumer_causes_counted_drops_not_a_stalled_reader() {
    use std::sync::atomic::Ordering::Relaxed;
    const QUEUE: usize = 4;
    let emulator = emulator();
    let builder = SoapyBuilder::new(receiver(&emulator.device_args(), 500e3)).unwrap();
    let acquisition = Acquisition::spawn(Box::new(builder), acquisition_config(QUEUE));
    let stats = acquisition.stats().clone();
    wait_until(Duration::from_secs(5), || stats.blocks.load(Relaxed) >= 1).expect("streaming starts");
    let emulator_before = emulator.stats();
    let blocks_before = stats.blocks.load(Relaxed);
    let started = Instant::now();

    // A DSP that needs 300 ms per 50 ms block.
    let mut consumed = 0;
    let mut max_queued = 0;
    while started.elapsed() < Duration::from_secs(3) {
        max_queued = max_queued.max(acquisition.blocks().len());
        if let Ok(block) = acquisition.blocks().recv_timeout(Duration::from_millis(100)) {
            consumed += 1;
            std::thread::sleep(Duration::from_millis(300));
            let _ = acquisition.recycler().try_send(block);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let read = stats.blocks.load(Relaxed) - blocks_before;
    let dropped = stats.samples_dropped.load(Relaxed);
    let emulator_after = emulator.stats();
    let emulator_sent = emulator_after.blocks_sent - emulator_before.blocks_sent;
    let emulator_dropped = emulator_after.blocks_dropped - emulator_before.blocks_dropped;
    eprintln!(
        "{elapsed:.2} s: read {read} blocks, consumed {consumed}, dropped {dropped} samples, \
         max queued {max_queued}; emulator sent {emulator_sent} blocks, dropped {emulator_dropped}"
    );

    // The reader kept pace with the device: 500 kS/s in 25600-sample blocks is 19.5 blocks/s.
    let expected = elapsed * 500e3 / 25_600.0;
    assert!(
        read as f64 > 0.8 * expected,
        "read {read} blocks, expected about {expected:.0}"
    );
    // What DSP could not take was dropped and counted, and the queue stayed bounded.
    assert!(dropped > 0);
    assert!(
        dropped >= (read - consumed as u64 - QUEUE as u64) * 25_600,
        "every unconsumed block is counted"
    );
    assert!(max_queued <= QUEUE);
    assert_eq!(stats.state(), AcquisitionState::Online);
    // The device was drained at its rate: the emulator almost never had to drop.
    assert!(
        (emulator_dropped as f64) < 0.05 * (emulator_sent + emulator_dropped) as f64,
        "emulator dropped {emulator_dropped} of {} blocks",
        emulator_sent + emulator_dropped
    );
}

#[test]
fn probe_and_list_describe_the_emulated_device() {
    let emulator = emulator();
    let args = emulator.device_args();
    let description = probe(&args).unwrap();
    assert_eq!(description.driver, "redpitaya");
    assert_eq!(description.args, args);
    assert!(description.error.is_none());
    assert_eq!(description.rx_channels.len(), 1);
    let ch = &description.rx_channels[0];
    let rates: Vec<f64> = ch.sample_rates.iter().map(|r| r.minimum).collect();
    assert_eq!(rates, [20e3, 50e3, 100e3, 250e3, 500e3, 1.25e6]);
    assert_eq!(ch.frequency_ranges.len(), 1);
    assert_eq!(
        (ch.frequency_ranges[0].minimum, ch.frequency_ranges[0].maximum),
        (50e3, 60e6)
    );
    assert!(ch.gain_elements.is_empty());
    assert_eq!(ch.gain_range, None);
    assert!(!ch.automatic_gain);
    assert_eq!(ch.native_format.as_deref(), Some("CF32"));
    assert_eq!(ch.stream_formats, ["CF32"]);
    assert!(ch.mtu.is_some_and(|m| m > 0));

    let text = description.to_string();
    assert!(
        text.contains("sample rates: 20000, 50000, 100000, 250000, 500000, 1250000"),
        "{text}"
    );
    assert!(text.contains("frequency Hz: 50000..60000000"), "{text}");
    let json = serde_json::to_string(&description).unwrap();
    assert_eq!(
        serde_json::from_str::<sdrhub_hardware::soapy::DeviceDescription>(&json).unwrap(),
        description
    );

    let listed = list_devices(&args).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].driver, "redpitaya");
    assert_eq!(listed[0].rx_channels, description.rx_channels);

    assert!(matches!(probe("driver=nosuchsdr"), Err(SourceError::Config(_))));
    assert!(matches!(list_devices("driver"), Err(SourceError::Config(_))));
}

#[test]
fn a_device_absent_at_start_is_retried_until_it_appears() {
    let mut emulator = emulator();
    emulator.stop();
    let builder = SoapyBuilder::new(receiver(&emulator.device_args(), 100e3)).unwrap();
    let acquisition = Acquisition::spawn(Box::new(builder), acquisition_config(16));
    let stats = acquisition.stats().clone();
    wait_until(Duration::from_secs(3), || stats.last_error().is_some()).expect("an error is reported");
    let error = stats.last_error().unwrap();
    assert!(
        error.starts_with("cannot open: driver=redpitaya: starting the RX stream failed"),
        "{error}"
    );
    assert_eq!(stats.state(), AcquisitionState::Offline);
    // Keeps retrying while the device is absent.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stats.state(), AcquisitionState::Offline);
    assert_eq!(stats.opens.load(std::sync::atomic::Ordering::Relaxed), 0);

    emulator.restart().unwrap();
    let resumed = wait_until(Duration::from_secs(5), || {
        stats.state() == AcquisitionState::Online
            && acquisition
                .blocks()
                .recv_timeout(Duration::from_millis(10))
                .is_ok()
    })
    .expect("streams once the device appears");
    eprintln!("streaming {resumed:?} after the device appeared");
}
