//! Spectrum occupancy: per receiver, frequency cell and minute, the share of spectra in which
//! the cell was over the CFAR threshold, and its highest power.
//!
//! [`OccupancyAccumulator`] runs beside a receiver's detector (same thread, same spectra): it
//! adds each spectrum into per-cell counters it allocated once, and hands back one
//! [`OccupancyRecord`] per minute (the only allocation, once a minute). [`assemble`] turns
//! stored minutes back into a time x frequency matrix.

use super::record::{OccupancyRecord, PackedCells};
use super::HistoryError;
use crate::events::history::OccupancyMatrix;
use crate::events::Timestamp;
use std::sync::Arc;

/// One minute, ns: the time resolution of occupancy.
pub const MINUTE_NS: i64 = 60_000_000_000;

/// Most cells in one occupancy matrix answer: a day of 1 000-cell minutes is 1.44 M; beyond
/// four days of that, ask for a shorter range or a narrower band (each cell costs ~10 bytes of
/// memory here and more in JSON).
pub const MATRIX_CELLS_MAX: usize = 6_000_000;

/// Levels at or below this (an all-zero spectrum) read as this, dBFS: the i16 store in 0.01 dB
/// holds -327.68 to 327.67.
const POWER_FLOOR_DB: f32 = -300.0;

/// One averaged spectrum of one receiver with what its CFAR detector decided.
#[derive(Debug, Clone, Copy)]
pub struct Spectrum<'a> {
    /// Time of its first sample, ns since the epoch.
    pub time_ns: i64,
    /// The receiver's centre frequency, Hz.
    pub center_hz: f64,
    /// Its sample rate, Hz.
    pub sample_rate_hz: f64,
    /// Frequency-ordered power per FFT bin, linear (full scale 1.0), as the detector saw it.
    pub psd: &'a [f32],
    /// The detector's noise floor per bin (`Detector::noise_floor`), same scale.
    pub floor: &'a [f32],
    /// The CFAR factor (`Detector::threshold().factor()`): bin `k` is occupied when
    /// `psd[k] > floor[k] * factor`, exactly the detector's test.
    pub factor: f32,
}

/// How FFT bins map to cells for one tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Grid {
    start_hz: f64,
    cell_hz: f64,
    bins: usize,
    bins_per_cell: usize,
}

/// Accumulates one receiver's spectra into per-minute occupancy.
#[derive(Debug)]
pub struct OccupancyAccumulator {
    receiver: Arc<str>,
    cell_hz: f64,
    grid: Option<Grid>,
    minute_ns: i64,
    spectra: u32,
    /// Per cell: spectra in which a bin of the cell was occupied.
    occupied: Vec<u32>,
    /// Per cell: highest bin power, linear.
    max_power: Vec<f32>,
}

impl OccupancyAccumulator {
    /// An accumulator for `receiver` with cells of `cell_hz` (`history.occupancy_cell_hz`;
    /// whole FFT bins, at least one).
    pub fn new(receiver: impl Into<Arc<str>>, cell_hz: f64) -> Self {
        Self {
            receiver: receiver.into(),
            cell_hz,
            grid: None,
            minute_ns: 0,
            spectra: 0,
            occupied: Vec::new(),
            max_power: Vec::new(),
        }
    }

