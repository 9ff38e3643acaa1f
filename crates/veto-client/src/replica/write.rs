//! The writer's side: applying rules and lifts by the rules of
//! [`veto_proto::history`], forgetting, sweeping. Only the follower task calls these,
//! so reading a key's state and then writing it needs no lock; checks run concurrently
//! and never wait on them for longer than one shard's insert (or a sweep of 1/64 of a
//! map).

use std::sync::atomic::Ordering;

use veto_proto::{Applied, KeyDigest, KeyState, Lift, RevocationRule, RuleKind, RuleTimes, UnixSeconds};

use super::{Replica, kind_index};
use crate::exact::{IssuedBeforeTimes, StoredDigest, stored_seconds};
use crate::replica::bloom_key;

/// One key, as a write names it.
struct Key<'a> {
    kind: RuleKind,
    iss: Option<&'a str>,
    value: Option<&'a str>,
    stored: StoredDigest,
}

impl<'a> Key<'a> {
    fn of(kind: RuleKind, iss: Option<&'a str>, value: Option<&'a str>, digest: KeyDigest) -> Key<'a> {
        Key {
            kind,
            iss,
            value,
            stored: StoredDigest::from(digest),
        }
    }
}

/// Times as the replica stores them (whole seconds in `u32`), so that an event's times
/// compare equal to what was stored from the same event.
fn stored_times(times: RuleTimes) -> RuleTimes {
    let stored = |at: UnixSeconds| UnixSeconds(i64::from(stored_seconds(at)));
    RuleTimes {
        issued_before: times.issued_before.map(stored),
        expires_at: stored(times.expires_at),
    }
}

impl Replica {
    /// Applies a rule to its key's state by the rules of [`veto_proto::history`]: it
    /// never weakens a held rule, and after a lift only a later rule revokes again.
    pub fn apply_rule(&self, rule: &RevocationRule) -> Applied {
        self.apply_rule_keyed(rule, rule.digest())
    }

    /// [`Replica::apply_rule`] with the rule's digest already computed.
    pub fn apply_rule_keyed(&self, rule: &RevocationRule, digest: KeyDigest) -> Applied {
        let key = Key::of(rule.kind, rule.iss.as_deref(), rule.value.as_deref(), digest);
        let now = UnixSeconds::now();
        let (state, applied) = self.state(&key, now).with_rule(stored_times(rule.times()));
        match state.at(now) {
            KeyState::Held(times) if applied.changed() => {
                self.lifted.remove(&StoredDigest::from(digest));
                self.store(&key, times);
                applied
            }
            // Expired on arrival, with nothing held: nothing to keep.
            KeyState::Absent => Applied::Unchanged,
            _ => applied,
        }
    }

    /// Verifies (under `trust`), decodes and applies one event as the stream holds it
    /// (a reader outside the follower: the events of `GET /v1/changes`, say). A tick
    /// changes nothing here (`Ok(None)`); an event that does not verify or decode is
    /// refused with the stable code a follower would count it under.
    pub fn apply_signed(
        &self,
        trust: &crate::EventTrust,
        subject: &str,
        payload: &[u8],
        key_id: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Option<Applied>, &'static str> {
        match trust.open(subject, payload, key_id, signature)? {
            veto_proto::KeyedEvent::Rule(rule, digest) => Ok(Some(self.apply_rule_keyed(&rule, digest))),
            veto_proto::KeyedEvent::Lift(lift, digest) => Ok(Some(self.apply_lift_keyed(&lift, digest))),
            veto_proto::KeyedEvent::Tick(_) => Ok(None),
        }
    }

    /// Applies a lift by the rules of [`veto_proto::history`]: it removes the held rule
    /// only when it names it, and leaves a tombstone.
    pub fn apply_lift(&self, lift: &Lift) -> Applied {
        self.apply_lift_keyed(lift, lift.digest())
    }

