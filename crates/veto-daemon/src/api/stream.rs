//! `GET /v1/snapshot` and `GET /v1/changes`: the list for readers that do not speak
//! NATS (an edge proxy, a batch job, a service in another language). The same signed
//! snapshot bytes the bucket holds, then the signed events after its sequence as the
//! stream holds them; a reader verifies and applies both exactly as `docs/protocol.md`
//! says.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use veto_api::routes::{self};
use veto_api::{ChangesQuery, ChangesResponse, ErrorCode, SnapshotWritten, StoredEvent};
use veto_client::direct::DirectReader;

use super::extract::{ApiQuery, Authenticated};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::snapshot::SnapshotWriter;
use crate::state::AppState;

/// The media type of a snapshot.
pub const SNAPSHOT_MEDIA_TYPE: &str = "application/vnd.veto.snapshot";

/// The newest snapshot this daemon wrote: signed bytes, `ETag` its sequence.
#[utoipa::path(
    get, path = "/v1/snapshot", tag = "stream",
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of a snapshot held: 304 if it is still the newest")),
    responses(
        (status = 200, description = "The snapshot (format in docs/protocol.md); ETag: its stream sequence", content_type = "application/vnd.veto.snapshot"),
        (status = 304, description = "The snapshot named by If-None-Match is still the newest"),
    ),
    security(("bearer" = []))
)]
pub async fn snapshot(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Permission::Read)?;
    let Some(latest) = writer(&state)?.latest() else {
        return Err(ApiError::new(ErrorCode::NotReady, "no snapshot written yet").retry_after(1));
    };
    let etag = routes::etag(latest.sequence);
    let held = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| routes::parse_etag(tag) == Some(latest.sequence))
        });
    let etag = HeaderValue::from_str(&etag).map_err(|_| ApiError::internal())?;
    if held {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(SNAPSHOT_MEDIA_TYPE),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        latest.bytes.clone(),
    )
        .into_response())
}

/// Writes a snapshot now (before many services restart, say), unless the list has not
/// moved since the newest; answers with the newest.
#[utoipa::path(
    post, path = "/v1/snapshot", tag = "stream",
    responses(
        (status = 200, description = "The newest snapshot, written now or already as of the list's sequence", body = SnapshotWritten),
    ),
    security(("bearer" = []))
)]
pub async fn write_snapshot(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<SnapshotWritten>, ApiError> {
    principal.require(Permission::Revoke)?;
    let writer = writer(&state)?;
    match writer.write_if_moved().await {
        Ok(Some(written)) => Ok(Json(SnapshotWritten {
            sequence: written.sequence,
            rules: written.rules,
            bytes: written.bytes.len(),
        })),
        Ok(None) => Err(ApiError::new(ErrorCode::NotReady, "the list has not loaded yet").retry_after(1)),
        Err(error) => Err(ApiError::nats_unavailable(format!("{error:#}"))),
    }
}

fn writer(state: &AppState) -> Result<&Arc<SnapshotWriter>, ApiError> {
    state.snapshots.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::SnapshotsDisabled,
            "this daemon writes no snapshots (snapshot.enabled = false)",
        )
    })
}

/// The stream's messages after a sequence, as the stream holds them.
#[utoipa::path(
    get, path = "/v1/changes", tag = "stream",
    params(ChangesQuery),
    responses((status = 200, description = "A page of messages", body = ChangesResponse)),
    security(("bearer" = []))
)]
pub async fn changes(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Json<ChangesResponse>, ApiError> {
    principal.require(Permission::Read)?;
    let limit = query.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "limit is between 1 and 10000",
        ));
    }
    let stream = &state.settings.stream.name;
    let reader = DirectReader::new(state.client.clone(), None);
    let unavailable = |error: veto_client::direct::ReadError| ApiError::nats_unavailable(error.to_string());
    let facts = reader.facts(stream).await.map_err(unavailable)?;
    if query.after > facts.last_sequence {
        return Err(ApiError::new(
            ErrorCode::Gone,
            format!(
                "the stream ends at sequence {}, before {}: it went back; load the snapshot again",
                facts.last_sequence, query.after
            ),
        ));
    }
    if query.after.saturating_add(1) < facts.first_sequence {
        return Err(ApiError::new(
            ErrorCode::Gone,
            format!(
                "the stream keeps sequences from {}; load the snapshot again",
                facts.first_sequence
            ),
        ));
    }
    let batch = if query.after >= facts.last_sequence {
        Vec::new()
    } else {
        reader
            .batch(stream, query.after + 1, limit, None)
            .await
            .map_err(unavailable)?
    };
    let full = batch.len() >= limit;
    let last_read = batch.last().map_or(query.after, |message| message.sequence);
    let events = batch
        .into_iter()
        .map(|message| StoredEvent {
            sequence: message.sequence,
            subject: message.subject,
            key_id: message.key_id,
            signature: message.signature,
            payload: URL_SAFE_NO_PAD.encode(&message.payload),
        })
        .collect();
    // A short page read everything stored up to the stream's end: the holes in
    // between are deleted messages, nothing to apply.
    let last_sequence = if full {
        last_read
    } else {
        last_read.max(facts.last_sequence)
    };
    Ok(Json(ChangesResponse {
        events,
        last_sequence,
        more: full,
    }))
}
