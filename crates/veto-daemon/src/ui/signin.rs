//! Signing in and out. The credential (an API key or an admin JWT) arrives once, in a
//! POST body, is checked by the API's own [`crate::auth::Authenticator`], and is
//! dropped: the browser gets a session cookie, never the credential back. A failed
//! sign-in says only that the credential was not accepted (the reason is the
//! authenticator's `debug!` line, which never holds the credential).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tracing::info;

use super::error::UiError;
use super::extract::{
    Posted, SignedIn, cookie, form_bytes, over_tls, parse_form, refuse_cross_site, session_cookie,
    set_cookie, signin_cookie,
};
use super::layout::{self, csrf_field};
use super::paths;
use super::session::{random_token, same_secret};
use crate::auth::Permission;
use crate::state::AppState;

/// How long a sign-in form stays good.
const SIGNIN_FORM_TTL: Duration = Duration::from_secs(3600);

fn form_page(csrf: &str, error: Option<&str>) -> Markup {
    layout::page(
        "Sign in",
        None,
        html! {
            @if let Some(error) = error {
                p.flash.error role="alert" { (error) }
            }
            form.card method="post" action=(paths::SIGN_IN) {
                (csrf_field(csrf))
                p {
                    label for="credential" { "API key or admin JWT" }
                    input #credential type="password" name="credential" required
                        autocomplete="off" spellcheck="false" aria-describedby="credential-help";
                }
                p #credential-help .hint {
                    "It is checked once and exchanged for a session that ends after a short idle time; "
                    "the console does not keep it."
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// A sign-in page with a fresh form token (and its cookie), answering `status`.
fn sign_in_page(state: &AppState, headers: &HeaderMap, status: StatusCode, error: Option<&str>) -> Response {
    let tls = over_tls(headers, state.settings.ui.secure_cookie);
    let token = random_token();
    (
        status,
        [(
            header::SET_COOKIE,
            set_cookie(signin_cookie(tls), &token, tls, Some(SIGNIN_FORM_TTL.as_secs())),
        )],
        Html(form_page(&token, error).into_string()),
    )
        .into_response()
}

/// `GET /ui/login`: the form (or, already signed in, the overview).
pub async fn form(
    State(state): State<Arc<AppState>>,
    session: Option<SignedIn>,
    headers: HeaderMap,
) -> Response {
    if session.is_some() {
        return Redirect::to(paths::HOME).into_response();
    }
    sign_in_page(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: Option<String>,
    credential: Option<String>,
}

/// `POST /ui/login`: checks the credential, opens a session.
pub async fn sign_in(State(state): State<Arc<AppState>>, request: Request) -> Result<Response, UiError> {
    refuse_cross_site(request.headers())?;
    let headers = request.headers().clone();
    let tls = over_tls(&headers, state.settings.ui.secure_cookie);
    let expected = cookie(&headers, signin_cookie(tls)).map(str::to_owned);
    let bytes = form_bytes(request, &state).await?;
    let form: SignInForm = parse_form(&bytes)?;
    let genuine = match (&expected, &form.csrf) {
        (Some(expected), Some(presented)) => same_secret(presented, expected),
        _ => false,
    };
    if !genuine {
        return Ok(sign_in_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            Some("This sign-in form is out of date or did not come from this console: try again."),
        ));
    }
    let credential = form.credential.as_deref().map(str::trim).unwrap_or_default();
    if credential.is_empty() {
        return Ok(sign_in_page(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter an API key or an admin JWT."),
        ));
    }
    // The API's authenticator reads an Authorization header; this one never leaves
    // the function. A credential no header can carry is no credential we accept.
    let mut authorization = HeaderMap::new();
    let signed_in = match HeaderValue::from_str(&format!("Bearer {credential}")) {
        Ok(value) => {
            authorization.insert(header::AUTHORIZATION, value);
            state
                .authenticator
                .authenticate_keeping(&authorization)
                .await
                .ok()
        }
        Err(_) => None,
    };
    let Some((principal, kept)) = signed_in else {
        return Ok(sign_in_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That credential was not accepted."),
        ));
    };
    if principal.require(Permission::Read).is_err() {
        return Ok(sign_in_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            Some("That credential may not read the list, so it cannot use the console."),
        ));
    }
    // Checked again on every request: the key still configured, the admin JWT not
    // revoked; an admin JWT's session ends when the token does.
    let session_id = state.console.sessions.open(principal.clone(), kept);
    info!(target: "veto::audit", action = "console_sign_in", principal = %principal.name);
    let mut response = Redirect::to(paths::HOME).into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(session_cookie(tls), &session_id, tls, None),
    );
    cookies.append(
        header::SET_COOKIE,
        set_cookie(signin_cookie(tls), "", tls, Some(0)),
    );
    Ok(response)
}

/// The sign-out form carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct SignOutForm {}

/// `POST /ui/logout`: ends the session.
pub async fn sign_out(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Posted { session, .. }: Posted<SignOutForm>,
) -> Response {
    state.console.sessions.close(session.key);
    info!(target: "veto::audit", action = "console_sign_out", principal = %session.principal.name);
    let tls = over_tls(&headers, state.settings.ui.secure_cookie);
    let mut response = Redirect::to(paths::SIGN_IN).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie(tls), "", tls, Some(0)),
    );
    response
}
