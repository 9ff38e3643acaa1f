//! The token inspector: paste a JWT, see its header and claims, whether it verifies
//! against a configured issuer (the `[oauth]` service-token issuers, then the admin
//! `[auth.jwt]` issuer: the daemon's own validators), what the list says of it and
//! which live rule matches, and revoke its `jti`, `sub` or `sid` in one click.
//!
//! The token arrives in a POST body (never a URL), is read in this request only, and is
//! neither stored, logged, nor shown back: the result page holds its decoded claims
//! (marked unverified unless a validator accepted it) and the revoke buttons carry
//! claim values, not the token. Pages are `no-store`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value};
use veto_client::Verdict;
use veto_proto::rule::TokenFacts;
use veto_proto::{RuleKind, UnixSeconds};

use super::error::UiError;
use super::extract::{Posted, SignedIn};
use super::find::{find_url, key_text};
use super::layout::{self, Chrome, Section, csrf_field, may, when};
use super::{paths, token};
use crate::auth::Permission;
use crate::index::StoredRule;
use crate::state::AppState;

/// The inspector's form.
#[derive(Debug, Deserialize)]
pub struct InspectForm {
    token: Option<String>,
}

/// Whether a configured validator accepted the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Signature, issuer, audience and times checked by this validator.
    Verified {
        /// Which configured issuers accepted it.
        by: &'static str,
    },
    /// No validator accepted it; why, per validator.
    Unverified {
        /// One reason per configured validator (or why none could try).
        reasons: Vec<String>,
    },
}

async fn verify(state: &AppState, token: &str) -> Verification {
    let validators = [
        (
            "the service-token issuers ([oauth])",
            state.oauth_validator.as_ref(),
        ),
        (
            "the admin-token issuer ([auth.jwt])",
            state.authenticator.jwt_validator(),
        ),
    ];
    let mut reasons = Vec::new();
    for (by, validator) in validators {
        let Some(validator) = validator else { continue };
        match validator.validate::<Map<String, Value>>(token).await {
            Ok(_) => return Verification::Verified { by },
            Err(error) => reasons.push(format!("{by}: {}", error.reason())),
        }
    }
    if reasons.is_empty() {
        reasons.push("no issuer is configured to verify against".to_owned());
    }
    Verification::Unverified { reasons }
}

/// The live rules that match the token's claims (each kind, scoped to its issuer and
/// unscoped), as the index holds them.
pub fn matching_rules(state: &AppState, facts: &TokenFacts<'_>, now: UnixSeconds) -> Vec<StoredRule> {
    let mut scopes = vec![None];
    if facts.iss.is_some() {
        scopes.insert(0, facts.iss);
    }
    let mut found = Vec::new();
    for kind in RuleKind::EVERY {
        let value = match kind {
            RuleKind::Jti => facts.jti,
            RuleKind::Sub => facts.sub,
            RuleKind::Sid => facts.sid,
            RuleKind::All => None,
        };
        if kind.has_value() && value.is_none() {
            continue;
        }
        for scope in &scopes {
            if let Some(stored) = state.index.rule(kind, *scope, value)
                && stored.rule.matches(facts, now)
            {
                found.push(stored);
            }
        }
    }
    found
}

fn pretty(object: &Map<String, Value>) -> String {
    serde_json::to_string_pretty(object).unwrap_or_default()
}

fn token_form(session: &SignedIn) -> Markup {
    html! {
        form.card #inspect-form method="post" action=(paths::INSPECT) {
            (csrf_field(&session.csrf))
            p {
                label for="token" { "JWT (header.payload.signature)" }
                textarea #token name="token" rows="6" required autocomplete="off" spellcheck="false"
                    aria-describedby="token-help" {}
            }
            p #token-help .hint {
                "The token is read for this page only: not stored, not logged, not shown back. "
                "Its claims are unverified unless a configured issuer's key verifies it."
            }
            button type="submit" { "Inspect" }
        }
    }
}

fn revoke_button(
    session: &SignedIn,
    kind: RuleKind,
    value: &str,
    iss: Option<&str>,
    exp: Option<UnixSeconds>,
) -> Markup {
    html! {
        form.inline method="post" action=(paths::REVOKE) {
            (csrf_field(&session.csrf))
            input type="hidden" name="kind" value=(kind.as_str());
            input type="hidden" name="value" value=(value);
            @if let Some(iss) = iss { input type="hidden" name="iss" value=(iss); }
            @if let Some(exp) = exp { input type="hidden" name="exp" value=(exp.0); }
            input type="hidden" name="reason" value="revoked from the token inspector";
            button.danger type="submit" id=(format!("revoke-token-{kind}")) { "Revoke " (key_text(kind, Some(value), iss)) }
        }
    }
}

