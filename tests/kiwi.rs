//! The remote-receiver path as a user runs it: sdrhub configured with KiwiSDR receivers by URL,
//! connected over real WebSockets to emulated KiwiSDRs serving the simulated HF scene, watched
//! through sdrhub's own WebSocket. The emulators are stopped, restarted, made busy and
//! password-protected, and `websdrs:status` must tell the truth each time.

mod common;

use common::{connect, next_json, wait_for};
use sdrhub::config::{Config, KiwiReceiverConfig, ReceiverConfig};
use sdrhub_hardware::acquisition::now_ns;
use sdrhub_hardware::kiwi::{hf_scene, Admission, KiwiEmulator, KiwiEmulatorConfig};
use sdrhub_hardware::sim::Scene;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn kiwi_receiver(id: &str, url: String) -> ReceiverConfig {
    ReceiverConfig::Kiwisdr(KiwiReceiverConfig {
        id: id.into(),
        name: String::new(),
        url,
        password: String::new(),
        frequency_hz: hf_scene().center_frequency_hz,
        latitude: None,
        longitude: None,
        user: "sdrhub-test".into(),
        gain_db: 50,
        fft_size: 1024,
        averages: 4,
        status_probe_interval_s: 1.0,
    })
}

fn config(receivers: Vec<ReceiverConfig>) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.server.status_interval_s = 0.5;
    config.server.health_interval_s = 0.5;
    config.localization.interval_s = 1.0;
    config.receivers = receivers;
    config
}

fn emulators(scene: &Scene, count: usize) -> Vec<KiwiEmulator> {
    let epoch = now_ns();
    (0..count)
        .map(|rx| {
            let mut config = KiwiEmulatorConfig::new(scene.clone(), rx, epoch);
            config.clock_ppm = [-3.1, 1.7, 0.4, -1.2, 2.6][rx % 5];
            config.reported_rate_error_ppm = 0.5;
            KiwiEmulator::start(config).expect("emulator starts")
        })
        .collect()
}

fn receiver<'a>(message: &'a Value, id: &str) -> Option<&'a Value> {
    if message["event"] != "websdrs:status" {
        return None;
    }
    message["data"]["websdrs"]
        .as_array()?
        .iter()
        .find(|r| r["id"] == id)
}

fn status_is(message: &Value, id: &str, status: &str) -> bool {
    receiver(message, id).is_some_and(|r| r["status"] == status)
}

/// Acceptance 1: detections at the right frequency, and `online` with a numeric
/// `response_time_ms`, from KiwiSDR receivers configured by URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiwisdr_receivers_stream_detect_and_report_online() {
    let scene = Scene::new(hf_scene()).unwrap();
    let kiwis = emulators(&scene, 3);
    let ids: Vec<String> = scene.receivers()[..3].iter().map(|r| r.id.to_string()).collect();
    let receivers = ids
        .iter()
        .zip(&kiwis)
        .map(|(id, kiwi)| kiwi_receiver(id, kiwi.url()))
        .collect();
    let server = common::start(config(receivers));
    let mut ws = connect(&server, "/ws").await;

    // The carrier of the HF scene, within one 11.7 Hz bin.
    let carrier = scene.transmitters()[0].frequency_hz;
    let bin = scene.config().sample_rate_hz / 1024.0;
    let (signal, took) = wait_for(&mut ws, Duration::from_secs(20), "the carrier", |m| {
        m["event"] == "signals:detected"
            && (m["data"]["frequency_hz"].as_f64().unwrap_or(0.0) - carrier).abs() <= bin
    })
    .await;
    eprintln!("carrier detected after {took:?}: {}", signal["data"]);

    let (status, took) = wait_for(&mut ws, Duration::from_secs(20), "all receivers online", |m| {
        ids.iter().all(|id| status_is(m, id, "online"))
    })
    .await;
    eprintln!("all online after a further {took:?}");
    for (id, truth) in ids.iter().zip(scene.receivers()) {
        let r = receiver(&status, id).unwrap();
        assert_eq!(r["kind"], "kiwisdr");
        assert!(
            r["response_time_ms"]
                .as_f64()
                .is_some_and(|ms| ms > 0.0 && ms < 1500.0),
            "{r}"
        );
        assert_eq!(r["gps_locked"], true, "{r}");
        assert!(r["gps_fix_age_s"].as_f64().is_some_and(|age| age < 60.0), "{r}");
        assert_eq!(r["users_max"], 4);
        assert!(r["users"].as_u64().is_some_and(|u| u >= 1), "{r}");
        // The position came from the receiver's load_cfg, not the configuration.
        let lat = r["latitude"].as_f64().unwrap();
        let lon = r["longitude"].as_f64().unwrap();
        assert!((lat - truth.position.lat_deg).abs() < 1e-5 && (lon - truth.position.lon_deg).abs() < 1e-5);
        let rate = r["link"]["measured_rate_hz"].as_f64().unwrap();
        assert!((rate - sdrhub_hardware::kiwi::KIWI_RATE_HZ).abs() < 0.1, "{rate}");
        assert_eq!(r["detail"], Value::Null);
    }
    server.stop().await.unwrap();
}

