//! Receiver status and service health, derived from the live counters and published on
//! change and periodically.

use super::probe::{ProbeResult, RemoteReceiver};
use super::watchdog::{spectrum_interval_ns, stalled_for_ns};
use super::ReceiverHandle;
use crate::events::{
    Event, HealthReport, HealthStatus, ReceiverStatus, ServiceHealth, Timestamp, WebsdrStatus, WebsdrsReport,
};
use crate::events::{GpsTimingReport, LinkReport};
use sdrhub_hardware::acquisition::AcquisitionState;
use sdrhub_hardware::kiwi::gps::MAX_FIX_AGE_S;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Inputs besides the receivers.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusInputs {
    /// Current time, ns.
    pub now_ns: i64,
    /// The first service of the report: the process's own front end (`gateway` for `serve`,
    /// `bus` for an acquisition node).
    pub front: FrontService,
    /// Localization enabled.
    pub localization_enabled: bool,
    /// Receivers required for a localization.
    pub min_receivers: usize,
    /// Localizations published so far.
    pub localizations: u64,
    /// Why the last localization attempt failed, if it did.
    pub last_localization_failure: Option<String>,
    /// Localizations published by TDOA.
    pub tdoa_localizations: u64,
    /// Why the last TDOA attempt found no position.
    pub last_tdoa_failure: Option<String>,
    /// The history database's status and detail, when one is open.
    pub history: Option<(HealthStatus, String)>,
}

/// The process's own front end, first in the health report.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontService {
    /// Service name.
    pub name: &'static str,
    /// Its status.
    pub status: HealthStatus,
    /// What is going on.
    pub detail: String,
}

/// Per-receiver counters at the previous evaluation, to see what changed since.
#[derive(Debug, Clone, Copy, Default)]
struct Previous {
    dropped: u64,
    discontinuities: u64,
    overflows: u64,
    malformed: u64,
}

/// A remote receiver whose status page takes longer than this to answer is called slow: the
/// link is congested or the receiver overloaded, and its samples may start to stall.
const SLOW_RESPONSE_MS: f64 = 1500.0;
/// Probe failures in a row before the receiver is called degraded (one can be a hiccup).
const PROBE_FAILURES_DEGRADED: u32 = 2;

/// Why a streaming remote receiver is degraded, if it is.
fn remote_problem(
    remote: &RemoteReceiver,
    probe: &ProbeResult,
    new_overflows: u64,
    new_malformed: u64,
) -> Option<String> {
    let link = &remote.link;
    if probe.failures >= PROBE_FAILURES_DEGRADED {
        return Some(
            probe
                .error
                .clone()
                .unwrap_or_else(|| "status page unreachable".into()),
        );
    }
    if let Some(ms) = probe.response_time_ms.filter(|&ms| ms > SLOW_RESPONSE_MS) {
        return Some(format!("slow: the status page took {ms:.0} ms"));
    }
    if probe.page.as_ref().is_some_and(|p| p.offline) {
        return Some("the receiver's status page says it is offline".into());
    }
    match link.fix_age() {
        None => return Some("no GPS fix: sample times are not GPS-disciplined (no TDOA)".into()),
        Some(age) if age > MAX_FIX_AGE_S => {
            return Some(format!(
                "GPS fix is {age} s old: sample times are not GPS-disciplined"
            ))
        }
        Some(_) if !link.gps_locked.load(Ordering::Relaxed) => {
            return Some(match link.timing().problem {
                Some(problem) => format!("GPS timing not trusted (no TDOA): {problem}"),
                None => "GPS: measuring the sample rate between fresh solutions".into(),
            })
        }
        Some(_) => {}
    }
    if new_overflows > 0 {
        return Some(format!(
            "ADC overflow in {new_overflows} frame(s) recently: reduce the gain"
        ));
    }
    if new_malformed > 0 {
        return Some(format!("{new_malformed} malformed frame(s) recently"));
    }
    None
}

/// Turns counters into reports, remembering since when each status holds.
#[derive(Debug)]
pub struct StatusTracker {
    offline_after_ns: i64,
    since: HashMap<String, (HealthStatus, i64)>,
    previous: Vec<Previous>,
}

impl StatusTracker {
    /// A tracker that calls a receiver offline after `offline_after_ns` without samples.
    pub fn new(offline_after_ns: i64) -> Self {
        Self {
            offline_after_ns,
            since: HashMap::new(),
            previous: Vec::new(),
        }
    }

