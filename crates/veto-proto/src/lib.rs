//! veto's wire protocol, and nothing else: no I/O, no async runtime.
//!
//! Every part of veto agrees through this crate: the daemon writes what it defines, the
//! client library reads it, the CLI shows it. It fixes
//!
//! - the rule model: *tokens whose claim C equals V, issued before T, are revoked until E*
//!   ([`RevocationRule`], [`RuleKind`]), the [`Lift`] tombstone and the freshness [`Tick`];
//! - the 128-bit [`KeyDigest`] of a rule's key and the NATS subject it lives on;
//! - the JetStream [`StreamSettings`] derived from the deployment's [`TokenPolicy`];
//! - the versioned JSON encoding of an [`Event`], readable with `nats sub`;
//! - validation with typed errors ([`RuleError`], [`DecodeError`]);
//! - event signatures: their input bytes and their verification ([`VerificationKeys`]);
//! - the services' presence reports ([`PresenceReport`]), on core NATS, never stored.
//!
//! # Layout
//!
//! Leaves first; each module imports only modules above it in this list.
//!
//! - [`time`]: [`UnixSeconds`], the unit of JWT `iat`/`exp`.
//! - [`kind`]: the four rule kinds and their wire names.
//! - [`error`]: [`RuleError`] with stable codes, and the text fields with their limits.
//! - [`digest`]: key digests and their fixed hashing input.
//! - [`subject`]: subject names; values never appear in them.
//! - [`policy`]: token lifetimes and the stream settings derived from them.
//! - [`history`]: how a reader applies events to a key's state (never weaken; a lift
//!   names the rule it removes; a rule after a lift outlasts it).
//! - [`rule`]: rules, lifts, ticks, and the token facts a rule matches.
//! - [`validate`]: shape and time checks.
//! - [`wire`]: the versioned encoding of events.
//! - [`signature`]: what an event signature covers; verifying one.
//! - [`snapshot`]: the whole list, compact and signed once, with its binary format.
//! - [`presence`]: what each service's list reports about itself, and on which subject
//!   (outside the stream's, so never stored).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use veto_proto::{Event, RevocationRule, RuleKind, TokenPolicy, UnixSeconds};
//!
//! let policy = TokenPolicy::default();
//! let now = UnixSeconds::now();
//! // Revoke every token of `alice` at one issuer issued before now (plus the skew allowance).
//! let rule = RevocationRule::sub_or_sid(
//!     RuleKind::Sub,
//!     "alice",
//!     Some("https://idp.example"),
//!     now.saturating_add(policy.clock_skew),
//!     &policy,
//! )
//! .revoked(now, Some("ops@example"), Some("laptop stolen"));
//! rule.validate(&policy, now).expect("a fresh rule is valid");
//!
//! let event = Event::Rule(rule);
//! let subject = event.subject();
//! assert!(subject.starts_with("veto.v1.rule.sub."));
//! let bytes = event.encode();
//! assert_eq!(Event::decode_on(&subject, &bytes).unwrap(), event);
//! # let _ = Duration::ZERO;
//! ```

pub mod digest;
pub mod error;
pub mod history;
pub mod kind;
pub mod known_good;
pub mod policy;
pub mod presence;
pub mod rule;
pub mod signature;
pub mod snapshot;
pub mod subject;
pub mod time;
pub mod validate;
pub mod wire;

pub use digest::KeyDigest;
pub use error::{Field, RuleError};
pub use history::{Applied, KeyState, RuleTimes};
pub use kind::{RuleKind, UnknownKind};
pub use policy::{StreamSettings, TokenPolicy};
pub use presence::{BloomReport, Freshness, PRESENCE_SUBJECTS, PresenceError, PresenceReport};
pub use rule::{Lift, RevocationRule, Tick, TokenFacts};
pub use signature::{
    KEY_ID_HEADER, SIGNATURE_HEADER, SignatureRejection, SigningKeyError, VerificationKeys, signing_input,
};
pub use snapshot::{Snapshot, SnapshotError};
pub use subject::{RULE_SUBJECT_PREFIX, STREAM_SUBJECTS, TICK_SUBJECT};
pub use time::UnixSeconds;
pub use wire::{DecodeError, Event, KeyedEvent, WIRE_VERSION};