/// Acceptance 3: a receiver that goes away is offline within 5 s, and online and streaming
/// again within 10 s of coming back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiwisdr_that_stops_goes_offline_and_comes_back_online() {
    let scene = Scene::new(hf_scene()).unwrap();
    let mut kiwis = emulators(&scene, 1);
    let server = common::start(config(vec![kiwi_receiver("kiwi", kiwis[0].url())]));
    let mut ws = connect(&server, "/ws?events=websdrs:status").await;
    wait_for(&mut ws, Duration::from_secs(20), "online", |m| {
        status_is(m, "kiwi", "online")
    })
    .await;

    kiwis[0].stop();
    let (offline, took) = wait_for(&mut ws, Duration::from_secs(5), "offline within 5 s", |m| {
        status_is(m, "kiwi", "offline")
    })
    .await;
    eprintln!(
        "offline {took:?} after the stop: {}",
        receiver(&offline, "kiwi").unwrap()["detail"]
    );

    kiwis[0].restart().unwrap();
    let (online, took) = wait_for(
        &mut ws,
        Duration::from_secs(10),
        "online within 10 s of restart",
        |m| status_is(m, "kiwi", "online"),
    )
    .await;
    eprintln!("online again {took:?} after the restart");
    let r = receiver(&online, "kiwi").unwrap();
    assert!(r["link"]["sessions"].as_u64().unwrap() >= 2);
    assert!(
        r["last_error"].as_str().is_some(),
        "the outage is remembered: {r}"
    );
    // Streaming: samples keep arriving after the restart.
    let seen = r["last_seen"].as_str().unwrap().to_string();
    let (later, _) = wait_for(&mut ws, Duration::from_secs(3), "fresh samples", |m| {
        receiver(m, "kiwi").is_some_and(|r| r["last_seen"].as_str().is_some_and(|s| s > seen.as_str()))
    })
    .await;
    let later = receiver(&later, "kiwi").unwrap();
    assert_eq!(later["status"], "online", "streaming again: {later}");
    server.stop().await.unwrap();
}

/// Acceptance 3: a busy receiver and one refusing the password are reported with the reason,
/// and not hammered: over 10 s each sees at most two attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_password_refusals_show_the_reason_and_back_off() {
    let scene = Scene::new(hf_scene()).unwrap();
    let epoch = now_ns();
    let mut busy = KiwiEmulatorConfig::new(scene.clone(), 0, epoch);
    busy.admission = Admission::Busy;
    let busy = KiwiEmulator::start(busy).unwrap();
    let mut locked = KiwiEmulatorConfig::new(scene.clone(), 1, epoch);
    locked.password = Some("let-me-in".into());
    let locked = KiwiEmulator::start(locked).unwrap();
    let server = common::start(config(vec![
        kiwi_receiver("busy", busy.url()),
        kiwi_receiver("locked", locked.url()),
    ]));
    let mut ws = connect(&server, "/ws?events=websdrs:status").await;
    let started = Instant::now();
    let (message, _) = wait_for(&mut ws, Duration::from_secs(5), "both refusals reported", |m| {
        receiver(m, "busy").is_some_and(|r| r["detail"].as_str().is_some_and(|d| d.contains("too busy")))
            && receiver(m, "locked")
                .is_some_and(|r| r["detail"].as_str().is_some_and(|d| d.contains("password")))
    })
    .await;
    for id in ["busy", "locked"] {
        let r = receiver(&message, id).unwrap();
        assert_eq!(r["status"], "offline", "{r}");
        assert!(
            r["response_time_ms"].as_f64().is_some() || r["last_error"].is_string(),
            "{r}"
        );
    }
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(started.elapsed())).await;
    for (name, kiwi) in [("busy", &busy), ("locked", &locked)] {
        let attempts = kiwi.counters().auth_attempts.load(Ordering::Relaxed);
        eprintln!("{name}: {attempts} attempt(s) in 10 s");
        assert!((1..=2).contains(&attempts), "{name}: {attempts} attempts in 10 s");
    }
    server.stop().await.unwrap();
}

