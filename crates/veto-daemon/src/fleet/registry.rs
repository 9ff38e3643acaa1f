//! The live set of instances, the stream's recent history, and the writes waiting for
//! instances to apply them: data with the time passed in, so that every rule here (who
//! is gone, who lags, when a wait is over) is tested without waiting. [`super::Fleet`]
//! puts it behind a lock.
//!
//! A waiting write is settled here, by the report that completes it (or the sweep that
//! drops its last pending instance), so a receipt wakes its request once, not once per
//! report of every instance.
//!
//! Longer than most files on purpose: one structure (instances, the stream's recent
//! history, open waits) whose operations update all three under one lock.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use veto_api::{FleetResponse, InstanceState, InstanceView, Laggard, ServiceFleet, StateCounts, WaitScope};
use veto_proto::{Freshness, PresenceReport};

use super::FleetSettings;

/// An instance: its service and its id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceKey {
    /// The service.
    pub service: String,
    /// The instance id.
    pub instance: String,
}

impl std::fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.service, self.instance)
    }
}

/// What a report did to the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A new instance.
    Joined,
    /// A newer report of a known instance.
    Updated,
    /// A known instance id, started again.
    Restarted,
    /// Older than the report held (it arrived late): ignored.
    OutOfOrder,
    /// Not taken: `reason` (`fleet_full`: [`FleetSettings::max_instances`] are held;
    /// `started_in_the_future`: a start time ahead of this clock, which would make every
    /// later genuine report of the instance look older).
    Refused(&'static str),
}

/// A change of an instance's state, to log once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// From one state to another.
    Changed {
        /// Which.
        key: InstanceKey,
        /// Before.
        from: InstanceState,
        /// Now.
        to: InstanceState,
        /// Its applied sequence.
        applied_sequence: u64,
        /// Its lag, in sequences.
        lag: u64,
    },
    /// No report for its missed heartbeats: dropped.
    Gone {
        /// Which.
        key: InstanceKey,
        /// How long it has been silent.
        silent_for: Duration,
    },
}

/// One live instance.
#[derive(Clone, Debug)]
struct Instance {
    report: PresenceReport,
    last_seen: Instant,
    /// As last classified (transitions are logged against it).
    state: InstanceState,
}

/// Heartbeats are taken within these bounds, whatever a report claims.
const HEARTBEAT_BOUNDS_MS: (u64, u64) = (100, 3_600_000);

/// Sequences noticed within this of the previous noticed one share its time: a write
/// storm keeps a few entries, not one per write (and a sequence counts as stored at
/// most this much earlier than it was, for lag only).
const HISTORY_RESOLUTION: Duration = Duration::from_millis(10);

/// When the daemon learned of each recent stream sequence: lagging is "has not applied
/// what the stream held `lagging_after` ago", which needs the stream's past.
#[derive(Clone, Debug, Default)]
struct StreamHistory {
    /// (when noticed, the newest sequence then), oldest first, increasing.
    entries: VecDeque<(Instant, u64)>,
}

impl StreamHistory {
    fn newest(&self) -> u64 {
        self.entries.back().map_or(0, |(_, sequence)| *sequence)
    }

    fn note(&mut self, sequence: u64, now: Instant) {
        match self.entries.back_mut() {
            Some((_, newest)) if sequence <= *newest => {}
            Some((at, newest)) if now.saturating_duration_since(*at) < HISTORY_RESOLUTION => {
                *newest = sequence
            }
            _ => self.entries.push_back((now, sequence)),
        }
    }

    /// The newest sequence known at `at` (0 if none was).
    fn known_at(&self, at: Instant) -> u64 {
        self.entries
            .iter()
            .rev()
            .find(|(noticed, _)| *noticed <= at)
            .map_or(0, |(_, sequence)| *sequence)
    }

    /// Forgets what no question before `horizon` needs: every entry but the newest one
    /// at or before it.
    fn prune(&mut self, horizon: Instant) {
        while self.entries.len() > 1 && self.entries[1].0 <= horizon {
            self.entries.pop_front();
        }
    }
}

