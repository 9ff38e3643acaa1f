//! Shared Signals Framework 1.0, push delivery (RFC 8935): a transmitter POSTs one
//! security event token (RFC 8417) per request; veto checks the push authorization
//! (when configured), validates the SET with the transmitter's keys, and turns the
//! events it understands into rules:
//!
//! | event | rule |
//! |---|---|
//! | CAEP `session-revoked` | `sid` when the subject carries a session (a complex subject's `session`, or a simple `opaque` subject, which CAEP's own example uses for the session id), else `sub` |
//! | CAEP `credential-change` | `sub` (whatever the change: every token issued before it) |
//! | RISC `account-disabled`, `account-purged` | `sub` |
//! | RISC `sessions-revoked` (deprecated for CAEP's) | `sub` (all the account's sessions) |
//! | anything else (SSF `verification`, `stream-updated`, …) | acknowledged and counted |
//!
//! The subject is the top-level `sub_id` (SSF 1.0 §3.1) or, for CAEP and RISC events
//! of older transmitters, the event's `subject`. A rule's `issued_before` is now plus
//! the clock-skew allowance, and never earlier than the event's `event_timestamp`
//! (capped at the latest `issued_before` veto accepts: a timestamp further in the
//! future, such as one in milliseconds, revokes up to that cap).
//!
//! Validation: `iss` (the transmitter), `aud` (veto's audience there), signature and
//! algorithm by the transmitter's keys, `typ` `secevent+jwt` when present, `iat`
//! required and not in the future, `jti` required and not seen before, `events` an
//! object of objects. `exp` is checked when present (SSF forbids it, RFC 8417 allows
//! it). A SET whose `iat` is older than the longest token lifetime is acknowledged
//! without effect: every token it could revoke has expired (and its `jti` need not be
//! remembered any longer).

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use veto_api::ErrorCode;
use veto_client::jwt::bearer::{self, BearerError};
use veto_client::jwt::{ValidationOptions, Validator};
use veto_proto::{RevocationRule, RuleKind, TokenPolicy, UnixSeconds};

use super::settings::{SsfTransmitterSection, ssf_principal};
use super::subject::{Subject, SubjectMapping, Target};
use super::{
    Accepted, Action, Effect, IdpError, Receiver, Refusal, invalid, issued_at, numeric_date, token_id,
    validation_failure,
};

/// The `typ` header of an explicitly typed SET (RFC 8417 §2.3).
pub const SECEVENT_TYPE: &str = "secevent+jwt";

/// CAEP: a session was revoked.
pub const CAEP_SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP: a credential was created, changed, revoked or deleted.
pub const CAEP_CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// RISC: the account was disabled.
pub const RISC_ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// RISC: the account was deleted.
pub const RISC_ACCOUNT_PURGED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-purged";
/// RISC (deprecated for CAEP `session-revoked`): all the account's sessions were revoked.
pub const RISC_SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
/// SSF: a verification event, sent on request to test the stream.
pub const SSF_VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// What veto does with an event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handling {
    /// A `sid` rule if the subject names a session, else a `sub` rule.
    Session,
    /// A `sub` rule for the subject's user.
    User,
    /// Acknowledge only.
    Ignore,
}

/// The metrics label, the reason recorded on rules, and the handling of an event type.
fn event_type(uri: &str) -> (&'static str, &'static str, Handling) {
    match uri {
        CAEP_SESSION_REVOKED => ("session_revoked", "CAEP session-revoked", Handling::Session),
        CAEP_CREDENTIAL_CHANGE => ("credential_change", "CAEP credential-change", Handling::User),
        RISC_ACCOUNT_DISABLED => ("account_disabled", "RISC account-disabled", Handling::User),
        RISC_ACCOUNT_PURGED => ("account_purged", "RISC account-purged", Handling::User),
        RISC_SESSIONS_REVOKED => ("sessions_revoked", "RISC sessions-revoked", Handling::User),
        SSF_VERIFICATION => ("verification", "", Handling::Ignore),
        _ => ("other", "", Handling::Ignore),
    }
}

/// One configured transmitter.
#[derive(Debug)]
pub struct SsfTransmitter {
    name: String,
    issuer: String,
    leeway: std::time::Duration,
    principal: String,
    authorization_sha256: Option<[u8; 32]>,
    subjects: SubjectMapping,
    validator: Validator,
}

