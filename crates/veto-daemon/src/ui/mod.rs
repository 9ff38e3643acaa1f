//! The admin console: HTML pages under `/ui`, served by vetod itself (no separate
//! deployment, no JavaScript build chain), for the people who revoke without curl.
//!
//! Pages are rendered on the server and every form works without JavaScript; the one
//! hand-written script (`static/console.js`) only adds live updates (Server-Sent
//! Events) and confirmations. Pages: the overview (live rules by kind, the stream's
//! last sequence, this daemon's freshness, changes arriving live, the fleet summary),
//! find and act (look up, revoke, lift), the paged rule list, and the token
//! inspector.
//!
//! **Templates: maud, not askama.** Both check templates at compile time and escape by
//! default. maud's templates are Rust expressions: every value is a typed Rust value
//! the compiler checks where it is used, conditionals and loops are Rust's, and there
//! is no template directory to keep in step with the structs that fill it (askama
//! checks a template against its struct, but through its own expression language and
//! a derive per page). maud is also the lighter build (one small proc macro, no
//! template parser or configuration), which counts on a daemon that compiles
//! everywhere the tests run. The only way around its escaping is `PreEscaped`, which
//! this module never uses.
//!
//! **Security**, in one place: a credential is exchanged once for a server-side
//! session ([`session`]); every form carries a CSRF token ([`extract`]); the
//! principal's permissions are the API's, checked again by every handler that acts
//! (a read-only key sees no revoke or lift form, and a forged post is refused); writes
//! go through the API's own validation, durable publish and audit line
//! ([`crate::api::revocations`]); a strict Content-Security-Policy with no inline script
//! and `frame-ancestors 'none'` ([`assets`]); no token or key in a URL, a cookie or a
//! log line (sign-in and the inspector take them in POST bodies only).
//!
//! # Layout
//!
//! - [`settings`]: the `[ui]` section. [`session`]: sessions and their store;
//!   [`extract`]: signed-in requests, CSRF-checked forms, cookies; [`error`]: what a
//!   failed request shows.
//! - [`layout`]: the page shell; [`assets`]: the script, the style sheet and the
//!   security headers (instants in forms and on pages: [`veto_api::instant`], as the CLI
//!   reads them); [`token`]: reading a pasted JWT.
//! - Pages: [`signin`], [`overview`] (with the live event stream; [`feed`] is the
//!   observer that feeds it), [`find`], [`rules`], [`inspect`].

pub mod assets;
pub mod error;
pub mod extract;
pub mod feed;
pub mod find;
pub mod inspect;
pub mod layout;
pub mod overview;
pub mod rules;
pub mod session;
pub mod settings;
pub mod signin;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::watch;

use self::error::UiError;
use self::feed::ChangeFeed;
use self::session::SessionStore;
pub use self::settings::{SecureCookie, UiSettings};
use crate::state::AppState;

/// The console's paths.
pub mod paths {
    /// The overview.
    pub const HOME: &str = "/ui";
    /// Sign in (GET the form, POST the credential).
    pub const SIGN_IN: &str = "/ui/login";
    /// Sign out (POST).
    pub const SIGN_OUT: &str = "/ui/logout";
    /// The live event stream (Server-Sent Events).
    pub const EVENTS: &str = "/ui/events";
    /// Find and act.
    pub const FIND: &str = "/ui/find";
    /// Revoke (POST).
    pub const REVOKE: &str = "/ui/revoke";
    /// Lift (POST).
    pub const LIFT: &str = "/ui/lift";
    /// The rules.
    pub const RULES: &str = "/ui/rules";
    /// The token inspector (GET the form, POST a token).
    pub const INSPECT: &str = "/ui/inspect";
}

/// The console's shared state: sessions, the live feed, and the signal that ends the
/// live event streams at shutdown.
#[derive(Debug)]
pub struct Console {
    /// Open sessions.
    pub sessions: SessionStore,
    /// Changes as the replica applies them.
    pub feed: Arc<ChangeFeed>,
    closing: watch::Sender<bool>,
}

impl Console {
    /// A console with the `[ui]` settings.
    pub fn new(settings: &UiSettings) -> Console {
        Console {
            sessions: SessionStore::new(settings),
            feed: Arc::new(ChangeFeed::new()),
            closing: watch::Sender::new(false),
        }
    }

    /// Ends every live event stream (at shutdown: an open overview would otherwise
    /// hold the graceful drain for its whole grace period).
    pub fn close_live_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Console::close_live_streams`] was called.
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }
}

/// The console's routes (full paths, to be merged into the API's router), each
/// response with the console's security headers.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(paths::HOME, get(overview::page))
        .route("/ui/", get(overview::page))
        .route(paths::EVENTS, get(overview::events))
        .route(paths::SIGN_IN, get(signin::form).post(signin::sign_in))
        .route(paths::SIGN_OUT, post(signin::sign_out))
        .route(paths::FIND, get(find::page))
        .route(paths::REVOKE, post(find::revoke))
        .route(paths::LIFT, post(find::lift))
        .route(paths::RULES, get(rules::page))
        .route(paths::INSPECT, get(inspect::form).post(inspect::inspect))
        .route(assets::SCRIPT_PATH, get(assets::script))
        .route(assets::STYLE_PATH, get(assets::style))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .layer(middleware::from_fn(assets::security_headers))
}

async fn not_found() -> impl IntoResponse {
    UiError::new(StatusCode::NOT_FOUND, "there is no such console page")
}