/// A write waiting until the live instances in its scope have applied its sequence.
#[derive(Debug)]
struct Waiter {
    sequence: u64,
    /// In scope, live, and not yet known to have applied `sequence`.
    pending: HashSet<InstanceKey>,
    /// In scope and live when the wait began, and still live.
    of: u64,
    /// Told once nothing is pending.
    done: Option<oneshot::Sender<()>>,
}

impl Waiter {
    /// Tells the waiting request, once nothing is pending.
    fn settle(&mut self) {
        if self.pending.is_empty()
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
    }
}

/// A wait begun with [`Registry::start_wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WaitId(u64);

/// How a wait ended: who was in scope, and who had not applied the sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitOutcome {
    /// In scope and live when the wait began, and still live.
    pub of: u64,
    /// Those that had not applied it.
    pub laggards: Vec<Laggard>,
}

/// The live instances, by service then id, the stream's recent history, and the waits.
#[derive(Debug)]
pub struct Registry {
    settings: FleetSettings,
    instances: BTreeMap<InstanceKey, Instance>,
    history: StreamHistory,
    waiters: HashMap<WaitId, Waiter>,
    next_wait: u64,
}

impl Registry {
    /// Nobody yet.
    pub fn new(settings: FleetSettings) -> Registry {
        Registry {
            settings,
            instances: BTreeMap::new(),
            history: StreamHistory::default(),
            waiters: HashMap::new(),
            next_wait: 0,
        }
    }

    /// Begins a wait for the instances in `scope` live now to apply `sequence`; the
    /// receiver is told once none is pending (at once if none is).
    pub fn start_wait(&mut self, scope: &WaitScope, sequence: u64) -> (WaitId, oneshot::Receiver<()>) {
        let (pending, of) = self.pending(scope, sequence);
        let (done, told) = oneshot::channel();
        let id = WaitId(self.next_wait);
        self.next_wait = self.next_wait.wrapping_add(1);
        let mut waiter = Waiter {
            sequence,
            pending: pending.into_iter().collect(),
            of,
            done: Some(done),
        };
        waiter.settle();
        self.waiters.insert(id, waiter);
        (id, told)
    }

    /// Ends a wait (complete, timed out, or abandoned); its outcome at `now`.
    pub fn end_wait(&mut self, id: WaitId, now: Instant) -> Option<WaitOutcome> {
        let waiter = self.waiters.remove(&id)?;
        let mut laggards: Vec<Laggard> = waiter
            .pending
            .iter()
            .filter_map(|key| self.laggard(key, now))
            .collect();
        laggards.sort_by(|a, b| (&a.service, &a.instance).cmp(&(&b.service, &b.instance)));
        Some(WaitOutcome {
            of: waiter.of,
            laggards,
        })
    }

    /// Waits still open.
    pub fn open_waits(&self) -> usize {
        self.waiters.len()
    }

    /// Takes a report received at `now`.
    pub fn accept(&mut self, report: PresenceReport, now: Instant) -> (InstanceKey, Accepted) {
        let key = InstanceKey {
            service: report.service.clone(),
            instance: report.instance.clone(),
        };
        // A minute of clock difference between hosts is tolerated.
        let latest_start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
            .saturating_add(60_000);
        if report.started_unix_ms > latest_start {
            return (key, Accepted::Refused("started_in_the_future"));
        }
        let accepted = match self.instances.get(&key) {
            None if self.instances.len() >= self.settings.max_instances => {
                return (key, Accepted::Refused("fleet_full"));
            }
            None => Accepted::Joined,
            Some(held) if !report.is_newer_than(&held.report) => return (key, Accepted::OutOfOrder),
            Some(held) if report.started_unix_ms != held.report.started_unix_ms => Accepted::Restarted,
            Some(_) => Accepted::Updated,
        };
        let state = self.instances.get(&key).map(|held| held.state);
        let mut instance = Instance {
            report,
            last_seen: now,
            state: InstanceState::Fresh,
        };
        // A new instance starts in the state it is in; a known one keeps its last state
        // until [`Registry::reclassify`] notices the change (and it is logged).
        instance.state = state.unwrap_or_else(|| self.classify(&instance, now));
        let applied_sequence = instance.report.applied_sequence;
        self.instances.insert(key.clone(), instance);
        for waiter in self.waiters.values_mut() {
            if applied_sequence >= waiter.sequence && waiter.pending.remove(&key) {
                waiter.settle();
            }
        }
        (key, accepted)
    }

