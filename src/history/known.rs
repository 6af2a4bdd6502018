//! Known signals (named frequency ranges, lockouts) and novelty: the two questions asked of
//! every new track.

use super::store::HistoryStore;
use super::HistoryError;
use crate::events::history::{HistorySignal, KnownMatch, KnownSignal, KnownSignalDraft};
use crate::events::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

const KNOWN_COLUMNS: &str =
    "SELECT id, name, freq_min_hz, freq_max_hz, tags, notes, is_ignored, created, updated FROM known_signals";

fn known(row: &AnyRow) -> Result<KnownSignal, HistoryError> {
    let tags: String = row.try_get(4)?;
    Ok(KnownSignal {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        freq_min_hz: row.try_get(2)?,
        freq_max_hz: row.try_get(3)?,
        tags: serde_json::from_str(&tags)
            .map_err(|e| HistoryError::Corrupt(format!("known signal tags: {e}")))?,
        notes: row.try_get(5)?,
        ignore: row.try_get::<i64, _>(6)? != 0,
        created: Timestamp(row.try_get(7)?),
        updated: Timestamp(row.try_get(8)?),
    })
}

fn checked(draft: &KnownSignalDraft) -> Result<String, HistoryError> {
    let problems = draft.problems();
    if !problems.is_empty() {
        return Err(HistoryError::Invalid(problems));
    }
    // Invariant: a list of strings always serializes.
    Ok(serde_json::to_string(&draft.tags).expect("strings serialize"))
}

/// The narrowest of `known` whose range holds `frequency_hz` (the lowest id among equals), as
/// [`HistoryStore::known_for`] orders them.
pub fn narrowest(known: &[KnownSignal], frequency_hz: f64) -> Option<KnownMatch> {
    known
        .iter()
        .filter(|k| k.freq_min_hz <= frequency_hz && frequency_hz <= k.freq_max_hz)
        .min_by(|a, b| {
            let width = |k: &KnownSignal| k.freq_max_hz - k.freq_min_hz;
            width(a).total_cmp(&width(b)).then(a.id.cmp(&b.id))
        })
        .map(|k| KnownMatch {
            id: k.id,
            name: k.name.clone(),
            tags: k.tags.clone(),
            ignore: k.ignore,
        })
}

impl HistoryStore {
    /// Every known signal, by frequency.
    pub async fn known_signals(&self) -> Result<Vec<KnownSignal>, HistoryError> {
        let rows = sqlx::query(&format!("{KNOWN_COLUMNS} ORDER BY freq_min_hz, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(known).collect()
    }

    /// One known signal.
    pub async fn known_signal(&self, id: i64) -> Result<Option<KnownSignal>, HistoryError> {
        let row = sqlx::query(&format!("{KNOWN_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(known).transpose()
    }

    /// Stores a new known signal.
    pub async fn create_known_signal(&self, draft: &KnownSignalDraft) -> Result<KnownSignal, HistoryError> {
        let tags = checked(draft)?;
        let now = Timestamp::now().0;
        let row = sqlx::query(
            "INSERT INTO known_signals (name, freq_min_hz, freq_max_hz, tags, notes, is_ignored, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(draft.name.trim())
        .bind(draft.freq_min_hz)
        .bind(draft.freq_max_hz)
        .bind(tags)
        .bind(&draft.notes)
        .bind(i64::from(draft.ignore))
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let id: i64 = row.try_get(0)?;
        self.known_signal(id)
            .await?
            .ok_or_else(|| HistoryError::Corrupt(format!("known signal {id} vanished after its insert")))
    }

    /// Replaces known signal `id`; `None` when there is none.
    pub async fn update_known_signal(
        &self,
        id: i64,
        draft: &KnownSignalDraft,
    ) -> Result<Option<KnownSignal>, HistoryError> {
        let tags = checked(draft)?;
        let updated = sqlx::query(
            "UPDATE known_signals SET name = $1, freq_min_hz = $2, freq_max_hz = $3, tags = $4, notes = $5, \
             is_ignored = $6, updated = $7 WHERE id = $8",
        )
        .bind(draft.name.trim())
        .bind(draft.freq_min_hz)
        .bind(draft.freq_max_hz)
        .bind(tags)
        .bind(&draft.notes)
        .bind(i64::from(draft.ignore))
        .bind(Timestamp::now().0)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        self.known_signal(id).await
    }

    /// Deletes known signal `id`; whether there was one.
    pub async fn delete_known_signal(&self, id: i64) -> Result<bool, HistoryError> {
        let deleted = sqlx::query("DELETE FROM known_signals WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    /// The known signal whose range holds `frequency_hz` (the narrowest when ranges nest, so a
    /// channel inside a band wins over the band).
    pub async fn known_for(&self, frequency_hz: f64) -> Result<Option<KnownMatch>, HistoryError> {
        let row = sqlx::query(
            "SELECT id, name, tags, is_ignored FROM known_signals WHERE freq_min_hz <= $1 AND freq_max_hz >= $1 \
             ORDER BY freq_max_hz - freq_min_hz, id LIMIT 1",
        )
        .bind(frequency_hz)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let tags: String = row.try_get(2)?;
        Ok(Some(KnownMatch {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            tags: serde_json::from_str(&tags)
                .map_err(|e| HistoryError::Corrupt(format!("known signal tags: {e}")))?,
            ignore: row.try_get::<i64, _>(3)? != 0,
        }))
    }

    /// Sets `known` on stored signals: the known signal whose range holds each one's frequency
    /// now, by the rule of [`HistoryStore::known_for`] (the narrowest). The known signals are
    /// read once, not once per signal: an operator names hundreds, not millions.
    pub async fn fill_known(&self, signals: &mut [HistorySignal]) -> Result<(), HistoryError> {
        if signals.is_empty() {
            return Ok(());
        }
        let known = self.known_signals().await?;
        for signal in signals {
            signal.known = narrowest(&known, signal.frequency_hz);
        }
        Ok(())
    }

    /// Whether a signal at `frequency_hz`, `bandwidth_hz` wide, first seen at `now` is novel:
    /// no track that started before it was heard within the tolerance (`novel_tolerance_hz`,
    /// or half the bandwidth when that is more) in the last `novel_days`. The signal's own track
    /// (first seen at `now`) does not count, whether it is stored yet or not.
    ///
    /// One index range on `tracks (frequency_hz, last_seen)`: the tracks near the frequency
    /// are visited, and the first recent one ends the search.
    pub async fn novelty(
        &self,
        frequency_hz: f64,
        bandwidth_hz: f64,
        now: Timestamp,
    ) -> Result<bool, HistoryError> {
        let tolerance = self.config.novel_tolerance_hz.max(bandwidth_hz / 2.0);
        let since = now.0.saturating_sub(self.config.novel_ns());
        let heard = sqlx::query(
            "SELECT 1 FROM tracks WHERE frequency_hz >= $1 AND frequency_hz <= $2 AND last_seen >= $3 \
             AND first_seen < $4 LIMIT 1",
        )
        .bind(frequency_hz - tolerance)
        .bind(frequency_hz + tolerance)
        .bind(since)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(heard.is_none())
    }
}
