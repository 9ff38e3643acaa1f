//! Liveness, readiness, status and metrics: no authentication (none of them says more
//! than `/metrics` does).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use veto_api::{DaemonStatus, Health, ListStatus, RulesByKind, StreamStatus};
use veto_proto::RuleKind;

use crate::metrics::names;
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        reasons: Vec::new(),
    })
}

/// What keeps the daemon from being ready, if anything.
fn not_ready_reasons(state: &AppState) -> Vec<String> {
    let mut reasons = Vec::new();
    if state.client.connection_state() != async_nats::connection::State::Connected {
        reasons.push("nats_disconnected".to_owned());
    }
    if !state
        .ticks
        .recent(state.settings.api.tick_interval * 3 + Duration::from_secs(1))
    {
        reasons.push("stream_not_acknowledging".to_owned());
    }
    if !state.list.is_ready() {
        reasons.push("list_loading".to_owned());
    }
    reasons
}

fn readiness(state: &AppState) -> Health {
    let reasons = not_ready_reasons(state);
    Health {
        status: if reasons.is_empty() { "ready" } else { "not_ready" }.to_owned(),
        reasons,
    }
}

/// Ready to take writes and answer reads: NATS connected, the stream acknowledging
/// (ticks), and the daemon's replica loaded.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let health = readiness(&state);
    let status = if health.reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}

/// Live rules by kind in the daemon's replica.
fn rules_by_kind(state: &AppState) -> RulesByKind {
    let [jti, sub, sid, all] = state.list.stats().live_by_kind;
    RulesByKind { jti, sub, sid, all }
}

/// This daemon, machine-readable: readiness, its replica of the list, the stream.
#[utoipa::path(get, path = "/v1/status", tag = "health", responses((status = 200, body = DaemonStatus)))]
pub async fn status(State(state): State<Arc<AppState>>) -> Json<DaemonStatus> {
    let stream_info =
        tokio::time::timeout(state.settings.api.publish_timeout, state.publisher.stream_info()).await;
    let (last_sequence, messages) = match stream_info {
        Ok(Ok(info)) => (Some(info.state.last_sequence), Some(info.state.messages)),
        _ => (None, None),
    };
    let freshness_age_ms = state.list.freshness().map(|at| {
        std::time::SystemTime::now()
            .duration_since(at)
            .unwrap_or_default()
            .as_millis() as u64
    });
    Json(DaemonStatus {
        daemon_id: state.daemon_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        readiness: readiness(&state),
        list: ListStatus {
            ready: state.list.is_ready(),
            stale: state.list.is_stale(),
            freshness_age_ms,
            applied_sequence: state.list.stats().last_sequence,
            live: rules_by_kind(&state),
        },
        stream: StreamStatus {
            name: state.settings.stream.name.clone(),
            last_sequence,
            messages,
        },
    })
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let live = state.list.stats().live_by_kind;
    for (kind, live) in RuleKind::EVERY.into_iter().zip(live) {
        metrics::gauge!(names::RULES_LIVE, "kind" => kind.as_str()).set(live as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::prometheus().render(),
    )
}