    /// [`Replica::apply_lift`] with the lift's digest already computed.
    pub fn apply_lift_keyed(&self, lift: &Lift, digest: KeyDigest) -> Applied {
        let key = Key::of(lift.kind, lift.iss.as_deref(), lift.value.as_deref(), digest);
        let named = lift
            .rule_expires_at
            .map(|at| UnixSeconds(i64::from(stored_seconds(at))));
        let (state, applied) = self.state(&key, UnixSeconds::now()).with_lift(named);
        if applied == Applied::Lifted {
            self.forget(lift.kind, lift.iss.as_deref(), digest);
        }
        if let KeyState::Lifted { rule_expires_at } = state {
            self.lifted
                .insert(StoredDigest::from(digest), stored_seconds(rule_expires_at));
        }
        applied
    }

    /// What the replica holds for a key at `now`.
    fn state(&self, key: &Key<'_>, now: UnixSeconds) -> KeyState {
        let held = match key.kind {
            RuleKind::Jti => self.jti.get(&key.stored).map(|entry| RuleTimes {
                issued_before: None,
                expires_at: UnixSeconds(i64::from(*entry)),
            }),
            RuleKind::Sub => self.sub.get(&key.stored).map(|entry| entry.times()),
            RuleKind::Sid => self.sid.get(&key.stored).map(|entry| entry.times()),
            RuleKind::All => match key.iss {
                None => IssuedBeforeTimes::unpack(self.all_unscoped.load(Ordering::Acquire))
                    .map(IssuedBeforeTimes::times),
                Some(iss) => self
                    .all_scoped
                    .read()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .get(iss)
                    .map(|times| times.times()),
            },
        };
        let state = match held {
            Some(times) => KeyState::Held(times),
            None => match self.lifted.get(&key.stored) {
                Some(expires_at) => KeyState::Lifted {
                    rule_expires_at: UnixSeconds(i64::from(*expires_at)),
                },
                None => KeyState::Absent,
            },
        };
        state.at(now)
    }

    /// Stores a key's held times (new or stronger).
    fn store(&self, key: &Key<'_>, times: RuleTimes) {
        let issued_before_times = IssuedBeforeTimes {
            issued_before: stored_seconds(times.issued_before.unwrap_or(UnixSeconds::EPOCH)),
            expires_at: stored_seconds(times.expires_at),
        };
        let was_new = match (key.kind, key.value) {
            (RuleKind::All, _) => match key.iss {
                None => {
                    self.all_unscoped
                        .swap(issued_before_times.pack(), Ordering::AcqRel)
                        == 0
                }
                Some(iss) => {
                    let mut scoped = self
                        .all_scoped
                        .write()
                        .unwrap_or_else(|poison| poison.into_inner());
                    let was_new = scoped.insert(iss.to_owned(), issued_before_times).is_none();
                    self.all_scoped_present.store(true, Ordering::Release);
                    was_new
                }
            },
            (kind, Some(value)) => {
                let was_new = match kind {
                    RuleKind::Jti => self
                        .jti
                        .insert(key.stored, stored_seconds(times.expires_at))
                        .is_none(),
                    RuleKind::Sub => self.sub.insert(key.stored, issued_before_times).is_none(),
                    _ => self.sid.insert(key.stored, issued_before_times).is_none(),
                };
                let index = kind_index(kind);
                let seen = if key.iss.is_some() {
                    &self.scoped_seen[index]
                } else {
                    &self.unscoped_seen[index]
                };
                seen.store(true, Ordering::Release);
                // After the exact set: a reader that sees these bits finds the entry.
                let filter = &self.blooms[index];
                filter.bloom.insert(bloom_key(kind, value));
                if was_new {
                    filter.inserted.fetch_add(1, Ordering::Relaxed);
                }
                was_new
            }
            // Shape validation guarantees a value for every kind but `all`.
            (_, None) => false,
        };
        if was_new {
            self.live[kind_index(key.kind)].fetch_add(1, Ordering::Relaxed);
        }
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
                self.blooms[kind_index(kind)].dead.fetch_add(1, Ordering::Relaxed);
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
        for (filter, removed) in self.blooms.iter().zip(removed) {
            filter.dead.fetch_add(removed, Ordering::Relaxed);
        }
        self.lifted.retain(|_, rule_expires_at| *rule_expires_at > now);
        removed.iter().sum()
    }

    /// Notes the stream sequence of the last applied message.
    pub fn set_last_sequence(&self, sequence: u64) {
        self.last_sequence.fetch_max(sequence, Ordering::Relaxed);
    }
}
