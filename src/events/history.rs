//! What the history database answers (`/api/v1/history/*`, `/api/v1/known-signals`): the
//! stored forms of signals, observations, localizations, receiver and service changes, the
//! occupancy matrix and known signals. Live payloads stored as they are (a
//! [`LocalizationReport`]) keep their live type, so a stored fix reads like a live one.

use super::{HealthStatus, LocalizationReport, ReceiverStatus, Timestamp};
use serde::{Deserialize, Serialize};

/// One signal track as history keeps it: every report of one live signal (one `signal_id`
/// from one `first_seen`) folded into one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistorySignal {
    /// History id: stable in this database (live `signal_id`s restart at `sig-1` with the
    /// process, so they are not).
    pub id: i64,
    /// The live id while it was heard (`sig-<n>`, `<node>/sig-<n>` on the bus).
    pub signal_id: String,
    /// When it was first detected.
    pub first_seen: Timestamp,
    /// Time of the last report.
    pub last_seen: Timestamp,
    /// Centre frequency of the last report, Hz.
    pub frequency_hz: f64,
    /// Occupied bandwidth of the last report, Hz.
    pub bandwidth_hz: f64,
    /// Highest per-bin SNR reported, dB.
    pub peak_snr_db: f64,
    /// Mean of the reported SNRs, dB.
    pub mean_snr_db: f64,
    /// Highest total power reported, dBFS.
    pub peak_power_dbfs: f64,
    /// Mean of the reported total powers (of their dB values), dBFS.
    pub mean_power_dbfs: f64,
    /// Highest peak-bin power reported, dBFS.
    pub peak_bin_dbfs: f64,
    /// Reports folded in.
    pub reports: u64,
    /// The best receiver of the last report.
    pub best_receiver: String,
    /// Every receiver that heard it, by name.
    pub receivers: Vec<String>,
    /// Whether its `lost` report was stored.
    pub lost: bool,
    /// The known signal whose range holds its frequency now (the narrowest, as live signals are
    /// labelled); `null` when none does.
    #[serde(default)]
    pub known: Option<KnownMatch>,
    /// The transmitter it was (`emitter_id` of `signals:detected`): the same for every stored
    /// transmission of one that keyed off and on again; `null` for tracks stored before
    /// emitters, or from publishers that did not say.
    #[serde(default)]
    pub emitter_id: Option<String>,
}

/// One page of signals, newest first (by `first_seen`, then id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalPage {
    /// The signals of this page.
    pub signals: Vec<HistorySignal>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One receiver's measurements of one signal over one observation window, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationSummary {
    /// History id of the signal.
    pub signal: i64,
    /// The receiver.
    pub receiver: String,
    /// Start of the window.
    pub start: Timestamp,
    /// End of the window (exclusive).
    pub stop: Timestamp,
    /// Measurements summarised.
    pub samples: u32,
    /// Lowest total power, dBFS.
    pub power_min_dbfs: f64,
    /// Mean total power (of the dB values), dBFS.
    pub power_mean_dbfs: f64,
    /// Highest total power, dBFS.
    pub power_max_dbfs: f64,
    /// Lowest per-bin SNR, dB.
    pub snr_min_db: f64,
    /// Mean per-bin SNR, dB.
    pub snr_mean_db: f64,
    /// Highest per-bin SNR, dB.
    pub snr_max_db: f64,
}

/// A stored localization: the live report with its history ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryLocalization {
    /// Id of this fix in the database.
    pub id: i64,
    /// History id of the signal located; `null` when its track was not stored.
    pub history_id: Option<i64>,
    /// The fix as it was reported.
    #[serde(flatten)]
    pub localization: LocalizationReport,
}

/// One signal with what was measured of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalDetail {
    /// The track.
    pub signal: HistorySignal,
    /// Its observation summaries, oldest first (the newest ones when `truncated`).
    pub observations: Vec<ObservationSummary>,
    /// Its localizations, oldest first (the newest ones when `truncated`).
    pub localizations: Vec<HistoryLocalization>,
    /// Whether older observations or localizations were left out (see
    /// `history::DETAIL_ROWS_MAX`).
    pub truncated: bool,
}

/// Localizations in a time range (and box), newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalizationHistory {
    /// The fixes.
    pub localizations: Vec<HistoryLocalization>,
    /// Whether more matched than the limit.
    pub truncated: bool,
}

/// A receiver's status changed (or was first seen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverStatusChange {
    /// When the change was reported.
    pub time: Timestamp,
    /// Receiver id.
    pub receiver: String,
    /// The new status.
    pub status: ReceiverStatus,
    /// Why it is degraded or offline; `null` when all is well.
    pub detail: Option<String>,
}

/// A service's health changed (or was first seen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealthChange {
    /// When the status changed (the service's `since`).
    pub time: Timestamp,
    /// The service (`gateway`, `dsp`, `acquisition:<receiver>`, `history`...).
    pub service: String,
    /// The new status.
    pub status: HealthStatus,
    /// What was going on, in words.
    pub detail: String,
}