    /// Evaluates every receiver and service now.
    pub fn evaluate(
        &mut self,
        receivers: &[ReceiverHandle],
        inputs: &StatusInputs,
    ) -> (WebsdrsReport, HealthReport) {
        let mut previous_all = std::mem::take(&mut self.previous);
        previous_all.resize(receivers.len(), Previous::default());
        let now = inputs.now_ns;
        let mut websdrs = Vec::with_capacity(receivers.len());
        let mut services = Vec::with_capacity(receivers.len() + 3);
        let mut dsp_problems = Vec::new();
        let mut dsp_stalled = false;
        let mut streaming_with_position = 0;
        let mut streaming = 0;
        for (receiver, previous) in receivers.iter().zip(previous_all.iter_mut()) {
            let info = receiver.current_info();
            let acq = &receiver.acquisition;
            let remote = receiver.remote.as_deref();
            let probe = remote.map(|r| r.probe());
            let overflows = remote.map_or(0, |r| r.link.adc_overflows.load(Ordering::Relaxed));
            let malformed = remote.map_or(0, |r| {
                r.link.malformed_frames.load(Ordering::Relaxed)
                    + r.link.text_frames.load(Ordering::Relaxed)
                    + r.link.oversized_frames.load(Ordering::Relaxed)
            });
            let dropped = acq.samples_dropped.load(Ordering::Relaxed);
            let discontinuities = acq.discontinuities.load(Ordering::Relaxed);
            let last_block = acq.last_block_ns.load(Ordering::Acquire);
            let silent_ns = if last_block > 0 {
                now - last_block
            } else {
                now - acq.state_since_ns()
            };
            let new_drops = dropped.saturating_sub(previous.dropped);
            let new_gaps = discontinuities.saturating_sub(previous.discontinuities);
            let (status, health, detail) = match acq.state() {
                AcquisitionState::Starting => (
                    ReceiverStatus::Offline,
                    HealthStatus::Degraded,
                    Some("starting".to_string()),
                ),
                AcquisitionState::Offline => (
                    ReceiverStatus::Offline,
                    HealthStatus::Unhealthy,
                    Some(acq.last_error().unwrap_or_else(|| "offline".into())),
                ),
                AcquisitionState::Ended => (
                    ReceiverStatus::Offline,
                    HealthStatus::Unhealthy,
                    Some("source ended".to_string()),
                ),
                AcquisitionState::Online if last_block == 0 && silent_ns <= self.offline_after_ns => (
                    ReceiverStatus::Degraded,
                    HealthStatus::Degraded,
                    Some("opened; waiting for the first samples".to_string()),
                ),
                AcquisitionState::Online if silent_ns > self.offline_after_ns => (
                    ReceiverStatus::Offline,
                    HealthStatus::Unhealthy,
                    Some(format!("no samples for {:.1} s", silent_ns as f64 / 1e9)),
                ),
                AcquisitionState::Online if new_drops > 0 => (
                    ReceiverStatus::Degraded,
                    HealthStatus::Degraded,
                    Some(format!("{new_drops} samples dropped recently: DSP is behind")),
                ),
                AcquisitionState::Online if new_gaps > 0 => (
                    ReceiverStatus::Degraded,
                    HealthStatus::Degraded,
                    Some(format!("{new_gaps} gaps in the sample stream recently")),
                ),
                AcquisitionState::Online => match remote.zip(probe.as_ref()).and_then(|(r, p)| {
                    remote_problem(
                        r,
                        p,
                        overflows.saturating_sub(previous.overflows),
                        malformed.saturating_sub(previous.malformed),
                    )
                }) {
                    Some(problem) => (ReceiverStatus::Degraded, HealthStatus::Degraded, Some(problem)),
                    None => (ReceiverStatus::Online, HealthStatus::Healthy, None),
                },
            };
            if status != ReceiverStatus::Offline {
                streaming += 1;
                if info.position.is_some() {
                    streaming_with_position += 1;
                }
                let interval_ns = spectrum_interval_ns(receiver.dsp.spectrum_samples, info.sample_rate_hz);
                let last_spectrum = receiver.dsp.last_spectrum_ns.load(Ordering::Acquire);
                if let Some(silent_ns) = stalled_for_ns(now, last_spectrum, acq.state_since_ns(), interval_ns)
                {
                    dsp_stalled = true;
                    dsp_problems.push(format!(
                        "no spectrum from {} for {:.1} s",
                        receiver.info.id,
                        silent_ns as f64 / 1e9
                    ));
                } else if new_drops > 0 {
                    dsp_problems.push(format!("{} dropped {new_drops} samples", receiver.info.id));
                }
            }
            *previous = Previous {
                dropped,
                discontinuities,
                overflows,
                malformed,
            };
            let service = format!("acquisition:{}", receiver.info.id);
            let since = self.since(&service, health, now);
            services.push(ServiceHealth {
                name: service,
                status: health,
                detail: detail.clone().unwrap_or_else(|| {
                    format!(
                        "streaming {:.3} MHz at {:.3} kS/s",
                        info.center_hz / 1e6,
                        info.sample_rate_hz / 1e3
                    )
                }),
                since,
            });
            let page = probe.as_ref().and_then(|p| p.page.as_ref());
            websdrs.push(WebsdrStatus {
                id: info.id.to_string(),
                name: info.name.clone(),
                kind: info.kind,
                status,
                response_time_ms: probe.as_ref().and_then(|p| p.response_time_ms),
                latitude: info.position.map(|p| p.lat_deg),
                longitude: info.position.map(|p| p.lon_deg),
                frequency_hz: info.center_hz,
                sample_rate_hz: info.sample_rate_hz,
                last_seen: (last_block > 0).then_some(Timestamp(last_block)),
                samples_dropped: dropped,
                gps_locked: acq.gps_locked.load(Ordering::Relaxed) && acq.state() == AcquisitionState::Online,
                detail,
                users: page.and_then(|p| p.users),
                users_max: page.and_then(|p| p.users_max).or_else(|| {
                    remote
                        .map(|r| r.link.channels.load(Ordering::Relaxed))
                        .filter(|&n| n > 0)
                }),
                gps_fix_age_s: remote.and_then(|r| r.link.fix_age()).map(f64::from),
                last_error: acq
                    .last_error()
                    .or_else(|| remote.and_then(|r| r.link.last_problem()))
                    .or_else(|| probe.as_ref().and_then(|p| p.error.clone())),
                link: remote.map(|r| link_report(&r.link)),
                gps_timing: remote.map(|r| timing_report(&r.link)),
            });
        }

        self.previous = previous_all;
        let mut head = Vec::with_capacity(3);
        let front = &inputs.front;
        let front_since = self.since(front.name, front.status, now);
        head.push(ServiceHealth {
            name: front.name.into(),
            status: front.status,
            detail: front.detail.clone(),
            since: front_since,
        });
        let (dsp_status, dsp_detail) = if receivers.is_empty() {
            // Allowed on purpose (a hub fed by POST /api/v1/publish), but worth saying.
            (
                HealthStatus::Degraded,
                "no receivers configured ([[receivers]] or [simulation]): only published events are served"
                    .to_string(),
            )
        } else if streaming == 0 {
            (HealthStatus::Unhealthy, "no receiver is streaming".to_string())
        } else if dsp_stalled {
            (HealthStatus::Unhealthy, dsp_problems.join("; "))
        } else if dsp_problems.is_empty() {
            (
                HealthStatus::Healthy,
                format!("processing {streaming} receiver(s)"),
            )
        } else {
            (HealthStatus::Degraded, dsp_problems.join("; "))
        };
        head.push(ServiceHealth {
            name: "dsp".into(),
            status: dsp_status,
            detail: dsp_detail,
            since: self.since("dsp", dsp_status, now),
        });
        let (loc_status, loc_detail) = if !inputs.localization_enabled {
            (HealthStatus::Healthy, "disabled in the configuration".to_string())
        } else if streaming_with_position < inputs.min_receivers {
            (
                HealthStatus::Degraded,
                format!(
                    "{streaming_with_position} receiver(s) with a known position streaming; {} needed",
                    inputs.min_receivers
                ),
            )
        } else {
            let mut detail = format!(
                "{} localization(s) so far, {} by TDOA",
                inputs.localizations, inputs.tdoa_localizations
            );
            if let Some(failure) = &inputs.last_tdoa_failure {
                detail.push_str(&format!("; last TDOA fallback: {failure}"));
            }
            if let Some(failure) = &inputs.last_localization_failure {
                detail.push_str(&format!("; last unsolvable: {failure}"));
            }
            (HealthStatus::Healthy, detail)
        };
        head.push(ServiceHealth {
            name: "localization".into(),
            status: loc_status,
            detail: loc_detail,
            since: self.since("localization", loc_status, now),
        });
        if let Some((status, detail)) = &inputs.history {
            head.push(ServiceHealth {
                name: "history".into(),
                status: *status,
                detail: detail.clone(),
                since: self.since("history", *status, now),
            });
        }
        head.extend(services);
        (WebsdrsReport { websdrs }, HealthReport::of(head))
    }