impl SsfTransmitter {
    /// The transmitter configured as `name`, validating with `validator`.
    pub fn new(
        name: &str,
        section: &SsfTransmitterSection,
        validator: Validator,
    ) -> anyhow::Result<SsfTransmitter> {
        let authorization_sha256 = section
            .authorization_sha256
            .as_deref()
            .map(|hash| {
                hex::decode(hash)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!("[idp.ssf.{name}] authorization_sha256 is not 64 hex characters")
                    })
            })
            .transpose()?;
        Ok(SsfTransmitter {
            name: name.to_owned(),
            issuer: section.issuer.clone(),
            leeway: section.leeway,
            principal: ssf_principal(&section.issuer),
            authorization_sha256,
            subjects: SubjectMapping {
                subject_issuer: section
                    .subject_issuer
                    .clone()
                    .unwrap_or_else(|| section.issuer.clone()),
                email_is_sub: section.email_claim.as_deref() == Some("sub"),
            },
            validator,
        })
    }

    /// Checks the push's `Authorization: Bearer`, when this transmitter has one.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(expected) = &self.authorization_sha256 else {
            return Ok(());
        };
        let failed = |reason: &'static str, description: &str| Refusal {
            code: ErrorCode::AuthenticationFailed,
            reason,
            description: description.to_owned(),
        };
        let token = bearer::from_headers(headers).map_err(|error| match error {
            BearerError::Missing => failed(
                "missing_authorization",
                "this transmitter must send Authorization: Bearer",
            ),
            _ => failed(
                "malformed_authorization",
                "the Authorization header is not one bearer token",
            ),
        })?;
        // Compared as SHA-256 digests: the configuration holds only the digest, and a
        // timing difference would tell nothing about the token.
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if presented == *expected {
            Ok(())
        } else {
            Err(failed(
                "bad_authorization",
                "the push authorization is not accepted",
            ))
        }
    }

    /// Validates a SET and says what each of its events asks for.
    pub async fn verify(
        &self,
        token: &str,
        policy: &TokenPolicy,
        now: UnixSeconds,
    ) -> Result<Accepted, IdpError> {
        let options = ValidationOptions {
            require_exp: false,
            typ: Some(SECEVENT_TYPE),
        };
        let claims: Map<String, Value> = self
            .validator
            .validate_with(token, &options)
            .await
            .map_err(validation_failure)?;
        let iat = issued_at(&claims, self.leeway, now)?;
        let jti = token_id(&claims)?;
        let events = match claims.get("events") {
            Some(Value::Object(events)) if !events.is_empty() => events,
            Some(_) => {
                return Err(invalid("invalid_events", "events must be a non-empty JSON object").into());
            }
            None => return Err(invalid("missing_events", "the SET has no events claim").into()),
        };
        let sub_id = claims
            .get("sub_id")
            .map(Subject::parse)
            .transpose()
            .map_err(|error| invalid("invalid_subject", format!("sub_id: {error}")))?;
        // Every token issued before the event has expired: nothing is left to revoke.
        let stale = policy.expiry_of_issued_before(iat) <= now;
        let mut effects = Vec::with_capacity(events.len());
        for (uri, payload) in events {
            let Value::Object(payload) = payload else {
                return Err(
                    invalid("invalid_events", format!("the event {uri} must be a JSON object")).into(),
                );
            };
            let (label, reason, handling) = event_type(uri);
            let action = match handling {
                Handling::Ignore => Action::Acknowledge("ignored"),
                _ if stale => Action::Acknowledge("stale"),
                Handling::Session | Handling::User => {
                    self.rule(payload, sub_id.as_ref(), handling, reason, policy, now)?
                }
            };
            effects.push(Effect {
                event: uri.clone(),
                label,
                action,
            });
        }
        Ok(Accepted {
            receiver: Receiver::Ssf,
            provider: self.name.clone(),
            issuer: self.issuer.clone(),
            jti,
            remember_until: policy.expiry_of_issued_before(iat),
            effects,
        })
    }

    /// The rule an event asks for, or why none.
    fn rule(
        &self,
        payload: &Map<String, Value>,
        sub_id: Option<&Subject>,
        handling: Handling,
        reason: &str,
        policy: &TokenPolicy,
        now: UnixSeconds,
    ) -> Result<Action, Refusal> {
        let in_event = payload
            .get("subject")
            .map(Subject::parse)
            .transpose()
            .map_err(|error| invalid("invalid_subject", format!("subject: {error}")))?;
        let Some(subject) = sub_id.or(in_event.as_ref()) else {
            return Err(invalid("missing_subject", "the SET has no sub_id"));
        };
        let session = match handling {
            Handling::Session => subject.session(&self.subjects),
            _ => None,
        };
        let (kind, Target { value, iss }) = match (session, subject.user(&self.subjects)) {
            (Some(session), _) => (RuleKind::Sid, session),
            (None, Some(user)) => (RuleKind::Sub, user),
            (None, None) => return Ok(Action::Acknowledge("unsupported_subject")),
        };
        let event_at = numeric_date(payload, "event_timestamp")?;
        let issued_before = now
            .saturating_add(policy.clock_skew)
            .max(event_at.unwrap_or(UnixSeconds::EPOCH))
            .min(policy.latest_issued_before(now));
        let rule = RevocationRule::sub_or_sid(kind, &value, Some(&iss), issued_before, policy).revoked(
            now,
            Some(&self.principal),
            Some(reason),
        );
        rule.validate(policy, now).map_err(|error| {
            invalid(
                "unusable_subject",
                format!("the subject cannot be revoked as a {kind}: {error}"),
            )
        })?;
        Ok(Action::Revoke(rule))
    }
}