/// Spectrum occupancy of one receiver: minutes (rows) x frequency cells (columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OccupancyMatrix {
    /// The receiver.
    pub receiver: String,
    /// Width of one cell, Hz.
    pub cell_hz: f64,
    /// Centre frequency of each column, Hz, increasing.
    pub frequencies_hz: Vec<f64>,
    /// Start of each row's minute, increasing; minutes without data have no row.
    pub minutes: Vec<Timestamp>,
    /// Spectra measured in each row's minute.
    pub spectra: Vec<u32>,
    /// `[row][column]`: the share of the minute's spectra in which the cell was over the CFAR
    /// threshold, 0 to 1 (stored in 1/255 steps); `null` where the receiver did not cover the
    /// cell that minute.
    pub occupancy: Vec<Vec<Option<f32>>>,
    /// `[row][column]`: the highest power of any bin of the cell in the minute, dBFS per FFT bin
    /// (stored in 0.01 dB steps); `null` where not covered.
    pub max_power_dbfs: Vec<Vec<Option<f32>>>,
}

/// The recent waterfall of one receiver (`GET /api/v1/spectrum/{receiver}/waterfall`), kept in
/// memory by the hub (`[spectrum_frames] history_s`), not in the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaterfallHistory {
    /// The receiver.
    pub receiver_id: String,
    /// Time one row covers, s: each row is the bin-by-bin maximum of the frames in it.
    pub row_s: f64,
    /// How far back rows are kept, s.
    pub history_s: f64,
    /// The rows, oldest first, each shaped like a `spectrum:frame` payload stamped with the
    /// start of its period; the last one is still being filled.
    pub rows: Vec<super::SpectrumFrame>,
}

/// A known signal: a named frequency range (a repeater, a beacon, a known interferer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownSignal {
    /// Id in the database.
    pub id: i64,
    /// Name shown with matching signals.
    pub name: String,
    /// Lowest frequency of the range, Hz.
    pub freq_min_hz: f64,
    /// Highest frequency of the range, Hz.
    pub freq_max_hz: f64,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Free-form notes.
    pub notes: String,
    /// A lockout: matching signals are still stored but hidden by default.
    pub ignore: bool,
    /// When it was created.
    pub created: Timestamp,
    /// When it was last changed.
    pub updated: Timestamp,
}

/// What a client sends to create or replace a known signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownSignalDraft {
    /// Name, 1 to [`KNOWN_NAME_MAX`] characters.
    pub name: String,
    /// Lowest frequency of the range, Hz.
    pub freq_min_hz: f64,
    /// Highest frequency of the range, Hz (at least `freq_min_hz`).
    pub freq_max_hz: f64,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form notes.
    #[serde(default)]
    pub notes: String,
    /// A lockout.
    #[serde(default)]
    pub ignore: bool,
}

/// Longest known-signal name, characters: a label, not a document.
pub const KNOWN_NAME_MAX: usize = 200;
/// Longest notes of a known signal, characters.
pub const KNOWN_NOTES_MAX: usize = 10_000;
/// Most tags on a known signal.
pub const KNOWN_TAGS_MAX: usize = 32;

