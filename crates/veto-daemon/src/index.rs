//! The daemon's listing index: for every key its replica holds, the rule in full (value,
//! scope, audit fields) or the lift that removed it, with the stream sequence of that
//! message and of the latest message on the key's subject, kept from what the replica
//! applies (an [`Observer`]). `GET` and the paged list answer from it (what services
//! see); the publisher reads a key's state and compare-and-set sequence from it; and
//! when the latest message on a held key's subject is not the daemon's own valid event
//! (garbage, unsigned, forged, or an old event replayed), it queues the key for repair.
//!
//! Services do not keep rules in full; only the daemon lists them, so the index lives
//! here rather than in the client library. A `BTreeMap` keyed by (kind, digest) gives
//! the paging order and lets a page of one kind start at that kind, never walking the
//! others under the lock.
//!
//! Longer than most files on purpose: the index and the observer that keeps it are one
//! structure.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use veto_client::{Change, Observer};
use veto_proto::snapshot::Snapshot;
use veto_proto::{Applied, KeyDigest, Lift, RevocationRule, RuleKind, UnixSeconds};

use crate::capture::{SnapshotOrigin, from_rules};

/// A live rule as the stream holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRule {
    /// The rule (merged with every earlier revocation of its key).
    pub rule: RevocationRule,
    /// The stream sequence of the message that holds it.
    pub sequence: u64,
}

/// What the index holds for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyEntry {
    /// A live rule.
    Held(RevocationRule),
    /// A tombstone: the lift, and the lifted rule's `expires_at`.
    Lifted(Lift, UnixSeconds),
}

/// A key's state, and where it stands in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyView {
    /// What is held; `None`: nothing.
    pub entry: Option<KeyEntry>,
    /// The sequence of the message that put the key in this state (0: none).
    pub sequence: u64,
    /// The sequence of the latest message seen on the key's subject, valid or not: the
    /// compare-and-set value of the next write.
    pub subject_sequence: u64,
}

impl KeyView {
    const ABSENT: KeyView = KeyView {
        entry: None,
        sequence: 0,
        subject_sequence: 0,
    };

    /// Whether the latest message on the subject is not the one holding the state.
    pub fn needs_repair(&self) -> bool {
        self.entry.is_some() && self.subject_sequence > self.sequence
    }
}

/// Every key the daemon's replica holds, by (kind, digest).
#[derive(Debug)]
pub struct RuleIndex {
    keys: RwLock<BTreeMap<(RuleKind, KeyDigest), KeyView>>,
    /// The highest stream sequence of a change told to the index.
    applied_sequence: watch::Sender<u64>,
    /// Keys whose subject's latest message is not the daemon's valid event.
    repairs: Mutex<BTreeSet<(RuleKind, KeyDigest)>>,
    repairs_queued: Notify,
}

impl Default for RuleIndex {
    fn default() -> Self {
        RuleIndex {
            keys: RwLock::new(BTreeMap::new()),
            applied_sequence: watch::channel(0).0,
            repairs: Mutex::new(BTreeSet::new()),
            repairs_queued: Notify::new(),
        }
    }
}

impl RuleIndex {
    /// An empty index.
    pub fn new() -> RuleIndex {
        RuleIndex::default()
    }

    /// The live rule for a key.
    pub fn rule(&self, kind: RuleKind, iss: Option<&str>, value: Option<&str>) -> Option<StoredRule> {
        self.rule_by_digest(kind, KeyDigest::of(kind, iss, value))
    }

    fn rule_by_digest(&self, kind: RuleKind, digest: KeyDigest) -> Option<StoredRule> {
        let keys = self.keys.read().unwrap_or_else(|poison| poison.into_inner());
        let view = keys.get(&(kind, digest))?;
        live_rule(view, UnixSeconds::now())
    }

    /// A key's state and sequences (expired state counts as none).
    pub fn view(&self, kind: RuleKind, digest: KeyDigest) -> KeyView {
        let keys = self.keys.read().unwrap_or_else(|poison| poison.into_inner());
        let Some(view) = keys.get(&(kind, digest)) else {
            return KeyView::ABSENT;
        };
        let now = UnixSeconds::now();
        let expired = match &view.entry {
            Some(KeyEntry::Held(rule)) => rule.expires_at <= now,
            Some(KeyEntry::Lifted(_, rule_expires_at)) => *rule_expires_at <= now,
            None => false,
        };
        if expired {
            KeyView {
                entry: None,
                ..view.clone()
            }
        } else {
            view.clone()
        }
    }