    fn since(&mut self, service: &str, status: HealthStatus, now: i64) -> Timestamp {
        let entry = self.since.entry(service.to_string()).or_insert((status, now));
        if entry.0 != status {
            *entry = (status, now);
        }
        Timestamp(entry.1)
    }
}

fn timing_report(link: &sdrhub_hardware::kiwi::KiwiLink) -> GpsTimingReport {
    let timing = link.timing();
    let fit = timing.fit.as_ref();
    GpsTimingReport {
        rate_hz: fit.map(|f| f.rate_hz),
        rate_ppm: fit.zip(timing.announced_rate_hz).map(|(f, a)| f.ppm_from(a)),
        worst_residual_us: fit.map(|f| f.residual_worst_ns * 1e-3),
        residual_rms_us: fit.map(|f| f.residual_rms_ns * 1e-3),
        anchors: fit.map_or(0, |f| f.anchors),
        rejected: timing.rejected,
        excluded: if fit.is_some() {
            None
        } else {
            Some(
                timing
                    .problem
                    .unwrap_or_else(|| "no GPS stamps received yet".into()),
            )
        },
    }
}

fn link_report(link: &sdrhub_hardware::kiwi::KiwiLink) -> LinkReport {
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    LinkReport {
        attempts: count(&link.attempts),
        sessions: count(&link.sessions),
        frames: count(&link.frames),
        frames_lost: count(&link.frames_lost),
        adc_overflows: count(&link.adc_overflows),
        malformed_frames: count(&link.malformed_frames),
        text_frames: count(&link.text_frames),
        oversized_frames: count(&link.oversized_frames),
        measured_rate_hz: link.measured_rate_hz(),
    }
}

