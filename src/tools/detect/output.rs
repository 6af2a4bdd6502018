//! Where `sdrhub detect` (and `sdrhub record`) send the signals they find: one JSON line each
//! on stdout and, with `--history`, the history database.

use super::DetectArgs;
use super::SignalRecord;
use crate::config::Config;
use anyhow::{bail, Context};
use sdrhub_hardware::recording::parse_datetime_ns;
use std::io::Write;

/// Writes signal lines to stdout; notices a closed pipe (`sdrhub detect f | head`).
pub(crate) struct LinePrinter {
    out: std::io::StdoutLock<'static>,
    sample_rate_hz: f64,
    start_time_ns: Option<i64>,
    /// Lines printed.
    pub(crate) printed: u64,
    /// The reader went away: stop quietly.
    pub(crate) closed: bool,
}

impl LinePrinter {
    pub(crate) fn new(sample_rate_hz: f64, start_time_ns: Option<i64>) -> Self {
        Self {
            out: std::io::stdout().lock(),
            sample_rate_hz,
            start_time_ns,
            printed: 0,
            closed: false,
        }
    }

    pub(crate) fn print(&mut self, signal: &SignalRecord) -> anyhow::Result<()> {
        if self.closed {
            return Ok(());
        }
        let line = signal.line(self.sample_rate_hz, self.start_time_ns);
        // Invariant: the line is plain numbers and strings.
        let mut text = serde_json::to_string(&line).expect("a signal line serializes");
        text.push('\n');
        match self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
        {
            Ok(()) => {
                self.printed += 1;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(e).context("cannot write to stdout"),
        }
    }
}

/// Where `detect` sends each signal: a JSON line on stdout and, with `--history`, the history
/// database (see [`super::history`]).
pub(super) struct Results {
    printer: LinePrinter,
    history: Option<Stored>,
}

/// `--history`: the database, and what times and names a signal there.
struct Stored {
    output: crate::tools::history::HistoryOutput,
    receiver: String,
    sample_rate_hz: f64,
    start_ns: i64,
}

impl Results {
    /// The outputs for a recording of `receiver` at `sample_rate_hz` whose first sample was at
    /// `recorded_start_ns` (`--receiver` and `--start-time` take precedence).
    pub(super) fn new(
        args: &DetectArgs,
        config: &Config,
        receiver: &str,
        sample_rate_hz: f64,
        recorded_start_ns: Option<i64>,
    ) -> anyhow::Result<Self> {
        let start_ns = match &args.start_time {
            Some(text) => Some(parse_datetime_ns(text).with_context(|| {
                format!("--start-time {text:?}: expected an RFC 3339 time, e.g. 2024-05-01T12:00:00Z")
            })?),
            None => recorded_start_ns,
        };
        let history = match &args.history {
            None => None,
            Some(url) => {
                let Some(start_ns) = start_ns else {
                    bail!(
                        "--history: {} does not say when it was recorded (no core:datetime); give --start-time",
                        args.file.display()
                    );
                };
                let receiver = args.receiver.clone().unwrap_or_else(|| receiver.to_string());
                let mark = crate::tools::history::mark("detect", &receiver, start_ns);
                Some(Stored {
                    output: crate::tools::history::HistoryOutput::open(url, config, mark)?,
                    receiver,
                    sample_rate_hz,
                    start_ns,
                })
            }
        };
        Ok(Self {
            printer: LinePrinter::new(sample_rate_hz, start_ns),
            history,
        })
    }

    pub(super) fn emit(&mut self, signal: &SignalRecord) -> anyhow::Result<()> {
        self.printer.print(signal)?;
        if let Some(h) = &mut self.history {
            h.output.push(crate::tools::history::signal_records(
                signal,
                &h.receiver,
                h.sample_rate_hz,
                h.start_ns,
            ))?;
        }
        Ok(())
    }

    /// Nothing wants more signals: stdout was closed and nothing is stored.
    pub(super) fn done(&self) -> bool {
        self.printer.closed && self.history.is_none()
    }

    /// Writes what the database has not got yet; the lines printed.
    pub(super) fn finish(self) -> anyhow::Result<u64> {
        if let Some(h) = self.history {
            h.output.finish("detect")?;
        }
        Ok(self.printer.printed)
    }
}

/// The receiver id of a SigMF or raw recording: its base name, as a replay of it is named.
pub(super) fn file_receiver(file: &std::path::Path) -> String {
    let base = sdrhub_hardware::recording::sigmf_base(file);
    base.file_name().map_or_else(
        || base.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
