//! `/v1/revocations`: revoke, batch, lift, get, list.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::{IntoParams, ToSchema};
use veto_client::replica::StoredRule;
use veto_proto::{KeyDigest, Lift, RevocationRule, RuleError, RuleKind, TokenPolicy, UnixSeconds};

use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::auth::{Authenticated, Permission, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::metrics as names;
use crate::publisher::{Outcome, PublishError};
use crate::state::AppState;

/// Set on a revocation answered from an existing rule that already covered it.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A revocation request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// `jti`, `sub`, `sid` or `all`.
    #[schema(example = "jti")]
    pub kind: String,
    /// The claim value; absent for `all`.
    pub value: Option<String>,
    /// Scope the rule to one issuer; absent: every issuer.
    pub iss: Option<String>,
    /// `jti` only: the token's `exp` (unix seconds). The rule is kept until then plus
    /// leeway. Default: now + max token TTL.
    pub exp: Option<i64>,
    /// `sub`, `sid`, `all` only: tokens issued before this (unix seconds) are revoked.
    /// Default: now + clock-skew allowance.
    pub issued_before: Option<i64>,
    /// Why, for the audit trail.
    pub reason: Option<String>,
}

impl RevokeRequest {
    /// The rule this request asks for, validated at `now`.
    pub fn into_rule(
        self,
        principal: &Principal,
        policy: &TokenPolicy,
        now: UnixSeconds,
    ) -> Result<RevocationRule, ApiError> {
        let kind: RuleKind = self
            .kind
            .parse()
            .map_err(|error| ApiError::invalid_rule(&error))?;
        let issued_before = match kind {
            // Passed through so validation names the mistake (issued_before_not_allowed).
            RuleKind::Jti => self.issued_before.map(UnixSeconds),
            _ => Some(
                self.issued_before
                    .map_or_else(|| now.saturating_add(policy.clock_skew), UnixSeconds),
            ),
        };
        let expires_at = match (kind, self.exp) {
            (RuleKind::Jti, Some(exp)) => policy.expiry_of_token(UnixSeconds(exp)),
            (RuleKind::Jti, None) => policy.latest_jti_expiry(now),
            (_, Some(_)) => {
                return Err(ApiError::unprocessable(
                    "exp_not_allowed",
                    "exp applies to jti rules; sub, sid and all rules expire by issued_before",
                ));
            }
            (_, None) => policy.expiry_of_issued_before(issued_before.unwrap_or(now)),
        };
        let rule = RevocationRule {
            kind,
            value: self.value,
            iss: self.iss,
            issued_before,
            expires_at,
            reason: self.reason,
            revoked_by: Some(principal.name.clone()),
            revoked_at: now,
        };
        rule.validate(policy, now)
            .map_err(|error| ApiError::invalid_rule(&error))?;
        Ok(rule)
    }
}

/// A stored rule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleResponse {
    /// The rule as the stream holds it (merged with earlier revocations of the key).
    pub rule: RevocationRule,
    /// Its stream sequence.
    pub sequence: u64,
    /// The key digest (hex).
    pub digest: String,
    /// The NATS subject it lives on.
    pub subject: String,
}

impl From<StoredRule> for RuleResponse {
    fn from(stored: StoredRule) -> Self {
        RuleResponse {
            digest: stored.rule.digest().to_string(),
            subject: stored.rule.subject(),
            rule: stored.rule,
            sequence: stored.sequence,
        }
    }
}

/// Maps a publish failure to its response.
pub fn publish_error(error: PublishError) -> ApiError {
    match error {
        PublishError::Unavailable(reason) => {
            ApiError::nats_unavailable(format!("the revocation was not stored: {reason}"))
        }
        PublishError::Contention => ApiError::contention(),
        PublishError::NotFound => ApiError::not_found("no live rule for that key"),
    }
}

