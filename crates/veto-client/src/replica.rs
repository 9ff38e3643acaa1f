//! One in-memory copy of the list: bloom filter, exact sets, `all` rules.
//!
//! Exactly one task (the follower) writes; any number of threads check. Writes insert
//! into the exact set first and set the bloom bits after, so a reader that passes the
//! filter always finds the entry. Reads take no lock unless the filter says "maybe".

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use veto_proto::rule::TokenFacts;
use veto_proto::{KeyDigest, Lift, RevocationRule, RuleKind, UnixSeconds};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::bloom::Bloom;
use crate::exact::{ExactMap, IssuedBeforeTimes, StoredDigest, exact_map, stored_seconds};

/// The bloom filter's key for a claim value: xxh3 of the value, seeded by kind. The
/// issuer scope is left out on purpose, so a check hashes each claim once whether
/// rules are scoped or not; the exact set tells scopes apart.
#[inline]
pub fn bloom_key(kind: RuleKind, value: &str) -> u64 {
    let seed = match kind {
        RuleKind::Jti => 0x6a74_6900,
        RuleKind::Sub => 0x7375_6200,
        RuleKind::Sid => 0x7369_6400,
        RuleKind::All => 0x616c_6c00,
    };
    xxh3_64_with_seed(value.as_bytes(), seed)
}

fn kind_index(kind: RuleKind) -> usize {
    match kind {
        RuleKind::Jti => 0,
        RuleKind::Sub => 1,
        RuleKind::Sid => 2,
        RuleKind::All => 3,
    }
}

/// Counts of one replica, for metrics and the rebuild decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Live rules by kind (`jti`, `sub`, `sid`, `all`).
    pub live_by_kind: [u64; 4],
    /// Keys inserted into the bloom filter since it was built.
    pub bloom_inserted: u64,
    /// Keys in the bloom filter whose rule is gone (lifted or expired).
    pub bloom_dead: u64,
    /// The bloom filter's sized capacity.
    pub bloom_capacity: u64,
    /// The bloom filter's memory, in bytes.
    pub bloom_bytes: u64,
    /// The highest stream sequence applied.
    pub last_sequence: u64,
}

impl ReplicaStats {
    /// Live rules of every kind.
    pub fn live(&self) -> u64 {
        self.live_by_kind.iter().sum()
    }
}

/// A live rule as the stream holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRule {
    /// The rule.
    pub rule: RevocationRule,
    /// Its stream sequence (the last message on its subject when applied).
    pub sequence: u64,
}

/// One copy of the list.
#[derive(Debug)]
pub struct Replica {
    bloom: Bloom,
    jti: ExactMap<u32>,
    sub: ExactMap<IssuedBeforeTimes>,
    sid: ExactMap<IssuedBeforeTimes>,
    /// Whether any issuer-scoped / unscoped rule of each value kind was ever applied:
    /// a check skips the digest it would otherwise compute for a scope with no rules.
    scoped_seen: [AtomicBool; 3],
    unscoped_seen: [AtomicBool; 3],
    /// The unscoped `all` rule, packed ([`IssuedBeforeTimes::pack`]; 0 = none).
    all_unscoped: AtomicU64,
    /// Issuer-scoped `all` rules, few by nature; `all_scoped_present` skips the lock.
    all_scoped: RwLock<HashMap<String, IssuedBeforeTimes>>,
    all_scoped_present: AtomicBool,
    live: [AtomicU64; 4],
    bloom_inserted: AtomicU64,
    bloom_dead: AtomicU64,
    last_sequence: AtomicU64,
    /// Full rules with their stream sequence, kept only when asked (the daemon lists
    /// and shows them, and uses the sequence for compare-and-set publishes).
    retained: Option<RwLock<BTreeMap<(RuleKind, KeyDigest), StoredRule>>>,
}

impl Replica {
    /// An empty replica sized for about `expected_rules`.
    pub fn new(expected_rules: usize, retain_rules: bool) -> Replica {
        // Room to grow by half before the filter's false-positive rate climbs.
        let capacity = expected_rules + expected_rules / 2;
        Replica {
            bloom: Bloom::with_capacity(capacity.max(16_384)),
            jti: exact_map(expected_rules),
            sub: exact_map(0),
            sid: exact_map(0),
            scoped_seen: Default::default(),
            unscoped_seen: Default::default(),
            all_unscoped: AtomicU64::new(0),
            all_scoped: RwLock::new(HashMap::new()),
            all_scoped_present: AtomicBool::new(false),
            live: Default::default(),
            bloom_inserted: AtomicU64::new(0),
            bloom_dead: AtomicU64::new(0),
            last_sequence: AtomicU64::new(0),
            retained: retain_rules.then(|| RwLock::new(BTreeMap::new())),
        }
    }

