//! The admin API's one error type: a JSON body `{"code": "...", "message": "..."}` with a
//! stable [`ErrorCode`], the status that code has, and no internals.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use veto_api::{ErrorBody, ErrorCode};
use veto_proto::RuleError;

/// An error the API answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    retry_after_secs: Option<u64>,
    bearer_challenge: Option<&'static str>,
}

impl ApiError {
    /// An error with `code` (whose status it answers with) and a message for people.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after_secs: None,
            bearer_challenge: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The body this error answers with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.as_str().to_owned(),
            message: self.message.clone(),
        }
    }

    /// The same error with `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after_secs = Some(seconds.max(1));
        self
    }

    /// A rule (or key) that fails validation, with its stable code.
    pub fn invalid_rule(error: &RuleError) -> ApiError {
        ApiError::new(ErrorCode::from(error), error.to_string())
    }

    /// 401: no or bad credentials (RFC 6750 challenge; the reason is only logged).
    pub fn unauthorized(invalid_token: bool) -> ApiError {
        ApiError {
            bearer_challenge: Some(if invalid_token {
                r#"Bearer realm="veto", error="invalid_token""#
            } else {
                r#"Bearer realm="veto""#
            }),
            ..ApiError::new(ErrorCode::Unauthorized, "valid credentials are required")
        }
    }

    /// 400: the `Authorization` header is repeated or malformed (RFC 6750 §3.1).
    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError {
            bearer_challenge: Some(r#"Bearer realm="veto", error="invalid_request""#),
            ..ApiError::new(ErrorCode::InvalidRequest, message)
        }
    }

    /// 403: authenticated, without the permission.
    pub fn forbidden(permission: &str) -> ApiError {
        ApiError {
            bearer_challenge: Some(r#"Bearer realm="veto", error="insufficient_scope""#),
            ..ApiError::new(
                ErrorCode::Forbidden,
                format!("this credential lacks the {permission} permission"),
            )
        }
    }

    /// 404: no live rule for the key.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError::new(ErrorCode::RateLimited, "too many requests from this principal")
            .retry_after(retry_after_secs)
    }

    /// 503 with `Retry-After`: NATS did not acknowledge in time; retrying is safe.
    pub fn nats_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NatsUnavailable, message).retry_after(1)
    }

    /// 503 with `Retry-After`: the daemon's replica of the list is still loading.
    pub fn not_ready() -> ApiError {
        ApiError::new(ErrorCode::NotReady, "the revocation list is still loading").retry_after(1)
    }

    /// 503 with `Retry-After`: a token's key cannot be fetched (the JWKS endpoint is
    /// down and its `kid` is not cached); the failure is ours, not the token's.
    pub fn keys_unavailable() -> ApiError {
        ApiError::new(
            ErrorCode::KeysUnavailable,
            "the identity provider's keys are unavailable; retry",
        )
        .retry_after(1)
    }

    /// 409: the key kept changing under us (many writers at once); retrying is safe.
    pub fn contention() -> ApiError {
        ApiError::new(ErrorCode::Contention, "the rule changed concurrently; retry").retry_after(1)
    }

    /// 413.
    pub fn payload_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::PayloadTooLarge, message)
    }

    /// 500, without detail (the cause is logged by the caller).
    pub fn internal() -> ApiError {
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self.bearer_challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(error) => {
                ApiError::new(ErrorCode::MalformedJson, error.body_text())
            }
            JsonRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::payload_too_large("the request body is too large")
            }
            other => ApiError::new(ErrorCode::InvalidBody, other.body_text()),
        }
    }
}

impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> ApiError {
        match rejection {
            FormRejection::InvalidFormContentType(_) => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send Content-Type: application/x-www-form-urlencoded",
            ),
            FormRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::payload_too_large("the request body is too large")
            }
            other => ApiError::new(ErrorCode::InvalidBody, other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::new(ErrorCode::InvalidQuery, rejection.body_text())
    }
}
