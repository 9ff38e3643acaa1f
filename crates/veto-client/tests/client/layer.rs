//! The tower layer: the attack matrix, each case its own test, through a real axum
//! router, a real JWKS endpoint and a real revocation list.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Value, json};
use tower::ServiceExt;
use veto_client::jwt::{Claims, JwksConfig, JwksSource, Validator, ValidatorConfig};
use veto_client::layer::VetoAuthLayer;
use veto_client::{ListConfig, RevocationList};
use veto_proto::Event;
use veto_testkit::{JwksServer, NatsServer, TestIssuer};

use crate::support::*;

const AUDIENCE: &str = "orders";

struct Service {
    router: Router,
    issuer: TestIssuer,
    jwks: JwksServer,
    _nats: NatsServer,
    js: async_nats::jetstream::Context,
}

async fn service() -> Service {
    let (nats, js) = server_with_stream().await;
    let list = ready_list(&nats.url(), ListConfig::default()).await;
    service_with(nats, js, list).await
}

async fn service_with(nats: NatsServer, js: async_nats::jetstream::Context, list: RevocationList) -> Service {
    let issuer = TestIssuer::new("https://idp.test");
    let jwks = within(5, "jwks", JwksServer::start(&issuer))
        .await
        .expect("jwks server");
    let keys = JwksSource::start(JwksConfig::new(&jwks.url())).expect("keys");
    let validator = Validator::new(ValidatorConfig::new(issuer.issuer(), AUDIENCE), keys).expect("validator");
    let router = Router::new()
        .route(
            "/",
            get(|Extension(claims): Extension<Claims>| async move { claims.sub.unwrap_or_default() }),
        )
        .layer(VetoAuthLayer::new(validator, list));
    Service {
        router,
        issuer,
        jwks,
        _nats: nats,
        js,
    }
}

impl Service {
    fn claims(&self) -> Value {
        self.issuer.claims(AUDIENCE, Duration::from_secs(300))
    }

    async fn call(&self, authorization: Option<&str>) -> (StatusCode, Option<String>, String) {
        self.call_with(authorization.as_slice()).await
    }

