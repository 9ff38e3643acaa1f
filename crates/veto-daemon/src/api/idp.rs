//! `POST /oidc/backchannel-logout` and `POST /ssf/events`: the HTTP side of the
//! identity-provider receivers ([`crate::idp`] does the work). Each answers its own
//! spec: 200 with `Cache-Control: no-store` (OIDC Back-Channel Logout 1.0 §2.8) or 202
//! (RFC 8935 §2.2) once the rules are acknowledged by JetStream; 400 with the spec's
//! error body for anything invalid, which changes nothing; 503 (`Retry-After`) when
//! the write or the provider's keys are not available now, so that the provider
//! retries (a retry of the same token is accepted).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use veto_api::idp::SECEVENT_JWT;
use veto_api::{ErrorCode, LogoutErrorBody, LogoutTokenForm, SetErrorBody};

use super::revocations::publish_error;
use crate::error::ApiError;
use crate::idp::{IdpError, Receiver, Refusal, invalid, record_failure};
use crate::state::AppState;

/// Receive an OpenID Connect back-channel logout token.
#[utoipa::path(
    post, path = "/oidc/backchannel-logout", tag = "identity providers",
    request_body(content = LogoutTokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Stored: with a `sid`, the session's tokens issued until now are revoked; with only a `sub`, all the user's (scoped to the provider's issuer)",
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "`invalid_request`: the logout token fails OpenID Connect Back-Channel Logout 1.0 §2.6 (or was received before, or comes from no configured provider); nothing changed. The body is the spec's.",
            body = LogoutErrorBody),
    ),
)]
pub async fn backchannel_logout(
    State(state): State<Arc<AppState>>,
    form: Result<Form<LogoutTokenForm>, FormRejection>,
) -> Response {
    let received = match form {
        Ok(Form(form)) => state
            .idp
            .receive_logout_token(form.logout_token.trim(), &state.publisher, &state.policy)
            .await
            .map(drop),
        Err(rejection) => {
            let error = IdpError::Refused(form_refusal(&rejection));
            record_failure(Receiver::BackchannelLogout, &error);
            Err(error)
        }
    };
    let mut response = match received {
        Ok(()) => StatusCode::OK.into_response(),
        Err(IdpError::Refused(refusal)) => (
            StatusCode::BAD_REQUEST,
            Json(LogoutErrorBody {
                error: ErrorCode::InvalidRequest.as_str().to_owned(),
                error_description: Some(refusal.description),
            }),
        )
            .into_response(),
        Err(other) => unavailable(other).into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Receive a security event token pushed by a Shared Signals transmitter.
#[utoipa::path(
    post, path = "/ssf/events", tag = "identity providers",
    request_body(content = String, content_type = "application/secevent+jwt", description = "One SET (RFC 8417), signed by a configured transmitter"),
    params(("Authorization" = Option<String>, Header, description = "`Bearer <token>`, when the transmitter is configured with authorization_sha256")),
    responses(
        (status = 202, description = "Accepted: the CAEP session-revoked, credential-change and RISC account-disabled, account-purged, sessions-revoked events are stored as sid or sub rules; other events are acknowledged and counted"),
        (status = 400, description = "`invalid_request`, `invalid_key`, `invalid_issuer`, `invalid_audience`, `authentication_failed` (RFC 8935 §2.4): the SET or its push is refused; nothing changed. The body is RFC 8935's.",
            body = SetErrorBody),
    ),
)]
pub async fn ssf_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let received = match set_of(&headers, body) {
        Ok(token) => state
            .idp
            .receive_set(&headers, token.trim(), &state.publisher, &state.policy)
            .await
            .map(drop),
        Err(refusal) => {
            let error = IdpError::Refused(refusal);
            record_failure(Receiver::Ssf, &error);
            Err(error)
        }
    };
    match received {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(IdpError::Refused(refusal)) => (
            StatusCode::BAD_REQUEST,
            Json(SetErrorBody {
                err: refusal.code.as_str().to_owned(),
                description: refusal.description,
            }),
        )
            .into_response(),
        Err(other) => unavailable(other).into_response(),
    }
}

/// The SET in a push: `Content-Type: application/secevent+jwt`, UTF-8.
fn set_of(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<String, Refusal> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if !media_type.is_some_and(|media_type| media_type.eq_ignore_ascii_case(SECEVENT_JWT)) {
        return Err(invalid(
            "media_type",
            format!("send the SET as Content-Type: {SECEVENT_JWT}"),
        ));
    }
    let body = body.map_err(|rejection| {
        invalid(
            "unreadable_body",
            format!("the body could not be read: {}", rejection.body_text()),
        )
    })?;
    String::from_utf8(body.to_vec()).map_err(|_| invalid("malformed", "the body is not UTF-8"))
}

fn form_refusal(rejection: &FormRejection) -> Refusal {
    match rejection {
        FormRejection::InvalidFormContentType(_) => invalid(
            "media_type",
            "send the logout token as a form: Content-Type: application/x-www-form-urlencoded",
        ),
        other => invalid(
            "invalid_form",
            format!("the form needs one logout_token: {}", other.body_text()),
        ),
    }
}

/// 503 (or 409) with `Retry-After`: the provider retries the same token.
fn unavailable(error: IdpError) -> ApiError {
    match error {
        IdpError::Store(error) => publish_error(error),
        IdpError::InFlight => ApiError::contention(),
        IdpError::KeysUnavailable => ApiError::new(
            ErrorCode::KeysUnavailable,
            "the identity provider's signing keys could not be fetched yet; retry",
        )
        .retry_after(5),
        IdpError::Refused(refusal) => ApiError::new(ErrorCode::InvalidRequest, refusal.description),
    }
}
