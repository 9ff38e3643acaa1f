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
//! - right after the serving replica applies a new stream sequence, at once (a receipt
//!   waits on it) as long as reports keep within a budget: [`REPORT_BURST`] at once,
//!   then one per [`REPORT_INTERVAL`] (a generic cell rate limit). Changes beyond the
//!   budget wait for the next report, which covers everything applied meanwhile: a
//!   burst of a thousand events is a few dozen reports, not a thousand, while writes
//!   a few milliseconds apart (a script revoking one key after another, each waiting
//!   for its receipt) are each reported at once. While the list is still loading,
//!   changes are reported at most every [`LOADING_REPORT_GAP`]: a fleet restarting at
//!   once must not flood the daemons with loading progress.
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

/// Reports that may go out at once, back to back, before [`REPORT_INTERVAL`] applies.
pub const REPORT_BURST: u32 = 10;

/// Under a sustained stream of changes, one report per this (500 a second per
/// instance at most). Why a budget and not a fixed gap after each report: a gap of even
/// 5 ms delayed every write that came within it of the previous one, 7.6 ms over
/// propagation at p99 in the receipts benchmark (2 ms allowed); a gap that widened
/// while changes kept coming locked writes a few milliseconds apart into its widest.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(2);

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
    let mut budget = Budget::new(Instant::now());
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {}
            changed = applied.changed() => {
                if changed.is_err() {
                    return; // the list's state is gone
                }
                let allowed_at = match last_report {
                    Some(last) if !state.is_ready() => last + LOADING_REPORT_GAP,
                    _ => budget.allowed_at(),
                };
                // Beyond the budget, gather what is applied meanwhile into one report.
                // (Not even a zero sleep within it: the timer's millisecond ticks would
                // delay the report.)
                if allowed_at > Instant::now() {
                    tokio::time::sleep_until(allowed_at).await;
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
        let now = Instant::now();
        last_report = Some(now);
        budget.spend(now);
        // A report just went out: the next heartbeat is a whole interval away.
        heartbeat.reset();
    }
}

/// The report budget: a generic cell rate algorithm, [`REPORT_BURST`] reports at once,
/// then one per [`REPORT_INTERVAL`].
#[derive(Debug)]
struct Budget {
    /// When the next report would be due if reports went out exactly one per interval.
    theoretical_arrival: Instant,
}

impl Budget {
    fn new(now: Instant) -> Budget {
        Budget {
            theoretical_arrival: now,
        }
    }

    /// The earliest a report may go out.
    fn allowed_at(&self) -> Instant {
        let tolerance = REPORT_INTERVAL * (REPORT_BURST - 1);
        self.theoretical_arrival
            .checked_sub(tolerance)
            .unwrap_or(self.theoretical_arrival)
    }

    /// Counts a report sent at `now`.
    fn spend(&mut self, now: Instant) {
        self.theoretical_arrival = self.theoretical_arrival.max(now) + REPORT_INTERVAL;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_a_burst_then_one_report_per_interval() {
        let start = Instant::now();
        let mut budget = Budget::new(start);
        for _ in 0..REPORT_BURST {
            assert!(budget.allowed_at() <= start, "a burst goes out at once");
            budget.spend(start);
        }
        assert_eq!(budget.allowed_at(), start + REPORT_INTERVAL);
        budget.spend(start + REPORT_INTERVAL);
        assert_eq!(budget.allowed_at(), start + REPORT_INTERVAL * 2);
        // After a quiet spell the whole burst is back.
        let later = start + Duration::from_secs(1);
        assert!(budget.allowed_at() <= later);
        budget.spend(later);
        assert!(budget.allowed_at() <= later, "one report spends one of the burst");
        // Reports a few milliseconds apart never wait.
        let mut budget = Budget::new(start);
        for step in 0..1000u32 {
            let now = start + REPORT_INTERVAL * 2 * step;
            assert!(budget.allowed_at() <= now);
            budget.spend(now);
        }
    }
}
