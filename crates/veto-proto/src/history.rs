//! How a reader applies events to the state of one key: the rules that make a
//! revocation final against anyone who can publish on the bus.
//!
//! A signature proves the daemon wrote an event, not that it is the latest one: an old
//! signed lift, republished, would undo a later revocation, and an old signed rule
//! would lower `issued_before`. So every reader (services, the daemon's own replica and
//! its writer, another language's subscriber) applies the same three rules, bound to
//! the key's history by the rules' own times:
//!
//! 1. **A rule never weakens.** A rule for a held key is merged: the later
//!    `issued_before` and the later `expires_at` win. A weaker rule changes nothing
//!    ([`Applied::Replayed`]).
//! 2. **A lift names the rule it removes** ([`crate::Lift::rule_expires_at`]). It
//!    removes the held rule only when the held rule's `expires_at` is the one named;
//!    otherwise it is a replay and changes nothing. The key keeps a tombstone until the
//!    named `expires_at`.
//! 3. **A rule after a lift outlasts the lifted rule.** A rule for a tombstoned key is
//!    applied only when its `expires_at` is later than the lifted rule's; the daemon
//!    makes every revocation after a lift so. An older rule replayed after a lift
//!    changes nothing.
//!
//! The daemon only ever strengthens a rule (compare-and-set on the subject), and its
//! expires_at grows across every lift, so `expires_at` is a version number per key:
//! what a lift names identifies exactly one rule the key ever had.

use crate::time::UnixSeconds;

/// The times a reader keeps for a rule: enough to decide a check and to version it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleTimes {
    /// Tokens issued before this are revoked; `None` for `jti` rules.
    pub issued_before: Option<UnixSeconds>,
    /// When the rule can be forgotten; also its version.
    pub expires_at: UnixSeconds,
}

impl RuleTimes {
    /// Both times at their later value.
    pub fn merged(self, other: RuleTimes) -> RuleTimes {
        RuleTimes {
            issued_before: self.issued_before.max(other.issued_before),
            expires_at: self.expires_at.max(other.expires_at),
        }
    }
}

/// What a reader holds for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// No rule and no tombstone.
    Absent,
    /// A live rule.
    Held(RuleTimes),
    /// A tombstone: the rule that expired at `rule_expires_at` was lifted.
    Lifted {
        /// The lifted rule's `expires_at`.
        rule_expires_at: UnixSeconds,
    },
}

/// What an event did to a key's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Applied {
    /// A rule for a key that had none (or only a tombstone it outlasts).
    New,
    /// A rule that made the held one stronger.
    Strengthened,
    /// An event that changes nothing and contradicts nothing (the held rule again, a
    /// tombstone again, a lift of an absent key).
    Unchanged,
    /// The held rule was lifted.
    Lifted,
    /// An old event out of place: a weaker rule, a lift naming another rule (or none),
    /// or a rule that the tombstone outlasts. Changes nothing; counted.
    Replayed,
}

impl Applied {
    /// A stable name for metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Applied::New => "new",
            Applied::Strengthened => "strengthened",
            Applied::Unchanged => "unchanged",
            Applied::Lifted => "lifted",
            Applied::Replayed => "replayed",
        }
    }

    /// Whether the event changed what the reader holds.
    pub const fn changed(self) -> bool {
        matches!(self, Applied::New | Applied::Strengthened | Applied::Lifted)
    }
}

impl KeyState {
    /// The state after a rule with `times` arrives.
    pub fn with_rule(self, times: RuleTimes) -> (KeyState, Applied) {
        match self {
            KeyState::Absent => (KeyState::Held(times), Applied::New),
            KeyState::Held(held) => {
                let merged = held.merged(times);
                let applied = if merged != held {
                    Applied::Strengthened
                } else if times == held {
                    Applied::Unchanged
                } else {
                    Applied::Replayed
                };
                (KeyState::Held(merged), applied)
            }
            KeyState::Lifted { rule_expires_at } if times.expires_at > rule_expires_at => {
                (KeyState::Held(times), Applied::New)
            }
            lifted @ KeyState::Lifted { .. } => (lifted, Applied::Replayed),
        }
    }