/// Validates, publishes and audits one revocation.
async fn revoke_one(
    state: &AppState,
    principal: &Principal,
    request: RevokeRequest,
) -> Result<(StoredRule, Outcome), ApiError> {
    let rule = request.into_rule(principal, &state.policy, UnixSeconds::now())?;
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
    request_body = RevokeRequest,
    responses(
        (status = 201, description = "Stored (or already covered by a stored rule: same answer, header Idempotent-Replayed)", body = RuleResponse),
        (status = 400, description = "Malformed body or unknown kind", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "No revoke permission", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid rule", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "NATS did not acknowledge; retry (idempotent)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiJson(request): ApiJson<RevokeRequest>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Revoke)?;
    state.rate_limiter.check(&principal.name)?;
    let (stored, outcome) = revoke_one(&state, &principal, request).await?;
    let mut response = (StatusCode::CREATED, Json(RuleResponse::from(stored))).into_response();
    if outcome == Outcome::AlreadyCovered {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A batch of revocations.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Up to 1000 revocation requests (each as for `POST /v1/revocations`).
    #[schema(value_type = Vec<RevokeRequest>)]
    pub revocations: Vec<serde_json::Value>,
}

/// One item's result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchItemResult {
    /// The HTTP status this item would have had alone.
    pub status: u16,
    /// The stored rule, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<RuleResponse>,
    /// The error, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// The results, in request order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// One per request item.
    pub results: Vec<BatchItemResult>,
}

/// How many batch items are written at once.
const BATCH_CONCURRENCY: usize = 64;

/// Revoke many at once, with a result per item.
#[utoipa::path(
    post, path = "/v1/revocations/batch", tag = "revocations",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "A result per item; an invalid item publishes nothing", body = BatchResponse),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "No revoke permission", body = ErrorBody),
        (status = 413, description = "Body or item count over the limit", body = ErrorBody),
        (status = 422, description = "Not a batch", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_batch(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiJson(batch): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    principal.require(Permission::Revoke)?;
    let max = state.settings.api.max_batch_items;
    if batch.revocations.len() > max {
        return Err(ApiError::payload_too_large(format!(
            "a batch holds at most {max} revocations, this one {}",
            batch.revocations.len()
        )));
    }
    if batch.revocations.is_empty() {
        return Err(ApiError::unprocessable(
            "empty_batch",
            "the batch has no revocations",
        ));
    }
    state.rate_limiter.check(&principal.name)?;
    let results = futures_util::stream::iter(batch.revocations)
        .map(|item| {
            let (state, principal) = (&state, &principal);
            async move {
                let outcome = match serde_json::from_value::<RevokeRequest>(item) {
                    Ok(request) => revoke_one(state, principal, request).await,
                    Err(error) => Err(ApiError::unprocessable("invalid_body", error.to_string())),
                };
                match outcome {
                    Ok((stored, _)) => BatchItemResult {
                        status: StatusCode::CREATED.as_u16(),
                        stored: Some(stored.into()),
                        error: None,
                    },
                    Err(error) => BatchItemResult {
                        status: error.status().as_u16(),
                        stored: None,
                        error: Some(ErrorBody {
                            code: error.code().to_owned(),
                            message: error.message().to_owned(),
                        }),
                    },
                }
            }
        })
        .buffered(BATCH_CONCURRENCY)
        .collect()
        .await;
    Ok(Json(BatchResponse { results }))
}

/// Scope and audit parameters of a key in the path.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    /// The issuer scope of the rule; absent: the unscoped rule.
    pub iss: Option<String>,
    /// Why (lifts only), for the audit trail.
    pub reason: Option<String>,
}

fn key_of(kind: &str, value: Option<String>) -> Result<(RuleKind, Option<String>), ApiError> {
    let kind: RuleKind = kind.parse().map_err(|error| ApiError::invalid_rule(&error))?;
    match (kind.has_value(), &value) {
        (true, None) => Err(ApiError::invalid_rule(&RuleError::ValueRequired { kind })),
        (false, Some(_)) => Err(ApiError::invalid_rule(&RuleError::ValueNotAllowed)),
        _ => Ok((kind, value)),
    }
}

/// The lift answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LiftResponse {
    /// The rule that was lifted.
    pub lifted: RevocationRule,
    /// The stream sequence of the tombstone.
    pub sequence: u64,
}

async fn lift_key(
    state: &AppState,
    principal: &Principal,
    kind: &str,
    value: Option<String>,
    query: KeyQuery,
) -> Result<Json<LiftResponse>, ApiError> {
    principal.require(Permission::Lift)?;
    let (kind, value) = key_of(kind, value)?;
    let lift = Lift {
        kind,
        value,
        iss: query.iss,
        reason: query.reason,
        lifted_by: Some(principal.name.clone()),
        lifted_at: UnixSeconds::now(),
    };
    lift.validate_shape()
        .map_err(|error| ApiError::invalid_rule(&error))?;
    state.rate_limiter.check(&principal.name)?;
    let digest = lift.digest();
    let (lifted, sequence) = state.publisher.lift(lift).await.map_err(publish_error)?;
    metrics::counter!(names::MUTATIONS_TOTAL, "action" => "lift", "outcome" => "published").increment(1);
    info!(target: "veto::audit", action = "lift", principal = %principal.name, kind = %kind, digest = %digest, sequence);
    Ok(Json(LiftResponse { lifted, sequence }))
}