    /// Which rule kind, if any, revokes this token now. Allocates nothing; takes a
    /// shard read lock only when the bloom filter says "maybe".
    #[inline]
    pub fn lookup(&self, token: &TokenFacts<'_>) -> Option<RuleKind> {
        if let Some(jti) = token.jti
            && self.bloom.may_contain(bloom_key(RuleKind::Jti, jti))
            && self.probe(&self.jti, RuleKind::Jti, token.iss, jti, |expires_at| {
                UnixSeconds::now().0 < i64::from(expires_at)
            })
        {
            return Some(RuleKind::Jti);
        }
        for (kind, claim, map) in [
            (RuleKind::Sub, token.sub, &self.sub),
            (RuleKind::Sid, token.sid, &self.sid),
        ] {
            if let Some(value) = claim
                && self.bloom.may_contain(bloom_key(kind, value))
                && self.probe(map, kind, token.iss, value, |times| {
                    times.revokes(token.iat, UnixSeconds::now())
                })
            {
                return Some(kind);
            }
        }
        if let Some(times) = IssuedBeforeTimes::unpack(self.all_unscoped.load(Ordering::Acquire))
            && times.revokes(token.iat, UnixSeconds::now())
        {
            return Some(RuleKind::All);
        }
        if self.all_scoped_present.load(Ordering::Acquire)
            && let Some(iss) = token.iss
            && let Ok(scoped) = self.all_scoped.read()
            && let Some(times) = scoped.get(iss)
            && times.revokes(token.iat, UnixSeconds::now())
        {
            return Some(RuleKind::All);
        }
        None
    }

    /// Looks a claim up in the exact set under both scopes that have rules.
    #[inline]
    fn probe<V: Copy>(
        &self,
        map: &ExactMap<V>,
        kind: RuleKind,
        iss: Option<&str>,
        value: &str,
        revokes: impl Fn(V) -> bool,
    ) -> bool {
        let index = kind_index(kind);
        let found = |scope: Option<&str>| {
            let digest = StoredDigest::from(KeyDigest::of(kind, scope, Some(value)));
            map.get(&digest).is_some_and(|entry| revokes(*entry))
        };
        (iss.is_some() && self.scoped_seen[index].load(Ordering::Acquire) && found(iss))
            || (self.unscoped_seen[index].load(Ordering::Acquire) && found(None))
    }

    /// Applies a rule stored at stream `sequence`: the latest state of its key.
    pub fn apply_rule(&self, rule: &RevocationRule, sequence: u64) {
        self.apply_rule_keyed(rule, rule.digest(), sequence);
    }

    /// [`Replica::apply_rule`] with the rule's digest already computed.
    pub fn apply_rule_keyed(&self, rule: &RevocationRule, digest: KeyDigest, sequence: u64) {
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
        if let Some(retained) = &self.retained {
            let mut retained = retained.write().unwrap_or_else(|poison| poison.into_inner());
            retained.insert(
                (rule.kind, digest),
                StoredRule {
                    rule: rule.clone(),
                    sequence,
                },
            );
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
        if let Some(retained) = &self.retained {
            let mut retained = retained.write().unwrap_or_else(|poison| poison.into_inner());
            retained.remove(&(kind, digest));
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
        if let Some(retained) = &self.retained {
            let mut retained = retained.write().unwrap_or_else(|poison| poison.into_inner());
            retained.retain(|_, stored| stored_seconds(stored.rule.expires_at) > now);
        }
        removed.iter().sum()
    }

    /// Notes the stream sequence of the last applied message.
    pub fn set_last_sequence(&self, sequence: u64) {
        self.last_sequence.fetch_max(sequence, Ordering::Relaxed);
    }

    /// Counts for metrics and the rebuild decision.
    pub fn stats(&self) -> ReplicaStats {
        ReplicaStats {
            live_by_kind: std::array::from_fn(|index| self.live[index].load(Ordering::Relaxed)),
            bloom_inserted: self.bloom_inserted.load(Ordering::Relaxed),
            bloom_dead: self.bloom_dead.load(Ordering::Relaxed),
            bloom_capacity: self.bloom.capacity() as u64,
            bloom_bytes: self.bloom.memory_bytes() as u64,
            last_sequence: self.last_sequence.load(Ordering::Relaxed),
        }
    }

    /// Whether the bloom filter should be rebuilt: it holds more keys than it was sized
    /// for, or more dead keys than live ones.
    pub fn needs_rebuild(&self) -> bool {
        let stats = self.stats();
        stats.bloom_inserted > stats.bloom_capacity
            || (stats.bloom_dead > 4_096 && stats.bloom_dead > stats.live_by_kind[..3].iter().sum())
    }

    /// The retained rule for a key, if rules are retained and the key is live.
    pub fn retained_rule(&self, kind: RuleKind, digest: KeyDigest) -> Option<StoredRule> {
        let retained = self
            .retained
            .as_ref()?
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        // Expired but not yet swept: gone for every purpose.
        let now = UnixSeconds::now();
        retained
            .get(&(kind, digest))
            .filter(|stored| stored.rule.expires_at > now)
            .cloned()
    }

    /// Up to `limit` retained live rules of `kind` (or every kind), in key order, after
    /// the key `after` (a paging cursor).
    pub fn retained_rules(
        &self,
        kind: Option<RuleKind>,
        after: Option<(RuleKind, KeyDigest)>,
        limit: usize,
    ) -> Vec<StoredRule> {
        let Some(retained) = &self.retained else {
            return Vec::new();
        };
        let retained = retained.read().unwrap_or_else(|poison| poison.into_inner());
        let now = UnixSeconds::now();
        let start = match after {
            Some(key) => std::ops::Bound::Excluded(key),
            None => std::ops::Bound::Unbounded,
        };
        retained
            .range((start, std::ops::Bound::Unbounded))
            .filter(|((rule_kind, _), stored)| {
                kind.is_none_or(|kind| kind == *rule_kind) && stored.rule.expires_at > now
            })
            .take(limit)
            .map(|(_, stored)| stored.clone())
            .collect()
    }

    /// Approximate memory of the filter and the exact sets, in bytes.
    pub fn memory_bytes(&self) -> (usize, usize) {
        // A hash table's capacity is 7/8 of its buckets; each bucket holds an entry and
        // one control byte.
        let buckets = |capacity: usize| capacity * 8 / 7;
        let jti = buckets(self.jti.capacity()) * (std::mem::size_of::<(StoredDigest, u32)>() + 1);
        let times = buckets(self.sub.capacity() + self.sid.capacity())
            * (std::mem::size_of::<(StoredDigest, IssuedBeforeTimes)>() + 1);
        (self.bloom.memory_bytes(), jti + times)
    }
}

#[cfg(test)]
mod tests {
    use veto_proto::TokenPolicy;

    use super::*;

    fn facts<'a>(
        jti: Option<&'a str>,
        sub: Option<&'a str>,
        iss: Option<&'a str>,
        iat: i64,
    ) -> TokenFacts<'a> {
        TokenFacts {
            jti,
            sub,
            sid: None,
            iss,
            iat: Some(UnixSeconds(iat)),
        }
    }