    /// Notes that the stream holds `sequence` (or more) at `now`.
    pub fn note_sequence(&mut self, sequence: u64, now: Instant) {
        self.history.note(sequence, now);
    }

    /// The newest stream sequence the daemon knows of.
    pub fn newest_sequence(&self) -> u64 {
        self.history.newest()
    }

    /// How the daemon sees `instance` at `now`.
    fn classify(&self, instance: &Instance, now: Instant) -> InstanceState {
        match instance.report.freshness {
            Freshness::NotReady => InstanceState::NotReady,
            Freshness::Stale => InstanceState::Stale,
            Freshness::Fresh => {
                let due = now
                    .checked_sub(self.settings.lagging_after)
                    .map_or(0, |then| self.history.known_at(then));
                if instance.report.applied_sequence < due {
                    InstanceState::Lagging
                } else {
                    InstanceState::Fresh
                }
            }
        }
    }

    /// How long `instance` may stay silent before it is gone.
    fn silence_allowed(&self, instance: &Instance) -> Duration {
        let (shortest, longest) = HEARTBEAT_BOUNDS_MS;
        let heartbeat = Duration::from_millis(instance.report.heartbeat_ms.clamp(shortest, longest));
        heartbeat * self.settings.missed_heartbeats
    }

    /// Drops the instances gone at `now`, classifies the others again, and returns what
    /// changed (each change once).
    pub fn sweep(&mut self, now: Instant) -> Vec<Transition> {
        let mut transitions = Vec::new();
        let gone: Vec<(InstanceKey, Duration)> = self
            .instances
            .iter()
            .filter_map(|(key, instance)| {
                let silent_for = now.saturating_duration_since(instance.last_seen);
                (silent_for > self.silence_allowed(instance)).then(|| (key.clone(), silent_for))
            })
            .collect();
        for (key, silent_for) in gone {
            self.instances.remove(&key);
            // No longer part of the fleet a write waits for.
            for waiter in self.waiters.values_mut() {
                if waiter.pending.remove(&key) {
                    waiter.of -= 1;
                    waiter.settle();
                }
            }
            transitions.push(Transition::Gone { key, silent_for });
        }
        let newest = self.newest_sequence();
        let classified: Vec<(InstanceKey, InstanceState)> = self
            .instances
            .iter()
            .map(|(key, instance)| (key.clone(), self.classify(instance, now)))
            .collect();
        for (key, to) in classified {
            let Some(instance) = self.instances.get_mut(&key) else {
                continue;
            };
            if instance.state != to {
                transitions.push(Transition::Changed {
                    from: instance.state,
                    to,
                    applied_sequence: instance.report.applied_sequence,
                    lag: newest.saturating_sub(instance.report.applied_sequence),
                    key,
                });
                instance.state = to;
            }
        }
        if let Some(horizon) = now.checked_sub(self.settings.lagging_after) {
            self.history.prune(horizon);
        }
        transitions
    }

    /// Instances by state, and the largest lag, as of the last sweep.
    pub fn counts(&self) -> (StateCounts, u64) {
        let newest = self.newest_sequence();
        let mut counts = StateCounts::default();
        let mut max_lag = 0;
        for instance in self.instances.values() {
            counts.add(instance.state);
            max_lag = max_lag.max(newest.saturating_sub(instance.report.applied_sequence));
        }
        (counts, max_lag)
    }

    /// The live instances in `scope` that have not applied `sequence`, and how many
    /// are in scope.
    pub fn pending(&self, scope: &WaitScope, sequence: u64) -> (Vec<InstanceKey>, u64) {
        let mut in_scope = 0;
        let mut pending = Vec::new();
        for (key, instance) in &self.instances {
            if scope.includes(&key.service) {
                in_scope += 1;
                if instance.report.applied_sequence < sequence {
                    pending.push(key.clone());
                }
            }
        }
        (pending, in_scope)
    }

