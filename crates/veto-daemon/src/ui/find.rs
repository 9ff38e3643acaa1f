//! Find and act: look a key up (kind, value, optional issuer), revoke, lift.
//!
//! Writes go through the API's own path (`revocations::revoke_one`,
//! `revocations::lift_key`): the same validation, the same durable compare-and-set
//! publish, the same audit line, the same rate limit. The console adds what a person
//! at a form needs: revoking `all` takes the typed phrase `revoke all`, and a lift
//! takes a reason and a ticked box that names exactly what is lifted (with
//! JavaScript, also a confirmation dialog naming it). A refused form is shown again
//! with its values and the reason, answering the API's status; nothing changed.
//!
//! Longer than most files on purpose: one page with its forms, handlers and markup
//! together, as every console page is.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use veto_api::{KeyQuery, instant};
use veto_proto::{RuleKind, UnixSeconds};

use super::error::UiError;
use super::extract::{Posted, SignedIn, parse_query};
use super::layout::{self, Chrome, Section, csrf_field, kind_options, may, or_none, when};
use super::paths;
use super::session::Flash;
use crate::api::revocations;
use crate::auth::Permission;
use crate::index::StoredRule;
use crate::publisher::Outcome;
use crate::state::AppState;

/// The phrase that confirms revoking every token.
pub const REVOKE_ALL_PHRASE: &str = "revoke all";

/// A form field's text, trimmed; empty counts as absent.
pub fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|text| !text.is_empty())
}

/// `kind` as a rule kind, or a 400 naming the kinds.
pub fn parse_kind(kind: &str) -> Result<RuleKind, UiError> {
    kind.trim().parse().map_err(|_| {
        UiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown kind {:?}: use jti, sub, sid or all", kind.trim()),
        )
    })
}

/// How a scope reads: `at issuer X` or `at every issuer`.
pub fn scope_text(iss: Option<&str>) -> String {
    match iss {
        Some(iss) => format!("at issuer {iss}"),
        None => "at every issuer".to_owned(),
    }
}

/// How a key reads: `jti “abc” at every issuer`, `all at issuer X`.
pub fn key_text(kind: RuleKind, value: Option<&str>, iss: Option<&str>) -> String {
    match value {
        Some(value) => format!("{kind} “{value}” {}", scope_text(iss)),
        None => format!("{kind} {}", scope_text(iss)),
    }
}

/// The find page's address for a key.
pub fn find_url(kind: RuleKind, value: Option<&str>, iss: Option<&str>) -> String {
    let mut query = vec![("kind", kind.as_str())];
    query.extend(value.map(|value| ("value", value)));
    query.extend(iss.map(|iss| ("iss", iss)));
    format!(
        "{}?{}",
        paths::FIND,
        serde_urlencoded::to_string(&query).unwrap_or_default()
    )
}

/// `GET /ui/find` query: the key to look up.
#[derive(Debug, Default, Deserialize)]
pub struct FindQuery {
    kind: Option<String>,
    value: Option<String>,
    iss: Option<String>,
}

/// The revoke form.
#[derive(Debug, Default, Deserialize)]
pub struct RevokeForm {
    kind: Option<String>,
    value: Option<String>,
    iss: Option<String>,
    exp: Option<String>,
    issued_before: Option<String>,
    reason: Option<String>,
    confirm: Option<String>,
}

/// The lift form.
#[derive(Debug, Default, Deserialize)]
pub struct LiftForm {
    kind: Option<String>,
    value: Option<String>,
    iss: Option<String>,
    /// The version of the rule the page showed: the lift lifts only that one.
    version: Option<u64>,
    reason: Option<String>,
    confirm: Option<String>,
}

fn rule_details(stored: &StoredRule, now: UnixSeconds) -> Markup {
    let rule = &stored.rule;
    html! {
        dl.rule {
            dt { "Kind" } dd { (rule.kind.as_str()) }
            dt { "Value" } dd { (or_none(rule.value.as_deref())) }
            dt { "Issuer scope" } dd { (rule.iss.as_deref().unwrap_or("every issuer")) }
            @if let Some(issued_before) = rule.issued_before {
                dt { "Revokes tokens issued before" } dd { (when(issued_before, now)) }
            }
            dt { "Kept until" } dd { (when(rule.expires_at, now)) }
            dt { "Reason" } dd { (or_none(rule.reason.as_deref())) }
            dt { "Revoked by" } dd { (or_none(rule.revoked_by.as_deref())) }
            dt { "Revoked at" } dd { (when(rule.revoked_at, now)) }
            dt { "Stream sequence" } dd { (stored.sequence) }
            dt { "Key digest" } dd { code { (rule.digest()) } }
        }
    }
}

