//! NATS subject names: one place that turns an [`Event`] into the subject it travels on, and a
//! subject back into its topic and key.
//!
//! ```text
//! sdrhub.services.health.<node>          one acquisition node's services
//! sdrhub.websdrs.status.<node>           one acquisition node's receivers
//! sdrhub.signals.detected.<receiver>     a signal, keyed by its best receiver (websdr_id)
//! sdrhub.localizations.updated.<receiver> a fix, keyed by its reference receiver
//! sdrhub.snippets.<receiver>             IQ around a detection, for TDOA across nodes
//! ```
//!
//! The topic's `:` becomes `.`, so a subscriber can take one topic (`sdrhub.signals.detected.*`)
//! or one receiver. Keys are single tokens; anything that is not a letter, digit, `-` or `_`
//! becomes `_`, and a missing key is `_`.

pub use crate::config::bus::{is_token, token, NO_KEY};
use crate::events::{Event, Topic};

/// First token of every sdrhub subject.
pub const PREFIX: &str = "sdrhub";

/// The subject prefix of a topic: `sdrhub.signals.detected`.
pub fn topic_subject(topic: Topic) -> String {
    format!("{PREFIX}.{}", topic.as_str().replace(':', "."))
}

/// The subjects of every event the bus carries, one wildcard per topic (the events stream's
/// subjects); opt-in streams (spectrum frames) stay on their node.
pub fn event_wildcards() -> Vec<String> {
    Topic::ALL
        .into_iter()
        .filter(|topic| topic.on_bus())
        .map(|topic| format!("{}.*", topic_subject(topic)))
        .collect()
}

/// The subjects of IQ snippets (the snippets stream's subjects).
pub fn snippet_wildcard() -> String {
    format!("{PREFIX}.snippets.*")
}

/// The subject of one receiver's IQ snippets.
pub fn snippet_subject(receiver: &str) -> String {
    format!("{PREFIX}.snippets.{}", token(receiver))
}

/// The subject `event` is published on by node `node`; `None` for per-client messages
/// (snapshot, pong, ...), which never travel on the bus.
pub fn event_subject(event: &Event, node: &str) -> Option<String> {
    let key = match event {
        Event::ServicesHealth(_) | Event::WebsdrsStatus(_) => node,
        Event::SignalsDetected(signal) => &signal.websdr_id,
        Event::LocalizationsUpdated(fix) => fix.receivers.first().map_or(NO_KEY, String::as_str),
        _ => return None,
    };
    let topic = event.topic()?;
    Some(format!("{}.{}", topic_subject(topic), token(key)))
}

/// The topic and key of an event subject; `None` for anything else.
pub fn parse_event_subject(subject: &str) -> Option<(Topic, &str)> {
    let rest = subject.strip_prefix(PREFIX)?.strip_prefix('.')?;
    let (topic, key) = rest.rsplit_once('.')?;
    let topic = Topic::parse(&topic.replacen('.', ":", 1))?;
    (topic_subject(topic).len() + 1 + key.len() == subject.len() && is_token(key)).then_some((topic, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{HealthReport, HealthStatus, SignalReport, Timestamp};

    fn signal(receiver: &str) -> Event {
        Event::SignalsDetected(SignalReport::example("sig-1", receiver))
    }

    #[test]
    fn events_travel_on_subjects_named_after_their_topic_and_key() {
        assert_eq!(
            event_subject(&signal("rx1"), "edge-1").as_deref(),
            Some("sdrhub.signals.detected.rx1")
        );
        let health = Event::ServicesHealth(HealthReport {
            status: HealthStatus::Healthy,
            services: Vec::new(),
        });
        assert_eq!(
            event_subject(&health, "edge-1").as_deref(),
            Some("sdrhub.services.health.edge-1")
        );
        // Dots and wildcards in an id cannot split or widen a subject.
        assert_eq!(
            event_subject(&signal("kiwi.example.org:8073 >"), "n").as_deref(),
            Some("sdrhub.signals.detected.kiwi_example_org_8073__")
        );
        assert_eq!(
            event_subject(&signal(""), "n").as_deref(),
            Some("sdrhub.signals.detected._")
        );
        let pong = Event::Pong(crate::events::Pong {
            server_time: Timestamp(0),
        });
        assert_eq!(event_subject(&pong, "n"), None);
    }

    #[test]
    fn subjects_parse_back_to_topic_and_key() {
        for topic in Topic::ALL.into_iter().filter(|t| t.on_bus()) {
            let subject = format!("{}.edge-1", topic_subject(topic));
            assert_eq!(parse_event_subject(&subject), Some((topic, "edge-1")));
        }
        for bad in [
            "sdrhub.signals.detected",
            "sdrhub.signals.detected.a.b",
            "sdrhub.weather.report.x",
            "other.signals.detected.x",
            "sdrhub.snippets.rx1",
            "sdrhub.signals.detected.*",
        ] {
            assert_eq!(parse_event_subject(bad), None, "{bad}");
        }
        assert_eq!(
            event_wildcards(),
            [
                "sdrhub.services.health.*",
                "sdrhub.websdrs.status.*",
                "sdrhub.signals.detected.*",
                "sdrhub.localizations.updated.*"
            ]
        );
        assert_eq!(snippet_subject("rx 1"), "sdrhub.snippets.rx_1");
    }
}
