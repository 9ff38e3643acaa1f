//! The OpenAPI document, the router and `veto_api::routes::ROUTES` agree: every route
//! the table lists is served and documented with exactly the statuses it can answer,
//! and the document has no operation the table lacks.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use veto_api::ErrorCode;
use veto_api::routes::{ANY_REQUEST, ROUTES};

use crate::support::*;

/// A concrete path for a route's template.
fn concrete(path: &str) -> String {
    path.replace("{kind}/{value}", "jti/x").replace("{kind}", "all")
}

#[tokio::test]
async fn the_document_lists_every_status_each_route_can_answer() {
    let app = spawn_app().await;
    let document = within(10, "openapi", app.api(None).openapi())
        .await
        .expect("the document");
    let paths = document["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "post", "delete", "put", "patch"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    assert_eq!(
        documented, listed,
        "documented operations vs veto_api::routes::ROUTES"
    );

    for route in ROUTES {
        let operation = &paths[route.path][route.method.to_lowercase()];
        let statuses: Vec<u16> = operation["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .map(|status| status.parse().expect("a numeric status"))
            .collect::<BTreeSet<u16>>()
            .into_iter()
            .collect();
        assert_eq!(statuses, route.statuses(), "{} {}", route.method, route.path);
        for code in route.error_codes() {
            let description = operation["responses"][code.status().to_string()]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(
                description.contains(&format!("`{code}`")),
                "{} {}: {} does not name {code}",
                route.method,
                route.path,
                code.status()
            );
        }
    }
    let description = document["info"]["description"].as_str().unwrap_or_default();
    for code in ANY_REQUEST {
        assert!(description.contains(code.as_str()), "{code} in the description");
    }
}

#[tokio::test]
async fn the_router_serves_every_listed_route() {
    let app = spawn_app().await;
    for route in ROUTES {
        let method = Method::from_bytes(route.method.as_bytes()).expect("a method");
        let response = app.send(app.request(method, &concrete(route.path), None)).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            body["code"] != ErrorCode::NoSuchRoute.as_str()
                && body["code"] != ErrorCode::MethodNotAllowed.as_str(),
            "{} {} is not served: {status} {body}",
            route.method,
            route.path
        );
        assert!(
            route.statuses().contains(&status),
            "{} {} answered {status}, which the table does not list",
            route.method,
            route.path
        );
    }
}
