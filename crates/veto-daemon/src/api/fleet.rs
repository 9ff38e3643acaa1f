//! `GET /v1/fleet`: every service instance that reports presence, grouped by service,
//! with what each applied and how far behind the stream it is.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use veto_api::FleetResponse;

use super::extract::Authenticated;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::state::AppState;

/// The stream's last sequence as JetStream reports it, bounded by the publish timeout
/// (`None`: NATS did not answer in time).
pub async fn stream_last_sequence(state: &AppState) -> Option<u64> {
    let info = tokio::time::timeout(state.settings.api.publish_timeout, state.publisher.stream_info()).await;
    let last = info.ok()?.ok()?.state.last_sequence;
    state.fleet.note_stream_sequence(last);
    Some(last)
}

/// The fleet: live instances by service, with their applied sequence, lag, freshness
/// and when each last reported.
#[utoipa::path(
    get, path = "/v1/fleet", tag = "fleet",
    responses((status = 200, description = "Live instances by service (advisory: from their presence reports)", body = FleetResponse)),
    security(("bearer" = []))
)]
pub async fn fleet(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<FleetResponse>, ApiError> {
    principal.require(Permission::Read)?;
    let stream_last = stream_last_sequence(&state).await;
    Ok(Json(state.fleet.view(stream_last)))
}
