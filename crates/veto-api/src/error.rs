//! Every stable error code the admin API answers, with its HTTP status, and the error
//! body. The daemon answers with nothing else, and callers match on [`ErrorCode`].
//! (The identity-provider receivers answer their specifications' codes, listed here
//! too, in their specifications' bodies: see [`crate::idp`].)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use veto_proto::RuleError;

/// The body of every error response: `{"code": "...", "message": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable, machine-readable code: one of [`ErrorCode`].
    #[cfg_attr(feature = "openapi", schema(example = "empty_field"))]
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// The code, if this build of the API knows it (a newer daemon may answer others).
    pub fn known_code(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
    }
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($status:literal, $code:literal), )*) => {
        /// A stable error code and, through [`ErrorCode::status`], its HTTP status.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in declaration order (grouped by status).
            pub const EVERY: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The code as it appears in the body.
            pub const fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The HTTP status the daemon answers this code with.
            pub const fn status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON.
    MalformedJson = (400, "malformed_json"),
    /// The kind is none of `jti`, `sub`, `sid`, `all`.
    UnknownKind = (400, "unknown_kind"),
    /// A query parameter is invalid.
    InvalidQuery = (400, "invalid_query"),
    /// A list cursor that is not a `next_cursor` of this API.
    InvalidCursor = (400, "invalid_cursor"),
    /// A path parameter is invalid.
    InvalidPath = (400, "invalid_path"),
    /// A request header is malformed (`If-Match`, …).
    InvalidHeader = (400, "invalid_header"),
    /// The `Authorization` header is repeated, or is `Bearer` without one usable token
    /// (RFC 6750 §3.1; with `WWW-Authenticate: Bearer error="invalid_request"`). And on
    /// the identity-provider receivers: the logout token or security event token (or
    /// the request carrying it) is invalid, in the specs' bodies, not [`ErrorBody`].
    InvalidRequest = (400, "invalid_request"),
    /// SET receiver (RFC 8935): the key that signed the SET is unknown or unacceptable.
    InvalidKey = (400, "invalid_key"),
    /// SET receiver (RFC 8935): the SET's issuer is no configured transmitter.
    InvalidIssuer = (400, "invalid_issuer"),
    /// SET receiver (RFC 8935): the SET is not addressed to this receiver.
    InvalidAudience = (400, "invalid_audience"),
    /// SET receiver (RFC 8935): the transmitter could not be authenticated (push
    /// authorization or signature).
    AuthenticationFailed = (400, "authentication_failed"),
    /// An `Idempotency-Key` that is not one header of 1 to 255 visible ASCII characters.
    InvalidIdempotencyKey = (400, "invalid_idempotency_key"),
    /// No or bad credentials (with `WWW-Authenticate: Bearer`).
    Unauthorized = (401, "unauthorized"),
    /// Authenticated, without the permission the route needs.
    Forbidden = (403, "forbidden"),
    /// No live rule for that key.
    NotFound = (404, "not_found"),
    /// This daemon writes no snapshots (`snapshot.enabled = false`).
    SnapshotsDisabled = (404, "snapshots_disabled"),
    /// No route has that path.
    NoSuchRoute = (404, "no_such_route"),
    /// The route does not take that method.
    MethodNotAllowed = (405, "method_not_allowed"),
    /// The request took longer than the daemon allows.
    RequestTimeout = (408, "request_timeout"),
    /// The key kept changing under the write; retrying is safe.
    Contention = (409, "contention"),
    /// A lift whose caller did not see the rule now held (another revocation landed
    /// first, or `If-Match` names another version): read it again and decide.
    Conflict = (409, "conflict"),
    /// A request with this `Idempotency-Key` is still being answered (with
    /// `Retry-After`); retrying is safe.
    IdempotencyKeyInUse = (409, "idempotency_key_in_use"),
    /// `after` is older than what the stream keeps (or beyond its end: the stream went
    /// back): load the snapshot again.
    Gone = (410, "gone"),
    /// The body (or a batch's item count) is over the limit.
    PayloadTooLarge = (413, "payload_too_large"),
    /// The body is not of the media type the route takes.
    UnsupportedMediaType = (415, "unsupported_media_type"),
    /// A text field is present but empty.
    EmptyField = (422, "empty_field"),
    /// A text field is over its limit.
    FieldTooLong = (422, "field_too_long"),
    /// A text field contains a control character.
    ControlCharacter = (422, "control_character"),
    /// A `jti`, `sub` or `sid` rule without a value.
    ValueRequired = (422, "value_required"),
    /// An `all` rule with a value.
    ValueNotAllowed = (422, "value_not_allowed"),
    /// A `sub`, `sid` or `all` rule without `issued_before`.
    IssuedBeforeRequired = (422, "issued_before_required"),
    /// `issued_before` on a `jti` rule.
    IssuedBeforeNotAllowed = (422, "issued_before_not_allowed"),
    /// `issued_before` later than now plus the leeway.
    IssuedBeforeInFuture = (422, "issued_before_in_future"),
    /// `issued_before` so old that every token it covers has expired.
    IssuedBeforeTooOld = (422, "issued_before_too_old"),
    /// `exp` on a `sub`, `sid` or `all` rule.
    ExpNotAllowed = (422, "exp_not_allowed"),
    /// `expires_at` not in the future.
    ExpiresAtInPast = (422, "expires_at_in_past"),
    /// `expires_at` later than any token lives.
    ExpiresAtTooLate = (422, "expires_at_too_late"),
    /// `expires_at` before the last covered token expires.
    ExpiresAtTooEarly = (422, "expires_at_too_early"),
    /// This `Idempotency-Key` was used with another request body.
    IdempotencyKeyReused = (422, "idempotency_key_reused"),
    /// A rule's `iss` is none of the issuers the deployment names (a scope that
    /// would match no token).
    UnknownIssuer = (422, "unknown_issuer"),
    /// The body is JSON (or a form) but not of the route's shape.
    InvalidBody = (422, "invalid_body"),
    /// A batch with no revocations.
    EmptyBatch = (422, "empty_batch"),
    /// Too many requests from this principal (with `Retry-After`).
    RateLimited = (429, "rate_limited"),
    /// The daemon failed; the cause is in its log.
    Internal = (500, "internal"),
    /// NATS did not acknowledge in time (with `Retry-After`); retrying is safe.
    NatsUnavailable = (503, "nats_unavailable"),
    /// The daemon's replica of the list is still loading (with `Retry-After`).
    NotReady = (503, "not_ready"),
    /// An identity provider's signing keys cannot be fetched: its JWKS endpoint is
    /// down and the `kid` is not cached (admin JWTs, handed-in tokens, logout tokens;
    /// with
    /// `Retry-After`); retrying is safe.
    KeysUnavailable = (503, "keys_unavailable"),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is no [`ErrorCode`] this build knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        ErrorCode::EVERY
            .iter()
            .copied()
            .find(|known| known.as_str() == code)
            .ok_or_else(|| UnknownErrorCode(code.to_owned()))
    }
}

