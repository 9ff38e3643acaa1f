//! Admin authentication: 401 without valid credentials, 403 without the permission.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

fn admin_claims(app: &TestApp, roles: &[&str]) -> Value {
    let mut claims = app.issuer.claims(ADMIN_AUDIENCE, Duration::from_secs(300));
    claims["roles"] = json!(roles);
    claims
}

async fn revoke_as(app: &TestApp, credential: Option<&str>) -> reqwest::Response {
    let body = json!({"kind": "jti", "value": veto_testkit::tokens::random_id()});
    app.send(
        app.request(Method::POST, "/v1/revocations", credential)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let app = spawn_app().await;

    let response = revoke_as(&app, None).await;
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("a challenge")
        .to_str()
        .expect("ascii");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(
        response.json::<Value>().await.expect("json")["code"],
        "unauthorized"
    );

    assert_eq!(revoke_as(&app, Some("veto_not_a_key")).await.status(), 401);
    assert_eq!(
        revoke_as(&app, Some(READER_KEY)).await.status(),
        403,
        "read-only key"
    );
    assert_eq!(revoke_as(&app, Some(REVOKER_KEY)).await.status(), 201);
    let basic = app
        .send(
            app.http
                .post(app.url("/v1/revocations"))
                .basic_auth("admin", Some(ADMIN_KEY)),
        )
        .await;
    assert_eq!(basic.status(), 401, "only bearer credentials");
    assert_eq!(
        app.get("/v1/revocations", None).await.status(),
        401,
        "listing needs credentials too"
    );
}

#[tokio::test]
async fn admin_jwts_need_the_role_and_a_valid_token() {
    let app = spawn_app().await;
    let good = app.issuer.mint(&admin_claims(&app, &["veto:revoke"]));
    assert_eq!(revoke_as(&app, Some(&good)).await.status(), 201);

    let reader = app.issuer.mint(&admin_claims(&app, &["veto:read"]));
    assert_eq!(revoke_as(&app, Some(&reader)).await.status(), 403, "wrong role");
    assert_eq!(app.get("/v1/revocations", Some(&reader)).await.status(), 200);

    let mut expired = admin_claims(&app, &["veto:revoke"]);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = admin_claims(&app, &["veto:revoke"]);
    wrong_audience["aud"] = json!("someone-else");
    let mut no_exp = admin_claims(&app, &["veto:revoke"]);
    no_exp.as_object_mut().expect("object").remove("exp");
    let claims = admin_claims(&app, &["veto:revoke"]);
    let forged = [
        ("expired", app.issuer.mint(&expired)),
        ("wrong audience", app.issuer.mint(&wrong_audience)),
        ("no exp", app.issuer.mint(&no_exp)),
        ("alg none", app.issuer.forge_alg_none(&claims)),
        (
            "HS256 signed with the public key",
            app.issuer.forge_hs256_with_public_key(&claims),
        ),
        ("no kid", app.issuer.mint_with_kid(None, &claims)),
        ("unknown kid", app.issuer.mint_with_kid(Some("key-99"), &claims)),
    ];
    for (case, token) in forged {
        let response = revoke_as(&app, Some(&token)).await;
        assert_eq!(response.status(), 401, "{case}");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .expect("a challenge")
            .to_str()
            .expect("ascii");
        assert!(challenge.contains("invalid_token"), "{case}: {challenge}");
    }
    assert!(
        app.rule_subjects().await.len() == 1,
        "only the good token revoked something"
    );
}

#[tokio::test]
async fn a_principal_over_its_rate_limit_gets_429() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.per_second = 1;
        settings.rate_limit.burst = 2;
    })
    .await;
    assert_eq!(revoke_as(&app, Some(ADMIN_KEY)).await.status(), 201);
    assert_eq!(revoke_as(&app, Some(ADMIN_KEY)).await.status(), 201);
    let limited = revoke_as(&app, Some(ADMIN_KEY)).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    assert_eq!(
        revoke_as(&app, Some(REVOKER_KEY)).await.status(),
        201,
        "limits are per principal"
    );
}

