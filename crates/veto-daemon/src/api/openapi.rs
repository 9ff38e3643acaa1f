//! The OpenAPI document: operations, bodies and success responses from the handlers'
//! annotations; every error response from [`veto_api::routes::ROUTES`], the one list
//! of what each route can answer (a test holds the document and the router to it).

use std::collections::BTreeMap;

use axum::Json;
use axum::response::IntoResponse;

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use veto_api::ErrorCode;
use veto_api::routes::{ANY_REQUEST, ROUTES};

use super::{fleet, health, idp, oauth, revocations, stream};

/// The handlers and schemas.
#[derive(OpenApi)]
#[openapi(
    info(title = "veto admin API", description = "Revoke JWTs; each revocation is durable in NATS JetStream and broadcast to every service."),
    paths(
        revocations::revoke, revocations::revoke_batch, revocations::lift, revocations::lift_all,
        revocations::get, revocations::get_all, revocations::list, oauth::revoke_token,
        idp::backchannel_logout, idp::ssf_events, fleet::fleet,
        stream::snapshot, stream::write_snapshot, stream::changes,
        health::status, health::healthz, health::readyz, health::metrics, serve,
    ),
    components(schemas(
        veto_api::ErrorBody, veto_api::RevokeRequest, veto_api::RuleResponse, veto_api::BatchRequest,
        veto_api::BatchItemResult, veto_api::BatchResponse, veto_api::LiftResponse,
        veto_api::ListResponse, veto_api::RevokeTokenForm, veto_api::ChangesResponse, veto_api::StoredEvent, veto_api::SnapshotWritten, veto_api::Health, veto_api::DaemonStatus,
        veto_api::ListStatus, veto_api::StreamStatus, veto_api::RulesByKind,
        veto_api::LogoutTokenForm, veto_api::LogoutErrorBody, veto_api::SetErrorBody,
        veto_api::FleetResponse, veto_api::ServiceFleet, veto_api::InstanceView, veto_api::InstanceState,
        veto_api::StateCounts, veto_api::AppliedBy, veto_api::Laggard,
        veto_proto::RevocationRule, veto_proto::RuleKind, veto_proto::UnixSeconds,
        veto_proto::Freshness, veto_proto::BloomReport,
    )),
    modifiers(&BearerAuth, &ErrorResponses)
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document as served at `/openapi.json`.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// This API's OpenAPI document, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn serve() -> impl IntoResponse {
    Json(document())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
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

/// Adds to each operation a response per error status it can answer, naming the codes.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut Document) {
        for route in ROUTES {
            let Some(operation) = operation_mut(openapi, route.method, route.path) else {
                continue;
            };
            let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
            for code in route.error_codes() {
                by_status.entry(code.status()).or_default().push(code);
            }
            for (status, codes) in by_status {
                let names: Vec<String> = codes.iter().map(|code| format!("`{code}`")).collect();
                let response = ResponseBuilder::new()
                    .description(names.join(", "))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build();
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert(RefOr::T(response));
            }
        }
        let global: Vec<String> = ANY_REQUEST
            .iter()
            .map(|code| format!("`{code}` ({})", code.status()))
            .collect();
        let description = openapi.info.description.get_or_insert_with(String::new);
        description.push_str(&format!(
            " Errors are `{{\"code\",\"message\"}}` with a stable code; any request may also get {}.",
            global.join(", ")
        ));
    }
}

/// The operation for `method` on `path`, if the document has it.
pub fn operation_mut<'a>(openapi: &'a mut Document, method: &str, path: &str) -> Option<&'a mut Operation> {
    let item = openapi.paths.paths.get_mut(path)?;
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "DELETE" => item.delete.as_mut(),
        "PUT" => item.put.as_mut(),
        _ => None,
    }
}
