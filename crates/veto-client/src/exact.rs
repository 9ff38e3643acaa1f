//! The exact set: rule digests and the times each rule needs, in a concurrent map.
//!
//! Entries are kept small on purpose (a service may hold millions): the key is the
//! 16-byte digest with alignment 1 (a `u128` would force 16-byte alignment and pad a
//! 20-byte entry to 32), and times are `u32` seconds, good until 2106. The digest is
//! already uniformly random, so the map's hasher just takes its first 8 bytes.

use std::hash::{BuildHasherDefault, Hash, Hasher};

use dashmap::DashMap;
use veto_proto::{KeyDigest, UnixSeconds};

/// A rule digest as stored in the exact set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredDigest(pub [u8; 16]);

impl From<KeyDigest> for StoredDigest {
    fn from(digest: KeyDigest) -> Self {
        StoredDigest(digest.0)
    }
}

impl Hash for StoredDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Passes a [`StoredDigest`]'s first 8 bytes through: they are already a good hash.
#[derive(Debug, Default, Clone, Copy)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached if a non-digest key is ever hashed; fold the bytes in.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A concurrent map from rule digest to the rule's times.
pub type ExactMap<V> = DashMap<StoredDigest, V, BuildHasherDefault<DigestHasher>>;

/// Shards per map: with 64, a sweep holds one shard's write lock for 1/64 of the map
/// (tens of microseconds at a million rules), and only checks that already passed the
/// bloom filter ever wait on it.
const SHARDS: usize = 64;

/// An empty map with room for `capacity` entries.
pub fn exact_map<V>(capacity: usize) -> ExactMap<V> {
    DashMap::with_capacity_and_hasher_and_shard_amount(capacity, BuildHasherDefault::default(), SHARDS)
}

/// Seconds since the epoch as stored: clamped into `u32` (1970–2106).
pub fn stored_seconds(at: UnixSeconds) -> u32 {
    u32::try_from(at.0.max(0)).unwrap_or(u32::MAX)
}

/// `issued_before` and `expires_at` of a `sub`, `sid` or `all` rule, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuedBeforeTimes {
    /// Tokens with `iat` before this are revoked.
    pub issued_before: u32,
    /// The rule is forgotten at this instant.
    pub expires_at: u32,
}

impl IssuedBeforeTimes {
    /// Whether a token issued at `iat` is revoked at `now`.
    #[inline]
    pub fn revokes(self, iat: Option<UnixSeconds>, now: UnixSeconds) -> bool {
        iat.unwrap_or(UnixSeconds::EPOCH).0 < i64::from(self.issued_before)
            && now.0 < i64::from(self.expires_at)
    }

    /// The times as the protocol names them.
    pub fn times(self) -> veto_proto::RuleTimes {
        veto_proto::RuleTimes {
            issued_before: Some(UnixSeconds(i64::from(self.issued_before))),
            expires_at: UnixSeconds(i64::from(self.expires_at)),
        }
    }

    /// Both times in one word, for an atomic (`0` means "no rule").
    pub fn pack(self) -> u64 {
        (u64::from(self.issued_before) << 32) | u64::from(self.expires_at)
    }

    /// The times from [`IssuedBeforeTimes::pack`], or `None` for `0`.
    pub fn unpack(word: u64) -> Option<IssuedBeforeTimes> {
        (word != 0).then_some(IssuedBeforeTimes {
            issued_before: (word >> 32) as u32,
            expires_at: word as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_small() {
        assert_eq!(std::mem::size_of::<(StoredDigest, u32)>(), 20);
        assert_eq!(std::mem::size_of::<(StoredDigest, IssuedBeforeTimes)>(), 24);
    }

    #[test]
    fn times_pack_and_clamp() {
        let times = IssuedBeforeTimes {
            issued_before: 1_800_000_000,
            expires_at: 1_800_090_000,
        };
        assert_eq!(IssuedBeforeTimes::unpack(times.pack()), Some(times));
        assert_eq!(IssuedBeforeTimes::unpack(0), None);
        assert_eq!(stored_seconds(UnixSeconds(-5)), 0);
        assert_eq!(stored_seconds(UnixSeconds(i64::MAX)), u32::MAX);
    }

    #[test]
    fn revokes_compares_iat_strictly_and_honours_expiry() {
        let times = IssuedBeforeTimes {
            issued_before: 100,
            expires_at: 200,
        };
        assert!(times.revokes(Some(UnixSeconds(99)), UnixSeconds(150)));
        assert!(!times.revokes(Some(UnixSeconds(100)), UnixSeconds(150)));
        assert!(times.revokes(None, UnixSeconds(150)));
        assert!(!times.revokes(Some(UnixSeconds(99)), UnixSeconds(200)));
    }
}
