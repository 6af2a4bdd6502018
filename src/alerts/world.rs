//! What the alert engine knows of the world: the latest of every topic of state, as the hub
//! published it (active signals, each receiver's status, each active signal's latest fix).

use crate::events::{Event, LocalizationReport, ReceiverStatus, SignalReport, SignalState};
use crate::history::baseline::Baseline;
use std::collections::BTreeMap;

/// The engine's view, updated event by event.
#[derive(Debug, Default)]
pub struct World {
    /// Active signals by id.
    pub signals: BTreeMap<String, SignalReport>,
    /// Every receiver's latest status and why (`detail`), by id.
    pub receivers: BTreeMap<String, (ReceiverStatus, Option<String>)>,
    /// The latest fix of every active signal, by signal id.
    pub fixes: BTreeMap<String, LocalizationReport>,
    /// Each receiver's occupancy baseline for the current hour of day (`above_baseline_db`),
    /// by receiver id; a receiver without one has too little stored for this hour.
    pub baselines: BTreeMap<String, Baseline>,
}

impl World {
    /// Takes in one broadcast event; others are ignored.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::SignalsDetected(signal) => {
                if signal.state == SignalState::Lost {
                    self.signals.remove(&signal.signal_id);
                    self.fixes.remove(&signal.signal_id);
                } else {
                    self.signals.insert(signal.signal_id.clone(), signal.clone());
                }
            }
            // A fix of a signal already lost (it can trail the loss) would never be cleared:
            // only active signals' fixes are kept.
            Event::LocalizationsUpdated(fix) if self.signals.contains_key(&fix.signal_id) => {
                self.fixes.insert(fix.signal_id.clone(), fix.clone());
            }
            Event::WebsdrsStatus(report) => {
                self.receivers = report
                    .websdrs
                    .iter()
                    .map(|w| (w.id.clone(), (w.status, w.detail.clone())))
                    .collect();
            }
            _ => {}
        }
    }
}
