//! Reading history back: signals (paged), one signal with its observations and fixes,
//! observations and localizations of a time range, the occupancy matrix, status and health
//! changes.

use super::occupancy::{assemble, StoredMinute};
use super::sql::Sql;
use super::store::HistoryStore;
use super::Backend;
use super::HistoryError;
use crate::events::history::{
    HistoryLocalization, HistorySignal, LocalizationHistory, ObservationSummary, OccupancyMatrix,
    SignalDetail, SignalPage,
};
use crate::events::{EllipseReport, LocalizationMethod, LocalizationReport, Timestamp};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

/// Signals per page when the client does not say.
pub const SIGNALS_LIMIT_DEFAULT: usize = 100;
/// Signals per page at most: a page is one query and one JSON answer.
pub const SIGNALS_LIMIT_MAX: usize = 1000;
/// Observations, and localizations, in one signal's detail at most (the newest): a signal heard
/// for a month has ~500 000 observation windows per receiver.
pub const DETAIL_ROWS_MAX: usize = 5_000;
/// Localizations per answer when the client does not say.
pub const LOCALIZATIONS_LIMIT_DEFAULT: usize = 1_000;
/// Localizations per answer at most.
pub const LOCALIZATIONS_LIMIT_MAX: usize = 50_000;
/// Observations per answer at most (an hour of a busy band is ~20 000).
pub const OBSERVATIONS_LIMIT_MAX: usize = 200_000;
/// Status or health changes per answer at most.
pub const CHANGES_LIMIT_MAX: usize = 50_000;
/// Time range of localization and occupancy queries without `from`: the last day.
pub const DEFAULT_RANGE_NS: i64 = crate::config::history::NS_PER_DAY;
/// Signals whose receivers are read in one `IN (...)` list.
const IN_LIST_MAX: usize = 500;

/// `GET /api/v1/history/signals`: tracks that were heard in `[from, to]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignalQuery {
    /// Heard at or after (default: any time).
    pub from: Option<Timestamp>,
    /// Heard at or before (default: any time).
    pub to: Option<Timestamp>,
    /// Frequency at least, Hz.
    pub freq_min_hz: Option<f64>,
    /// Frequency at most, Hz.
    pub freq_max_hz: Option<f64>,
    /// Heard by this receiver.
    pub receiver: Option<String>,
    /// Signals per page (default [`SIGNALS_LIMIT_DEFAULT`], at most [`SIGNALS_LIMIT_MAX`]).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /api/v1/history/localizations`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalizationQuery {
    /// At or after (default: `to` minus a day).
    pub from: Option<Timestamp>,
    /// Before (default: now).
    pub to: Option<Timestamp>,
    /// Inside this box.
    pub bbox: Option<BBox>,
    /// Fixes at most (default [`LOCALIZATIONS_LIMIT_DEFAULT`], at most
    /// [`LOCALIZATIONS_LIMIT_MAX`]).
    pub limit: Option<usize>,
}

/// `GET /api/v1/history/occupancy`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OccupancyQuery {
    /// The receiver.
    pub receiver: String,
    /// Minutes starting at or after (default: `to` minus a day).
    pub from: Option<Timestamp>,
    /// Minutes starting before (default: now).
    pub to: Option<Timestamp>,
    /// Lowest frequency, Hz.
    pub freq_min_hz: Option<f64>,
    /// Highest frequency, Hz.
    pub freq_max_hz: Option<f64>,
}

/// A latitude/longitude box, degrees; `west > east` crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Western edge (longitude).
    pub west: f64,
    /// Southern edge (latitude).
    pub south: f64,
    /// Eastern edge (longitude).
    pub east: f64,
    /// Northern edge (latitude).
    pub north: f64,
}

