//! Storing records: one transaction per batch, bus high-water marks in the same transaction.

use super::record::{Entry, ObservationRecord, OccupancyRecord, Record};
use super::sql::Sql;
use super::store::{HistoryStore, TRACK_CACHE_MAX};
use super::Backend;
use super::HistoryError;
use crate::events::history::{ReceiverStatusChange, ServiceHealthChange};
use crate::events::{LocalizationReport, SignalReport, SignalState};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;
use std::sync::Arc;

/// Observations per multi-row `INSERT`: 11 arguments each stays far under both databases'
/// argument limits (SQLite 32 766, PostgreSQL 65 535), and one statement per 100 rows is what
/// makes 50 000 rows/s cheap (one statement per row costs a round trip each).
const OBSERVATIONS_PER_STATEMENT: usize = 100;

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Records stored (a replayed observation window or occupancy minute counts, and leaves
    /// the stored row as it was).
    pub written: u64,
    /// Records skipped because their bus position was at or below the stream's mark (written
    /// before: a redelivery or a replay).
    pub duplicates: u64,
    /// Observations skipped because their track was never stored.
    pub orphans: u64,
}

/// Ids found or created in this transaction, merged into the caches only once it commits.
#[derive(Default)]
struct Fresh {
    receivers: HashMap<Arc<str>, i64>,
    tracks: HashMap<Arc<str>, (i64, i64)>,
}

const UPSERT_TRACK: &str = "\
INSERT INTO tracks (signal_id, first_seen, last_seen, frequency_hz, bandwidth_hz, peak_snr_db, \
    snr_sum_db, peak_power_dbfs, power_sum_dbfs, peak_bin_dbfs, reports, best_receiver, lost, emitter_id) \
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
ON CONFLICT (signal_id, first_seen) DO UPDATE SET \
    frequency_hz = CASE WHEN excluded.last_seen >= tracks.last_seen THEN excluded.frequency_hz ELSE tracks.frequency_hz END, \
    bandwidth_hz = CASE WHEN excluded.last_seen >= tracks.last_seen THEN excluded.bandwidth_hz ELSE tracks.bandwidth_hz END, \
    best_receiver = CASE WHEN excluded.last_seen >= tracks.last_seen THEN excluded.best_receiver ELSE tracks.best_receiver END, \
    last_seen = CASE WHEN excluded.last_seen > tracks.last_seen THEN excluded.last_seen ELSE tracks.last_seen END, \
    peak_snr_db = CASE WHEN excluded.peak_snr_db > tracks.peak_snr_db THEN excluded.peak_snr_db ELSE tracks.peak_snr_db END, \
    peak_power_dbfs = CASE WHEN excluded.peak_power_dbfs > tracks.peak_power_dbfs THEN excluded.peak_power_dbfs ELSE tracks.peak_power_dbfs END, \
    peak_bin_dbfs = CASE WHEN excluded.peak_bin_dbfs > tracks.peak_bin_dbfs THEN excluded.peak_bin_dbfs ELSE tracks.peak_bin_dbfs END, \
    snr_sum_db = tracks.snr_sum_db + excluded.snr_sum_db, \
    power_sum_dbfs = tracks.power_sum_dbfs + excluded.power_sum_dbfs, \
    reports = tracks.reports + excluded.reports, \
    lost = CASE WHEN excluded.lost > tracks.lost THEN excluded.lost ELSE tracks.lost END, \
    emitter_id = COALESCE(tracks.emitter_id, excluded.emitter_id) \
RETURNING id";

