//! The freshness watcher: every 100 ms, turns the age of the newest applied tick into
//! the stale bit that checks read, and exports metrics.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use veto_proto::RuleKind;

use crate::counters::CheckOutcome;
use crate::metrics::names;
use crate::shared::ListState;

/// How often staleness is re-evaluated: the bound on how late the stale bit flips.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// How often counters and gauges are exported to the `metrics` facade.
const EXPORT_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) async fn run(state: Arc<ListState>) {
    let mut interval = tokio::time::interval(WATCH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_export = tokio::time::Instant::now();
    let mut was_stale = false;
    let mut ready_since: Option<tokio::time::Instant> = None;
    loop {
        interval.tick().await;
        let (stale, age) = state.refresh_stale();
        let ready = state.is_ready();
        if ready && ready_since.is_none() {
            ready_since = Some(tokio::time::Instant::now());
        }
        // Just loaded and no tick seen yet is not news: the first tick is at most a
        // second away. Say "stale" once max_staleness has passed without one.
        let settling =
            age.is_none() && ready_since.is_some_and(|since| since.elapsed() <= state.config.max_staleness);
        if ready && !settling && stale != was_stale {
            if stale {
                warn!(
                    age_ms = age.map(|age| age.as_millis() as u64),
                    max_staleness_ms = state.config.max_staleness.as_millis() as u64,
                    policy = ?state.config.stale_policy,
                    "revocation list is stale: no daemon tick applied within max_staleness"
                );
            } else {
                info!("revocation list is fresh");
            }
        }
        if ready && !settling {
            was_stale = stale;
        }
        if last_export.elapsed() >= EXPORT_INTERVAL {
            last_export = tokio::time::Instant::now();
            export(&state, age, stale);
        }
    }
}

fn export(state: &ListState, age: Option<Duration>, stale: bool) {
    if let Some(age) = age {
        metrics::gauge!(names::FRESHNESS_AGE_SECONDS).set(age.as_secs_f64());
    }
    metrics::gauge!(names::STALE).set(if stale { 1.0 } else { 0.0 });
    let ready = state.is_ready();
    metrics::gauge!(names::READY).set(if ready { 1.0 } else { 0.0 });
    for (outcome, label) in CheckOutcome::LABELED {
        metrics::counter!(names::CHECKS_TOTAL, "verdict" => label).absolute(state.counters.total(outcome));
    }
    let stats = state.replica.load().stats();
    for (kind, live) in RuleKind::EVERY.into_iter().zip(stats.live_by_kind) {
        metrics::gauge!(names::RULES_LIVE, "kind" => kind.as_str()).set(live as f64);
    }
    metrics::gauge!(names::BLOOM_DEAD_KEYS).set(stats.bloom_dead as f64);
}