    /// Up to `limit` live rules in key order, after the key `after` (a paging cursor),
    /// of one kind or of every kind.
    pub fn rules(
        &self,
        kind: Option<RuleKind>,
        after: Option<(RuleKind, KeyDigest)>,
        limit: usize,
    ) -> Vec<StoredRule> {
        const FIRST: KeyDigest = KeyDigest([0; 16]);
        const LAST: KeyDigest = KeyDigest([0xff; 16]);
        let start = match (after, kind) {
            (Some(key), Some(kind)) if key.0 < kind => Bound::Included((kind, FIRST)),
            (Some(key), _) => Bound::Excluded(key),
            (None, Some(kind)) => Bound::Included((kind, FIRST)),
            (None, None) => Bound::Unbounded,
        };
        let end = match kind {
            Some(kind) => Bound::Included((kind, LAST)),
            None => Bound::Unbounded,
        };
        let now = UnixSeconds::now();
        let keys = self.keys.read().unwrap_or_else(|poison| poison.into_inner());
        keys.range((start, end))
            .filter_map(|(_, view)| live_rule(view, now))
            .take(limit)
            .collect()
    }

    /// Every live rule and live tombstone, with the stream sequence they stand at: what
    /// a snapshot holds. One consistent read.
    pub fn live_state(&self, now: UnixSeconds) -> (u64, Vec<RevocationRule>, Vec<(KeyDigest, UnixSeconds)>) {
        let keys = self.keys.read().unwrap_or_else(|poison| poison.into_inner());
        let sequence = *self.applied_sequence.borrow();
        let mut rules = Vec::new();
        let mut tombstones = Vec::new();
        for ((_, digest), view) in keys.iter() {
            match &view.entry {
                Some(KeyEntry::Held(rule)) if rule.expires_at > now => rules.push(rule.clone()),
                Some(KeyEntry::Lifted(_, rule_expires_at)) if *rule_expires_at > now => {
                    tombstones.push((*digest, *rule_expires_at));
                }
                _ => {}
            }
        }
        (sequence, rules, tombstones)
    }

    /// The live rules as a snapshot from `(stream, its creation time in unix ns,
    /// daemon)`, under one read (rules, tombstones and sequence consistent), its bloom
    /// filters sized as [`from_rules`] says.
    pub fn capture(
        &self,
        (stream, stream_created_unix_ns, daemon): (&str, i64, &str),
        bloom_capacities: Option<[usize; 3]>,
    ) -> Snapshot {
        let (sequence, rules, tombstones) = self.live_state(UnixSeconds::now());
        let origin = SnapshotOrigin {
            stream,
            stream_created_unix_ns,
            sequence,
            daemon,
        };
        from_rules(origin, &rules, &tombstones, bloom_capacities)
    }

    /// The highest stream sequence the index has applied.
    pub fn applied_sequence(&self) -> u64 {
        *self.applied_sequence.borrow()
    }

    /// Waits, up to `limit`, until the index has applied stream sequence `sequence`;
    /// whether it has.
    pub async fn wait_for(&self, sequence: u64, limit: Duration) -> bool {
        let mut applied = self.applied_sequence.subscribe();
        tokio::time::timeout(limit, applied.wait_for(|applied| *applied >= sequence))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }

    /// Waits until a key is queued for repair, then takes every queued key.
    pub async fn next_repairs(&self) -> Vec<(RuleKind, KeyDigest)> {
        loop {
            let notified = self.repairs_queued.notified();
            let queued: Vec<_> =
                std::mem::take(&mut *self.repairs.lock().unwrap_or_else(|poison| poison.into_inner()))
                    .into_iter()
                    .collect();
            if !queued.is_empty() {
                return queued;
            }
            notified.await;
        }
    }

    /// Queues a key for repair.
    pub fn queue_repair(&self, key: (RuleKind, KeyDigest)) {
        self.repairs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(key);
        self.repairs_queued.notify_one();
    }

