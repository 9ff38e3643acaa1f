//! The identity-provider receivers: what an OpenID provider or a Shared Signals
//! transmitter sends, and the error bodies their specifications define (not
//! [`crate::ErrorBody`]: an IdP parses its own spec's body, not veto's).
//!
//! - `POST /oidc/backchannel-logout` (OpenID Connect Back-Channel Logout 1.0): a form
//!   with one `logout_token`; 200 once stored, else 400 with [`LogoutErrorBody`] (§2.8,
//!   the OAuth 2.0 error shape of RFC 6749 §5.2).
//! - `POST /ssf/events` (Shared Signals Framework 1.0, push delivery per RFC 8935): the
//!   body is one security event token (RFC 8417) sent as [`SECEVENT_JWT`]; 202 once
//!   stored, else 400 with [`SetErrorBody`] (RFC 8935 §2.3).
//!
//! The codes these bodies carry are listed in [`crate::ErrorCode`] too (with their 400
//! status), so that [`crate::routes::ROUTES`] names every answer of every route.

use serde::{Deserialize, Serialize};

/// The media type of a pushed security event token (RFC 8417 §2.3, RFC 8935 §2).
pub const SECEVENT_JWT: &str = "application/secevent+jwt";

/// `POST /oidc/backchannel-logout`: the back-channel logout request (§2.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogoutTokenForm {
    /// The logout token: a JWT signed by the OpenID provider.
    pub logout_token: String,
}

/// The back-channel logout receiver's error body (§2.8): `error` is always
/// `invalid_request`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogoutErrorBody {
    /// `invalid_request`.
    #[cfg_attr(feature = "openapi", schema(example = "invalid_request"))]
    pub error: String,
    /// What was wrong, for people (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The SET push receiver's error body (RFC 8935 §2.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetErrorBody {
    /// A Security Event Token error code (RFC 8935 §2.4): `invalid_request`,
    /// `invalid_key`, `invalid_issuer`, `invalid_audience` or `authentication_failed`.
    #[cfg_attr(feature = "openapi", schema(example = "invalid_issuer"))]
    pub err: String,
    /// What was wrong, for people (never the token).
    pub description: String,
}