/// The `WWW-Authenticate` challenge and the error code of a response.
async fn challenge_and_code(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        challenge,
        body["code"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn revoke_with_headers(app: &TestApp, authorization: &[&str]) -> (u16, String, String) {
    let mut request = app
        .http
        .post(app.url("/v1/revocations"))
        .json(&json!({"kind": "jti", "value": veto_testkit::tokens::random_id()}));
    for value in authorization {
        request = request.header(reqwest::header::AUTHORIZATION, *value);
    }
    challenge_and_code(app.send(request).await).await
}

#[tokio::test]
async fn the_authorization_header_is_read_as_rfc_6750_asks() {
    let app = spawn_app().await;
    let good = format!("Bearer {ADMIN_KEY}");
    // Two headers, whichever comes first: the request is malformed, not authenticated.
    for pair in [
        [good.as_str(), "Bearer garbage"],
        ["Bearer garbage", good.as_str()],
    ] {
        let (status, challenge, code) = revoke_with_headers(&app, &pair).await;
        assert_eq!(status, 400, "{pair:?}");
        assert_eq!(code, "invalid_request", "{pair:?}");
        assert!(challenge.contains(r#"error="invalid_request""#), "{challenge}");
    }
    // A bearer header that carries no usable token is malformed too.
    for malformed in ["Bearer", "Bearer a b"] {
        let (status, challenge, code) = revoke_with_headers(&app, &[malformed]).await;
        assert_eq!((status, code.as_str()), (400, "invalid_request"), "{malformed}");
        assert!(challenge.contains(r#"error="invalid_request""#), "{challenge}");
    }
    // No credentials, or credentials of another scheme: a challenge without an error code.
    for absent in [&[][..], &["Basic YWRtaW46cHc="][..]] {
        let (status, challenge, code) = revoke_with_headers(&app, absent).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "{absent:?}");
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(!challenge.contains("error="), "{absent:?}: {challenge}");
    }
    // A bad token: invalid_token.
    let (status, challenge, _) = revoke_with_headers(&app, &["Bearer veto_not_a_key"]).await;
    assert_eq!(status, 401);
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    assert!(app.rule_subjects().await.is_empty(), "nothing was revoked");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, _, code) = revoke_with_headers(&app, &[&format!("{scheme} {ADMIN_KEY}")]).await;
        assert_eq!(status, 201, "{scheme}: {code}");
    }
}

#[tokio::test]
async fn a_jwks_outage_is_the_servers_failure_not_the_tokens() {
    let app = spawn_app().await;
    app._jwks.set_down(true);
    let claims = admin_claims(&app, &["veto:revoke"]);
    let rotated = app.issuer.mint_with_kid(Some("key-2"), &claims);
    for attempt in 0..2 {
        let response = revoke_as(&app, Some(&rotated)).await;
        assert!(
            response.headers().get("retry-after").is_some(),
            "attempt {attempt}"
        );
        let (status, challenge, code) = challenge_and_code(response).await;
        assert_eq!(
            (status, code.as_str()),
            (503, "keys_unavailable"),
            "attempt {attempt}"
        );
        assert!(!challenge.contains("invalid_token"), "{challenge}");
    }
    // A cached key still validates while the endpoint is down.
    let good = app.issuer.mint(&claims);
    assert_eq!(revoke_as(&app, Some(&good)).await.status(), 201);
}

#[tokio::test]
async fn a_long_or_odd_admin_principal_still_writes_with_a_bounded_name() {
    let app = spawn_app().await;
    let mut names = Vec::new();
    for sub in ["a".repeat(300), "b".repeat(300), "mallory\nkey:admin".to_owned()] {
        let mut claims = admin_claims(&app, &["veto:revoke"]);
        claims["sub"] = json!(sub);
        let response = revoke_as(&app, Some(&app.issuer.mint(&claims))).await;
        assert_eq!(response.status(), 201, "sub of {} bytes", sub.len());
        let body: Value = response.json().await.expect("json");
        let name = body["rule"]["revoked_by"]
            .as_str()
            .expect("revoked_by")
            .to_owned();
        assert!(name.len() <= 256, "{name}");
        assert!(!name.chars().any(char::is_control), "{name:?}");
        assert!(name.starts_with("jwt:https://idp.test#"), "{name}");
        names.push(name);
    }
    assert_ne!(names[0], names[1], "distinct principals keep distinct names");
}
