//! The admin API's happy paths: durable, merged, idempotent writes; reads; lifts; batch.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use veto_proto::{Event, KeyDigest, RuleKind};

use crate::support::*;

#[tokio::test]
async fn a_revocation_lands_in_the_stream_with_its_subject_and_payload() {
    let app = spawn_app().await;
    let exp = now() + 600;
    let response = app
        .revoke(&json!({"kind": "jti", "value": "token-1", "exp": exp, "reason": "leaked"}))
        .await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let body: Value = response.json().await.expect("json");

    let digest = KeyDigest::of(RuleKind::Jti, None, Some("token-1"));
    let subject = format!("veto.v1.rule.jti.{digest}");
    assert_eq!(body["subject"], subject.as_str());
    assert_eq!(body["digest"], digest.to_string().as_str());
    let (event, sequence) = app.last_event(&subject).await.expect("the rule is in the stream");
    let Event::Rule(rule) = event else {
        panic!("a rule, not {event:?}")
    };
    assert_eq!(sequence, body["sequence"].as_u64().expect("sequence"));
    assert_eq!(rule.value.as_deref(), Some("token-1"));
    assert_eq!(rule.expires_at.0, exp + 60, "the token's exp plus leeway");
    assert_eq!(rule.revoked_by.as_deref(), Some("key:admin"));
    assert_eq!(rule.reason.as_deref(), Some("leaked"));
    assert_eq!(serde_json::to_value(&rule).expect("json"), body["rule"]);
}

#[tokio::test]
async fn the_same_request_twice_leaves_one_message() {
    let app = spawn_app().await;
    let jti = json!({"kind": "jti", "value": "token-2", "exp": now() + 600});
    let sub = json!({"kind": "sub", "value": "alice", "iss": ISSUER, "issued_before": now()});
    for request in [&jti, &sub] {
        let first = app.revoke(request).await;
        assert_eq!(first.status(), 201);
        let first: Value = first.json().await.expect("json");
        let second = app.revoke(request).await;
        assert_eq!(second.status(), 201, "the same answer");
        assert_eq!(
            second.headers().get("idempotent-replayed").map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        let second: Value = second.json().await.expect("json");
        assert_eq!(first, second);
    }
    let subjects = app.rule_subjects().await;
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects.values().all(|&count| count == 1),
        "one message per key: {subjects:?}"
    );
}

#[tokio::test]
async fn a_revocation_never_weakens_an_earlier_one() {
    let app = spawn_app().await;
    let t1 = now() - 10;
    let first = app
        .revoke(&json!({"kind": "sub", "value": "bob", "issued_before": t1}))
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");

    // An earlier issued_before is already covered: same answer, nothing published.
    let earlier = app
        .revoke(&json!({"kind": "sub", "value": "bob", "issued_before": t1 - 100}))
        .await;
    assert_eq!(earlier.status(), 201);
    let earlier: Value = earlier.json().await.expect("json");
    assert_eq!(earlier["sequence"], first["sequence"]);
    assert_eq!(earlier["rule"]["issued_before"], t1);

    // A later one strengthens the rule.
    let later = app
        .revoke(&json!({"kind": "sub", "value": "bob", "issued_before": t1 + 5}))
        .await;
    let later: Value = later.json().await.expect("json");
    assert_eq!(later["rule"]["issued_before"], t1 + 5);
    assert!(later["sequence"].as_u64() > first["sequence"].as_u64());
}

