//! An identity provider logs a session out, end to end: its test double posts an OIDC
//! back-channel logout token (with the session's `sid`) to vetod while a service behind
//! the axum layer serves that session's token in a loop. The service answers 401 for it
//! shortly after the provider's POST, and goes on serving the same user's other
//! session. Reported: the time from the provider's POST to the first 401.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use tower::ServiceExt;
use veto_client::ListConfig;
use veto_client::jwt::{JwksConfig, JwksSource, Validator, ValidatorConfig};
use veto_client::layer::VetoAuthLayer;
use veto_daemon::idp::settings::OidcProviderSection;
use veto_e2e::*;
use veto_testkit::tokens::now_unix;
use veto_testkit::{IdentityProvider, NatsServer};

const OP: &str = "https://sso.test/realms/acme";
const CLIENT_ID: &str = "orders";

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

#[tokio::test]
async fn a_back_channel_logout_reaches_a_service_behind_the_layer() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    let op = within(5, "the identity provider", IdentityProvider::start(OP))
        .await
        .expect("the identity provider");
    let daemon = daemon_with(&nats.url(), 1, |settings| {
        settings.idp.oidc.insert(
            "acme".into(),
            OidcProviderSection {
                issuer: OP.into(),
                jwks_url: op.jwks.url(),
                client_ids: vec![CLIENT_ID.into()],
                algorithms: vec!["ES256".into()],
                leeway: Duration::from_secs(30),
            },
        );
    })
    .await;

    // The service: the provider's tokens for "orders", checked against the list.
    let validator = Validator::new(
        ValidatorConfig::new(OP, CLIENT_ID),
        JwksSource::start(JwksConfig::new(&op.jwks.url())).expect("keys"),
    )
    .expect("validator");
    let list = start_clients(&nats.url(), 1, ListConfig::default())
        .await
        .remove(0);
    let router = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(VetoAuthLayer::new(validator, list));
    let iat = now_unix() - 5;
    let session = op.access_token(CLIENT_ID, "248289761001", "session-laptop", iat);
    let other_session = op.access_token(CLIENT_ID, "248289761001", "session-phone", iat);
    assert_eq!(status(&router, &session).await, StatusCode::OK);
    assert_eq!(status(&router, &other_session).await, StatusCode::OK);

    // The service serves the session's token in a loop until it is refused.
    let serving = tokio::spawn({
        let (router, session) = (router.clone(), session.clone());
        async move {
            let mut served = 0u64;
            loop {
                match status(&router, &session).await {
                    StatusCode::OK => served += 1,
                    StatusCode::UNAUTHORIZED => return (Instant::now(), served),
                    other => panic!("the service answered {other}"),
                }
                tokio::task::yield_now().await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;

    // The provider logs the session out.
    let logout_token = op.logout_token(CLIENT_ID, Some("248289761001"), Some("session-laptop"));
    let http = reqwest::Client::new();
    let posted = Instant::now();
    let response = within(
        10,
        "the back-channel logout POST",
        http.post(format!("{}/oidc/backchannel-logout", daemon.url))
            .form(&[("logout_token", logout_token.as_str())])
            .send(),
    )
    .await
    .expect("an answer");
    let answered = posted.elapsed();
    assert_eq!(response.status(), 200);

    let (refused_at, served) = within(10, "the service refuses the session's token", serving)
        .await
        .expect("the serving loop");
    let to_first_401 = refused_at.duration_since(posted);
    assert!(served > 0, "the token was served before the logout");
    assert_eq!(
        status(&router, &other_session).await,
        StatusCode::OK,
        "the user's other session is still served"
    );

    println!(
        "e2e report | idp logout: session token refused | first 401 {:.1} ms after the IdP's POST (answered 200 in {:.1} ms) | other session still served",
        to_first_401.as_secs_f64() * 1000.0,
        answered.as_secs_f64() * 1000.0
    );
}
