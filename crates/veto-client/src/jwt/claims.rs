//! Claims: the registered ones veto needs, plus the service's own type.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use veto_proto::UnixSeconds;
use veto_proto::rule::TokenFacts;

/// For services with no claims of their own: ignores every other claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoCustomClaims {}

/// A validated token's claims: the registered claims veto reads, and the service's own
/// claims `C` (flattened from the same JSON object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims<C = NoCustomClaims> {
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audiences (a string or an array in the token).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<String>,
    /// Expiry (required by the validator).
    pub exp: UnixSeconds,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<UnixSeconds>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<UnixSeconds>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id (OpenID Connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The service's own claims.
    #[serde(flatten)]
    pub custom: C,
}

impl<C> Claims<C> {
    /// The facts a revocation check needs, borrowed from the claims.
    pub fn facts(&self) -> TokenFacts<'_> {
        TokenFacts {
            jti: self.jti.as_deref(),
            sub: self.sub.as_deref(),
            sid: self.sid.as_deref(),
            iss: self.iss.as_deref(),
            iat: self.iat,
        }
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Ok(Vec::new()),
        Some(OneOrMany::One(one)) => Ok(vec![one]),
        Some(OneOrMany::Many(many)) if !many.is_empty() => Ok(many),
        Some(OneOrMany::Many(_)) => Err(de::Error::custom("aud is an empty array")),
    }
}
