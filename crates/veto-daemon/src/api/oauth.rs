//! `POST /oauth2/revoke` (RFC 7009): an authenticated caller hands in a token; if its
//! signature verifies against the configured issuers' keys, its `jti` is revoked until
//! its `exp`. An invalid or unknown token still gets 200, as the RFC says, and nothing
//! is published.
//!
//! A valid token that no `jti` rule can cover also gets 200 (the RFC leaves the caller
//! nothing else to read), but is counted
//! (`veto_oauth_revocations_total{outcome="no_jti"|"lifetime_too_long"|…}`) and logged
//! on the audit target with what to do instead:
//!
//! - `no_jti`: the token has no `jti` to revoke it by. Revoke its `sub` or `sid`
//!   (`POST /v1/revocations`, `issued_before` after its `iat`): that revokes every token
//!   of the subject or session issued before.
//! - `lifetime_too_long`: the token lives longer than `tokens.max_token_ttl`, so no rule
//!   may be kept as long as it is valid. Validators under the deployment's policy refuse
//!   it anyway; if some service accepts it, raise `tokens.max_token_ttl` to the issuer's
//!   real lifetime and revoke its `sub` or `sid`.
//! - `expired`, `unusable_jti`: nothing left to revoke, or a `jti` no rule can hold
//!   (over 256 bytes, control characters): revoke its `sub` or `sid`.
//!
//! The handed-in token's key cannot be fetched (JWKS down, `kid` not cached): 503
//! `keys_unavailable` (RFC 7009 §2.2.1), to retry.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use tracing::{debug, info};
use veto_api::RevokeTokenForm;
use veto_client::jwt::ValidationError;
use veto_proto::{RevocationRule, RuleError, UnixSeconds};

use super::extract::{ApiForm, Authenticated};
use super::revocations::publish_error;
use crate::auth::{Permission, Principal};
use crate::error::ApiError;
use crate::metrics::names;
use crate::state::AppState;

/// What became of a handed-in token.
fn count(outcome: &'static str) {
    metrics::counter!(names::OAUTH_REVOCATIONS_TOTAL, "outcome" => outcome).increment(1);
}

/// Counts and logs a valid token that no `jti` rule can cover, with what to do instead.
fn not_revocable(principal: &Principal, outcome: &'static str, instead: &'static str) -> StatusCode {
    count(outcome);
    info!(
        target: "veto::audit",
        action = "revoke",
        via = "rfc7009",
        principal = %principal.name,
        outcome,
        "a valid token was handed in, but no jti rule can cover it; nothing was revoked: {instead}"
    );
    StatusCode::OK
}

/// Revoke a token by handing it in (RFC 7009).
#[utoipa::path(
    post, path = "/oauth2/revoke", tag = "oauth",
    request_body(content = RevokeTokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or not a token we accept, or a valid token no jti rule can cover (nothing published; counted in veto_oauth_revocations_total by outcome)"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiForm(form): ApiForm<RevokeTokenForm>,
) -> Result<StatusCode, ApiError> {
    principal.require(Permission::Revoke)?;
    state.rate_limiter.check(&principal.name)?;
    let Some(validator) = &state.oauth_validator else {
        debug!("no [oauth] issuers configured; /oauth2/revoke revokes nothing");
        count("not_accepted");
        return Ok(StatusCode::OK);
    };
    let claims = match validator
        .validate::<veto_client::jwt::NoCustomClaims>(&form.token)
        .await
    {
        Ok(claims) => claims,
        // RFC 7009 §2.2.1: 503 when we cannot tell; the caller retries.
        // Debug: the JWKS source warns once per failed fetch; see veto_daemon::auth.
        Err(error) if error.is_keys_unavailable() => {
            debug!(%error, "RFC 7009: token not checked: the issuer's keys are unavailable");
            count("keys_unavailable");
            return Err(ApiError::keys_unavailable());
        }
        Err(ValidationError::LifetimeTooLong) => {
            return Ok(not_revocable(
                &principal,
                "lifetime_too_long",
                "it lives longer than tokens.max_token_ttl; revoke its sub or sid",
            ));
        }
        Err(error) => {
            debug!(reason = error.reason(), hint = ?form.token_type_hint, "RFC 7009: token not accepted; nothing revoked");
            count("not_accepted");
            return Ok(StatusCode::OK);
        }
    };
    let Some(jti) = claims.jti.as_deref() else {
        return Ok(not_revocable(
            &principal,
            "no_jti",
            "it has no jti; revoke its sub or sid with POST /v1/revocations",
        ));
    };
    let now = UnixSeconds::now();
    let rule = RevocationRule::jti(
        jti,
        claims.iss.as_deref(),
        state.policy.expiry_of_token(claims.exp),
    )
    .revoked(now, Some(&principal.name), Some("RFC 7009 revocation"));
    if let Err(error) = rule.validate(&state.policy, now) {
        return Ok(match error {
            RuleError::ExpiresAtInPast { .. } => {
                not_revocable(&principal, "expired", "it has expired; nothing is left to revoke")
            }
            RuleError::ExpiresAtTooLate { .. } => not_revocable(
                &principal,
                "lifetime_too_long",
                "its exp is past now + tokens.max_token_ttl; revoke its sub or sid",
            ),
            _ => not_revocable(
                &principal,
                "unusable_jti",
                "its jti cannot be stored in a rule; revoke its sub or sid",
            ),
        });
    }
    let digest = rule.digest();
    let (stored, _) = state.publisher.revoke(rule).await.map_err(publish_error)?;
    count("revoked");
    metrics::counter!(names::MUTATIONS_TOTAL, "action" => "revoke", "outcome" => "rfc7009").increment(1);
    info!(target: "veto::audit", action = "revoke", principal = %principal.name, kind = "jti", digest = %digest, sequence = stored.sequence, via = "rfc7009");
    Ok(StatusCode::OK)
}
