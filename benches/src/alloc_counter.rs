//! A counting global allocator: how many heap bytes are live right now.
//!
//! The memory figure measures a structure as "live bytes after building it minus live
//! bytes before", which needs the allocator's view; RSS would mix in allocator caching
//! and pages the kernel has not faulted in yet. Counting is one relaxed atomic add per
//! allocation; no benchmarked hot path allocates, so it never shows in a timing.
//!
//! The count is of requested bytes: malloc's own headers and rounding are not in it
//! (negligible for the multi-megabyte tables measured here).
//!
//! This is the only module of the bench that contains `unsafe` code: implementing
//! [`GlobalAlloc`] requires it, and each unsafe call below forwards its caller's
//! contract unchanged to [`System`].
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes.
#[derive(Debug)]
pub struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

// SAFETY: every method delegates to `System` with the same arguments, so `System`'s
// guarantees hold; the counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator returned, with its layout.
        unsafe { System.dealloc(pointer, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        moved
    }
}

/// Heap bytes live in the whole process now.
pub fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The heap growth while `build` runs, in bytes, and what it built. Only meaningful
/// while no other thread allocates or frees much (the bench runs figures one by one).
pub fn measure<T>(build: impl FnOnce() -> T) -> (T, usize) {
    let before = live_bytes();
    let built = build();
    (built, live_bytes().saturating_sub(before))
}
