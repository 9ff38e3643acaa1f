//! `/v1/revocations`: revoke, batch, lift, get, list.
//!
//! Longer than most files on purpose: the `/v1/revocations` handlers next to their
//! OpenAPI annotations (a third of the lines), so that a handler and the answers it
//! documents cannot drift apart.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use tracing::info;
use veto_api::routes::{self, IDEMPOTENT_REPLAYED};
use veto_api::{
    BatchItemResult, BatchRequest, BatchResponse, ErrorCode, KeyQuery, LiftQuery, LiftResponse, ListQuery,
    ListResponse, RevokeRequest, RuleResponse, Wait, WaitQuery,
};
use veto_proto::{KeyDigest, Lift, RevocationRule, RuleError, RuleKind, TokenPolicy, UnixSeconds};

use super::consistency;
use super::extract::{ApiJson, ApiPath, ApiQuery, Authenticated};
use crate::auth::{Permission, Principal};
use crate::error::ApiError;
use crate::index::StoredRule;
use crate::metrics::names;
use crate::publisher::{Outcome, PublishError};
use crate::state::AppState;

/// A revocation request from a JSON value: an unknown kind is `unknown_kind` (400), as
/// everywhere else, before the shape of the rest is read.
pub fn revoke_request(value: Value) -> Result<RevokeRequest, ApiError> {
    // serde would read a struct from an array too (`["jti", "x"]`): only objects are.
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "a revocation is a JSON object",
        ));
    }
    if let Some(Value::String(kind)) = value.get("kind") {
        kind.parse::<RuleKind>()
            .map_err(|error| ApiError::invalid_rule(&RuleError::from(error)))?;
    }
    serde_json::from_value(value).map_err(|error| ApiError::new(ErrorCode::InvalidBody, error.to_string()))
}

/// The rule a request asks for, validated at `now`.
pub fn rule_of(
    request: RevokeRequest,
    principal: &Principal,
    policy: &TokenPolicy,
    now: UnixSeconds,
) -> Result<RevocationRule, ApiError> {
    let kind = request.kind;
    let issued_before = match kind {
        // Passed through so validation names the mistake (issued_before_not_allowed).
        RuleKind::Jti => request.issued_before,
        _ => Some(
            request
                .issued_before
                .unwrap_or_else(|| now.saturating_add(policy.clock_skew)),
        ),
    };
    let expires_at = match (kind, request.exp) {
        (RuleKind::Jti, Some(exp)) => policy.expiry_of_token(exp),
        (RuleKind::Jti, None) => policy.latest_jti_expiry(now),
        (_, Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::ExpNotAllowed,
                "exp applies to jti rules; sub, sid and all rules expire by issued_before",
            ));
        }
        (_, None) => policy.expiry_of_issued_before(issued_before.unwrap_or(now)),
    };
    let rule = RevocationRule {
        kind,
        value: request.value,
        iss: request.iss,
        issued_before,
        expires_at,
        reason: request.reason,
        revoked_by: Some(principal.name.clone()),
        revoked_at: now,
    };
    rule.validate(policy, now)
        .map_err(|error| ApiError::invalid_rule(&error))?;
    Ok(rule)
}

/// The answer for a stored rule.
pub fn rule_response(stored: StoredRule) -> RuleResponse {
    RuleResponse::new(stored.rule, stored.sequence)
}

/// Maps a publish failure to its response.
pub fn publish_error(error: PublishError) -> ApiError {
    match error {
        PublishError::Unavailable(reason) => {
            ApiError::nats_unavailable(format!("the revocation was not stored: {reason}"))
        }
        PublishError::Contention => ApiError::contention(),
        PublishError::NotFound => ApiError::not_found("no live rule for that key"),
        changed @ (PublishError::Changed(_) | PublishError::NotTheVersionSeen { .. }) => {
            ApiError::new(ErrorCode::Conflict, changed.to_string())
        }
    }
}

/// The sequence an `If-Match` header names, if the request has one.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(routes::parse_etag)
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidHeader,
                "If-Match is the ETag of the rule (its sequence, quoted) as GET answered it",
            )
        })
}

