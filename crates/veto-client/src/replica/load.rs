//! A replica from a snapshot: the filters' words and the exact sets as the daemon
//! wrote them, without one event decoded or one signature verified per rule.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use veto_proto::UnixSeconds;
use veto_proto::snapshot::{AllTimes, Snapshot};

use super::{KindBloom, Replica};
use crate::bloom::Bloom;
use crate::exact::{IssuedBeforeTimes, StoredDigest, exact_map, stored_seconds};

/// Why a verified snapshot cannot become a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a snapshot's bloom filter is not whole blocks")]
pub struct BadBloom;

impl Replica {
    /// The replica a (verified) snapshot describes, as of `now`: expired rules and
    /// tombstones are left out; every message up to `snapshot.sequence` counts as
    /// applied.
    pub fn from_snapshot(snapshot: &Snapshot, now: UnixSeconds) -> Result<Replica, BadBloom> {
        let now = stored_seconds(now);
        let blooms = snapshot.values.each_ref().map(|section| {
            Bloom::from_words(
                usize::try_from(section.bloom.capacity).unwrap_or(usize::MAX),
                &section.bloom.words,
            )
            .map(|bloom| KindBloom::new(bloom, section.entries.len() as u64))
        });
        let [Some(jti_bloom), Some(sub_bloom), Some(sid_bloom)] = blooms else {
            return Err(BadBloom);
        };
        let [jti_section, sub_section, sid_section] = &snapshot.values;
        let jti = exact_map(jti_section.entries.len());
        for entry in jti_section.entries.iter().filter(|entry| entry.expires_at > now) {
            jti.insert(StoredDigest(entry.digest), entry.expires_at);
        }
        let times_map = |section: &veto_proto::snapshot::ValueSection| {
            let map = exact_map(section.entries.len());
            for entry in section.entries.iter().filter(|entry| entry.expires_at > now) {
                map.insert(
                    StoredDigest(entry.digest),
                    IssuedBeforeTimes {
                        issued_before: entry.issued_before,
                        expires_at: entry.expires_at,
                    },
                );
            }
            map
        };
        let (sub, sid) = (times_map(sub_section), times_map(sid_section));
        let times = |times: AllTimes| IssuedBeforeTimes {
            issued_before: times.issued_before,
            expires_at: times.expires_at,
        };
        let all_unscoped = snapshot
            .all_unscoped
            .filter(|all| all.expires_at > now)
            .map_or(0, |all| times(all).pack());
        let all_scoped: HashMap<String, IssuedBeforeTimes> = snapshot
            .all_scoped
            .iter()
            .filter(|(_, all)| all.expires_at > now)
            .map(|(iss, all)| (iss.clone(), times(*all)))
            .collect();
        let lifted = exact_map(snapshot.tombstones.len());
        for (digest, rule_expires_at) in snapshot.tombstones.iter().filter(|(_, at)| *at > now) {
            lifted.insert(StoredDigest(*digest), *rule_expires_at);
        }
        let seen = |seen: [bool; 3]| seen.map(AtomicBool::new);
        let live = [
            jti.len() as u64,
            sub.len() as u64,
            sid.len() as u64,
            u64::from(all_unscoped != 0) + all_scoped.len() as u64,
        ];
        let replica = Replica {
            blooms: [jti_bloom, sub_bloom, sid_bloom],
            jti,
            sub,
            sid,
            scoped_seen: seen(snapshot.values.each_ref().map(|section| section.scoped_seen)),
            unscoped_seen: seen(snapshot.values.each_ref().map(|section| section.unscoped_seen)),
            all_unscoped: AtomicU64::new(all_unscoped),
            all_scoped_present: AtomicBool::new(!all_scoped.is_empty()),
            all_scoped: RwLock::new(all_scoped),
            lifted,
            live: live.map(AtomicU64::new),
            last_sequence: AtomicU64::new(snapshot.sequence),
        };
        // Rules that expired since the snapshot are dead keys in the filters.
        for (filter, (section, kept)) in replica.blooms.iter().zip(snapshot.values.iter().zip(live)) {
            filter.dead.store(
                (section.entries.len() as u64).saturating_sub(kept),
                Ordering::Relaxed,
            );
        }
        Ok(replica)
    }
}

/// What a replica holds as of one instant, sorted: two replicas that agree on this
/// answer every check alike. For audits and tests (a list loaded from a snapshot and
/// its tail against one that replayed the stream).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaContent {
    /// `jti` rules: digest and expiry.
    pub jti: Vec<([u8; 16], u32)>,
    /// `sub` rules: digest, `issued_before`, expiry.
    pub sub: Vec<([u8; 16], u32, u32)>,
    /// `sid` rules: digest, `issued_before`, expiry.
    pub sid: Vec<([u8; 16], u32, u32)>,
    /// The unscoped `all` rule: `issued_before`, expiry.
    pub all_unscoped: Option<(u32, u32)>,
    /// Issuer-scoped `all` rules.
    pub all_scoped: Vec<(String, u32, u32)>,
    /// Tombstones: digest and the lifted rule's expiry.
    pub tombstones: Vec<([u8; 16], u32)>,
}

impl Replica {
    /// The rules and tombstones still live at `now`.
    pub fn content(&self, now: UnixSeconds) -> ReplicaContent {
        let now = stored_seconds(now);
        let times = |map: &crate::exact::ExactMap<IssuedBeforeTimes>| -> Vec<([u8; 16], u32, u32)> {
            let mut rules: Vec<_> = map
                .iter()
                .filter(|entry| entry.value().expires_at > now)
                .map(|entry| {
                    (
                        entry.key().0,
                        entry.value().issued_before,
                        entry.value().expires_at,
                    )
                })
                .collect();
            rules.sort_unstable();
            rules
        };
        let expiries = |map: &crate::exact::ExactMap<u32>| -> Vec<([u8; 16], u32)> {
            let mut rules: Vec<_> = map
                .iter()
                .filter(|entry| *entry.value() > now)
                .map(|entry| (entry.key().0, *entry.value()))
                .collect();
            rules.sort_unstable();
            rules
        };
        let mut all_scoped: Vec<(String, u32, u32)> = self
            .all_scoped
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, all)| all.expires_at > now)
            .map(|(iss, all)| (iss.clone(), all.issued_before, all.expires_at))
            .collect();
        all_scoped.sort_unstable();
        ReplicaContent {
            jti: expiries(&self.jti),
            sub: times(&self.sub),
            sid: times(&self.sid),
            all_unscoped: IssuedBeforeTimes::unpack(self.all_unscoped.load(Ordering::Acquire))
                .filter(|all| all.expires_at > now)
                .map(|all| (all.issued_before, all.expires_at)),
            all_scoped,
            tombstones: expiries(&self.lifted),
        }
    }
}
