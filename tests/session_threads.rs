//! WebSocket sessions run on `server.session_threads` threads of their own at
//! `server.session_nice`, apart from the HTTP workers (a file of its own: the test reads its
//! process's threads, which another server in the same process would add to).

mod common;

use common::{connect, next_json, start, test_config};
use std::time::Duration;

/// The nice value of each of this process's threads named `ws-sessions-*`.
fn session_thread_nices() -> Vec<i64> {
    let mut nices = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.expect("task").path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.starts_with("ws-sessions-") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).expect("stat");
        // After the name in parentheses: field 3 (state) onwards; the nice value is field 19.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("stat name") + 2..]
            .split(' ')
            .collect();
        nices.push(fields[19 - 3].parse().expect("nice"));
    }
    nices
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_on_their_own_threads_at_the_configured_niceness() {
    let mut config = test_config();
    config.server.session_threads = 3;
    config.server.session_nice = 7;
    let server = start(config);

    // Sessions on those threads work as ever, several at once.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(&server, "/ws/updates").await);
    }
    for ws in &mut clients {
        let first = next_json(ws, Duration::from_secs(5))
            .await
            .expect("a first message");
        assert_eq!(first["event"], "snapshot");
    }
    assert_eq!(session_thread_nices(), [7, 7, 7]);
}
