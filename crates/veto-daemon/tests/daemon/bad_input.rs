//! Bad input gets a clear 4xx with a stable code and changes nothing in the stream.

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn every_bad_input_has_its_code_and_publishes_nothing() {
    let app = spawn_app().await;
    let now = now();
    let json_cases: Vec<(Value, u16, &str)> = vec![
        (json!({"kind": "token", "value": "x"}), 400, "unknown_kind"),
        (json!({"kind": "jti", "value": ""}), 422, "empty_field"),
        (
            json!({"kind": "jti", "value": "v".repeat(257)}),
            422,
            "field_too_long",
        ),
        (
            json!({"kind": "jti", "value": "a\u{0007}b"}),
            422,
            "control_character",
        ),
        (
            json!({"kind": "sub", "value": "line\nbreak"}),
            422,
            "control_character",
        ),
        (json!({"kind": "jti"}), 422, "value_required"),
        (json!({"kind": "all", "value": "x"}), 422, "value_not_allowed"),
        (
            json!({"kind": "jti", "value": "x", "exp": now - 3600}),
            422,
            "expires_at_in_past",
        ),
        (
            json!({"kind": "jti", "value": "x", "exp": now + 3 * 86_400}),
            422,
            "expires_at_too_late",
        ),
        (
            json!({"kind": "sub", "value": "x", "issued_before": now + 3600}),
            422,
            "issued_before_in_future",
        ),
        (
            json!({"kind": "sub", "value": "x", "issued_before": i64::MAX}),
            422,
            "issued_before_in_future",
        ),
        (
            json!({"kind": "all", "issued_before": i64::MAX - 1}),
            422,
            "issued_before_in_future",
        ),
        (
            json!({"kind": "sub", "value": "x", "issued_before": now - 3 * 86_400}),
            422,
            "issued_before_too_old",
        ),
        (
            json!({"kind": "jti", "value": "x", "issued_before": now}),
            422,
            "issued_before_not_allowed",
        ),
        (
            json!({"kind": "sub", "value": "x", "exp": now + 60}),
            422,
            "exp_not_allowed",
        ),
        (
            json!({"kind": "jti", "value": "x", "iss": ""}),
            422,
            "empty_field",
        ),
        (
            json!({"kind": "jti", "value": "x", "reason": "r".repeat(2000)}),
            422,
            "field_too_long",
        ),
        (
            json!({"kind": "jti", "value": "x", "expires": now}),
            422,
            "invalid_body",
        ),
        (json!({"kind": 5, "value": "x"}), 422, "invalid_body"),
        (json!(["jti", "x"]), 422, "invalid_body"),
        (
            json!({"kind": "sub", "value": "x", "iss": format!("{ISSUER}/")}),
            422,
            "unknown_issuer",
        ),
    ];
    for (body, status, code) in json_cases {
        let response = app.revoke(&body).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.expect("a JSON error body");
        assert_eq!(error["code"], code, "{body}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty())
        );
    }

    let raw_cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "/v1/revocations",
            "application/json",
            b"{\"kind\":".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "/v1/revocations",
            "text/plain",
            b"{\"kind\":\"jti\",\"value\":\"x\"}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/v1/revocations",
            "application/json",
            format!(
                "{{\"kind\":\"jti\",\"value\":\"x\",\"reason\":\"{}\"}}",
                "r".repeat(70 * 1024)
            )
            .into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "/v1/revocations/batch",
            "application/json",
            json!({"revocations": vec![json!({"kind": "jti", "value": "x"}); 1001]})
                .to_string()
                .into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "/v1/revocations/batch",
            "application/json",
            b"{\"revocations\":[]}".to_vec(),
            422,
            "empty_batch",
        ),
    ];
    for (path, content_type, body, status, code) in raw_cases {
        let response = app
            .send(
                app.request(Method::POST, path, Some(ADMIN_KEY))
                    .header(CONTENT_TYPE, content_type)
                    .body(body),
            )
            .await;
        assert_eq!(response.status(), status, "{path} {code}");
        let error: Value = response.json().await.expect("a JSON error body");
        assert_eq!(error["code"], code, "{path}");
    }

    for (method, path, status, code) in [
        (Method::GET, "/v1/revocations?limit=0", 400, "invalid_query"),
        (Method::GET, "/v1/revocations?cursor=nope", 400, "invalid_cursor"),
        (Method::GET, "/v1/revocations?kind=nope", 400, "unknown_kind"),
        (Method::GET, "/v1/revocations/jti", 422, "value_required"),
        (Method::DELETE, "/v1/revocations/all/x", 422, "value_not_allowed"),
        (Method::GET, "/v1/nothing", 404, "no_such_route"),
        (Method::PUT, "/v1/revocations", 405, "method_not_allowed"),
    ] {
        let response = app.send(app.request(method.clone(), path, Some(ADMIN_KEY))).await;
        assert_eq!(response.status(), status, "{method} {path}");
        let error: Value = response.json().await.expect("a JSON error body");
        assert_eq!(error["code"], code, "{method} {path}");
    }

    // Asserted on the stream, not on the responses: nothing was published.
    assert!(
        app.rule_subjects().await.is_empty(),
        "bad input changed the stream"
    );
}