#[tokio::test]
async fn rules_are_read_listed_and_lifted() {
    let app = spawn_app().await;
    for value in ["a", "b", "c"] {
        assert_eq!(
            app.revoke(&json!({"kind": "jti", "value": value})).await.status(),
            201
        );
    }
    assert_eq!(
        app.revoke(&json!({"kind": "all", "iss": ISSUER})).await.status(),
        201
    );

    // Reads come from the daemon's replica: what services see, a moment later.
    eventually(10, "the replica has the rules", || async {
        app.get("/v1/revocations/jti/c", Some(READER_KEY)).await.status() == 200
            && app
                .get(&format!("/v1/revocations/all?iss={ISSUER}"), Some(READER_KEY))
                .await
                .status()
                == 200
    })
    .await;
    let rule: Value = app
        .get("/v1/revocations/jti/a", Some(READER_KEY))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rule["rule"]["value"], "a");

    let page: Value = app
        .get("/v1/revocations?kind=jti&limit=2", Some(READER_KEY))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let cursor = page["next_cursor"].as_str().expect("a next page").to_owned();
    let rest: Value = app
        .get(
            &format!("/v1/revocations?kind=jti&limit=2&cursor={cursor}"),
            Some(READER_KEY),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_cursor"].is_null());
    let everything: Value = app
        .get("/v1/revocations", Some(READER_KEY))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(everything["items"].as_array().map(Vec::len), Some(4));

    // Lifting needs the lift permission.
    let denied = app
        .send(app.request(Method::DELETE, "/v1/revocations/jti/a", Some(REVOKER_KEY)))
        .await;
    assert_eq!(denied.status(), 403);
    let lifted = app
        .send(app.request(
            Method::DELETE,
            "/v1/revocations/jti/a?reason=mistake",
            Some(ADMIN_KEY),
        ))
        .await;
    assert_eq!(lifted.status(), 200);
    let lifted: Value = lifted.json().await.expect("json");
    assert_eq!(lifted["lifted"]["value"], "a");
    let (event, _) = app
        .last_event(&format!(
            "veto.v1.rule.jti.{}",
            KeyDigest::of(RuleKind::Jti, None, Some("a"))
        ))
        .await
        .expect("tombstone");
    assert!(
        matches!(event, Event::Lift(ref lift) if lift.reason.as_deref() == Some("mistake")),
        "{event:?}"
    );
    eventually(10, "the lift reaches the replica", || async {
        app.get("/v1/revocations/jti/a", Some(READER_KEY)).await.status() == 404
    })
    .await;
    let again = app
        .send(app.request(Method::DELETE, "/v1/revocations/jti/a", Some(ADMIN_KEY)))
        .await;
    assert_eq!(again.status(), 404);
    let all = app
        .send(app.request(
            Method::DELETE,
            &format!("/v1/revocations/all?iss={ISSUER}"),
            Some(ADMIN_KEY),
        ))
        .await;
    assert_eq!(all.status(), 200);

    // A revoke after a lift stores the rule again.
    assert_eq!(
        app.revoke(&json!({"kind": "jti", "value": "a"})).await.status(),
        201
    );
    let (event, _) = app
        .last_event(&format!(
            "veto.v1.rule.jti.{}",
            KeyDigest::of(RuleKind::Jti, None, Some("a"))
        ))
        .await
        .expect("rule again");
    assert!(matches!(event, Event::Rule(_)), "{event:?}");
}

