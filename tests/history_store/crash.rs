//! A writer killed mid-write.

use crate::fixture::*;
use sdrhub::events::{SignalState, Timestamp};
use sdrhub::history::mapping::{Measurement, ObservationSummariser};
use sdrhub::history::{Backend, HistoryConfig, HistoryStore, HistoryWriter, Record};
use std::time::Duration;

/// The environment variables of the crash child.
pub const CRASH_URL: &str = "SDRHUB_HISTORY_CRASH_URL";

/// Writes through the writer as fast as it can, printing how many records are committed, until
/// it is killed. Run by [`crash_safety`] as a child process; does nothing on its own.
#[tokio::test]
#[ignore = "a helper process of crash_safety"]
pub async fn crash_child() {
    let Ok(url) = std::env::var(CRASH_URL) else {
        return;
    };
    let store = HistoryStore::open(&HistoryConfig {
        url,
        ..HistoryConfig::default()
    })
    .await
    .unwrap();
    let (writer, _task) = HistoryWriter::spawn(store);
    let mut summariser = ObservationSummariser::new(S);
    let mut out = Vec::new();
    for round in 0i64.. {
        let first_s = round;
        let id = format!("sig-{round}");
        writer.try_record(Record::Signal(Box::new(report(
            &id,
            SignalState::New,
            first_s,
            first_s,
            20.0,
            &["rx1"],
        ))));
        for k in 0..500i64 {
            summariser.observe(
                &Measurement {
                    signal_id: &id,
                    first_seen_ns: t0() + first_s * S,
                    receiver: "rx1",
                    time_ns: t0() + first_s * S + k * S,
                    power_dbfs: -70.0,
                    snr_db: 20.0,
                },
                &mut out,
            );
        }
        for record in out.drain(..) {
            writer.try_record(record);
        }
        writer.flush().await;
        let c = writer.counters();
        println!("committed {} signals {}", c.written, round + 1);
    }
}

/// A writer killed with SIGKILL mid-write leaves a sound database with everything it had
/// committed.
pub async fn crash_safety(backend: Backend) {
    let (url, dir) = fresh_url(backend).await;
    let _cleanup = TestDbDir(dir);
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "crash::crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CRASH_URL, &url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut last = (0u64, 0u64);
        let started = std::time::Instant::now();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["committed", written, "signals", signals] = words[..] {
                last = (written.parse().unwrap(), signals.parse().unwrap());
                if last.1 >= 20 && started.elapsed() > Duration::from_millis(1500) {
                    break;
                }
            }
        }
        last
    });
    let (written, signals) = reader.join().unwrap();
    // SIGKILL, mid-batch with high probability: the child never stops writing.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        signals >= 20,
        "the child committed {signals} rounds ({written} records)"
    );

    let store = HistoryStore::open(&HistoryConfig {
        url,
        ..HistoryConfig::default()
    })
    .await
    .expect("reopen after the kill");
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    let stored = everything_paged(&store).await;
    assert!(
        stored >= signals,
        "{stored} signals stored, {signals} were committed before the kill"
    );
    let observations = store
        .observations(Timestamp(t0()), Timestamp(t0() + 100 * DAY), 200_000)
        .await
        .unwrap();
    assert!(
        observations.len() as u64 >= written - signals,
        "{} observations stored, {} committed",
        observations.len(),
        written - signals
    );
    // Still writable.
    write(
        &store,
        vec![Record::Signal(Box::new(report(
            "after",
            SignalState::New,
            0,
            0,
            1.0,
            &["rx1"],
        )))],
    )
    .await;
}