    /// Adds one spectrum. Returns the previous minute when this spectrum starts a new one (or
    /// the receiver was retuned, which ends the minute early). Allocates nothing except when it
    /// returns a record or meets a new FFT size.
    ///
    /// # Panics
    /// If `psd` and `floor` differ in length.
    pub fn push(&mut self, spectrum: &Spectrum<'_>) -> Option<OccupancyRecord> {
        assert_eq!(
            spectrum.psd.len(),
            spectrum.floor.len(),
            "psd and floor lengths differ"
        );
        let bins = spectrum.psd.len();
        if bins == 0 || spectrum.sample_rate_hz <= 0.0 {
            return None;
        }
        let bin_hz = spectrum.sample_rate_hz / bins as f64;
        let bins_per_cell = ((self.cell_hz / bin_hz).round() as usize).clamp(1, bins);
        let grid = Grid {
            // Bin k is centred on centre + (k - n/2) bins: bin 0's lower edge is half a bin lower.
            start_hz: spectrum.center_hz - (bins / 2) as f64 * bin_hz - bin_hz / 2.0,
            cell_hz: bins_per_cell as f64 * bin_hz,
            bins,
            bins_per_cell,
        };
        let minute_ns = spectrum.time_ns.div_euclid(MINUTE_NS) * MINUTE_NS;
        let finished = if self.grid != Some(grid) || minute_ns != self.minute_ns {
            let done = self.finish();
            let cells = bins.div_ceil(bins_per_cell);
            self.occupied.clear();
            self.occupied.resize(cells, 0);
            self.max_power.clear();
            self.max_power.resize(cells, 0.0);
            self.grid = Some(grid);
            self.minute_ns = minute_ns;
            done
        } else {
            None
        };
        let factor = spectrum.factor;
        let cells = spectrum
            .psd
            .chunks(bins_per_cell)
            .zip(spectrum.floor.chunks(bins_per_cell));
        for ((psd, floor), (occupied, max)) in cells.zip(self.occupied.iter_mut().zip(&mut self.max_power)) {
            let mut any = false;
            for (&p, &f) in psd.iter().zip(floor) {
                any |= p > f * factor;
                *max = max.max(p);
            }
            *occupied += u32::from(any);
        }
        self.spectra += 1;
        finished
    }

    /// The minute accumulated so far, if any spectrum was added (at shutdown, or when the
    /// receiver stops); the accumulator starts afresh.
    pub fn finish(&mut self) -> Option<OccupancyRecord> {
        let grid = self.grid.take()?;
        if self.spectra == 0 {
            return None;
        }
        let spectra = std::mem::take(&mut self.spectra);
        let share = self
            .occupied
            .iter()
            .map(|&n| ((n as f64 * 255.0 / spectra as f64).round()) as u8)
            .collect();
        let max_power_cdb = self
            .max_power
            .iter()
            .map(|&p| {
                let db = if p > 0.0 {
                    (10.0 * p.log10()).max(POWER_FLOOR_DB)
                } else {
                    POWER_FLOOR_DB
                };
                (db * 100.0)
                    .round()
                    .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
            })
            .collect();
        Some(OccupancyRecord {
            receiver: self.receiver.clone(),
            minute_ns: self.minute_ns,
            start_hz: grid.start_hz,
            cell_hz: grid.cell_hz,
            spectra,
            share,
            max_power_cdb,
        })
    }
}

/// One stored minute, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMinute {
    /// Start of the minute, ns.
    pub minute_ns: i64,
    /// Lower edge of cell 0, Hz.
    pub start_hz: f64,
    /// Cell width, Hz.
    pub cell_hz: f64,
    /// Cells.
    pub cells: usize,
    /// Spectra accumulated.
    pub spectra: u32,
    /// The packed cells ([`OccupancyRecord::pack`]).
    pub data: Vec<u8>,
}

