//! `DelayEstimator::set_reference` and `estimate` allocate nothing once the estimator is built
//! (STYLE: plan once, then process without allocating). Counted by a global allocator; this file
//! holds a single test so that no other test's allocations are counted.

mod common;

use common::{noisy, BandSignal};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use sdrhub_dsp::delay::{DelayEstimator, FrequencyBand};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn estimation_allocates_nothing() {
    let mut rng = SmallRng::seed_from_u64(1);
    let len = 4096;
    let signal = BandSignal::new(&mut rng, len, 16.0, -0.3, 0.4);
    let reference = noisy(&mut rng, &signal.snippet(0.0, 0.0, 1.0), 0.3);
    let other = noisy(&mut rng, &signal.snippet(3.7, 1.0, 1.0), 0.3);
    let mut estimator = DelayEstimator::new(len, 16, 12_000.0);
    let band = FrequencyBand {
        low_hz: -3_600.0,
        high_hz: 4_800.0,
    };

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    estimator.set_reference(&reference).unwrap();
    let found = estimator.estimate(&other).unwrap();
    let given = estimator.estimate_in_band(&other, band).unwrap();
    let after = ALLOCATIONS.load(Ordering::Relaxed);

    assert!((found.delay_samples - 3.7).abs() < 0.05 && (given.delay_samples - 3.7).abs() < 0.05);
    assert_eq!(after - before, 0, "allocations during estimation");
}
