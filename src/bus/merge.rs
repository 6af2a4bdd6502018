//! A gateway's view of several acquisition nodes: each node reports its own receivers
//! (`websdrs:status`) and services (`services:health`); clients get one report of every
//! receiver and one of every service, as from a single hub.
//!
//! The merge is a function of the events read so far, in stream order, so every gateway that
//! has read the same stream sends the same merged report under the same `seq` (apart from its
//! own services, which come first).
//!
//! A node that stops reporting (it crashed, or lost NATS for good) is marked stale
//! ([`NodeReports::mark_stale`]): its receivers are shown `offline` and its services
//! `unhealthy`, saying since when nothing came, until it reports again.

use crate::events::{
    HealthReport, HealthStatus, ReceiverStatus, ServiceHealth, Timestamp, WebsdrStatus, WebsdrsReport,
};
use std::collections::BTreeMap;

/// The latest reports of every node heard from.
#[derive(Debug, Default, Clone)]
pub struct NodeReports {
    nodes: BTreeMap<String, NodeState>,
}

#[derive(Debug, Default, Clone)]
struct NodeState {
    websdrs: Vec<WebsdrStatus>,
    services: Vec<ServiceHealth>,
    /// When NATS stored its last report, ns since the epoch.
    last_report_ns: i64,
    /// No report for too long.
    stale: bool,
}

impl NodeReports {
    /// Replaces `node`'s receivers, reported at `at_ns` (when NATS stored the report).
    pub fn set_websdrs(&mut self, node: &str, report: WebsdrsReport, at_ns: i64) {
        self.reported(node, at_ns).websdrs = report.websdrs;
    }

    /// Replaces `node`'s services, reported at `at_ns`.
    pub fn set_health(&mut self, node: &str, report: HealthReport, at_ns: i64) {
        self.reported(node, at_ns).services = report
            .services
            .into_iter()
            .map(|service| service.on_node(node))
            .collect();
    }

    fn reported(&mut self, node: &str, at_ns: i64) -> &mut NodeState {
        let state = self.nodes.entry(node.to_string()).or_default();
        state.last_report_ns = state.last_report_ns.max(at_ns);
        state.stale = false;
        state
    }

    /// Marks the nodes with no report for `after_ns` before `now_ns` stale (and those that
    /// reported since, fresh); true if any changed.
    pub fn mark_stale(&mut self, now_ns: i64, after_ns: i64) -> bool {
        let mut changed = false;
        for state in self.nodes.values_mut() {
            let stale = now_ns - state.last_report_ns > after_ns;
            changed |= stale != state.stale;
            state.stale = stale;
        }
        changed
    }

    /// Why a stale node's parts are shown as they are.
    fn silence(node: &str, state: &NodeState) -> String {
        format!(
            "node {node} has not reported since {}",
            Timestamp(state.last_report_ns).to_rfc3339()
        )
    }

    /// Every node's receivers, by node id then in each node's order. A receiver id reported by
    /// two nodes (a configuration mistake) is shown once, from the first node.
    pub fn websdrs(&self) -> WebsdrsReport {
        let mut websdrs: Vec<WebsdrStatus> = Vec::new();
        for (node, state) in &self.nodes {
            for receiver in &state.websdrs {
                if websdrs.iter().any(|r| r.id == receiver.id) {
                    tracing::warn!(receiver = %receiver.id, node, "receiver id reported by two nodes; ids must be unique");
                    continue;
                }
                let mut receiver = receiver.clone();
                if state.stale {
                    receiver.status = ReceiverStatus::Offline;
                    receiver.detail = Some(Self::silence(node, state));
                }
                websdrs.push(receiver);
            }
        }
        WebsdrsReport { websdrs }
    }

    /// `own` services (the gateway's), then every node's, with the worst status on top.
    pub fn health(&self, own: &[ServiceHealth]) -> HealthReport {
        let services: Vec<ServiceHealth> = own
            .iter()
            .cloned()
            .chain(self.nodes.iter().flat_map(|(node, state)| {
                state.services.iter().map(move |service| {
                    if state.stale {
                        ServiceHealth {
                            status: HealthStatus::Unhealthy,
                            detail: Self::silence(node, state),
                            since: Timestamp(state.last_report_ns),
                            ..service.clone()
                        }
                    } else {
                        service.clone()
                    }
                })
            }))
            .collect();
        HealthReport::of(services)
    }

    /// Nodes heard from.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ReceiverStatus, Timestamp};

