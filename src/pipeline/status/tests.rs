use super::*;
use crate::pipeline::snippets::SnippetRing;
use crate::pipeline::DspStats;
use sdrhub_hardware::acquisition::{now_ns, Acquisition, AcquisitionConfig};
use sdrhub_hardware::sim::{Scene, SceneConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MS: i64 = 1_000_000;

fn inputs(now_ns: i64) -> StatusInputs {
    StatusInputs {
        now_ns,
        front: FrontService {
            name: "gateway",
            status: HealthStatus::Healthy,
            detail: "test".into(),
        },
        localization_enabled: false,
        min_receivers: 3,
        localizations: 0,
        last_localization_failure: None,
        tdoa_localizations: 0,
        last_tdoa_failure: None,
        history: None,
    }
}

fn dsp_service(report: &HealthReport) -> &ServiceHealth {
    report
        .services
        .iter()
        .find(|s| s.name == "dsp")
        .expect("every report has a dsp service")
}

/// A real simulated acquisition whose DSP thread never runs (nobody reads its blocks), as when
/// the DSP is blocked; the watchdog is fed the times of its "last spectrum" and of the status
/// evaluation, so nothing depends on how fast this machine is.
#[test]
fn a_blocked_dsp_thread_is_reported_stalled_from_the_first_report_after_a_freeze_and_clears() {
    let scene = Scene::new(SceneConfig::default()).expect("the default scene is valid");
    let acquisition = Acquisition::spawn(scene.builders(now_ns()).remove(0), AcquisitionConfig::default());
    let stats = acquisition.stats().clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.last_block_ns.load(Ordering::Acquire) == 0 {
        assert!(
            Instant::now() < deadline,
            "the simulated receiver sent no block in 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(stats.state(), AcquisitionState::Online);
    let dsp = Arc::new(DspStats {
        spectrum_samples: 4096 * 8,
        ..DspStats::default()
    });
    let info = acquisition.info().clone();
    let handle = ReceiverHandle {
        snippets: Arc::new(SnippetRing::new(info.sample_rate_hz)),
        info,
        acquisition: stats.clone(),
        dsp: dsp.clone(),
        remote: None,
        listen: Arc::default(),
    };
    let id = handle.info.id.to_string();
    let receivers = [handle];
    // "Offline" after a minute without samples, so the injected times below keep it streaming.
    let mut tracker = StatusTracker::new(60_000 * MS);
    let t0 = now_ns();
    dsp.last_spectrum_ns.store(t0, Ordering::Release);

    let (_, fresh) = tracker.evaluate(&receivers, &inputs(t0 + 100 * MS));
    assert!(!dsp_service(&fresh).detail.contains("no spectrum"), "{fresh:?}");
    assert_ne!(dsp_service(&fresh).status, HealthStatus::Unhealthy, "{fresh:?}");

    // 1.4 s is still allowed (32 ms spectra: the 1.5 s floor applies).
    let (_, late) = tracker.evaluate(&receivers, &inputs(t0 + 1_400 * MS));
    assert!(!dsp_service(&late).detail.contains("no spectrum"), "{late:?}");

    let (_, stalled) = tracker.evaluate(&receivers, &inputs(t0 + 2_400 * MS));
    let service = dsp_service(&stalled);
    assert_eq!(service.status, HealthStatus::Unhealthy, "{stalled:?}");
    assert_eq!(service.detail, format!("no spectrum from {id} for 2.4 s"));
    assert_eq!(stalled.status, HealthStatus::Unhealthy);

    // The DSP caught up: the next report clears.
    dsp.last_spectrum_ns.store(t0 + 2_500 * MS, Ordering::Release);
    let (_, caught_up) = tracker.evaluate(&receivers, &inputs(t0 + 2_600 * MS));
    assert!(
        !dsp_service(&caught_up).detail.contains("no spectrum"),
        "{caught_up:?}"
    );
    assert_ne!(dsp_service(&caught_up).status, HealthStatus::Unhealthy);

    // The whole process was frozen for 50 s (SIGSTOP ... SIGCONT): the first report after the
    // resume, before the DSP has produced anything, says so.
    let (_, resumed) = tracker.evaluate(&receivers, &inputs(t0 + 52_500 * MS));
    assert_eq!(
        dsp_service(&resumed).status,
        HealthStatus::Unhealthy,
        "{resumed:?}"
    );
    assert_eq!(
        dsp_service(&resumed).detail,
        format!("no spectrum from {id} for 50.0 s")
    );
    dsp.last_spectrum_ns.store(t0 + 52_600 * MS, Ordering::Release);
    let (_, recovered) = tracker.evaluate(&receivers, &inputs(t0 + 52_700 * MS));
    assert_ne!(
        dsp_service(&recovered).status,
        HealthStatus::Unhealthy,
        "{recovered:?}"
    );
}
