//! The admin API's one error type: a JSON body `{"code": "...", "message": "..."}` with a
//! stable `code`, the right status, and no internals.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use veto_proto::RuleError;

/// The body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

/// An error the API answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
    bearer_challenge: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            bearer_challenge: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with another status.
    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422 for a rule that fails validation.
    pub fn invalid_rule(error: &RuleError) -> ApiError {
        let status = match error {
            RuleError::UnknownKind { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, error.code(), error.to_string())
    }

    /// 422 with a code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 401: no or bad credentials (RFC 6750 challenge; the reason is only logged).
    pub fn unauthorized(invalid_token: bool) -> ApiError {
        ApiError {
            bearer_challenge: Some(if invalid_token {
                r#"Bearer realm="veto", error="invalid_token""#
            } else {
                r#"Bearer realm="veto""#
            }),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "valid credentials are required",
            )
        }
    }

    /// 403: authenticated, without the permission.
    pub fn forbidden(permission: &str) -> ApiError {
        ApiError {
            bearer_challenge: Some(r#"Bearer realm="veto", error="insufficient_scope""#),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this credential lacks the {permission} permission"),
            )
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 404 for a path no route matches (distinct from `not_found`: no such rule).
    pub fn no_such_route() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "no_such_route", "no such route")
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests from this principal",
            )
        }
    }

    /// 503 with `Retry-After`: NATS did not acknowledge in time; retrying is safe.
    pub fn nats_unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "nats_unavailable", message)
        }
    }

    /// 503 with `Retry-After`: the daemon's replica of the list is still loading.
    pub fn not_ready() -> ApiError {
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the revocation list is still loading",
            )
        }
    }

    /// 409: the key kept changing under us (many writers at once); retrying is safe.
    pub fn contention() -> ApiError {
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "contention",
                "the rule changed concurrently; retry",
            )
        }
    }

    /// 413.
    pub fn payload_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 500, without detail (the cause is logged by the caller).
    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
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
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(error) => {
                ApiError::bad_request("malformed_json", error.body_text())
            }
            JsonRejection::JsonDataError(error) => ApiError::unprocessable("invalid_body", error.body_text()),
            JsonRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::payload_too_large("the request body is too large")
            }
            other => ApiError::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> ApiError {
        match rejection {
            FormRejection::InvalidFormContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/x-www-form-urlencoded",
            ),
            FormRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::payload_too_large("the request body is too large")
            }
            other => ApiError::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}