    /// The state after a lift naming `rule_expires_at` arrives.
    pub fn with_lift(self, rule_expires_at: Option<UnixSeconds>) -> (KeyState, Applied) {
        match (self, rule_expires_at) {
            (KeyState::Held(held), Some(named)) if held.expires_at == named => (
                KeyState::Lifted {
                    rule_expires_at: named,
                },
                Applied::Lifted,
            ),
            (held @ KeyState::Held(_), _) => (held, Applied::Replayed),
            (KeyState::Absent, Some(named)) => (
                KeyState::Lifted {
                    rule_expires_at: named,
                },
                Applied::Unchanged,
            ),
            (
                KeyState::Lifted {
                    rule_expires_at: kept,
                },
                Some(named),
            ) => (
                KeyState::Lifted {
                    rule_expires_at: kept.max(named),
                },
                Applied::Unchanged,
            ),
            (other, None) => (other, Applied::Unchanged),
        }
    }

    /// The state as of `now`: an expired rule or tombstone is gone.
    pub fn at(self, now: UnixSeconds) -> KeyState {
        match self {
            KeyState::Held(times) if times.expires_at <= now => KeyState::Absent,
            KeyState::Lifted { rule_expires_at } if rule_expires_at <= now => KeyState::Absent,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(issued_before: i64, expires_at: i64) -> RuleTimes {
        RuleTimes {
            issued_before: Some(UnixSeconds(issued_before)),
            expires_at: UnixSeconds(expires_at),
        }
    }

    #[test]
    fn rules_only_strengthen() {
        let (state, applied) = KeyState::Absent.with_rule(rule(100, 200));
        assert_eq!(applied, Applied::New);
        let (state, applied) = state.with_rule(rule(150, 250));
        assert_eq!(
            (state, applied),
            (KeyState::Held(rule(150, 250)), Applied::Strengthened)
        );
        // An older signed rule replayed: nothing lowers.
        let (state, applied) = state.with_rule(rule(100, 200));
        assert_eq!(
            (state, applied),
            (KeyState::Held(rule(150, 250)), Applied::Replayed)
        );
        let (_, applied) = state.with_rule(rule(150, 250));
        assert_eq!(applied, Applied::Unchanged);
    }

    #[test]
    fn a_lift_removes_only_the_rule_it_names() {
        let held = KeyState::Held(rule(150, 250));
        assert_eq!(
            held.with_lift(Some(UnixSeconds(250))),
            (
                KeyState::Lifted {
                    rule_expires_at: UnixSeconds(250)
                },
                Applied::Lifted
            )
        );
        // Yesterday's lift, naming yesterday's rule: replayed, nothing lifted.
        assert_eq!(held.with_lift(Some(UnixSeconds(200))), (held, Applied::Replayed));
        // A lift naming no rule (written before lifts named one) lifts nothing.
        assert_eq!(held.with_lift(None), (held, Applied::Replayed));
    }

    #[test]
    fn after_a_lift_only_a_later_rule_revokes_again() {
        let lifted = KeyState::Lifted {
            rule_expires_at: UnixSeconds(250),
        };
        // The lifted rule, replayed: stays lifted.
        assert_eq!(lifted.with_rule(rule(150, 250)), (lifted, Applied::Replayed));
        assert_eq!(lifted.with_rule(rule(100, 200)), (lifted, Applied::Replayed));
        // A re-revocation outlasts it.
        assert_eq!(
            lifted.with_rule(rule(300, 400)),
            (KeyState::Held(rule(300, 400)), Applied::New)
        );
    }

    #[test]
    fn expiry_forgets_rules_and_tombstones() {
        let now = UnixSeconds(300);
        assert_eq!(KeyState::Held(rule(100, 250)).at(now), KeyState::Absent);
        assert_eq!(
            KeyState::Held(rule(100, 350)).at(now),
            KeyState::Held(rule(100, 350))
        );
        assert_eq!(
            KeyState::Lifted {
                rule_expires_at: UnixSeconds(300)
            }
            .at(now),
            KeyState::Absent
        );
    }
}
