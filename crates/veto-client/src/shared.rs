//! The state the handle, the follower task and the freshness watcher share: the
//! serving replica, the status bits every check reads, freshness, counters.
//!
//! A leaf module: the handle ([`crate::list`]), the follower and the watcher all read
//! and write through it, and it imports none of them.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::config::ListConfig;
use crate::counters::CheckCounters;
use crate::replica::Replica;

/// Status bit: the list has applied everything that was in the stream at start.
pub(crate) const READY: u8 = 1;
/// Status bit: no daemon tick applied within `max_staleness`.
pub(crate) const STALE: u8 = 2;

/// Milliseconds since the epoch, now.
pub(crate) fn now_unix_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// Shared by the handle, the follower and the watcher.
#[derive(Debug)]
pub(crate) struct ListState {
    pub(crate) config: ListConfig,
    /// The replica checks read. Replaced whole when the bloom filter is rebuilt.
    pub(crate) replica: ArcSwap<Replica>,
    /// [`READY`] and [`STALE`], read by every check with one atomic load.
    pub(crate) status: AtomicU8,
    /// The newest daemon tick applied, ms since the epoch (0: none yet).
    pub(crate) last_tick_unix_ms: AtomicU64,
    pub(crate) ready: watch::Sender<bool>,
    /// The highest stream sequence the serving replica applied: presence reports
    /// follow it (and the daemon's receipts wait on reports of it).
    pub(crate) applied: watch::Sender<u64>,
    pub(crate) counters: CheckCounters,
    pub(crate) rebuilds: AtomicU64,
    /// Events ignored: undecodable, or unsigned/forged under [`crate::EventTrust::SignedBy`].
    pub(crate) rejected_events: AtomicU64,
    /// Events valid but out of place (replayed): they changed nothing.
    pub(crate) replayed_events: AtomicU64,
    /// Snapshots refused (unverified, cut short, another stream, too old).
    pub(crate) refused_snapshots: AtomicU64,
    /// The sequence of the snapshot the newest load started from (0: it replayed).
    pub(crate) loaded_snapshot: AtomicU64,
}

impl ListState {
    /// A list that has loaded nothing yet.
    pub(crate) fn new(config: ListConfig) -> ListState {
        let (ready, _) = watch::channel(false);
        let (applied, _) = watch::channel(0);
        ListState {
            applied,
            replica: ArcSwap::from_pointee(Replica::new(0)),
            config,
            status: AtomicU8::new(0),
            last_tick_unix_ms: AtomicU64::new(0),
            ready,
            counters: CheckCounters::default(),
            rebuilds: AtomicU64::new(0),
            rejected_events: AtomicU64::new(0),
            replayed_events: AtomicU64::new(0),
            refused_snapshots: AtomicU64::new(0),
            loaded_snapshot: AtomicU64::new(0),
        }
    }

    /// Whether the list is ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.status.load(Ordering::Acquire) & READY != 0
    }

    /// Notes that the serving replica applied stream sequence `sequence`.
    pub(crate) fn note_applied(&self, sequence: u64) {
        self.applied.send_if_modified(|applied| {
            let advanced = sequence > *applied;
            *applied = (*applied).max(sequence);
            advanced
        });
    }

    /// The list loaded from scratch and applied up to `sequence`, even if that is lower
    /// than before (the stream went back): what presence and receipts read.
    pub(crate) fn reset_applied(&self, sequence: u64) {
        self.applied.send_replace(sequence);
    }

    /// Marks the list ready and wakes every `ready()` waiter.
    pub(crate) fn mark_ready(&self) {
        self.refresh_stale();
        self.status.fetch_or(READY, Ordering::AcqRel);
        self.ready.send_replace(true);
    }

    /// Notes a daemon tick stamped `at_unix_ms` (clamped to our clock: a daemon clock
    /// ahead of ours must not keep us "fresh" forever), and is fresh at once.
    pub(crate) fn note_tick(&self, at_unix_ms: u64) {
        self.last_tick_unix_ms
            .fetch_max(at_unix_ms.min(now_unix_ms()), Ordering::AcqRel);
        self.refresh_stale();
    }

    /// Recomputes the stale bit from the newest tick; returns (stale, tick age).
    pub(crate) fn refresh_stale(&self) -> (bool, Option<Duration>) {
        let last_tick = self.last_tick_unix_ms.load(Ordering::Acquire);
        let age = (last_tick != 0).then(|| Duration::from_millis(now_unix_ms().saturating_sub(last_tick)));
        let stale = age.is_none_or(|age| age > self.config.max_staleness);
        if stale {
            self.status.fetch_or(STALE, Ordering::AcqRel);
        } else {
            self.status.fetch_and(!STALE, Ordering::AcqRel);
        }
        (stale, age)
    }
}
