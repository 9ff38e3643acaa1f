//! The versioned encoding of the events on the stream.
//!
//! An event is one JSON object, `{"v":1,"replaces":N,"rule":{…}}`,
//! `{"v":1,"replaces":N,"lift":{…}}` or `{"v":1,"tick":{…}}`, so operators can read the
//! stream with `nats sub`. `replaces` is the stream sequence of the message the event
//! replaced on its subject (the daemon's compare-and-set value; 0: none), signed with
//! the rest: it binds the event to its place in its key's history. Unknown fields are
//! ignored (additions within a version); a different `v` is refused.

use serde::{Deserialize, Serialize};

use crate::digest::KeyDigest;
use crate::error::RuleError;
use crate::rule::{Lift, RevocationRule, Tick};
use crate::subject::{TICK_SUBJECT, parse_rule_subject};

/// The encoding version this crate writes and reads.
pub const WIRE_VERSION: u32 = 1;

/// One message on the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A revocation (the latest state of its key).
    Rule(RevocationRule),
    /// A tombstone lifting the rule with the same key.
    Lift(Lift),
    /// A daemon's freshness heartbeat.
    Tick(Tick),
}

/// An event with the digest of its key (see [`Event::decode_keyed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyedEvent {
    /// A revocation and its key digest.
    Rule(RevocationRule, KeyDigest),
    /// A lift and its key digest.
    Lift(Lift, KeyDigest),
    /// A tick (no key).
    Tick(Tick),
}

impl KeyedEvent {
    /// The event without its digest.
    pub fn into_event(self) -> Event {
        match self {
            KeyedEvent::Rule(rule, _) => Event::Rule(rule),
            KeyedEvent::Lift(lift, _) => Event::Lift(lift),
            KeyedEvent::Tick(tick) => Event::Tick(tick),
        }
    }
}

/// Why bytes from the stream are not an event veto can apply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON, or not of the envelope's shape.
    #[error("malformed event: {0}")]
    Json(#[from] serde_json::Error),
    /// Written by a version of veto this one does not read.
    #[error("unsupported event version {found} (this build reads {WIRE_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// Not exactly one of `rule`, `lift`, `tick`.
    #[error("an event holds exactly one of rule, lift, tick")]
    NotExactlyOneEvent,
    /// A rule or lift of an invalid shape.
    #[error("invalid event: {0}")]
    Invalid(#[from] RuleError),
    /// An event on a subject other than its own (a rule must live on its key's subject,
    /// or it would not replace that key's earlier state).
    #[error("event for {expected} arrived on {found}")]
    SubjectMismatch {
        /// The subject the event belongs on.
        expected: String,
        /// The subject it arrived on.
        found: String,
    },
}

impl DecodeError {
    /// A stable, machine-readable code, for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Json(_) => "malformed",
            DecodeError::UnsupportedVersion { .. } => "unsupported_version",
            DecodeError::NotExactlyOneEvent => "not_one_event",
            DecodeError::Invalid(_) => "invalid",
            DecodeError::SubjectMismatch { .. } => "subject_mismatch",
        }
    }
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    v: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaces: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a RevocationRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lift: Option<&'a Lift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tick: Option<&'a Tick>,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    v: u32,
    #[serde(default)]
    replaces: Option<u64>,
    #[serde(default)]
    rule: Option<RevocationRule>,
    #[serde(default)]
    lift: Option<Lift>,
    #[serde(default)]
    tick: Option<Tick>,
}

impl Event {
    /// The subject the event is published on.
    pub fn subject(&self) -> String {
        match self {
            Event::Rule(rule) => rule.subject(),
            Event::Lift(lift) => lift.subject(),
            Event::Tick(_) => TICK_SUBJECT.to_owned(),
        }
    }

