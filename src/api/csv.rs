//! The history answers as CSV (RFC 4180: a header row, CRLF line ends, fields quoted when they
//! hold a comma, a quote or a line break). Column names are the JSON field names; lists are
//! joined with `;`; an absent value is an empty field; times are RFC 3339.

use crate::events::history::{
    HistoryLocalization, HistorySignal, KnownSignal, ObservationSummary, OccupancyMatrix,
};
use std::fmt::{Display, Write};

/// A CSV text being written.
struct Table {
    text: String,
    /// Whether the current row has a field yet.
    started: bool,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        let mut table = Table {
            text: String::new(),
            started: false,
        };
        for name in header {
            table.field(name);
        }
        table.end();
        table
    }

    fn field(&mut self, value: impl Display) -> &mut Self {
        if self.started {
            self.text.push(',');
        }
        self.started = true;
        let start = self.text.len();
        // Invariant: writing to a String cannot fail.
        write!(self.text, "{value}").expect("a String takes any text");
        if self.text[start..].contains([',', '"', '\n', '\r']) {
            let quoted = format!("\"{}\"", self.text[start..].replace('"', "\"\""));
            self.text.truncate(start);
            self.text.push_str(&quoted);
        }
        self
    }

    fn optional(&mut self, value: Option<impl Display>) -> &mut Self {
        match value {
            Some(value) => self.field(value),
            None => self.field(""),
        }
    }

    fn end(&mut self) {
        self.text.push_str("\r\n");
        self.started = false;
    }
}

/// `GET /api/v1/history/signals?format=csv`.
pub fn signals(signals: &[HistorySignal]) -> String {
    let mut t = Table::new(&[
        "id",
        "signal_id",
        "first_seen",
        "last_seen",
        "frequency_hz",
        "bandwidth_hz",
        "peak_snr_db",
        "mean_snr_db",
        "peak_power_dbfs",
        "mean_power_dbfs",
        "peak_bin_dbfs",
        "reports",
        "best_receiver",
        "receivers",
        "lost",
        "known",
        "known_ignore",
    ]);
    for s in signals {
        t.field(s.id)
            .field(&s.signal_id)
            .field(s.first_seen.to_rfc3339())
            .field(s.last_seen.to_rfc3339())
            .field(s.frequency_hz)
            .field(s.bandwidth_hz)
            .field(s.peak_snr_db)
            .field(s.mean_snr_db)
            .field(s.peak_power_dbfs)
            .field(s.mean_power_dbfs)
            .field(s.peak_bin_dbfs)
            .field(s.reports)
            .field(&s.best_receiver)
            .field(s.receivers.join(";"))
            .field(s.lost)
            .optional(s.known.as_ref().map(|k| &k.name))
            .optional(s.known.as_ref().map(|k| k.ignore))
            .end();
    }
    t.text
}

/// `GET /api/v1/history/signals/{id}?format=csv`: the signal's observations (its timeline per
/// receiver); the track and its fixes are in the JSON answer.
pub fn observations(observations: &[ObservationSummary]) -> String {
    let mut t = Table::new(&[
        "signal",
        "receiver",
        "start",
        "stop",
        "samples",
        "power_min_dbfs",
        "power_mean_dbfs",
        "power_max_dbfs",
        "snr_min_db",
        "snr_mean_db",
        "snr_max_db",
    ]);
    for o in observations {
        t.field(o.signal)
            .field(&o.receiver)
            .field(o.start.to_rfc3339())
            .field(o.stop.to_rfc3339())
            .field(o.samples)
            .field(o.power_min_dbfs)
            .field(o.power_mean_dbfs)
            .field(o.power_max_dbfs)
            .field(o.snr_min_db)
            .field(o.snr_mean_db)
            .field(o.snr_max_db)
            .end();
    }
    t.text
}

