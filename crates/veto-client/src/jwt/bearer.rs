//! The one reader of `Authorization: Bearer <token>`, used by the daemon's admin API,
//! the axum layer, and the CLI's `token inspect`: `headers`'
//! `Authorization<Bearer>` (RFC 7235: the scheme is case-insensitive), plus what it
//! leaves to its caller: a request with two `Authorization` headers is refused, not
//! read by its first, and a token is one non-empty word.
//!
//! The errors follow RFC 6750 §3.1: no bearer credentials ([`BearerError::Missing`], or
//! [`BearerError::OtherScheme`]: "an unsupported authentication method") get a bare
//! challenge with no error code; a repeated or malformed header
//! ([`BearerError::Duplicate`], [`BearerError::Malformed`]) is `invalid_request` (400);
//! only a token that fails validation is `invalid_token` (401).

use headers::authorization::{Authorization, Bearer};
use headers::{Header, HeaderMapExt};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};

/// The longest `Authorization` header read (a token over the validator's 8 KiB default
/// is refused anyway; this bounds the work before it).
pub const MAX_AUTHORIZATION_BYTES: usize = 16 * 1024;

/// Why a request carries no usable bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// An `Authorization` header of another scheme (`Basic …`): no bearer credentials.
    #[error("the Authorization header is not of the Bearer scheme")]
    OtherScheme,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    Duplicate,
    /// A `Bearer` header without one usable token: none, several words, not ASCII, or
    /// too long (or an empty header).
    #[error("the Authorization header carries no usable bearer token")]
    Malformed,
}

/// The bearer token of a request's headers.
pub fn from_headers(headers: &HeaderMap) -> Result<String, BearerError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::Duplicate);
    }
    from_value(value)
}

/// The token of one `Authorization` header value.
pub fn from_value(value: &HeaderValue) -> Result<String, BearerError> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(BearerError::Malformed);
    }
    let bytes = value.as_bytes();
    let scheme = bytes.split(|byte| *byte == b' ').next().unwrap_or_default();
    if scheme.is_empty() {
        return Err(BearerError::Malformed);
    }
    if !scheme.eq_ignore_ascii_case(b"Bearer") {
        return Err(BearerError::OtherScheme);
    }
    let bearer =
        Authorization::<Bearer>::decode(&mut std::iter::once(value)).map_err(|_| BearerError::Malformed)?;
    let token = bearer.token().trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(BearerError::Malformed);
    }
    Ok(token.to_owned())
}

/// A token as pasted by a person: the token alone, or a whole `Bearer <token>` value,
/// with surrounding whitespace.
pub fn from_pasted(text: &str) -> &str {
    let text = text.trim();
    match HeaderValue::from_str(text)
        .ok()
        .and_then(|value| from_value(&value).ok())
    {
        Some(token) => &text[text.len() - token.len()..],
        None => text,
    }
}

/// Adds `Authorization: Bearer <token>` to `headers` (for clients and tests).
pub fn insert(headers: &mut HeaderMap, token: &str) -> Result<(), BearerError> {
    let bearer = Authorization::bearer(token).map_err(|_| BearerError::Malformed)?;
    headers.typed_insert(bearer);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_one_word() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "Bearer   abc  "] {
            assert_eq!(from_headers(&headers(&[value])), Ok("abc".to_owned()), "{value}");
        }
        for value in ["Bearer", "Bearer ", "Bearer a b", "bearer  ", ""] {
            assert_eq!(
                from_headers(&headers(&[value])),
                Err(BearerError::Malformed),
                "{value}"
            );
        }
        for value in ["Basic abc", "Bearerabc", "Token a.b.c", "Digest x=y"] {
            assert_eq!(
                from_headers(&headers(&[value])),
                Err(BearerError::OtherScheme),
                "{value}"
            );
        }
        assert_eq!(from_headers(&HeaderMap::new()), Err(BearerError::Missing));
        assert_eq!(
            from_headers(&headers(&["Bearer abc", "Bearer def"])),
            Err(BearerError::Duplicate)
        );
    }

    #[test]
    fn pasted_tokens_lose_their_scheme() {
        assert_eq!(from_pasted("  Bearer a.b.c\n"), "a.b.c");
        assert_eq!(from_pasted("bearer a.b.c"), "a.b.c");
        assert_eq!(from_pasted(" a.b.c "), "a.b.c");
    }
}
