//! What clients subscribe to ([`Topic`], [`TopicSet`]) and every kind of event the server
//! sends ([`EventKind`], for counters).

/// The broadcast topics a client can subscribe to: five topics of state (the four the pipeline
/// publishes, and `alerts:raised`), and the opt-in `spectrum:frame` stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// `services:health`
    ServicesHealth,
    /// `websdrs:status`
    WebsdrsStatus,
    /// `signals:detected`
    SignalsDetected,
    /// `localizations:updated`
    LocalizationsUpdated,
    /// `spectrum:frame` (opt-in, see [`Topic::is_stream`])
    SpectrumFrame,
    /// `alerts:raised`
    AlertsRaised,
}

impl Topic {
    /// Every topic, in wire order.
    pub const ALL: [Topic; 6] = [
        Topic::ServicesHealth,
        Topic::WebsdrsStatus,
        Topic::SignalsDetected,
        Topic::LocalizationsUpdated,
        Topic::SpectrumFrame,
        Topic::AlertsRaised,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::ServicesHealth => "services:health",
            Topic::WebsdrsStatus => "websdrs:status",
            Topic::SignalsDetected => "signals:detected",
            Topic::LocalizationsUpdated => "localizations:updated",
            Topic::SpectrumFrame => "spectrum:frame",
            Topic::AlertsRaised => "alerts:raised",
        }
    }

    /// Whether the topic is a live stream rather than state: it is not part of the snapshot,
    /// not retained for replay, and only sent to clients that name it (it is not in
    /// [`TopicSet::DEFAULT`]). Frames are several per second per receiver and stale at once,
    /// so nobody should receive them without asking, and a resuming client has no use for old
    /// ones.
    pub fn is_stream(self) -> bool {
        matches!(self, Topic::SpectrumFrame)
    }

    /// Whether the topic travels on the bus between nodes: not the streams, which stay on
    /// their node, and not `alerts:raised`, which each hub that runs the alert rules decides
    /// for itself from the events it serves.
    pub fn on_bus(self) -> bool {
        !self.is_stream() && self != Topic::AlertsRaised
    }

    /// The topic with this wire name.
    pub fn parse(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A set of topics, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopicSet(u8);

impl TopicSet {
    /// No topic.
    pub const NONE: TopicSet = TopicSet(0);
    /// Every topic: what credentials without a topic list allow.
    pub const ALL: TopicSet = TopicSet(0b11_1111);
    /// What a client gets without choosing (no `?events=`): every topic but the streams
    /// ([`Topic::is_stream`]), which are opt-in.
    pub const DEFAULT: TopicSet = TopicSet(0b10_1111);

    fn bit(topic: Topic) -> u8 {
        1 << (topic as u8)
    }

    /// Whether `topic` is in the set.
    pub fn contains(self, topic: Topic) -> bool {
        self.0 & Self::bit(topic) != 0
    }

    /// The set with `topic` added.
    pub fn with(self, topic: Topic) -> Self {
        TopicSet(self.0 | Self::bit(topic))
    }

    /// The set with `topic` removed.
    pub fn without(self, topic: Topic) -> Self {
        TopicSet(self.0 & !Self::bit(topic))
    }

    /// The topics in both sets.
    pub fn intersection(self, other: TopicSet) -> Self {
        TopicSet(self.0 & other.0)
    }

    /// The topics in the set, in wire order.
    pub fn topics(self) -> impl Iterator<Item = Topic> {
        Topic::ALL.into_iter().filter(move |t| self.contains(*t))
    }
}

impl FromIterator<Topic> for TopicSet {
    fn from_iter<I: IntoIterator<Item = Topic>>(iter: I) -> Self {
        iter.into_iter().fold(TopicSet::NONE, TopicSet::with)
    }
}

/// Every kind of event the server sends, for per-event counters (`/api/v1/ws/stats`,
/// `/metrics`); [`Event::kind`] names it for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `services:health`
    ServicesHealth,
    /// `websdrs:status`
    WebsdrsStatus,
    /// `signals:detected`
    SignalsDetected,
    /// `localizations:updated`
    LocalizationsUpdated,
    /// `snapshot`
    Snapshot,
    /// `pong`
    Pong,
    /// `error`
    Error,
    /// `subscriptions`
    Subscriptions,
    /// `resync`
    Resync,
    /// `spectrum:frame`
    SpectrumFrame,
    /// `alerts:raised`
    AlertsRaised,
    /// `listening`
    Listening,
    /// `recorded`
    Recorded,
}

impl EventKind {
    /// Every kind, in counter order ([`EventKind::index`]).
    pub const ALL: [EventKind; 13] = [
        EventKind::ServicesHealth,
        EventKind::WebsdrsStatus,
        EventKind::SignalsDetected,
        EventKind::LocalizationsUpdated,
        EventKind::Snapshot,
        EventKind::Pong,
        EventKind::Error,
        EventKind::Subscriptions,
        EventKind::Resync,
        EventKind::SpectrumFrame,
        EventKind::AlertsRaised,
        EventKind::Listening,
        EventKind::Recorded,
    ];

    /// Its position in [`EventKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The broadcast topic it is, if it is one.
    pub fn topic(self) -> Option<Topic> {
        match self {
            EventKind::ServicesHealth => Some(Topic::ServicesHealth),
            EventKind::WebsdrsStatus => Some(Topic::WebsdrsStatus),
            EventKind::SignalsDetected => Some(Topic::SignalsDetected),
            EventKind::LocalizationsUpdated => Some(Topic::LocalizationsUpdated),
            EventKind::SpectrumFrame => Some(Topic::SpectrumFrame),
            EventKind::AlertsRaised => Some(Topic::AlertsRaised),
            _ => None,
        }
    }

    /// The wire name (`event` of the envelope).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Snapshot => "snapshot",
            EventKind::Pong => "pong",
            EventKind::Error => "error",
            EventKind::Subscriptions => "subscriptions",
            EventKind::Resync => "resync",
            EventKind::Listening => "listening",
            EventKind::Recorded => "recorded",
            // A topic's name is the topic's.
            topic => topic.topic().map_or("unknown", Topic::as_str),
        }
    }
}
