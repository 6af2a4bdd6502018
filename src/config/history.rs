//! `[history]`: where the database is, how long and how much it keeps, and how the write path
//! batches.

use serde::{Deserialize, Serialize};

/// Default `max_bytes`: 4 GiB. The default scene (five receivers) grows the database by about
/// 65 MB a day (13 MB per receiver-day, see the README's history measurements), 1.9 GB over the
/// default 30 days of `retention_days`: retention, not size, is what normally prunes, with room
/// for a busier band; small enough for an SD card or a small VM disk.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;

/// `[history]`: the database of everything heard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Store history at all.
    pub enabled: bool,
    /// `sqlite://PATH` (relative to the working directory; the file and its directory are
    /// created on start) or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    pub url: String,
    /// Rows older than this many days are deleted.
    pub retention_days: u32,
    /// Bytes the stored rows may take at most; beyond, the oldest are deleted first (SQLite:
    /// used pages, whose space is handed back to the file system; PostgreSQL: the size of the
    /// history tables with their indexes).
    pub max_bytes: u64,
    /// Each receiver's measurements of a signal are summarised (min/mean/max power and SNR)
    /// over windows of this many seconds.
    pub observation_s: f64,
    /// Width of an occupancy cell, Hz (the FFT bin width when that is wider, rounded to whole
    /// bins).
    pub occupancy_cell_hz: f64,
    /// A new signal is `novel` when nothing was heard within the tolerance in this many days.
    pub novel_days: u32,
    /// How far from a new signal's frequency an earlier signal counts as the same, Hz (half the
    /// new signal's bandwidth when that is more).
    pub novel_tolerance_hz: f64,
    /// Records waiting for the writer at most; beyond, new records are dropped and counted (the
    /// DSP and the hub never wait for the database).
    pub queue: usize,
    /// Records written per transaction at most.
    pub batch_size: usize,
    /// A batch is written at the latest this long after its first record arrived, ms: what a
    /// crash can lose, besides the queue.
    pub batch_ms: u64,
    /// Name of `sdrhub history-writer`'s durable consumer of the events stream: NATS keeps its
    /// position (what it acknowledged) across restarts of the writer and of NATS. Run one
    /// writer per name (a second one is safe, but only doubles the work: see the role).
    pub bus_consumer: String,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            url: "sqlite://data/history.sqlite".into(),
            retention_days: 30,
            max_bytes: DEFAULT_MAX_BYTES,
            observation_s: 5.0,
            occupancy_cell_hz: 1000.0,
            novel_days: 7,
            novel_tolerance_hz: 5_000.0,
            queue: 65_536,
            batch_size: 4_096,
            batch_ms: 200,
            bus_consumer: "sdrhub-history".into(),
        }
    }
}

/// The database a `url` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (`sqlite://PATH` or `sqlite:PATH`).
    Sqlite,
    /// A PostgreSQL server (`postgres://` or `postgresql://`).
    Postgres,
}

impl Backend {
    /// The backend of `url`, or why it has none.
    pub fn of(url: &str) -> Result<Backend, String> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err("must name a file: sqlite://PATH".into());
            }
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err("must be sqlite://PATH or postgres://USER@HOST:PORT/DATABASE".into())
        }
    }
}

impl HistoryConfig {
    /// The backend of `url` (the URL is checked by [`HistoryConfig::problems`]).
    pub fn backend(&self) -> Result<Backend, String> {
        Backend::of(&self.url)
    }

