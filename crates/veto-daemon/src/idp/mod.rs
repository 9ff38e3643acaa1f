//! Identity providers feed veto directly: a user logs out, an administrator ends a
//! session or disables an account at the identity provider, and the provider tells
//! veto, which revokes the access tokens that are still out there (they would
//! otherwise stay valid until their `exp`). No service changes a line.
//!
//! Two receivers, both public routes authenticated by the token they carry, which is
//! validated by the same [`veto_client::jwt::Validator`] and JWKS key source as every
//! other token (one per configured provider, built at start):
//!
//! - OpenID Connect Back-Channel Logout 1.0 ([`backchannel`]): a logout token with a
//!   `sid` becomes a `sid` rule, one with only a `sub` a `sub` rule.
//! - Shared Signals Framework 1.0, push delivery per RFC 8935 ([`ssf`]): a SET with a
//!   CAEP or RISC event becomes a `sid` or `sub` rule.
//!
//! Each rule is scoped to the issuer of the tokens it targets, revokes what was issued
//! before now plus the clock-skew allowance, records the provider as its principal,
//! and is written like any other revocation: answered only after JetStream's
//! acknowledgement, 503 when NATS is down (providers retry, and a retry of the same
//! token is accepted: [`replay`] releases a token id whose write failed). Every
//! received token is counted and audited (issuer, event type, effect), never logged.
//!
//! # Layout
//!
//! - [`settings`]: `[idp]`, a section per provider and transmitter.
//! - [`backchannel`]: logout token validation (§2.6) and its rule.
//! - [`ssf`]: SET validation (RFC 8417, RFC 8935) and the CAEP/RISC events.
//! - [`subject`]: subject identifiers (RFC 9493, SSF `complex`).
//! - [`replay`]: each token accepted once.
//!
//! The HTTP side (statuses, the specs' error bodies) is [`crate::api::idp`].
//!
//! Longer than most files on purpose: what both receivers share (issuer lookup,
//! validation failures, applying accepted rules once, their metrics); each receiver's own
//! rules are in its file.

pub mod backchannel;
pub mod replay;
pub mod settings;
pub mod ssf;
pub mod subject;

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use tracing::{debug, info, warn};
use veto_api::ErrorCode;
use veto_client::jwt::{KeyError, ValidationError};
use veto_proto::{RevocationRule, TokenPolicy, UnixSeconds};

use self::backchannel::OidcProvider;
use self::replay::{ReplayCache, Replayed};
use self::settings::IdpSection;
use self::ssf::SsfTransmitter;
use crate::metrics::names;
use crate::publisher::{Outcome, PublishError, Publisher};

/// The longest token read, in bytes (the validator's own limit; checked before the
/// unverified issuer is read).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Which receiver a token came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// OpenID Connect Back-Channel Logout.
    BackchannelLogout,
    /// Shared Signals push delivery.
    Ssf,
}

impl Receiver {
    /// Its label in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Receiver::BackchannelLogout => "backchannel_logout",
            Receiver::Ssf => "ssf",
        }
    }
}

/// Why a token was refused: the RFC 8935 code (the back-channel receiver answers
/// `invalid_request` whatever it is), a stable reason for logs and metrics, and a
/// description for the caller (never the token).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct Refusal {
    /// `invalid_request`, `invalid_key`, `invalid_issuer`, `invalid_audience` or
    /// `authentication_failed`.
    pub code: ErrorCode,
    /// A stable reason (`replayed`, `nonce_present`, `bad_signature`, …).
    pub reason: &'static str,
    /// What was wrong, for people.
    pub description: String,
}

/// `invalid_request` for `reason`.
pub(crate) fn invalid(reason: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        code: ErrorCode::InvalidRequest,
        reason,
        description: description.into(),
    }
}

/// Why a token from an identity provider was not acted on.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// The token (or the request) is invalid: 400, nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The provider's keys have never been fetched: 503, the provider retries.
    #[error("the identity provider's signing keys are unavailable")]
    KeysUnavailable,
    /// The rule was not stored (NATS): 503 (or 409), the provider retries.
    #[error("the revocation was not stored: {0}")]
    Store(#[from] PublishError),
    /// The same token is being processed by another request: 409, retry.
    #[error("the same token is being processed; retry")]
    InFlight,
}