    /// `key` as a laggard at `now`.
    pub fn laggard(&self, key: &InstanceKey, now: Instant) -> Option<Laggard> {
        let instance = self.instances.get(key)?;
        Some(Laggard {
            service: key.service.clone(),
            instance: key.instance.clone(),
            applied_sequence: instance.report.applied_sequence,
            state: self.classify(instance, now),
            freshness: instance.report.freshness,
            tick_age_ms: tick_age_now(instance, now),
            last_seen_ms: millis(now.saturating_duration_since(instance.last_seen)),
        })
    }

    /// The whole view at `now`, against the stream's last sequence `stream_last`.
    pub fn view(&self, stream_last: u64, now: Instant) -> FleetResponse {
        let stream_last = stream_last.max(self.newest_sequence());
        let mut services: Vec<ServiceFleet> = Vec::new();
        let mut by_state = StateCounts::default();
        let mut max_lag = 0;
        for (key, instance) in &self.instances {
            let state = self.classify(instance, now);
            let lag = stream_last.saturating_sub(instance.report.applied_sequence);
            by_state.add(state);
            max_lag = max_lag.max(lag);
            let view = InstanceView {
                instance: key.instance.clone(),
                version: instance.report.version.clone(),
                applied_sequence: instance.report.applied_sequence,
                lag,
                state,
                freshness: instance.report.freshness,
                tick_age_ms: tick_age_now(instance, now),
                rules: instance.report.rules,
                bloom: instance.report.bloom,
                last_seen_ms: millis(now.saturating_duration_since(instance.last_seen)),
                heartbeat_ms: instance.report.heartbeat_ms,
                started_unix_ms: instance.report.started_unix_ms,
            };
            match services.last_mut() {
                Some(service) if service.service == key.service => {
                    service.by_state.add(state);
                    service.min_applied_sequence = service.min_applied_sequence.min(view.applied_sequence);
                    service.instances.push(view);
                }
                _ => {
                    let mut service_states = StateCounts::default();
                    service_states.add(state);
                    services.push(ServiceFleet {
                        service: key.service.clone(),
                        by_state: service_states,
                        min_applied_sequence: view.applied_sequence,
                        instances: vec![view],
                    });
                }
            }
        }
        FleetResponse {
            stream_last_sequence: stream_last,
            instances: by_state.total(),
            by_state,
            max_lag,
            services,
        }
    }
}

