//! A real PostgreSQL server (Debian's `postgresql` package) on a free loopback port with its
//! cluster in a temporary directory, started once per test binary; each test gets a fresh
//! database of its own ([`Postgres::fresh_database`]).
//!
//! initdb and postgres refuse to run as root: as root, they run as the `postgres` system user
//! (created by the package) on a directory it owns. The server stops when the test binary
//! exits (an `atexit` hook, and the parent-death signal should the binary be killed).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(60);

/// The running server.
#[derive(Debug)]
pub struct Postgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The directory of the cluster, its socket and its log.
    pub dir: PathBuf,
}

static SERVER: OnceLock<Postgres> = OnceLock::new();
static CHILD: Mutex<Option<Child>> = Mutex::new(None);

/// The server of this test binary, started on first use. Fails the test (never skips it) when
/// PostgreSQL is not installed.
pub fn server() -> &'static Postgres {
    SERVER.get_or_init(start)
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
pub fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL not found (/usr/lib/postgresql/*/bin/initdb): the history tests run a real \
             server. Install it with `apt-get install postgresql` (scripts/test.sh does)"
        )
    })
}

/// The uid and gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves.
fn run_as() -> Option<(libc::uid_t, libc::gid_t)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    // SAFETY: `name` is a valid C string; the returned record is read at once, before any other
    // getpw* call could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root and there is no `postgres` user to run PostgreSQL as (it comes with the \
         postgresql package)"
    );
    // SAFETY: checked non-null above.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// A command that runs as `user` (when set) and gets `signal` when this process dies.
fn command(program: &Path, user: Option<(libc::uid_t, libc::gid_t)>, signal: libc::c_int) -> Command {
    let mut command = Command::new(program);
    // SAFETY: only async-signal-safe calls (setgid, setuid, prctl) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if let Some((uid, gid)) = user {
                if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, signal);
            Ok(())
        });
    }
    command
}

extern "C" fn stop_at_exit() {
    if let Ok(mut child) = CHILD.lock() {
        if let Some(child) = child.as_mut() {
            // SIGINT: PostgreSQL's fast shutdown (clients disconnected, clean stop).
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let _ = child.wait();
        }
    }
    if let Some(server) = SERVER.get() {
        let _ = std::fs::remove_dir_all(&server.dir);
    }
}

fn start() -> Postgres {
    let bin = bin_dir();
    let user = run_as();
    let dir = std::env::temp_dir().join(format!("sdrhub-postgres-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the cluster directory");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("give the cluster directory to postgres");
    }
    let data = dir.join("data");
    let log = dir.join("postgres.log");
    let status = command(&bin.join("initdb"), user, libc::SIGKILL)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run initdb");
    assert!(
        status.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log_file = std::fs::File::create(&log).expect("create the postgres log");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&log, Some(uid), Some(gid)).expect("give the log to postgres");
    }
    // The spawning thread must outlive the tests: the parent-death signal follows the thread
    // that forked, and test threads end with their test.
    let (tx, rx) = std::sync::mpsc::channel();
    let (bin_for_thread, data_for_thread, dir_for_thread) = (bin.clone(), data.clone(), dir.clone());
    std::thread::spawn(move || {
        let child = command(&bin_for_thread.join("postgres"), user, libc::SIGINT)
            .arg("-D")
            .arg(&data_for_thread)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir_for_thread.display()))
            // Each test binary opens a few pools of 4 at once.
            .args(["-c", "max_connections=200"])
            // Durability against power loss is not what these tests are about; kills of the
            // server process are unaffected.
            .args(["-c", "fsync=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn();
        let _ = tx.send(child);
        loop {
            std::thread::park();
        }
    });
    let child = rx
        .recv()
        .expect("the spawning thread answers")
        .expect("start postgres");
    *CHILD.lock().unwrap() = Some(child);
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_at_exit) };
    let started = Instant::now();
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-q"])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            break;
        }
        if let Some(status) = CHILD
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!(
                "postgres exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < START_LIMIT,
            "postgres did not accept connections within {START_LIMIT:?}:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Postgres { port, dir }
}

impl Postgres {
    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database; its URL.
    pub async fn fresh_database(&self) -> String {
        use sqlx::Connection;
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("test_{}", COUNT.fetch_add(1, Ordering::Relaxed));
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the postgres database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.expect("close");
        self.url(&name)
    }
}