    /// `url` fit for logs and messages: a password in it is replaced by `***`.
    pub fn url_redacted(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return self.url.clone();
        };
        match rest.split_once('@') {
            Some((user, host)) if user.contains(':') => {
                let name = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{name}:***@{host}")
            }
            _ => self.url.clone(),
        }
    }

    /// `retention_days` in ns.
    pub fn retention_ns(&self) -> i64 {
        i64::from(self.retention_days) * NS_PER_DAY
    }

    /// `novel_days` in ns.
    pub fn novel_ns(&self) -> i64 {
        i64::from(self.novel_days) * NS_PER_DAY
    }

    /// `observation_s` in ns.
    pub fn observation_ns(&self) -> i64 {
        (self.observation_s * 1e9).round() as i64
    }

    /// The problems of these settings, each naming its key (none when history is off).
    pub fn problems(&self) -> Vec<String> {
        let mut p = super::Problems::default();
        if !self.enabled {
            return p.into_vec();
        }
        if let Err(problem) = self.backend() {
            p.check(false, format!("history.url = {:?}: {problem}", self.url));
        }
        p.range("history.retention_days", self.retention_days, 1, 3650);
        p.check(
            ((1 << 20)..=(1 << 44)).contains(&self.max_bytes),
            format!(
                "history.max_bytes = {}: must be in 1048576..=17592186044416 (1 MiB to 16 TiB)",
                self.max_bytes
            ),
        );
        p.interval("history.observation_s", self.observation_s, 1.0, 3600.0);
        p.interval("history.occupancy_cell_hz", self.occupancy_cell_hz, 1.0, 10e6);
        p.check(
            self.novel_days >= 1 && self.novel_days <= self.retention_days,
            format!(
                "history.novel_days = {}: must be in 1..=history.retention_days ({}): older history is deleted",
                self.novel_days, self.retention_days
            ),
        );
        p.interval("history.novel_tolerance_hz", self.novel_tolerance_hz, 0.0, 10e6);
        p.range("history.queue", self.queue, 16, 10_000_000);
        p.check(
            self.batch_size >= 1 && self.batch_size <= self.queue,
            format!(
                "history.batch_size = {}: must be in 1..=history.queue ({})",
                self.batch_size, self.queue
            ),
        );
        p.check(
            (1..=1000).contains(&self.batch_ms),
            format!(
                "history.batch_ms = {}: must be in 1..=1000 (a crash loses at most this much)",
                self.batch_ms
            ),
        );
        p.check(
            super::bus::is_token(&self.bus_consumer),
            format!(
                "history.bus_consumer = {:?}: must be 1 to 64 letters, digits, '-' or '_'",
                self.bus_consumer
            ),
        );
        p.into_vec()
    }
}

/// Nanoseconds in a day.
pub const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        let config = HistoryConfig::default();
        assert_eq!(config.problems(), Vec::<String>::new());
        assert_eq!(config.backend(), Ok(Backend::Sqlite));
        assert_eq!(config.retention_ns(), 30 * NS_PER_DAY);
    }

    #[test]
    fn problems_name_their_keys() {
        let config = HistoryConfig {
            url: "mysql://db/history".into(),
            retention_days: 0,
            max_bytes: 1000,
            observation_s: 0.5,
            occupancy_cell_hz: 0.0,
            novel_days: 40,
            novel_tolerance_hz: -1.0,
            queue: 8,
            batch_size: 0,
            batch_ms: 5000,
            bus_consumer: "a.b".into(),
            ..HistoryConfig::default()
        };
        let problems = config.problems();
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "history.url",
                "history.retention_days",
                "history.max_bytes",
                "history.observation_s",
                "history.occupancy_cell_hz",
                "history.novel_days",
                "history.novel_tolerance_hz",
                "history.queue",
                "history.batch_size",
                "history.batch_ms",
                "history.bus_consumer"
            ],
            "{problems:#?}"
        );
        let off = HistoryConfig {
            enabled: false,
            ..config
        };
        assert!(off.problems().is_empty(), "a disabled history is not checked");
    }

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(Backend::of("sqlite://data/h.sqlite"), Ok(Backend::Sqlite));
        assert_eq!(
            Backend::of("sqlite:/var/lib/h.sqlite?mode=rwc"),
            Ok(Backend::Sqlite)
        );
        assert_eq!(
            Backend::of("postgres://u:p@127.0.0.1:5432/h"),
            Ok(Backend::Postgres)
        );
        assert_eq!(Backend::of("postgresql://h/db"), Ok(Backend::Postgres));
        assert!(Backend::of("sqlite://").is_err());
        assert!(Backend::of("sqlite::memory:").is_err());
        assert!(Backend::of("data/h.sqlite").is_err());
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        let with = |url: &str| HistoryConfig {
            url: url.into(),
            ..HistoryConfig::default()
        };
        assert_eq!(
            with("postgres://sdrhub:s3cret@db:5432/history").url_redacted(),
            "postgres://sdrhub:***@db:5432/history"
        );
        assert_eq!(
            with("postgres://sdrhub@db/history").url_redacted(),
            "postgres://sdrhub@db/history"
        );
        assert_eq!(
            with("sqlite://data/h.sqlite").url_redacted(),
            "sqlite://data/h.sqlite"
        );
    }
}
