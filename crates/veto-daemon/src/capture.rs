//! The daemon's rules as a [`Snapshot`]: what the snapshot writer
//! ([`crate::snapshot`]) signs and stores, and what the daemon's own list rebuilds its
//! bloom filters from when they fill up ([`crate::index`] answers
//! [`veto_client::Observer::snapshot`] with it), so that the daemon never replays the
//! stream and verifies every event again to grow a filter.

use veto_client::bloom::Bloom;
use veto_proto::snapshot::{AllTimes, BloomWords, Snapshot, SnapshotEntry, bloom_key};
use veto_proto::{RevocationRule, RuleKind, UnixSeconds};

/// Where a snapshot comes from: the stream, its creation time (unix ns), the sequence
/// the rules are as of, and the daemon writing it.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotOrigin<'a> {
    /// The stream's name.
    pub stream: &'a str,
    /// The stream's creation time, unix ns (0: unknown).
    pub stream_created_unix_ns: i64,
    /// The stream sequence the rules are as of.
    pub sequence: u64,
    /// The daemon's id.
    pub daemon: &'a str,
}

/// The snapshot holding `rules` (live ones) and `tombstones` (digest, lifted rule's
/// expiry), with bloom filters filled from the rules' values, sized for
/// `bloom_capacities` keys of each kind (`jti`, `sub`, `sid`), or, `None`, with room
/// for a quarter more keys than the rules (what the writer publishes: compact).
pub fn from_rules(
    origin: SnapshotOrigin<'_>,
    rules: &[RevocationRule],
    tombstones: &[(veto_proto::KeyDigest, UnixSeconds)],
    bloom_capacities: Option<[usize; 3]>,
) -> Snapshot {
    let mut snapshot = Snapshot {
        stream: origin.stream.to_owned(),
        stream_created_unix_ns: origin.stream_created_unix_ns,
        sequence: origin.sequence,
        created_at_unix_ms: u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(u64::MAX),
        daemon: origin.daemon.to_owned(),
        ..Snapshot::default()
    };
    let seconds = |at: UnixSeconds| u32::try_from(at.0.max(0)).unwrap_or(u32::MAX);
    let mut by_kind: [Vec<&RevocationRule>; 3] = Default::default();
    for rule in rules {
        match rule.kind {
            RuleKind::Jti => by_kind[0].push(rule),
            RuleKind::Sub => by_kind[1].push(rule),
            RuleKind::Sid => by_kind[2].push(rule),
            RuleKind::All => {
                let times = AllTimes {
                    issued_before: seconds(rule.issued_before.unwrap_or(UnixSeconds::EPOCH)),
                    expires_at: seconds(rule.expires_at),
                };
                match &rule.iss {
                    None => snapshot.all_unscoped = Some(times),
                    Some(iss) => snapshot.all_scoped.push((iss.clone(), times)),
                }
            }
        }
    }
    for (index, (section, rules)) in snapshot.values.iter_mut().zip(by_kind).enumerate() {
        // Room for a quarter more keys before a reader's filter counts as full.
        let capacity = bloom_capacities.map_or(rules.len() + rules.len() / 4, |capacities| {
            capacities[index].max(rules.len())
        });
        let bloom = Bloom::with_capacity(capacity);
        section.entries = rules
            .iter()
            .map(|rule| {
                if let Some(value) = &rule.value {
                    bloom.insert(bloom_key(rule.kind, value));
                }
                section.scoped_seen |= rule.iss.is_some();
                section.unscoped_seen |= rule.iss.is_none();
                SnapshotEntry {
                    digest: rule.digest().0,
                    issued_before: rule.issued_before.map_or(0, seconds),
                    expires_at: seconds(rule.expires_at),
                }
            })
            .collect();
        section.entries.sort_by_key(|entry| entry.digest);
        section.bloom = BloomWords {
            capacity: bloom.capacity() as u64,
            words: bloom.to_words(),
        };
    }
    snapshot.tombstones = tombstones
        .iter()
        .map(|(digest, rule_expires_at)| (digest.0, seconds(*rule_expires_at)))
        .collect();
    snapshot.tombstones.sort_by_key(|(digest, _)| *digest);
    snapshot
}