fn lift_form(session: &SignedIn, stored: &StoredRule, values: &LiftForm) -> Markup {
    let rule = &stored.rule;
    let what = key_text(rule.kind, rule.value.as_deref(), rule.iss.as_deref());
    html! {
        form #lift-form method="post" action=(paths::LIFT)
            data-confirm=(format!("Lift the rule for {what}? Tokens it revokes become valid again.")) {
            (csrf_field(&session.csrf))
            input type="hidden" name="kind" value=(rule.kind.as_str());
            @if let Some(value) = &rule.value { input type="hidden" name="value" value=(value); }
            @if let Some(iss) = &rule.iss { input type="hidden" name="iss" value=(iss); }
            input type="hidden" name="version" value=(stored.sequence);
            h3 { "Lift this rule" }
            p {
                label for="lift-reason" { "Reason (for the audit trail)" }
                input #lift-reason type="text" name="reason" required maxlength="512" value=[given(&values.reason)];
            }
            p.check {
                input #lift-confirm type="checkbox" name="confirm" value="yes" required;
                label for="lift-confirm" { "I am lifting the rule for " strong { (what) } ": tokens it revokes become valid again." }
            }
            button.danger type="submit" { "Lift the rule for " (what) }
        }
    }
}

fn lookup_section(state: &AppState, session: &SignedIn, query: &FindQuery, lift: &LiftForm) -> Markup {
    let now = UnixSeconds::now();
    let kind = given(&query.kind).map(parse_kind);
    let (value, iss) = (given(&query.value), given(&query.iss));
    let selected = kind.as_ref().and_then(|kind| kind.as_ref().ok()).copied();
    html! {
        section.card aria-labelledby="lookup-heading" {
            h2 #lookup-heading { "Look a key up" }
            form #lookup-form method="get" action=(paths::FIND) {
                div.row {
                    p { label for="lookup-kind" { "Kind" } select #lookup-kind name="kind" { (kind_options(selected.or(Some(RuleKind::Jti)), None)) } }
                    p { label for="lookup-value" { "Value (empty for all)" } input #lookup-value type="text" name="value" value=[value] autocomplete="off"; }
                    p { label for="lookup-iss" { "Issuer scope (empty: every issuer)" } input #lookup-iss type="text" name="iss" value=[iss] autocomplete="off"; }
                }
                button type="submit" { "Look up" }
            }
            @match kind {
                None => {}
                Some(Err(error)) => p.flash.error { (error.message()) },
                Some(Ok(kind)) => {
                    @if kind.has_value() && value.is_none() {
                        p.flash.error { "A " (kind.as_str()) " rule has a value: enter it." }
                    } @else if !state.list.is_ready() {
                        p.flash.error { "The list is still loading; try again in a moment." }
                    } @else {
                        @let value = if kind.has_value() { value } else { None };
                        @match state.index.rule(kind, iss, value) {
                            Some(stored) => {
                                div #lookup-result {
                                    h3 { "Revoked: " (key_text(kind, value, iss)) }
                                    (rule_details(&stored, now))
                                    @if may(session, Permission::Lift) { (lift_form(session, &stored, lift)) }
                                }
                            }
                            None => p #lookup-result { "No live rule for " (key_text(kind, value, iss)) "." },
                        }
                    }
                }
            }
        }
    }
}

fn revoke_section(session: &SignedIn, values: &RevokeForm) -> Markup {
    let kind = given(&values.kind)
        .and_then(|kind| kind.parse::<RuleKind>().ok())
        .unwrap_or(RuleKind::Jti);
    html! {
        section.card aria-labelledby="revoke-heading" {
            h2 #revoke-heading { "Revoke" }
            form #revoke-form method="post" action=(paths::REVOKE) {
                (csrf_field(&session.csrf))
                div.row {
                    p { label for="revoke-kind" { "Kind" } select #revoke-kind name="kind" { (kind_options(Some(kind), None)) } }
                    p data-kinds="jti sub sid" {
                        label for="revoke-value" { "Value (the claim's value)" }
                        input #revoke-value type="text" name="value" value=[given(&values.value)] autocomplete="off" spellcheck="false";
                    }
                    p {
                        label for="revoke-iss" { "Issuer scope (optional; empty: every issuer)" }
                        input #revoke-iss type="text" name="iss" value=[given(&values.iss)] autocomplete="off";
                    }
                }
                div.row {
                    p data-kinds="jti" {
                        label for="revoke-exp" { "Token expiry (jti only; empty: the longest token lifetime)" }
                        input #revoke-exp type="text" name="exp" value=[given(&values.exp)] aria-describedby="instant-hint" autocomplete="off";
                    }
                    p data-kinds="sub sid all" {
                        label for="revoke-before" { "Revoke tokens issued before (sub, sid, all; empty: now)" }
                        input #revoke-before type="text" name="issued_before" value=[given(&values.issued_before)] aria-describedby="instant-hint" autocomplete="off";
                    }
                    p {
                        label for="revoke-reason" { "Reason (optional, for the audit trail)" }
                        input #revoke-reason type="text" name="reason" value=[given(&values.reason)] maxlength="512";
                    }
                }
                p #instant-hint .hint { "Instants: " (instant::ACCEPTED) "." }
                p data-kinds="all" {
                    label for="revoke-confirm" { "Revoking all revokes every token (in the issuer scope) issued before the instant. To confirm, type " kbd { (REVOKE_ALL_PHRASE) } }
                    input #revoke-confirm type="text" name="confirm" autocomplete="off" spellcheck="false";
                }
                button.danger #revoke-submit type="submit" { "Revoke" }
            }
        }
    }
}

fn render(
    state: &AppState,
    session: &SignedIn,
    query: &FindQuery,
    revoke: &RevokeForm,
    lift: &LiftForm,
    error: Option<String>,
) -> Markup {
    let content = html! {
        (lookup_section(state, session, query, lift))
        @if may(session, Permission::Revoke) {
            (revoke_section(session, revoke))
        } @else {
            p.hint #read-only { "Your credential may not revoke: the console offers no revoke form." }
        }
    };
    let chrome = Chrome {
        session,
        section: Section::Find,
        flash: state.console.sessions.take_flash(session.key),
        error,
    };
    layout::page("Find and act", Some(chrome), content)
}

/// `GET /ui/find`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    session.principal.require(Permission::Read)?;
    let query: FindQuery = parse_query(query.as_deref())?;
    let status = match given(&query.kind).map(parse_kind) {
        Some(Err(error)) => error.status(),
        _ => StatusCode::OK,
    };
    let markup = render(
        &state,
        &session,
        &query,
        &RevokeForm::default(),
        &LiftForm::default(),
        None,
    );
    Ok((status, Html(markup.into_string())).into_response())
}