fn result(
    state: &AppState,
    session: &SignedIn,
    pasted: &token::PastedToken,
    verification: &Verification,
) -> Markup {
    let now = UnixSeconds::now();
    let facts = pasted.facts();
    let verdict = state.list.check(&facts);
    let matching = matching_rules(state, &facts, now);
    let exp = pasted.instant("exp");
    html! {
        section.card #verification aria-labelledby="verification-heading" {
            h2 #verification-heading { "Signature" }
            @match verification {
                Verification::Verified { by } => p.verdict.ok { "Verified by " (by) ": signature, issuer, audience and expiry checked." },
                Verification::Unverified { reasons } => {
                    p.verdict.warn { strong { "Unverified." } " The claims below are what the token says, not proven." }
                    ul { @for reason in reasons { li { (reason) } } }
                }
            }
        }
        section.card #list-verdict aria-labelledby="verdict-heading" {
            h2 #verdict-heading { "The list's verdict" }
            p.verdict #verdict {
                @match verdict {
                    Verdict::Allowed => "Allowed: no live rule matches this token.",
                    Verdict::Revoked(kind) => { "Revoked by a " (kind.as_str()) " rule." }
                    Verdict::NotReady => "Unknown: this daemon's list is still loading.",
                    Verdict::Stale => "Unknown: this daemon's list is stale.",
                }
            }
            @if !matching.is_empty() {
                ul #matching-rules {
                    @for stored in &matching {
                        li {
                            a href=(find_url(stored.rule.kind, stored.rule.value.as_deref(), stored.rule.iss.as_deref())) {
                                (key_text(stored.rule.kind, stored.rule.value.as_deref(), stored.rule.iss.as_deref()))
                            }
                            " (stream sequence " (stored.sequence) ")"
                        }
                    }
                }
            }
        }
        @if may(session, Permission::Revoke) {
            section.card #revoke-token aria-labelledby="revoke-token-heading" {
                h2 #revoke-token-heading { "Revoke" }
                @if facts.jti.is_none() && facts.sub.is_none() && facts.sid.is_none() {
                    p { "The token has no jti, sub or sid to revoke it by." }
                }
                @if let Some(jti) = facts.jti { (revoke_button(session, RuleKind::Jti, jti, facts.iss, exp)) }
                @if let Some(sub) = facts.sub { (revoke_button(session, RuleKind::Sub, sub, facts.iss, None)) }
                @if let Some(sid) = facts.sid { (revoke_button(session, RuleKind::Sid, sid, facts.iss, None)) }
                p.hint { "A jti rule lasts until the token's expiry; a sub or sid rule revokes every such token issued until now." }
            }
        }
        div.grid {
            section.card aria-labelledby="header-heading" {
                h2 #header-heading { "Header" }
                pre #token-header { code { (pretty(&pasted.header)) } }
            }
            section.card aria-labelledby="claims-heading" {
                h2 #claims-heading { "Claims" }
                pre #token-claims { code { (pretty(&pasted.claims)) } }
                dl {
                    @for claim in ["iat", "nbf", "exp"] {
                        @if let Some(at) = pasted.instant(claim) { dt { (claim) } dd { (when(at, now)) } }
                    }
                }
            }
        }
    }
}

fn render(state: &AppState, session: &SignedIn, content: Markup, error: Option<String>) -> Markup {
    let chrome = Chrome {
        session,
        section: Section::Inspect,
        flash: state.console.sessions.take_flash(session.key),
        error,
    };
    layout::page("Token inspector", Some(chrome), content)
}

/// `GET /ui/inspect`: the form.
pub async fn form(State(state): State<Arc<AppState>>, session: SignedIn) -> Result<Response, UiError> {
    session.principal.require(Permission::Read)?;
    let content = token_form(&session);
    Ok(Html(render(&state, &session, content, None).into_string()).into_response())
}

/// `POST /ui/inspect`: a token's header, claims, verification and verdict.
pub async fn inspect(
    State(state): State<Arc<AppState>>,
    Posted { session, form }: Posted<InspectForm>,
) -> Result<Response, UiError> {
    session.principal.require(Permission::Read)?;
    let pasted = form.token.unwrap_or_default();
    match token::read(&pasted) {
        Ok((pasted, bare)) => {
            let verification = verify(&state, bare).await;
            let content = html! {
                (result(&state, &session, &pasted, &verification))
                h2 { "Inspect another token" }
                (token_form(&session))
            };
            Ok(Html(render(&state, &session, content, None).into_string()).into_response())
        }
        Err(reason) => {
            let error = UiError::invalid(format!("That is not a readable JWT: {reason}."));
            let markup = render(
                &state,
                &session,
                token_form(&session),
                Some(error.message().to_owned()),
            );
            Ok((error.status(), Html(markup.into_string())).into_response())
        }
    }
}
