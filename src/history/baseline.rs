//! Hourly baselines of the stored occupancy: per receiver and cell, the median over the stored
//! minutes of one hour of day (UTC) of the cell's highest bin power in each minute. A `level`
//! alert rule with `above_baseline_db` compares a signal's peak bin power with it.

use super::record::PackedCells;
use super::store::HistoryStore;
use super::HistoryError;
use sqlx::Row;

/// ns in an hour.
pub const HOUR_NS: i64 = 3_600_000_000_000;
/// Stored minutes a cell needs for a baseline: fewer (a receiver added an hour ago, a band
/// just retuned) are no baseline, and nothing is compared with it.
pub const MIN_BASELINE_MINUTES: usize = 10;

/// One receiver's baseline for one hour of day.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The hour of day, UTC (0-23).
    pub hour: u32,
    /// Lower edge of cell 0, Hz.
    pub start_hz: f64,
    /// Width of a cell, Hz.
    pub cell_hz: f64,
    /// Per cell: the median of the highest bin power per minute, dBFS.
    pub median_dbfs: Vec<f32>,
    /// The stored minutes the medians are taken over.
    pub minutes: usize,
    /// The distinct days those minutes fall on.
    pub days: usize,
}

impl Baseline {
    /// The median of the cell holding `frequency_hz`, if it is one of the cells.
    pub fn at(&self, frequency_hz: f64) -> Option<f32> {
        let cell = ((frequency_hz - self.start_hz) / self.cell_hz).floor();
        (cell >= 0.0).then_some(())?;
        self.median_dbfs.get(cell as usize).copied()
    }
}

impl HistoryStore {
    /// `receiver`'s baseline for hour of day `hour` (UTC) from the minutes stored before
    /// `before_ns`, on the cell layout of the latest of them (minutes of another layout, from
    /// before a retune, are left out); `None` with fewer than [`MIN_BASELINE_MINUTES`].
    pub async fn hourly_baseline(
        &self,
        receiver: &str,
        hour: u32,
        before_ns: i64,
    ) -> Result<Option<Baseline>, HistoryError> {
        let rows = sqlx::query(
            "SELECT o.minute, o.start_hz, o.cell_hz, o.cells, o.data FROM occupancy o \
             JOIN receivers r ON r.id = o.receiver_id \
             WHERE r.name = $1 AND o.minute < $2 AND (o.minute / $3) % 24 = $4 \
             ORDER BY o.minute DESC",
        )
        .bind(receiver)
        .bind(before_ns)
        .bind(HOUR_NS)
        .bind(i64::from(hour))
        .fetch_all(&self.pool)
        .await?;
        let mut layout: Option<(f64, f64, usize)> = None;
        let mut columns: Vec<Vec<f32>> = Vec::new();
        let mut days = std::collections::BTreeSet::new();
        for row in rows {
            let minute: i64 = row.try_get(0)?;
            let start_hz: f64 = row.try_get(1)?;
            let cell_hz: f64 = row.try_get(2)?;
            let cells = row.try_get::<i64, _>(3)?.max(0) as usize;
            let data: Vec<u8> = row.try_get(4)?;
            let this = (start_hz, cell_hz, cells);
            if *layout.get_or_insert(this) != this {
                continue;
            }
            let Some(packed) = PackedCells::new(&data, cells) else {
                return Err(HistoryError::Corrupt(format!(
                    "occupancy of {receiver} at minute {minute}: {} bytes for {cells} cells",
                    data.len()
                )));
            };
            columns.resize_with(cells, Vec::new);
            for (i, column) in columns.iter_mut().enumerate() {
                column.push(packed.max_power_dbfs(i));
            }
            days.insert(minute.div_euclid(24 * HOUR_NS));
        }
        let Some((start_hz, cell_hz, _)) = layout else {
            return Ok(None);
        };
        let minutes = columns.first().map_or(0, Vec::len);
        if minutes < MIN_BASELINE_MINUTES {
            return Ok(None);
        }
        let median_dbfs = columns.into_iter().map(median).collect();
        Ok(Some(Baseline {
            hour,
            start_hz,
            cell_hz,
            median_dbfs,
            minutes,
            days: days.len(),
        }))
    }
}

/// The median of `values` (the mean of the middle two for an even count).
///
/// # Panics
/// If `values` is empty.
fn median(mut values: Vec<f32>) -> f32 {
    values.sort_unstable_by(f32::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, -1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn the_cell_of_a_frequency() {
        let baseline = Baseline {
            hour: 3,
            start_hz: 100.0,
            cell_hz: 10.0,
            median_dbfs: vec![-1.0, -2.0],
            minutes: 10,
            days: 1,
        };
        assert_eq!(baseline.at(99.0), None);
        assert_eq!(baseline.at(100.0), Some(-1.0));
        assert_eq!(baseline.at(119.9), Some(-2.0));
        assert_eq!(baseline.at(120.0), None);
    }
}
