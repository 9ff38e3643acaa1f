//! Reading a pasted JWT for the token inspector: its header and claims as the JSON
//! objects they are, without verifying anything (verification is the validators' job,
//! and the page says which, if any, accepted the token).
//!
//! The token lives in one request's memory: it is not stored, not logged, not put in
//! a URL or a cookie, and the result page does not echo it back. The signature segment
//! is never decoded.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use veto_proto::UnixSeconds;
use veto_proto::rule::TokenFacts;

/// Longest token the inspector reads (the validators refuse anything over 8 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A compact JWT's header and claims, read but not verified.
#[derive(Clone, Debug, PartialEq)]
pub struct PastedToken {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
}

/// Reads `header.payload.signature`; surrounding whitespace and a `Bearer ` prefix (a
/// pasted header) are ignored. The error is a message for people.
pub fn read(pasted: &str) -> Result<(PastedToken, &str), String> {
    if pasted.len() > MAX_TOKEN_BYTES {
        return Err(format!(
            "that is over {} KiB: not a token this inspector reads",
            MAX_TOKEN_BYTES / 1024
        ));
    }
    let token = veto_client::jwt::bearer::from_pasted(pasted);
    let segments: Vec<&str> = token.split('.').collect();
    match segments.as_slice() {
        [header, claims, _signature] => Ok((
            PastedToken {
                header: object(header, "header")?,
                claims: object(claims, "payload")?,
            },
            token,
        )),
        [_, _, _, _, _] => Err(
            "this is an encrypted token (JWE, five segments): only its recipient can read the claims"
                .to_owned(),
        ),
        other => Err(format!(
            "a JWT has three dot-separated segments (header.payload.signature); this has {}",
            other.len()
        )),
    }
}

fn object(segment: &str, name: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| format!("the {name} is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(format!("the {name} is not a JSON object")),
    }
}

impl PastedToken {
    /// A claim that is a string (absent, or of another type: `None`).
    pub fn string(&self, claim: &str) -> Option<&str> {
        self.claims.get(claim).and_then(Value::as_str)
    }

    /// A claim that is a NumericDate.
    pub fn instant(&self, claim: &str) -> Option<UnixSeconds> {
        let value = self.claims.get(claim)?;
        value
            .as_i64()
            // NumericDate may carry a fraction; the rule model counts whole seconds.
            .or_else(|| value.as_f64().map(|seconds| seconds.floor() as i64))
            .map(UnixSeconds)
    }

    /// What a revocation check matches on (a claim of the wrong type counts as absent).
    pub fn facts(&self) -> TokenFacts<'_> {
        TokenFacts {
            jti: self.string("jti"),
            sub: self.string("sub"),
            sid: self.string("sid"),
            iss: self.string("iss"),
            iat: self.instant("iat"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn a_token_reads_as_its_header_and_claims() {
        let token = format!(
            "{}.{}.c2ln",
            encode(&serde_json::json!({"alg": "ES256", "kid": "k1"})),
            encode(
                &serde_json::json!({"sub": "alice", "iss": "https://idp", "iat": 1_700_000_000.5, "jti": 7})
            )
        );
        let pasted = format!("  Bearer {token}\n");
        let (read, bare) = read(&pasted).unwrap();
        assert_eq!(bare, token);
        assert_eq!(read.header["kid"], "k1");
        let facts = read.facts();
        assert_eq!(facts.sub, Some("alice"));
        assert_eq!(facts.iss, Some("https://idp"));
        assert_eq!(facts.iat, Some(UnixSeconds(1_700_000_000)));
        assert_eq!(facts.jti, None, "a number is not a jti");
    }

    #[test]
    fn what_is_not_a_jwt_says_why() {
        assert!(read("abc").unwrap_err().contains("three"));
        assert!(read("a.b.c.d.e").unwrap_err().contains("encrypted"));
        assert!(read("!!.e30.x").unwrap_err().contains("header is not base64url"));
        assert!(
            read(&format!("{}.W10.x", encode(&serde_json::json!({}))))
                .unwrap_err()
                .contains("payload is not a JSON object")
        );
        assert!(
            read(&"a".repeat(MAX_TOKEN_BYTES + 1))
                .unwrap_err()
                .contains("KiB")
        );
    }
}
