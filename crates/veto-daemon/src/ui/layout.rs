//! The page shell every console page shares, and small pieces of markup.
//!
//! Accessibility lives here once: a skip link, one `<main>` with the page's `<h1>`, the
//! navigation marked `aria-current`, a polite `role="status"` region for what just
//! succeeded and a `role="alert"` region for what failed (both `aria-live`), and
//! nothing that needs a pointer. maud escapes every interpolated value; nothing here
//! uses `PreEscaped`.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};
use veto_proto::{RuleKind, UnixSeconds};

use super::assets::{SCRIPT_PATH, STYLE_PATH, script_integrity, style_integrity};
use super::extract::SignedIn;
use super::paths;
use super::session::Flash;
use crate::auth::{Permission, Principal};
use veto_api::instant;

/// The console's sections, for the navigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The overview.
    Overview,
    /// Find and act.
    Find,
    /// The rules.
    Rules,
    /// The token inspector.
    Inspect,
}

const SECTIONS: [(Section, &str, &str); 4] = [
    (Section::Overview, paths::HOME, "Overview"),
    (Section::Find, paths::FIND, "Find and act"),
    (Section::Rules, paths::RULES, "Rules"),
    (Section::Inspect, paths::INSPECT, "Token inspector"),
];

/// What a signed-in page shows around its content.
#[derive(Debug)]
pub struct Chrome<'a> {
    /// The session.
    pub session: &'a SignedIn,
    /// The section, for `aria-current`.
    pub section: Section,
    /// A success message left by the previous request.
    pub flash: Option<Flash>,
    /// What went wrong with this request, if anything.
    pub error: Option<String>,
}

/// The permissions a principal has, for people: `revoke, lift, read`.
pub fn permissions(principal: &Principal) -> String {
    [Permission::Revoke, Permission::Lift, Permission::Read]
        .into_iter()
        .filter(|permission| principal.require(*permission).is_ok())
        .map(Permission::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the principal may use the forms that need `permission`.
pub fn may(session: &SignedIn, permission: Permission) -> bool {
    session.principal.require(permission).is_ok()
}

/// The hidden field with the session's CSRF token, which every form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · veto console" }
            link rel="stylesheet" href=(STYLE_PATH) integrity=(style_integrity());
            script src=(SCRIPT_PATH) integrity=(script_integrity()) defer {}
        }
    }
}

/// A whole page: `title` is also its `<h1>`.
pub fn page(title: &str, chrome: Option<Chrome<'_>>, content: Markup) -> Markup {
    let success = chrome.as_ref().and_then(|chrome| chrome.flash.clone());
    let error = chrome.as_ref().and_then(|chrome| chrome.error.clone());
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to main content" }
                header.top {
                    p.brand { a href=(paths::HOME) { "veto" } " console" }
                    @if let Some(chrome) = &chrome {
                        nav aria-label="Console sections" {
                            ul {
                                @for (section, href, label) in SECTIONS {
                                    li {
                                        a href=(href) aria-current=[(section == chrome.section).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                        div.who {
                            p {
                                "Signed in as " strong { (chrome.session.principal.name) }
                                " (" (permissions(&chrome.session.principal)) ")"
                            }
                            form method="post" action=(paths::SIGN_OUT) {
                                (csrf_field(&chrome.session.csrf))
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    div id="status" class="live" role="status" aria-live="polite" {
                        @if let Some(flash) = success { p.flash.ok { (flash.message) } }
                    }
                    div id="alert" class="live" role="alert" aria-live="assertive" {
                        @if let Some(error) = error { p.flash.error { (error) } }
                    }
                    (content)
                }
            }
        }
    }
}

/// A page for a request that failed before a page of its own could be shown.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    page(
        title,
        None,
        html! {
            p role="alert" { (message) }
            p { a href=(paths::HOME) { "Back to the console" } }
        },
    )
}

/// The options of a rule-kind `<select>`, `selected` chosen; `any` adds an empty
/// option first (for filters).
pub fn kind_options(selected: Option<RuleKind>, any: Option<&str>) -> Markup {
    html! {
        @if let Some(any) = any {
            option value="" selected[selected.is_none()] { (any) }
        }
        @for kind in RuleKind::EVERY {
            option value=(kind.as_str()) selected[selected == Some(kind)] { (kind.as_str()) }
        }
    }
}

/// An instant with its distance from now, in a `<time>` element.
pub fn when(at: UnixSeconds, now: UnixSeconds) -> Markup {
    html! { time datetime=(instant::rfc3339(at)) { (instant::describe(at, now)) } }
}

/// An optional text, or a dash that screen readers read as "none".
pub fn or_none(value: Option<&str>) -> Markup {
    html! {
        @match value {
            Some(value) => (value),
            None => span.none aria-label="none" { "—" },
        }
    }
}
