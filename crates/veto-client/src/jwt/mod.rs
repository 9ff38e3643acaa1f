//! The validator a careful team would write by hand (feature `jwt`).
//!
//! - An algorithm allowlist (default ES256 only); HMAC algorithms are refused unless
//!   explicitly allowed, so a token "signed" with a public key as an HMAC secret cannot
//!   pass. A key's family must match the token's algorithm, and a JWK that names its
//!   `alg` must name the token's.
//! - `kid` required; keys come from a [`KeySource`]: [`JwksSource`] (HTTPS, cached,
//!   refreshed in the background honouring `Cache-Control: max-age` within bounds,
//!   refreshed on an unknown `kid` (one fetch at a time, at most one per 500 ms, shared
//!   by every request waiting for it), last good set kept
//!   while the endpoint is down) or [`StaticKeys`] (PEM or JWK files).
//! - One or more accepted issuers and audiences, both required; `exp` required; `nbf`
//!   checked; `iat` in the future refused; leeway 30 s by default; tokens over 8 KiB
//!   refused before any parsing.
//! - Under the deployment's token policy (vetod's `[tokens]`; on by default with its
//!   defaults, [`ValidatorConfig::with_policy`] for others): a token living longer than
//!   the max token TTL is refused (its `sub` rule would expire while it is still
//!   valid), and the leeway may not exceed the policy's (its `jti` rule would).
//!
//! After the signature, check revocation with [`crate::RevocationList::check`] on
//! [`Claims::facts`].

pub mod bearer;
mod claims;
mod error;
mod jwks;
mod keys;
mod validator;

pub use claims::{Claims, NoCustomClaims};
pub use error::{KeyError, ValidationError, ValidatorConfigError};
pub use jsonwebtoken::Algorithm;
pub use jwks::{JwksConfig, JwksSource};
pub use keys::{KeySource, StaticKeys, VerificationKey};
pub use validator::{ValidationOptions, Validator, ValidatorConfig};
