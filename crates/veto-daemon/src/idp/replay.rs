//! Each logout token and security event token is accepted once: its (`iss`, `jti`) is
//! remembered until the token could no longer pass validation anyway (a logout token's
//! `exp`; a SET's `iat` plus the longest token lifetime, after which it has nothing
//! left to revoke), so a captured token replayed later cannot revoke a user's newer
//! sessions.
//!
//! A token id is *reserved* before its rules are written and *committed* once they are
//! stored; a failed write (NATS down: 503) releases it, so the identity provider's retry
//! of the very same token is accepted. The same token arriving while its first delivery
//! is still being written is not a replay: it is told to retry (its first delivery may
//! yet fail). The cache is bounded: when it is full, expired
//! entries go first, then the one that expires soonest (the least protection lost),
//! and that is counted.
//!
//! Per daemon: with several daemons behind a load balancer, a replay sent to another
//! daemon is not recognised (it can only repeat a revocation, never lift one).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use veto_proto::UnixSeconds;

use crate::metrics::names;

/// Who issued a token, and its id.
type TokenKey = (String, String);

#[derive(Debug, Default)]
struct Entries {
    /// Token → until when it is remembered, and whether it was acted on (`None`), or
    /// else which reservation of it is in flight.
    until: HashMap<TokenKey, (UnixSeconds, Option<u64>)>,
    /// The same entries ordered by expiry, to drop the oldest first.
    by_expiry: BTreeSet<(UnixSeconds, TokenKey)>,
    /// The last reservation's number.
    reservations: u64,
}

impl Entries {
    fn remove(&mut self, key: &TokenKey) {
        if let Some((until, _)) = self.until.remove(key) {
            self.by_expiry.remove(&(until, key.clone()));
        }
    }

    fn drop_expired(&mut self, now: UnixSeconds) {
        while let Some(first) = self.by_expiry.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.until.remove(&key);
            }
        }
    }
}

/// Token ids seen recently, bounded. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct ReplayCache {
    // A std mutex: held for a map operation, never across an await.
    entries: Arc<Mutex<Entries>>,
    capacity: usize,
}

/// Why a token id cannot be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Replayed {
    /// It was acted on before: a replay.
    #[error("this token was already received (replayed jti)")]
    Before,
    /// Its first delivery is being written right now: retry.
    #[error("this token is being processed; retry")]
    InFlight,
}

/// A reserved token id: released when dropped, unless committed.
#[derive(Debug)]
pub struct Reservation {
    cache: ReplayCache,
    key: Option<TokenKey>,
    /// Which reservation of the key this is.
    id: u64,
    until: UnixSeconds,
}

impl Reservation {
    /// Keeps the token id until its expiry: the token was acted on. Kept even if a full
    /// cache dropped the reservation meanwhile: an acted-on token must be remembered.
    pub fn commit(mut self) {
        if let Some(key) = self.key.take() {
            let mut entries = self.cache.lock();
            match entries.until.get_mut(&key) {
                Some((_, stage)) => *stage = None,
                None => {
                    entries.until.insert(key.clone(), (self.until, None));
                    entries.by_expiry.insert((self.until, key));
                }
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut entries = self.cache.lock();
            // Only its own reservation: a later one of the same token is not this one's.
            if entries
                .until
                .get(&key)
                .is_some_and(|(_, stage)| *stage == Some(self.id))
            {
                entries.remove(&key);
            }
        }
    }
}

impl ReplayCache {
    /// A cache holding at most `capacity` token ids (at least one).
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            entries: Arc::new(Mutex::new(Entries::default())),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves consistent maps (each operation is a
        // few inserts or removes): keep using them.
        self.entries.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Reserves (`iss`, `jti`) until `until`, unless it is already there.
    pub fn reserve(
        &self,
        iss: &str,
        jti: &str,
        until: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<Reservation, Replayed> {
        let key = (iss.to_owned(), jti.to_owned());
        let mut entries = self.lock();
        entries.drop_expired(now);
        match entries.until.get(&key) {
            Some((_, None)) => return Err(Replayed::Before),
            Some((_, Some(_))) => return Err(Replayed::InFlight),
            None => {}
        }
        while entries.until.len() >= self.capacity {
            let Some((_, evicted)) = entries.by_expiry.pop_first() else {
                break;
            };
            entries.until.remove(&evicted);
            metrics::counter!(names::IDP_REPLAY_EVICTIONS_TOTAL).increment(1);
        }
        entries.reservations += 1;
        let id = entries.reservations;
        entries.until.insert(key.clone(), (until, Some(id)));
        entries.by_expiry.insert((until, key.clone()));
        Ok(Reservation {
            cache: self.clone(),
            key: Some(key),
            id,
            until,
        })
    }

    /// How many token ids are remembered.
    pub fn len(&self) -> usize {
        self.lock().until.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixSeconds = UnixSeconds(1_800_000_000);

    fn at(offset: i64) -> UnixSeconds {
        UnixSeconds(NOW.0 + offset)
    }

    #[test]
    fn a_committed_token_is_refused_until_it_expires() {
        let cache = ReplayCache::new(10);
        cache.reserve("https://op", "j1", at(60), NOW).unwrap().commit();
        assert_eq!(
            cache.reserve("https://op", "j1", at(60), at(59)).unwrap_err(),
            Replayed::Before
        );
        // The same jti from another issuer is another token.
        cache
            .reserve("https://other", "j1", at(60), NOW)
            .unwrap()
            .commit();
        // Past its expiry it is forgotten (and would fail validation anyway).
        assert!(cache.reserve("https://op", "j1", at(120), at(60)).is_ok());
    }

    #[test]
    fn a_reservation_dropped_without_commit_is_released() {
        let cache = ReplayCache::new(10);
        let reservation = cache.reserve("https://op", "j1", at(60), NOW).unwrap();
        assert_eq!(
            cache.reserve("https://op", "j1", at(60), NOW).unwrap_err(),
            Replayed::InFlight
        );
        drop(reservation);
        assert!(
            cache.reserve("https://op", "j1", at(60), NOW).is_ok(),
            "the retry is accepted"
        );
    }

    #[test]
    fn a_token_acted_on_is_remembered_even_if_a_full_cache_dropped_its_reservation() {
        let cache = ReplayCache::new(1);
        let first = cache.reserve("i", "first", at(60), NOW).unwrap();
        // A second token pushes the first one's reservation out while it is in flight.
        let second = cache.reserve("i", "second", at(300), NOW).unwrap();
        first.commit();
        assert_eq!(
            cache.reserve("i", "first", at(60), NOW).unwrap_err(),
            Replayed::Before
        );
        // A reservation released does not take a later one of the same token with it.
        drop(second);
        let again = cache.reserve("i", "second", at(300), NOW);
        assert!(again.is_ok(), "released, so accepted again");
    }

    #[test]
    fn a_full_cache_drops_the_entry_expiring_soonest() {
        let cache = ReplayCache::new(2);
        cache.reserve("i", "late", at(300), NOW).unwrap().commit();
        cache.reserve("i", "soon", at(100), NOW).unwrap().commit();
        cache.reserve("i", "new", at(200), NOW).unwrap().commit();
        assert_eq!(cache.len(), 2);
        assert!(cache.reserve("i", "late", at(300), NOW).is_err());
        assert!(cache.reserve("i", "new", at(200), NOW).is_err());
        assert!(cache.len() <= 2);
    }
}
