//! Presence: a list configured with [`crate::ListConfig::reporting_as`] tells the
//! daemons, on core NATS, who it is and what it has applied, so that an operator can ask
//! "did this revocation reach every service?" and be answered.
//!
//! The reporter is its own task and reads only the list's shared facts (the applied
//! sequence, readiness, staleness, the replica's counts): it never touches the follower
//! or the replica, and nothing it does changes what a check answers. A report
//! ([`veto_proto::PresenceReport`]) goes out
//!
//! - at start, then every heartbeat ([`crate::ListConfig::presence_heartbeat`]) in
//!   which nothing else was reported;
//! - right after the serving replica applies a new stream sequence. A change after a
//!   quiet spell is reported at once (a receipt waits on it); changes within
//!   [`REPORT_GAP`] of the last report are coalesced into one report at the end of the
//!   gap, so a burst of events costs one or two reports, not one per event. While the
//!   list is still loading, changes are reported at most every [`LOADING_REPORT_GAP`]:
//!   a fleet restarting at once must not flood the daemons with loading progress.
//!
//! While the NATS connection is down nothing is sent (rather than queued to arrive late
//! and out of date); the next change or heartbeat after reconnecting reports.
//! Presence subjects are outside the stream's (`veto.presence.v1.…`, see
//! [`veto_proto::presence`]): nothing reported is ever stored.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tracing::debug;
use veto_proto::{BloomReport, Freshness, PresenceReport};

use crate::config::PresenceIdentity;
use crate::shared::{ListState, now_unix_ms};

/// The least time between two reports of changes: a burst of changes within it is one
/// report. Short enough that a receipt waits little longer than propagation itself.
pub const REPORT_GAP: Duration = Duration::from_millis(5);

/// The least time between two reports of changes while the list is still loading.
pub const LOADING_REPORT_GAP: Duration = Duration::from_millis(250);

/// The shortest and longest heartbeat a list accepts.
pub const HEARTBEAT_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(3600));

/// What the reporter needs besides the shared state.
#[derive(Debug)]
pub(crate) struct Reporter {
    pub(crate) identity: PresenceIdentity,
    pub(crate) subject: String,
    pub(crate) heartbeat: Duration,
}

/// Reports until the list is dropped (which aborts this task).
pub(crate) async fn run(state: Arc<ListState>, client: async_nats::Client, reporter: Reporter) {
    let started_unix_ms = now_unix_ms();
    let mut applied = state.applied.subscribe();
    let mut heartbeat = tokio::time::interval(reporter.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sent = 0u64;
    let mut last_report: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {}
            changed = applied.changed() => {
                if changed.is_err() {
                    return; // the list's state is gone
                }
                if let Some(last) = last_report {
                    let gap = if state.is_ready() { REPORT_GAP } else { LOADING_REPORT_GAP };
                    tokio::time::sleep_until(last + gap).await;
                }
                // Everything applied until now goes into this report.
                applied.borrow_and_update();
            }
        }
        if client.connection_state() != async_nats::connection::State::Connected {
            continue;
        }
        sent += 1;
        let report = snapshot(&state, &reporter, started_unix_ms, sent);
        if let Err(error) = client
            .publish(reporter.subject.clone(), report.encode().into())
            .await
        {
            debug!(%error, "presence report not sent");
        }
        last_report = Some(Instant::now());
        // A report just went out: the next heartbeat is a whole interval away.
        heartbeat.reset();
    }
}

/// The list's state as a report.
fn snapshot(state: &ListState, reporter: &Reporter, started_unix_ms: u64, sent: u64) -> PresenceReport {
    let (stale, tick_age) = state.refresh_stale();
    let ready = state.is_ready();
    let freshness = match (ready, stale) {
        (false, _) => Freshness::NotReady,
        (true, true) => Freshness::Stale,
        (true, false) => Freshness::Fresh,
    };
    let stats = state.replica.load().stats();
    PresenceReport {
        service: reporter.identity.service.clone(),
        instance: reporter.identity.instance.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        applied_sequence: *state.applied.borrow(),
        freshness,
        tick_age_ms: tick_age.map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
        rules: stats.live(),
        bloom: BloomReport {
            keys: stats.bloom_inserted,
            dead: stats.bloom_dead,
            capacity: stats.bloom_capacity,
            bytes: stats.bloom_bytes,
        },
        heartbeat_ms: u64::try_from(reporter.heartbeat.as_millis()).unwrap_or(u64::MAX),
        started_unix_ms,
        report: sent,
    }
}
