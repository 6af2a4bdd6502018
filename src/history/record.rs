//! What the writer stores: one [`Record`] per row-to-be, grouped in [`Entry`]s that carry the
//! bus position of the event they came from.

use crate::events::history::{ReceiverStatusChange, ServiceHealthChange};
use crate::events::{AlertReport, LocalizationReport, SignalReport};
use std::sync::Arc;

/// One thing to store.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A `signals:detected` report: creates or updates its track.
    Signal(Box<SignalReport>),
    /// One receiver's measurements of a signal over one window.
    Observation(ObservationRecord),
    /// A `localizations:updated` report.
    Localization(Box<LocalizationReport>),
    /// A receiver's status changed.
    ReceiverStatus(ReceiverStatusChange),
    /// A service's health changed.
    ServiceHealth(ServiceHealthChange),
    /// One receiver's occupancy over one minute.
    Occupancy(OccupancyRecord),
    /// An alert's latest state (`alerts:raised`).
    Alert(Box<AlertReport>),
}

/// One receiver's measurements of one signal over the window `[start_ns, stop_ns)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRecord {
    /// The live id of the signal.
    pub signal_id: Arc<str>,
    /// Its `first_seen`, ns: with `signal_id`, names its track.
    pub first_seen_ns: i64,
    /// The receiver.
    pub receiver: Arc<str>,
    /// Window start, ns.
    pub start_ns: i64,
    /// Window end (exclusive), ns.
    pub stop_ns: i64,
    /// Measurements summarised.
    pub samples: u32,
    /// Lowest, mean and highest total power, dBFS.
    pub power_dbfs: [f64; 3],
    /// Lowest, mean and highest per-bin SNR, dB.
    pub snr_db: [f64; 3],
}

/// One receiver's occupancy over one minute: per cell, the spectra with a bin over the CFAR
/// threshold, and the highest bin power.
#[derive(Debug, Clone, PartialEq)]
pub struct OccupancyRecord {
    /// The receiver.
    pub receiver: Arc<str>,
    /// Start of the minute, ns (a multiple of 60 s).
    pub minute_ns: i64,
    /// Lower edge of cell 0, Hz.
    pub start_hz: f64,
    /// Width of a cell, Hz.
    pub cell_hz: f64,
    /// Spectra accumulated.
    pub spectra: u32,
    /// Per cell: share of the spectra in which it was occupied, in 1/255 steps (255: all).
    pub share: Vec<u8>,
    /// Per cell: highest bin power, 0.01 dB steps (dBFS per FFT bin x 100).
    pub max_power_cdb: Vec<i16>,
}

impl OccupancyRecord {
    /// Cells in the record.
    pub fn cells(&self) -> usize {
        self.share.len()
    }

    /// The stored form: the share bytes, then the powers as little-endian i16.
    pub fn pack(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(self.share.len() * 3);
        data.extend_from_slice(&self.share);
        for power in &self.max_power_cdb {
            data.extend_from_slice(&power.to_le_bytes());
        }
        data
    }
}

/// A stored occupancy row's cells: `cells` shares then `cells` powers.
#[derive(Debug, Clone, Copy)]
pub struct PackedCells<'a> {
    data: &'a [u8],
    cells: usize,
}

impl<'a> PackedCells<'a> {
    /// The cells of `data`, or `None` when it is not `3 * cells` bytes.
    pub fn new(data: &'a [u8], cells: usize) -> Option<Self> {
        (data.len() == cells * 3).then_some(Self { data, cells })
    }

    /// Share of cell `i`, 0 to 1.
    ///
    /// # Panics
    /// If `i` is not a cell.
    pub fn share(&self, i: usize) -> f32 {
        f32::from(self.data[i]) / 255.0
    }

    /// Highest power of cell `i`, dBFS.
    ///
    /// # Panics
    /// If `i` is not a cell.
    pub fn max_power_dbfs(&self, i: usize) -> f32 {
        let at = self.cells + 2 * i;
        f32::from(i16::from_le_bytes([self.data[at], self.data[at + 1]])) / 100.0
    }
}

/// Where an event sits in a bus stream: writing it moves the stream's high-water mark, and an
/// event at or below the mark is not written again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BusPosition {
    /// The stream (`SDRHUB_EVENTS`).
    pub stream: Arc<str>,
    /// The stream sequence of the event.
    pub seq: u64,
}

/// What the writer queues: the records of one event, written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The event's bus position, when it came from the bus.
    pub position: Option<BusPosition>,
    /// Its records (several for one event, e.g. status changes of several receivers).
    pub records: Records,
}

/// One record or several, without a `Vec` for the common single one.
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    /// One record.
    One(Record),
    /// Several (possibly none: a bus event that only moves the high-water mark).
    Many(Vec<Record>),
}

impl Records {
    /// The records, as a slice.
    pub fn as_slice(&self) -> &[Record] {
        match self {
            Records::One(record) => std::slice::from_ref(record),
            Records::Many(records) => records,
        }
    }
}

impl Entry {
    /// One record, not from the bus.
    pub fn one(record: Record) -> Self {
        Self {
            position: None,
            records: Records::One(record),
        }
    }

    /// Records in the queue's counts.
    pub fn len(&self) -> usize {
        self.records.as_slice().len()
    }

    /// Whether there is no record (a position only).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_cells_round_trip() {
        let record = OccupancyRecord {
            receiver: "rx1".into(),
            minute_ns: 0,
            start_hz: 144.5e6,
            cell_hz: 1000.0,
            spectra: 10,
            share: vec![0, 128, 255],
            max_power_cdb: vec![-12_345, 0, i16::MAX],
        };
        let data = record.pack();
        assert_eq!(data.len(), 9);
        let cells = PackedCells::new(&data, 3).unwrap();
        assert_eq!(cells.share(0), 0.0);
        assert_eq!(cells.share(2), 1.0);
        assert!((cells.share(1) - 128.0 / 255.0).abs() < 1e-6);
        assert!((cells.max_power_dbfs(0) + 123.45).abs() < 1e-4);
        assert!((cells.max_power_dbfs(2) - 327.67).abs() < 1e-3);
        assert!(PackedCells::new(&data, 4).is_none());
    }
}