/// The matrix of `minutes` (increasing) between `freq_min_hz` and `freq_max_hz`. Its columns
/// are the cells of the newest minute's grid (the receiver's current tuning) that lie in the
/// band and that some minute covers; a minute on another grid fills each column from its cell
/// under the column's centre, and leaves `null` where it has none.
pub fn assemble(
    receiver: &str,
    minutes: &[StoredMinute],
    freq_min_hz: f64,
    freq_max_hz: f64,
) -> Result<OccupancyMatrix, HistoryError> {
    let mut matrix = OccupancyMatrix {
        receiver: receiver.to_string(),
        cell_hz: 0.0,
        frequencies_hz: Vec::new(),
        minutes: Vec::new(),
        spectra: Vec::new(),
        occupancy: Vec::new(),
        max_power_dbfs: Vec::new(),
    };
    let Some(newest) = minutes.last() else {
        return Ok(matrix);
    };
    let (origin, cell) = (newest.start_hz, newest.cell_hz);
    let covered_lo = minutes.iter().map(|m| m.start_hz).fold(f64::INFINITY, f64::min);
    let covered_hi = minutes
        .iter()
        .map(|m| m.start_hz + m.cells as f64 * m.cell_hz)
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = (freq_min_hz.max(covered_lo), freq_max_hz.min(covered_hi));
    // Columns whose cells overlap [lo, hi].
    let first = ((lo - origin) / cell).floor() as i64;
    let last = ((hi - origin) / cell).ceil() as i64;
    let columns = if hi > lo {
        (last - first).max(0) as usize
    } else {
        0
    };
    let total = columns.saturating_mul(minutes.len());
    if total > MATRIX_CELLS_MAX {
        return Err(HistoryError::TooLarge(format!(
            "{} minutes x {columns} cells is more than {MATRIX_CELLS_MAX} cells: ask for a shorter time range or a narrower band",
            minutes.len()
        )));
    }
    matrix.cell_hz = cell;
    matrix.frequencies_hz = (0..columns)
        .map(|c| origin + (first + c as i64) as f64 * cell + cell / 2.0)
        .collect();
    for minute in minutes {
        let Some(cells) = PackedCells::new(&minute.data, minute.cells) else {
            return Err(HistoryError::Corrupt(format!(
                "occupancy of {receiver} at {}: {} bytes for {} cells",
                Timestamp(minute.minute_ns).to_rfc3339(),
                minute.data.len(),
                minute.cells
            )));
        };
        let index = |f: f64| {
            let i = ((f - minute.start_hz) / minute.cell_hz).floor();
            (i >= 0.0 && (i as usize) < minute.cells).then_some(i as usize)
        };
        let share = matrix
            .frequencies_hz
            .iter()
            .map(|&f| index(f).map(|i| cells.share(i)))
            .collect();
        let power = matrix
            .frequencies_hz
            .iter()
            .map(|&f| index(f).map(|i| cells.max_power_dbfs(i)))
            .collect();
        matrix.minutes.push(Timestamp(minute.minute_ns));
        matrix.spectra.push(minute.spectra);
        matrix.occupancy.push(share);
        matrix.max_power_dbfs.push(power);
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spectrum of `bins` bins at 1 MS/s around 100 MHz: noise at 1.0 with floor 1.0, and
    /// `level` in the bins of `hot`.
    fn spectrum(time_ns: i64, psd: &[f32], floor: &[f32]) -> Spectrum<'static> {
        let psd: &'static [f32] = Box::leak(psd.to_vec().into_boxed_slice());
        let floor: &'static [f32] = Box::leak(floor.to_vec().into_boxed_slice());
        Spectrum {
            time_ns,
            center_hz: 100e6,
            sample_rate_hz: 1e6,
            psd,
            floor,
            factor: 4.0,
        }
    }

    #[test]
    fn share_and_max_power_per_cell_and_minute() {
        // 1000 bins of 1 kHz; cells of 4 kHz -> 250 cells.
        let floor = vec![1.0f32; 1000];
        let mut quiet = vec![1.0f32; 1000];
        quiet[0] = 2.0;
        let mut busy = quiet.clone();
        busy[5] = 100.0; // cell 1, over 4x the floor
        busy[11] = 3.9; // cell 2, under the threshold but its max power
        let mut acc = OccupancyAccumulator::new("rx1", 4000.0);
        let t0 = 10 * MINUTE_NS + 1;
        // 3 busy spectra, 1 quiet, in one minute.
        for (i, psd) in [&busy, &quiet, &busy, &busy].into_iter().enumerate() {
            assert!(acc
                .push(&spectrum(t0 + i as i64 * 1_000_000, psd, &floor))
                .is_none());
        }
        let record = acc
            .push(&spectrum(11 * MINUTE_NS, &quiet, &floor))
            .expect("a new minute ends the previous one");
        assert_eq!(record.minute_ns, 10 * MINUTE_NS);
        assert_eq!(record.spectra, 4);
        assert_eq!(record.cells(), 250);
        assert_eq!(record.cell_hz, 4000.0);
        assert_eq!(record.start_hz, 100e6 - 500_000.0 - 500.0);
        assert_eq!(record.share[0], 0);
        assert_eq!(record.share[1], (3.0f64 * 255.0 / 4.0).round() as u8);
        assert_eq!(record.share[2], 0);
        assert_eq!(
            record.max_power_cdb[0],
            (10.0 * 2f32.log10() * 100.0).round() as i16
        );
        assert_eq!(record.max_power_cdb[1], 2000);
        assert_eq!(
            record.max_power_cdb[2],
            (10.0 * 3.9f32.log10() * 100.0).round() as i16
        );
        let rest = acc.finish().expect("the quiet minute");
        assert_eq!((rest.minute_ns, rest.spectra), (11 * MINUTE_NS, 1));
        assert!(acc.finish().is_none());
    }

    #[test]
    fn cells_are_never_narrower_than_a_bin_and_a_retune_ends_the_minute() {
        let floor = vec![1.0f32; 64];
        let psd = vec![1.0f32; 64];
        let mut acc = OccupancyAccumulator::new("rx1", 10.0);
        assert!(acc.push(&spectrum(0, &psd, &floor)).is_none());
        let mut moved = spectrum(1, &psd, &floor);
        moved.center_hz += 1e6;
        let record = acc.push(&moved).expect("retuned");
        assert_eq!(record.cells(), 64);
        assert_eq!(record.cell_hz, 1e6 / 64.0);
        assert_eq!(record.spectra, 1);
    }

    fn stored(minute: i64, start_hz: f64, cell_hz: f64, shares: &[u8]) -> StoredMinute {
        let record = OccupancyRecord {
            receiver: "rx1".into(),
            minute_ns: minute * MINUTE_NS,
            start_hz,
            cell_hz,
            spectra: 10,
            share: shares.to_vec(),
            max_power_cdb: shares.iter().map(|&s| -10_000 + i16::from(s)).collect(),
        };
        StoredMinute {
            minute_ns: record.minute_ns,
            start_hz,
            cell_hz,
            cells: shares.len(),
            spectra: 10,
            data: record.pack(),
        }
    }

    #[test]
    fn matrix_clips_to_the_band_and_maps_other_grids_by_cell_centre() {
        let minutes = [
            // An older tuning 2 kHz higher, with cells of 2 kHz.
            stored(0, 1_002_000.0, 2000.0, &[10, 20, 30]),
            stored(1, 1_000_000.0, 1000.0, &[1, 2, 3, 4, 5, 6]),
        ];
        let matrix = assemble("rx1", &minutes, 1_001_500.0, 1_004_200.0).unwrap();
        assert_eq!(matrix.cell_hz, 1000.0);
        assert_eq!(
            matrix.frequencies_hz,
            [1_001_500.0, 1_002_500.0, 1_003_500.0, 1_004_500.0]
        );
        assert_eq!(matrix.minutes, [Timestamp(0), Timestamp(MINUTE_NS)]);
        let share = |v: u8| Some(f32::from(v) / 255.0);
        assert_eq!(matrix.occupancy[1], [share(2), share(3), share(4), share(5)]);
        assert_eq!(matrix.occupancy[0], [None, share(10), share(10), share(20)]);
        assert_eq!(matrix.max_power_dbfs[1][0], Some(-99.98));
        let empty = assemble("rx1", &minutes, 5e6, 6e6).unwrap();
        assert!(empty.frequencies_hz.is_empty());
        assert_eq!(empty.occupancy.len(), 2);
    }
}