    /// A request with these `Authorization` headers (none, one, or several).
    async fn call_with(&self, authorization: &[&str]) -> (StatusCode, Option<String>, String) {
        let mut request = Request::get("/");
        for value in authorization {
            request = request.header(header::AUTHORIZATION, *value);
        }
        let response = within(
            10,
            "request",
            self.router
                .clone()
                .oneshot(request.body(Body::empty()).expect("request")),
        )
        .await
        .expect("infallible");
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|value| value.to_str().expect("ascii").to_owned());
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, challenge, String::from_utf8_lossy(&body).into_owned())
    }

    async fn bearer(&self, token: &str) -> (StatusCode, Option<String>, String) {
        self.call(Some(&format!("Bearer {token}"))).await
    }

    /// Asserts the RFC 6750 refusal: 401, `invalid_token`, and an empty body.
    async fn assert_refused(&self, token: &str) {
        let (status, challenge, body) = self.bearer(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some(r#"Bearer error="invalid_token""#));
        assert!(body.is_empty(), "no detail in the body: {body:?}");
    }
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let service = service().await;
    let (status, _, body) = service.bearer(&service.issuer.mint(&service.claims())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "user-1");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let service = service().await;
    service
        .assert_refused(&service.issuer.forge_alg_none(&service.claims()))
        .await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let service = service().await;
    service
        .assert_refused(&service.issuer.forge_hs256_with_public_key(&service.claims()))
        .await;
}

#[tokio::test]
async fn a_wrong_issuer_is_refused() {
    let service = service().await;
    let mut claims = service.claims();
    claims["iss"] = json!("https://evil.test");
    service.assert_refused(&service.issuer.mint(&claims)).await;
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    let service = service().await;
    let mut claims = service.claims();
    claims["aud"] = json!(["billing"]);
    service.assert_refused(&service.issuer.mint(&claims)).await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let service = service().await;
    let mut claims = service.claims();
    claims.as_object_mut().expect("object").remove("exp");
    service.assert_refused(&service.issuer.mint(&claims)).await;
}

#[tokio::test]
async fn a_token_expired_past_the_leeway_is_refused_and_within_it_accepted() {
    let service = service().await;
    let mut claims = service.claims();
    claims["exp"] = json!(veto_testkit::tokens::now_unix() - 120);
    service.assert_refused(&service.issuer.mint(&claims)).await;
    claims["exp"] = json!(veto_testkit::tokens::now_unix() - 10);
    assert_eq!(
        service.bearer(&service.issuer.mint(&claims)).await.0,
        StatusCode::OK,
        "30 s leeway"
    );
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let service = service().await;
    let mut claims = service.claims();
    claims["nbf"] = json!(veto_testkit::tokens::now_unix() + 300);
    service.assert_refused(&service.issuer.mint(&claims)).await;
}

#[tokio::test]
async fn a_token_without_kid_is_refused() {
    let service = service().await;
    service
        .assert_refused(&service.issuer.mint_with_kid(None, &service.claims()))
        .await;
}

#[tokio::test]
async fn a_token_with_an_unknown_kid_is_refused() {
    let service = service().await;
    service
        .assert_refused(&service.issuer.mint_with_kid(Some("key-404"), &service.claims()))
        .await;
}

#[tokio::test]
async fn a_malformed_authorization_header_is_an_invalid_request() {
    let service = service().await;
    let token = service.issuer.mint(&service.claims());
    // RFC 6750 §3.1: a malformed request is 400 invalid_request.
    for header in ["Bearer", "Bearer ", &format!("Bearer {token} extra")] {
        let (status, challenge, _) = service.call(Some(header)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header}");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_request""#),
            "{header}"
        );
    }
    // No credentials, or another scheme's: a challenge without an error code.
    for header in [None, Some("Basic dXNlcjpwYXNz"), Some(&format!("Token {token}"))] {
        let (status, challenge, _) = service.call(header).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(
            challenge.as_deref(),
            Some("Bearer"),
            "{header:?}: RFC 6750, no error code without bearer credentials"
        );
    }
}

