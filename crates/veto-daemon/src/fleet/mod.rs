//! The fleet: every service instance whose list reports presence, as this daemon sees
//! it, and receipts: "has every live instance applied this write?".
//!
//! Services' lists report on core NATS (`veto.presence.v1.<service>.<instance>`, see
//! [`veto_proto::presence`]); [`listen`] subscribes to every presence subject and feeds
//! [`Fleet`]. Several daemons each build the same view from the same subjects. The
//! view serves `GET /v1/fleet` ([`crate::api::fleet`]), the console's fleet summary and
//! `/metrics`, and lets a write answer once every live instance has applied its
//! sequence ([`Fleet::wait_for`]).
//!
//! **Presence is advisory.** Reports are unsigned (the NATS permissions decide who may
//! publish which presence subject); they feed only this view and receipts, never the
//! daemon's replica, so no report can change what a check or `GET` answers. A report
//! that cannot be read is counted and dropped.
//!
//! Rules (the pure part is [`registry`], tested with the time passed in):
//!
//! - an instance is keyed by service and instance id: a restart with the same id is the
//!   same instance (a report from a later start replaces the earlier; a late report
//!   from before is ignored);
//! - gone after [`FleetSettings::missed_heartbeats`] of its own heartbeats without a
//!   report: dropped from the view and from every wait;
//! - lagging when it has not applied a sequence the stream held
//!   [`FleetSettings::lagging_after`] ago (so a paused or cut-off instance, which
//!   reports nothing, is found out by the stream moving on: daemons tick, every 5 s by
//!   default);
//!   stale and not ready as it reports itself;
//! - each change of state is logged once, by [`sweep`] (every 250 ms), which also sets
//!   the gauges.

pub mod registry;
pub mod settings;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;
use tracing::{debug, info, warn};
use veto_api::{AppliedBy, FleetResponse, InstanceState, Wait};
use veto_proto::{PRESENCE_SUBJECTS, PresenceReport};

use crate::metrics::names;

pub use self::registry::{Accepted, InstanceKey, Registry, Transition, WaitId, WaitOutcome};
pub use self::settings::FleetSettings;

/// How often [`sweep`] drops the gone, classifies, logs changes and sets the gauges.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// The fleet as this daemon sees it.
#[derive(Debug)]
pub struct Fleet {
    registry: Mutex<Registry>,
}

impl Fleet {
    /// Nobody yet.
    pub fn new(settings: FleetSettings) -> Fleet {
        Fleet {
            registry: Mutex::new(Registry::new(settings)),
        }
    }

    /// The registry. Held only for short, non-async work (std mutex: no await while
    /// held; a poisoned lock still holds consistent data, every update being one insert
    /// or remove).
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one presence message (subject and payload as they arrived).
    pub fn accept_message(&self, subject: &str, payload: &[u8]) {
        let report = match PresenceReport::decode_on(subject, payload) {
            Ok(report) => report,
            Err(error) => {
                metrics::counter!(names::FLEET_REPORTS_REJECTED_TOTAL, "reason" => error.code()).increment(1);
                debug!(%error, "ignored a presence report");
                return;
            }
        };
        metrics::counter!(names::FLEET_REPORTS_TOTAL).increment(1);
        self.accept(report);
    }

    /// Takes one report.
    pub fn accept(&self, report: PresenceReport) {
        let (applied_sequence, freshness, version) =
            (report.applied_sequence, report.freshness, report.version.clone());
        let (key, accepted) = self.registry().accept(report, Instant::now());
        match accepted {
            Accepted::Joined => info!(
                service = %key.service, instance = %key.instance, %version, applied_sequence, %freshness,
                "fleet: instance joined"
            ),
            Accepted::Restarted => info!(
                service = %key.service, instance = %key.instance, %version, applied_sequence, %freshness,
                "fleet: instance restarted"
            ),
            Accepted::Refused(reason) => {
                metrics::counter!(names::FLEET_REPORTS_REJECTED_TOTAL, "reason" => reason).increment(1);
                debug!(service = %key.service, instance = %key.instance, reason, "refused a presence report");
            }
            Accepted::Updated | Accepted::OutOfOrder => {}
        }
    }

    /// Notes that the stream holds `sequence` (this daemon's replica applied it, a
    /// write was stored there, or JetStream said so).
    pub fn note_stream_sequence(&self, sequence: u64) {
        self.registry().note_sequence(sequence, Instant::now());
    }

    /// Drops the gone, classifies the rest, logs each change once, sets the gauges.
    pub fn sweep(&self) {
        let (transitions, (counts, max_lag)) = {
            let mut registry = self.registry();
            let transitions = registry.sweep(Instant::now());
            (transitions, registry.counts())
        };
        for transition in transitions {
            log(&transition);
        }
        for state in InstanceState::EVERY {
            metrics::gauge!(names::FLEET_INSTANCES, "state" => state.as_str()).set(counts.get(state) as f64);
        }
        metrics::gauge!(names::FLEET_MAX_LAG_SEQUENCES).set(max_lag as f64);
    }