/// Lift (un-revoke) a rule.
#[utoipa::path(
    delete, path = "/v1/revocations/{kind}/{value}", tag = "revocations",
    params(("kind" = String, Path, description = "jti, sub or sid"), ("value" = String, Path, description = "The claim value (percent-encoded)"), KeyQuery),
    responses(
        (status = 200, description = "Lifted", body = LiftResponse),
        (status = 403, description = "No lift permission", body = ErrorBody),
        (status = 404, description = "No live rule for that key", body = ErrorBody),
        (status = 503, description = "NATS did not acknowledge; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn lift(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiPath((kind, value)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<KeyQuery>,
) -> Result<Json<LiftResponse>, ApiError> {
    lift_key(&state, &principal, &kind, Some(value), query).await
}

/// Lift an `all` rule.
#[utoipa::path(
    delete, path = "/v1/revocations/{kind}", tag = "revocations",
    params(("kind" = String, Path, description = "all"), KeyQuery),
    responses((status = 200, description = "Lifted", body = LiftResponse), (status = 404, description = "No live rule", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn lift_all(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(query): ApiQuery<KeyQuery>,
) -> Result<Json<LiftResponse>, ApiError> {
    lift_key(&state, &principal, &kind, None, query).await
}

fn get_key(
    state: &AppState,
    principal: &Principal,
    kind: &str,
    value: Option<String>,
    query: &KeyQuery,
) -> Result<Json<RuleResponse>, ApiError> {
    principal.require(Permission::Read)?;
    let (kind, value) = key_of(kind, value)?;
    if !state.list.is_ready() {
        return Err(ApiError::not_ready());
    }
    state
        .list
        .rule(kind, query.iss.as_deref(), value.as_deref())
        .map(|stored| Json(stored.into()))
        .ok_or_else(|| ApiError::not_found("no live rule for that key"))
}

/// The live rule for a key, as services see it.
#[utoipa::path(
    get, path = "/v1/revocations/{kind}/{value}", tag = "revocations",
    params(("kind" = String, Path, description = "jti, sub or sid"), ("value" = String, Path, description = "The claim value (percent-encoded)"), KeyQuery),
    responses((status = 200, description = "The live rule", body = RuleResponse), (status = 404, description = "No live rule", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiPath((kind, value)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<KeyQuery>,
) -> Result<Json<RuleResponse>, ApiError> {
    get_key(&state, &principal, &kind, Some(value), &query)
}

/// The live `all` rule (per issuer scope).
#[utoipa::path(
    get, path = "/v1/revocations/{kind}", tag = "revocations",
    params(("kind" = String, Path, description = "all"), KeyQuery),
    responses((status = 200, description = "The live rule", body = RuleResponse), (status = 404, description = "No live rule", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_all(
    State(state): State<Arc<AppState>>,
    Authenticated(principal): Authenticated,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(query): ApiQuery<KeyQuery>,
) -> Result<Json<RuleResponse>, ApiError> {
    get_key(&state, &principal, &kind, None, &query)
}

/// Paging through live rules.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this kind.
    pub kind: Option<String>,
    /// Page size, 1 to 1000. Default 100.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of live rules.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListResponse {
    /// The rules, in key order.
    pub items: Vec<RuleResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// List live rules, as services see them.
#[utoipa::path(
    get, path = "/v1/revocations", tag = "revocations",
    params(ListQuery),
    responses((status = 200, description = "A page", body = ListResponse), (status = 400, description = "Bad query", body = ErrorBody)),
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
        .map_err(|error| ApiError::invalid_rule(&error))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit is between 1 and 1000",
        ));
    }
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    if !state.list.is_ready() {
        return Err(ApiError::not_ready());
    }
    let page = state.list.rules(kind, after, limit + 1);
    let more = page.len() > limit;
    let items: Vec<RuleResponse> = page.into_iter().take(limit).map(RuleResponse::from).collect();
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
    let invalid = || ApiError::bad_request("invalid_cursor", "pass next_cursor from the previous page");
    let (kind, digest) = cursor.split_once(':').ok_or_else(invalid)?;
    Ok((
        kind.parse().map_err(|_| invalid())?,
        digest.parse().map_err(|_| invalid())?,
    ))
}