#[tokio::test]
async fn a_batch_answers_per_item_and_publishes_only_the_valid_ones() {
    let app = spawn_app().await;
    let batch = json!({"revocations": [
        {"kind": "jti", "value": "b-1"},
        {"kind": "sid", "value": "session-1"},
        {"kind": "jti", "value": ""},
        {"kind": "jti", "value": "b-2", "unknown": 1},
        {"kind": "all"},
    ]});
    let response = app
        .send(
            app.request(Method::POST, "/v1/revocations/batch", Some(ADMIN_KEY))
                .json(&batch),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let statuses: Vec<u64> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| result["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(statuses, vec![201, 201, 422, 422, 201]);
    assert_eq!(body["results"][2]["error"]["code"], "empty_field");
    assert_eq!(body["results"][3]["error"]["code"], "invalid_body");
    assert_eq!(app.rule_subjects().await.len(), 3);
}

#[tokio::test]
async fn health_metrics_and_the_openapi_document_need_no_credentials() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    assert_eq!(
        app.revoke(&json!({"kind": "jti", "value": "m-1"})).await.status(),
        201
    );
    let metrics = app.get("/metrics", None).await.text().await.expect("text");
    for name in [
        "veto_http_requests_total",
        "veto_publish_duration_seconds",
        "veto_rules_live",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let openapi: Value = app.get("/openapi.json", None).await.json().await.expect("json");
    for path in [
        "/v1/revocations",
        "/v1/revocations/batch",
        "/v1/revocations/{kind}/{value}",
        "/oauth2/revoke",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(openapi["components"]["schemas"]["RevokeRequest"].is_object());
}

#[tokio::test]
async fn the_daemon_refuses_to_start_on_an_incompatible_stream() {
    let nats = within(30, "nats", veto_testkit::NatsServer::start())
        .await
        .expect("nats-server");
    let js = async_nats::jetstream::new(within(10, "connect", nats.connect()).await.expect("connect"));
    // Someone else's stream named VETO: other subjects, in memory.
    let foreign = async_nats::jetstream::stream::Config {
        name: "VETO".into(),
        subjects: vec!["other.>".into()],
        storage: async_nats::jetstream::stream::StorageType::Memory,
        ..Default::default()
    };
    within(10, "create foreign stream", js.create_stream(foreign))
        .await
        .expect("created");
    let mut settings = veto_daemon::config::Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        ..Default::default()
    };
    settings.nats.url = nats.url();
    let error = within(30, "build", veto_daemon::Application::build(settings))
        .await
        .expect_err("an incompatible stream stops the daemon at start");
    let message = format!("{error:#}");
    assert!(message.contains("settings veto cannot use"), "{message}");
    assert!(
        message.contains("subjects") && message.contains("memory"),
        "{message}"
    );
}

#[tokio::test]
async fn a_read_can_wait_for_its_own_write() {
    let app = spawn_app().await;
    for index in 0..20 {
        let value = format!("ryw-{index}");
        let response = app.revoke(&json!({"kind": "jti", "value": value})).await;
        assert_eq!(response.status(), 201);
        let sequence = response.json::<Value>().await.expect("json")["sequence"]
            .as_u64()
            .expect("sequence");
        // No polling: the read waits until the daemon's replica has the write.
        let read = app
            .get(
                &format!("/v1/revocations/jti/{value}?min_sequence={sequence}"),
                Some(READER_KEY),
            )
            .await;
        assert_eq!(read.status(), 200, "read {index} right after its write");
        let read: Value = read.json().await.expect("json");
        assert_eq!(read["rule"]["value"], value.as_str());
    }
    // A sequence the daemon never reaches: a bounded wait, then 503.
    let started = std::time::Instant::now();
    let never = app
        .get(
            "/v1/revocations/jti/ryw-0?min_sequence=1000000000",
            Some(READER_KEY),
        )
        .await;
    assert_eq!(never.status(), 503);
    assert!(never.headers().get("retry-after").is_some());
    assert_eq!(never.json::<Value>().await.expect("json")["code"], "not_ready");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn values_that_urls_normalise_away_are_reached_by_query() {
    let app = spawn_app().await;
    for value in ["..", ".", "%2e%2e", "a/../b"] {
        let response = app.revoke(&json!({"kind": "jti", "value": value})).await;
        assert_eq!(response.status(), 201, "{value}");
        let sequence = response.json::<Value>().await.expect("json")["sequence"]
            .as_u64()
            .expect("sequence");
        let read = app
            .send(
                app.request(Method::GET, "/v1/revocations/jti", Some(READER_KEY))
                    .query(&[("value", value), ("min_sequence", &sequence.to_string())]),
            )
            .await;
        assert_eq!(read.status(), 200, "GET {value:?}");
        assert_eq!(read.json::<Value>().await.expect("json")["rule"]["value"], value);
        let lifted = app
            .send(
                app.request(Method::DELETE, "/v1/revocations/jti", Some(ADMIN_KEY))
                    .query(&[("value", value)]),
            )
            .await;
        assert_eq!(lifted.status(), 200, "DELETE {value:?}");
    }
    // A value in the path and in the query is one too many.
    let twice = app.get("/v1/revocations/jti/a?value=b", Some(READER_KEY)).await;
    assert_eq!(twice.status(), 400);
    assert_eq!(
        twice.json::<Value>().await.expect("json")["code"],
        "invalid_query"
    );
    // An all rule takes no value, however it is sent.
    let all = app.get("/v1/revocations/all?value=x", Some(READER_KEY)).await;
    assert_eq!(
        all.json::<Value>().await.expect("json")["code"],
        "value_not_allowed"
    );
}

/// `POST path` as `key` with an `Idempotency-Key`.
async fn post_with_key(
    app: &TestApp,
    path: &str,
    credential: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.send(
        app.request(Method::POST, path, Some(credential))
            .header("idempotency-key", key)
            .json(body),
    )
    .await
}

fn replayed(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|value| value == "true")
}

#[tokio::test]
async fn a_stored_answer_is_replayed_only_to_a_caller_that_still_authenticates() {
    let app = spawn_app().await;
    let erin = json!({"kind": "sub", "value": "erin"});
    // A request that does not authenticate leaves nothing behind.
    let refused = post_with_key(&app, "/v1/revocations", "not-a-key", "retry-9", &erin).await;
    assert_eq!(refused.status(), 401);
    let first = post_with_key(&app, "/v1/revocations", REVOKER_KEY, "retry-9", &erin).await;
    assert_eq!(first.status(), 201);
    assert!(!replayed(&first), "the 401 stored nothing under the key");
    // The key removed (what SIGHUP does): its stored answer is not replayed to it.
    let kept: Vec<_> = api_keys()
        .into_iter()
        .filter(|entry| entry.name != "revoker")
        .collect();
    app.daemon.state().authenticator.replace_api_keys(&kept);
    let again = post_with_key(&app, "/v1/revocations", REVOKER_KEY, "retry-9", &erin).await;
    assert_eq!(again.status(), 401);
    assert!(!replayed(&again));
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = spawn_app().await;
    // Defaulted times: without the key, a retry a second later is a new, later rule.
    let carol = json!({"kind": "sub", "value": "carol"});
    let first = post_with_key(&app, "/v1/revocations", ADMIN_KEY, "retry-1", &carol).await;
    assert_eq!(first.status(), 201);
    assert!(!replayed(&first));
    let first: Value = first.json().await.expect("json");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = post_with_key(&app, "/v1/revocations", ADMIN_KEY, "retry-1", &carol).await;
    assert_eq!(again.status(), 201);
    assert!(replayed(&again), "the replay says so");
    assert_eq!(
        again.json::<Value>().await.expect("json"),
        first,
        "the same answer"
    );
    let subject = first["subject"].as_str().expect("subject");
    let (_, sequence) = app.last_event(subject).await.expect("the rule");
    assert_eq!(
        Some(sequence),
        first["sequence"].as_u64(),
        "the replay published nothing"
    );

    // The same key with another body is a client error.
    let dave = json!({"kind": "sub", "value": "dave"});
    let reused = post_with_key(&app, "/v1/revocations", ADMIN_KEY, "retry-1", &dave).await;
    assert_eq!(reused.status(), 422);
    assert_eq!(
        reused.json::<Value>().await.expect("json")["code"],
        "idempotency_key_reused"
    );
    // Keys are per caller: another principal's "retry-1" is its own.
    let other = post_with_key(&app, "/v1/revocations", REVOKER_KEY, "retry-1", &dave).await;
    assert_eq!(other.status(), 201);
    assert!(!replayed(&other));

    // A batch replays whole.
    let batch = json!({"revocations": [{"kind": "jti", "value": "b-1"}, {"kind": "sid", "value": "s-1"}]});
    let first = post_with_key(&app, "/v1/revocations/batch", ADMIN_KEY, "batch-1", &batch).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = post_with_key(&app, "/v1/revocations/batch", ADMIN_KEY, "batch-1", &batch).await;
    assert_eq!(again.status(), 200);
    assert!(replayed(&again));
    assert_eq!(again.json::<Value>().await.expect("json"), first);

    // A key is 1 to 255 visible ASCII characters.
    for bad in ["", &"k".repeat(256)] {
        let response = post_with_key(&app, "/v1/revocations", ADMIN_KEY, bad, &carol).await;
        assert_eq!(response.status(), 400, "{} bytes", bad.len());
        assert_eq!(
            response.json::<Value>().await.expect("json")["code"],
            "invalid_idempotency_key"
        );
    }
}