/// Its tick age as reported, plus the time since the report.
fn tick_age_now(instance: &Instance, now: Instant) -> Option<u64> {
    instance
        .report
        .tick_age_ms
        .map(|age| age.saturating_add(millis(now.saturating_duration_since(instance.last_seen))))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use veto_proto::BloomReport;

    use super::*;

    fn settings() -> FleetSettings {
        FleetSettings {
            missed_heartbeats: 3,
            lagging_after: Duration::from_secs(2),
            ..FleetSettings::default()
        }
    }

    fn report(service: &str, instance: &str, applied_sequence: u64, sent: u64) -> PresenceReport {
        PresenceReport {
            service: service.into(),
            instance: instance.into(),
            version: "0.1.0".into(),
            applied_sequence,
            freshness: Freshness::Fresh,
            tick_age_ms: Some(100),
            rules: 1,
            bloom: BloomReport::default(),
            heartbeat_ms: 1000,
            started_unix_ms: 1_000,
            report: sent,
        }
    }

    #[test]
    fn whoever_may_publish_presence_cannot_grow_the_registry_or_pin_an_instance() {
        let now = Instant::now();
        let mut registry = Registry::new(FleetSettings {
            max_instances: 2,
            ..settings()
        });
        assert_eq!(
            registry.accept(report("orders", "a", 1, 1), now).1,
            Accepted::Joined
        );
        assert_eq!(
            registry.accept(report("orders", "b", 1, 1), now).1,
            Accepted::Joined
        );
        assert_eq!(
            registry.accept(report("orders", "c", 1, 1), now).1,
            Accepted::Refused("fleet_full")
        );
        assert_eq!(
            registry.accept(report("orders", "a", 2, 2), now).1,
            Accepted::Updated
        );
        // A start far ahead would make every genuine report of "a" look older.
        let forged = PresenceReport {
            started_unix_ms: u64::MAX,
            applied_sequence: u64::MAX,
            ..report("orders", "a", 0, 3)
        };
        assert_eq!(
            registry.accept(forged, now).1,
            Accepted::Refused("started_in_the_future")
        );
        assert_eq!(
            registry.accept(report("orders", "a", 3, 4), now).1,
            Accepted::Updated
        );
    }

    #[test]
    fn an_instance_that_does_not_apply_what_the_stream_held_lags() {
        let start = Instant::now();
        let mut registry = Registry::new(settings());
        registry.note_sequence(10, start);
        registry.accept(report("orders", "a", 10, 1), start);
        registry.accept(report("orders", "b", 10, 1), start);
        assert!(registry.sweep(start).is_empty());

        // The stream moves on; b keeps up, a does not.
        let later = start + Duration::from_millis(500);
        registry.note_sequence(11, later);
        registry.accept(report("orders", "b", 11, 2), later + Duration::from_millis(2));
        let at = |ms: u64| start + Duration::from_millis(ms);
        registry.accept(report("orders", "a", 10, 2), at(1500));
        assert!(registry.sweep(at(2400)).is_empty(), "not yet lagging_after");
        let transitions = registry.sweep(at(2600));
        assert_eq!(
            transitions,
            vec![Transition::Changed {
                key: InstanceKey {
                    service: "orders".into(),
                    instance: "a".into()
                },
                from: InstanceState::Fresh,
                to: InstanceState::Lagging,
                applied_sequence: 10,
                lag: 1,
            }]
        );
        assert!(registry.sweep(at(2700)).is_empty(), "a state change is told once");
        let (counts, max_lag) = registry.counts();
        assert_eq!((counts.fresh, counts.lagging, max_lag), (1, 1, 1));

        // It catches up.
        registry.accept(report("orders", "a", 11, 3), at(2800));
        assert!(matches!(
            registry.sweep(at(2800)).as_slice(),
            [Transition::Changed {
                to: InstanceState::Fresh,
                ..
            }]
        ));
    }

    #[test]
    fn silent_instances_are_gone_after_their_missed_heartbeats_and_restarts_are_one_instance() {
        let start = Instant::now();
        let mut registry = Registry::new(settings());
        let (_, accepted) = registry.accept(report("orders", "a", 5, 1), start);
        assert_eq!(accepted, Accepted::Joined);
        let (_, accepted) = registry.accept(report("orders", "a", 6, 3), start);
        assert_eq!(accepted, Accepted::Updated);
        let (_, late) = registry.accept(report("orders", "a", 5, 2), start);
        assert_eq!(late, Accepted::OutOfOrder, "a late report never goes back");
        let restarted = PresenceReport {
            started_unix_ms: 2_000,
            ..report("orders", "a", 0, 1)
        };
        let (_, accepted) = registry.accept(restarted, start);
        assert_eq!(accepted, Accepted::Restarted);
        assert_eq!(registry.view(6, start).instances, 1);

        assert!(registry.sweep(start + Duration::from_millis(2900)).is_empty());
        let gone = registry.sweep(start + Duration::from_millis(3100));
        assert!(matches!(gone.as_slice(), [Transition::Gone { .. }]), "{gone:?}");
        assert_eq!(registry.view(6, start).instances, 0);
    }

    #[test]
    fn the_view_groups_by_service_and_waits_count_the_scope() {
        let now = Instant::now();
        let mut registry = Registry::new(settings());
        registry.note_sequence(20, now);
        registry.accept(report("orders", "o-2", 20, 1), now);
        registry.accept(report("billing", "b-1", 18, 1), now);
        registry.accept(report("orders", "o-1", 19, 1), now);
        let view = registry.view(21, now);
        assert_eq!(view.stream_last_sequence, 21);
        assert_eq!(view.max_lag, 3);
        let names: Vec<(&str, Vec<&str>)> = view
            .services
            .iter()
            .map(|service| {
                (
                    service.service.as_str(),
                    service.instances.iter().map(|i| i.instance.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![("billing", vec!["b-1"]), ("orders", vec!["o-1", "o-2"])]
        );
        assert_eq!(view.services[1].min_applied_sequence, 19);

        let (pending, of) = registry.pending(&WaitScope::Fleet, 20);
        assert_eq!((pending.len(), of), (2, 3));
        let (pending, of) = registry.pending(&WaitScope::Service("orders".into()), 20);
        assert_eq!((pending.len(), of), (1, 2));
        let laggard = registry.laggard(&pending[0], now).expect("live");
        assert_eq!((laggard.instance.as_str(), laggard.applied_sequence), ("o-1", 19));
    }

    #[test]
    fn a_wait_is_told_once_by_the_report_that_completes_it_or_the_sweep_that_drops_the_last() {
        let now = Instant::now();
        let mut registry = Registry::new(settings());
        registry.accept(report("orders", "o-1", 5, 1), now);
        registry.accept(report("orders", "o-2", 5, 1), now);
        registry.accept(report("billing", "b-1", 5, 1), now);
        let (orders, mut orders_done) = registry.start_wait(&WaitScope::Service("orders".into()), 6);
        let (fleet, mut fleet_done) = registry.start_wait(&WaitScope::Fleet, 6);
        let (nobody, mut nobody_done) = registry.start_wait(&WaitScope::Service("search".into()), 6);
        assert!(
            nobody_done.try_recv().is_ok(),
            "nothing to wait for: told at once"
        );
        assert_eq!(registry.end_wait(nobody, now).map(|outcome| outcome.of), Some(0));

        registry.accept(report("orders", "o-1", 6, 2), now);
        assert!(orders_done.try_recv().is_err(), "o-2 pending");
        registry.accept(report("orders", "o-2", 7, 2), now);
        assert!(orders_done.try_recv().is_ok());
        let outcome = registry.end_wait(orders, now).expect("open");
        assert_eq!((outcome.of, outcome.laggards.len()), (2, 0));

        // b-1 stays behind: named at the end; then dropped when gone.
        let outcome = registry.end_wait(fleet, now).expect("open");
        assert_eq!(outcome.of, 3);
        assert_eq!(outcome.laggards.len(), 1);
        assert_eq!(outcome.laggards[0].instance, "b-1");
        assert!(fleet_done.try_recv().is_err());
        let (again, mut again_done) = registry.start_wait(&WaitScope::Fleet, 6);
        registry.accept(report("orders", "o-1", 6, 3), now + Duration::from_secs(2));
        registry.accept(report("orders", "o-2", 7, 3), now + Duration::from_secs(2));
        registry.sweep(now + Duration::from_millis(3500));
        assert!(again_done.try_recv().is_ok(), "the last pending one went away");
        let outcome = registry.end_wait(again, now).expect("open");
        assert_eq!((outcome.of, outcome.laggards.len()), (2, 0));
        assert_eq!(registry.open_waits(), 0);
    }

    #[test]
    fn history_keeps_what_lagging_needs_and_no_more() {
        let start = Instant::now();
        let mut history = StreamHistory::default();
        for step in 0..100u64 {
            history.note(step + 1, start + Duration::from_millis(step * 100));
        }
        assert_eq!(history.known_at(start + Duration::from_millis(450)), 5);
        history.prune(start + Duration::from_millis(8000));
        assert_eq!(history.known_at(start + Duration::from_millis(8050)), 81);
        assert_eq!(history.entries.len(), 20);
        history.note(100, start + Duration::from_secs(20));
        assert_eq!(history.entries.len(), 20, "nothing newer");
        history.note(101, start + Duration::from_secs(20));
        history.note(102, start + Duration::from_secs(20) + Duration::from_millis(1));
        assert_eq!(history.entries.len(), 21, "a burst shares one entry");
        assert_eq!(history.newest(), 102);
    }
}
