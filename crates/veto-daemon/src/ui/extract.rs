//! The console's extractors: [`SignedIn`] (a live session from the cookie) and
//! [`Posted`] (a form of a signed-in session whose CSRF token is right), and cookie
//! helpers.
//!
//! CSRF defence, in layers: the cookie is `SameSite=Strict` (a cross-site form post
//! does not carry it); every form carries the session's random token, compared in
//! constant time before the body is even parsed; a request a browser marks as
//! cross-site or same-site (`Sec-Fetch-Site`) is refused outright; and only form
//! bodies are accepted. Sign-in, which has no session yet, uses a double-submit token
//! (a short-lived cookie and the same value in the form).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::debug;

use super::error::UiError;
use super::session::{
    SESSION_COOKIE_PLAIN, SESSION_COOKIE_SECURE, SIGNIN_COOKIE_PLAIN, SIGNIN_COOKIE_SECURE, SessionKey,
    SessionView, same_secret,
};
use super::settings::SecureCookie;
use crate::auth::Principal;
use crate::state::AppState;

/// Whether this request reached us over TLS, as far as the `secure_cookie` setting
/// lets us know (vetod speaks plain HTTP; a TLS-terminating proxy says so).
pub fn over_tls(headers: &HeaderMap, setting: SecureCookie) -> bool {
    match setting {
        SecureCookie::Always => true,
        SecureCookie::Never => false,
        SecureCookie::Auto => {
            let header_says = |name: header::HeaderName, test: fn(&str) -> bool| {
                headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(test)
            };
            header_says(header::HeaderName::from_static("x-forwarded-proto"), |value| {
                value
                    .split(',')
                    .next()
                    .is_some_and(|first| first.trim().eq_ignore_ascii_case("https"))
            }) || header_says(header::FORWARDED, |value| {
                value
                    .split([';', ','])
                    .any(|pair| pair.trim().eq_ignore_ascii_case("proto=https"))
            })
        }
    }
}

/// The session cookie's name for a request over TLS or not.
pub fn session_cookie(tls: bool) -> &'static str {
    if tls {
        SESSION_COOKIE_SECURE
    } else {
        SESSION_COOKIE_PLAIN
    }
}