    /// The event as bytes, placed nowhere (ticks; tests).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_envelope(None)
    }

    /// The event as bytes, replacing the message at stream sequence `replaces` on its
    /// subject (0: the subject had none).
    pub fn encode_replacing(&self, replaces: u64) -> Vec<u8> {
        self.encode_envelope(Some(replaces))
    }

    fn encode_envelope(&self, replaces: Option<u64>) -> Vec<u8> {
        let envelope = EnvelopeOut {
            v: WIRE_VERSION,
            replaces,
            rule: match self {
                Event::Rule(rule) => Some(rule),
                _ => None,
            },
            lift: match self {
                Event::Lift(lift) => Some(lift),
                _ => None,
            },
            tick: match self {
                Event::Tick(tick) => Some(tick),
                _ => None,
            },
        };
        // Serializing plain structs of strings and integers into a Vec cannot fail.
        serde_json::to_vec(&envelope).unwrap_or_default()
    }

    /// An event from bytes, with its shape validated (no clock is consulted).
    pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
        Event::decode_envelope(bytes).map(|(event, _)| event)
    }

    /// An event and the sequence it says it replaced, from bytes.
    fn decode_envelope(bytes: &[u8]) -> Result<(Event, Option<u64>), DecodeError> {
        let envelope: EnvelopeIn = serde_json::from_slice(bytes)?;
        if envelope.v != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: envelope.v });
        }
        let event = match (envelope.rule, envelope.lift, envelope.tick) {
            (Some(rule), None, None) => {
                rule.validate_shape()?;
                Event::Rule(rule)
            }
            (None, Some(lift), None) => {
                lift.validate_shape()?;
                Event::Lift(lift)
            }
            (None, None, Some(tick)) => Event::Tick(tick),
            _ => return Err(DecodeError::NotExactlyOneEvent),
        };
        Ok((event, envelope.replaces))
    }

    /// An event from bytes that arrived on `subject`, refusing one on a foreign subject.
    pub fn decode_on(subject: &str, bytes: &[u8]) -> Result<Event, DecodeError> {
        Event::decode_keyed(subject, bytes).map(KeyedEvent::into_event)
    }

    /// Like [`Event::decode_on`], with the key digest of a rule or lift (computed once
    /// here, so a reader applying the event need not hash the key again).
    pub fn decode_keyed(subject: &str, bytes: &[u8]) -> Result<KeyedEvent, DecodeError> {
        Event::decode_placed(subject, bytes).map(|(keyed, _)| keyed)
    }

    /// Like [`Event::decode_keyed`], with the sequence the event says it replaced.
    pub fn decode_placed(subject: &str, bytes: &[u8]) -> Result<(KeyedEvent, Option<u64>), DecodeError> {
        let (event, replaces) = Event::decode_envelope(bytes)?;
        let keyed = match event {
            Event::Rule(rule) => {
                let digest = rule.digest();
                KeyedEvent::Rule(rule, digest)
            }
            Event::Lift(lift) => {
                let digest = lift.digest();
                KeyedEvent::Lift(lift, digest)
            }
            Event::Tick(tick) => KeyedEvent::Tick(tick),
        };
        let on_its_subject = match &keyed {
            // Compare parsed, not formatted: no string is built for the expected subject.
            KeyedEvent::Rule(rule, digest) => parse_rule_subject(subject) == Some((rule.kind, *digest)),
            KeyedEvent::Lift(lift, digest) => parse_rule_subject(subject) == Some((lift.kind, *digest)),
            KeyedEvent::Tick(_) => subject == TICK_SUBJECT,
        };
        if !on_its_subject {
            return Err(DecodeError::SubjectMismatch {
                expected: keyed.into_event().subject(),
                found: subject.to_owned(),
            });
        }
        Ok((keyed, replaces))
    }

    /// A `Nats-Msg-Id` for the encoded event: the same bytes always get the same id, so a
    /// retried publish within the stream's duplicate window is stored once.
    pub fn msg_id(encoded: &[u8]) -> String {
        hex::encode(&blake3::hash(encoded).as_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::kind::RuleKind;
    use crate::time::UnixSeconds;

    fn kind() -> impl Strategy<Value = RuleKind> {
        prop::sample::select(RuleKind::EVERY.to_vec())
    }

    /// Text that passes validation: 1..=64 characters, no control characters.
    fn text() -> impl Strategy<Value = String> {
        "[^\\p{Cc}]{1,64}"
    }

    prop_compose! {
        fn valid_rule()(
            kind in kind(),
            value in text(),
            iss in prop::option::of(text()),
            at in 0i64..4_000_000_000,
            lifetime in 1i64..200_000,
            reason in prop::option::of(text()),
            by in prop::option::of(text()),
        ) -> RevocationRule {
            RevocationRule {
                kind,
                value: kind.has_value().then_some(value),
                iss,
                issued_before: kind.uses_issued_before().then_some(UnixSeconds(at)),
                expires_at: UnixSeconds(at + lifetime),
                reason,
                revoked_by: by,
                revoked_at: UnixSeconds(at),
            }
        }
    }

    prop_compose! {
        fn valid_lift()(kind in kind(), value in text(), iss in prop::option::of(text()), at in 0i64..4_000_000_000) -> Lift {
            Lift { kind, value: kind.has_value().then_some(value), iss, reason: None, lifted_by: Some("ops".into()), lifted_at: UnixSeconds(at), rule_expires_at: Some(UnixSeconds(at + 60)) }
        }
    }

    fn valid_event() -> impl Strategy<Value = Event> {
        prop_oneof![
            valid_rule().prop_map(Event::Rule),
            valid_lift().prop_map(Event::Lift),
            ("[a-z0-9-]{1,16}", any::<u64>())
                .prop_map(|(daemon, at_unix_ms)| Event::Tick(Tick { daemon, at_unix_ms })),
        ]
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_the_identity(event in valid_event()) {
            let bytes = event.encode();
            prop_assert_eq!(Event::decode_on(&event.subject(), &bytes).unwrap(), event);
        }

        #[test]
        fn arbitrary_bytes_give_a_typed_error_or_an_event(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Event::decode(&bytes);
        }

        #[test]
        fn arbitrary_json_envelopes_never_panic(
            v in prop_oneof![Just(1u32), any::<u32>()],
            kind in "[a-z]{0,4}",
            value in prop::option::of(".{0,300}"),
            iss in prop::option::of(".{0,8}"),
            issued_before in prop::option::of(any::<i64>()),
            expires_at in any::<i64>(),
        ) {
            let json = serde_json::json!({
                "v": v,
                "rule": { "kind": kind, "value": value, "iss": iss, "issued_before": issued_before,
                          "expires_at": expires_at, "revoked_at": 0 }
            });
            match Event::decode(json.to_string().as_bytes()) {
                Ok(Event::Rule(rule)) => prop_assert!(rule.validate_shape().is_ok()),
                Ok(other) => prop_assert!(false, "decoded a rule envelope as {:?}", other),
                Err(error) => prop_assert!(!error.code().is_empty()),
            }
        }

        #[test]
        fn arbitrary_rules_validate_to_ok_or_a_typed_error(
            rule in valid_rule(),
            value in prop::option::of(".{0,300}"),
            now in any::<i64>(),
            ttl_secs in 0u64..u64::MAX,
        ) {
            let rule = RevocationRule { value, ..rule };
            let policy = crate::TokenPolicy { max_token_ttl: std::time::Duration::from_secs(ttl_secs), ..Default::default() };
            if let Err(error) = rule.validate(&policy, UnixSeconds(now)) {
                prop_assert!(!error.code().is_empty());
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }

    #[test]
    fn the_encoding_is_pinned() {
        let tick = Event::Tick(Tick {
            daemon: "d1".into(),
            at_unix_ms: 1_800_000_000_123,
        });
        assert_eq!(
            String::from_utf8(tick.encode()).unwrap(),
            r#"{"v":1,"tick":{"daemon":"d1","at_unix_ms":1800000000123}}"#
        );
        let rule = Event::Rule(
            RevocationRule::jti("t-1", None, UnixSeconds(1_800_000_060)).revoked(
                UnixSeconds(1_800_000_000),
                Some("ops"),
                None,
            ),
        );
        assert_eq!(
            String::from_utf8(rule.encode()).unwrap(),
            r#"{"v":1,"rule":{"kind":"jti","value":"t-1","expires_at":1800000060,"revoked_by":"ops","revoked_at":1800000000}}"#
        );
    }

    #[test]
    fn bad_envelopes_have_typed_errors() {
        let cases: [(&str, &str); 6] = [
            ("not json", "malformed"),
            (
                r#"{"v":2,"tick":{"daemon":"d","at_unix_ms":1}}"#,
                "unsupported_version",
            ),
            (r#"{"v":1}"#, "not_one_event"),
            (
                r#"{"v":1,"tick":{"daemon":"d","at_unix_ms":1},"lift":{"kind":"all","lifted_at":1}}"#,
                "not_one_event",
            ),
            (
                r#"{"v":1,"rule":{"kind":"all","value":"x","issued_before":1,"expires_at":2,"revoked_at":0}}"#,
                "invalid",
            ),
            (
                r#"{"v":1,"rule":{"kind":"nope","expires_at":2,"revoked_at":0}}"#,
                "malformed",
            ),
        ];
        for (bytes, code) in cases {
            assert_eq!(
                Event::decode(bytes.as_bytes()).unwrap_err().code(),
                code,
                "{bytes}"
            );
        }
    }

    #[test]
    fn an_event_on_a_foreign_subject_is_refused() {
        let rule = Event::Rule(RevocationRule::jti("t-1", None, UnixSeconds(10)));
        let other = Event::Rule(RevocationRule::jti("t-2", None, UnixSeconds(10)));
        let error = Event::decode_on(&other.subject(), &rule.encode()).unwrap_err();
        assert_eq!(error.code(), "subject_mismatch");
    }

    #[test]
    fn message_ids_follow_the_bytes() {
        let a = Event::Rule(RevocationRule::jti("t-1", None, UnixSeconds(10))).encode();
        let b = Event::Rule(RevocationRule::jti("t-2", None, UnixSeconds(10))).encode();
        assert_eq!(Event::msg_id(&a), Event::msg_id(&a));
        assert_ne!(Event::msg_id(&a), Event::msg_id(&b));
        assert_eq!(Event::msg_id(&a).len(), 32);
    }
}