    #[test]
    fn a_rule_revokes_until_lifted() {
        let replica = Replica::new(0, true);
        let now = UnixSeconds::now();
        let rule = RevocationRule::jti(
            "t-1",
            None,
            now.saturating_add(std::time::Duration::from_secs(60)),
        );
        let token = facts(Some("t-1"), None, Some("https://idp"), now.0);
        assert_eq!(replica.lookup(&token), None);
        replica.apply_rule(&rule, 1);
        assert_eq!(replica.lookup(&token), Some(RuleKind::Jti));
        assert_eq!(replica.stats().live_by_kind, [1, 0, 0, 0]);
        assert_eq!(
            replica.retained_rule(RuleKind::Jti, rule.digest()),
            Some(StoredRule {
                rule: rule.clone(),
                sequence: 1
            })
        );
        replica.apply_lift(&Lift {
            kind: RuleKind::Jti,
            value: Some("t-1".into()),
            iss: None,
            reason: None,
            lifted_by: None,
            lifted_at: now,
        });
        assert_eq!(replica.lookup(&token), None);
        assert_eq!(replica.stats().live(), 0);
        assert_eq!(replica.stats().bloom_dead, 1);
        assert_eq!(replica.retained_rule(RuleKind::Jti, rule.digest()), None);
    }

    #[test]
    fn scoped_rules_need_the_issuer() {
        let replica = Replica::new(0, false);
        let now = UnixSeconds::now();
        let rule = RevocationRule::sub_or_sid(
            RuleKind::Sub,
            "alice",
            Some("https://a"),
            now,
            &TokenPolicy::default(),
        );
        replica.apply_rule(&rule, 1);
        assert_eq!(
            replica.lookup(&facts(None, Some("alice"), Some("https://a"), now.0 - 10)),
            Some(RuleKind::Sub)
        );
        assert_eq!(
            replica.lookup(&facts(None, Some("alice"), Some("https://b"), now.0 - 10)),
            None
        );
        assert_eq!(
            replica.lookup(&facts(None, Some("alice"), None, now.0 - 10)),
            None
        );
        assert_eq!(
            replica.lookup(&facts(None, Some("alice"), Some("https://a"), now.0)),
            None
        );
    }

    #[test]
    fn all_rules_and_their_sweep() {
        let replica = Replica::new(0, false);
        let now = UnixSeconds::now();
        let policy = TokenPolicy::default();
        replica.apply_rule(&RevocationRule::all(None, now, &policy), 1);
        let scoped = RevocationRule::all(Some("https://a"), now.saturating_add(policy.leeway), &policy);
        replica.apply_rule(&scoped, 2);
        assert_eq!(
            replica.lookup(&facts(None, None, None, now.0 - 1)),
            Some(RuleKind::All)
        );
        assert_eq!(
            replica.lookup(&facts(None, None, Some("https://a"), now.0 + 10)),
            Some(RuleKind::All)
        );
        assert_eq!(
            replica.lookup(&facts(None, None, Some("https://b"), now.0 + 10)),
            None
        );
        assert_eq!(replica.stats().live_by_kind[3], 2);
        let later = now.saturating_add(policy.max_token_ttl + policy.leeway * 3);
        assert_eq!(replica.sweep_expired(later), 2);
        assert_eq!(replica.lookup(&facts(None, None, None, now.0 - 1)), None);
        assert_eq!(replica.stats().live(), 0);
    }
}
