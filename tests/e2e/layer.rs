//! The axum layer end to end: a token the layer accepts is refused shortly after a
//! `POST /v1/revocations` for its jti, and likewise after a `sub` revocation issued
//! after its `iat`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use serde_json::json;
use tower::ServiceExt;
use veto_api::RevokeRequest;
use veto_client::ListConfig;
use veto_client::jwt::{JwksConfig, JwksSource, Validator, ValidatorConfig};
use veto_client::layer::VetoAuthLayer;
use veto_e2e::*;
use veto_proto::{RuleKind, UnixSeconds};
use veto_testkit::{JwksServer, NatsServer, TestIssuer};

async fn status(router: &Router, token: &str) -> StatusCode {
    let request = Request::get("/")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    within(10, "request", router.clone().oneshot(request))
        .await
        .expect("infallible")
        .status()
}

/// Polls until the router answers 401 for `token`; returns how long that took.
async fn refused_within(router: &Router, token: &str, seconds: u64) -> Duration {
    let started = Instant::now();
    within(seconds, "the token is refused", async {
        while status(router, token).await != StatusCode::UNAUTHORIZED {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    started.elapsed()
}

#[tokio::test]
async fn a_revocation_reaches_a_service_behind_the_layer() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    let daemon = daemon(&nats.url(), 1).await;
    let writer = Writer::new(&daemon.url);
    let issuer = TestIssuer::new("https://idp.test");
    let jwks = within(5, "jwks", JwksServer::start(&issuer)).await.expect("jwks");
    let validator = Validator::new(
        ValidatorConfig::new(issuer.issuer(), "orders"),
        JwksSource::start(JwksConfig::new(&jwks.url())).expect("keys"),
    )
    .expect("validator");
    let list = start_clients(&nats.url(), 1, ListConfig::default())
        .await
        .remove(0);
    let router = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(VetoAuthLayer::new(validator, list));

    // By jti.
    let claims = issuer.claims("orders", Duration::from_secs(600));
    let token = issuer.mint(&claims);
    assert_eq!(status(&router, &token).await, StatusCode::OK);
    let request = RevokeRequest {
        iss: Some(issuer.issuer().to_owned()),
        exp: claims["exp"].as_i64().map(UnixSeconds),
        ..RevokeRequest::new(RuleKind::Jti, claims["jti"].as_str())
    };
    assert!(matches!(
        writer.revoke(&request, Duration::from_secs(10)).await,
        Written::Acknowledged(_)
    ));
    let by_jti = refused_within(&router, &token, 5).await;

    // By sub, issued after the token's iat.
    let mut claims = issuer.claims("orders", Duration::from_secs(600));
    claims["sub"] = json!("carol");
    claims["iat"] = json!(veto_testkit::tokens::now_unix() - 30);
    let older = issuer.mint(&claims);
    assert_eq!(status(&router, &older).await, StatusCode::OK);
    let request = RevokeRequest {
        iss: Some(issuer.issuer().to_owned()),
        ..RevokeRequest::new(RuleKind::Sub, Some("carol"))
    };
    let Written::Acknowledged(stored) = writer.revoke(&request, Duration::from_secs(10)).await else {
        panic!("the sub revocation is acknowledged");
    };
    let by_sub = refused_within(&router, &older, 5).await;
    // A token issued after the revocation's moment is still served.
    claims["iat"] = json!(stored.rule.issued_before.map(|at| at.0));
    claims["jti"] = json!(veto_testkit::tokens::random_id());
    assert_eq!(status(&router, &issuer.mint(&claims)).await, StatusCode::OK);

    println!(
        "e2e report | layer: revoked token refused   | by jti after {:.1} ms | by sub after {:.1} ms",
        by_jti.as_secs_f64() * 1000.0,
        by_sub.as_secs_f64() * 1000.0
    );
}
