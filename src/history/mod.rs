//! History: a database of everything heard (signal tracks, per-receiver observation summaries,
//! localizations, receiver and service changes, spectrum occupancy, known signals).
//!
//! ```text
//! hub events / bus --mapping--> Records --try_record (never waits)--> [bounded queue] --> writer task
//!   DSP spectra --OccupancyAccumulator--/      full: dropped + counted       batches by count/time,
//!                                                                            one transaction each,
//!                                                                            prunes every minute
//!                                                        REST <--reads-- HistoryStore (SQLite | PostgreSQL)
//! ```
//!
//! - `crate::config::history` holds the `[history]` settings.
//! - [`store`]: [`HistoryStore`], the database: opening (migrations from `migrations/sqlite`
//!   or `migrations/postgres`), size and pruning; [`write`] stores records in one transaction,
//!   [`query`] answers the REST questions, [`known`] holds known signals and novelty.
//! - [`writer`]: [`HistoryWriter`], the cheap handle in front of the queue, and its task.
//! - [`mapping`]: live events to records; [`occupancy`]: spectra to per-minute occupancy.
//! - [`alerts`]: alerts stored in their latest state, read back after a restart;
//!   [`baseline`]: the hourly occupancy baselines `level` alerts compare with.
//! - [`feed`]: the bus's events to records for `sdrhub history-writer` (per-node change
//!   detection, resumed from the database after a restart).
//!
//! # Two backends, one store
//! SQLite (the embedded default: WAL, `synchronous = NORMAL`, file and directory created on
//! start) and PostgreSQL are both reached through sqlx's `Any` driver, with one SQL text per
//! statement (`$N` placeholders, `ON CONFLICT` upserts and `CASE` instead of `max`/`GREATEST`
//! work in both), so there is one implementation and the one test suite exercises the same code
//! on both. What differs is in [`Backend`] matches in [`store`]: connection settings, the
//! migrations directory, how size is measured and how freed space is handed back. A trait with
//! two implementations would have duplicated every query for no caller that needs to choose at
//! compile time; a trait object would have boxed every future.
//!
//! # Back-pressure
//! Producers (the hub's event loop, DSP threads, the bus consumer) call
//! [`HistoryWriter::try_record`], which never waits: when the queue (`history.queue`) is full the
//! record is dropped and counted (`dropped`, shown in `services:health` and `/metrics`). The
//! writer task is the only one that waits, on the database. A batch that fails is retried
//! ([`writer::WRITE_ATTEMPTS`]) and then dropped and counted (`failed`).

pub mod alerts;
pub mod baseline;
pub mod feed;
pub mod known;
pub mod live;
pub mod mapping;
pub mod occupancy;
pub mod query;
pub mod record;
mod sql;
pub mod store;
pub mod write;
pub mod writer;

pub use crate::config::history::{Backend, HistoryConfig};
pub use live::LiveHistory;
pub use record::{BusPosition, Entry, Record};
pub use store::HistoryStore;
pub use writer::{HistoryWriter, WriterCounters};

/// What went wrong with history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The configuration cannot work (the message names the key).
    #[error("{0}")]
    Config(String),
    /// The SQLite file's directory could not be created.
    #[error("cannot create the history directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database refused or failed.
    #[error("history database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("history schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query parameter is wrong (the message names it).
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The answer would be larger than a limit.
    #[error("{0}")]
    TooLarge(String),
    /// A stored row cannot be read back.
    #[error("history row unreadable: {0}")]
    Corrupt(String),
}

impl HistoryError {
    /// A wrong query parameter.
    pub fn invalid(message: impl Into<String>) -> Self {
        HistoryError::Invalid(vec![message.into()])
    }
}