/// The wait for the fleet a write asks for (`?wait=&timeout=`), checked before
/// anything is written: a bad one is `invalid_query` and writes nothing.
pub fn wait_of(state: &AppState, query: &WaitQuery) -> Result<Option<Wait>, ApiError> {
    query
        .wait(state.settings.fleet.max_wait)
        .map_err(|error| ApiError::new(ErrorCode::InvalidQuery, error.to_string()))
}

/// Validates, publishes and audits one revocation.
pub(crate) async fn revoke_one(
    state: &AppState,
    principal: &Principal,
    request: Value,
) -> Result<(StoredRule, Outcome), ApiError> {
    let rule = rule_of(
        revoke_request(request)?,
        principal,
        &state.policy,
        UnixSeconds::now(),
    )?;
    state.issuers.check(rule.iss.as_deref())?;
    let digest = rule.digest();
    let (stored, outcome) = state.publisher.revoke(rule).await.map_err(publish_error)?;
    let outcome_label = match outcome {
        Outcome::Published => "published",
        Outcome::AlreadyCovered => "already_covered",
    };
    metrics::counter!(names::MUTATIONS_TOTAL, "action" => "revoke", "outcome" => outcome_label).increment(1);
    info!(
        target: "veto::audit",
        action = "revoke",
        principal = %principal.name,
        kind = %stored.rule.kind,
        digest = %digest,
        sequence = stored.sequence,
        outcome = outcome_label,
    );
    Ok((stored, outcome))
}

/// Revoke tokens.
#[utoipa::path(
    post, path = "/v1/revocations", tag = "revocations",
    params(WaitQuery),
    request_body = RevokeRequest,
    responses(
        (status = 201, description = "Stored (or already covered by a stored rule: same answer, header Idempotent-Replayed). With `wait`: once every live instance in scope applied it, or at the timeout with `applied_by.complete` false and the laggards named (stored either way)", body = RuleResponse),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<WaitQuery>,
    ApiJson(request): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Revoke)?;
    let wait = wait_of(&state, &query)?;
    state.rate_limiter.check(&principal.name)?;
    let (stored, outcome) = revoke_one(&state, &principal, request).await?;
    let mut body = rule_response(stored);
    if let Some(wait) = &wait {
        body.applied_by = Some(state.fleet.wait_for(body.sequence, wait).await);
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if outcome == Outcome::AlreadyCovered {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// How many batch items are written at once.
const BATCH_CONCURRENCY: usize = 64;

/// Revoke many at once, with a result per item.
#[utoipa::path(
    post, path = "/v1/revocations/batch", tag = "revocations",
    params(WaitQuery),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "A result per item; an invalid item publishes nothing. With `wait`: once every live instance in scope applied every stored item, or at the timeout (see `applied_by`)", body = BatchResponse),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_batch(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<WaitQuery>,
    ApiJson(batch): ApiJson<BatchRequest<Value>>,
) -> Result<Json<BatchResponse>, ApiError> {
    principal.require(Permission::Revoke)?;
    let wait = wait_of(&state, &query)?;
    let max = state.settings.api.max_batch_items;
    if batch.revocations.len() > max {
        return Err(ApiError::payload_too_large(format!(
            "a batch holds at most {max} revocations, this one {}",
            batch.revocations.len()
        )));
    }
    if batch.revocations.is_empty() {
        return Err(ApiError::new(
            ErrorCode::EmptyBatch,
            "the batch has no revocations",
        ));
    }
    state.rate_limiter.check(&principal.name)?;
    let results: Vec<BatchItemResult> = futures_util::stream::iter(batch.revocations)
        .map(|item| {
            let (state, principal) = (&state, &principal);
            async move {
                match revoke_one(state, principal, item).await {
                    Ok((stored, _)) => BatchItemResult {
                        status: StatusCode::CREATED.as_u16(),
                        stored: Some(rule_response(stored)),
                        error: None,
                    },
                    Err(error) => BatchItemResult {
                        status: error.status().as_u16(),
                        stored: None,
                        error: Some(error.body()),
                    },
                }
            }
        })
        .buffered(BATCH_CONCURRENCY)
        .collect()
        .await;
    let highest_stored = results
        .iter()
        .filter_map(|item| item.stored.as_ref().map(|stored| stored.sequence))
        .max();
    let applied_by = match (&wait, highest_stored) {
        (Some(wait), Some(sequence)) => Some(state.fleet.wait_for(sequence, wait).await),
        _ => None,
    };
    Ok(Json(BatchResponse { results, applied_by }))
}

/// A keyed route with the value in its path takes none in its query.
fn only_in_the_path(query: &KeyQuery) -> Result<(), ApiError> {
    match query.value {
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "the value is in the path; ?value= is for /v1/revocations/{kind} only",
        )),
        None => Ok(()),
    }
}

