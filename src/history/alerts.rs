//! Alerts in the database: every change of an alert stored as its latest state (table
//! `alerts`), the active ones read back when the hub starts again, the past ones listed. (Also
//! the lookup of a live signal's track, which alerts and recordings link to.)

use super::store::HistoryStore;
use super::HistoryError;
use crate::events::AlertReport;
use sqlx::{Any, Row, Transaction};

/// The n of `alert-<n>`; `None` for an id of another form.
pub fn alert_number(alert_id: &str) -> Option<i64> {
    alert_id
        .strip_prefix("alert-")?
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
}

/// Stores `report` as its alert's latest state (created at its first change). An id of
/// another form than `alert-<n>` is not stored (the engine makes no other).
pub(crate) async fn write_alert(
    tx: &mut Transaction<'_, Any>,
    report: &AlertReport,
) -> Result<(), HistoryError> {
    let Some(id) = alert_number(&report.alert_id) else {
        tracing::warn!(alert = %report.alert_id, "alert id of an unknown form is not stored");
        return Ok(());
    };
    // Invariant: an alert report is plain data, which always serializes.
    let json = serde_json::to_string(report).expect("an alert report serializes");
    sqlx::query(
        "INSERT INTO alerts (id, rule, raised_at, resolved_at, report) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET resolved_at = excluded.resolved_at, report = excluded.report",
    )
    .bind(id)
    .bind(&report.rule)
    .bind(report.raised_at.0)
    .bind(report.resolved_at.map(|t| t.0))
    .bind(json)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn reports(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<AlertReport>, HistoryError> {
    rows.iter()
        .map(|row| {
            let json: String = row.try_get(0)?;
            serde_json::from_str(&json).map_err(|e| HistoryError::Corrupt(format!("alert: {e}")))
        })
        .collect()
}

impl HistoryStore {
    /// The alerts stored as active (not resolved), oldest first.
    pub async fn active_alerts(&self) -> Result<Vec<AlertReport>, HistoryError> {
        let rows = sqlx::query("SELECT report FROM alerts WHERE resolved_at IS NULL ORDER BY raised_at, id")
            .fetch_all(&self.pool)
            .await?;
        reports(rows)
    }

    /// The `limit` alerts resolved last, newest first.
    pub async fn past_alerts(&self, limit: usize) -> Result<Vec<AlertReport>, HistoryError> {
        let rows = sqlx::query(
            "SELECT report FROM alerts WHERE resolved_at IS NOT NULL \
             ORDER BY resolved_at DESC, id DESC LIMIT $1",
        )
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(&self.pool)
        .await?;
        reports(rows)
    }

    /// Alert `alert_id` as stored last, if it is.
    pub async fn alert(&self, alert_id: &str) -> Result<Option<AlertReport>, HistoryError> {
        let Some(id) = alert_number(alert_id) else {
            return Ok(None);
        };
        let rows = sqlx::query("SELECT report FROM alerts WHERE id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(reports(rows)?.into_iter().next())
    }

    /// The history id of live signal `signal_id`'s latest track (what
    /// `GET /api/v1/history/signals/{id}` shows), if it is stored. Live ids start again with
    /// each process; the latest track of one is the live signal's.
    pub async fn latest_track(&self, signal_id: &str) -> Result<Option<i64>, HistoryError> {
        let row = sqlx::query("SELECT id FROM tracks WHERE signal_id = $1 ORDER BY first_seen DESC LIMIT 1")
            .bind(signal_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
    }

    /// The largest alert number stored (0 when none): a restarted engine numbers after it.
    pub async fn last_alert_number(&self) -> Result<u64, HistoryError> {
        let row = sqlx::query("SELECT MAX(id) FROM alerts")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0).max(0) as u64)
    }
}
