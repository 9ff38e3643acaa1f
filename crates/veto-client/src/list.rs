//! The handle services hold: [`RevocationList`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use veto_proto::rule::TokenFacts;
use veto_proto::{KeyDigest, RuleKind};

use crate::config::{ListConfig, StalePolicy};
use crate::counters::{CheckCounters, CheckOutcome};
use crate::error::ClientError;
use crate::replica::{Replica, ReplicaStats, StoredRule};
use crate::verdict::Verdict;
use crate::{follower, watcher};

/// Status bits, read by every check with one atomic load.
pub(crate) const READY: u8 = 1;
pub(crate) const STALE: u8 = 2;

/// State shared by the handle, the follower task and the freshness watcher.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ListConfig,
    /// The replica checks read. Replaced whole when the bloom filter is rebuilt.
    pub(crate) replica: ArcSwap<Replica>,
    pub(crate) status: AtomicU8,
    /// The newest daemon tick applied, ms since the epoch (0: none yet).
    pub(crate) last_tick_unix_ms: AtomicU64,
    pub(crate) ready: watch::Sender<bool>,
    pub(crate) counters: CheckCounters,
    pub(crate) rebuilds: AtomicU64,
    /// Events ignored: undecodable, or unsigned/forged under [`crate::EventTrust::SignedBy`].
    pub(crate) rejected_events: AtomicU64,
}

/// Aborts the background tasks when the last handle is dropped.
#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The whole revocation list in memory, followed live from the stream.
///
/// Cheap to clone (`Arc`), `Send + Sync`. [`RevocationList::check`] never waits on the
/// writer and allocates nothing on the Allowed path. Dropping the last clone stops the
/// background tasks.
#[derive(Clone, Debug)]
pub struct RevocationList {
    inner: Arc<Inner>,
}

impl RevocationList {
    /// Starts following the stream through `client`. Returns at once; the list loads in
    /// the background (see [`RevocationList::ready`]) and keeps retrying, with backoff,
    /// while NATS or the stream is unreachable. Must be called within a tokio runtime.
    pub fn start(client: async_nats::Client, config: ListConfig) -> Result<RevocationList, ClientError> {
        veto_proto::StreamSettings::new(&config.stream_name, &veto_proto::TokenPolicy::default(), 1)
            .map_err(|error| ClientError::Config(error.to_string()))?;
        if config.max_staleness.is_zero() || config.sweep_interval.is_zero() {
            return Err(ClientError::Config(
                "max_staleness and sweep_interval must be positive".to_owned(),
            ));
        }
        let (ready, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            replica: ArcSwap::from_pointee(Replica::new(0, config.retain_rules)),
            config,
            status: AtomicU8::new(0),
            last_tick_unix_ms: AtomicU64::new(0),
            ready,
            counters: CheckCounters::default(),
            rebuilds: AtomicU64::new(0),
            rejected_events: AtomicU64::new(0),
        });
        match &shared.config.trust {
            crate::EventTrust::AcceptUnsigned => tracing::warn!(
                stream = %shared.config.stream_name,
                "revocation list accepts UNSIGNED events (development mode): configure the daemons' \
                 verification keys (ListConfig::signed_by) in production"
            ),
            crate::EventTrust::SignedBy(keys) => tracing::info!(
                stream = %shared.config.stream_name,
                keys = ?keys,
                "revocation list applies only events signed by a trusted daemon key"
            ),
        }
        let follower = tokio::spawn(follower::run(Arc::clone(&shared), client));
        let watcher = tokio::spawn(watcher::run(Arc::clone(&shared)));
        Ok(RevocationList {
            inner: Arc::new(Inner {
                shared,
                tasks: vec![follower.abort_handle(), watcher.abort_handle()],
            }),
        })
    }

    /// Whether the token is revoked. Call it after the token's signature was verified.
    #[inline]
    pub fn check(&self, token: &TokenFacts<'_>) -> Verdict {
        let shared = &self.inner.shared;
        let status = shared.status.load(Ordering::Acquire);
        if status & READY == 0 {
            shared.counters.add(CheckOutcome::NotReady);
            return Verdict::NotReady;
        }
        let stale = status & STALE != 0;
        if stale && shared.config.stale_policy == StalePolicy::FailClosed {
            shared.counters.add(CheckOutcome::StaleRejected);
            return Verdict::Stale;
        }
        let verdict = match shared.replica.load().lookup(token) {
            None => Verdict::Allowed,
            Some(kind) => Verdict::Revoked(kind),
        };
        shared.counters.add(match (stale, verdict) {
            (true, _) => CheckOutcome::StaleOpen,
            (false, Verdict::Allowed) => CheckOutcome::Allowed,
            (false, _) => CheckOutcome::Revoked,
        });
        verdict
    }

    /// Resolves once everything that was in the stream when the list started is applied.
    pub async fn ready(&self) {
        let mut ready = self.inner.shared.ready.subscribe();
        // The sender lives in `Shared`, which this handle keeps alive: no error.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Whether the list is ready (see [`RevocationList::ready`]).
    pub fn is_ready(&self) -> bool {
        self.inner.shared.status.load(Ordering::Acquire) & READY != 0
    }

    /// Whether the list is stale: no daemon tick applied within `max_staleness`.
    pub fn is_stale(&self) -> bool {
        self.inner.shared.status.load(Ordering::Acquire) & STALE != 0
    }

    /// Up to when the list is known current: the daemon's clock at the newest tick
    /// applied. Everything the stream acknowledged before then is applied. `None`
    /// before the first tick.
    pub fn freshness(&self) -> Option<SystemTime> {
        match self.inner.shared.last_tick_unix_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    /// Counts of the current replica: live rules by kind, bloom filter fill.
    pub fn stats(&self) -> ReplicaStats {
        self.inner.shared.replica.load().stats()
    }

    /// How many events were ignored (undecodable, unsigned or forged).
    pub fn rejected_events(&self) -> u64 {
        self.inner.shared.rejected_events.load(Ordering::Relaxed)
    }

    /// How many times the bloom filter was rebuilt.
    pub fn rebuilds(&self) -> u64 {
        self.inner.shared.rebuilds.load(Ordering::Relaxed)
    }

    /// Memory of the bloom filter and of the exact sets, in bytes (from their
    /// capacities; the benchmark suite measures the allocator too).
    pub fn memory_bytes(&self) -> (usize, usize) {
        self.inner.shared.replica.load().memory_bytes()
    }

    /// The live rule for a key, in full, with its stream sequence. Only with
    /// [`ListConfig::retain_rules`].
    pub fn rule(&self, kind: RuleKind, iss: Option<&str>, value: Option<&str>) -> Option<StoredRule> {
        let digest = KeyDigest::of(kind, iss, value);
        self.inner.shared.replica.load().retained_rule(kind, digest)
    }

    /// Up to `limit` live rules in key order, after the key `after`, optionally of one
    /// kind. Only with [`ListConfig::retain_rules`].
    pub fn rules(
        &self,
        kind: Option<RuleKind>,
        after: Option<(RuleKind, KeyDigest)>,
        limit: usize,
    ) -> Vec<StoredRule> {
        self.inner
            .shared
            .replica
            .load()
            .retained_rules(kind, after, limit)
    }
}
