//! `POST /oauth2/revoke` (RFC 7009): an authenticated caller hands in a token; if its
//! signature verifies against the configured issuers' keys, its `jti` is revoked until
//! its `exp`. An invalid or unknown token still gets 200, as the RFC says, and nothing
//! is published.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use tracing::{debug, info, warn};
use veto_api::RevokeTokenForm;
use veto_proto::{RevocationRule, UnixSeconds};

use super::extract::{ApiForm, Authenticated};
use super::revocations::publish_error;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::metrics::names;
use crate::state::AppState;

/// Revoke a token by handing it in (RFC 7009).
#[utoipa::path(
    post, path = "/oauth2/revoke", tag = "oauth",
    request_body(content = RevokeTokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or not a token we accept (nothing published)"),
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
        return Ok(StatusCode::OK);
    };
    let claims = match validator
        .validate::<veto_client::jwt::NoCustomClaims>(&form.token)
        .await
    {
        Ok(claims) => claims,
        // RFC 7009 §2.2.1: 503 when we cannot tell; the caller retries.
        Err(error) if error.is_keys_unavailable() => {
            warn!(%error, "RFC 7009: token not checked: the issuer's keys are unavailable");
            return Err(ApiError::keys_unavailable());
        }
        Err(error) => {
            debug!(reason = error.reason(), hint = ?form.token_type_hint, "RFC 7009: token not accepted; nothing revoked");
            return Ok(StatusCode::OK);
        }
    };
    let Some(jti) = claims.jti.as_deref() else {
        debug!("RFC 7009: the token has no jti; nothing to revoke it by");
        return Ok(StatusCode::OK);
    };
    let now = UnixSeconds::now();
    let rule = RevocationRule::jti(
        jti,
        claims.iss.as_deref(),
        state.policy.expiry_of_token(claims.exp),
    )
    .revoked(now, Some(&principal.name), Some("RFC 7009 revocation"));
    if rule.validate(&state.policy, now).is_err() {
        // Already expired (or a jti we cannot store): nothing left to revoke.
        debug!("RFC 7009: token not revocable (expired or unusable jti)");
        return Ok(StatusCode::OK);
    }
    let digest = rule.digest();
    let (stored, _) = state.publisher.revoke(rule).await.map_err(publish_error)?;
    metrics::counter!(names::MUTATIONS_TOTAL, "action" => "revoke", "outcome" => "rfc7009").increment(1);
    info!(target: "veto::audit", action = "revoke", principal = %principal.name, kind = "jti", digest = %digest, sequence = stored.sequence, via = "rfc7009");
    Ok(StatusCode::OK)
}
