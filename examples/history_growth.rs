//! How fast the history database grows with the default scene.
//!
//! Runs the default hub (five simulated receivers at 1.024 MS/s around 145 MHz) for
//! `--seconds` (default 60), follows its events over a real WebSocket, stores them the way the
//! server will (the `history::mapping` functions into a `HistoryWriter`) in a temporary SQLite
//! file, and prints the rows and bytes of each table (SQLite's `dbstat`), scaled to one receiver
//! and one day. Occupancy needs the DSP's spectra, which the WebSocket does not carry: it is
//! measured by storing one day of minutes of the default geometry (4096-bin FFT, 1 kHz cells:
//! 1 024 cells) for one receiver.
//!
//! `cargo run --release --example history_growth -- --seconds 60`

use futures_util::StreamExt;
use sdrhub::events::{HealthReport, LocalizationReport, SignalReport, Timestamp, WebsdrsReport};
use sdrhub::history::mapping::{self, HealthChanges, ObservationSummariser, StatusChanges};
use sdrhub::history::occupancy::MINUTE_NS;
use sdrhub::history::record::OccupancyRecord;
use sdrhub::history::{Entry, HistoryConfig, HistoryStore, HistoryWriter, Record};
use sqlx::{Connection, Row};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const DAY_S: f64 = 86_400.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: f64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(60.0);
    let dir = std::env::temp_dir().join(format!("sdrhub-history-growth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let events_db = dir.join("events.sqlite");
    let occupancy_db = dir.join("occupancy.sqlite");

    let mut config = sdrhub::config::Config::default();
    config.server.bind = "127.0.0.1:0".into();
    let receivers = config.simulation.receiver_count;
    let server = sdrhub::roles::RunningServer::start(config)?;
    let history = HistoryConfig {
        url: format!("sqlite://{}", events_db.display()),
        ..HistoryConfig::default()
    };
    let store = HistoryStore::open(&history).await?;
    let (writer, task) = HistoryWriter::spawn(store.clone());
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await?;

    let mut summariser = ObservationSummariser::new(history.observation_ns());
    let mut status = StatusChanges::default();
    let mut health = HealthChanges::default();
    let mut out = Vec::new();
    let (mut reports, mut fixes) = (0u64, 0u64);
    let started = Instant::now();
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
    while let Ok(Some(message)) = tokio::time::timeout_at(until, ws.next()).await {
        let Message::Text(text) = message? else {
            continue;
        };
        let envelope: serde_json::Value = serde_json::from_str(&text)?;
        let data = envelope["data"].clone();
        match envelope["event"].as_str() {
            Some("signals:detected") => {
                let report: SignalReport = serde_json::from_value(data)?;
                reports += 1;
                writer.try_record(mapping::signal_record(&report));
                summariser.observe_report(&report, &mut out);
            }
            Some("localizations:updated") => {
                let fix: LocalizationReport = serde_json::from_value(data)?;
                fixes += 1;
                writer.try_record(mapping::localization_record(&fix));
            }
            Some("websdrs:status") => {
                let report: WebsdrsReport = serde_json::from_value(data)?;
                out.extend(status.changes(&report, Timestamp::now()));
            }
            Some("services:health") => {
                let report: HealthReport = serde_json::from_value(data)?;
                out.extend(health.changes(&report));
            }
            _ => {}
        }
        summariser.flush_before(Timestamp::now().0 - history.observation_ns(), &mut out);
        for record in out.drain(..) {
            writer.try_record(record);
        }
    }
    summariser.finish(&mut out);
    for record in out.drain(..) {
        writer.try_record(record);
    }
    writer.flush().await;
    let elapsed = started.elapsed().as_secs_f64();
    let counters = writer.counters();
    drop(writer);
    task.await?;
    server.stop().await?;

    // Active signal-seconds per receiver: what per-receiver observation windows would cost if
    // every receiver's measurements (not only the best receiver's, which the events carry)
    // were summarised.
    let page = store
        .signals(&sdrhub::history::query::SignalQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .await?;
    let heard_s: f64 = page
        .signals
        .iter()
        .map(|s| (s.last_seen.0 - s.first_seen.0) as f64 / 1e9 * s.receivers.len() as f64)
        .sum();
    store.close().await;

    // One day of occupancy of one receiver.
    let occupancy = HistoryStore::open(&HistoryConfig {
        url: format!("sqlite://{}", occupancy_db.display()),
        ..HistoryConfig::default()
    })
    .await?;
    let mut noise = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        noise
    };
    let day: Vec<Entry> = (0..1440)
        .map(|m| {
            // Mostly free cells with a few busy ones, powers around the noise floor: what the
            // default scene's band looks like.
            Entry::one(Record::Occupancy(OccupancyRecord {
                receiver: "sim-1".into(),
                minute_ns: m * MINUTE_NS,
                start_hz: 145e6 - 512_000.0 - 125.0,
                cell_hz: 1000.0,
                spectra: 1875,
                share: (0..1024)
                    .map(|_| if next() % 50 == 0 { 255 } else { 0 })
                    .collect(),
                max_power_cdb: (0..1024).map(|_| -9_600 + (next() % 600) as i16).collect(),
            }))
        })
        .collect();
    occupancy.write(&day).await?;
    // Enough observation rows for their size per row to be measured, not their pages.
    let bulk: Vec<Entry> = std::iter::once(Entry::one(Record::Signal(Box::new(SignalReport {
        signal_id: "sig-1".into(),
        state: sdrhub::events::SignalState::New,
        frequency_hz: 145e6,
        frequency_mhz: 145.0,
        bandwidth_hz: 12_500.0,
        snr_db: 30.0,
        power_dbfs: -60.0,
        peak_power_dbfs: -50.0,
        websdr_id: "sim-1".into(),
        receivers: vec!["sim-1".into()],
        first_seen: Timestamp(0),
        timestamp: Timestamp(0),
        known: None,
        novel: false,
        identity: Default::default(),
    }))))
    .chain((0..100_000i64).map(|k| {
        Entry::one(Record::Observation(sdrhub::history::record::ObservationRecord {
            signal_id: "sig-1".into(),
            first_seen_ns: 0,
            receiver: "sim-1".into(),
            start_ns: k * 5_000_000_000,
            stop_ns: (k + 1) * 5_000_000_000,
            samples: 150,
            power_dbfs: [-62.25, -60.125, -58.5],
            snr_db: [28.5, 30.25, 32.125],
        }))
    }))
    .collect();
    occupancy.write(&bulk).await?;
    occupancy.close().await;

    println!(
        "default scene, {receivers} receivers, {elapsed:.0} s: {reports} signal reports, {fixes} localizations; \
         writer {} written, {} dropped",
        counters.written, counters.dropped
    );
    let scale = DAY_S / elapsed / receivers as f64;
    let mut total = 0.0;
    println!(
        "{:<16} {:>6} {:>18} {:>10} {:>16}",
        "table", "rows", "rows/receiver-day", "bytes/row", "MB/receiver-day"
    );
    let mut events = sqlx::SqliteConnection::connect(&format!("sqlite://{}", events_db.display())).await?;
    for table in [
        "tracks",
        "track_receivers",
        "observations",
        "localizations",
        "receiver_status",
        "service_health",
    ] {
        let (rows, used) = usage(&mut events, table).await?;
        if rows == 0 {
            continue;
        }
        let per_day = rows as f64 * scale;
        let row_bytes = used as f64 / rows as f64;
        total += per_day * row_bytes / 1e6;
        println!(
            "{table:<16} {rows:>6} {per_day:>18.0} {row_bytes:>10.0} {:>16.2}",
            per_day * row_bytes / 1e6
        );
    }
    events.close().await?;
    let mut bulk = sqlx::SqliteConnection::connect(&format!("sqlite://{}", occupancy_db.display())).await?;
    let (rows, _) = usage(&mut bulk, "occupancy").await?;
    let file: i64 =
        sqlx::query("SELECT CAST(SUM(pgsize) AS INTEGER) FROM dbstat WHERE name LIKE '%occupancy%'")
            .fetch_one(&mut bulk)
            .await?
            .try_get(0)?;
    total += file as f64 / 1e6;
    println!(
        "{:<16} {:>6} {:>18} {:>10.0} {:>16.2}   (one receiver-day stored, pages included)",
        "occupancy",
        rows,
        rows,
        file as f64 / rows as f64,
        file as f64 / 1e6
    );
    let (observations, used) = usage(&mut bulk, "observations").await?;
    bulk.close().await?;
    println!("total: {total:.1} MB per receiver-day");
    let row_bytes = used as f64 / observations as f64;
    let windows = heard_s / history.observation_s * scale;
    println!(
        "observations if every receiver's measurements were summarised (not only the best receiver's, which \
         the events carry): {windows:.0} windows of {} s per receiver-day, {:.2} MB at {row_bytes:.0} bytes a row \
         with its index (measured over {observations} rows)",
        history.observation_s,
        windows * row_bytes / 1e6
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Rows of `table`, and the bytes its B-trees (the table's and its indexes') use: page sizes
/// less their free space, so a table of a few rows is not charged whole pages.
async fn usage(conn: &mut sqlx::SqliteConnection, table: &str) -> anyhow::Result<(i64, i64)> {
    let rows: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let used: Option<i64> = sqlx::query(
        "SELECT CAST(SUM(pgsize - unused) AS INTEGER) FROM dbstat WHERE name = $1 \
         OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1)",
    )
    .bind(table)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok((rows, used.unwrap_or(0)))
}