    fn receiver(id: &str, status: ReceiverStatus) -> WebsdrStatus {
        WebsdrStatus {
            id: id.into(),
            name: id.into(),
            kind: sdrhub_hardware::SourceKind::Simulated,
            status,
            response_time_ms: None,
            latitude: None,
            longitude: None,
            frequency_hz: 145e6,
            sample_rate_hz: 256e3,
            last_seen: None,
            samples_dropped: 0,
            gps_locked: true,
            detail: None,
            users: None,
            users_max: None,
            gps_fix_age_s: None,
            last_error: None,
            link: None,
            gps_timing: None,
        }
    }

    fn service(name: &str, status: HealthStatus) -> ServiceHealth {
        ServiceHealth {
            name: name.into(),
            status,
            detail: String::new(),
            since: Timestamp(0),
        }
    }

    #[test]
    fn receivers_of_every_node_are_merged_and_a_node_replaces_only_its_own() {
        let mut reports = NodeReports::default();
        reports.set_websdrs(
            "b",
            WebsdrsReport {
                websdrs: vec![receiver("rx3", ReceiverStatus::Online)],
            },
            0,
        );
        reports.set_websdrs(
            "a",
            WebsdrsReport {
                websdrs: vec![
                    receiver("rx1", ReceiverStatus::Online),
                    receiver("rx2", ReceiverStatus::Online),
                ],
            },
            0,
        );
        let ids = |r: &NodeReports| {
            r.websdrs()
                .websdrs
                .iter()
                .map(|w| w.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&reports), ["rx1", "rx2", "rx3"]);
        reports.set_websdrs(
            "a",
            WebsdrsReport {
                websdrs: vec![receiver("rx1", ReceiverStatus::Offline)],
            },
            0,
        );
        assert_eq!(ids(&reports), ["rx1", "rx3"]);
        assert_eq!(reports.websdrs().websdrs[0].status, ReceiverStatus::Offline);
        // The same id from another node is shown once.
        reports.set_websdrs(
            "c",
            WebsdrsReport {
                websdrs: vec![receiver("rx1", ReceiverStatus::Online)],
            },
            0,
        );
        assert_eq!(ids(&reports), ["rx1", "rx3"]);
        assert_eq!(reports.nodes().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn health_lists_the_gateway_first_then_each_nodes_services_by_name_and_node() {
        let mut reports = NodeReports::default();
        reports.set_health(
            "edge-2",
            HealthReport {
                status: HealthStatus::Degraded,
                services: vec![
                    service("bus", HealthStatus::Degraded),
                    service("acquisition:rx9", HealthStatus::Healthy),
                ],
            },
            0,
        );
        reports.set_health(
            "edge-1",
            HealthReport {
                status: HealthStatus::Healthy,
                services: vec![service("dsp", HealthStatus::Healthy)],
            },
            0,
        );
        let own = [service("gateway", HealthStatus::Healthy)];
        let merged = reports.health(&own);
        let names: Vec<&str> = merged.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gateway", "dsp@edge-1", "bus@edge-2", "acquisition:rx9"]);
        assert_eq!(merged.status, HealthStatus::Degraded);
        assert_eq!(NodeReports::default().health(&own).status, HealthStatus::Healthy);
    }

    #[test]
    fn a_node_that_stops_reporting_is_shown_offline_until_it_reports_again() {
        let mut reports = NodeReports::default();
        let second = 1_000_000_000;
        let websdrs = |id: &str| WebsdrsReport {
            websdrs: vec![receiver(id, ReceiverStatus::Online)],
        };
        let health = HealthReport {
            status: HealthStatus::Healthy,
            services: vec![service("dsp", HealthStatus::Healthy)],
        };
        reports.set_websdrs("a", websdrs("rx1"), 10 * second);
        reports.set_health("a", health.clone(), 10 * second);
        reports.set_websdrs("b", websdrs("rx2"), 20 * second);
        assert!(
            !reports.mark_stale(25 * second, 30 * second),
            "nothing is stale yet"
        );
        assert!(reports.mark_stale(45 * second, 30 * second), "a is");
        assert!(!reports.mark_stale(46 * second, 30 * second), "no change");
        let merged = reports.websdrs();
        assert_eq!(merged.websdrs[0].status, ReceiverStatus::Offline);
        assert!(
            merged.websdrs[0]
                .detail
                .as_deref()
                .is_some_and(|d| d.starts_with("node a has not reported since")),
            "{merged:?}"
        );
        assert_eq!(merged.websdrs[1].status, ReceiverStatus::Online);
        let merged = reports.health(&[]);
        assert_eq!(merged.status, HealthStatus::Unhealthy);
        assert_eq!(merged.services[0].name, "dsp@a");
        // It reports again: shown as it says.
        reports.set_health("a", health, 47 * second);
        assert_eq!(reports.health(&[]).status, HealthStatus::Healthy);
        assert!(!reports.mark_stale(48 * second, 30 * second));
    }
}
