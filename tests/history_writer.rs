//! `sdrhub history-writer` against a real nats-server (tests/common/nats.rs) and real databases
//! (PostgreSQL, started once for this binary by tests/common/postgres.rs, a fresh database per
//! test; SQLite files): every event of the events stream is stored exactly once, whatever is
//! killed when, and gateways read what it stored.

mod common;
#[path = "history_writer/model.rs"]
mod model;

use common::nats::NatsServer;
use model::{assert_stored_once, events, stored, Published, NODE};
use sdrhub::bus::publisher::Publisher;
use sdrhub::bus::{Bus, EVENTS_STREAM};
use sdrhub::config::{BusConfig, Config};
use sdrhub::events::Timestamp;
use sdrhub::history::HistoryStore;
use sdrhub::roles::history_writer::{stream_key, RunningHistoryWriter};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// The test's publisher: node [`NODE`]'s, as an acquisition node publishes.
async fn publisher(url: &str) -> (Publisher, sdrhub::bus::publisher::PublisherTask) {
    let config = BusConfig {
        url: url.into(),
        node_id: NODE.into(),
        ack_timeout_s: 1.0,
        ..BusConfig::default()
    };
    let bus = Bus::connect(&config, "test publisher", "acquire")
        .await
        .expect("a bus client");
    Publisher::spawn(bus, &config, NODE.into(), Duration::from_secs(10), true)
}

