//! The change logs: receiver status changes and service health changes, both rows of time,
//! name, status and detail.

use super::{limit, parse_wire, CHANGES_LIMIT_MAX};
use crate::events::history::{ReceiverStatusChange, ServiceHealthChange};
use crate::events::{HealthStatus, ReceiverStatus, Timestamp};
use crate::history::store::HistoryStore;
use crate::history::HistoryError;
use serde::de::DeserializeOwned;
use sqlx::Row;

/// Receiver status changes in [$1, $2), oldest first, at most $3: time, receiver, status, detail.
const RECEIVER_STATUS_CHANGES: &str = "SELECT s.time, r.name, s.status, s.detail FROM receiver_status s \
     JOIN receivers r ON r.id = s.receiver_id WHERE s.time >= $1 AND s.time < $2 ORDER BY s.time, r.name LIMIT $3";

/// Service health changes in [$1, $2), oldest first, at most $3: time, service, status, detail.
const SERVICE_HEALTH_CHANGES: &str = "SELECT time, service, status, detail FROM service_health \
     WHERE time >= $1 AND time < $2 ORDER BY time, service LIMIT $3";

/// An entry of a change log, made from its row.
trait ChangeEntry {
    /// The status, stored by its wire name.
    type Status: DeserializeOwned;
    /// The detail column's type.
    type Detail: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>;
    fn new(time: Timestamp, name: String, status: Self::Status, detail: Self::Detail) -> Self;
}

impl ChangeEntry for ReceiverStatusChange {
    type Status = ReceiverStatus;
    /// `NULL` when all is well.
    type Detail = Option<String>;
    fn new(time: Timestamp, receiver: String, status: Self::Status, detail: Self::Detail) -> Self {
        Self {
            time,
            receiver,
            status,
            detail,
        }
    }
}

impl ChangeEntry for ServiceHealthChange {
    type Status = HealthStatus;
    type Detail = String;
    fn new(time: Timestamp, service: String, status: Self::Status, detail: Self::Detail) -> Self {
        Self {
            time,
            service,
            status,
            detail,
        }
    }
}

impl HistoryStore {
    /// Receiver status changes in `[from, to)`, oldest first, at most `limit`.
    pub async fn status_changes(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<ReceiverStatusChange>, HistoryError> {
        self.changes(RECEIVER_STATUS_CHANGES, (from, to, limit), "receiver status")
            .await
    }

    /// Service health changes in `[from, to)`, oldest first, at most `limit`.
    pub async fn health_changes(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<ServiceHealthChange>, HistoryError> {
        self.changes(SERVICE_HEALTH_CHANGES, (from, to, limit), "health status")
            .await
    }

    /// The entries of the change log query `sql` (parameters from, to, limit); `what` names the
    /// status in errors.
    async fn changes<E: ChangeEntry>(
        &self,
        sql: &str,
        (from, to, count): (Timestamp, Timestamp, usize),
        what: &str,
    ) -> Result<Vec<E>, HistoryError> {
        let count = limit(Some(count), count, CHANGES_LIMIT_MAX)?;
        let rows = sqlx::query(sql)
            .bind(from.0)
            .bind(to.0)
            .bind(count as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get(2)?;
                Ok(E::new(
                    Timestamp(row.try_get(0)?),
                    row.try_get(1)?,
                    parse_wire(&status, what)?,
                    row.try_get(3)?,
                ))
            })
            .collect()
    }
}
