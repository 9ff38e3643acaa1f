//! The admin API: routes and limits. The OpenAPI document is [`openapi`]'s.

pub mod consistency;
pub mod extract;
pub mod fleet;
pub mod health;
pub mod idp;
pub mod oauth;
pub mod openapi;
pub mod revocations;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use veto_api::ErrorCode;
use veto_api::routes;

use crate::error::ApiError;
use crate::idempotency::{self, Idempotency, IdempotencyStore};
use crate::state::AppState;

/// The router; built by a function so tests can drive it without a socket.
pub fn router(state: Arc<AppState>) -> Router {
    let api = &state.settings.api;
    // One store for both revocation routes (a key is scoped to its route).
    let answers = Arc::new(IdempotencyStore::new(
        api.idempotency_ttl,
        api.idempotency_max_bytes,
    ));
    let idempotent = |body_limit: usize| {
        middleware::from_fn_with_state(
            Idempotency {
                store: Arc::clone(&answers),
                authenticator: state.authenticator.clone(),
                body_limit,
            },
            idempotency::layer,
        )
    };
    let batch = post(revocations::revoke_batch)
        .layer(DefaultBodyLimit::max(api.max_batch_body_bytes))
        .layer(idempotent(api.max_batch_body_bytes));
    // A request never outlives its publish timeout by much (a write that waits for the
    // fleet, its wait too); this bounds the rest.
    let limits = TimeLimits {
        any: api.publish_timeout + Duration::from_secs(5),
        waiting: api.publish_timeout + state.settings.fleet.max_wait + Duration::from_secs(5),
    };
    // The console's HTML routes are not part of the JSON API (not in veto-api's ROUTES
    // nor the OpenAPI document); turned off, `/ui` is no route at all.
    let console = if state.settings.ui.enabled {
        crate::ui::router()
    } else {
        Router::new()
    };
    Router::new()
        .route(
            routes::REVOCATIONS,
            post(revocations::revoke)
                .layer(idempotent(api.max_body_bytes))
                .get(revocations::list),
        )
        .route(routes::REVOCATIONS_BATCH, batch)
        .route(
            routes::REVOCATION_BY_KIND,
            get(revocations::get_all).delete(revocations::lift_all),
        )
        .route(
            routes::REVOCATION_BY_KEY,
            get(revocations::get).delete(revocations::lift),
        )
        .route(routes::OAUTH_REVOKE, post(oauth::revoke_token))
        .route(
            &state.settings.idp.backchannel_logout_path,
            post(idp::backchannel_logout),
        )
        .route(&state.settings.idp.ssf_events_path, post(idp::ssf_events))
        .route(
            routes::SNAPSHOT,
            get(stream::snapshot).post(stream::write_snapshot),
        )
        .route(routes::CHANGES, get(stream::changes))
        .route(routes::FLEET, get(fleet::fleet))
        .route(routes::STATUS, get(health::status))
        .route(routes::HEALTHZ, get(health::healthz))
        .route(routes::READYZ, get(health::readyz))
        .route(routes::METRICS, get(health::metrics))
        .route(routes::OPENAPI, get(openapi::serve))
        .merge(console)
        .fallback(|| async { ApiError::new(ErrorCode::NoSuchRoute, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(api.max_body_bytes))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(middleware::from_fn_with_state(limits, time_limit))
        .with_state(state)
}

/// How long a request may take.
#[derive(Clone, Copy, Debug)]
struct TimeLimits {
    /// Any request.
    any: Duration,
    /// A request that asks to wait for the fleet (`?wait=`): longer by `fleet.max_wait`.
    waiting: Duration,
}

/// Answers `request_timeout` (408, with the JSON error body) when a request takes
/// longer than its limit.
async fn time_limit(State(limits): State<TimeLimits>, request: Request, next: Next) -> Response {
    let waits = request
        .uri()
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("wait=")));
    let limit = if waits { limits.waiting } else { limits.any };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::RequestTimeout, "the request took too long").into_response(),
    }
}
