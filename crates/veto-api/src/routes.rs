//! The routes, their headers, and for each route every status it can answer.
//!
//! [`ROUTES`] is the one list: the daemon's OpenAPI document takes each operation's
//! error responses from it, and a test holds the document, the router and
//! [`ErrorCode`] against it, so none of them can drift.
//!
//! Longer than most files on purpose: the route table, every operation with every status
//! it can answer, is one list, the OpenAPI document's source.

use crate::error::ErrorCode;

/// Revocations: `POST` one, `GET` the paged list.
pub const REVOCATIONS: &str = "/v1/revocations";
/// `POST` a batch of revocations.
pub const REVOCATIONS_BATCH: &str = "/v1/revocations/batch";
/// `GET` or `DELETE` (lift) the rule of a kind without value (`all`), or of any key
/// with its value in the query (`?value=`, for `.` and `..`, which paths cannot carry).
pub const REVOCATION_BY_KIND: &str = "/v1/revocations/{kind}";
/// `GET` or `DELETE` (lift) the rule for a key.
pub const REVOCATION_BY_KEY: &str = "/v1/revocations/{kind}/{value}";
/// RFC 7009 token revocation.
pub const OAUTH_REVOKE: &str = "/oauth2/revoke";
/// OpenID Connect Back-Channel Logout receiver (the default path; configurable).
pub const OIDC_BACKCHANNEL_LOGOUT: &str = "/oidc/backchannel-logout";
/// Shared Signals push receiver, RFC 8935 (the default path; configurable).
pub const SSF_EVENTS: &str = "/ssf/events";
/// The newest snapshot of the list (signed bytes).
pub const SNAPSHOT: &str = "/v1/snapshot";
/// The stream's messages after a sequence.
pub const CHANGES: &str = "/v1/changes";
/// The fleet: every service instance that reports presence, and what it applied.
pub const FLEET: &str = "/v1/fleet";
/// The daemon's machine-readable status.
pub const STATUS: &str = "/v1/status";
/// Liveness.
pub const HEALTHZ: &str = "/healthz";
/// Readiness.
pub const READYZ: &str = "/readyz";
/// Prometheus metrics.
pub const METRICS: &str = "/metrics";
/// This API's OpenAPI document.
pub const OPENAPI: &str = "/openapi.json";

/// Response header: `true` on a revocation answered again: the answer stored for its
/// `Idempotency-Key`, or a stored rule that already covered it (nothing was published).
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// A rule's version is its stream sequence: `GET` answers it as `ETag: "<sequence>"`,
/// and a lift may name it in `If-Match` so that it lifts nothing its caller did not see.
pub fn etag(sequence: u64) -> String {
    format!("\"{sequence}\"")
}

/// The sequence an `If-Match` value names (`"123"`, or `123`), if it is one.
pub fn parse_etag(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    value.trim_matches('"').parse().ok()
}

/// Request header on the revocation routes (IETF httpapi draft): a retry with the same
/// key and body gets the first answer again.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What a route needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing: health, readiness, metrics, status, the document; and the
    /// identity-provider receivers, whose signed tokens authenticate them.
    Public,
    /// A credential with the `revoke` permission.
    Revoke,
    /// A credential with the `lift` permission.
    Lift,
    /// A credential with the `read` permission (revoke and lift imply it).
    Read,
}

/// One operation of the API.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The path, with `{parameters}`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Its success statuses.
    pub success: &'static [u16],
    /// Every error it can answer, in groups.
    pub errors: &'static [&'static [ErrorCode]],
}

impl Route {
    /// Every error code the route can answer.
    pub fn error_codes(&self) -> Vec<ErrorCode> {
        let mut codes: Vec<ErrorCode> = self
            .errors
            .iter()
            .flat_map(|group| group.iter().copied())
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }

    /// Every status the route can answer, sorted.
    pub fn statuses(&self) -> Vec<u16> {
        let mut statuses: Vec<u16> = self.success.to_vec();
        statuses.extend(self.error_codes().iter().map(|code| code.status()));
        statuses.sort_unstable();
        statuses.dedup();
        statuses
    }
}

