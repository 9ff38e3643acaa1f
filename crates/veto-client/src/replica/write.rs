//! The writer's side: applying rules and lifts, forgetting, sweeping. Only the
//! follower task calls these; checks run concurrently and never wait on them for
//! longer than one shard's insert (or a sweep of 1/64 of a map).

use std::sync::atomic::Ordering;

use veto_proto::{KeyDigest, Lift, RevocationRule, RuleKind, UnixSeconds};

use super::{Replica, kind_index};
use crate::exact::{IssuedBeforeTimes, StoredDigest, stored_seconds};
use crate::replica::bloom_key;

impl Replica {
    /// Applies a rule: the latest state of its key.
    pub fn apply_rule(&self, rule: &RevocationRule) {
        self.apply_rule_keyed(rule, rule.digest());
    }

    /// [`Replica::apply_rule`] with the rule's digest already computed.
    pub fn apply_rule_keyed(&self, rule: &RevocationRule, digest: KeyDigest) {
        let issued_before_times = || IssuedBeforeTimes {
            issued_before: stored_seconds(rule.issued_before.unwrap_or(UnixSeconds::EPOCH)),
            expires_at: stored_seconds(rule.expires_at),
        };
        let was_new = match (rule.kind, rule.value.as_deref()) {
            (RuleKind::All, _) => match &rule.iss {
                None => {
                    self.all_unscoped
                        .swap(issued_before_times().pack(), Ordering::AcqRel)
                        == 0
                }
                Some(iss) => {
                    let mut scoped = self
                        .all_scoped
                        .write()
                        .unwrap_or_else(|poison| poison.into_inner());
                    let was_new = scoped.insert(iss.clone(), issued_before_times()).is_none();
                    self.all_scoped_present.store(true, Ordering::Release);
                    was_new
                }
            },
            (kind, Some(value)) => {
                let stored = StoredDigest::from(digest);
                let was_new = match kind {
                    RuleKind::Jti => self.jti.insert(stored, stored_seconds(rule.expires_at)).is_none(),
                    RuleKind::Sub => self.sub.insert(stored, issued_before_times()).is_none(),
                    _ => self.sid.insert(stored, issued_before_times()).is_none(),
                };
                let index = kind_index(kind);
                let seen = if rule.iss.is_some() {
                    &self.scoped_seen[index]
                } else {
                    &self.unscoped_seen[index]
                };
                seen.store(true, Ordering::Release);
                // After the exact set: a reader that sees these bits finds the entry.
                self.bloom.insert(bloom_key(kind, value));
                if was_new {
                    self.bloom_inserted.fetch_add(1, Ordering::Relaxed);
                }
                was_new
            }
            // Shape validation guarantees a value for every kind but `all`.
            (_, None) => false,
        };
        if was_new {
            self.live[kind_index(rule.kind)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Applies a lift: the key's rule is gone.
    pub fn apply_lift(&self, lift: &Lift) {
        let digest = lift.digest();
        self.forget(lift.kind, lift.iss.as_deref(), digest);
    }

    /// Forgets the rule with this key (lifted, or expired on arrival).
    pub fn forget(&self, kind: RuleKind, iss: Option<&str>, digest: KeyDigest) {
        let stored = StoredDigest::from(digest);
        let removed = match kind {
            RuleKind::Jti => self.jti.remove(&stored).is_some(),
            RuleKind::Sub => self.sub.remove(&stored).is_some(),
            RuleKind::Sid => self.sid.remove(&stored).is_some(),
            RuleKind::All => match iss {
                None => self.all_unscoped.swap(0, Ordering::AcqRel) != 0,
                Some(iss) => {
                    let mut scoped = self
                        .all_scoped
                        .write()
                        .unwrap_or_else(|poison| poison.into_inner());
                    let removed = scoped.remove(iss).is_some();
                    self.all_scoped_present
                        .store(!scoped.is_empty(), Ordering::Release);
                    removed
                }
            },
        };
        if removed {
            self.live[kind_index(kind)].fetch_sub(1, Ordering::Relaxed);
            if kind != RuleKind::All {
                self.bloom_dead.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Drops every rule whose `expires_at` is at or before `now`; returns how many.
    pub fn sweep_expired(&self, now: UnixSeconds) -> u64 {
        let now = stored_seconds(now);
        let mut removed = [0u64; 4];
        self.jti.retain(|_, expires_at| {
            let keep = *expires_at > now;
            removed[0] += u64::from(!keep);
            keep
        });
        for (index, map) in [(1, &self.sub), (2, &self.sid)] {
            map.retain(|_, times| {
                let keep = times.expires_at > now;
                removed[index] += u64::from(!keep);
                keep
            });
        }
        if IssuedBeforeTimes::unpack(self.all_unscoped.load(Ordering::Acquire))
            .is_some_and(|t| t.expires_at <= now)
        {
            self.all_unscoped.store(0, Ordering::Release);
            removed[3] += 1;
        }
        {
            let mut scoped = self
                .all_scoped
                .write()
                .unwrap_or_else(|poison| poison.into_inner());
            let before = scoped.len();
            scoped.retain(|_, times| times.expires_at > now);
            removed[3] += (before - scoped.len()) as u64;
            self.all_scoped_present
                .store(!scoped.is_empty(), Ordering::Release);
        }
        for (live, removed) in self.live.iter().zip(removed) {
            live.fetch_sub(removed, Ordering::Relaxed);
        }
        self.bloom_dead
            .fetch_add(removed[..3].iter().sum(), Ordering::Relaxed);
        removed.iter().sum()
    }

    /// Notes the stream sequence of the last applied message.
    pub fn set_last_sequence(&self, sequence: u64) {
        self.last_sequence.fetch_max(sequence, Ordering::Relaxed);
    }
}
