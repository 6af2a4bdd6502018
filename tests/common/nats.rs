//! A real `nats-server -js` on a free loopback port with its store in a temporary directory,
//! killed (SIGKILL) and restarted on the same port and store at will.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Debian's nats-server (`apt-get install nats-server`; scripts/test.sh installs it).
pub const NATS_SERVER: &str = "/usr/sbin/nats-server";
/// How long nats-server may take to listen (JetStream recovers its streams first).
const START_LIMIT: Duration = Duration::from_secs(20);

/// The nats-server binary (`/usr/sbin/nats-server`, else one on PATH); fails the test, never
/// skips it, when there is none.
pub fn nats_binary() -> PathBuf {
    if Path::new(NATS_SERVER).is_file() {
        return NATS_SERVER.into();
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "nats-server not found: the bus tests run a real NATS JetStream server. Install it \
                 with `apt-get install nats-server` (scripts/test.sh does)"
            )
        })
}

/// A running (or killed) nats-server.
#[derive(Debug)]
pub struct NatsServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The JetStream store directory (kept across restarts, removed on drop).
    pub store: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl NatsServer {
    /// Starts a server with JetStream on a free loopback port and an empty store.
    pub fn start() -> NatsServer {
        let mut server = Self::reserve();
        server.restart();
        server
    }

    /// A free port and an empty store for a server not started yet ([`NatsServer::restart`]
    /// starts it).
    pub fn reserve() -> NatsServer {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sdrhub-nats-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the store directory");
        // A free port: bind, read, release (nats-server binds it right after).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        NatsServer {
            port,
            store: dir.join("store"),
            child: None,
            log: dir.join("nats.log"),
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL (no chance to flush or say goodbye) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and store, and waits until it listens.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the nats-server log");
        let child = Command::new(nats_binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("nats-server exited with {status}:\n{}", self.log_text());
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "nats-server did not listen on port {} within {START_LIMIT:?}:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = self.store.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