/// `GET /api/v1/history/localizations?format=csv`: the ellipse flattened, `excluded` as
/// `receiver (reason)` entries.
pub fn localizations(localizations: &[HistoryLocalization]) -> String {
    let mut t = Table::new(&[
        "id",
        "history_id",
        "signal_id",
        "timestamp",
        "method",
        "latitude",
        "longitude",
        "uncertainty_m",
        "confidence",
        "semi_major_m",
        "semi_minor_m",
        "orientation_deg",
        "gdop",
        "frequency_hz",
        "receivers",
        "excluded",
        "note",
    ]);
    for l in localizations {
        let fix = &l.localization;
        let excluded: Vec<String> = fix
            .excluded
            .iter()
            .map(|e| format!("{} ({})", e.receiver, e.reason))
            .collect();
        t.field(l.id)
            .optional(l.history_id)
            .field(&fix.signal_id)
            .field(fix.timestamp.to_rfc3339())
            .field(crate::history::query::method_name(fix.method))
            .field(fix.latitude)
            .field(fix.longitude)
            .field(fix.uncertainty_m)
            .field(fix.confidence)
            .field(fix.ellipse.semi_major_m)
            .field(fix.ellipse.semi_minor_m)
            .field(fix.ellipse.orientation_deg)
            .field(fix.gdop)
            .field(fix.frequency_hz)
            .field(fix.receivers.join(";"))
            .field(excluded.join(";"))
            .optional(fix.note.as_ref())
            .end();
    }
    t.text
}

/// Which matrix of the occupancy a CSV answer holds (`values=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OccupancyValues {
    /// `occupancy`: the share of the minute's spectra with the cell over the threshold, 0 to 1.
    Share,
    /// `max_power_dbfs`: the cell's highest bin power in the minute.
    MaxPower,
}

/// `GET /api/v1/history/occupancy?format=csv`: one matrix, wide: a row per minute (`minute`,
/// `spectra`), a column per cell named by its centre frequency in Hz; empty where the receiver
/// did not cover the cell that minute. (Long, one row per cell, would be 20 times larger: a day
/// of one receiver is 1.4 million cells.)
pub fn occupancy(matrix: &OccupancyMatrix, values: OccupancyValues) -> String {
    let mut t = Table {
        text: String::new(),
        started: false,
    };
    t.field("minute").field("spectra");
    for f in &matrix.frequencies_hz {
        t.field(f);
    }
    t.end();
    let rows = match values {
        OccupancyValues::Share => &matrix.occupancy,
        OccupancyValues::MaxPower => &matrix.max_power_dbfs,
    };
    for ((minute, spectra), row) in matrix.minutes.iter().zip(&matrix.spectra).zip(rows) {
        t.field(minute.to_rfc3339()).field(spectra);
        for cell in row {
            t.optional(*cell);
        }
        t.end();
    }
    t.text
}

/// `GET /api/v1/known-signals?format=csv`.
pub fn known_signals(known: &[KnownSignal]) -> String {
    let mut t = Table::new(&[
        "id",
        "name",
        "freq_min_hz",
        "freq_max_hz",
        "tags",
        "notes",
        "ignore",
        "created",
        "updated",
    ]);
    for k in known {
        t.field(k.id)
            .field(&k.name)
            .field(k.freq_min_hz)
            .field(k.freq_max_hz)
            .field(k.tags.join(";"))
            .field(&k.notes)
            .field(k.ignore)
            .field(k.created.to_rfc3339())
            .field(k.updated.to_rfc3339())
            .end();
    }
    t.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let mut t = Table::new(&["a", "b"]);
        t.field("plain").field("with, comma").end();
        t.field("say \"hi\"").field("two\nlines").end();
        t.optional(None::<f64>).field(-1.5).end();
        assert_eq!(
            t.text,
            "a,b\r\nplain,\"with, comma\"\r\n\"say \"\"hi\"\"\",\"two\nlines\"\r\n,-1.5\r\n"
        );
    }
}
