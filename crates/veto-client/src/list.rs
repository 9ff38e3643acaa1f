//! The handle services hold: [`RevocationList`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::AbortHandle;
use veto_proto::TokenFacts;

use crate::config::{EventTrust, ListConfig, StalePolicy};
use crate::counters::CheckOutcome;
use crate::error::ClientError;
use crate::replica::ReplicaStats;
use crate::shared::{ListState, READY, STALE};
use crate::verdict::Verdict;
use crate::{follower, presence, watcher};

/// The presence reporter `config` asks for, checked; `None` when it asks for none.
fn presence_reporter(config: &ListConfig) -> Result<Option<presence::Reporter>, ClientError> {
    let Some(identity) = &config.presence else {
        return Ok(None);
    };
    let subject = veto_proto::presence::presence_subject(&identity.service, &identity.instance)
        .map_err(|error| ClientError::Config(error.to_string()))?;
    let (shortest, longest) = presence::HEARTBEAT_RANGE;
    if !(shortest..=longest).contains(&config.presence_heartbeat) {
        return Err(ClientError::Config(format!(
            "presence_heartbeat must be between {shortest:?} and {longest:?}"
        )));
    }
    Ok(Some(presence::Reporter {
        identity: identity.clone(),
        subject,
        heartbeat: config.presence_heartbeat,
    }))
}

/// The list's state and its background tasks, which stop when the last handle drops.
#[derive(Debug)]
struct Running {
    state: Arc<ListState>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Running {
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
    running: Arc<Running>,
}

impl RevocationList {
    /// Starts following the stream through `client`. Returns at once; the list loads in
    /// the background (see [`RevocationList::ready`]) and keeps retrying, with backoff,
    /// while NATS or the stream is unreachable. Must be called within a tokio runtime.
    pub fn start(client: async_nats::Client, config: ListConfig) -> Result<RevocationList, ClientError> {
        veto_proto::StreamSettings::new(&config.stream_name, &veto_proto::TokenPolicy::default(), 1)
            .map_err(|error| ClientError::Config(error.to_string()))?;
        if let EventTrust::SignedBy(keys) = &config.trust
            && keys.is_empty()
        {
            return Err(ClientError::Config(
                "signed_by with no key would trust nothing: give at least one daemon public key".to_owned(),
            ));
        }
        if config.max_staleness.is_zero() || config.sweep_interval.is_zero() {
            return Err(ClientError::Config(
                "max_staleness and sweep_interval must be positive".to_owned(),
            ));
        }
        let reporter = presence_reporter(&config)?;
        let state = Arc::new(ListState::new(config));
        match &state.config.trust {
            EventTrust::AcceptUnsigned => tracing::warn!(
                stream = %state.config.stream_name,
                "revocation list accepts UNSIGNED events (development mode): configure the daemons' \
                 verification keys (ListConfig::signed_by) in production"
            ),
            EventTrust::SignedBy(keys) => tracing::info!(
                stream = %state.config.stream_name,
                keys = ?keys,
                "revocation list applies only events signed by a trusted daemon key"
            ),
        }
        let mut tasks = Vec::with_capacity(3);
        if let Some(reporter) = reporter {
            tracing::info!(subject = %reporter.subject, heartbeat_ms = reporter.heartbeat.as_millis() as u64, "reporting presence");
            let reporting = tokio::spawn(presence::run(Arc::clone(&state), client.clone(), reporter));
            tasks.push(reporting.abort_handle());
        }
        let follower = tokio::spawn(follower::run(Arc::clone(&state), client));
        let watcher = tokio::spawn(watcher::run(Arc::clone(&state)));
        tasks.extend([follower.abort_handle(), watcher.abort_handle()]);
        Ok(RevocationList {
            running: Arc::new(Running { state, tasks }),
        })
    }

    /// Whether the token is revoked. Call it after the token's signature was verified.
    #[inline]
    pub fn check(&self, token: &TokenFacts<'_>) -> Verdict {
        let state = &self.running.state;
        let status = state.status.load(Ordering::Acquire);
        if status & READY == 0 {
            state.counters.add(CheckOutcome::NotReady);
            return Verdict::NotReady;
        }
        let stale = status & STALE != 0;
        if stale && state.config.stale_policy == StalePolicy::FailClosed {
            state.counters.add(CheckOutcome::StaleRejected);
            return Verdict::Stale;
        }
        let verdict = match state.replica.load().lookup(token) {
            None => Verdict::Allowed,
            Some(kind) => Verdict::Revoked(kind),
        };
        state.counters.add(match (stale, verdict) {
            (true, _) => CheckOutcome::StaleOpen,
            (false, Verdict::Allowed) => CheckOutcome::Allowed,
            (false, _) => CheckOutcome::Revoked,
        });
        verdict
    }

    /// Resolves once everything that was in the stream when the list started is applied.
    pub async fn ready(&self) {
        let mut ready = self.running.state.ready.subscribe();
        // The sender lives in the `ListState`, which this handle keeps alive: no error.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Whether the list is ready (see [`RevocationList::ready`]).
    pub fn is_ready(&self) -> bool {
        self.running.state.is_ready()
    }

    /// Whether the list is stale: no daemon tick applied within `max_staleness`.
    pub fn is_stale(&self) -> bool {
        self.running.state.status.load(Ordering::Acquire) & STALE != 0
    }

    /// Up to when the list is known current: the daemon's clock at the newest tick
    /// applied. Everything the stream acknowledged before then is applied. `None`
    /// before the first tick.
    pub fn freshness(&self) -> Option<SystemTime> {
        match self.running.state.last_tick_unix_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    /// Counts of the current replica: live rules by kind, bloom filter fill.
    pub fn stats(&self) -> ReplicaStats {
        self.running.state.replica.load().stats()
    }

    /// How many events were ignored (undecodable, unsigned or forged).
    pub fn rejected_events(&self) -> u64 {
        self.running.state.rejected_events.load(Ordering::Relaxed)
    }

    /// How many valid events were out of place (an old lift or a weaker rule replayed)
    /// and changed nothing.
    pub fn replayed_events(&self) -> u64 {
        self.running.state.replayed_events.load(Ordering::Relaxed)
    }

    /// The highest stream sequence applied by the replica checks read (0 before the
    /// first), and a receiver that sees it advance.
    pub fn applied_sequence(&self) -> tokio::sync::watch::Receiver<u64> {
        self.running.state.applied.subscribe()
    }

    /// How many snapshots were refused (unverified, cut short, another stream, older
    /// than what the stream holds).
    pub fn refused_snapshots(&self) -> u64 {
        self.running.state.refused_snapshots.load(Ordering::Relaxed)
    }

    /// The stream sequence of the snapshot the newest load (the first, or a rebuild)
    /// started from; 0 when it replayed the stream.
    pub fn loaded_snapshot(&self) -> u64 {
        self.running.state.loaded_snapshot.load(Ordering::Relaxed)
    }

    /// What the list holds now, sorted (rule digests and times, tombstones): two lists
    /// that agree on it answer every check alike.
    pub fn content(&self) -> crate::replica::ReplicaContent {
        self.running
            .state
            .replica
            .load()
            .content(veto_proto::UnixSeconds::now())
    }

    /// How many times the bloom filter was rebuilt.
    pub fn rebuilds(&self) -> u64 {
        self.running.state.rebuilds.load(Ordering::Relaxed)
    }

    /// Memory of the bloom filter and of the exact sets, in bytes (from their
    /// capacities; the benchmark suite measures the allocator too).
    pub fn memory_bytes(&self) -> (usize, usize) {
        self.running.state.replica.load().memory_bytes()
    }
}
