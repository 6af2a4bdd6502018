//! `--history URL` of `sdrhub detect` and `sdrhub locate`: their results stored in the history
//! database the live hub and `sdrhub history-writer` fill, so recordings and live data are
//! searched alike.
//!
//! A signal found in a recording becomes a signal track of the recording's receiver
//! (`<receiver>/sig-<n>`), from its first to its last spectrum, timed by the recording (the
//! time of its first sample plus the sample offset, never the wall clock); a TDOA fix becomes a
//! localization at the time of its window. The tools run to the end of their file, then write
//! their results in transactions of [`ENTRIES_PER_TRANSACTION`].
//!
//! Each run's results are numbered in order under a mark named after the tool, the receiver
//! and the recording's first sample (`detect:rx1@1632233600000000000`), kept like a bus
//! stream's mark ([`crate::history::BusPosition`]): running a tool again over the same
//! recording stores nothing twice, and says so.

use crate::config::Config;
use crate::events::{SignalReport, SignalState, Timestamp};
use crate::history::record::Records;
use crate::history::{BusPosition, Entry, HistoryConfig, HistoryStore, Record};
use crate::tools::detect::SignalRecord;
use anyhow::Context;
use std::sync::Arc;

/// Results written per transaction: one transaction per result would cost a round trip (and,
/// on SQLite, a sync) each; a run of a long recording finds tens of thousands.
pub const ENTRIES_PER_TRANSACTION: usize = 1000;

/// Where a tool's results go: the database, and the mark they are numbered under.
pub struct HistoryOutput {
    runtime: tokio::runtime::Runtime,
    store: HistoryStore,
    mark: Arc<str>,
    next: u64,
    /// The last result an earlier run over the same recording stored.
    earlier: u64,
    pending: Vec<Entry>,
    /// Results stored.
    pub stored: u64,
    /// Results skipped as stored by an earlier run over the same recording.
    pub already: u64,
}

impl std::fmt::Debug for HistoryOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryOutput")
            .field("mark", &self.mark)
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

impl HistoryOutput {
    /// Opens the database of `url` (created, or its schema updated, if need be) with the other
    /// `[history]` settings of `config`, for results numbered under `mark`.
    pub fn open(url: &str, config: &Config, mark: String) -> anyhow::Result<HistoryOutput> {
        let settings = HistoryConfig {
            enabled: true,
            url: url.to_string(),
            ..config.history.clone()
        };
        let problems = settings.problems();
        if !problems.is_empty() {
            anyhow::bail!("--history {url}: {}", problems.join("; "));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime for --history")?;
        let store = runtime
            .block_on(HistoryStore::open(&settings))
            .with_context(|| format!("--history: cannot open {}", settings.url_redacted()))?;
        let earlier = runtime
            .block_on(store.bus_position(&mark))
            .context("--history: cannot read the results stored before")?
            .unwrap_or(0);
        Ok(HistoryOutput {
            runtime,
            store,
            mark: mark.into(),
            next: 0,
            earlier,
            pending: Vec::new(),
            stored: 0,
            already: 0,
        })
    }

    /// Adds the records of one result (written in one transaction with the next ones).
    pub fn push(&mut self, records: Vec<Record>) -> anyhow::Result<()> {
        self.next += 1;
        self.pending.push(Entry {
            position: Some(BusPosition {
                stream: self.mark.clone(),
                seq: self.next,
            }),
            records: Records::Many(records),
        });
        if self.pending.len() >= ENTRIES_PER_TRANSACTION {
            self.write()?;
        }
        Ok(())
    }

    /// Writes what is left and closes the database; a line on stderr says what was stored.
    pub fn finish(mut self, tool: &str) -> anyhow::Result<()> {
        self.write()?;
        self.runtime.block_on(self.store.close());
        eprintln!(
            "sdrhub {tool}: {} result(s) stored in the history ({}){}",
            self.stored,
            self.store.config().url_redacted(),
            if self.already > 0 {
                format!(
                    "; {} were stored by an earlier run over this recording and were not stored again",
                    self.already
                )
            } else {
                String::new()
            }
        );
        Ok(())
    }

    fn write(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut entries = std::mem::take(&mut self.pending);
        // Results an earlier run stored are left out here; the store would skip them too.
        let before = entries.len();
        entries.retain(|e| e.position.as_ref().is_none_or(|p| p.seq > self.earlier));
        self.already += (before - entries.len()) as u64;
        if entries.is_empty() {
            return Ok(());
        }
        self.runtime
            .block_on(self.store.write(&entries))
            .context("--history: cannot store the results")?;
        self.stored += entries.len() as u64;
        Ok(())
    }
}

/// The mark of one tool's run over one receiver's recording that starts at `start_ns`.
pub fn mark(tool: &str, receiver: &str, start_ns: i64) -> String {
    format!("{tool}:{receiver}@{start_ns}")
}

/// A signal found in a recording of `receiver` whose first sample was at `start_ns`, as the
/// records of its track: its measurements, then its end.
pub fn signal_records(
    signal: &SignalRecord,
    receiver: &str,
    sample_rate_hz: f64,
    start_ns: i64,
) -> Vec<Record> {
    let at = |sample: u64| Timestamp(start_ns + (sample as f64 / sample_rate_hz * 1e9).round() as i64);
    let report = SignalReport {
        signal_id: signal_id(receiver, signal.id),
        state: SignalState::New,
        frequency_hz: signal.frequency_hz,
        frequency_mhz: signal.frequency_hz / 1e6,
        bandwidth_hz: signal.bandwidth_hz,
        snr_db: signal.snr_db,
        power_dbfs: signal.power_dbfs,
        peak_power_dbfs: signal.peak_power_dbfs,
        websdr_id: receiver.to_string(),
        receivers: vec![receiver.to_string()],
        first_seen: at(signal.start_sample),
        timestamp: at(signal.end_sample),
        known: None,
        novel: false,
        identity: Default::default(),
    };
    // The lost report closes the track without counting in its means (see `write`).
    let lost = SignalReport {
        state: SignalState::Lost,
        ..report.clone()
    };
    vec![Record::Signal(Box::new(report)), Record::Signal(Box::new(lost))]
}

/// The id under which a recording's signal `n` is stored: its receiver's, as a node's signals
/// on the bus are its node's.
pub fn signal_id(receiver: &str, n: u64) -> String {
    format!("{receiver}/{}", crate::pipeline::fusion::signal_id(n))
}