/// Any route may time out.
const ANY: &[ErrorCode] = &[ErrorCode::RequestTimeout];
/// Routes that need a credential.
const AUTHENTICATED: &[ErrorCode] = &[
    ErrorCode::InvalidRequest,
    ErrorCode::Unauthorized,
    ErrorCode::Forbidden,
    ErrorCode::KeysUnavailable,
];
/// Routes that answer from the daemon's replica.
const READS_THE_LIST: &[ErrorCode] = &[ErrorCode::NotReady];
/// Routes that write to the stream.
const WRITES: &[ErrorCode] = &[
    ErrorCode::RateLimited,
    ErrorCode::Contention,
    ErrorCode::NatsUnavailable,
    ErrorCode::NotReady,
];
/// Routes that take an `Idempotency-Key`.
const IDEMPOTENT: &[ErrorCode] = &[
    ErrorCode::InvalidIdempotencyKey,
    ErrorCode::IdempotencyKeyInUse,
    ErrorCode::IdempotencyKeyReused,
];
/// Routes with a JSON body.
const JSON_BODY: &[ErrorCode] = &[
    ErrorCode::MalformedJson,
    ErrorCode::InvalidBody,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
];
/// Routes with a form body.
const FORM_BODY: &[ErrorCode] = &[
    ErrorCode::InvalidBody,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
];
/// What a revocation can be refused for.
const INVALID_RULE: &[ErrorCode] = &[
    ErrorCode::UnknownKind,
    ErrorCode::EmptyField,
    ErrorCode::FieldTooLong,
    ErrorCode::ControlCharacter,
    ErrorCode::ValueRequired,
    ErrorCode::ValueNotAllowed,
    ErrorCode::IssuedBeforeRequired,
    ErrorCode::IssuedBeforeNotAllowed,
    ErrorCode::IssuedBeforeInFuture,
    ErrorCode::IssuedBeforeTooOld,
    ErrorCode::ExpNotAllowed,
    ErrorCode::ExpiresAtInPast,
    ErrorCode::ExpiresAtTooLate,
    ErrorCode::ExpiresAtTooEarly,
    ErrorCode::UnknownIssuer,
];
/// What a key in the path can be refused for.
const INVALID_KEY: &[ErrorCode] = &[
    ErrorCode::InvalidPath,
    ErrorCode::InvalidQuery,
    ErrorCode::UnknownKind,
    ErrorCode::EmptyField,
    ErrorCode::FieldTooLong,
    ErrorCode::ControlCharacter,
    ErrorCode::ValueRequired,
    ErrorCode::ValueNotAllowed,
];

/// Writes that can wait for the fleet (`?wait=&timeout=`).
const WAITS: &[ErrorCode] = &[ErrorCode::InvalidQuery];
/// What a lift can be refused for beyond any write.
const LIFTS: &[ErrorCode] = &[ErrorCode::NotFound, ErrorCode::Conflict, ErrorCode::InvalidHeader];
/// What the identity-provider receivers answer when a write could not be made now:
/// retrying the same request is safe (and IdPs retry).
const IDP_WRITES: &[ErrorCode] = &[
    ErrorCode::Contention,
    ErrorCode::NatsUnavailable,
    ErrorCode::KeysUnavailable,
];

