//! `Demodulator::process` allocates nothing once the demodulator is built and `out` has room
//! (STYLE: plan once, then process without allocating). Counted by a global allocator; this
//! file holds a single test so that no other test's allocations are counted.

use sdrhub_dsp::demod::{DemodConfig, Demodulator, Mode};
use sdrhub_dsp::Complex32;
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

/// Every mode, at an integer ratio (2.4 MS/s), a fractional one (2.048 MS/s) and below the
/// channel rate (12 kHz), in blocks from 1 sample to 3 internal chunks, with a retune.
#[test]
fn demodulation_allocates_nothing() {
    let input: Vec<Complex32> = (0..100_000)
        .map(|n| {
            Complex32::from_polar(0.1, 0.37 * n as f32)
                + Complex32::new(((n * 7919) % 101) as f32 * 1e-4, 0.0)
        })
        .collect();
    for mode in Mode::ALL {
        for rate in [2.4e6, 2.048e6, 12e3] {
            let config = DemodConfig {
                squelch_dbfs: Some(-30.0),
                ..DemodConfig::new(mode, rate, rate / 8.0)
            };
            let mut demod = Demodulator::new(&config).unwrap();
            let mut out = Vec::with_capacity(demod.max_output_len(input.len()));
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let mut start = 0;
            for len in [1, 999, 8192, 30_000, 5, 24_577] {
                out.clear();
                demod.process(&input[start..start + len], &mut out);
                start += len;
            }
            demod.retune(-rate / 5.0).unwrap();
            out.clear();
            demod.process(&input[start..], &mut out);
            let after = ALLOCATIONS.load(Ordering::Relaxed);
            assert_eq!(
                after - before,
                0,
                "{mode} at {rate}: allocations while demodulating"
            );
        }
    }
}
