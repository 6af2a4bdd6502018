//! `GET /metrics`: Prometheus text exposition of the gateway and the pipeline.

use crate::app_state::AppState;
use crate::events::EventKind;
use crate::events::ReceiverStatus;
use crate::hub::Histogram;
use crate::pipeline::ReceiverHandle;
use actix_web::{web, HttpResponse};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram<const N: usize>(out: &mut String, name: &str, help: &str, h: &Histogram<N>) {
    family(out, name, "histogram", help);
    let (buckets, count, sum) = h.cumulative();
    for (bound, n) in buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
    );
}

/// `GET /metrics`.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let (Some(stats), Some(snapshot)) = (state.hub.stats().await, state.hub.current_state().await) else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let counters = state.hub.counters();
    let mut out = String::with_capacity(8192);
    // Plain values: (name, type, help, value).
    let plain: [(&str, &str, &str, u64); 11] = [
        (
            "sdrhub_ws_connections",
            "gauge",
            "WebSocket clients connected now.",
            stats.connections as u64,
        ),
        (
            "sdrhub_ws_connections_total",
            "counter",
            "WebSocket clients connected since start.",
            stats.connections_total,
        ),
        (
            "sdrhub_ws_bytes_sent_total",
            "counter",
            "Bytes written to clients.",
            stats.bytes_sent,
        ),
        (
            "sdrhub_ws_messages_dropped_total",
            "counter",
            "Messages not queued because a client's queue was full.",
            stats.messages_dropped,
        ),
        (
            "sdrhub_ws_slow_clients_closed_total",
            "counter",
            "Clients closed by the slow-client policy.",
            stats.slow_clients_closed,
        ),
        (
            "sdrhub_ws_resyncs_total",
            "counter",
            "resync messages sent.",
            stats.resyncs,
        ),
        (
            "sdrhub_ws_resumes_total",
            "counter",
            "Connections resumed by replay.",
            stats.resumes,
        ),
        (
            "sdrhub_ws_direct_writes_total",
            "counter",
            "Events the publishing thread wrote whole into a client's socket itself.",
            stats.direct_writes,
        ),
        (
            "sdrhub_ws_direct_writes_partial_total",
            "counter",
            "Events the publishing thread started in a client's socket and the connection finished.",
            stats.direct_writes_partial,
        ),
        (
            "sdrhub_ws_queued_messages",
            "gauge",
            "Messages waiting in client queues now.",
            stats.queued as u64,
        ),
        ("sdrhub_hub_seq", "counter", "The latest seq issued.", stats.seq),
    ];
    for (name, kind, help, value) in plain {
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        &mut out,
        "sdrhub_ws_messages_sent_total",
        "counter",
        "Messages written to clients, by event.",
    );
    for (kind, sent) in EventKind::ALL.iter().zip(&counters.sent) {
        let name = kind.name();
        let _ = writeln!(
            out,
            "sdrhub_ws_messages_sent_total{{event=\"{name}\"}} {}",
            sent.load(Ordering::Relaxed)
        );
    }
    histogram(
        &mut out,
        "sdrhub_ws_fanout_latency_seconds",
        "Event creation to the end of its write to a client.",
        &counters.fanout_latency,
    );
    histogram(
        &mut out,
        "sdrhub_ws_queue_depth_messages",
        "A client's queue depth when a message is queued for it.",
        &counters.queue_depth,
    );
    family(&mut out, "sdrhub_receivers", "gauge", "Receivers by status.");
    for (status, name) in [
        (ReceiverStatus::Online, "online"),
        (ReceiverStatus::Degraded, "degraded"),
        (ReceiverStatus::Offline, "offline"),
    ] {
        let n = snapshot
            .websdrs_status
            .websdrs
            .iter()
            .filter(|w| w.status == status)
            .count();
        let _ = writeln!(out, "sdrhub_receivers{{status=\"{name}\"}} {n}");
    }
    type PerReceiver = fn(&ReceiverHandle) -> f64;
    let per_receiver: [(&str, &str, PerReceiver); 4] = [
        (
            "sdrhub_receiver_samples_total",
            "IQ samples read, by receiver.",
            |r| r.acquisition.samples.load(Ordering::Relaxed) as f64,
        ),
        (
            "sdrhub_receiver_samples_dropped_total",
            "IQ samples dropped because DSP was behind, by receiver.",
            |r| r.acquisition.samples_dropped.load(Ordering::Relaxed) as f64,
        ),
        (
            "sdrhub_dsp_busy_seconds_total",
            "DSP thread time spent processing, by receiver (rate = share of a core).",
            |r| r.dsp.busy_ns.load(Ordering::Relaxed) as f64 * 1e-9,
        ),
        (
            "sdrhub_dsp_spectra_total",
            "Spectra computed, by receiver.",
            |r| r.dsp.spectra.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (name, help, value) in per_receiver {
        family(&mut out, name, "counter", help);
        for r in state.receivers.iter() {
            let _ = writeln!(out, "{name}{{receiver=\"{}\"}} {}", label(&r.info.id), value(r));
        }
    }
    if let Some(audio) = &state.audio {
        let c = &audio.counters;
        family(
            &mut out,
            "sdrhub_audio_listeners",
            "gauge",
            "Listeners now (audio.max_listeners at most).",
        );
        let _ = writeln!(out, "sdrhub_audio_listeners {}", audio.active());
        family(
            &mut out,
            "sdrhub_audio_packets_total",
            "counter",
            "Audio packets: sent to the listener's session, dropped because its queue was full (the client did not read).",
        );
        let _ = writeln!(
            out,
            "sdrhub_audio_packets_total{{outcome=\"sent\"}} {}",
            c.packets_sent.load(std::sync::atomic::Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "sdrhub_audio_packets_total{{outcome=\"dropped\"}} {}",
            c.packets_dropped.load(std::sync::atomic::Ordering::Relaxed)
        );
        family(
            &mut out,
            "sdrhub_audio_blocks_dropped_total",
            "counter",
            "IQ blocks a listener missed because its demodulator was behind (detection never waits for it).",
        );
        let _ = writeln!(
            out,
            "sdrhub_audio_blocks_dropped_total {}",
            c.blocks_dropped.load(std::sync::atomic::Ordering::Relaxed)
        );
        family(
            &mut out,
            "sdrhub_audio_busy_seconds_total",
            "counter",
            "Time the listeners spent demodulating and encoding.",
        );
        let _ = writeln!(
            out,
            "sdrhub_audio_busy_seconds_total {:.6}",
            c.busy_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9
        );
    }
    if let Some(alerts) = &state.alerts {
        family(
            &mut out,
            "sdrhub_alerts_firing",
            "gauge",
            "Active alerts, by rule and severity.",
        );
        for rule in &state.config.alerts.rules {
            let n = snapshot
                .alerts_raised
                .alerts
                .iter()
                .filter(|a| a.rule == rule.name)
                .count();
            let _ = writeln!(
                out,
                "sdrhub_alerts_firing{{rule=\"{}\",severity=\"{}\"}} {n}",
                label(&rule.name),
                rule.severity.as_str()
            );
        }
        family(
            &mut out,
            "sdrhub_alerts_events_dropped_total",
            "counter",
            "Events the alert engine missed because its queue was full.",
        );
        let _ = writeln!(out, "sdrhub_alerts_events_dropped_total {}", alerts.dropped());
        if let Some((published, dropped, connected)) = alerts.mqtt_counts() {
            family(
                &mut out,
                "sdrhub_alert_mqtt_messages_total",
                "counter",
                "Alert messages to the MQTT broker: acknowledged (QoS 1), dropped by a full queue.",
            );
            let _ = writeln!(
                out,
                "sdrhub_alert_mqtt_messages_total{{outcome=\"published\"}} {published}"
            );
            let _ = writeln!(
                out,
                "sdrhub_alert_mqtt_messages_total{{outcome=\"dropped\"}} {dropped}"
            );
            family(
                &mut out,
                "sdrhub_alert_mqtt_connected",
                "gauge",
                "1 while the MQTT broker is connected.",
            );
            let _ = writeln!(out, "sdrhub_alert_mqtt_connected {}", u8::from(connected));
        }
        if let Some((sent, dropped, connected)) = alerts.mirror_counts() {
            family(
                &mut out,
                "sdrhub_mqtt_mirror_messages_total",
                "counter",
                "Events mirrored to MQTT (QoS 0): written to the broker's connection, dropped by a full queue.",
            );
            let _ = writeln!(
                out,
                "sdrhub_mqtt_mirror_messages_total{{outcome=\"sent\"}} {sent}"
            );
            let _ = writeln!(
                out,
                "sdrhub_mqtt_mirror_messages_total{{outcome=\"dropped\"}} {dropped}"
            );
            family(
                &mut out,
                "sdrhub_mqtt_mirror_connected",
                "gauge",
                "1 while the MQTT event mirror's connection is up.",
            );
            let _ = writeln!(out, "sdrhub_mqtt_mirror_connected {}", u8::from(connected));
        }
        let hooks = alerts.webhook_counts();
        if !hooks.is_empty() {
            family(
                &mut out,
                "sdrhub_alert_webhook_changes_total",
                "counter",
                "Alert changes per webhook (its index in [[alerts.webhooks]]): delivered, failed after every attempt, dropped by a full queue.",
            );
            for (index, (delivered, failed, dropped)) in hooks.iter().enumerate() {
                for (outcome, n) in [("delivered", delivered), ("failed", failed), ("dropped", dropped)] {
                    let _ = writeln!(
                        out,
                        "sdrhub_alert_webhook_changes_total{{webhook=\"{index}\",outcome=\"{outcome}\"}} {n}"
                    );
                }
            }
        }
    }
    if let Some(history) = &state.live_history {
        let c = history.writer().counters();
        let (timeouts, failures) = history.lookup_problems();
        let values: [(&str, &str, &str, u64); 8] = [
            (
                "sdrhub_history_records_written_total",
                "counter",
                "Records committed to the history database.",
                c.written,
            ),
            (
                "sdrhub_history_records_dropped_total",
                "counter",
                "Records dropped because the writer's queue was full.",
                c.dropped,
            ),
            (
                "sdrhub_history_records_failed_total",
                "counter",
                "Records lost to batches the database refused after retries.",
                c.failed,
            ),
            (
                "sdrhub_history_batches_total",
                "counter",
                "Transactions committed by the writer.",
                c.batches,
            ),
            (
                "sdrhub_history_queued_records",
                "gauge",
                "Records waiting for the writer.",
                c.queued as u64,
            ),
            (
                "sdrhub_history_size_bytes",
                "gauge",
                "Size of the history database.",
                c.size_bytes,
            ),
            (
                "sdrhub_history_label_timeouts_total",
                "counter",
                "known/novel lookups that took too long (the signal went out unlabelled).",
                timeouts,
            ),
            (
                "sdrhub_history_label_failures_total",
                "counter",
                "known/novel lookups that failed.",
                failures,
            ),
        ];
        for (name, kind, help, value) in values {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}