    /// The view, against the stream's last sequence as JetStream reported it (or, when
    /// it did not, the newest this daemon knows of).
    pub fn view(&self, stream_last: Option<u64>) -> FleetResponse {
        let registry = self.registry();
        registry.view(
            stream_last.unwrap_or_else(|| registry.newest_sequence()),
            Instant::now(),
        )
    }

    /// Waits until every instance in `wait.scope` that is live now has applied
    /// `sequence` (or has gone), or `wait.timeout` passed; the receipt says which.
    pub async fn wait_for(&self, sequence: u64, wait: &Wait) -> AppliedBy {
        let started = Instant::now();
        let (id, done) = {
            let mut registry = self.registry();
            registry.note_sequence(sequence, started);
            registry.start_wait(&wait.scope, sequence)
        };
        // Ends the wait in the registry however this future ends (a dropped request too).
        let open = OpenWait {
            fleet: self,
            id: Some(id),
        };
        let complete = matches!(tokio::time::timeout(wait.timeout, done).await, Ok(Ok(())));
        let now = Instant::now();
        let WaitOutcome { of, laggards } = open.end(now);
        let waited = now.duration_since(started);
        let outcome = if complete { "complete" } else { "timed_out" };
        metrics::counter!(names::FLEET_RECEIPTS_TOTAL, "outcome" => outcome).increment(1);
        metrics::histogram!(names::FLEET_RECEIPT_WAIT_SECONDS).record(waited.as_secs_f64());
        let applied = of.saturating_sub(laggards.len() as u64);
        if !laggards.is_empty() {
            let named: Vec<String> = laggards
                .iter()
                .map(|laggard| format!("{}/{}", laggard.service, laggard.instance))
                .collect();
            info!(
                sequence, scope = %wait.scope, applied, of,
                laggards = %named.join(","), "fleet: a write's wait timed out"
            );
        }
        AppliedBy {
            scope: wait.scope.to_string(),
            sequence,
            instances: applied,
            of,
            complete: laggards.is_empty(),
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            laggards,
        }
    }

    /// Waits open in the registry (for tests).
    pub fn open_waits(&self) -> usize {
        self.registry().open_waits()
    }
}

/// A wait begun in the registry, ended exactly once: by [`OpenWait::end`], or when
/// dropped (the request was abandoned mid-wait).
struct OpenWait<'a> {
    fleet: &'a Fleet,
    /// `None` once ended.
    id: Option<WaitId>,
}

impl OpenWait<'_> {
    fn end(mut self, now: Instant) -> WaitOutcome {
        let outcome = self
            .id
            .take()
            .and_then(|id| self.fleet.registry().end_wait(id, now));
        // Only this guard ends its wait, once: the wait is there.
        outcome.unwrap_or(WaitOutcome {
            of: 0,
            laggards: Vec::new(),
        })
    }
}

impl Drop for OpenWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.fleet.registry().end_wait(id, Instant::now());
        }
    }
}

/// One log line per change of state.
fn log(transition: &Transition) {
    match transition {
        Transition::Gone { key, silent_for } => warn!(
            service = %key.service, instance = %key.instance, silent_ms = silent_for.as_millis() as u64,
            "fleet: instance gone (no report for its missed heartbeats)"
        ),
        Transition::Changed {
            key,
            from,
            to,
            applied_sequence,
            lag,
        } => match to {
            InstanceState::Fresh => info!(
                service = %key.service, instance = %key.instance, %from, applied_sequence,
                "fleet: instance fresh and caught up"
            ),
            InstanceState::Lagging | InstanceState::Stale | InstanceState::NotReady => warn!(
                service = %key.service, instance = %key.instance, %from, state = %to, applied_sequence, lag,
                "fleet: instance {to}"
            ),
        },
    }
}

/// Subscribes to every presence subject and feeds `fleet`, until the task is aborted.
/// The subscription outlives NATS reconnects (the client renews it); if it cannot be
/// made, it is tried again every second.
pub async fn listen(client: async_nats::Client, fleet: Arc<Fleet>) {
    loop {
        match client.subscribe(PRESENCE_SUBJECTS).await {
            Ok(mut reports) => {
                while let Some(message) = reports.next().await {
                    fleet.accept_message(message.subject.as_str(), &message.payload);
                }
                warn!("the presence subscription ended; subscribing again");
            }
            Err(error) => warn!(%error, "cannot subscribe to presence reports; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Follows what this daemon's replica applies (the stream's last sequence, within
/// milliseconds), so that lagging is measured against the stream; until aborted.
pub async fn follow_stream(mut applied: watch::Receiver<u64>, fleet: Arc<Fleet>) {
    loop {
        let sequence = *applied.borrow_and_update();
        fleet.note_stream_sequence(sequence);
        if applied.changed().await.is_err() {
            return;
        }
    }
}

/// Sweeps every [`SWEEP_INTERVAL`], until aborted.
pub async fn sweep(fleet: Arc<Fleet>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        fleet.sweep();
    }
}