fn key_of(kind: &str, value: Option<String>) -> Result<(RuleKind, Option<String>), ApiError> {
    let kind: RuleKind = kind
        .parse()
        .map_err(|error| ApiError::invalid_rule(&RuleError::from(error)))?;
    match (kind.has_value(), &value) {
        (true, None) => Err(ApiError::invalid_rule(&RuleError::ValueRequired { kind })),
        (false, Some(_)) => Err(ApiError::invalid_rule(&RuleError::ValueNotAllowed)),
        _ => Ok((kind, value)),
    }
}

pub(crate) async fn lift_key(
    state: &AppState,
    principal: &Principal,
    kind: &str,
    value: Option<String>,
    query: KeyQuery,
    wait: &WaitQuery,
    headers: &HeaderMap,
) -> Result<Json<LiftResponse>, ApiError> {
    principal.require(Permission::Lift)?;
    let wait = wait_of(state, wait)?;
    let (kind, value) = key_of(kind, value)?;
    let if_match = if_match(headers)?;
    let lift = Lift {
        kind,
        value,
        iss: query.iss,
        reason: query.reason,
        lifted_by: Some(principal.name.clone()),
        lifted_at: UnixSeconds::now(),
        rule_expires_at: None,
    };
    lift.validate_shape()
        .map_err(|error| ApiError::invalid_rule(&error))?;
    state.rate_limiter.check(&principal.name)?;
    let digest = lift.digest();
    let (lifted, sequence) = state
        .publisher
        .lift(lift, if_match)
        .await
        .map_err(publish_error)?;
    metrics::counter!(names::MUTATIONS_TOTAL, "action" => "lift", "outcome" => "published").increment(1);
    info!(target: "veto::audit", action = "lift", principal = %principal.name, kind = %kind, digest = %digest, sequence);
    let applied_by = match &wait {
        Some(wait) => Some(state.fleet.wait_for(sequence, wait).await),
        None => None,
    };
    Ok(Json(LiftResponse {
        lifted,
        sequence,
        applied_by,
    }))
}

/// Lift (un-revoke) a rule.
#[utoipa::path(
    delete, path = "/v1/revocations/{kind}/{value}", tag = "revocations",
    params(("kind" = String, Path, description = "jti, sub or sid"), ("value" = String, Path, description = "The claim value (percent-encoded)"), LiftQuery,
           ("If-Match" = Option<String>, Header, description = "The rule's ETag from GET: lift only that version")),
    responses((status = 200, description = "Lifted (with `wait`: once every live instance in scope applied the lift, or at the timeout; see `applied_by`)", body = LiftResponse)),
    security(("bearer" = []))
)]
pub async fn lift(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiPath((kind, value)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<LiftQuery>,
    headers: HeaderMap,
) -> Result<Json<LiftResponse>, ApiError> {
    let wait = query.wait_query();
    let key = query.key_query();
    only_in_the_path(&key)?;
    lift_key(&state, &principal, &kind, Some(value), key, &wait, &headers).await
}

/// Lift an `all` rule, or a key's rule with its value in the query (`?value=`).
#[utoipa::path(
    delete, path = "/v1/revocations/{kind}", tag = "revocations",
    params(("kind" = String, Path, description = "all; or jti, sub, sid with ?value="), LiftQuery),
    responses((status = 200, description = "Lifted (with `wait`: see `applied_by`)", body = LiftResponse)),
    security(("bearer" = []))
)]
pub async fn lift_all(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(query): ApiQuery<LiftQuery>,
    headers: HeaderMap,
) -> Result<Json<LiftResponse>, ApiError> {
    let wait = query.wait_query();
    let mut key = query.key_query();
    let value = key.value.take();
    lift_key(&state, &principal, &kind, value, key, &wait, &headers).await
}

