//! Why a token, a key or a validator configuration was refused.

/// Why a token was refused. [`ValidationError::reason`] is a stable code for logs and
/// metrics; never show it to the caller (RFC 6750: no detail in the response).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// Longer than the configured maximum.
    #[error("token is {bytes} bytes long (limit {max})")]
    TooLarge {
        /// Its length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Not a well-formed JWS compact token (includes `alg: none`, which is not an
    /// algorithm this validator can even parse).
    #[error("malformed token")]
    Malformed,
    /// The header's algorithm is not on the allowlist, or does not match the key.
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// No `kid` in the header.
    #[error("no kid in the header")]
    MissingKid,
    /// The key source could not produce a key for the `kid`.
    #[error("no key: {0}")]
    Key(#[from] super::KeyError),
    /// The header's `typ` is not the type the caller expects (a JWT of another kind).
    #[error("wrong token type")]
    WrongType,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` passed (beyond the leeway).
    #[error("expired")]
    Expired,
    /// `nbf` in the future (beyond the leeway).
    #[error("not yet valid")]
    NotYetValid,
    /// `iat` in the future (beyond the leeway).
    #[error("issued in the future")]
    IssuedInFuture,
    /// The token lives longer than the token policy's max TTL.
    #[error("lifetime over the max token TTL")]
    LifetimeTooLong,
    /// `iss` is not an accepted issuer.
    #[error("issuer not accepted")]
    WrongIssuer,
    /// No accepted audience in `aud`.
    #[error("audience not accepted")]
    WrongAudience,
    /// A required claim is missing.
    #[error("missing claim {0}")]
    MissingClaim(String),
    /// Claims of the wrong type or shape.
    #[error("invalid claims")]
    InvalidClaims,
}

impl ValidationError {
    /// Whether the validator could not decide because its keys are unavailable (the
    /// JWKS endpoint is down and the token's `kid` is not cached): the server's
    /// failure, not the token's, to be answered 503 rather than 401.
    pub fn is_keys_unavailable(&self) -> bool {
        matches!(self, ValidationError::Key(super::KeyError::Unavailable(_)))
    }

    /// A stable code: `too_large`, `malformed`, `algorithm_not_allowed`, `missing_kid`,
    /// `wrong_type`, `unknown_kid`, `key_unavailable`, `bad_signature`, `expired`,
    /// `not_yet_valid`, `issued_in_future`, `lifetime_too_long`, `wrong_issuer`,
    /// `wrong_audience`, `missing_claim`, `invalid_claims`.
    pub fn reason(&self) -> &'static str {
        match self {
            ValidationError::TooLarge { .. } => "too_large",
            ValidationError::Malformed => "malformed",
            ValidationError::AlgorithmNotAllowed => "algorithm_not_allowed",
            ValidationError::MissingKid => "missing_kid",
            ValidationError::WrongType => "wrong_type",
            ValidationError::Key(super::KeyError::UnknownKid) => "unknown_kid",
            ValidationError::Key(_) => "key_unavailable",
            ValidationError::BadSignature => "bad_signature",
            ValidationError::Expired => "expired",
            ValidationError::NotYetValid => "not_yet_valid",
            ValidationError::IssuedInFuture => "issued_in_future",
            ValidationError::LifetimeTooLong => "lifetime_too_long",
            ValidationError::WrongIssuer => "wrong_issuer",
            ValidationError::WrongAudience => "wrong_audience",
            ValidationError::MissingClaim(_) => "missing_claim",
            ValidationError::InvalidClaims => "invalid_claims",
        }
    }
}

/// Why a key source has no key for a `kid`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No key with that `kid`, even after the allowed refresh.
    #[error("unknown kid")]
    UnknownKid,
    /// The key set has never been fetched successfully.
    #[error("key set unavailable: {0}")]
    Unavailable(String),
    /// A key file or JWK could not be used.
    #[error("unusable key: {0}")]
    Unusable(String),
}

/// Why a validator configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid validator configuration: {0}")]
pub struct ValidatorConfigError(pub String);
