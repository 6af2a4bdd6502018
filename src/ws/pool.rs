//! The threads that run WebSocket sessions, apart from the HTTP workers.
//!
//! After its handshake a session moves here ([`Pool::run`]): REST requests, handshakes and the
//! publish API keep their workers however busy the clients keep their sessions, and the
//! sessions' threads can be given a lower scheduling priority (`server.session_nice`): what a
//! client sends is then read after the events are delivered (the hub writes most events
//! itself, see [`super::writer`]), so clients that flood the server with messages slow each
//! other, not everyone's events.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// A session to start on a pool thread: made there, so it need not be `Send`.
type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// See the module documentation.
#[derive(Debug)]
pub struct Pool {
    threads: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl Pool {
    /// Starts `threads` threads (at least one) at `nice` (0: as the rest of the process;
    /// higher: lower priority).
    ///
    /// # Errors
    /// When a thread or its runtime cannot be made.
    pub fn start(threads: usize, nice: i32) -> std::io::Result<Self> {
        let mut senders = Vec::new();
        for n in 0..threads.max(1) {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name(format!("ws-sessions-{n}"))
                .spawn(move || {
                    lower_priority(nice);
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, async move {
                        while let Some(job) = rx.recv().await {
                            tokio::task::spawn_local(job());
                        }
                    });
                })?;
            senders.push(tx);
        }
        Ok(Self {
            threads: senders,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `session` (made on the pool thread from what `make` holds) and waits for its end;
    /// `None` if it did not finish (the pool has stopped, or the session panicked).
    pub async fn run<F, Fut>(&self, make: F) -> Option<()>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let (done, ended) = tokio::sync::oneshot::channel::<()>();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                make().await;
                let _ = done.send(());
            })
        });
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        self.threads[n].send(job).ok()?;
        ended.await.ok()
    }
}

/// Sets the calling thread's nice value (Linux: per thread); a failure is logged, not fatal.
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes its
    // scheduling priority (raising the nice value needs no privilege).
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
    if result != 0 {
        tracing::warn!(nice, error = %std::io::Error::last_os_error(), "could not set the session threads' priority");
    }
}
