//! The database: opening it, its size, and pruning by age and by size.

use super::HistoryError;
use super::{Backend, HistoryConfig};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections to the database: the writer's, and a few for REST readers at once (SQLite in
/// WAL mode reads concurrently with the one writer; PostgreSQL servers allow ~100 connections
/// in all, shared with other clients).
const POOL_CONNECTIONS: u32 = 4;
/// How long an SQLite statement waits for another connection's write lock, ms: longer than
/// any batch or prune takes, so readers and known-signal edits wait rather than fail.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;
/// SQLite page size of a new database: an occupancy row (3 bytes a cell, ~3 KB for the default
/// 1 024 cells) fills 75 % of a 4 KiB page, alone; five fit in 16 KiB.
const SQLITE_PAGE_BYTES: u32 = 16_384;
/// Bytes the SQLite write-ahead log is truncated to after a checkpoint: a big prune can grow it
/// far beyond its usual few MB.
const SQLITE_WAL_LIMIT_BYTES: u64 = 64 << 20;
/// How long to wait for a connection (PostgreSQL may be starting).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A size-driven prune keeps this share of `max_bytes`, so it does not run again at the next
/// insert.
pub const PRUNE_TARGET: f64 = 0.9;
/// Size-driven prune rounds at most per [`HistoryStore::prune`] (SQLite repeats while still too
/// big: the rows of a time slice are not spread evenly over it).
const PRUNE_ROUNDS_MAX: usize = 8;
/// PostgreSQL prunes by size again only once it grew this much past the size after the last
/// prune (at least 1 MiB): VACUUM's free-space and visibility maps grow the files by a few pages
/// right after a prune, which is not new data.
const REGROWTH_SHARE: f64 = 0.02;
/// `history_meta` key of the size measured after the last size-driven prune.
const PRUNED_AT_BYTES: &str = "pruned_at_bytes";

/// Every table with rows that age, and its time column. Tracks go last and by `last_seen`: a
/// track outlives its observations and fixes, and its `track_receivers` go with it (cascade).
/// Alerts age from when they resolved: an active alert (`resolved_at` NULL) is never pruned.
pub(crate) const AGED_TABLES: [(&str, &str); 7] = [
    ("alerts", "resolved_at"),
    ("observations", "start"),
    ("localizations", "time"),
    ("receiver_status", "time"),
    ("service_health", "time"),
    ("occupancy", "minute"),
    ("tracks", "last_seen"),
];

/// The history database (a cheap clone: the pool and caches are shared).
#[derive(Debug, Clone)]
pub struct HistoryStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) config: Arc<HistoryConfig>,
    pub(crate) caches: Arc<Mutex<Caches>>,
}

/// Ids the writer looked up before (receivers by name, the latest track of each live id), so
/// a batch of observations costs no lookups. Only committed ids are put in.
#[derive(Debug, Default)]
pub(crate) struct Caches {
    pub receivers: HashMap<Arc<str>, i64>,
    /// Live signal id -> (first_seen, track id) of its latest track.
    pub tracks: HashMap<Arc<str>, (i64, i64)>,
}

/// Entries in [`Caches::tracks`] at most; it is cleared when full (tracks are looked up again,
/// one query each).
pub(crate) const TRACK_CACHE_MAX: usize = 65_536;

/// What a prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    /// Rows older than `retention_days`.
    pub expired_rows: u64,
    /// Rows deleted because the database was over `max_bytes`.
    pub oversize_rows: u64,
    /// Size after pruning, bytes ([`HistoryStore::size_bytes`]).
    pub size_bytes: u64,
}

impl HistoryStore {
    /// Opens (creating if need be) the database of `config.url` and brings its schema up to
    /// date.
    pub async fn open(config: &HistoryConfig) -> Result<HistoryStore, HistoryError> {
        let (backend, url) = connection_url(config, true)?;
        let pool = pool_options(backend).connect(&url).await?;
        migrator(backend).run(&pool).await?;
        Ok(Self::with_pool(pool, backend, config))
    }