/// The sign-in CSRF cookie's name for a request over TLS or not.
pub fn signin_cookie(tls: bool) -> &'static str {
    if tls {
        SIGNIN_COOKIE_SECURE
    } else {
        SIGNIN_COOKIE_PLAIN
    }
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie_name, _)| *cookie_name == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` over TLS;
/// `max_age_secs` 0 deletes it, `None` makes it last the browser session.
pub fn set_cookie(name: &str, value: &str, tls: bool, max_age_secs: Option<u64>) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if tls {
        cookie.push_str("; Secure");
    }
    if let Some(seconds) = max_age_secs {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    // Names are ours and values hex: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Refuses a request a browser marks as coming from another site.
pub fn refuse_cross_site(headers: &HeaderMap) -> Result<(), UiError> {
    match headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
    {
        Some("cross-site" | "same-site") => Err(UiError::forbidden(
            "the console accepts forms only from its own pages",
        )),
        _ => Ok(()),
    }
}

/// Whether a session's credential still holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionCheck {
    /// It does.
    Holds,
    /// It does not (the API key is gone or changed, the admin JWT is revoked): the
    /// session is closed.
    Ended,
    /// The list is not fresh enough to say; the session stays.
    Unknown,
}

/// Checks the credential a session was opened with again, as the API checks every
/// request's ([`crate::auth::Authenticator::recheck`]): a key removed (SIGHUP) or an
/// admin token revoked ends the session at once, on a page or a live event stream.
pub fn still_holds(state: &AppState, view: &SessionView) -> SessionCheck {
    match state.authenticator.recheck(&view.principal, &view.credential) {
        Ok(()) => SessionCheck::Holds,
        Err(error) if error.status() == StatusCode::UNAUTHORIZED => {
            debug!(principal = %view.principal.name, "console session ended: its credential no longer holds");
            state.console.sessions.close(view.key);
            SessionCheck::Ended
        }
        Err(_) => SessionCheck::Unknown,
    }
}

/// A live session: who is signed in, and the token its forms carry.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The store's key for the session.
    pub key: SessionKey,
    /// Who signed in (the same permissions as with the API).
    pub principal: Principal,
    /// The session's CSRF token.
    pub csrf: String,
}

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let not_signed_in = || {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                UiError::SignIn
            } else {
                UiError::new(
                    StatusCode::UNAUTHORIZED,
                    "you are not signed in, or your session has ended: sign in again",
                )
            }
        };
        let tls = over_tls(&parts.headers, state.settings.ui.secure_cookie);
        let Some(session_id) = cookie(&parts.headers, session_cookie(tls)) else {
            return Err(not_signed_in());
        };
        let Some(view) = state.console.sessions.touch(session_id) else {
            return Err(not_signed_in());
        };
        match still_holds(state, &view) {
            SessionCheck::Holds => {}
            SessionCheck::Ended => return Err(not_signed_in()),
            SessionCheck::Unknown => {
                return Err(UiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the revocation list is not fresh, so your sign-in cannot be checked: try again shortly",
                ));
            }
        }
        Ok(SignedIn {
            key: view.key,
            principal: view.principal,
            csrf: view.csrf,
        })
    }
}

impl OptionalFromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <SignedIn as FromRequestParts<Arc<AppState>>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// A form posted by a signed-in session, with the session's CSRF token.
#[derive(Debug)]
pub struct Posted<T> {
    /// The session.
    pub session: SignedIn,
    /// The form.
    pub form: T,
}

/// Reads a form body: `application/x-www-form-urlencoded` only, within the body limit.
pub async fn form_bytes(request: Request, state: &Arc<AppState>) -> Result<Bytes, UiError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.split(';').next().is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(UiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the console takes forms (application/x-www-form-urlencoded)",
        ));
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| UiError::new(rejection.status(), "the form could not be read"))
}

/// Parses a form body.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, UiError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|error| UiError::new(StatusCode::BAD_REQUEST, format!("the form is not valid: {error}")))
}

/// Parses a page's query string (absent: every field's default), refusing it as a
/// console page does rather than with axum's plain-text rejection.
pub fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, UiError> {
    serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|error| {
        UiError::new(
            StatusCode::BAD_REQUEST,
            format!("the query is not valid: {error}"),
        )
    })
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for Posted<T> {
    type Rejection = UiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        refuse_cross_site(request.headers())?;
        let (mut parts, body) = request.into_parts();
        let session =
            <SignedIn as FromRequestParts<Arc<AppState>>>::from_request_parts(&mut parts, state).await?;
        let bytes = form_bytes(Request::from_parts(parts, body), state).await?;
        let presented = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
            .ok()
            .and_then(|field| field.csrf)
            .unwrap_or_default();
        if !same_secret(&presented, &session.csrf) {
            debug!(principal = %session.principal.name, "console form refused: missing or wrong CSRF token");
            return Err(UiError::forbidden(
                "this form's security token is missing or out of date: reload the page and submit it again",
            ));
        }
        let form = parse_form(&bytes)?;
        Ok(Posted { session, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn tls_is_known_from_the_setting_or_the_proxy() {
        let plain = headers(&[]);
        let proxied = headers(&[("x-forwarded-proto", "https")]);
        let forwarded = headers(&[("forwarded", "for=192.0.2.1;proto=https;by=proxy")]);
        assert!(!over_tls(&plain, SecureCookie::Auto));
        assert!(over_tls(&proxied, SecureCookie::Auto));
        assert!(over_tls(&forwarded, SecureCookie::Auto));
        assert!(over_tls(&plain, SecureCookie::Always));
        assert!(!over_tls(&proxied, SecureCookie::Never));
    }

    #[test]
    fn cookies_are_read_by_exact_name_and_set_strict() {
        let request = headers(&[
            ("cookie", "a=1; veto_session=abc"),
            ("cookie", "__Host-veto_session=def"),
        ]);
        assert_eq!(cookie(&request, "veto_session"), Some("abc"));
        assert_eq!(cookie(&request, "__Host-veto_session"), Some("def"));
        assert_eq!(cookie(&request, "veto"), None);
        assert_eq!(
            set_cookie("__Host-veto_session", "abc", true, None),
            "__Host-veto_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            set_cookie("veto_signin", "", false, Some(0)),
            "veto_signin=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn cross_site_requests_are_refused() {
        assert!(refuse_cross_site(&headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(refuse_cross_site(&headers(&[("sec-fetch-site", "same-site")])).is_err());
        assert!(refuse_cross_site(&headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        assert!(refuse_cross_site(&headers(&[])).is_ok());
    }
}