#[tokio::test]
async fn methods_a_client_invents_share_one_metric_series() {
    let app = spawn_app().await;
    for index in 0..5 {
        let method = Method::from_bytes(format!("XQ{index}").as_bytes()).expect("a method token");
        app.send(app.request(method, "/healthz", None)).await;
    }
    app.send(app.request(Method::GET, "/healthz", None)).await;
    let metrics = within(5, "metrics", app.api(None).metrics())
        .await
        .expect("metrics");
    let requests: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("veto_http_requests_total{"))
        .collect();
    assert!(
        requests.iter().all(|line| !line.contains("XQ")),
        "an invented method became a label: {requests:#?}"
    );
    assert!(
        requests.iter().any(|line| line.contains(r#"method="other""#)),
        "{requests:#?}"
    );
    assert!(
        requests.iter().any(|line| line.contains(r#"method="GET""#)),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn a_rule_for_an_issuer_no_one_configured_is_refused() {
    // The admin JWT and RFC 7009 issuers (ISSUER), plus an explicit list.
    let app = spawn_app_with(|settings| {
        settings.tokens.issuers = vec!["https://other.example".into()];
    })
    .await;
    for iss in [ISSUER, "https://other.example"] {
        let response = app
            .revoke(&json!({"kind": "sub", "value": "x", "iss": iss}))
            .await;
        assert_eq!(response.status(), 201, "{iss}");
    }
    for typo in [
        format!("{ISSUER}/"),
        "https://IDP.test".to_owned(),
        "idp.test".to_owned(),
    ] {
        let response = app
            .revoke(&json!({"kind": "sub", "value": "y", "iss": typo}))
            .await;
        assert_eq!(response.status(), 422, "{typo}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["code"], "unknown_issuer", "{typo}");
        assert!(
            error["message"].as_str().unwrap_or_default().contains(ISSUER),
            "the message names the configured issuers: {error}"
        );
    }
    let batch = app
        .send(
            app.request(Method::POST, "/v1/revocations/batch", Some(ADMIN_KEY))
                .json(&json!({"revocations": [{"kind": "jti", "value": "t", "iss": "https://nope"}]})),
        )
        .await;
    let batch: Value = batch.json().await.expect("json");
    assert_eq!(batch["results"][0]["error"]["code"], "unknown_issuer", "{batch}");
    assert_eq!(
        app.rule_subjects().await.len(),
        2,
        "only the known issuers' rules"
    );

    // Without any issuer configured, any scope is taken.
    let open = spawn_app_with(|settings| {
        settings.auth.jwt = None;
        settings.oauth = None;
    })
    .await;
    let response = open
        .revoke(&json!({"kind": "sub", "value": "x", "iss": "https://anything.example"}))
        .await;
    assert_eq!(response.status(), 201);
}
