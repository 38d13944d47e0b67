//! Live heap bytes of the fly-through process: a global allocator that forwards to the system
//! allocator and, once [`enable`]d (`--live-heap`, the long flights of the report's memory
//! lines), counts the bytes allocated and not freed. Resident memory hides leaks smaller than
//! what the allocator keeps after the first view's peak; this count does not.
//!
//! Off by default: the count costs an atomic add per allocation on every thread, which the
//! timed runs (and the peer, which allocates more) should not pay. Allocations made before
//! [`enable`] and freed after it make the count lower by their size: it is read as a growth
//! (a slope over the flight), not as an absolute size.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting live bytes while [`enable`]d.
pub struct Counting;

fn count(bytes: isize) {
    if ON.load(Ordering::Relaxed) {
        LIVE.fetch_add(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is upheld by `System`; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        // On failure the old block stays, and so does its count.
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Starts counting (from zero).
pub fn enable() {
    LIVE.store(0, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
}

/// Bytes allocated and not freed since [`enable`], MiB; `None` if not enabled.
pub fn live_mib() -> Option<f64> {
    ON.load(Ordering::Relaxed).then(|| LIVE.load(Ordering::Relaxed) as f64 / f64::from(1u32 << 20))
}
