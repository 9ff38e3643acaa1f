//! Watching what a list applies: the hook the daemon builds its listing index on.
//!
//! A service needs nothing but [`crate::RevocationList::check`], so the replica keeps
//! no rule in full. The daemon also lists rules, answers `GET` for one key, and repairs
//! the stream; it gives its list an [`Observer`] ([`crate::ListConfig::observed_by`])
//! and keeps what it needs itself. The observer sees exactly what the serving replica
//! applied, in stream order, so the daemon answers what services see.

use std::fmt;

use veto_proto::snapshot::Snapshot;
use veto_proto::{Applied, KeyDigest, Lift, RevocationRule, RuleKind};

/// What one stream message did to the serving replica.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// A rule for its key, and what it did to the key's state (see
    /// [`veto_proto::history`]).
    Rule {
        /// The rule as the event carried it.
        rule: &'a RevocationRule,
        /// Its key digest.
        digest: KeyDigest,
        /// Its stream sequence.
        sequence: u64,
        /// What it did.
        applied: Applied,
    },
    /// A lift for its key, and what it did.
    Lift {
        /// The lift.
        lift: &'a Lift,
        /// Its key digest.
        digest: KeyDigest,
        /// Its stream sequence.
        sequence: u64,
        /// What it did.
        applied: Applied,
    },
    /// A rule that had already expired when it arrived: forgotten.
    Expired {
        /// The rule's kind.
        kind: RuleKind,
        /// Its key digest.
        digest: KeyDigest,
        /// Its stream sequence.
        sequence: u64,
    },
    /// A message that was not applied: unsigned, forged, signed by an unknown key, or
    /// undecodable. Its subject still names a key when it is a rule subject.
    Ignored {
        /// The key its subject names, if any.
        key: Option<(RuleKind, KeyDigest)>,
        /// Its stream sequence.
        sequence: u64,
        /// Why (`unsigned`, `forged`, `unknown_key`, `malformed`, …).
        reason: &'static str,
    },
}

/// Told of every change to the serving replica, in stream order, by the one task that
/// writes the list. Calls must be quick: the list applies nothing else meanwhile.
pub trait Observer: Send + Sync + fmt::Debug {
    /// One change.
    fn observe(&self, change: &Change<'_>);

    /// The replica dropped every rule that expired at or before `now`.
    fn sweep(&self, now: veto_proto::UnixSeconds) {
        let _ = now;
    }

    /// The stream went back (restored, or deleted and created again): the list loads
    /// from scratch, and every change told so far is void. The next changes are the
    /// new load's.
    fn reset(&self) {}

    /// Everything told so far, as a snapshot whose bloom filters are sized for
    /// `bloom_capacities` keys of each value kind (`jti`, `sub`, `sid`), when this
    /// observer keeps every live rule in full (values included), as the daemon's index
    /// does; `None` (the default) when it does not.
    ///
    /// When a bloom filter fills up, the list builds its bigger one from this instead
    /// of replaying the stream, which would verify every event's signature again: the
    /// daemon's own list refilled its filters three times while the batch ingest
    /// figure wrote 44,000 rules (at about 16k, 25k and 37k), and those replays took
    /// half the CPU (`benches/run`: 8–13k rules/s with them, 22–23k without).
    /// Called by the task that writes the list, between changes, so the snapshot is
    /// exactly what the serving replica applied up to its `sequence`; the list applies
    /// nothing meanwhile (at 1M rules about as long as building a snapshot to write,
    /// under a second), once per growth of the filters by half.
    fn snapshot(&self, bloom_capacities: [usize; 3]) -> Option<Snapshot> {
        let _ = bloom_capacities;
        None
    }
}