    /// Notes a message on a key's subject that did not change its state.
    fn note_other_message(
        &self,
        keys: &mut BTreeMap<(RuleKind, KeyDigest), KeyView>,
        key: (RuleKind, KeyDigest),
        sequence: u64,
    ) {
        if let Some(view) = keys.get_mut(&key) {
            view.subject_sequence = view.subject_sequence.max(sequence);
            if view.needs_repair() {
                self.queue_repair(key);
            }
        }
    }
}

fn live_rule(view: &KeyView, now: UnixSeconds) -> Option<StoredRule> {
    match &view.entry {
        Some(KeyEntry::Held(rule)) if rule.expires_at > now => Some(StoredRule {
            rule: rule.clone(),
            sequence: view.sequence,
        }),
        _ => None,
    }
}

impl Observer for RuleIndex {
    /// The index keeps every live rule in full: its rules are what the list refills its
    /// bloom filters from.
    fn snapshot(&self, bloom_capacities: [usize; 3]) -> Option<Snapshot> {
        Some(self.capture(("", 0, ""), Some(bloom_capacities)))
    }

    fn observe(&self, change: &Change<'_>) {
        let mut keys = self.keys.write().unwrap_or_else(|poison| poison.into_inner());
        let sequence = match *change {
            Change::Rule {
                rule,
                digest,
                sequence,
                applied,
            } => {
                let key = (rule.kind, digest);
                match applied {
                    Applied::New | Applied::Strengthened | Applied::Unchanged => {
                        let merged = match keys.get(&key).and_then(|view| view.entry.as_ref()) {
                            Some(KeyEntry::Held(held)) if applied != Applied::New => {
                                held.strengthened_by(rule)
                            }
                            _ => rule.clone(),
                        };
                        keys.insert(
                            key,
                            KeyView {
                                entry: Some(KeyEntry::Held(merged)),
                                sequence,
                                subject_sequence: sequence,
                            },
                        );
                    }
                    Applied::Lifted | Applied::Replayed => self.note_other_message(&mut keys, key, sequence),
                }
                sequence
            }
            Change::Lift {
                lift,
                digest,
                sequence,
                applied,
            } => {
                let key = (lift.kind, digest);
                let lifted_until = lift.rule_expires_at.unwrap_or(UnixSeconds::EPOCH);
                match applied {
                    Applied::Lifted => {
                        keys.insert(
                            key,
                            KeyView {
                                entry: Some(KeyEntry::Lifted(lift.clone(), lifted_until)),
                                sequence,
                                subject_sequence: sequence,
                            },
                        );
                    }
                    Applied::Unchanged if lift.rule_expires_at.is_some() => {
                        let until = match keys.get(&key).and_then(|view| view.entry.as_ref()) {
                            Some(KeyEntry::Lifted(_, kept)) => (*kept).max(lifted_until),
                            _ => lifted_until,
                        };
                        keys.insert(
                            key,
                            KeyView {
                                entry: Some(KeyEntry::Lifted(lift.clone(), until)),
                                sequence,
                                subject_sequence: sequence,
                            },
                        );
                    }
                    _ => self.note_other_message(&mut keys, key, sequence),
                }
                sequence
            }
            Change::Expired {
                kind,
                digest,
                sequence,
            } => {
                keys.remove(&(kind, digest));
                sequence
            }
            Change::Ignored { key, sequence, .. } => {
                if let Some(key) = key {
                    self.note_other_message(&mut keys, key, sequence);
                }
                sequence
            }
        };
        // Under the lock: a reader of the keys reads the sequence they stand at.
        self.applied_sequence.send_if_modified(|applied| {
            let advanced = sequence > *applied;
            *applied = (*applied).max(sequence);
            advanced
        });
        drop(keys);
    }

    fn sweep(&self, now: UnixSeconds) {
        let mut keys = self.keys.write().unwrap_or_else(|poison| poison.into_inner());
        keys.retain(|_, view| match &view.entry {
            Some(KeyEntry::Held(rule)) => rule.expires_at > now,
            Some(KeyEntry::Lifted(_, rule_expires_at)) => *rule_expires_at > now,
            None => false,
        });
    }