async fn get_key(
    state: &AppState,
    principal: &Principal,
    kind: &str,
    value: Option<String>,
    query: &KeyQuery,
) -> Result<Response, ApiError> {
    principal.require(Permission::Read)?;
    let (kind, value) = key_of(kind, value)?;
    if !state.list.is_ready() {
        return Err(ApiError::not_ready());
    }
    if let Some(sequence) = query.min_sequence {
        consistency::applied(&state.index, sequence).await?;
    }
    let stored = state
        .index
        .rule(kind, query.iss.as_deref(), value.as_deref())
        .ok_or_else(|| ApiError::not_found("no live rule for that key"))?;
    let etag = HeaderValue::from_str(&routes::etag(stored.sequence)).map_err(|_| ApiError::internal())?;
    Ok(([(header::ETAG, etag)], Json(rule_response(stored))).into_response())
}

/// The live rule for a key, as services see it.
#[utoipa::path(
    get, path = "/v1/revocations/{kind}/{value}", tag = "revocations",
    params(("kind" = String, Path, description = "jti, sub or sid"), ("value" = String, Path, description = "The claim value (percent-encoded)"), KeyQuery),
    responses((status = 200, description = "The live rule (header ETag: its version, for If-Match on a lift; with min_sequence: once this daemon has applied that sequence)", body = RuleResponse)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiPath((kind, value)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<KeyQuery>,
) -> Result<Response, ApiError> {
    only_in_the_path(&query)?;
    get_key(&state, &principal, &kind, Some(value), &query).await
}

/// The live `all` rule (per issuer scope), or a key's with its value in the query
/// (`?value=`: for `.` and `..`, which a URL path cannot carry).
#[utoipa::path(
    get, path = "/v1/revocations/{kind}", tag = "revocations",
    params(("kind" = String, Path, description = "all; or jti, sub, sid with ?value="), KeyQuery),
    responses((status = 200, description = "The live rule (with min_sequence: once this daemon has applied that sequence)", body = RuleResponse)),
    security(("bearer" = []))
)]
pub async fn get_all(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(mut query): ApiQuery<KeyQuery>,
) -> Result<Response, ApiError> {
    let value = query.value.take();
    get_key(&state, &principal, &kind, value, &query).await
}

/// List live rules, as services see them.
#[utoipa::path(
    get, path = "/v1/revocations", tag = "revocations",
    params(ListQuery),
    responses((status = 200, description = "A page", body = ListResponse)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse>, ApiError> {
    principal.require(Permission::Read)?;
    let kind = query
        .kind
        .as_deref()
        .map(str::parse::<RuleKind>)
        .transpose()
        .map_err(|error| ApiError::invalid_rule(&RuleError::from(error)))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "limit is between 1 and 1000",
        ));
    }
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    if !state.list.is_ready() {
        return Err(ApiError::not_ready());
    }
    let page = state.index.rules(kind, after, limit + 1);
    let more = page.len() > limit;
    let items: Vec<RuleResponse> = page.into_iter().take(limit).map(rule_response).collect();
    let next_cursor = more
        .then(|| {
            items
                .last()
                .map(|last| format!("{}:{}", last.rule.kind, last.digest))
        })
        .flatten();
    Ok(Json(ListResponse { items, next_cursor }))
}

fn parse_cursor(cursor: &str) -> Result<(RuleKind, KeyDigest), ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidCursor,
            "pass next_cursor from the previous page",
        )
    };
    let (kind, digest) = cursor.split_once(':').ok_or_else(invalid)?;
    Ok((
        kind.parse().map_err(|_| invalid())?,
        digest.parse().map_err(|_| invalid())?,
    ))
}
