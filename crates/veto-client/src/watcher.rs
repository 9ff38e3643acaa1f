//! The freshness watcher: every 100 ms, turns the age of the newest applied tick into
//! the stale bit that checks read, and exports metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};
use veto_proto::RuleKind;

use crate::counters::CheckOutcome;
use crate::list::{READY, STALE, Shared};
use crate::metrics as names;

/// How often staleness is re-evaluated: the bound on how late the stale bit flips.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// How often counters and gauges are exported to the `metrics` facade.
const EXPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Milliseconds since the epoch, now.
pub(crate) fn now_unix_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// Recomputes the stale bit from the newest tick; returns (stale, tick age).
pub(crate) fn refresh_stale(shared: &Shared) -> (bool, Option<Duration>) {
    let last_tick = shared.last_tick_unix_ms.load(Ordering::Acquire);
    let age = (last_tick != 0).then(|| Duration::from_millis(now_unix_ms().saturating_sub(last_tick)));
    let stale = age.is_none_or(|age| age > shared.config.max_staleness);
    if stale {
        shared.status.fetch_or(STALE, Ordering::AcqRel);
    } else {
        shared.status.fetch_and(!STALE, Ordering::AcqRel);
    }
    (stale, age)
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(WATCH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_export = tokio::time::Instant::now();
    let mut was_stale = false;
    let mut ready_since: Option<tokio::time::Instant> = None;
    loop {
        interval.tick().await;
        let (stale, age) = refresh_stale(&shared);
        let ready = shared.status.load(Ordering::Acquire) & READY != 0;
        if ready && ready_since.is_none() {
            ready_since = Some(tokio::time::Instant::now());
        }
        // Just loaded and no tick seen yet is not news: the first tick is at most a
        // second away. Say "stale" once max_staleness has passed without one.
        let settling =
            age.is_none() && ready_since.is_some_and(|since| since.elapsed() <= shared.config.max_staleness);
        if ready && !settling && stale != was_stale {
            if stale {
                warn!(
                    age_ms = age.map(|age| age.as_millis() as u64),
                    max_staleness_ms = shared.config.max_staleness.as_millis() as u64,
                    policy = ?shared.config.stale_policy,
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
            export(&shared, age, stale);
        }
    }
}

fn export(shared: &Shared, age: Option<Duration>, stale: bool) {
    if let Some(age) = age {
        metrics::gauge!(names::FRESHNESS_AGE_SECONDS).set(age.as_secs_f64());
    }
    metrics::gauge!(names::STALE).set(if stale { 1.0 } else { 0.0 });
    let ready = shared.status.load(Ordering::Acquire) & READY != 0;
    metrics::gauge!(names::READY).set(if ready { 1.0 } else { 0.0 });
    for (outcome, label) in CheckOutcome::LABELED {
        metrics::counter!(names::CHECKS_TOTAL, "verdict" => label).absolute(shared.counters.total(outcome));
    }
    let stats = shared.replica.load().stats();
    for (kind, live) in RuleKind::EVERY.into_iter().zip(stats.live_by_kind) {
        metrics::gauge!(names::RULES_LIVE, "kind" => kind.as_str()).set(live as f64);
    }
    metrics::gauge!(names::BLOOM_DEAD_KEYS).set(stats.bloom_dead as f64);
}
