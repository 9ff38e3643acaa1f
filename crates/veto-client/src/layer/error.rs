//! Why a request was refused, and the response it gets.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use veto_proto::RuleKind;

use crate::jwt::ValidationError;

/// Why the layer refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No bearer credentials: no `Authorization` header, or one of another scheme.
    #[error("no bearer token")]
    MissingToken,
    /// A `Bearer` header without one usable token (none, several words, not ASCII, too
    /// long).
    #[error("malformed authorization header")]
    MalformedHeader,
    /// More than one `Authorization` header.
    #[error("more than one authorization header")]
    DuplicateHeader,
    /// The token failed validation.
    #[error("invalid token: {0}")]
    Invalid(ValidationError),
    /// The token's key is unavailable (the JWKS endpoint is down and its `kid` is not
    /// cached): the service cannot know.
    #[error("keys unavailable: {0}")]
    KeysUnavailable(ValidationError),
    /// The token is valid but revoked.
    #[error("revoked by a {0} rule")]
    Revoked(RuleKind),
    /// The revocation list is not loaded yet: the service cannot know.
    #[error("revocation list not ready")]
    NotReady,
    /// The revocation list is stale and the policy is fail-closed.
    #[error("revocation list stale")]
    Stale,
}

impl AuthRejection {
    /// A stable code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthRejection::MissingToken => "missing_token",
            AuthRejection::MalformedHeader => "malformed_header",
            AuthRejection::DuplicateHeader => "duplicate_header",
            AuthRejection::Invalid(error) | AuthRejection::KeysUnavailable(error) => error.reason(),
            AuthRejection::Revoked(_) => "revoked",
            AuthRejection::NotReady => "not_ready",
            AuthRejection::Stale => "stale",
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let (status, challenge) = match self {
            AuthRejection::NotReady | AuthRejection::Stale | AuthRejection::KeysUnavailable(_) => {
                let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            // RFC 6750 §3.1: a request without credentials gets no error code; a
            // malformed or repeated header is the request's fault, not the token's.
            AuthRejection::MissingToken => (StatusCode::UNAUTHORIZED, r#"Bearer"#),
            AuthRejection::MalformedHeader | AuthRejection::DuplicateHeader => {
                (StatusCode::BAD_REQUEST, r#"Bearer error="invalid_request""#)
            }
            _ => (StatusCode::UNAUTHORIZED, r#"Bearer error="invalid_token""#),
        };
        let mut response = status.into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        response
    }
}

impl From<ValidationError> for AuthRejection {
    fn from(error: ValidationError) -> AuthRejection {
        if error.is_keys_unavailable() {
            AuthRejection::KeysUnavailable(error)
        } else {
            AuthRejection::Invalid(error)
        }
    }
}
