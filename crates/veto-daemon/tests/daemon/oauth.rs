//! RFC 7009: a valid token becomes a jti rule until its exp; anything else gets 200 and
//! publishes nothing.

use std::time::Duration;

use reqwest::Method;
use veto_proto::{Event, KeyDigest, RuleKind};
use veto_testkit::TestIssuer;

use crate::support::*;

async fn hand_in(app: &TestApp, token: &str, key: Option<&str>) -> reqwest::Response {
    let form = [("token", token), ("token_type_hint", "access_token")];
    app.send(app.request(Method::POST, "/oauth2/revoke", key).form(&form))
        .await
}

#[tokio::test]
async fn a_valid_token_becomes_a_jti_rule_until_its_exp() {
    let app = spawn_app().await;
    let claims = app.issuer.claims(SERVICE_AUDIENCE, Duration::from_secs(900));
    let token = app.issuer.mint(&claims);
    assert_eq!(hand_in(&app, &token, Some(ADMIN_KEY)).await.status(), 200);

    let jti = claims["jti"].as_str().expect("jti");
    let subject = format!(
        "veto.v1.rule.jti.{}",
        KeyDigest::of(RuleKind::Jti, Some(ISSUER), Some(jti))
    );
    let (event, _) = app
        .last_event(&subject)
        .await
        .expect("a rule for the token's jti, scoped to its issuer");
    let Event::Rule(rule) = event else {
        panic!("a rule")
    };
    assert_eq!(rule.expires_at.0, claims["exp"].as_i64().expect("exp") + 60);
    assert_eq!(rule.iss.as_deref(), Some(ISSUER));
}

#[tokio::test]
async fn garbage_and_foreign_tokens_get_200_and_publish_nothing() {
    let app = spawn_app().await;
    let stranger = TestIssuer::new(ISSUER); // same name, different keys
    let claims = app.issuer.claims(SERVICE_AUDIENCE, Duration::from_secs(900));
    for token in [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        stranger.mint(&claims),
        app.issuer.forge_alg_none(&claims),
        app.issuer
            .mint(&app.issuer.claims("another-audience", Duration::from_secs(900))),
    ] {
        assert_eq!(
            hand_in(&app, &token, Some(ADMIN_KEY)).await.status(),
            200,
            "{token}"
        );
    }
    assert!(app.rule_subjects().await.is_empty());
    let token = app.issuer.mint(&claims);
    assert_eq!(
        hand_in(&app, &token, None).await.status(),
        401,
        "the caller must authenticate"
    );
    assert!(app.rule_subjects().await.is_empty());
}

#[tokio::test]
async fn a_token_whose_key_cannot_be_fetched_is_503_to_retry() {
    let app = spawn_app().await;
    app._jwks.set_down(true);
    let claims = app.issuer.claims(SERVICE_AUDIENCE, Duration::from_secs(900));
    let rotated = app.issuer.mint_with_kid(Some("key-2"), &claims);
    let response = hand_in(&app, &rotated, Some(ADMIN_KEY)).await;
    assert_eq!(response.status(), 503, "RFC 7009 §2.2.1: the caller retries");
    assert!(response.headers().get("retry-after").is_some());
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], "keys_unavailable");
    assert!(app.rule_subjects().await.is_empty());
}

/// The value of `veto_oauth_revocations_total{outcome="…"}`, 0 when absent.
async fn outcome_count(app: &TestApp, outcome: &str) -> u64 {
    let metrics = within(5, "metrics", app.api(None).metrics())
        .await
        .expect("metrics");
    let series = format!(r#"veto_oauth_revocations_total{{outcome="{outcome}"}} "#);
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_valid_token_that_no_jti_rule_can_cover_is_counted() {
    let app = spawn_app().await;
    let mut no_jti = app.issuer.claims(SERVICE_AUDIENCE, Duration::from_secs(900));
    no_jti.as_object_mut().expect("object").remove("jti");
    assert_eq!(
        hand_in(&app, &app.issuer.mint(&no_jti), Some(ADMIN_KEY))
            .await
            .status(),
        200
    );
    assert_eq!(outcome_count(&app, "no_jti").await, 1);

    // Lives longer than the deployment's max token TTL (24 h): no rule may outlive it.
    let mut too_long = app
        .issuer
        .claims(SERVICE_AUDIENCE, Duration::from_secs(25 * 3600));
    too_long["iat"] = serde_json::json!(now());
    assert_eq!(
        hand_in(&app, &app.issuer.mint(&too_long), Some(ADMIN_KEY))
            .await
            .status(),
        200
    );
    assert_eq!(outcome_count(&app, "lifetime_too_long").await, 1);
    assert!(app.rule_subjects().await.is_empty(), "nothing was published");

    let good = app.issuer.claims(SERVICE_AUDIENCE, Duration::from_secs(900));
    assert_eq!(
        hand_in(&app, &app.issuer.mint(&good), Some(ADMIN_KEY))
            .await
            .status(),
        200
    );
    assert_eq!(outcome_count(&app, "revoked").await, 1);
}