impl KnownSignalDraft {
    /// Its fields, in the order [`KnownSignalDraft::from_json`] names them.
    pub const FIELDS: [&'static str; 6] = ["name", "freq_min_hz", "freq_max_hz", "tags", "notes", "ignore"];

    /// A draft from a client's JSON body, or every problem with it, each naming its field
    /// (serde would name the first one, and for a wrong type not the field at all). `null`
    /// stands for an absent optional field. The values are not checked: see
    /// [`KnownSignalDraft::problems`].
    pub fn from_json(body: &[u8]) -> Result<KnownSignalDraft, Vec<String>> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| vec![format!("body: not JSON ({e})")])?;
        let serde_json::Value::Object(object) = value else {
            return Err(vec![format!(
                "body: must be a JSON object with {}",
                Self::FIELDS.join(", ")
            )]);
        };
        let mut problems: Vec<String> = object
            .keys()
            .filter(|k| !Self::FIELDS.contains(&k.as_str()))
            .map(|k| format!("{k}: unknown field (the fields are {})", Self::FIELDS.join(", ")))
            .collect();
        let mut field = |name: &str, what: &str, required: bool| -> Option<serde_json::Value> {
            match object.get(name) {
                None | Some(serde_json::Value::Null) if required => {
                    problems.push(format!("{name}: required ({what})"));
                    None
                }
                None | Some(serde_json::Value::Null) => None,
                Some(value) => Some(value.clone()),
            }
        };
        let name = field("name", "a string", true);
        let freq_min = field("freq_min_hz", "a number, Hz", true);
        let freq_max = field("freq_max_hz", "a number, Hz", true);
        let tags = field("tags", "an array of strings", false);
        let notes = field("notes", "a string", false);
        let ignore = field("ignore", "true or false", false);
        fn typed<T: serde::de::DeserializeOwned + Default>(
            value: Option<serde_json::Value>,
            name: &str,
            what: &str,
            problems: &mut Vec<String>,
        ) -> T {
            value.map_or_else(T::default, |v| {
                serde_json::from_value(v.clone()).unwrap_or_else(|_| {
                    problems.push(format!("{name} = {v}: must be {what}"));
                    T::default()
                })
            })
        }
        let draft = KnownSignalDraft {
            name: typed(name, "name", "a string", &mut problems),
            freq_min_hz: typed(freq_min, "freq_min_hz", "a number, Hz", &mut problems),
            freq_max_hz: typed(freq_max, "freq_max_hz", "a number, Hz", &mut problems),
            tags: typed(tags, "tags", "an array of strings", &mut problems),
            notes: typed(notes, "notes", "a string", &mut problems),
            ignore: typed(ignore, "ignore", "true or false", &mut problems),
        };
        if problems.is_empty() {
            Ok(draft)
        } else {
            Err(problems)
        }
    }

    /// What is wrong with it, each naming its field; empty when it can be stored.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let chars = self.name.trim().chars().count();
        if chars == 0 || chars > KNOWN_NAME_MAX {
            problems.push(format!("name: must be 1 to {KNOWN_NAME_MAX} characters"));
        }
        if !self.freq_min_hz.is_finite() || self.freq_min_hz < 0.0 {
            problems.push(format!(
                "freq_min_hz = {}: must be a frequency >= 0",
                self.freq_min_hz
            ));
        }
        if !self.freq_max_hz.is_finite() || self.freq_max_hz < self.freq_min_hz {
            problems.push(format!(
                "freq_max_hz = {}: must be at least freq_min_hz ({})",
                self.freq_max_hz, self.freq_min_hz
            ));
        }
        if self.tags.len() > KNOWN_TAGS_MAX || self.tags.iter().any(|t| t.trim().is_empty()) {
            problems.push(format!("tags: at most {KNOWN_TAGS_MAX}, none empty"));
        }
        if self.notes.chars().count() > KNOWN_NOTES_MAX {
            problems.push(format!("notes: at most {KNOWN_NOTES_MAX} characters"));
        }
        problems
    }
}

/// The known signal whose range holds a live signal's frequency (the `known` of
/// `signals:detected`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownMatch {
    /// Id of the known signal.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether it is a lockout.
    pub ignore: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_signal_draft_problems_name_the_field() {
        let mut draft = KnownSignalDraft {
            name: "Repeater".into(),
            freq_min_hz: 145.6e6,
            freq_max_hz: 145.6125e6,
            tags: vec!["ham".into()],
            notes: String::new(),
            ignore: false,
        };
        assert!(draft.problems().is_empty());
        draft.name = " ".into();
        draft.freq_max_hz = 1.0;
        let problems = draft.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("name:"));
        assert!(problems[1].starts_with("freq_max_hz = 1:"));
        let json = r#"{"name": "x", "freq_min_hz": 1, "freq_max_hz": 2, "colour": "red"}"#;
        assert!(
            serde_json::from_str::<KnownSignalDraft>(json).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn a_draft_from_json_names_every_wrong_field() {
        let ok = KnownSignalDraft::from_json(
            br#"{"name": "R7", "freq_min_hz": 145.6e6, "freq_max_hz": 145.6125e6, "notes": null}"#,
        )
        .unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.notes.as_str(), ok.ignore),
            ("R7", "", false)
        );
        let problems = KnownSignalDraft::from_json(
            br#"{"freq_min_hz": "low", "freq_max_hz": 2, "tags": "ham", "colour": "red"}"#,
        )
        .unwrap_err();
        let fields: Vec<&str> = problems
            .iter()
            .map(|p| p.split([':', ' ']).next().unwrap())
            .collect();
        assert_eq!(fields, ["colour", "name", "freq_min_hz", "tags"], "{problems:?}");
        assert!(KnownSignalDraft::from_json(b"[1]").unwrap_err()[0].starts_with("body:"));
        assert!(KnownSignalDraft::from_json(b"{").unwrap_err()[0].starts_with("body:"));
    }

    #[test]
    fn stored_localization_reads_like_a_live_one_plus_ids() {
        let fix = HistoryLocalization {
            id: 7,
            history_id: Some(3),
            localization: crate::events::LocalizationReport {
                signal_id: "sig-1".into(),
                latitude: 48.9,
                longitude: 2.35,
                uncertainty_m: 100.0,
                confidence: 0.9,
                method: crate::events::LocalizationMethod::Power,
                ellipse: crate::events::EllipseReport {
                    semi_major_m: 120.0,
                    semi_minor_m: 80.0,
                    orientation_deg: 10.0,
                },
                receivers: vec!["rx1".into()],
                excluded: Vec::new(),
                gdop: 1.5,
                note: None,
                frequency_hz: 145e6,
                timestamp: Timestamp(0),
            },
        };
        let v = serde_json::to_value(&fix).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["history_id"], 3);
        assert_eq!(v["signal_id"], "sig-1");
        assert_eq!(v["method"], "power");
        let back: HistoryLocalization = serde_json::from_value(v).unwrap();
        assert_eq!(back, fix);
    }
}
