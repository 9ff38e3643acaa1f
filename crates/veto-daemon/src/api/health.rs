//! Liveness, readiness, metrics, and the OpenAPI document: no authentication.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use veto_proto::RuleKind;

use crate::metrics as names;
use crate::state::AppState;

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok`, `ready` or `not_ready`.
    pub status: &'static str,
    /// What is missing, when not ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok",
        reasons: Vec::new(),
    })
}

/// Ready to take writes and answer reads: NATS connected, the stream acknowledging
/// (ticks), and the daemon's replica loaded.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Status), (status = 503, body = Status)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut reasons = Vec::new();
    if state.client.connection_state() != async_nats::connection::State::Connected {
        reasons.push("nats_disconnected");
    }
    if !state
        .ticks
        .recent(state.settings.api.tick_interval * 3 + std::time::Duration::from_secs(1))
    {
        reasons.push("stream_not_acknowledging");
    }
    if !state.list.is_ready() {
        reasons.push("list_loading");
    }
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Status {
        status: if reasons.is_empty() { "ready" } else { "not_ready" },
        reasons,
    };
    (status, Json(body))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let stats = state.list.stats();
    for (kind, live) in RuleKind::EVERY.into_iter().zip(stats.live_by_kind) {
        metrics::gauge!(names::RULES_LIVE, "kind" => kind.as_str()).set(live as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::prometheus().render(),
    )
}

/// This API's OpenAPI document, generated from the code.
pub async fn openapi() -> impl IntoResponse {
    Json(super::ApiDoc::openapi())
}