/// Every operation of the admin API.
pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: REVOCATIONS,
        access: Access::Revoke,
        success: &[201],
        errors: &[
            ANY,
            AUTHENTICATED,
            JSON_BODY,
            INVALID_RULE,
            WRITES,
            IDEMPOTENT,
            WAITS,
        ],
    },
    Route {
        method: "GET",
        path: REVOCATIONS,
        access: Access::Read,
        success: &[200],
        errors: &[
            ANY,
            AUTHENTICATED,
            READS_THE_LIST,
            &[
                ErrorCode::InvalidQuery,
                ErrorCode::InvalidCursor,
                ErrorCode::UnknownKind,
            ],
        ],
    },
    Route {
        method: "POST",
        path: REVOCATIONS_BATCH,
        access: Access::Revoke,
        success: &[200],
        errors: &[
            ANY,
            AUTHENTICATED,
            JSON_BODY,
            WRITES,
            IDEMPOTENT,
            WAITS,
            &[ErrorCode::EmptyBatch],
        ],
    },
    Route {
        method: "GET",
        path: REVOCATION_BY_KIND,
        access: Access::Read,
        success: &[200],
        errors: &[
            ANY,
            AUTHENTICATED,
            READS_THE_LIST,
            INVALID_KEY,
            &[ErrorCode::NotFound],
        ],
    },
    Route {
        method: "DELETE",
        path: REVOCATION_BY_KIND,
        access: Access::Lift,
        success: &[200],
        errors: &[ANY, AUTHENTICATED, INVALID_KEY, WRITES, WAITS, LIFTS],
    },
    Route {
        method: "GET",
        path: REVOCATION_BY_KEY,
        access: Access::Read,
        success: &[200],
        errors: &[
            ANY,
            AUTHENTICATED,
            READS_THE_LIST,
            INVALID_KEY,
            &[ErrorCode::NotFound],
        ],
    },
    Route {
        method: "DELETE",
        path: REVOCATION_BY_KEY,
        access: Access::Lift,
        success: &[200],
        errors: &[ANY, AUTHENTICATED, INVALID_KEY, WRITES, WAITS, LIFTS],
    },
    Route {
        method: "POST",
        path: OAUTH_REVOKE,
        access: Access::Revoke,
        success: &[200],
        errors: &[ANY, AUTHENTICATED, FORM_BODY, WRITES],
    },
    // The identity-provider receivers answer their 400s in their specs' bodies
    // (`veto_api::idp`); the codes are listed here all the same.
    Route {
        method: "POST",
        path: OIDC_BACKCHANNEL_LOGOUT,
        access: Access::Public,
        success: &[200],
        errors: &[ANY, &[ErrorCode::InvalidRequest], IDP_WRITES],
    },
    Route {
        method: "POST",
        path: SSF_EVENTS,
        access: Access::Public,
        success: &[202],
        errors: &[
            ANY,
            &[
                ErrorCode::InvalidRequest,
                ErrorCode::InvalidKey,
                ErrorCode::InvalidIssuer,
                ErrorCode::InvalidAudience,
                ErrorCode::AuthenticationFailed,
            ],
            IDP_WRITES,
        ],
    },
    Route {
        method: "GET",
        path: SNAPSHOT,
        access: Access::Read,
        success: &[200, 304],
        errors: &[
            ANY,
            AUTHENTICATED,
            READS_THE_LIST,
            &[ErrorCode::SnapshotsDisabled],
        ],
    },
    Route {
        method: "POST",
        path: SNAPSHOT,
        access: Access::Revoke,
        success: &[200],
        errors: &[
            ANY,
            AUTHENTICATED,
            READS_THE_LIST,
            &[ErrorCode::SnapshotsDisabled, ErrorCode::NatsUnavailable],
        ],
    },
    Route {
        method: "GET",
        path: CHANGES,
        access: Access::Read,
        success: &[200],
        errors: &[
            ANY,
            AUTHENTICATED,
            &[
                ErrorCode::InvalidQuery,
                ErrorCode::Gone,
                ErrorCode::NatsUnavailable,
            ],
        ],
    },
    Route {
        method: "GET",
        path: FLEET,
        access: Access::Read,
        success: &[200],
        errors: &[ANY, AUTHENTICATED],
    },
    Route {
        method: "GET",
        path: STATUS,
        access: Access::Public,
        success: &[200],
        errors: &[ANY],
    },
    Route {
        method: "GET",
        path: HEALTHZ,
        access: Access::Public,
        success: &[200],
        errors: &[ANY],
    },
    Route {
        method: "GET",
        path: READYZ,
        access: Access::Public,
        success: &[200, 503],
        errors: &[ANY],
    },
    Route {
        method: "GET",
        path: METRICS,
        access: Access::Public,
        success: &[200],
        errors: &[ANY],
    },
    Route {
        method: "GET",
        path: OPENAPI,
        access: Access::Public,
        success: &[200],
        errors: &[ANY],
    },
];

/// Codes any request can get whatever its route: a path no route has, a method the
/// route does not take, or a failure of the daemon itself.
pub const ANY_REQUEST: &[ErrorCode] = &[
    ErrorCode::NoSuchRoute,
    ErrorCode::MethodNotAllowed,
    ErrorCode::Internal,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_answered_somewhere_and_operations_are_unique() {
        for code in ErrorCode::EVERY {
            let used =
                ANY_REQUEST.contains(code) || ROUTES.iter().any(|route| route.error_codes().contains(code));
            assert!(used, "{code} is answered by no route");
        }
        let mut operations: Vec<(&str, &str)> =
            ROUTES.iter().map(|route| (route.method, route.path)).collect();
        operations.sort_unstable();
        let before = operations.len();
        operations.dedup();
        assert_eq!(before, operations.len(), "an operation is listed twice");
    }
}