impl BBox {
    /// Parses `west,south,east,north` (GeoJSON's bbox order).
    pub fn parse(text: &str) -> Result<BBox, HistoryError> {
        let bad = || {
            HistoryError::invalid(format!(
                "bbox = {text:?}: must be west,south,east,north in degrees (south <= north)"
            ))
        };
        let parts: Vec<f64> = text
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let [west, south, east, north] = parts[..] else {
            return Err(bad());
        };
        let lat = |x: f64| (-90.0..=90.0).contains(&x);
        let lon = |x: f64| (-180.0..=180.0).contains(&x);
        if !(lat(south) && lat(north) && lon(west) && lon(east) && south <= north) {
            return Err(bad());
        }
        Ok(BBox {
            west,
            south,
            east,
            north,
        })
    }
}

/// The wire name of a unit enum (`"online"`, `"degraded"`...).
pub(crate) fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => format!("{other:?}"),
    }
}

/// A unit enum from its wire name.
pub(crate) fn parse_wire<T: DeserializeOwned>(name: &str, what: &str) -> Result<T, HistoryError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| HistoryError::Corrupt(format!("{what} {name:?}")))
}

/// The stored name of a localization method.
pub(crate) fn method_name(method: LocalizationMethod) -> &'static str {
    match method {
        LocalizationMethod::Power => "power",
        LocalizationMethod::Tdoa => "tdoa",
    }
}

fn limit(value: Option<usize>, default: usize, max: usize) -> Result<usize, HistoryError> {
    let limit = value.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(HistoryError::invalid(format!(
            "limit = {limit}: must be in 1..={max}"
        )))
    }
}

/// `from` and `to`, defaulting to the last `default_range_ns` before now.
fn range(
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    default_range_ns: i64,
) -> Result<(i64, i64), HistoryError> {
    let to = to.map_or_else(|| Timestamp::now().0, |t| t.0);
    let from = from.map_or(to.saturating_sub(default_range_ns), |t| t.0);
    if from > to {
        return Err(HistoryError::invalid("from: must not be after to"));
    }
    Ok((from, to))
}

fn frequencies(min: Option<f64>, max: Option<f64>) -> Result<(f64, f64), HistoryError> {
    let (min, max) = (min.unwrap_or(f64::MIN), max.unwrap_or(f64::MAX));
    if min.is_nan() || max.is_nan() || min > max {
        return Err(HistoryError::invalid("freq_min: must be at most freq_max"));
    }
    Ok((min, max))
}