/// Acceptance 4 through the gateway: hostile frames are counted in `websdrs:status` and the
/// receiver keeps streaming (or reconnects) without the server noticing anything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_are_counted_in_the_receiver_status() {
    let scene = Scene::new(hf_scene()).unwrap();
    let mut hostile = KiwiEmulatorConfig::new(scene.clone(), 0, now_ns());
    hostile.faults = sdrhub_hardware::kiwi::Faults {
        text_every: Some(6),
        truncated_every: Some(9),
        unknown_tag_every: Some(10),
        drop_every: Some(15),
        overflow_every: Some(20),
        oversized_after: Some(50),
    };
    let hostile = KiwiEmulator::start(hostile).unwrap();
    let server = common::start(config(vec![kiwi_receiver("hostile", hostile.url())]));
    let mut ws = connect(&server, "/ws?events=websdrs:status").await;
    let (message, took) = wait_for(&mut ws, Duration::from_secs(15), "every fault counted", |m| {
        receiver(m, "hostile").is_some_and(|r| {
            let link = &r["link"];
            [
                "malformed_frames",
                "text_frames",
                "oversized_frames",
                "frames_lost",
                "adc_overflows",
            ]
            .iter()
            .all(|k| link[*k].as_u64().is_some_and(|n| n > 0))
                && link["sessions"].as_u64().is_some_and(|n| n >= 2)
        })
    })
    .await;
    let r = receiver(&message, "hostile").unwrap();
    eprintln!(
        "after {took:?}: status {} ({}), link {}",
        r["status"], r["detail"], r["link"]
    );
    assert!(r["last_error"].is_string(), "{r}");
    // Still streaming: samples keep arriving.
    let seen = r["last_seen"].as_str().unwrap().to_string();
    wait_for(&mut ws, Duration::from_secs(5), "fresh samples", |m| {
        receiver(m, "hostile").is_some_and(|r| r["last_seen"].as_str().is_some_and(|s| s > seen.as_str()))
    })
    .await;
    let (code, _) = common::get_json(&server, "/api/v1/system/status").await;
    assert_eq!(code, 200);
    server.stop().await.unwrap();
}

/// Issue 6, acceptance 4: the simulated scene served through emulated KiwiSDRs and consumed by
/// sdrhub's client yields TDOA localizations of the data bursts, and the scene's true
/// transmitter lies within the reported 68 % radius in most of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiwisdr_network_locates_the_bursts_by_tdoa_within_the_reported_radius() {
    let scene = Scene::new(hf_scene()).unwrap();
    let kiwis = emulators(&scene, 5);
    locate_bursts(&scene, &kiwis, 12, Duration::from_secs(40)).await;
}

/// Issue 14, acceptance 5: the same network with every emulator in the `real-world` profile
/// (zero and stale first stamps, a solution every 5 s, ADCs 110-190 ppm off while announcing the
/// nominal rate) still locates the bursts, and `websdrs:status` shows each receiver's fitted
/// rate, its ppm from the announced one and the residuals of its solutions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiwisdr_network_in_the_real_world_profile_locates_the_bursts_and_reports_its_timing() {
    let scene = Scene::new(hf_scene()).unwrap();
    let epoch = now_ns();
    let kiwis: Vec<KiwiEmulator> = (0..5)
        .map(|rx| KiwiEmulator::start(KiwiEmulatorConfig::real_world(scene.clone(), rx, epoch)).unwrap())
        .collect();
    // Locking takes three solutions (15 s): more fixes, for the same test of the radius.
    locate_bursts(&scene, &kiwis, 20, Duration::from_secs(100)).await;
}

