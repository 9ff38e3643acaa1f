//! The daemon's listing index: every live rule in full (value, scope, audit fields)
//! with its stream sequence, kept from what its own replica applies (an
//! [`Observer`]), so `GET` and the paged list answer what services see.
//!
//! Services do not keep rules in full; only the daemon lists them, so the index lives
//! here rather than in the client library. A `BTreeMap` keyed by (kind, digest) gives
//! the paging order and lets a page of one kind start at that kind, never walking the
//! others under the lock.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use veto_client::{Change, Observer};
use veto_proto::{KeyDigest, RevocationRule, RuleKind, UnixSeconds};

/// A live rule as the stream holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRule {
    /// The rule.
    pub rule: RevocationRule,
    /// Its stream sequence (the last message on its subject when applied).
    pub sequence: u64,
}

/// Every live rule, by (kind, digest).
#[derive(Debug, Default)]
pub struct RuleIndex {
    rules: RwLock<BTreeMap<(RuleKind, KeyDigest), StoredRule>>,
    /// The highest stream sequence of a change told to the index.
    applied_sequence: AtomicU64,
}

impl RuleIndex {
    /// An empty index.
    pub fn new() -> RuleIndex {
        RuleIndex::default()
    }

    /// The live rule for a key.
    pub fn rule(&self, kind: RuleKind, iss: Option<&str>, value: Option<&str>) -> Option<StoredRule> {
        let digest = KeyDigest::of(kind, iss, value);
        let rules = self.rules.read().unwrap_or_else(|poison| poison.into_inner());
        // Expired but not yet swept: gone for every purpose.
        let now = UnixSeconds::now();
        rules
            .get(&(kind, digest))
            .filter(|stored| stored.rule.expires_at > now)
            .cloned()
    }

    /// Up to `limit` live rules in key order, after the key `after` (a paging cursor),
    /// of one kind or of every kind.
    pub fn rules(
        &self,
        kind: Option<RuleKind>,
        after: Option<(RuleKind, KeyDigest)>,
        limit: usize,
    ) -> Vec<StoredRule> {
        const FIRST: KeyDigest = KeyDigest([0; 16]);
        const LAST: KeyDigest = KeyDigest([0xff; 16]);
        let start = match (after, kind) {
            (Some(key), Some(kind)) if key.0 < kind => Bound::Included((kind, FIRST)),
            (Some(key), _) => Bound::Excluded(key),
            (None, Some(kind)) => Bound::Included((kind, FIRST)),
            (None, None) => Bound::Unbounded,
        };
        let end = match kind {
            Some(kind) => Bound::Included((kind, LAST)),
            None => Bound::Unbounded,
        };
        let now = UnixSeconds::now();
        let rules = self.rules.read().unwrap_or_else(|poison| poison.into_inner());
        rules
            .range((start, end))
            .filter(|(_, stored)| stored.rule.expires_at > now)
            .take(limit)
            .map(|(_, stored)| stored.clone())
            .collect()
    }

    /// The highest stream sequence the index has applied.
    pub fn applied_sequence(&self) -> u64 {
        self.applied_sequence.load(Ordering::Acquire)
    }
}

impl Observer for RuleIndex {
    fn observe(&self, change: &Change<'_>) {
        let mut rules = self.rules.write().unwrap_or_else(|poison| poison.into_inner());
        let sequence = match *change {
            Change::Rule {
                rule,
                digest,
                sequence,
            } => {
                rules.insert(
                    (rule.kind, digest),
                    StoredRule {
                        rule: rule.clone(),
                        sequence,
                    },
                );
                sequence
            }
            Change::Lift {
                lift,
                digest,
                sequence,
            } => {
                rules.remove(&(lift.kind, digest));
                sequence
            }
            Change::Expired {
                kind,
                digest,
                sequence,
            } => {
                rules.remove(&(kind, digest));
                sequence
            }
        };
        self.applied_sequence.fetch_max(sequence, Ordering::AcqRel);
    }

    fn sweep(&self, now: UnixSeconds) {
        let mut rules = self.rules.write().unwrap_or_else(|poison| poison.into_inner());
        rules.retain(|_, stored| stored.rule.expires_at > now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use veto_proto::Lift;

    use super::*;

    fn jti(value: &str) -> RevocationRule {
        RevocationRule::jti(
            value,
            None,
            UnixSeconds::now().saturating_add(Duration::from_secs(60)),
        )
    }

    #[test]
    fn rules_come_and_go_with_the_changes_applied() {
        let index = RuleIndex::new();
        let rule = jti("t-1");
        index.observe(&Change::Rule {
            rule: &rule,
            digest: rule.digest(),
            sequence: 1,
        });
        assert_eq!(
            index.rule(RuleKind::Jti, None, Some("t-1")),
            Some(StoredRule {
                rule: rule.clone(),
                sequence: 1
            })
        );
        let lift = Lift {
            kind: RuleKind::Jti,
            value: Some("t-1".into()),
            iss: None,
            reason: None,
            lifted_by: None,
            lifted_at: UnixSeconds::now(),
        };
        index.observe(&Change::Lift {
            lift: &lift,
            digest: lift.digest(),
            sequence: 2,
        });
        assert_eq!(index.rule(RuleKind::Jti, None, Some("t-1")), None);
        assert_eq!(index.applied_sequence(), 2);
    }

    #[test]
    fn a_page_of_one_kind_starts_at_that_kind() {
        let index = RuleIndex::new();
        let policy = veto_proto::TokenPolicy::default();
        let rules: Vec<RevocationRule> = (0..5)
            .map(|n| jti(&format!("t-{n}")))
            .chain((0..3).map(|n| {
                RevocationRule::sub_or_sid(
                    RuleKind::Sub,
                    &format!("u-{n}"),
                    None,
                    UnixSeconds::now(),
                    &policy,
                )
            }))
            .collect();
        for (sequence, rule) in rules.iter().enumerate() {
            index.observe(&Change::Rule {
                rule,
                digest: rule.digest(),
                sequence: sequence as u64 + 1,
            });
        }
        let subs = index.rules(Some(RuleKind::Sub), None, 10);
        assert_eq!(subs.len(), 3);
        assert!(subs.iter().all(|stored| stored.rule.kind == RuleKind::Sub));
        let first = index.rules(Some(RuleKind::Jti), None, 2);
        let last = &first[1];
        let rest = index.rules(Some(RuleKind::Jti), Some((RuleKind::Jti, last.rule.digest())), 10);
        assert_eq!(first.len() + rest.len(), 5);
        assert_eq!(index.rules(None, None, 100).len(), 8);
    }
}