impl HistoryStore {
    /// Stores the records of `entries` in one transaction. Entries with a bus position at or
    /// below their stream's mark (or below one earlier in the batch) are skipped; the marks move
    /// to the highest position written, in the same transaction, so a crash either stores an
    /// event and its mark or neither.
    pub async fn write(&self, entries: &[Entry]) -> Result<WriteOutcome, HistoryError> {
        let mut outcome = WriteOutcome::default();
        let mut tx = self.pool.begin().await?;
        let mut marks: HashMap<Arc<str>, (Option<i64>, i64)> = HashMap::new();
        let mut accepted: Vec<&Record> = Vec::new();
        for entry in entries {
            if let Some(position) = &entry.position {
                if !marks.contains_key(&position.stream) {
                    let stored = self.lock_mark(&mut tx, &position.stream).await?;
                    marks.insert(position.stream.clone(), (stored, i64::MIN));
                }
                let seq = position.seq as i64;
                // Invariant: the stream was inserted just above.
                let (stored, highest) = marks.get_mut(&position.stream).expect("mark read above");
                // At or below the stored mark: written before; at or below this batch's highest:
                // redelivered before this batch committed (a stream is processed in order, so a
                // lower sequence after a higher one is always a redelivery).
                if stored.is_some_and(|s| seq <= s) || seq <= *highest {
                    outcome.duplicates += entry.len() as u64;
                    continue;
                }
                *highest = (*highest).max(seq);
            }
            accepted.extend(entry.records.as_slice());
        }

        let mut fresh = Fresh::default();
        let mut observations = Vec::new();
        for record in &accepted {
            match record {
                Record::Signal(report) => self.write_signal(&mut tx, &mut fresh, report).await?,
                Record::Observation(o) => observations.push(o),
                Record::Localization(report) => self.write_localization(&mut tx, report).await?,
                Record::ReceiverStatus(change) => self.write_status(&mut tx, &mut fresh, change).await?,
                Record::ServiceHealth(change) => write_health(&mut tx, change).await?,
                Record::Occupancy(record) => self.write_occupancy(&mut tx, &mut fresh, record).await?,
                Record::Alert(report) => super::alerts::write_alert(&mut tx, report).await?,
            }
        }
        outcome.orphans = self
            .write_observations(&mut tx, &mut fresh, &observations)
            .await?;
        outcome.written = accepted.len() as u64 - outcome.orphans;

        for (stream, (_, highest)) in &marks {
            if *highest == i64::MIN {
                continue;
            }
            sqlx::query(
                "INSERT INTO bus_positions (stream, seq) VALUES ($1, $2) ON CONFLICT (stream) DO UPDATE SET \
                 seq = CASE WHEN excluded.seq > bus_positions.seq THEN excluded.seq ELSE bus_positions.seq END",
            )
            .bind(&**stream)
            .bind(*highest)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;

        // Poisoned only if a holder panicked; the maps stay consistent (plain inserts).
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches.receivers.extend(fresh.receivers);
        if caches.tracks.len() + fresh.tracks.len() > TRACK_CACHE_MAX {
            caches.tracks.clear();
        }
        caches.tracks.extend(fresh.tracks);
        Ok(outcome)
    }

    /// The mark of `stream`, locked until the transaction ends, so that two writers of one
    /// stream (a restarted history-writer overlapping the old one) cannot both write an event:
    /// the second waits for the first to commit and then sees its mark. The row is created
    /// first (-1: nothing written) because there is nothing to lock before the first event;
    /// SQLite locks the whole database at that first write.
    async fn lock_mark(
        &self,
        tx: &mut Transaction<'static, Any>,
        stream: &str,
    ) -> Result<Option<i64>, HistoryError> {
        sqlx::query(
            "INSERT INTO bus_positions (stream, seq) VALUES ($1, -1) ON CONFLICT (stream) DO NOTHING",
        )
        .bind(stream)
        .execute(&mut **tx)
        .await?;
        let select = match self.backend {
            Backend::Sqlite => "SELECT seq FROM bus_positions WHERE stream = $1",
            Backend::Postgres => "SELECT seq FROM bus_positions WHERE stream = $1 FOR UPDATE",
        };
        let seq: i64 = sqlx::query(select)
            .bind(stream)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
        Ok((seq >= 0).then_some(seq))
    }

    /// The id of receiver `name`, created if new.
    async fn receiver_id(
        &self,
        tx: &mut Transaction<'static, Any>,
        fresh: &mut Fresh,
        name: &str,
    ) -> Result<i64, HistoryError> {
        if let Some(&id) = fresh.receivers.get(name) {
            return Ok(id);
        }
        let cached = self
            .caches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .receivers
            .get(name)
            .copied();
        if let Some(id) = cached {
            return Ok(id);
        }
        sqlx::query("INSERT INTO receivers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(&mut **tx)
            .await?;
        let id: i64 = sqlx::query("SELECT id FROM receivers WHERE name = $1")
            .bind(name)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
        fresh.receivers.insert(name.into(), id);
        Ok(id)
    }

    async fn write_signal(
        &self,
        tx: &mut Transaction<'static, Any>,
        fresh: &mut Fresh,
        r: &SignalReport,
    ) -> Result<(), HistoryError> {
        let best = self.receiver_id(tx, fresh, &r.websdr_id).await?;
        // A lost report repeats the last measurement: it sets `lost` and the time, and counts
        // in no mean.
        let lost = r.state == SignalState::Lost;
        let (count, snr_sum, power_sum) = if lost {
            (0i64, 0.0, 0.0)
        } else {
            (1, r.snr_db, r.power_dbfs)
        };
        let row: AnyRow = sqlx::query(UPSERT_TRACK)
            .bind(&r.signal_id)
            .bind(r.first_seen.0)
            .bind(r.timestamp.0)
            .bind(r.frequency_hz)
            .bind(r.bandwidth_hz)
            .bind(r.snr_db)
            .bind(snr_sum)
            .bind(r.power_dbfs)
            .bind(power_sum)
            .bind(r.peak_power_dbfs)
            .bind(count)
            .bind(best)
            .bind(i64::from(lost))
            // A report that does not say (another publisher, an older node) leaves it NULL.
            .bind(Some(r.identity.emitter_id.as_str()).filter(|id| !id.is_empty()))
            .fetch_one(&mut **tx)
            .await?;
        let track: i64 = row.try_get(0)?;
        for name in &r.receivers {
            let receiver = self.receiver_id(tx, fresh, name).await?;
            sqlx::query(
                "INSERT INTO track_receivers (receiver_id, track_id) VALUES ($1, $2) \
                 ON CONFLICT (receiver_id, track_id) DO NOTHING",
            )
            .bind(receiver)
            .bind(track)
            .execute(&mut **tx)
            .await?;
        }
        let newer = fresh
            .tracks
            .get(r.signal_id.as_str())
            .is_none_or(|&(first_seen, _)| first_seen <= r.first_seen.0);
        if newer {
            fresh
                .tracks
                .insert(r.signal_id.as_str().into(), (r.first_seen.0, track));
        }
        Ok(())
    }

    /// The track of live id `signal_id` that started at `first_seen_ns`, if stored.
    async fn track_id(
        &self,
        tx: &mut Transaction<'static, Any>,
        fresh: &mut Fresh,
        signal_id: &Arc<str>,
        first_seen_ns: i64,
    ) -> Result<Option<i64>, HistoryError> {
        let known = |map: &HashMap<Arc<str>, (i64, i64)>| {
            map.get(signal_id)
                .filter(|(first_seen, _)| *first_seen == first_seen_ns)
                .map(|&(_, id)| id)
        };
        if let Some(id) = known(&fresh.tracks) {
            return Ok(Some(id));
        }
        if let Some(id) = known(&self.caches.lock().unwrap_or_else(|e| e.into_inner()).tracks) {
            return Ok(Some(id));
        }
        let row = sqlx::query("SELECT id FROM tracks WHERE signal_id = $1 AND first_seen = $2")
            .bind(&**signal_id)
            .bind(first_seen_ns)
            .fetch_optional(&mut **tx)
            .await?;
        let id = row.map(|r| r.try_get::<i64, _>(0)).transpose()?;
        if let Some(id) = id {
            fresh.tracks.insert(signal_id.clone(), (first_seen_ns, id));
        }
        Ok(id)
    }

    /// Inserts observations many rows per statement; returns those without a track.
    async fn write_observations(
        &self,
        tx: &mut Transaction<'static, Any>,
        fresh: &mut Fresh,
        observations: &[&ObservationRecord],
    ) -> Result<u64, HistoryError> {
        let mut rows = Vec::with_capacity(observations.len());
        let mut misses = Vec::new();
        {
            // Ids known already are looked up under one lock for the whole batch (this is the
            // hot path: tens of thousands of observations a second).
            let caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
            for o in observations {
                let track = [&fresh.tracks, &caches.tracks].into_iter().find_map(|map| {
                    map.get(&o.signal_id)
                        .filter(|(first_seen, _)| *first_seen == o.first_seen_ns)
                        .map(|&(_, id)| id)
                });
                let receiver = [&fresh.receivers, &caches.receivers]
                    .into_iter()
                    .find_map(|map| map.get(&o.receiver).copied());
                match (track, receiver) {
                    (Some(track), Some(receiver)) => rows.push((track, receiver, *o)),
                    _ => misses.push(*o),
                }
            }
        }
        let mut orphans = 0;
        for o in misses {
            match self.track_id(tx, fresh, &o.signal_id, o.first_seen_ns).await? {
                Some(track) => {
                    let receiver = self.receiver_id(tx, fresh, &o.receiver).await?;
                    rows.push((track, receiver, o));
                }
                None => orphans += 1,
            }
        }
        for chunk in rows.chunks(OBSERVATIONS_PER_STATEMENT) {
            let mut sql = Sql::new(
                self.backend,
                "INSERT INTO observations (start, track_id, receiver_id, stop, samples, power_min_dbfs, \
                 power_mean_dbfs, power_max_dbfs, snr_min_db, snr_mean_db, snr_max_db) VALUES ",
            );
            for (i, (track, receiver, o)) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.bind(o.start_ns)
                    .push(", ")
                    .bind(*track)
                    .push(", ")
                    .bind(*receiver)
                    .push(", ");
                sql.bind(o.stop_ns).push(", ");
                sql.bind(i64::from(o.samples));
                for x in o.power_dbfs.iter().chain(&o.snr_db) {
                    sql.push(", ").bind(*x);
                }
                sql.push(")");
            }
            // A summary stored before (a replay) stays as it was.
            sql.push(" ON CONFLICT (start, track_id, receiver_id) DO NOTHING");
            let (text, args) = sql.parts();
            sqlx::query_with(&text, args).execute(&mut **tx).await?;
        }
        // A signal heard is a signal seen: a steady carrier is reported only when it changes,
        // so its observation windows are what keep its track's `last_seen` (searches by time,
        // novelty and retention go by it) up to date, to within a window. A lost track keeps
        // the time its `lost` report gives (its last windows are closed with that report and
        // end up to a window later than it was last heard).
        let mut heard_until: HashMap<i64, i64> = HashMap::new();
        for (track, _, o) in &rows {
            let until = heard_until.entry(*track).or_insert(o.stop_ns);
            *until = (*until).max(o.stop_ns);
        }
        for (track, until) in heard_until {
            sqlx::query("UPDATE tracks SET last_seen = $1 WHERE id = $2 AND last_seen < $1 AND lost = 0")
                .bind(until)
                .bind(track)
                .execute(&mut **tx)
                .await?;
        }
        Ok(orphans)
    }

    async fn write_localization(
        &self,
        tx: &mut Transaction<'static, Any>,
        r: &LocalizationReport,
    ) -> Result<(), HistoryError> {
        // The track of this live id at that time: the latest to start at or before it.
        let track: Option<i64> = sqlx::query(
            "SELECT id FROM tracks WHERE signal_id = $1 AND first_seen <= $2 ORDER BY first_seen DESC LIMIT 1",
        )
        .bind(&r.signal_id)
        .bind(r.timestamp.0)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get::<i64, _>(0))
        .transpose()?;
        sqlx::query(
            "INSERT INTO localizations (time, signal_id, track_id, method, latitude, longitude, uncertainty_m, \
             confidence, semi_major_m, semi_minor_m, orientation_deg, gdop, frequency_hz, receivers, excluded, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(r.timestamp.0)
        .bind(&r.signal_id)
        .bind(track)
        .bind(super::query::method_name(r.method))
        .bind(r.latitude)
        .bind(r.longitude)
        .bind(r.uncertainty_m)
        .bind(r.confidence)
        .bind(r.ellipse.semi_major_m)
        .bind(r.ellipse.semi_minor_m)
        .bind(r.ellipse.orientation_deg)
        .bind(r.gdop)
        .bind(r.frequency_hz)
        .bind(to_json(&r.receivers))
        .bind(to_json(&r.excluded))
        .bind(r.note.as_deref())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn write_status(
        &self,
        tx: &mut Transaction<'static, Any>,
        fresh: &mut Fresh,
        change: &ReceiverStatusChange,
    ) -> Result<(), HistoryError> {
        let receiver = self.receiver_id(tx, fresh, &change.receiver).await?;
        sqlx::query(
            "INSERT INTO receiver_status (time, receiver_id, status, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(change.time.0)
        .bind(receiver)
        .bind(super::query::wire_name(&change.status))
        .bind(change.detail.as_deref())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn write_occupancy(
        &self,
        tx: &mut Transaction<'static, Any>,
        fresh: &mut Fresh,
        record: &OccupancyRecord,
    ) -> Result<(), HistoryError> {
        let receiver = self.receiver_id(tx, fresh, &record.receiver).await?;
        sqlx::query(
            "INSERT INTO occupancy (receiver_id, minute, start_hz, cell_hz, cells, spectra, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (receiver_id, minute) DO NOTHING",
        )
        .bind(receiver)
        .bind(record.minute_ns)
        .bind(record.start_hz)
        .bind(record.cell_hz)
        .bind(record.cells() as i64)
        .bind(i64::from(record.spectra))
        .bind(record.pack())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

async fn write_health(
    tx: &mut Transaction<'static, Any>,
    change: &ServiceHealthChange,
) -> Result<(), HistoryError> {
    sqlx::query("INSERT INTO service_health (time, service, status, detail) VALUES ($1, $2, $3, $4)")
        .bind(change.time.0)
        .bind(&change.service)
        .bind(super::query::wire_name(&change.status))
        .bind(&change.detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// JSON text of a list stored in a TEXT column.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Invariant: lists of strings and of plain structs always serialize.
    serde_json::to_string(value).expect("plain data serializes")
}
