//! The read path: [`Replica::lookup`], what every check runs. Small on purpose, so a
//! reader can see all of it: one xxh3 per claim, a bloom probe, and only on "maybe" a
//! BLAKE3 digest and a look in the exact set, which decides. Nothing here allocates,
//! and no lock is taken unless the bloom filter says "maybe" (or an issuer-scoped
//! `all` rule exists).

use std::sync::atomic::Ordering;

use veto_proto::{KeyDigest, RuleKind, TokenFacts, UnixSeconds};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Replica, kind_index};
use crate::exact::{ExactMap, IssuedBeforeTimes, StoredDigest};

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

impl Replica {
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
}
