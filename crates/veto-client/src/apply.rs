//! Applying one stream message to a replica: verify its signature (when the list is
//! configured with keys), decode it, apply it by the rules of
//! [`veto_proto::history`], and tell the observer. The same steps whichever path the
//! message came by.

use std::sync::atomic::Ordering;

use tracing::{debug, warn};
use veto_proto::subject::parse_rule_subject;
use veto_proto::{Applied, KeyedEvent, UnixSeconds};

use crate::metrics::names;
use crate::observer::Change;
use crate::replica::Replica;
use crate::shared::ListState;

/// One stream message, as it arrived.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Incoming<'a> {
    pub(crate) subject: &'a str,
    pub(crate) payload: &'a [u8],
    /// The `Veto-Key-Id` header.
    pub(crate) key_id: Option<&'a str>,
    /// The `Veto-Signature` header.
    pub(crate) signature: Option<&'a str>,
    /// Its stream sequence.
    pub(crate) sequence: u64,
}

/// Applies `message` to `replica`. `serving`: the replica is (or is about to become, as
/// the first one) the one checks read: only then are ticks its freshness and changes
/// told to the observer.
pub(crate) fn apply(state: &ListState, replica: &Replica, message: &Incoming<'_>, serving: bool) {
    let sequence = message.sequence;
    let event = state.config.trust.open(
        message.subject,
        message.payload,
        message.key_id,
        message.signature,
    );
    let observer = state.config.observer.as_deref().filter(|_| serving);
    let change = match &event {
        Ok(KeyedEvent::Rule(rule, digest)) => {
            let applied = replica.apply_rule_keyed(rule, *digest);
            count_replay(state, applied, message);
            if rule.expires_at <= UnixSeconds::now() && applied != Applied::Replayed {
                // Expired on arrival: nothing is held for the key.
                Some(Change::Expired {
                    kind: rule.kind,
                    digest: *digest,
                    sequence,
                })
            } else {
                Some(Change::Rule {
                    rule,
                    digest: *digest,
                    sequence,
                    applied,
                })
            }
        }
        Ok(KeyedEvent::Lift(lift, digest)) => {
            let applied = replica.apply_lift_keyed(lift, *digest);
            count_replay(state, applied, message);
            Some(Change::Lift {
                lift,
                digest: *digest,
                sequence,
                applied,
            })
        }
        Ok(KeyedEvent::Tick(tick)) => {
            // A replica being built must not make the serving one look fresh.
            if serving {
                state.note_tick(tick.at_unix_ms);
            }
            None
        }
        Err(reason) => {
            state.rejected_events.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(names::EVENTS_REJECTED_TOTAL, "reason" => *reason).increment(1);
            warn!(subject = %message.subject, sequence, reason, "ignored an event");
            Some(Change::Ignored {
                key: parse_rule_subject(message.subject),
                sequence,
                reason,
            })
        }
    };
    if let (Some(observer), Some(change)) = (observer, change) {
        observer.observe(&change);
    }
    replica.set_last_sequence(sequence);
    if serving {
        state.note_applied(sequence);
    }
}

fn count_replay(state: &ListState, applied: Applied, message: &Incoming<'_>) {
    if applied == Applied::Replayed {
        state.replayed_events.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::EVENTS_REPLAYED_TOTAL).increment(1);
        debug!(subject = %message.subject, sequence = message.sequence, "an old event out of place; it changed nothing");
    }
}

#[cfg(test)]
mod tests {
    use veto_proto::{Event, RuleKind, Tick, TokenPolicy};

    use super::*;
    use crate::config::ListConfig;

    fn tick_at(at_unix_ms: u64) -> Vec<u8> {
        Event::Tick(Tick {
            daemon: "d".into(),
            at_unix_ms,
        })
        .encode()
    }

    fn incoming<'a>(subject: &'a str, payload: &'a [u8], sequence: u64) -> Incoming<'a> {
        Incoming {
            subject,
            payload,
            key_id: None,
            signature: None,
            sequence,
        }
    }

    #[test]
    fn ticks_of_a_replica_being_built_do_not_freshen_the_serving_one() {
        let state = ListState::new(ListConfig::default());
        let building = Replica::new(0);
        let now = crate::shared::now_unix_ms();
        let payload = tick_at(now);
        apply(
            &state,
            &building,
            &incoming(veto_proto::TICK_SUBJECT, &payload, 7),
            false,
        );
        assert!(
            state.refresh_stale().0,
            "still stale: the tick fed a replica nobody reads"
        );
        assert_eq!(building.stats().last_sequence, 7);
        apply(
            &state,
            &building,
            &incoming(veto_proto::TICK_SUBJECT, &payload, 8),
            true,
        );
        assert!(!state.refresh_stale().0, "fresh on the serving replica's tick");
    }

    #[test]
    fn an_old_rule_replayed_never_forgets_the_held_one() {
        let state = ListState::new(ListConfig::default());
        let replica = Replica::new(0);
        let policy = TokenPolicy::default();
        let now = UnixSeconds::now();
        let strong = veto_proto::RevocationRule::sub_or_sid(RuleKind::Sub, "alice", None, now, &policy);
        let expired = veto_proto::RevocationRule {
            issued_before: Some(UnixSeconds(now.0 - 90_000)),
            expires_at: UnixSeconds(now.0 - 10),
            ..strong.clone()
        };
        let (subject, payload) = (strong.subject(), Event::Rule(strong).encode());
        apply(&state, &replica, &incoming(&subject, &payload, 1), true);
        let replay = Event::Rule(expired).encode();
        apply(&state, &replica, &incoming(&subject, &replay, 2), true);
        let token = veto_proto::TokenFacts {
            sub: Some("alice"),
            iat: Some(UnixSeconds(now.0 - 5)),
            ..veto_proto::TokenFacts::default()
        };
        assert_eq!(
            replica.lookup(&token),
            Some(RuleKind::Sub),
            "an expired copy must not erase the rule"
        );
        assert_eq!(state.replayed_events.load(Ordering::Relaxed), 1);
    }
}
