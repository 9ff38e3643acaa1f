//! One in-memory copy of the list: bloom filter, exact sets, `all` rules.
//!
//! Exactly one task (the follower) writes; any number of threads check. Writes insert
//! into the exact set first and set the bloom bits after, so a reader that passes the
//! filter always finds the entry. Reads take no lock unless the filter says "maybe".
//!
//! - `check`: the read path, [`Replica::lookup`], whole in one small file.
//! - `write`: the writer's side: apply, forget, sweep.
//! - `load`: a replica from a snapshot.
//!
//! The replica keeps no rule in full (no value, no reason): services need none, and the
//! daemon keeps its own listing index through an [`crate::Observer`].

mod check;
mod load;
mod write;

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use veto_proto::RuleKind;

use crate::bloom::Bloom;
use crate::exact::{ExactMap, IssuedBeforeTimes, StoredDigest, exact_map};

pub use check::bloom_key;
pub use load::{BadBloom, ReplicaContent};

/// The position of each kind in per-kind arrays.
pub(crate) const fn kind_index(kind: RuleKind) -> usize {
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
    /// Keys inserted into the bloom filters since they were built.
    pub bloom_inserted: u64,
    /// Keys in the bloom filters whose rule is gone (lifted or expired).
    pub bloom_dead: u64,
    /// The bloom filters' sized capacity, together.
    pub bloom_capacity: u64,
    /// The bloom filters' memory, in bytes.
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

/// One bloom filter per value kind (`jti`, `sub`, `sid`), each with its counts. Per
/// kind, because `sub` and `sid` rules are few: their filters stay in cache, and an
/// Allowed check touches one cold cache line (the `jti` filter's) instead of three.
#[derive(Debug)]
struct KindBloom {
    bloom: Bloom,
    /// Keys inserted since the filter was built.
    inserted: AtomicU64,
    /// Inserted keys whose rule is gone (lifted or expired).
    dead: AtomicU64,
}

impl KindBloom {
    fn new(bloom: Bloom, inserted: u64) -> KindBloom {
        KindBloom {
            bloom,
            inserted: AtomicU64::new(inserted),
            dead: AtomicU64::new(0),
        }
    }
}

/// One copy of the list.
#[derive(Debug)]
pub struct Replica {
    blooms: [KindBloom; 3],
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
    /// Tombstones: the `expires_at` of each lifted rule, until then, so that an old
    /// rule replayed after a lift changes nothing. Lifts are rare: this stays small.
    lifted: ExactMap<u32>,
    live: [AtomicU64; 4],
    last_sequence: AtomicU64,
}

impl Replica {
    /// An empty replica sized for about `expected_rules`, most of them `jti` rules.
    pub fn new(expected_rules: usize) -> Replica {
        Replica::with_capacities([expected_rules, 0, 0])
    }

    /// How many keys the bloom filters of a replica sized for `expected` `jti`, `sub`
    /// and `sid` rules hold: room to grow by half before a filter's false-positive rate
    /// climbs; a `jti` filter holds at least 16k keys (24 KB), so a list that starts
    /// empty does not rebuild at once.
    pub fn bloom_capacities(expected: [usize; 3]) -> [usize; 3] {
        let [jti, sub, sid] = expected.map(|expected| expected.saturating_add(expected / 2));
        [jti.max(16_384), sub, sid]
    }

    /// An empty replica sized for about this many `jti`, `sub` and `sid` rules.
    pub fn with_capacities(expected: [usize; 3]) -> Replica {
        let [jti, sub, sid] = Replica::bloom_capacities(expected)
            .map(|capacity| KindBloom::new(Bloom::with_capacity(capacity), 0));
        Replica {
            blooms: [jti, sub, sid],
            jti: exact_map(expected[0]),
            sub: exact_map(0),
            sid: exact_map(0),
            scoped_seen: Default::default(),
            unscoped_seen: Default::default(),
            all_unscoped: AtomicU64::new(0),
            all_scoped: RwLock::new(HashMap::new()),
            all_scoped_present: AtomicBool::new(false),
            lifted: exact_map(0),
            live: Default::default(),
            last_sequence: AtomicU64::new(0),
        }
    }

    /// Counts for metrics and the rebuild decision.
    pub fn stats(&self) -> ReplicaStats {
        let sum = |count: &dyn Fn(&KindBloom) -> u64| self.blooms.iter().map(count).sum();
        ReplicaStats {
            live_by_kind: std::array::from_fn(|index| self.live[index].load(Ordering::Relaxed)),
            bloom_inserted: sum(&|kind| kind.inserted.load(Ordering::Relaxed)),
            bloom_dead: sum(&|kind| kind.dead.load(Ordering::Relaxed)),
            bloom_capacity: sum(&|kind| kind.bloom.capacity() as u64),
            bloom_bytes: sum(&|kind| kind.bloom.memory_bytes() as u64),
            last_sequence: self.last_sequence.load(Ordering::Relaxed),
        }
    }

    /// Whether a bloom filter should be rebuilt: it holds more keys than it was sized
    /// for, or more dead keys than live ones.
    pub fn needs_rebuild(&self) -> bool {
        self.blooms.iter().zip(&self.live).any(|(kind, live)| {
            let (inserted, dead) = (
                kind.inserted.load(Ordering::Relaxed),
                kind.dead.load(Ordering::Relaxed),
            );
            inserted > kind.bloom.capacity() as u64 || (dead > 4_096 && dead > live.load(Ordering::Relaxed))
        })
    }

    /// The live rules of each value kind (`jti`, `sub`, `sid`): what a rebuild sizes
    /// its filters for.
    pub fn live_values(&self) -> [usize; 3] {
        std::array::from_fn(|index| {
            usize::try_from(self.live[index].load(Ordering::Relaxed)).unwrap_or(usize::MAX)
        })
    }

    /// Approximate memory of the filter and the exact sets, in bytes.
    pub fn memory_bytes(&self) -> (usize, usize) {
        // A hash table's capacity is 7/8 of its buckets; each bucket holds an entry and
        // one control byte.
        let buckets = |capacity: usize| capacity * 8 / 7;
        let jti = buckets(self.jti.capacity()) * (std::mem::size_of::<(StoredDigest, u32)>() + 1);
        let times = buckets(self.sub.capacity() + self.sid.capacity())
            * (std::mem::size_of::<(StoredDigest, IssuedBeforeTimes)>() + 1);
        let blooms = self.blooms.iter().map(|kind| kind.bloom.memory_bytes()).sum();
        (blooms, jti + times)
    }
}

#[cfg(test)]
mod tests {
    use veto_proto::{Lift, RevocationRule, RuleKind, TokenFacts, TokenPolicy, UnixSeconds};

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
        let replica = Replica::new(0);
        let now = UnixSeconds::now();
        let rule = RevocationRule::jti(
            "t-1",
            None,
            now.saturating_add(std::time::Duration::from_secs(60)),
        );
        let token = facts(Some("t-1"), None, Some("https://idp"), now.0);
        assert_eq!(replica.lookup(&token), None);
        replica.apply_rule(&rule);
        assert_eq!(replica.lookup(&token), Some(RuleKind::Jti));
        assert_eq!(replica.stats().live_by_kind, [1, 0, 0, 0]);
        replica.apply_lift(&Lift {
            kind: RuleKind::Jti,
            value: Some("t-1".into()),
            iss: None,
            reason: None,
            lifted_by: None,
            lifted_at: now,
            rule_expires_at: Some(rule.expires_at),
        });
        assert_eq!(replica.lookup(&token), None);
        assert_eq!(replica.stats().live(), 0);
        assert_eq!(replica.stats().bloom_dead, 1);
    }

    #[test]
    fn scoped_rules_need_the_issuer() {
        let replica = Replica::new(0);
        let now = UnixSeconds::now();
        let rule = RevocationRule::sub_or_sid(
            RuleKind::Sub,
            "alice",
            Some("https://a"),
            now,
            &TokenPolicy::default(),
        );
        replica.apply_rule(&rule);
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
        let replica = Replica::new(0);
        let now = UnixSeconds::now();
        let policy = TokenPolicy::default();
        replica.apply_rule(&RevocationRule::all(None, now, &policy));
        let scoped = RevocationRule::all(Some("https://a"), now.saturating_add(policy.leeway), &policy);
        replica.apply_rule(&scoped);
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
