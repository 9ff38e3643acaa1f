//! Several observers of the daemon's replica as one.
//!
//! [`veto_client::ListConfig::observed_by`] takes a single [`Observer`]; the daemon has
//! more than one listener for what its replica applies (the listing [`crate::index`],
//! the console's live feed). [`Fanout`] tells each of them, in order, from the one task
//! that writes the list, so each must stay as quick as an observer has to be.

use std::fmt;
use std::sync::Arc;

use veto_client::{Change, Observer};
use veto_proto::UnixSeconds;
use veto_proto::snapshot::Snapshot;

/// Tells every observer it holds, in the order given.
pub struct Fanout {
    observers: Vec<Arc<dyn Observer>>,
}

impl Fanout {
    /// The observers, told in this order.
    pub fn new(observers: Vec<Arc<dyn Observer>>) -> Fanout {
        Fanout { observers }
    }
}

impl fmt::Debug for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.observers).finish()
    }
}

impl Observer for Fanout {
    fn observe(&self, change: &Change<'_>) {
        for observer in &self.observers {
            observer.observe(change);
        }
    }

    fn sweep(&self, now: UnixSeconds) {
        for observer in &self.observers {
            observer.sweep(now);
        }
    }

    fn reset(&self) {
        for observer in &self.observers {
            observer.reset();
        }
    }

    fn snapshot(&self, bloom_capacities: [usize; 3]) -> Option<Snapshot> {
        self.observers
            .iter()
            .find_map(|observer| observer.snapshot(bloom_capacities))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use veto_proto::{RevocationRule, UnixSeconds};

    use super::*;

    #[derive(Debug, Default)]
    struct Counting {
        changes: AtomicU64,
        sweeps: AtomicU64,
    }

    impl Observer for Counting {
        fn observe(&self, _change: &Change<'_>) {
            self.changes.fetch_add(1, Ordering::Relaxed);
        }
        fn sweep(&self, _now: UnixSeconds) {
            self.sweeps.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_observer_sees_every_change_and_sweep() {
        let (first, second) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
        let fanout = Fanout::new(vec![first.clone(), second.clone()]);
        let rule = RevocationRule::jti("t", None, UnixSeconds(i64::MAX));
        fanout.observe(&Change::Rule {
            rule: &rule,
            digest: rule.digest(),
            sequence: 1,
            applied: veto_proto::Applied::New,
        });
        fanout.sweep(UnixSeconds::now());
        for observer in [first, second] {
            assert_eq!(observer.changes.load(Ordering::Relaxed), 1);
            assert_eq!(observer.sweeps.load(Ordering::Relaxed), 1);
        }
    }
}