/// The opaque cursor after the track `(first_seen, id)`.
fn encode_cursor(first_seen: i64, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{first_seen}.{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64), HistoryError> {
    let bad = || HistoryError::invalid(format!("cursor = {cursor:?}: not a cursor of this API"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (first_seen, id) = text.split_once('.').ok_or_else(bad)?;
    Ok((
        first_seen.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

const TRACK_COLUMNS: &str = "SELECT t.id, t.signal_id, t.first_seen, t.last_seen, t.frequency_hz, \
    t.bandwidth_hz, t.peak_snr_db, t.snr_sum_db, t.peak_power_dbfs, t.power_sum_dbfs, t.peak_bin_dbfs, \
    t.reports, r.name, t.lost, t.emitter_id FROM tracks t JOIN receivers r ON r.id = t.best_receiver";

fn track(row: &AnyRow) -> Result<HistorySignal, sqlx::Error> {
    let reports: i64 = row.try_get(11)?;
    let peak_snr: f64 = row.try_get(6)?;
    let peak_power: f64 = row.try_get(8)?;
    // A track stored from a lost report only has no mean: its peak is its one value.
    let mean = |sum: f64, peak: f64| if reports > 0 { sum / reports as f64 } else { peak };
    Ok(HistorySignal {
        id: row.try_get(0)?,
        signal_id: row.try_get(1)?,
        first_seen: Timestamp(row.try_get(2)?),
        last_seen: Timestamp(row.try_get(3)?),
        frequency_hz: row.try_get(4)?,
        bandwidth_hz: row.try_get(5)?,
        peak_snr_db: peak_snr,
        mean_snr_db: mean(row.try_get(7)?, peak_snr),
        peak_power_dbfs: peak_power,
        mean_power_dbfs: mean(row.try_get(9)?, peak_power),
        peak_bin_dbfs: row.try_get(10)?,
        reports: reports.max(0) as u64,
        best_receiver: row.try_get(12)?,
        receivers: Vec::new(),
        lost: row.try_get::<i64, _>(13)? != 0,
        known: None,
        emitter_id: row.try_get(14)?,
    })
}

/// Receivers are named from a map read once per query (a handful of rows) rather than joined
/// per observation row.
const OBSERVATION_COLUMNS: &str = "SELECT track_id, receiver_id, start, stop, samples, power_min_dbfs, \
    power_mean_dbfs, power_max_dbfs, snr_min_db, snr_mean_db, snr_max_db FROM observations";

fn observation(row: &AnyRow, receivers: &HashMap<i64, String>) -> Result<ObservationSummary, HistoryError> {
    let receiver: i64 = row.try_get(1)?;
    Ok(ObservationSummary {
        signal: row.try_get(0)?,
        receiver: receivers
            .get(&receiver)
            .cloned()
            .ok_or_else(|| HistoryError::Corrupt(format!("observation of unknown receiver {receiver}")))?,
        start: Timestamp(row.try_get(2)?),
        stop: Timestamp(row.try_get(3)?),
        samples: row.try_get::<i64, _>(4)?.clamp(0, u32::MAX as i64) as u32,
        power_min_dbfs: row.try_get(5)?,
        power_mean_dbfs: row.try_get(6)?,
        power_max_dbfs: row.try_get(7)?,
        snr_min_db: row.try_get(8)?,
        snr_mean_db: row.try_get(9)?,
        snr_max_db: row.try_get(10)?,
    })
}

const LOCALIZATION_COLUMNS: &str = "SELECT id, track_id, time, signal_id, method, latitude, longitude, \
    uncertainty_m, confidence, semi_major_m, semi_minor_m, orientation_deg, gdop, frequency_hz, receivers, \
    excluded, note FROM localizations";

fn localization(row: &AnyRow) -> Result<HistoryLocalization, HistoryError> {
    let json = |i: usize| -> Result<String, HistoryError> { Ok(row.try_get::<String, _>(i)?) };
    let list = |i: usize| -> Result<serde_json::Value, HistoryError> {
        serde_json::from_str(&json(i)?).map_err(|e| HistoryError::Corrupt(format!("localization list: {e}")))
    };
    let method: String = row.try_get(4)?;
    Ok(HistoryLocalization {
        id: row.try_get(0)?,
        history_id: row.try_get(1)?,
        localization: LocalizationReport {
            timestamp: Timestamp(row.try_get(2)?),
            signal_id: row.try_get(3)?,
            method: parse_wire(&method, "localization method")?,
            latitude: row.try_get(5)?,
            longitude: row.try_get(6)?,
            uncertainty_m: row.try_get(7)?,
            confidence: row.try_get(8)?,
            ellipse: EllipseReport {
                semi_major_m: row.try_get(9)?,
                semi_minor_m: row.try_get(10)?,
                orientation_deg: row.try_get(11)?,
            },
            gdop: row.try_get(12)?,
            frequency_hz: row.try_get(13)?,
            receivers: serde_json::from_value(list(14)?)
                .map_err(|e| HistoryError::Corrupt(format!("localization receivers: {e}")))?,
            excluded: serde_json::from_value(list(15)?)
                .map_err(|e| HistoryError::Corrupt(format!("localization exclusions: {e}")))?,
            note: row.try_get(16)?,
        },
    })
}

/// A real written by SQLite's `printf('%!.17g')`: 17 significant digits, exact for an f64.
struct ExactReal(f64);

impl<'de> Deserialize<'de> for ExactReal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <&'de str>::deserialize(deserializer)?;
        text.parse()
            .map(ExactReal)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number")))
    }
}

/// One observation row in SQLite's JSON answer: the columns of [`OBSERVATION_COLUMNS`].
#[derive(Deserialize)]
struct PackedObservation(
    i64,
    i64,
    i64,
    i64,
    i64,
    ExactReal,
    ExactReal,
    ExactReal,
    ExactReal,
    ExactReal,
    ExactReal,
);

impl PackedObservation {
    fn summary(self, receivers: &HashMap<i64, String>) -> Result<ObservationSummary, HistoryError> {
        let PackedObservation(signal, receiver, start, stop, samples, p0, p1, p2, s0, s1, s2) = self;
        Ok(ObservationSummary {
            signal,
            receiver: receivers.get(&receiver).cloned().ok_or_else(|| {
                HistoryError::Corrupt(format!("observation of unknown receiver {receiver}"))
            })?,
            start: Timestamp(start),
            stop: Timestamp(stop),
            samples: samples.clamp(0, u32::MAX as i64) as u32,
            power_min_dbfs: p0.0,
            power_mean_dbfs: p1.0,
            power_max_dbfs: p2.0,
            snr_min_db: s0.0,
            snr_mean_db: s1.0,
            snr_max_db: s2.0,
        })
    }
}

impl HistoryStore {
    /// One page of the tracks heard in the query's range, newest first (by `first_seen`, then
    /// id: a key that never changes, so pages neither repeat nor skip a track while new ones
    /// arrive).
    pub async fn signals(&self, query: &SignalQuery) -> Result<SignalPage, HistoryError> {
        let limit = limit(query.limit, SIGNALS_LIMIT_DEFAULT, SIGNALS_LIMIT_MAX)?;
        let from = query.from.map_or(i64::MIN, |t| t.0);
        let to = query.to.map_or(i64::MAX, |t| t.0);
        if from > to {
            return Err(HistoryError::invalid("from: must not be after to"));
        }
        let (freq_min, freq_max) = frequencies(query.freq_min_hz, query.freq_max_hz)?;
        let mut sql = Sql::new(self.backend, TRACK_COLUMNS);
        sql.push(" WHERE t.first_seen <= ").bind(to);
        sql.push(" AND t.last_seen >= ").bind(from);
        if query.freq_min_hz.is_some() || query.freq_max_hz.is_some() {
            sql.push(" AND t.frequency_hz >= ").bind(freq_min);
            sql.push(" AND t.frequency_hz <= ").bind(freq_max);
        }
        if let Some(receiver) = &query.receiver {
            sql.push(
                " AND EXISTS (SELECT 1 FROM track_receivers tr JOIN receivers rr ON rr.id = tr.receiver_id \
                 WHERE tr.track_id = t.id AND rr.name = ",
            )
            .bind(receiver.as_str())
            .push(")");
        }
        if let Some(cursor) = &query.cursor {
            let (first_seen, id) = decode_cursor(cursor)?;
            sql.push(" AND (t.first_seen < ").bind(first_seen);
            sql.push(" OR (t.first_seen = ").bind(first_seen);
            sql.push(" AND t.id < ").bind(id).push("))");
        }
        sql.push(" ORDER BY t.first_seen DESC, t.id DESC LIMIT ")
            .bind(limit as i64 + 1);
        let (text, args) = sql.parts();
        let rows = sqlx::query_with(&text, args).fetch_all(&self.pool).await?;
        let mut signals = rows.iter().map(track).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if signals.len() > limit {
            signals.truncate(limit);
            signals.last().map(|s| encode_cursor(s.first_seen.0, s.id))
        } else {
            None
        };
        self.fill_receivers(&mut signals).await?;
        self.fill_known(&mut signals).await?;
        Ok(SignalPage { signals, next_cursor })
    }

    /// Reads the receivers of each signal.
    async fn fill_receivers(&self, signals: &mut [HistorySignal]) -> Result<(), HistoryError> {
        let mut names: HashMap<i64, Vec<String>> = HashMap::new();
        for chunk in signals.chunks(IN_LIST_MAX) {
            let mut sql = Sql::new(
                self.backend,
                "SELECT tr.track_id, r.name FROM track_receivers tr JOIN receivers r ON r.id = tr.receiver_id \
                 WHERE tr.track_id IN (",
            );
            for (i, signal) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(signal.id);
            }
            sql.push(") ORDER BY r.name");
            let (text, args) = sql.parts();
            for row in sqlx::query_with(&text, args).fetch_all(&self.pool).await? {
                names.entry(row.try_get(0)?).or_default().push(row.try_get(1)?);
            }
        }
        for signal in signals {
            signal.receivers = names.remove(&signal.id).unwrap_or_default();
        }
        Ok(())
    }

    /// One track with its observations and localizations (the newest [`DETAIL_ROWS_MAX`] of
    /// each, oldest first); `None` when there is no such track.
    pub async fn signal(&self, id: i64) -> Result<Option<SignalDetail>, HistoryError> {
        let row = sqlx::query(&format!("{TRACK_COLUMNS} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut signal = [track(&row)?];
        self.fill_receivers(&mut signal).await?;
        self.fill_known(&mut signal).await?;
        let [signal] = signal;
        let receivers = self.receiver_names().await?;
        let rows = sqlx::query(&format!(
            "{OBSERVATION_COLUMNS} WHERE track_id = $1 ORDER BY start DESC, receiver_id DESC LIMIT $2"
        ))
        .bind(id)
        .bind(DETAIL_ROWS_MAX as i64 + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut observations = rows
            .iter()
            .map(|row| observation(row, &receivers))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = sqlx::query(&format!(
            "{LOCALIZATION_COLUMNS} WHERE track_id = $1 ORDER BY time DESC, id DESC LIMIT $2"
        ))
        .bind(id)
        .bind(DETAIL_ROWS_MAX as i64 + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut localizations = rows.iter().map(localization).collect::<Result<Vec<_>, _>>()?;
        let truncated = observations.len() > DETAIL_ROWS_MAX || localizations.len() > DETAIL_ROWS_MAX;
        observations.truncate(DETAIL_ROWS_MAX);
        localizations.truncate(DETAIL_ROWS_MAX);
        observations.reverse();
        localizations.reverse();
        Ok(Some(SignalDetail {
            signal,
            observations,
            localizations,
            truncated,
        }))
    }

    /// Every observation window starting in `[from, to)`, oldest first, at most `limit` (at
    /// most [`OBSERVATIONS_LIMIT_MAX`]).
    ///
    /// On SQLite the rows come back as one JSON array built by SQLite: sqlx hands every result
    /// row from SQLite's worker thread to the async task, 2.5 us a row on an idle machine and
    /// several times that when the cores are busy, while SQLite itself reads an hour's 20 000
    /// rows in about a millisecond. Reals are written with 17 significant digits (`%!.17g`),
    /// so they read back exactly.
    pub async fn observations(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<ObservationSummary>, HistoryError> {
        let limit = self::limit(Some(limit), limit, OBSERVATIONS_LIMIT_MAX)?;
        let receivers = self.receiver_names().await?;
        if self.backend == Backend::Sqlite {
            let real = |c: &str| format!("printf('%!.17g', {c})");
            let sql = format!(
                "SELECT json_group_array(json_array(track_id, receiver_id, start, stop, samples, {}, {}, {}, {}, {}, {}) \
                 ORDER BY start, track_id, receiver_id) FROM (SELECT * FROM observations \
                 WHERE start >= $1 AND start < $2 ORDER BY start, track_id, receiver_id LIMIT $3)",
                real("power_min_dbfs"),
                real("power_mean_dbfs"),
                real("power_max_dbfs"),
                real("snr_min_db"),
                real("snr_mean_db"),
                real("snr_max_db"),
            );
            let json: String = sqlx::query(&sql)
                .bind(from.0)
                .bind(to.0)
                .bind(limit as i64)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            let rows: Vec<PackedObservation> = serde_json::from_str(&json)
                .map_err(|e| HistoryError::Corrupt(format!("observations as JSON: {e}")))?;
            return rows.into_iter().map(|row| row.summary(&receivers)).collect();
        }
        let rows = sqlx::query(&format!(
            "{OBSERVATION_COLUMNS} WHERE start >= $1 AND start < $2 ORDER BY start, track_id, receiver_id LIMIT $3"
        ))
        .bind(from.0)
        .bind(to.0)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| observation(row, &receivers)).collect()
    }

    /// Every receiver's name by id.
    async fn receiver_names(&self) -> Result<HashMap<i64, String>, HistoryError> {
        let rows = sqlx::query("SELECT id, name FROM receivers")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Localizations in the query's range (and box), newest first.
    pub async fn localizations(
        &self,
        query: &LocalizationQuery,
    ) -> Result<LocalizationHistory, HistoryError> {
        let limit = limit(query.limit, LOCALIZATIONS_LIMIT_DEFAULT, LOCALIZATIONS_LIMIT_MAX)?;
        let (from, to) = range(query.from, query.to, DEFAULT_RANGE_NS)?;
        let mut sql = Sql::new(self.backend, LOCALIZATION_COLUMNS);
        sql.push(" WHERE time >= ")
            .bind(from)
            .push(" AND time < ")
            .bind(to);
        if let Some(b) = query.bbox {
            sql.push(" AND latitude >= ").bind(b.south);
            sql.push(" AND latitude <= ").bind(b.north);
            let join = if b.west <= b.east { " AND " } else { " OR " };
            sql.push(" AND (longitude >= ").bind(b.west);
            sql.push(join).push("longitude <= ").bind(b.east).push(")");
        }
        sql.push(" ORDER BY time DESC, id DESC LIMIT ")
            .bind(limit as i64 + 1);
        let (text, args) = sql.parts();
        let rows = sqlx::query_with(&text, args).fetch_all(&self.pool).await?;
        let mut localizations = rows.iter().map(localization).collect::<Result<Vec<_>, _>>()?;
        let truncated = localizations.len() > limit;
        localizations.truncate(limit);
        Ok(LocalizationHistory {
            localizations,
            truncated,
        })
    }

    /// The occupancy matrix of one receiver (see [`assemble`]); empty when it has none.
    pub async fn occupancy(&self, query: &OccupancyQuery) -> Result<OccupancyMatrix, HistoryError> {
        let (from, to) = range(query.from, query.to, DEFAULT_RANGE_NS)?;
        let (freq_min, freq_max) = frequencies(query.freq_min_hz, query.freq_max_hz)?;
        let rows = sqlx::query(
            "SELECT o.minute, o.start_hz, o.cell_hz, o.cells, o.spectra, o.data FROM occupancy o \
             JOIN receivers r ON r.id = o.receiver_id \
             WHERE r.name = $1 AND o.minute >= $2 AND o.minute < $3 ORDER BY o.minute",
        )
        .bind(query.receiver.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let minutes = rows
            .iter()
            .map(|row| {
                Ok(StoredMinute {
                    minute_ns: row.try_get(0)?,
                    start_hz: row.try_get(1)?,
                    cell_hz: row.try_get(2)?,
                    cells: row.try_get::<i64, _>(3)?.max(0) as usize,
                    spectra: row.try_get::<i64, _>(4)?.clamp(0, u32::MAX as i64) as u32,
                    data: row.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        assemble(&query.receiver, &minutes, freq_min, freq_max)
    }
}

mod changes;
#[cfg(test)]
mod tests;
