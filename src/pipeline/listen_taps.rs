//! Where a receiver's IQ meets its listeners: the receiver's DSP thread offers every block,
//! and each listener's demodulator thread takes it from a queue of its own.
//!
//! Back-pressure: the DSP thread never waits. Without listeners an offer is one atomic load;
//! with some, the block's samples are copied once (shared by every listener) and handed to
//! each listener's queue (`audio.block_queue` blocks) without waiting; a listener whose queue
//! is full misses the block, counted as dropped for it alone.

use sdrhub_dsp::Complex32;
use sdrhub_hardware::IqBlock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One block as the listeners get it.
#[derive(Debug)]
pub struct Chunk {
    /// The samples.
    pub samples: Arc<[Complex32]>,
    /// Time of the first sample, ns since the epoch.
    pub time_ns: i64,
    /// Centre frequency, Hz.
    pub center_hz: f64,
    /// Sample rate, Hz.
    pub sample_rate_hz: f64,
    /// Samples were lost before it.
    pub discontinuity: bool,
}

struct Listener {
    id: u64,
    blocks: crossbeam_channel::Sender<Arc<Chunk>>,
    dropped: Arc<AtomicU64>,
}

/// One receiver's listeners.
#[derive(Default)]
pub struct ListenTaps {
    listeners: Mutex<Vec<Listener>>,
    count: AtomicUsize,
}

impl std::fmt::Debug for ListenTaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenTaps")
            .field("listeners", &self.count.load(Ordering::Relaxed))
            .finish()
    }
}

impl ListenTaps {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Listener>> {
        // Nothing panics while holding it; a poisoned list is still a list.
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Offers `block` to every listener (see the module documentation); never waits.
    pub fn offer(&self, block: &IqBlock) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let chunk = Arc::new(Chunk {
            samples: Arc::from(block.samples.as_slice()),
            time_ns: block.time_ns,
            center_hz: block.center_hz,
            sample_rate_hz: block.sample_rate_hz,
            discontinuity: block.discontinuity,
        });
        for listener in self.lock().iter() {
            if listener.blocks.try_send(chunk.clone()).is_err() {
                listener.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adds listener `id`: blocks go to `blocks`, misses are counted in `dropped`.
    pub fn add(&self, id: u64, blocks: crossbeam_channel::Sender<Arc<Chunk>>, dropped: Arc<AtomicU64>) {
        let mut listeners = self.lock();
        listeners.push(Listener { id, blocks, dropped });
        self.count.store(listeners.len(), Ordering::Release);
    }

    /// Removes listener `id`.
    pub fn remove(&self, id: u64) {
        let mut listeners = self.lock();
        listeners.retain(|l| l.id != id);
        self.count.store(listeners.len(), Ordering::Release);
    }

    /// Listeners now.
    pub fn listeners(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}