#[tokio::test]
async fn two_authorization_headers_are_an_invalid_request() {
    let service = service().await;
    let good = format!("Bearer {}", service.issuer.mint(&service.claims()));
    for pair in [
        [good.as_str(), "Bearer garbage"],
        ["Bearer garbage", good.as_str()],
    ] {
        let (status, challenge, _) = service.call_with(&pair).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pair:?}");
        assert_eq!(challenge.as_deref(), Some(r#"Bearer error="invalid_request""#));
    }
}

#[tokio::test]
async fn a_token_over_8_kib_is_refused() {
    let service = service().await;
    let mut claims = service.claims();
    claims["padding"] = json!("x".repeat(9 * 1024));
    service.assert_refused(&service.issuer.mint(&claims)).await;
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let service = service().await;
    let claims = service.claims();
    let token = service.issuer.mint(&claims);
    assert_eq!(service.bearer(&token).await.0, StatusCode::OK);
    let jti = claims["jti"].as_str().expect("jti");
    publish_until_acked(&service.js, &Event::Rule(jti_rule(jti)), 10).await;
    within(10, "the revocation applies", async {
        while service.bearer(&token).await.0 != StatusCode::UNAUTHORIZED {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    service.assert_refused(&token).await;
}

#[tokio::test]
async fn a_list_that_is_not_ready_answers_503() {
    let (nats, js) = server_with_stream().await;
    // A list on a stream that does not exist never becomes ready.
    let client = within(10, "connect", nats.connect()).await.expect("connect");
    let list = RevocationList::start(client, ListConfig::default().stream_name("MISSING")).expect("list");
    let service = service_with(nats, js, list).await;
    let (status, _, _) = service.bearer(&service.issuer.mint(&service.claims())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

/// The layer as tower's own middleware is tested: against `tower_test::mock`, so that
/// readiness is the inner service's and only authorized requests reach it.
#[tokio::test]
async fn readiness_is_the_inner_services_and_only_authorized_requests_reach_it() {
    use tower::Layer;
    use tower_test::mock;

    let (nats, _js) = server_with_stream().await;
    let list = ready_list(&nats.url(), ListConfig::default()).await;
    let issuer = TestIssuer::new("https://idp.test");
    let jwks = within(5, "jwks", JwksServer::start(&issuer))
        .await
        .expect("jwks server");
    let keys = JwksSource::start(JwksConfig::new(&jwks.url())).expect("keys");
    let validator = Validator::new(ValidatorConfig::new(issuer.issuer(), AUDIENCE), keys).expect("validator");

    let (inner, mut handle) = mock::pair::<Request<Body>, axum::response::Response>();
    let mut service = mock::Spawn::new(VetoAuthLayer::new(validator, list).layer(inner));

    // Not ready while the inner service is not.
    handle.allow(0);
    assert!(
        service.poll_ready().is_pending(),
        "ready before the inner service"
    );
    handle.allow(2);
    assert!(
        service.poll_ready().is_ready(),
        "not ready once the inner service is"
    );

    // A refused request never reaches the inner service.
    let refused = within(
        10,
        "refused request",
        service.call(Request::get("/").body(Body::empty()).expect("request")),
    )
    .await
    .expect("an answer");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // An authorized one does, with its claims.
    let token = issuer.mint(&issuer.claims(AUDIENCE, Duration::from_secs(300)));
    assert!(service.poll_ready().is_ready());
    let pending = service.call(
        Request::get("/")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request"),
    );
    let answer = tokio::spawn(pending);
    let (request, respond) = within(10, "the inner service is called", handle.next_request())
        .await
        .expect("a request reaches the inner service");
    assert!(
        request.extensions().get::<Claims>().is_some(),
        "claims in the extensions"
    );
    respond.send_response(StatusCode::NO_CONTENT.into_response());
    let response = within(10, "the answer", answer)
        .await
        .expect("joined")
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let service = service().await;
    let mut claims = service.claims();
    claims["iat"] = json!(veto_testkit::tokens::now_unix() + 300);
    service.assert_refused(&service.issuer.mint(&claims)).await;
    claims["iat"] = json!(veto_testkit::tokens::now_unix() + 10);
    assert_eq!(
        service.bearer(&service.issuer.mint(&claims)).await.0,
        StatusCode::OK,
        "within the leeway"
    );
}

#[tokio::test]
async fn a_token_living_longer_than_the_max_token_ttl_is_refused() {
    let service = service().await;
    // The default policy's max token TTL is 24 h: a sub rule is kept that long after
    // the tokens it covers were issued, so a longer-lived token would outlive it.
    let mut claims = service.issuer.claims(AUDIENCE, Duration::from_secs(25 * 3600));
    service.assert_refused(&service.issuer.mint(&claims)).await;
    claims.as_object_mut().expect("object").remove("iat");
    service.assert_refused(&service.issuer.mint(&claims)).await;
    let day = service.issuer.claims(AUDIENCE, Duration::from_secs(24 * 3600));
    assert_eq!(service.bearer(&service.issuer.mint(&day)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_leeway_longer_than_the_policys_is_refused_at_construction() {
    // A jti rule is kept until exp + the policy's leeway (60 s by default); a service
    // accepting tokens longer past exp would accept a revoked token once its rule is gone.
    let keys = veto_client::jwt::StaticKeys::new();
    let config = ValidatorConfig {
        leeway: Duration::from_secs(120),
        ..ValidatorConfig::new("https://idp.test", AUDIENCE)
    };
    assert!(Validator::new(config, keys).is_err());
}

#[tokio::test]
async fn a_jwks_outage_answers_503_for_a_kid_not_in_the_cache() {
    let service = service().await;
    // The cached key is fetched; then the endpoint goes down and the issuer rotates.
    assert_eq!(
        service.bearer(&service.issuer.mint(&service.claims())).await.0,
        StatusCode::OK
    );
    service.jwks.set_down(true);
    let rotated = service.issuer.mint_with_kid(Some("key-2"), &service.claims());
    for attempt in 0..2 {
        let (status, challenge, _) = service.bearer(&rotated).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "attempt {attempt}");
        assert_eq!(challenge, None, "not the token's fault");
    }
}
