//! Watching what a list applies: the hook the daemon builds its listing index on.
//!
//! A service needs nothing but [`crate::RevocationList::check`], so the replica keeps
//! no rule in full. The daemon also lists rules and answers `GET` for one key; it
//! gives its list an [`Observer`] ([`crate::ListConfig::observed_by`]) and keeps what
//! it needs itself. The observer sees exactly what the serving replica applied, in
//! stream order, so the daemon answers what services see.

use std::fmt;

use veto_proto::{KeyDigest, Lift, RevocationRule, RuleKind, UnixSeconds};

/// What one stream message did to the serving replica.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// A rule is now held for its key (stored at `sequence`).
    Rule {
        /// The rule.
        rule: &'a RevocationRule,
        /// Its key digest.
        digest: KeyDigest,
        /// Its stream sequence.
        sequence: u64,
    },
    /// The key's rule was lifted by a tombstone stored at `sequence`.
    Lift {
        /// The lift.
        lift: &'a Lift,
        /// Its key digest.
        digest: KeyDigest,
        /// Its stream sequence.
        sequence: u64,
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
}

/// Told of every change to the serving replica, in stream order, by the one task that
/// writes the list. Calls must be quick: the list applies nothing else meanwhile.
pub trait Observer: Send + Sync + fmt::Debug {
    /// One change.
    fn observe(&self, change: &Change<'_>);

    /// The replica dropped every rule that expired at or before `now`.
    fn sweep(&self, now: UnixSeconds) {
        let _ = now;
    }
}
