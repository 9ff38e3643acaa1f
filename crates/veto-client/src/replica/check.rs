//! The read path: [`Replica::lookup`], what every check runs. Small on purpose, so a
//! reader can see all of it: one xxh3 per claim, a bloom probe, and only on "maybe" a
//! BLAKE3 digest and a look in the exact set, which decides. Nothing here allocates,
//! and no lock is taken unless the bloom filter says "maybe" (or an issuer-scoped
//! `all` rule exists).

use std::sync::atomic::Ordering;

use veto_proto::{KeyDigest, RuleKind, TokenFacts, UnixSeconds};

use super::{Replica, kind_index};
use crate::exact::{ExactMap, IssuedBeforeTimes, StoredDigest};

pub use veto_proto::snapshot::bloom_key;

impl Replica {
    /// Which rule kind, if any, revokes this token now. Allocates nothing; takes a
    /// shard read lock only when the bloom filter says "maybe".
    #[inline]
    pub fn lookup(&self, token: &TokenFacts<'_>) -> Option<RuleKind> {
        if let Some(jti) = token.jti
            && self.blooms[0].bloom.may_contain(bloom_key(RuleKind::Jti, jti))
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
                && self.blooms[kind_index(kind)]
                    .bloom
                    .may_contain(bloom_key(kind, value))
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