/// Waits until NATS has acknowledged the `events` the publisher was given.
async fn all_acknowledged(stats: &sdrhub::bus::publisher::PublisherStats, events: u64) {
    let started = Instant::now();
    while stats.acked.load(Ordering::Relaxed) < events {
        assert!(
            started.elapsed() < WAIT,
            "events not acknowledged by NATS: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The events stream's mark key and last sequence, asked of NATS.
async fn stream_end(url: &str) -> (String, u64) {
    let client = async_nats::connect(url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(EVENTS_STREAM).await.expect("the stream");
    let info = stream.info().await.expect("stream info");
    (
        stream_key(EVENTS_STREAM, info.created.unix_timestamp_nanos()),
        info.state.last_sequence,
    )
}

/// Waits until the history's mark of the stream is its last sequence (everything written),
/// and stays there for 1.5 s (nothing more was published).
async fn written_to_the_end(store: &HistoryStore, url: &str) -> (String, u64) {
    let started = Instant::now();
    let mut stable_since: Option<(u64, Instant)> = None;
    loop {
        let (key, last) = stream_end(url).await;
        let mark = store.bus_position(&key).await.ok().flatten();
        if mark == Some(last) {
            match stable_since {
                Some((seq, at)) if seq == last => {
                    if at.elapsed() > Duration::from_millis(1500) {
                        return (key, last);
                    }
                }
                _ => stable_since = Some((last, Instant::now())),
            }
        } else {
            stable_since = None;
        }
        assert!(
            started.elapsed() < WAIT,
            "the history's mark {mark:?} of {key} did not reach the stream's last sequence {last} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the writer has written past `seq` (it is consuming); the mark then.
async fn writing_past(store: &HistoryStore, url: &str, seq: u64) -> u64 {
    let started = Instant::now();
    loop {
        let (key, _) = stream_end(url).await;
        let mark = store.bus_position(&key).await.ok().flatten().unwrap_or(0);
        if mark > seq {
            return mark;
        }
        assert!(started.elapsed() < WAIT, "the writer wrote nothing past {seq}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The writer's configuration file: the test's databases and NATS, fast batches, health sent
/// only when it changes (so the stream falls quiet once everything is written).
fn writer_config(dir: &std::path::Path, nats: &str, history: &str) -> std::path::PathBuf {
    let path = dir.join("history-writer.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
health_interval_s = 3600.0
shutdown_grace_s = 2.0
[bus]
url = "{nats}"
node_id = "history-1"
ack_timeout_s = 1.0
[history]
url = "{history}"
batch_ms = 50
batch_size = 256
"#
        ),
    )
    .unwrap();
    path
}

/// `sdrhub history-writer` as a process; its stderr is kept for failures.
struct WriterProcess {
    child: Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl WriterProcess {
    fn start(config: &std::path::Path) -> WriterProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
            .arg("history-writer")
            .arg("--config")
            .arg(config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        WriterProcess { child, log }
    }

    /// SIGKILL: no chance to write its batch or acknowledge anything.
    fn kill(mut self) -> Vec<String> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_stored_exactly_once_through_nats_and_writer_kills() {
    const EVENTS_PER_PHASE: u64 = 400;
    let pg_url = common::postgres::server().fresh_database().await;
    let mut nats = NatsServer::start();
    let dir = nats.store.parent().unwrap().to_path_buf();
    let config_path = writer_config(&dir, &nats.url(), &pg_url);
    // A gateway's view of the same database, opened before anything created its schema.
    let mut gateway_config = Config::default();
    gateway_config.history.url = pg_url.clone();
    let reader = sdrhub::roles::gateway::open_history(&gateway_config)
        .expect("a gateway opens the history")
        .expect("history is on");
    assert!(
        !reader.schema_ready().await.expect("the database is up"),
        "no schema before the writer"
    );

    let mut writer = WriterProcess::start(&config_path);
    let (publisher, publisher_task) = publisher(&nats.url()).await;
    let stats = publisher.stats().clone();
    let base_ns = Timestamp::now().0;
    let mut model = Published::default();
    let mut n = 0u64;
    let started = Instant::now();

    // 1. NATS is killed mid-stream (SIGKILL) and restarted on the same store 0.8 s later.
    for i in 0..EVENTS_PER_PHASE {
        for event in events(n, base_ns, &mut model) {
            publisher.publish(event).await;
        }
        n += 1;
        if i == EVENTS_PER_PHASE / 2 {
            nats.kill();
            tokio::time::sleep(Duration::from_millis(800)).await;
            nats.restart();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // 2. The writer is killed (SIGKILL) while it consumes (it has written past the NATS
    //    restart), and restarted while the stream goes on.
    let mut kills = Vec::new();
    let mut logs = Vec::new();
    for i in 0..EVENTS_PER_PHASE {
        for event in events(n, base_ns, &mut model) {
            publisher.publish(event).await;
        }
        n += 1;
        if i == EVENTS_PER_PHASE / 2 {
            kills.push(writing_past(&reader, &nats.url(), kills.last().copied().unwrap_or(0)).await);
            logs.push(writer.kill());
            tokio::time::sleep(Duration::from_millis(300)).await;
            writer = WriterProcess::start(&config_path);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // 3. Both: the restarted writer killed once it writes again, NATS killed with it and
    //    restarted while the next writer starts.
    for i in 0..EVENTS_PER_PHASE {
        for event in events(n, base_ns, &mut model) {
            publisher.publish(event).await;
        }
        n += 1;
        if i == EVENTS_PER_PHASE / 4 {
            kills.push(writing_past(&reader, &nats.url(), kills.last().copied().unwrap_or(0)).await);
            logs.push(writer.kill());
            nats.kill();
            writer = WriterProcess::start(&config_path);
            tokio::time::sleep(Duration::from_millis(500)).await;
            nats.restart();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    all_acknowledged(&stats, model.events).await;
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0, "{stats:?}");
    assert_eq!(stats.accepted.load(Ordering::Relaxed), model.events);
    let published_in = started.elapsed();

    let (key, last) = written_to_the_end(&reader, &nats.url()).await;
    let caught_up_in = started.elapsed();
    assert!(
        reader.schema_ready().await.unwrap(),
        "the writer created the schema"
    );
    let got = stored(&reader).await;
    eprintln!(
        "{} events of {NODE} ({} signals, {} fixes, {} status and {} health changes) published in \
         {published_in:?} through 2 NATS kills and 2 writer kills (marks {kills:?} when killed); all \
         written by {caught_up_in:?}; stream {key} ends at {last}; publisher {stats:?}",
        model.events,
        model.signals.len(),
        model.localizations.len(),
        model.statuses.values().map(Vec::len).sum::<usize>(),
        model.health.values().map(Vec::len).sum::<usize>(),
    );
    assert_stored_once(&got, &model);
    // The bus position is the stream's last sequence: every event, the writer's own health
    // reports included, was taken.
    assert_eq!(reader.bus_position(&key).await.unwrap(), Some(last));
    // The writer's own health reached the database through the bus.
    assert!(
        got.other_services.contains("history@history-1") && got.other_services.contains("bus@history-1"),
        "{:?}\n{}",
        got.other_services,
        writer.log()
    );
    publisher_task.finish().await;
    logs.push(writer.kill());
    // Where each writer started: from the database's mark, whatever NATS had acknowledged.
    for (i, log) in logs.iter().enumerate() {
        for line in log.iter().filter(|l| l.contains("consuming the events stream")) {
            eprintln!("writer {}: {line}", i + 1);
        }
    }
}

/// A temporary directory for SQLite files, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sdrhub-hw-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An in-process writer's configuration (SQLite file `db`).
fn in_process_config(nats: &str, db: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.health_interval_s = 3600.0;
    config.server.shutdown_grace_s = 2.0;
    config.bus.url = nats.into();
    config.bus.node_id = "history-1".into();
    config.history.url = format!("sqlite://{}", db.display());
    config.history.batch_ms = 50;
    config.history.batch_size = 64;
    config
}

/// Publishes the test's events `range` and waits until NATS has acknowledged them all.
async fn publish(publisher: &Publisher, range: std::ops::Range<u64>, base_ns: i64, model: &mut Published) {
    for n in range {
        for event in events(n, base_ns, model) {
            publisher.publish(event).await;
        }
    }
    all_acknowledged(publisher.stats(), model.events).await;
}

/// The durable consumer NATS keeps for the writer.
async fn durable(url: &str) -> async_nats::jetstream::consumer::PullConsumer {
    let client = async_nats::connect(url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(EVENTS_STREAM).await.expect("the stream");
    stream
        .get_consumer(&Config::default().history.bus_consumer)
        .await
        .expect("the writer's durable consumer")
}

/// Waits until the writer's durable consumer has every event up to `seq` acknowledged (the
/// acknowledgements follow the commit, and are not waited for by the writer).
async fn acknowledged_to(url: &str, seq: u64) {
    let mut consumer = durable(url).await;
    let started = Instant::now();
    loop {
        let floor = consumer
            .info()
            .await
            .expect("consumer info")
            .ack_floor
            .stream_sequence;
        if floor >= seq {
            assert_eq!(floor, seq, "acknowledged beyond the stream");
            return;
        }
        assert!(started.elapsed() < WAIT, "acknowledged up to {floor}, not {seq}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_lost_after_the_commit_write_nothing_twice() {
    let nats = NatsServer::start();
    let dir = TempDir::new("lost-acks");
    let db = dir.0.join("history.sqlite");
    let (publisher, publisher_task) = publisher(&nats.url()).await;
    let base_ns = Timestamp::now().0;
    let mut model = Published::default();
    publish(&publisher, 0..150, base_ns, &mut model).await;

    let writer = RunningHistoryWriter::start(in_process_config(&nats.url(), &db))
        .await
        .expect("the writer starts");
    let reader = HistoryStore::open_reader(&in_process_config(&nats.url(), &db).history).unwrap();
    let (_, last) = written_to_the_end(&reader, &nats.url()).await;
    let first = stored(&reader).await;
    assert_stored_once(&first, &model);
    // Everything written was acknowledged, after its commit.
    acknowledged_to(&nats.url(), last).await;
    let stats = writer.stats.clone();
    writer.stop().await;

    // The crash between commit and acknowledgement, at its worst: NATS forgot every
    // acknowledgement (the consumer made anew, from the first event), the database has them all.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(EVENTS_STREAM)
        .await
        .unwrap();
    let name = Config::default().history.bus_consumer;
    stream.delete_consumer(&name).await.unwrap();
    stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let written_before = stats.written.load(Ordering::Relaxed);

    let writer = RunningHistoryWriter::start(in_process_config(&nats.url(), &db))
        .await
        .expect("the writer starts again");
    publish(&publisher, 150..200, base_ns, &mut model).await;
    written_to_the_end(&reader, &nats.url()).await;
    assert_stored_once(&stored(&reader).await, &model);
    let again = &writer.stats;
    let redelivered = again.redelivered.load(Ordering::Relaxed);
    eprintln!(
        "first writer: {written_before} records, acked to seq {last}; second writer: {redelivered} \
         events delivered again and skipped, {} records written, {} skipped by the store",
        again.written.load(Ordering::Relaxed),
        again.duplicates.load(Ordering::Relaxed)
    );
    assert!(
        redelivered >= last,
        "the {last} events NATS delivered again were skipped: {again:?}"
    );
    let (_, end) = stream_end(&nats.url()).await;
    acknowledged_to(&nats.url(), end).await;
    writer.stop().await;
    publisher_task.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_delivered_to_a_dead_connection_are_read_by_sequence_not_skipped() {
    let nats = NatsServer::start();
    let dir = TempDir::new("gap");
    let db = dir.0.join("history.sqlite");
    let (publisher, publisher_task) = publisher(&nats.url()).await;
    let base_ns = Timestamp::now().0;
    let mut model = Published::default();
    publish(&publisher, 0..100, base_ns, &mut model).await;

    // A previous writer pulled the first 40 events and died before acknowledging them: NATS
    // holds them as delivered, to be delivered again only after the acknowledgement wait (30 s),
    // and delivers the next ones first.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(EVENTS_STREAM)
        .await
        .unwrap();
    let config = in_process_config(&nats.url(), &db);
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some(config.history.bus_consumer.clone()),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            ack_wait: sdrhub::roles::history_writer::ACK_WAIT,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer.fetch().max_messages(40).messages().await.unwrap();
    let mut pulled = 0;
    while let Some(message) = futures_util::StreamExt::next(&mut batch).await {
        message.unwrap();
        pulled += 1;
    }
    assert_eq!(pulled, 40);

    let started = Instant::now();
    let writer = RunningHistoryWriter::start(config.clone())
        .await
        .expect("the writer starts");
    let reader = HistoryStore::open_reader(&config.history).unwrap();
    written_to_the_end(&reader, &nats.url()).await;
    let took = started.elapsed();
    assert_stored_once(&stored(&reader).await, &model);
    let filled = writer.stats.gap_filled.load(Ordering::Relaxed);
    eprintln!("40 events held by a dead connection: read by sequence ({filled}), all written in {took:?}");
    assert!(filled >= 40, "{:?}", writer.stats);
    assert!(
        took < sdrhub::roles::history_writer::ACK_WAIT,
        "written without waiting for NATS to deliver them again ({took:?})"
    );
    assert_eq!(writer.stats.lost.load(Ordering::Relaxed), 0);
    writer.stop().await;
    publisher_task.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_refuses_writes_holds_the_acknowledgements_back_and_loses_nothing() {
    use sqlx::Connection;
    let nats = NatsServer::start();
    let dir = TempDir::new("locked");
    let db = dir.0.join("history.sqlite");
    let config = in_process_config(&nats.url(), &db);
    let (publisher, publisher_task) = publisher(&nats.url()).await;
    let base_ns = Timestamp::now().0;
    let mut model = Published::default();
    let writer = RunningHistoryWriter::start(config.clone())
        .await
        .expect("the writer starts");
    publish(&publisher, 0..50, base_ns, &mut model).await;
    let reader = HistoryStore::open_reader(&config.history).unwrap();
    let (_, before) = written_to_the_end(&reader, &nats.url()).await;

    // Another process holds the database's write lock for longer than the writer's statements
    // wait for it (10 s): its writes fail meanwhile.
    let mut locker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();
    let locked_at = Instant::now();
    publish(&publisher, 50..100, base_ns, &mut model).await;
    let stats = writer.stats.clone();
    while !stats.failing.load(Ordering::Relaxed) {
        assert!(locked_at.elapsed() < WAIT, "the writes never failed: {stats:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed_after = locked_at.elapsed();
    // Nothing it could not write is acknowledged: NATS still holds it.
    let mut consumer = durable(&nats.url()).await;
    let floor = consumer.info().await.unwrap().ack_floor.stream_sequence;
    let (_, last) = stream_end(&nats.url()).await;
    assert!(
        floor <= before && last > before,
        "acknowledged {floor} of {last}, {before} written"
    );
    let (status, detail) = stats.history_health();
    assert_eq!(status, sdrhub::events::HealthStatus::Unhealthy, "{detail}");
    assert!(detail.contains("locked"), "{detail}");
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    locker.close().await.unwrap();

    // Once it may write again, everything is written once and acknowledged.
    let (_, end) = written_to_the_end(&reader, &nats.url()).await;
    assert_stored_once(&stored(&reader).await, &model);
    acknowledged_to(&nats.url(), end).await;
    assert!(!stats.failing.load(Ordering::Relaxed));
    eprintln!(
        "writes failed {failed_after:?} after the lock ({} failed tries); all written {:?} after it, acknowledged to {end}",
        stats.write_failures.load(Ordering::Relaxed),
        locked_at.elapsed()
    );
    assert_eq!(stats.history_health().0, sdrhub::events::HealthStatus::Healthy);
    writer.stop().await;
    publisher_task.finish().await;
}

#[test]
fn the_writer_needs_a_bus_and_says_so() {
    let output = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(["history-writer"])
        .env_remove("SDRHUB_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bus.url is empty"), "{stderr}");
    assert!(stderr.contains("sdrhub history-writer"), "{stderr}");
}