/// What one event of a verified token asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Store this rule.
    Revoke(RevocationRule),
    /// Acknowledge without effect: `ignored` (an event veto does not act on),
    /// `unsupported_subject` (a subject veto cannot match), `stale` (every token it
    /// could revoke has expired).
    Acknowledge(&'static str),
}

/// One event of a verified token, and what it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// The event type (URI), for the audit line.
    pub event: String,
    /// Its short label for metrics (`backchannel_logout`, `session_revoked`, …).
    pub label: &'static str,
    /// What to do.
    pub action: Action,
}

/// A verified token and what it asks of veto.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The receiver it came to.
    pub receiver: Receiver,
    /// The configured name of its provider.
    pub provider: String,
    /// Its issuer.
    pub issuer: String,
    /// Its `jti`.
    pub jti: String,
    /// Until when its `jti` must be remembered to refuse a replay.
    pub remember_until: UnixSeconds,
    /// Its events.
    pub effects: Vec<Effect>,
}

/// The configured providers and transmitters, with their validators.
#[derive(Debug)]
pub struct IdentityProviders {
    oidc: HashMap<String, OidcProvider>,
    ssf: HashMap<String, SsfTransmitter>,
    replay: ReplayCache,
}

impl IdentityProviders {
    /// Validators (and JWKS sources, fetching from now on) for every configured
    /// provider. Must be called within a tokio runtime.
    pub fn build(section: &IdpSection, policy: veto_proto::TokenPolicy) -> anyhow::Result<IdentityProviders> {
        let oidc = section
            .oidc
            .iter()
            .map(|(name, provider)| {
                let validator = crate::validator(&provider.validation(), policy)
                    .map_err(|error| anyhow::anyhow!("[idp.oidc.{name}]: {error:#}"))?;
                info!(provider = %name, issuer = %provider.issuer, "accepting OIDC back-channel logout tokens");
                Ok((
                    provider.issuer.clone(),
                    OidcProvider::new(name, provider, validator),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let ssf = section
            .ssf
            .iter()
            .map(|(name, transmitter)| {
                let validator = crate::validator(&transmitter.validation(), policy)
                    .map_err(|error| anyhow::anyhow!("[idp.ssf.{name}]: {error:#}"))?;
                info!(transmitter = %name, issuer = %transmitter.issuer, "accepting Shared Signals events");
                Ok((
                    transmitter.issuer.clone(),
                    SsfTransmitter::new(name, transmitter, validator)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(IdentityProviders {
            oidc,
            ssf,
            replay: ReplayCache::new(section.replay_cache_capacity),
        })
    }

    /// Validates a back-channel logout token and stores its rule.
    pub async fn receive_logout_token(
        &self,
        token: &str,
        publisher: &Publisher,
        policy: &TokenPolicy,
    ) -> Result<Vec<Applied>, IdpError> {
        let now = UnixSeconds::now();
        let received = async {
            let issuer = unverified_issuer(token)?;
            let provider = self
                .oidc
                .get(&issuer)
                .ok_or_else(|| invalid("unknown_issuer", "the logout token's issuer is not configured"))?;
            let accepted = provider.verify(token, policy, now).await?;
            self.apply(accepted, publisher, now).await
        }
        .await;
        if let Err(error) = &received {
            record_failure(Receiver::BackchannelLogout, error);
        }
        received
    }

    /// Checks a push's authorization, validates its SET and stores its rules.
    pub async fn receive_set(
        &self,
        headers: &HeaderMap,
        token: &str,
        publisher: &Publisher,
        policy: &TokenPolicy,
    ) -> Result<Vec<Applied>, IdpError> {
        let now = UnixSeconds::now();
        let received = async {
            let issuer = unverified_issuer(token)?;
            let transmitter = self.ssf.get(&issuer).ok_or_else(|| Refusal {
                code: ErrorCode::InvalidIssuer,
                reason: "unknown_issuer",
                description: "the SET's issuer is not a configured transmitter".into(),
            })?;
            transmitter.authorize(headers)?;
            let accepted = transmitter.verify(token, policy, now).await?;
            self.apply(accepted, publisher, now).await
        }
        .await;
        if let Err(error) = &received {
            record_failure(Receiver::Ssf, error);
        }
        received
    }

    /// Stores what a verified token asks for, once: its `jti` is reserved first and
    /// released if a write fails, so the provider's retry is accepted.
    pub async fn apply(
        &self,
        accepted: Accepted,
        publisher: &Publisher,
        now: UnixSeconds,
    ) -> Result<Vec<Applied>, IdpError> {
        let reservation = self
            .replay
            .reserve(&accepted.issuer, &accepted.jti, accepted.remember_until, now)
            .map_err(|replayed| match replayed {
                Replayed::Before => IdpError::Refused(invalid("replayed", replayed.to_string())),
                Replayed::InFlight => IdpError::InFlight,
            })?;
        let mut applied = Vec::with_capacity(accepted.effects.len());
        for effect in &accepted.effects {
            let result = match &effect.action {
                Action::Revoke(rule) => {
                    let (stored, outcome) = publisher.revoke(rule.clone()).await?;
                    Applied {
                        effect: match outcome {
                            Outcome::Published => "revoked",
                            Outcome::AlreadyCovered => "already_covered",
                        },
                        rule: Some((stored.rule, stored.sequence)),
                    }
                }
                Action::Acknowledge(why) => Applied {
                    effect: why,
                    rule: None,
                },
            };
            audit(&accepted, effect, &result);
            applied.push(result);
        }
        reservation.commit();
        Ok(applied)
    }
}

/// What became of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// `revoked`, `already_covered`, or why it was only acknowledged.
    pub effect: &'static str,
    /// The stored rule and its sequence, if one was written.
    pub rule: Option<(RevocationRule, u64)>,
}

/// One audit line and one count per event: issuer, event type, effect; the rule by
/// kind and digest (never a token, never a value).
fn audit(accepted: &Accepted, effect: &Effect, applied: &Applied) {
    metrics::counter!(
        names::IDP_EVENTS_TOTAL,
        "receiver" => accepted.receiver.as_str(),
        "provider" => accepted.provider.clone(),
        "event" => effect.label,
        "effect" => applied.effect,
    )
    .increment(1);
    match (&effect.action, &applied.rule) {
        (Action::Revoke(requested), Some((stored, sequence))) => {
            metrics::counter!(names::MUTATIONS_TOTAL, "action" => "revoke", "outcome" => accepted.receiver.as_str())
                .increment(1);
            info!(
                target: "veto::audit",
                action = "revoke",
                via = accepted.receiver.as_str(),
                provider = %accepted.provider,
                issuer = %accepted.issuer,
                event = %effect.event,
                effect = applied.effect,
                principal = requested.revoked_by.as_deref().unwrap_or_default(),
                kind = %stored.kind,
                digest = %stored.digest(),
                sequence,
            );
        }
        _ => info!(
            target: "veto::audit",
            action = "acknowledge",
            via = accepted.receiver.as_str(),
            provider = %accepted.provider,
            issuer = %accepted.issuer,
            event = %effect.event,
            effect = applied.effect,
        ),
    }
}

/// Counts and logs a refused or failed request to a receiver.
pub fn record_failure(receiver: Receiver, error: &IdpError) {
    let reason = match error {
        IdpError::Refused(refusal) => refusal.reason,
        IdpError::KeysUnavailable => "keys_unavailable",
        IdpError::Store(_) => "not_stored",
        IdpError::InFlight => "in_flight",
    };
    metrics::counter!(names::IDP_REFUSED_TOTAL, "receiver" => receiver.as_str(), "reason" => reason)
        .increment(1);
    match error {
        // The sender's fault: debug, as for every client error.
        IdpError::Refused(refusal) => {
            debug!(receiver = receiver.as_str(), reason, %refusal, "identity provider token refused");
        }
        _ => {
            warn!(receiver = receiver.as_str(), %error, "identity provider token not stored; the provider retries")
        }
    }
}

/// The `iss` of a signed JWT, read before verification, only to choose whose keys
/// verify it (the validator then checks `iss` again).
pub fn unverified_issuer(token: &str) -> Result<String, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(
            "too_large",
            format!("the token is over {MAX_TOKEN_BYTES} bytes"),
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let payload = match parts.as_slice() {
        [_, payload, _] => payload,
        [_, _, _, _, _] => {
            return Err(invalid(
                "encrypted",
                "encrypted (JWE) tokens are not supported; send a signed JWT",
            ));
        }
        _ => {
            return Err(invalid(
                "malformed",
                "not a signed JWT (JWS compact serialization)",
            ));
        }
    };
    let issuer = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .ok_or_else(|| invalid("malformed", "the token's claims are not a base64url JSON object"))?
        .remove("iss");
    match issuer {
        Some(Value::String(issuer)) => Ok(issuer),
        _ => Err(invalid("missing_iss", "the token has no iss")),
    }
}

/// A validation failure as the receivers answer it.
pub(crate) fn validation_failure(error: ValidationError) -> IdpError {
    let code = match &error {
        ValidationError::Key(KeyError::Unavailable(reason)) => {
            // Debug, not warn: the JWKS source warns once per failed fetch; a line per
            // request would let anyone who can POST a token flood the log.
            debug!(%reason, "an identity provider's keys are unavailable");
            return IdpError::KeysUnavailable;
        }
        ValidationError::AlgorithmNotAllowed | ValidationError::MissingKid | ValidationError::Key(_) => {
            ErrorCode::InvalidKey
        }
        ValidationError::BadSignature => ErrorCode::AuthenticationFailed,
        ValidationError::WrongIssuer => ErrorCode::InvalidIssuer,
        ValidationError::WrongAudience => ErrorCode::InvalidAudience,
        _ => ErrorCode::InvalidRequest,
    };
    IdpError::Refused(Refusal {
        code,
        reason: error.reason(),
        description: format!("the token was refused: {error}"),
    })
}

/// A NumericDate claim (seconds; a fraction is cut off), if present.
pub(crate) fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<UnixSeconds>, Refusal> {
    match claims.get(claim) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .or_else(|| {
                value
                    .as_f64()
                    .filter(|seconds| seconds.is_finite())
                    .map(|seconds| seconds as i64)
            })
            .map(|seconds| Some(UnixSeconds(seconds)))
            .ok_or_else(|| invalid("invalid_claims", format!("{claim} must be a number of seconds"))),
    }
}

/// A string claim, if present.
pub(crate) fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<Option<&'a str>, Refusal> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid("invalid_claims", format!("{claim} must be a string"))),
    }
}

/// `iat`: required, and not in the future beyond `leeway`.
pub(crate) fn issued_at(
    claims: &Map<String, Value>,
    leeway: std::time::Duration,
    now: UnixSeconds,
) -> Result<UnixSeconds, Refusal> {
    let iat = numeric_date(claims, "iat")?.ok_or_else(|| invalid("missing_iat", "the token has no iat"))?;
    if iat > now.saturating_add(leeway) {
        return Err(invalid("iat_in_future", "the token's iat is in the future"));
    }
    Ok(iat)
}

/// `jti`: required and non-empty.
pub(crate) fn token_id(claims: &Map<String, Value>) -> Result<String, Refusal> {
    match string_claim(claims, "jti")? {
        Some(jti) if !jti.is_empty() => Ok(jti.to_owned()),
        _ => Err(invalid("missing_jti", "the token has no jti")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jws(claims: &Value) -> String {
        format!(
            "eyJhbGciOiJFUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn the_issuer_is_read_before_verification_only_from_a_jws() {
        assert_eq!(
            unverified_issuer(&jws(&json!({"iss": "https://op"}))).unwrap(),
            "https://op"
        );
        for (token, reason) in [
            ("garbage".to_owned(), "malformed"),
            ("a.b.c.d.e".to_owned(), "encrypted"),
            ("a.!!!.c".to_owned(), "malformed"),
            (jws(&json!({"sub": "x"})), "missing_iss"),
            (jws(&json!({"iss": 7})), "missing_iss"),
            ("a".repeat(9000), "too_large"),
        ] {
            assert_eq!(
                unverified_issuer(&token).unwrap_err().reason,
                reason,
                "{token:.40}"
            );
        }
    }

    #[test]
    fn numeric_dates_accept_integers_and_fractions_only() {
        let claims = json!({"iat": 1_800_000_000, "exp": 1_800_000_060.5, "nbf": "soon"});
        let claims = claims.as_object().unwrap();
        assert_eq!(
            numeric_date(claims, "iat").unwrap(),
            Some(UnixSeconds(1_800_000_000))
        );
        assert_eq!(
            numeric_date(claims, "exp").unwrap(),
            Some(UnixSeconds(1_800_000_060))
        );
        assert!(numeric_date(claims, "nbf").is_err());
        assert_eq!(numeric_date(claims, "jti").unwrap(), None);
    }
}