/// A refused form, shown again with its values and the reason.
fn refused(
    state: &AppState,
    session: &SignedIn,
    query: FindQuery,
    revoke: &RevokeForm,
    lift: &LiftForm,
    error: UiError,
) -> Response {
    if error.status() == StatusCode::FORBIDDEN {
        return error.into_response();
    }
    let markup = render(
        state,
        session,
        &query,
        revoke,
        lift,
        Some(error.message().to_owned()),
    );
    (error.status(), Html(markup.into_string())).into_response()
}

async fn try_revoke(state: &AppState, session: &SignedIn, form: &RevokeForm) -> Result<String, UiError> {
    session.principal.require(Permission::Revoke)?;
    let kind = parse_kind(given(&form.kind).unwrap_or_default())?;
    let (value, iss) = (given(&form.value), given(&form.iss));
    if kind == RuleKind::All && given(&form.confirm) != Some(REVOKE_ALL_PHRASE) {
        return Err(UiError::invalid(format!(
            "revoking all needs the typed confirmation: type {REVOKE_ALL_PHRASE}"
        )));
    }
    let now = UnixSeconds::now();
    let instant = |field: &Option<String>| {
        given(field)
            .map(|text| instant::parse(text, now))
            .transpose()
            .map_err(UiError::invalid)
    };
    let request = json!({
        "kind": kind.as_str(),
        "value": value,
        "iss": iss,
        "exp": instant(&form.exp)?,
        "issued_before": instant(&form.issued_before)?,
        "reason": given(&form.reason),
    });
    state.rate_limiter.check(&session.principal.name)?;
    let (stored, outcome) = revocations::revoke_one(state, &session.principal, request).await?;
    let what = key_text(kind, value, iss);
    let message = match outcome {
        Outcome::Published => format!("Revoked {what}: stored at stream sequence {}.", stored.sequence),
        Outcome::AlreadyCovered => format!(
            "{what} was already revoked at least as strongly (stream sequence {}): nothing changed.",
            stored.sequence
        ),
    };
    state
        .console
        .sessions
        .set_flash(session.key, Flash::success(message));
    Ok(find_url(kind, value, iss))
}

