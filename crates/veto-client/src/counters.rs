//! Check counters that cost a few nanoseconds and do not bounce a cache line between
//! threads: each thread adds to its own stripe; the exporter sums the stripes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a check is counted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Allowed while fresh.
    Allowed = 0,
    /// Revoked while fresh.
    Revoked = 1,
    /// Not ready.
    NotReady = 2,
    /// Refused because stale (fail-closed).
    StaleRejected = 3,
    /// Answered from a stale list (fail-open), allowed or revoked.
    StaleOpen = 4,
}

impl CheckOutcome {
    /// Every outcome, with its metrics label.
    pub const LABELED: [(CheckOutcome, &'static str); 5] = [
        (CheckOutcome::Allowed, "allowed"),
        (CheckOutcome::Revoked, "revoked"),
        (CheckOutcome::NotReady, "not_ready"),
        (CheckOutcome::StaleRejected, "stale_rejected"),
        (CheckOutcome::StaleOpen, "stale_open"),
    ];
}

const STRIPES: usize = 16;

/// One stripe, on its own pair of cache lines (adjacent-line prefetch pairs them).
#[repr(align(128))]
#[derive(Debug, Default)]
struct Stripe([AtomicU64; 5]);

/// Striped counters of check outcomes.
#[derive(Debug, Default)]
pub struct CheckCounters {
    stripes: [Stripe; STRIPES],
}

fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    INDEX.with(|index| *index)
}

impl CheckCounters {
    /// Counts one check.
    #[inline]
    pub fn add(&self, outcome: CheckOutcome) {
        self.stripes[stripe_index()].0[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The total for one outcome.
    pub fn total(&self, outcome: CheckOutcome) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| stripe.0[outcome as usize].load(Ordering::Relaxed))
            .sum()
    }
}