/// Whether two receiver reports differ in something a user would call a change (status,
/// GPS lock, drops, detail), ignoring the ever-moving `last_seen`.
pub fn websdrs_changed(a: &WebsdrsReport, b: &WebsdrsReport) -> bool {
    a.websdrs.len() != b.websdrs.len()
        || a.websdrs.iter().zip(&b.websdrs).any(|(x, y)| {
            x.status != y.status
                || x.gps_locked != y.gps_locked
                || x.samples_dropped != y.samples_dropped
                || x.detail != y.detail
        })
}

/// Whether two health reports differ in any service's status.
pub fn health_changed(a: &HealthReport, b: &HealthReport) -> bool {
    a.status != b.status
        || a.services.len() != b.services.len()
        || a.services
            .iter()
            .zip(&b.services)
            .any(|(x, y)| x.name != y.name || x.status != y.status)
}

/// Publishes both reports on change and every `health_interval_ns` / `status_interval_ns`.
pub fn due_events(
    websdrs: WebsdrsReport,
    health: HealthReport,
    last: &mut Option<(WebsdrsReport, i64, HealthReport, i64)>,
    now_ns: i64,
    status_interval_ns: i64,
    health_interval_ns: i64,
) -> Vec<Event> {
    let mut out = Vec::new();
    match last {
        None => {
            out.push(Event::ServicesHealth(health.clone()));
            out.push(Event::WebsdrsStatus(websdrs.clone()));
            *last = Some((websdrs, now_ns, health, now_ns));
        }
        Some((last_w, last_w_ns, last_h, last_h_ns)) => {
            if websdrs_changed(&websdrs, last_w) || now_ns - *last_w_ns >= status_interval_ns {
                out.push(Event::WebsdrsStatus(websdrs.clone()));
                *last_w = websdrs;
                *last_w_ns = now_ns;
            }
            if health_changed(&health, last_h) || now_ns - *last_h_ns >= health_interval_ns {
                out.push(Event::ServicesHealth(health.clone()));
                *last_h = health;
                *last_h_ns = now_ns;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