    fn reset(&self) {
        self.keys
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .clear();
        self.repairs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clear();
        self.applied_sequence.send_replace(0);
    }
}

#[cfg(test)]
mod tests {
    use veto_proto::Lift;

    use super::*;

    fn jti(value: &str, expires_in_secs: u64) -> RevocationRule {
        RevocationRule::jti(
            value,
            None,
            UnixSeconds::now().saturating_add(Duration::from_secs(expires_in_secs)),
        )
    }

    fn observe_rule(index: &RuleIndex, rule: &RevocationRule, sequence: u64, applied: Applied) {
        index.observe(&Change::Rule {
            rule,
            digest: rule.digest(),
            sequence,
            applied,
        });
    }

    #[test]
    fn rules_come_and_go_with_the_changes_applied() {
        let index = RuleIndex::new();
        let rule = jti("t-1", 60);
        observe_rule(&index, &rule, 1, Applied::New);
        assert_eq!(
            index.rule(RuleKind::Jti, None, Some("t-1")),
            Some(StoredRule {
                rule: rule.clone(),
                sequence: 1
            })
        );
        let lift = Lift {
            kind: RuleKind::Jti,
            value: Some("t-1".into()),
            iss: None,
            reason: None,
            lifted_by: None,
            lifted_at: UnixSeconds::now(),
            rule_expires_at: Some(rule.expires_at),
        };
        index.observe(&Change::Lift {
            lift: &lift,
            digest: lift.digest(),
            sequence: 2,
            applied: Applied::Lifted,
        });
        assert_eq!(index.rule(RuleKind::Jti, None, Some("t-1")), None);
        assert_eq!(index.applied_sequence(), 2);
        let view = index.view(RuleKind::Jti, rule.digest());
        assert_eq!(view.entry, Some(KeyEntry::Lifted(lift, rule.expires_at)));
        assert!(!view.needs_repair());
    }

    #[test]
    fn a_bad_message_on_a_held_key_queues_a_repair() {
        let index = RuleIndex::new();
        let rule = jti("t-1", 600);
        observe_rule(&index, &rule, 1, Applied::New);
        // An older rule replayed on top: the index keeps the stronger one.
        observe_rule(&index, &jti("t-1", 60), 2, Applied::Replayed);
        let view = index.view(RuleKind::Jti, rule.digest());
        assert_eq!(view.entry, Some(KeyEntry::Held(rule.clone())));
        assert_eq!((view.sequence, view.subject_sequence), (1, 2));
        assert!(view.needs_repair());
        index.observe(&Change::Ignored {
            key: Some((RuleKind::Jti, rule.digest())),
            sequence: 3,
            reason: "unsigned",
        });
        assert_eq!(index.view(RuleKind::Jti, rule.digest()).subject_sequence, 3);
        let repairs = futures_util::FutureExt::now_or_never(index.next_repairs()).expect("queued");
        assert_eq!(repairs, vec![(RuleKind::Jti, rule.digest())]);
    }

    #[test]
    fn a_page_of_one_kind_starts_at_that_kind() {
        let index = RuleIndex::new();
        let policy = veto_proto::TokenPolicy::default();
        let rules: Vec<RevocationRule> = (0..5)
            .map(|n| jti(&format!("t-{n}"), 60))
            .chain((0..3).map(|n| {
                RevocationRule::sub_or_sid(
                    RuleKind::Sub,
                    &format!("u-{n}"),
                    None,
                    UnixSeconds::now(),
                    &policy,
                )
            }))
            .collect();
        for (sequence, rule) in rules.iter().enumerate() {
            observe_rule(&index, rule, sequence as u64 + 1, Applied::New);
        }
        let subs = index.rules(Some(RuleKind::Sub), None, 10);
        assert_eq!(subs.len(), 3);
        assert!(subs.iter().all(|stored| stored.rule.kind == RuleKind::Sub));
        let first = index.rules(Some(RuleKind::Jti), None, 2);
        let last = &first[1];
        let rest = index.rules(Some(RuleKind::Jti), Some((RuleKind::Jti, last.rule.digest())), 10);
        assert_eq!(first.len() + rest.len(), 5);
        assert_eq!(index.rules(None, None, 100).len(), 8);
    }
}
