//! Who a signal is, beyond one transmission: its emitter and its name.

use super::Timestamp;
use serde::{Deserialize, Serialize};

/// The transmitter behind a [`super::SignalReport`] across its transmissions, and what it is
/// called. Boxed in the report (it is in every `signals:detected`, and events travel through
/// queues by value) and flattened into it on the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalIdentity {
    /// Stable id of the transmitter (`em-<n>`): the same over every transmission of one that
    /// keys off and on again within `tracker.emitter_memory_s`, while `signal_id` is new each
    /// time. (Empty in reports from versions before emitters, as are the fields below.)
    #[serde(default)]
    pub emitter_id: String,
    /// Transmissions of the emitter so far, this one included.
    #[serde(default)]
    pub activations: u32,
    /// When the emitter was first heard (its first transmission's `first_seen`).
    #[serde(default)]
    pub first_heard: Option<Timestamp>,
    /// When the emitter was last heard: the latest detection of this transmission.
    #[serde(default)]
    pub last_heard: Option<Timestamp>,
    /// Fraction of the time since `first_heard` that the emitter was heard, 0..1.
    #[serde(default)]
    pub duty_cycle: f64,
    /// What the signal is called: the known signal's name (`known.name`) when there is one,
    /// else the name of the configured simulated transmitter on its frequency; `null` if none.
    #[serde(default)]
    pub name: Option<String>,
}