/// `POST /ui/revoke`.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Posted { session, form }: Posted<RevokeForm>,
) -> Response {
    match try_revoke(&state, &session, &form).await {
        Ok(location) => Redirect::to(&location).into_response(),
        Err(error) => refused(
            &state,
            &session,
            FindQuery::default(),
            &form,
            &LiftForm::default(),
            error,
        ),
    }
}

async fn try_lift(state: &AppState, session: &SignedIn, form: &LiftForm) -> Result<String, UiError> {
    session.principal.require(Permission::Lift)?;
    let kind = parse_kind(given(&form.kind).unwrap_or_default())?;
    let (value, iss) = (given(&form.value), given(&form.iss));
    let what = key_text(kind, value, iss);
    if given(&form.confirm) != Some("yes") {
        return Err(UiError::invalid(format!(
            "to lift, tick the box that confirms you are lifting the rule for {what}"
        )));
    }
    let Some(reason) = given(&form.reason) else {
        return Err(UiError::invalid("a lift needs a reason, for the audit trail"));
    };
    let query = KeyQuery {
        iss: iss.map(str::to_owned),
        reason: Some(reason.to_owned()),
        ..KeyQuery::default()
    };
    // The page named one version of the rule: lift that one or none (409 otherwise).
    let mut if_match = axum::http::HeaderMap::new();
    if let Some(version) = form.version
        && let Ok(etag) = axum::http::HeaderValue::from_str(&veto_api::routes::etag(version))
    {
        if_match.insert(axum::http::header::IF_MATCH, etag);
    }
    let axum::Json(lifted) = revocations::lift_key(
        state,
        &session.principal,
        kind.as_str(),
        value.map(str::to_owned),
        query,
        &veto_api::WaitQuery::default(),
        &if_match,
    )
    .await?;
    state.console.sessions.set_flash(
        session.key,
        Flash::success(format!(
            "Lifted the rule for {what} (stream sequence {}): tokens it revoked are valid again.",
            lifted.sequence
        )),
    );
    Ok(find_url(kind, value, iss))
}

/// `POST /ui/lift`.
pub async fn lift(
    State(state): State<Arc<AppState>>,
    Posted { session, form }: Posted<LiftForm>,
) -> Response {
    match try_lift(&state, &session, &form).await {
        Ok(location) => Redirect::to(&location).into_response(),
        Err(error) => {
            let query = FindQuery {
                kind: form.kind.clone(),
                value: form.value.clone(),
                iss: form.iss.clone(),
            };
            refused(&state, &session, query, &RevokeForm::default(), &form, error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_and_link_as_people_expect() {
        assert_eq!(
            key_text(RuleKind::Jti, Some("t 1"), None),
            "jti “t 1” at every issuer"
        );
        assert_eq!(
            key_text(RuleKind::All, None, Some("https://idp")),
            "all at issuer https://idp"
        );
        assert_eq!(
            find_url(RuleKind::Sub, Some("a&b"), Some("https://idp")),
            "/ui/find?kind=sub&value=a%26b&iss=https%3A%2F%2Fidp"
        );
        assert_eq!(given(&Some("  ".into())), None);
        assert_eq!(given(&Some(" x ".into())), Some("x"));
        assert_eq!(parse_kind("nope").unwrap_err().status(), StatusCode::BAD_REQUEST);
    }
}
