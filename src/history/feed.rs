//! What `sdrhub history-writer` stores of each event of the bus's events stream.
//!
//! Signal reports and localizations map one to one ([`super::mapping`]); each signal report also
//! feeds the observation summaries. `websdrs:status` and `services:health` on the bus are
//! periodic reports of one node each (the subject's key, `sdrhub.websdrs.status.<node>`):
//! change detection runs per node, and a node's services are stored under the names gateways
//! show them by (`dsp@edge-1`; `acquisition:<receiver>` as is, see
//! [`ServiceHealth::on_node`](crate::events::ServiceHealth::on_node)), so two nodes' `dsp` never
//! read as one flapping service.
//!
//! A writer that restarts resumes change detection from the last stored status of every
//! receiver and the last stored health of every service ([`HistoryStore::feed_seed`]): the
//! first report after a restart stores only what really changed. What it cannot resume is the
//! observation windows open at a crash: the summary of such a window is stored from the reports
//! after the restart only (a window is stored once: see `write`).

use super::mapping::{
    localization_record, signal_record, HealthChanges, ObservationSummariser, StatusChanges,
};
use super::query::parse_wire;
use super::record::Record;
use super::store::HistoryStore;
use super::HistoryError;
use crate::events::{Event, HealthReport, HealthStatus, ReceiverStatus, Timestamp};
use sqlx::Row;
use std::collections::HashMap;

/// Nodes whose status and health reports are followed at most: far more than a deployment
/// has (each is one acquisition node or worker). Beyond, the detectors start afresh from the
/// seed (a node's next report may then store a change that did not happen), rather than grow
/// without bound on subjects a misbehaving publisher makes up.
pub const NODES_MAX: usize = 4096;

/// The last stored status of every receiver and health of every service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedSeed {
    /// Receiver name and its last stored status.
    pub statuses: Vec<(String, ReceiverStatus)>,
    /// Service name (as stored: `dsp@edge-1`), its last stored status and `since`.
    pub health: Vec<(String, HealthStatus, Timestamp)>,
}

/// Bus events to records, with the state that needs: per-node change detection and the open
/// observation windows.
#[derive(Debug)]
pub struct BusFeed {
    seed: FeedSeed,
    status: HashMap<String, StatusChanges>,
    health: HashMap<String, HealthChanges>,
    observations: ObservationSummariser,
}

impl BusFeed {
    /// A feed with observation windows of `observation_ns` (`HistoryConfig::observation_ns`)
    /// that resumes change detection from `seed`.
    ///
    /// # Panics
    /// If `observation_ns` is not positive.
    pub fn new(observation_ns: i64, seed: FeedSeed) -> Self {
        Self {
            seed,
            status: HashMap::new(),
            health: HashMap::new(),
            observations: ObservationSummariser::new(observation_ns),
        }
    }

    /// The records of `event`, published on a subject with key `key` (the node, for status
    /// and health reports) and stored by NATS at `stored` (the time of a status change: the
    /// same on every redelivery).
    pub fn records(&mut self, key: &str, event: &Event, stored: Timestamp) -> Vec<Record> {
        let mut out = Vec::new();
        match event {
            Event::SignalsDetected(report) => {
                out.push(signal_record(report));
                self.observations.observe_report(report, &mut out);
            }
            Event::LocalizationsUpdated(report) => out.push(localization_record(report)),
            Event::WebsdrsStatus(report) => {
                let seed = &self.seed;
                let detector = bounded_entry(&mut self.status, key, || {
                    StatusChanges::resume(seed.statuses.iter().cloned())
                });
                out = detector.changes(report, stored);
            }
            Event::ServicesHealth(report) => {
                let named = HealthReport {
                    status: report.status,
                    services: report
                        .services
                        .iter()
                        .map(|service| service.clone().on_node(key))
                        .collect(),
                };
                let seed = &self.seed;
                let detector = bounded_entry(&mut self.health, key, || {
                    HealthChanges::resume(seed.health.iter().cloned())
                });
                out = detector.changes(&named);
            }
            _ => {}
        }
        out
    }

    /// The observation windows that ended at or before `now_ns` (call it now and then: a
    /// signal no longer reported is stored too).
    pub fn flush_observations(&mut self, now_ns: i64) -> Vec<Record> {
        let mut out = Vec::new();
        self.observations.flush_before(now_ns, &mut out);
        out
    }

    /// Every open observation window (at shutdown).
    pub fn finish(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        self.observations.finish(&mut out);
        out
    }

    /// Measurements not summarised (see [`super::mapping::OPEN_SIGNALS_MAX`]).
    pub fn observations_skipped(&self) -> u64 {
        self.observations.skipped()
    }
}

/// `map[key]`, made by `make` when missing; the map is emptied first when it holds
/// [`NODES_MAX`] keys.
fn bounded_entry<'a, T>(map: &'a mut HashMap<String, T>, key: &str, make: impl FnOnce() -> T) -> &'a mut T {
    if !map.contains_key(key) && map.len() >= NODES_MAX {
        tracing::warn!(
            nodes = map.len(),
            "more nodes than history follows; starting afresh"
        );
        map.clear();
    }
    map.entry(key.to_string()).or_insert_with(make)
}

