//! The admin API: routes, limits, and the OpenAPI document.

pub mod extract;
pub mod health;
pub mod oauth;
pub mod revocations;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The OpenAPI document, from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "veto admin API", description = "Revoke JWTs; each revocation is durable in NATS JetStream and broadcast to every service."),
    paths(
        revocations::revoke, revocations::revoke_batch, revocations::lift, revocations::lift_all,
        revocations::get, revocations::get_all, revocations::list, oauth::revoke_token,
        health::healthz, health::readyz, health::metrics,
    ),
    components(schemas(
        ErrorBody, revocations::RevokeRequest, revocations::RuleResponse, revocations::BatchRequest,
        revocations::BatchItemResult, revocations::BatchResponse, revocations::LiftResponse,
        revocations::ListResponse, oauth::RevokeTokenForm, health::Status,
        veto_proto::RevocationRule, veto_proto::RuleKind, veto_proto::UnixSeconds,
    )),
    modifiers(&BearerAuth)
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key or JWT")
                    .build(),
            ),
        );
    }
}

/// The router; built by a function so tests can drive it without a socket.
pub fn router(state: Arc<AppState>) -> Router {
    let api = &state.settings.api;
    let batch = post(revocations::revoke_batch).layer(DefaultBodyLimit::max(api.max_batch_body_bytes));
    // A request never outlives its publish timeout by much; this bounds the rest.
    let request_timeout = api.publish_timeout + Duration::from_secs(5);
    Router::new()
        .route(
            "/v1/revocations",
            post(revocations::revoke).get(revocations::list),
        )
        .route("/v1/revocations/batch", batch)
        .route(
            "/v1/revocations/{kind}",
            get(revocations::get_all).delete(revocations::lift_all),
        )
        .route(
            "/v1/revocations/{kind}/{value}",
            get(revocations::get).delete(revocations::lift),
        )
        .route("/oauth2/revoke", post(oauth::revoke_token))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi))
        .fallback(|| async { ApiError::no_such_route() })
        .method_not_allowed_fallback(|| async {
            ApiError::bad_request("method_not_allowed", "this route does not take that method")
                .with_status(StatusCode::METHOD_NOT_ALLOWED)
        })
        .layer(DefaultBodyLimit::max(api.max_body_bytes))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .with_state(state)
}