/// Runs sdrhub on `kiwis`, waits up to `limit` for `want` TDOA fixes of the bursts (at least
/// 8), and checks the truth is inside the 68 % radius in most; then that `websdrs:status`
/// reports every receiver's GPS timing as the emulators run it.
async fn locate_bursts(scene: &Scene, kiwis: &[KiwiEmulator], want: usize, limit: Duration) {
    let receivers = scene
        .receivers()
        .iter()
        .zip(kiwis)
        .map(|(r, kiwi)| kiwi_receiver(&r.id, kiwi.url()))
        .collect();
    let mut config = config(receivers);
    config.localization.interval_s = 1.0;
    let server = common::start(config);
    let mut ws = connect(&server, "/ws?events=localizations:updated,websdrs:status").await;
    let bursts = &scene.transmitters()[1];
    let mut fixes = Vec::new();
    let mut timing: Option<Value> = None;
    let started = Instant::now();
    while fixes.len() < want && started.elapsed() < limit {
        let Some(m) = next_json(&mut ws, Duration::from_secs(5)).await else {
            continue;
        };
        if m["event"] == "websdrs:status" {
            let all_fitted = m["data"]["websdrs"]
                .as_array()
                .is_some_and(|w| w.iter().all(|r| r["gps_timing"]["rate_hz"].as_f64().is_some()));
            if all_fitted {
                timing = Some(m["data"]["websdrs"].clone());
            }
            continue;
        }
        if m["event"] != "localizations:updated" {
            continue;
        }
        let d = &m["data"];
        eprintln!(
            "{} {} {:.1} Hz: {:.4},{:.4} radius {:.0} m, receivers {}, note {}",
            d["signal_id"],
            d["method"],
            d["frequency_hz"].as_f64().unwrap_or(0.0),
            d["latitude"].as_f64().unwrap_or(0.0),
            d["longitude"].as_f64().unwrap_or(0.0),
            d["uncertainty_m"].as_f64().unwrap_or(0.0),
            d["receivers"],
            d["note"]
        );
        if d["method"] == "tdoa" && (d["frequency_hz"].as_f64().unwrap() - bursts.frequency_hz).abs() < 500.0
        {
            let position = sdrhub_dsp::geo::GeoPoint::new(
                d["latitude"].as_f64().unwrap(),
                d["longitude"].as_f64().unwrap(),
            );
            fixes.push((
                position.distance_m(bursts.position),
                d["uncertainty_m"].as_f64().unwrap(),
            ));
        }
    }
    let inside = fixes.iter().filter(|(error, radius)| error <= radius).count();
    eprintln!(
        "{} TDOA fixes of the bursts, {inside} with the truth inside the 68 % radius: {fixes:?}",
        fixes.len()
    );
    assert!(fixes.len() >= 8, "only {} TDOA fixes", fixes.len());
    assert!(
        2 * inside > fixes.len(),
        "the truth was inside the 68 % radius in only {inside} of {}",
        fixes.len()
    );
    let timing = timing.expect("websdrs:status with every receiver's GPS timing fitted");
    for (receiver, kiwi) in timing.as_array().unwrap().iter().zip(kiwis) {
        let t = &receiver["gps_timing"];
        eprintln!("{}: {t}", receiver["id"]);
        let config = kiwi.config();
        let want_ppm = (config.true_rate_hz() / config.reported_rate_hz() - 1.0) * 1e6;
        assert!(
            (t["rate_ppm"].as_f64().unwrap() - want_ppm).abs() < 0.5,
            "{t} against {want_ppm} ppm"
        );
        assert!(t["worst_residual_us"].as_f64().unwrap() < 1.0, "{t}");
        assert!(t["excluded"].is_null(), "{t}");
    }
    server.stop().await.unwrap();
}