impl HistoryStore {
    /// The last stored status of every receiver and health of every service, for a
    /// [`BusFeed`] that resumes.
    pub async fn feed_seed(&self) -> Result<FeedSeed, HistoryError> {
        let rows = sqlx::query(
            "SELECT r.name, s.status FROM receiver_status s \
             JOIN (SELECT receiver_id, MAX(time) AS t FROM receiver_status GROUP BY receiver_id) m \
               ON m.receiver_id = s.receiver_id AND m.t = s.time \
             JOIN receivers r ON r.id = s.receiver_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let statuses = rows
            .iter()
            .map(|row| {
                let status: String = row.try_get(1)?;
                Ok((row.try_get(0)?, parse_wire(&status, "receiver status")?))
            })
            .collect::<Result<_, HistoryError>>()?;
        let rows = sqlx::query(
            "SELECT h.service, h.status, h.time FROM service_health h \
             JOIN (SELECT service, MAX(time) AS t FROM service_health GROUP BY service) m \
               ON m.service = h.service AND m.t = h.time",
        )
        .fetch_all(&self.pool)
        .await?;
        let health = rows
            .iter()
            .map(|row| {
                let status: String = row.try_get(1)?;
                Ok((
                    row.try_get(0)?,
                    parse_wire(&status, "health status")?,
                    Timestamp(row.try_get(2)?),
                ))
            })
            .collect::<Result<_, HistoryError>>()?;
        Ok(FeedSeed { statuses, health })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{HealthStatus, ServiceHealth, WebsdrStatus, WebsdrsReport};

    fn websdrs(statuses: &[(&str, ReceiverStatus)]) -> Event {
        let mut report = WebsdrsReport { websdrs: Vec::new() };
        for (id, status) in statuses {
            report.websdrs.push(WebsdrStatus {
                id: (*id).into(),
                name: (*id).into(),
                kind: sdrhub_hardware::SourceKind::Simulated,
                status: *status,
                response_time_ms: None,
                latitude: None,
                longitude: None,
                frequency_hz: 145e6,
                sample_rate_hz: 1.024e6,
                last_seen: None,
                samples_dropped: 0,
                gps_locked: false,
                detail: None,
                users: None,
                users_max: None,
                gps_fix_age_s: None,
                last_error: None,
                link: None,
                gps_timing: None,
            });
        }
        Event::WebsdrsStatus(report)
    }

    fn health(services: &[(&str, HealthStatus, i64)]) -> Event {
        Event::ServicesHealth(HealthReport::of(
            services
                .iter()
                .map(|(name, status, since)| ServiceHealth {
                    name: (*name).into(),
                    status: *status,
                    detail: String::new(),
                    since: Timestamp(*since),
                })
                .collect(),
        ))
    }

    fn names(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| match r {
                Record::ReceiverStatus(c) => format!("{}={:?}", c.receiver, c.status),
                Record::ServiceHealth(c) => format!("{}={:?}", c.service, c.status),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn each_node_has_its_own_change_detection_and_service_names() {
        use HealthStatus::{Degraded, Healthy};
        let mut feed = BusFeed::new(5_000_000_000, FeedSeed::default());
        let t = Timestamp(1);
        // Two nodes with a service of the same name: neither flaps the other.
        let a = health(&[("dsp", Healthy, 1), ("acquisition:rx1", Healthy, 1)]);
        let b = health(&[("dsp", Degraded, 2)]);
        assert_eq!(
            names(&feed.records("edge-1", &a, t)),
            ["dsp@edge-1=Healthy", "acquisition:rx1=Healthy"]
        );
        assert_eq!(names(&feed.records("edge-2", &b, t)), ["dsp@edge-2=Degraded"]);
        assert!(feed.records("edge-1", &a, t).is_empty());
        assert!(feed.records("edge-2", &b, t).is_empty());
        let rx = websdrs(&[("rx1", ReceiverStatus::Online)]);
        assert_eq!(names(&feed.records("edge-1", &rx, t)), ["rx1=Online"]);
        assert!(feed.records("edge-1", &rx, t).is_empty());
    }

    #[test]
    fn a_resumed_feed_stores_only_what_changed_since_the_seed() {
        let seed = FeedSeed {
            statuses: vec![("rx1".into(), ReceiverStatus::Online)],
            health: vec![("dsp@edge-1".into(), HealthStatus::Healthy, Timestamp(7))],
        };
        let mut feed = BusFeed::new(5_000_000_000, seed);
        let t = Timestamp(1);
        let rx = websdrs(&[("rx1", ReceiverStatus::Online), ("rx2", ReceiverStatus::Offline)]);
        assert_eq!(names(&feed.records("edge-1", &rx, t)), ["rx2=Offline"]);
        let same = health(&[("dsp", HealthStatus::Healthy, 7)]);
        assert!(feed.records("edge-1", &same, t).is_empty());
        let worse = health(&[("dsp", HealthStatus::Unhealthy, 9)]);
        assert_eq!(
            names(&feed.records("edge-1", &worse, t)),
            ["dsp@edge-1=Unhealthy"]
        );
    }
}
