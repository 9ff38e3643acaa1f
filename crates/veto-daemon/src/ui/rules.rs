//! The rules: every live rule, a page at a time, filtered by kind and issuer scope.
//!
//! Paging uses the API's cursor (`kind:digest`, the index's order). The index is
//! ordered by kind and digest, not by issuer, so an issuer filter scans: at most
//! [`SCAN_LIMIT`] rules per page request, after which the page ends early with a link
//! to go on, so that no request walks a million rules under the index's lock at once.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use veto_proto::{KeyDigest, RuleKind, UnixSeconds};

use super::error::UiError;
use super::extract::{SignedIn, parse_query};
use super::find::{find_url, given, parse_kind};
use super::layout::{self, Chrome, Section, kind_options, or_none, when};
use super::paths;
use crate::auth::Permission;
use crate::index::StoredRule;
use crate::state::AppState;

/// Rules per page.
pub const PAGE_SIZE: usize = 50;
/// Most rules one page request looks at when filtering by issuer.
pub const SCAN_LIMIT: usize = 20_000;
/// Rules read from the index at a time while scanning.
const SCAN_BATCH: usize = 500;

/// `GET /ui/rules` query.
#[derive(Debug, Default, Deserialize)]
pub struct RulesQuery {
    kind: Option<String>,
    iss: Option<String>,
    cursor: Option<String>,
}

/// A page of rules, and where the next one starts.
#[derive(Debug)]
pub struct RulesPage {
    /// The rules.
    pub rules: Vec<StoredRule>,
    /// The cursor of the next page, if there is more.
    pub next_cursor: Option<String>,
}

fn cursor_of(stored: &StoredRule) -> String {
    format!("{}:{}", stored.rule.kind, stored.rule.digest())
}

fn parse_cursor(cursor: &str) -> Result<(RuleKind, KeyDigest), UiError> {
    let invalid = || {
        UiError::new(
            StatusCode::BAD_REQUEST,
            "that page link is not valid: start from the first page",
        )
    };
    let (kind, digest) = cursor.split_once(':').ok_or_else(invalid)?;
    Ok((
        kind.parse().map_err(|_| invalid())?,
        digest.parse().map_err(|_| invalid())?,
    ))
}

/// Up to `PAGE_SIZE` rules of `kind` (any, if none) scoped to `iss` (any scope, if
/// none), after `after`.
pub fn page_of(
    state: &AppState,
    kind: Option<RuleKind>,
    iss: Option<&str>,
    mut after: Option<(RuleKind, KeyDigest)>,
) -> RulesPage {
    let mut rules = Vec::with_capacity(PAGE_SIZE);
    let mut scanned = 0;
    loop {
        let batch = state.index.rules(kind, after, SCAN_BATCH);
        let exhausted = batch.len() < SCAN_BATCH;
        for stored in batch {
            scanned += 1;
            after = Some((stored.rule.kind, stored.rule.digest()));
            if iss.is_none() || stored.rule.iss.as_deref() == iss {
                if rules.len() == PAGE_SIZE {
                    // One more exists: the page is full and has a next one.
                    let next_cursor = rules.last().map(cursor_of);
                    return RulesPage { rules, next_cursor };
                }
                rules.push(stored);
            }
        }
        if exhausted {
            return RulesPage {
                rules,
                next_cursor: None,
            };
        }
        if scanned >= SCAN_LIMIT {
            // Stop scanning here; the next page goes on from the last rule looked at.
            let next_cursor = after.map(|(kind, digest)| format!("{kind}:{digest}"));
            return RulesPage { rules, next_cursor };
        }
    }
}

fn page_url(kind: Option<RuleKind>, iss: Option<&str>, cursor: Option<&str>) -> String {
    let mut query = Vec::new();
    query.extend(kind.map(|kind| ("kind", kind.as_str())));
    query.extend(iss.map(|iss| ("iss", iss)));
    query.extend(cursor.map(|cursor| ("cursor", cursor)));
    if query.is_empty() {
        return paths::RULES.to_owned();
    }
    format!(
        "{}?{}",
        paths::RULES,
        serde_urlencoded::to_string(&query).unwrap_or_default()
    )
}

/// `GET /ui/rules`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    session.principal.require(Permission::Read)?;
    let query: RulesQuery = parse_query(query.as_deref())?;
    let kind = given(&query.kind).map(parse_kind).transpose()?;
    let iss = given(&query.iss);
    let after = given(&query.cursor).map(parse_cursor).transpose()?;
    if !state.list.is_ready() {
        return Err(UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the list is still loading; try again in a moment",
        ));
    }
    let page = page_of(&state, kind, iss, after);
    let now = UnixSeconds::now();
    let content = html! {
        form.card #rules-filter method="get" action=(paths::RULES) aria-label="Filter the rules" {
            div.row {
                p { label for="rules-kind" { "Kind" } select #rules-kind name="kind" { (kind_options(kind, Some("any kind"))) } }
                p { label for="rules-iss" { "Issuer scope (exact; empty: any)" } input #rules-iss type="text" name="iss" value=[iss] autocomplete="off"; }
            }
            button type="submit" { "Filter" }
        }
        @if page.rules.is_empty() {
            p #rules-empty { "No live rule matches." }
        } @else {
            div.table-wrap {
                table #rules-table {
                    caption {
                        (page.rules.len()) " live rule" @if page.rules.len() != 1 { "s" }
                        @if after.is_some() { " (a later page)" }
                    }
                    thead {
                        tr {
                            th scope="col" { "Kind" }
                            th scope="col" { "Value" }
                            th scope="col" { "Issuer scope" }
                            th scope="col" { "Issued before" }
                            th scope="col" { "Kept until" }
                            th scope="col" { "Reason" }
                            th scope="col" { "Revoked by" }
                            th scope="col" { "Sequence" }
                        }
                    }
                    tbody {
                        @for stored in &page.rules {
                            @let rule = &stored.rule;
                            tr {
                                td { (rule.kind.as_str()) }
                                td {
                                    a href=(find_url(rule.kind, rule.value.as_deref(), rule.iss.as_deref())) {
                                        @match &rule.value { Some(value) => (value), None => "(every token)" }
                                    }
                                }
                                td { (rule.iss.as_deref().unwrap_or("every issuer")) }
                                td { @match rule.issued_before { Some(at) => (when(at, now)), None => (or_none(None)) } }
                                td { (when(rule.expires_at, now)) }
                                td { (or_none(rule.reason.as_deref())) }
                                td { (or_none(rule.revoked_by.as_deref())) }
                                td { (stored.sequence) }
                            }
                        }
                    }
                }
            }
        }
        nav aria-label="Pages" {
            p.pager {
                @if after.is_some() { a href=(page_url(kind, iss, None)) { "First page" } }
                @if let Some(next) = &page.next_cursor { a #rules-next href=(page_url(kind, iss, Some(next))) { "Next page" } }
            }
        }
    };
    let chrome = Chrome {
        session: &session,
        section: Section::Rules,
        flash: state.console.sessions.take_flash(session.key),
        error: None,
    };
    Ok(Html(layout::page("Rules", Some(chrome), content).into_string()).into_response())
}