    /// Opens the database of `config.url` for a process that reads it but does not own it (a
    /// gateway of a cluster, beside `sdrhub history-writer`, which owns the schema and the
    /// retention): no migration runs, an SQLite file is not created, and connections are made
    /// when first needed, so the caller starts whether or not the database is up yet (each
    /// query fails until it is; [`HistoryStore::schema_ready`] tells when it is). Call it
    /// within a tokio runtime.
    pub fn open_reader(config: &HistoryConfig) -> Result<HistoryStore, HistoryError> {
        let (backend, url) = connection_url(config, false)?;
        let pool = pool_options(backend).connect_lazy(&url)?;
        Ok(Self::with_pool(pool, backend, config))
    }

    /// Whether the database holds every migration this build knows (the writer has created or
    /// updated the schema). `false` as long as the schema is missing or older; an error when
    /// the database cannot be reached.
    pub async fn schema_ready(&self) -> Result<bool, HistoryError> {
        let latest = migrator(self.backend)
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        let applied = sqlx::query("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await;
        match applied {
            Ok(row) => Ok(row.try_get::<Option<i64>, _>(0)?.is_some_and(|v| v >= latest)),
            // No migrations table: nothing created yet.
            Err(sqlx::Error::Database(_)) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    fn with_pool(pool: AnyPool, backend: Backend, config: &HistoryConfig) -> HistoryStore {
        HistoryStore {
            pool,
            backend,
            config: Arc::new(config.clone()),
            caches: Arc::default(),
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &HistoryConfig {
        &self.config
    }

    /// Closes every connection (waits for statements in progress).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Bytes the history takes: SQLite, the pages in use (`page_count - freelist_count`, times
    /// `page_size`); PostgreSQL, the history tables with their indexes and TOAST.
    pub async fn size_bytes(&self) -> Result<u64, HistoryError> {
        let bytes: i64 = match self.backend {
            Backend::Sqlite => {
                let pragma = |name: &'static str| async move {
                    let row: AnyRow = sqlx::query(name).fetch_one(&self.pool).await?;
                    row.try_get::<i64, _>(0)
                };
                let pages = pragma("PRAGMA page_count").await?;
                let free = pragma("PRAGMA freelist_count").await?;
                let size = pragma("PRAGMA page_size").await?;
                (pages - free) * size
            }
            Backend::Postgres => sqlx::query(
                "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT) \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            )
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?,
        };
        Ok(bytes.max(0) as u64)
    }

    /// SQLite's `PRAGMA integrity_check` (`ok` when the file is sound); PostgreSQL checks its
    /// own pages, and answers `ok`.
    pub async fn integrity_check(&self) -> Result<String, HistoryError> {
        match self.backend {
            Backend::Sqlite => {
                let rows = sqlx::query("PRAGMA integrity_check")
                    .fetch_all(&self.pool)
                    .await?;
                let lines: Result<Vec<String>, _> = rows.iter().map(|r| r.try_get::<String, _>(0)).collect();
                Ok(lines?.join("\n"))
            }
            Backend::Postgres => Ok("ok".into()),
        }
    }

    /// The high-water mark of bus `stream`: the last stream sequence whose records are stored
    /// (a history writer resumes after it).
    pub async fn bus_position(&self, stream: &str) -> Result<Option<u64>, HistoryError> {
        let row = sqlx::query("SELECT seq FROM bus_positions WHERE stream = $1")
            .bind(stream)
            .fetch_optional(&self.pool)
            .await?;
        // -1: the stream's row exists but nothing was written yet (see `write`).
        let seq = row.map(|r| r.try_get::<i64, _>(0)).transpose()?;
        Ok(seq.filter(|&seq| seq >= 0).map(|seq| seq as u64))
    }

    /// Deletes rows older than `retention_days` before `now_ns`, then, while the database is
    /// over `max_bytes`, the oldest slice of everything (see [`PRUNE_TARGET`]).
    ///
    /// PostgreSQL does not shrink its files when rows are deleted: it reuses the space. Its size
    /// stays over `max_bytes` after a prune, so a size-driven prune runs only when the size grew
    /// past the one measured after the previous prune (kept in `history_meta`; plus
    /// [`REGROWTH_SHARE`]), i.e. when the freed space is used up.
    pub async fn prune(&self, now_ns: i64) -> Result<PruneOutcome, HistoryError> {
        let mut outcome = PruneOutcome {
            expired_rows: self
                .delete_before(now_ns.saturating_sub(self.config.retention_ns()))
                .await?,
            ..PruneOutcome::default()
        };
        let max = self.config.max_bytes;
        let mut size = self.size_bytes().await?;
        let regrowth = ((max as f64 * REGROWTH_SHARE) as u64).max(1 << 20);
        let pruned_at = self.meta(PRUNED_AT_BYTES).await?.unwrap_or(0).max(0) as u64;
        let shrinks = self.backend == Backend::Sqlite;
        let mut rounds = 0;
        while size > max && (shrinks || size > pruned_at + regrowth) && rounds < PRUNE_ROUNDS_MAX {
            rounds += 1;
            let Some(oldest) = self.oldest_ns().await? else {
                break;
            };
            // Rows are assumed spread evenly over [oldest, now]: delete the share that brings the
            // size to PRUNE_TARGET of max_bytes, and at least one minute so every round progresses.
            let keep = (PRUNE_TARGET * max as f64 / size as f64).clamp(0.0, 1.0);
            let span = (now_ns - oldest).max(0) as f64;
            let cut = oldest + ((1.0 - keep) * span) as i64;
            let cut = cut.max(oldest + super::occupancy::MINUTE_NS);
            outcome.oversize_rows += self.delete_before(cut).await?;
            self.release_space().await?;
            size = self.size_bytes().await?;
            if !shrinks {
                self.set_meta(PRUNED_AT_BYTES, size as i64).await?;
                break;
            }
        }
        // Routine retention deletes a minute's rows: SQLite hands their pages back to the file
        // system; PostgreSQL leaves them to autovacuum (a VACUUM every minute would rescan).
        if outcome.expired_rows > 0 && rounds == 0 && shrinks {
            self.release_space().await?;
            size = self.size_bytes().await?;
        }
        outcome.size_bytes = size;
        Ok(outcome)
    }

    /// Deletes every aged row older than `cut_ns`, in one transaction; returns the rows deleted.
    async fn delete_before(&self, cut_ns: i64) -> Result<u64, HistoryError> {
        let mut tx = self.pool.begin().await?;
        let mut deleted = 0;
        for (table, column) in AGED_TABLES {
            let sql = format!("DELETE FROM {table} WHERE {column} < $1");
            deleted += sqlx::query(&sql)
                .bind(cut_ns)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// The oldest time in any aged table.
    async fn oldest_ns(&self) -> Result<Option<i64>, HistoryError> {
        let mut oldest: Option<i64> = None;
        for (table, column) in AGED_TABLES {
            let sql = format!("SELECT MIN({column}) FROM {table}");
            let row = sqlx::query(&sql).fetch_one(&self.pool).await?;
            if let Some(t) = row.try_get::<Option<i64>, _>(0)? {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
        Ok(oldest)
    }

    /// Hands freed space back: SQLite returns free pages to the file system (the file shrinks);
    /// PostgreSQL marks dead rows reusable now rather than at autovacuum's next pass.
    async fn release_space(&self) -> Result<(), HistoryError> {
        match self.backend {
            Backend::Sqlite => {
                self.pool.execute("PRAGMA incremental_vacuum").await?;
            }
            Backend::Postgres => {
                let tables: Vec<&str> = AGED_TABLES.iter().map(|(t, _)| *t).collect();
                self.pool
                    .execute(format!("VACUUM {}", tables.join(", ")).as_str())
                    .await?;
            }
        }
        Ok(())
    }

    async fn meta(&self, key: &str) -> Result<Option<i64>, HistoryError> {
        let row = sqlx::query("SELECT value FROM history_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
    }

    async fn set_meta(&self, key: &str, value: i64) -> Result<(), HistoryError> {
        sqlx::query(
            "INSERT INTO history_meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The backend of `config.url` and the URL sqlx connects to (an SQLite file and its directory
/// created when `create`).
fn connection_url(config: &HistoryConfig, create: bool) -> Result<(Backend, String), HistoryError> {
    sqlx::any::install_default_drivers();
    let backend = config
        .backend()
        .map_err(|problem| HistoryError::Config(format!("history.url = {:?}: {problem}", config.url)))?;
    let url = match backend {
        Backend::Sqlite if create => sqlite_url(&config.url)?,
        Backend::Sqlite => sqlite_reader_url(&config.url),
        Backend::Postgres => config.url.clone(),
    };
    Ok((backend, url))
}

/// The schema migrations of `backend`, embedded.
fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    }
}

/// The pool settings of `backend` (SQLite's pragmas on every connection).
fn pool_options(backend: Backend) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .acquire_timeout(CONNECT_TIMEOUT)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // page_size and auto_vacuum take effect only before the first table
                    // exists (later they are no-ops). auto_vacuum lets a prune hand freed
                    // pages back to the file system.
                    for pragma in [
                        format!("PRAGMA page_size = {SQLITE_PAGE_BYTES}"),
                        "PRAGMA auto_vacuum = INCREMENTAL".to_string(),
                        "PRAGMA journal_mode = WAL".into(),
                        "PRAGMA synchronous = NORMAL".into(),
                        "PRAGMA foreign_keys = ON".into(),
                        format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"),
                        format!("PRAGMA journal_size_limit = {SQLITE_WAL_LIMIT_BYTES}"),
                    ] {
                        conn.execute(pragma.as_str()).await?;
                    }
                }
                Ok(())
            })
        })
}

/// The sqlx URL of an `sqlite://PATH` setting for a reader: the file must exist (`mode=rw`
/// unless the setting names a mode), nothing is created.
fn sqlite_reader_url(url: &str) -> String {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    let mut params: Vec<&str> = params.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rw");
    }
    format!("sqlite://{path}?{}", params.join("&"))
}

/// The sqlx URL of an `sqlite://PATH` setting, with the file's directory created and the file
/// created if missing (`mode=rwc`).
fn sqlite_url(url: &str) -> Result<String, HistoryError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| HistoryError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut params: Vec<&str> = params.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    Ok(format!("sqlite://{path}?{}", params.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file_and_keep_their_parameters() {
        let dir = std::env::temp_dir().join(format!("sdrhub-history-url-{}", std::process::id()));
        let path = dir.join("sub/h.sqlite");
        let url = sqlite_url(&format!("sqlite://{}", path.display())).unwrap();
        assert_eq!(url, format!("sqlite://{}?mode=rwc", path.display()));
        assert!(dir.join("sub").is_dir(), "the directory is created");
        let url = sqlite_url(&format!("sqlite:{}?cache=shared&mode=rw", path.display())).unwrap();
        assert_eq!(url, format!("sqlite://{}?cache=shared&mode=rw", path.display()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn readers_create_nothing() {
        let dir = std::env::temp_dir().join(format!("sdrhub-history-reader-{}", std::process::id()));
        let url = format!("sqlite://{}/sub/h.sqlite", dir.display());
        assert_eq!(
            sqlite_reader_url(&url),
            format!("sqlite://{}/sub/h.sqlite?mode=rw", dir.display())
        );
        assert!(!dir.exists(), "no directory is made for a reader");
        assert_eq!(
            sqlite_reader_url("sqlite:h.sqlite?mode=ro"),
            "sqlite://h.sqlite?mode=ro"
        );
    }
}