impl From<&RuleError> for ErrorCode {
    fn from(error: &RuleError) -> ErrorCode {
        match error {
            RuleError::UnknownKind(_) => ErrorCode::UnknownKind,
            RuleError::ValueRequired { .. } => ErrorCode::ValueRequired,
            RuleError::ValueNotAllowed => ErrorCode::ValueNotAllowed,
            RuleError::Empty { .. } => ErrorCode::EmptyField,
            RuleError::TooLong { .. } => ErrorCode::FieldTooLong,
            RuleError::ControlCharacter { .. } => ErrorCode::ControlCharacter,
            RuleError::IssuedBeforeRequired { .. } => ErrorCode::IssuedBeforeRequired,
            RuleError::IssuedBeforeNotAllowed => ErrorCode::IssuedBeforeNotAllowed,
            RuleError::IssuedBeforeInFuture { .. } => ErrorCode::IssuedBeforeInFuture,
            RuleError::IssuedBeforeTooOld { .. } => ErrorCode::IssuedBeforeTooOld,
            RuleError::ExpiresAtInPast { .. } => ErrorCode::ExpiresAtInPast,
            RuleError::ExpiresAtTooLate { .. } => ErrorCode::ExpiresAtTooLate,
            RuleError::ExpiresAtTooEarly { .. } => ErrorCode::ExpiresAtTooEarly,
            // A deployment setting is never part of a request; if one is ever reported
            // while answering, it is the daemon's fault.
            _ => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::EVERY {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(*code));
            assert!((400..600).contains(&code.status()), "{code}");
        }
        assert!("nope".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn rule_errors_keep_their_stable_codes() {
        let error = RuleError::ValueNotAllowed;
        assert_eq!(ErrorCode::from(&error).as_str(), error.code());
        let unknown = RuleError::from(veto_proto::UnknownKind { name: "x".into() });
        assert_eq!(ErrorCode::from(&unknown).as_str(), unknown.code());
        assert_eq!(ErrorCode::from(&unknown).status(), 400);
    }
}
