//! Reading a JWT's header and claims WITHOUT verifying it, for `veto token inspect`.
//!
//! Nothing here checks a signature, so nothing here may decide that a token is
//! valid: it only shows what the token says and which revocation keys it would hit.
//! The signature segment is never decoded, kept or shown.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};
use veto_proto::UnixSeconds;
use veto_proto::rule::TokenFacts;

/// Why a string is not a readable JWT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Five segments: an encrypted token, whose claims only the recipient can read.
    #[error("this is an encrypted token (JWE, five segments); only its recipient can read the claims")]
    Encrypted,
    /// Not `header.payload.signature`.
    #[error("a JWT has three dot-separated segments; this has {segments}")]
    Segments {
        /// How many it has.
        segments: usize,
    },
    /// A segment that is not unpadded base64url.
    #[error("the {segment} is not base64url")]
    Base64 {
        /// `header` or `payload`.
        segment: &'static str,
    },
    /// A segment that is not a JSON object.
    #[error("the {segment} is not a JSON object")]
    NotAnObject {
        /// `header` or `payload`.
        segment: &'static str,
    },
    /// A registered claim of the wrong JSON type.
    #[error("the {claim} claim is not {expected}")]
    ClaimType {
        /// The claim.
        claim: &'static str,
        /// What RFC 7519 says it is.
        expected: &'static str,
    },
}

/// The header fields worth showing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenHeader {
    /// The signing algorithm the token claims (`ES256`, …; `none` is a red flag).
    pub alg: Option<String>,
    /// The key id.
    pub kid: Option<String>,
    /// The type (`JWT`, `at+jwt`, …).
    pub typ: Option<String>,
}

/// The claims a revocation rule can match on, plus `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenClaims {
    /// Token id.
    pub jti: Option<String>,
    /// Subject.
    pub sub: Option<String>,
    /// Session id.
    pub sid: Option<String>,
    /// Issuer.
    pub iss: Option<String>,
    /// Issued at.
    pub iat: Option<UnixSeconds>,
    /// Expiry.
    pub exp: Option<UnixSeconds>,
}

impl TokenClaims {
    /// The facts a revocation check matches on (a token without `iat` counts as issued
    /// at the epoch, which [`veto_proto::RevocationRule::matches`] applies).
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

/// A token's header and claims, read but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedToken {
    /// The header.
    pub header: TokenHeader,
    /// The claims.
    pub claims: TokenClaims,
}

/// Reads a compact JWT (`header.payload.signature`) without verifying it. Surrounding
/// whitespace and a `Bearer ` prefix (pasted from a header) are ignored.
pub fn decode_unverified(token: &str) -> Result<UnverifiedToken, TokenError> {
    let token = veto_client::jwt::bearer::from_pasted(token);
    let segments: Vec<&str> = token.split('.').collect();
    match segments.as_slice() {
        [header, payload, _signature] => {
            let header = json_object(header, "header")?;
            let payload = json_object(payload, "payload")?;
            Ok(UnverifiedToken {
                header: TokenHeader {
                    alg: string_claim(&header, "alg")?,
                    kid: string_claim(&header, "kid")?,
                    typ: string_claim(&header, "typ")?,
                },
                claims: TokenClaims {
                    jti: string_claim(&payload, "jti")?,
                    sub: string_claim(&payload, "sub")?,
                    sid: string_claim(&payload, "sid")?,
                    iss: string_claim(&payload, "iss")?,
                    iat: numeric_date(&payload, "iat")?,
                    exp: numeric_date(&payload, "exp")?,
                },
            })
        }
        [_, _, _, _, _] => Err(TokenError::Encrypted),
        other => Err(TokenError::Segments {
            segments: other.len(),
        }),
    }
}

fn json_object(segment: &str, name: &'static str) -> Result<Map<String, Value>, TokenError> {
    // Some encoders pad; RFC 7515 says they must not, but reading them costs nothing.
    let bytes = URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| TokenError::Base64 { segment: name })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(TokenError::NotAnObject { segment: name }),
    }
}

fn string_claim(object: &Map<String, Value>, claim: &'static str) -> Result<Option<String>, TokenError> {
    match object.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(TokenError::ClaimType {
            claim,
            expected: "a string",
        }),
    }
}

/// An RFC 7519 NumericDate: seconds since the epoch, possibly with a fraction (dropped,
/// as `iat` comparisons are by whole seconds).
fn numeric_date(object: &Map<String, Value>, claim: &'static str) -> Result<Option<UnixSeconds>, TokenError> {
    let wrong_type = TokenError::ClaimType {
        claim,
        expected: "a number of seconds",
    };
    match object.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|seconds| seconds.is_finite() && seconds.abs() < 1e15)
                    .map(|seconds| seconds.floor() as i64)
            })
            .map(|seconds| Some(UnixSeconds(seconds)))
            .ok_or(wrong_type),
        Some(_) => Err(wrong_type),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compact(header: &Value, payload: &Value) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        )
    }

    #[test]
    fn reads_header_and_claims() {
        let token = compact(
            &json!({"alg": "ES256", "kid": "key-1", "typ": "JWT"}),
            &json!({"jti": "t-1", "sub": "alice", "iss": "https://idp", "iat": 1_800_000_000, "exp": 1_800_000_600.7, "aud": "x"}),
        );
        let decoded = decode_unverified(&format!("  Bearer {token}\n")).expect("decodes");
        assert_eq!(decoded.header.alg.as_deref(), Some("ES256"));
        assert_eq!(decoded.header.kid.as_deref(), Some("key-1"));
        assert_eq!(decoded.claims.jti.as_deref(), Some("t-1"));
        assert_eq!(decoded.claims.sid, None);
        assert_eq!(decoded.claims.iat, Some(UnixSeconds(1_800_000_000)));
        assert_eq!(decoded.claims.exp, Some(UnixSeconds(1_800_000_600)));
        assert_eq!(decoded.claims.facts().sub, Some("alice"));
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        assert_eq!(
            decode_unverified("abc"),
            Err(TokenError::Segments { segments: 1 })
        );
        assert_eq!(decode_unverified("a.b.c.d.e"), Err(TokenError::Encrypted));
        assert_eq!(
            decode_unverified("!!.e30.x"),
            Err(TokenError::Base64 { segment: "header" })
        );
        let array_payload = format!("e30.{}.x", URL_SAFE_NO_PAD.encode("[1]"));
        assert_eq!(
            decode_unverified(&array_payload),
            Err(TokenError::NotAnObject { segment: "payload" })
        );
        let numeric_sub = compact(&json!({"alg": "ES256"}), &json!({"sub": 42}));
        assert_eq!(
            decode_unverified(&numeric_sub),
            Err(TokenError::ClaimType {
                claim: "sub",
                expected: "a string"
            })
        );
        let text_iat = compact(&json!({"alg": "ES256"}), &json!({"iat": "yesterday"}));
        assert!(matches!(
            decode_unverified(&text_iat),
            Err(TokenError::ClaimType { claim: "iat", .. })
        ));
    }
}
