//! Issue 16, acceptance 1: the default hub (the real binary, its embedded configuration, the
//! SQLite history it creates in its working directory) runs 60 s while a client records every
//! signal and fix it reports, is killed with SIGKILL and restarted on the same directory; the
//! history API then returns every signal and fix reported more than a second before the kill,
//! and the database passes `PRAGMA integrity_check`.

mod common;

use common::Ws;
use sdrhub::history::{HistoryConfig, HistoryStore};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the first run lasts before it is killed.
const RUN: Duration = Duration::from_secs(60);
/// What may be lost at a kill: the writer's last batch (`history.batch_ms`, 200 ms) and the
/// commit in flight.
const LOSABLE: Duration = Duration::from_secs(1);

/// A fresh working directory, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> WorkDir {
        let dir = std::env::temp_dir().join(format!("sdrhub-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a working directory");
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The default hub (`sdrhub serve`, embedded configuration) in `dir` on a free loopback port:
/// the process and the address it logged.
fn start_default(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdrhub"))
        .args(["--bind", "127.0.0.1:0", "--log-format", "human", "serve"])
        .current_dir(dir)
        .env_remove("SDRHUB_CONFIG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let _ = tx.send(line[at + "listening on http://".len()..].trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its address");
    (child, addr)
}

/// What the client heard: each signal (`signal_id`, `first_seen`) and each fix (`signal_id`,
/// `timestamp`), with when it first arrived.
#[derive(Default)]
struct Heard {
    signals: BTreeMap<(String, String), Instant>,
    fixes: BTreeMap<(String, String), Instant>,
}

async fn listen(ws: &mut Ws, until: Instant, heard: &mut Heard) {
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        let Some(message) = common::next_json(ws, left).await else {
            assert!(
                Instant::now() >= until,
                "the server closed the connection before the kill"
            );
            break;
        };
        let now = Instant::now();
        let data = &message["data"];
        let key = |a: &str, b: &str| {
            (
                data[a].as_str().unwrap().to_string(),
                data[b].as_str().unwrap().to_string(),
            )
        };
        match message["event"].as_str() {
            Some("signals:detected") => {
                heard.signals.entry(key("signal_id", "first_seen")).or_insert(now);
            }
            Some("localizations:updated") => {
                heard.fixes.entry(key("signal_id", "timestamp")).or_insert(now);
            }
            _ => {}
        }
    }
}

async fn get(addr: &str, path: &str) -> Value {
    let response = reqwest::get(format!("http://{addr}{path}")).await.expect("GET");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.json().await.expect("JSON")
}

/// Every stored signal (`signal_id`, `first_seen`), following `next_cursor` to the end.
async fn stored_signals(addr: &str) -> BTreeSet<(String, String)> {
    let mut stored = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/history/signals?limit=1000".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(addr, &path).await;
        for s in page["signals"].as_array().expect("signals") {
            stored.insert((
                s["signal_id"].as_str().unwrap().to_string(),
                s["first_seen"].as_str().unwrap().to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return stored,
        }
    }
}

/// Every stored fix (`signal_id`, `timestamp`) since `from` (RFC 3339).
async fn stored_fixes(addr: &str, from: &str) -> BTreeSet<(String, String)> {
    let page = get(
        addr,
        &format!("/api/v1/history/localizations?from={from}&limit=50000"),
    )
    .await;
    assert_eq!(page["truncated"], false);
    page["localizations"]
        .as_array()
        .expect("localizations")
        .iter()
        .map(|l| {
            (
                l["signal_id"].as_str().unwrap().to_string(),
                l["timestamp"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `PRAGMA integrity_check` of the SQLite file, opened as a reader (no migration, no writes).
async fn integrity(db: &Path) -> String {
    let store = HistoryStore::open_reader(&HistoryConfig {
        url: format!("sqlite://{}", db.display()),
        ..HistoryConfig::default()
    })
    .expect("the history file opens");
    let answer = store.integrity_check().await.expect("integrity_check runs");
    store.close().await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_and_fix_reported_before_a_sigkill_is_in_the_history_after_a_restart() {
    let dir = WorkDir::new();
    let started_at = sdrhub::events::Timestamp(sdrhub::events::Timestamp::now().0 - 60_000_000_000);
    let (mut child, addr) = start_default(&dir.0);
    let db = dir.0.join("data/history.sqlite");
    assert!(
        db.exists(),
        "the default history is created in the working directory"
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/ws?events=signals:detected,localizations:updated"
    ))
    .await
    .expect("connects");
    let mut heard = Heard::default();
    listen(&mut ws, Instant::now() + RUN, &mut heard).await;
    child.kill().expect("SIGKILL");
    let killed = Instant::now();
    child.wait().expect("the killed process is reaped");
    drop(ws);
    assert!(
        !heard.signals.is_empty() && !heard.fixes.is_empty(),
        "the default scene reported nothing"
    );
    assert_eq!(integrity(&db).await, "ok", "the file the kill left");

    let (mut child, addr) = start_default(&dir.0);
    let signals = stored_signals(&addr).await;
    let fixes = stored_fixes(&addr, &started_at.to_rfc3339()).await;
    let before_kill = |at: &Instant| killed.duration_since(*at) > LOSABLE;
    let missing_signals: Vec<_> = heard
        .signals
        .iter()
        .filter(|(key, at)| before_kill(at) && !signals.contains(*key))
        .map(|(key, at)| {
            format!(
                "{} first seen {} (heard {:?} before the kill)",
                key.0,
                key.1,
                killed - *at
            )
        })
        .collect();
    let missing_fixes: Vec<_> = heard
        .fixes
        .iter()
        .filter(|(key, at)| before_kill(at) && !fixes.contains(*key))
        .map(|(key, at)| {
            format!(
                "fix of {} at {} (heard {:?} before the kill)",
                key.0,
                key.1,
                killed - *at
            )
        })
        .collect();
    eprintln!(
        "heard {} signals and {} fixes in {RUN:?}; stored after the restart: {} signals, {} fixes",
        heard.signals.len(),
        heard.fixes.len(),
        signals.len(),
        fixes.len()
    );
    assert!(
        missing_signals.is_empty(),
        "{} of {} signals reported before the kill are not in the history: {missing_signals:#?}",
        missing_signals.len(),
        heard.signals.len()
    );
    assert!(
        missing_fixes.is_empty(),
        "{} of {} fixes reported before the kill are not in the history: {missing_fixes:#?}",
        missing_fixes.len(),
        heard.fixes.len()
    );

    // A graceful stop, then the file is checked as the next start would find it.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .expect("the server exits");
    assert!(exit.success(), "exit status {exit:?}");
    assert_eq!(
        integrity(&db).await,
        "ok",
        "the file after the restart and a graceful stop"
    );
}
