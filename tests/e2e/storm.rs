//! 6. A storm of malformed and random request bodies (property-generated) against the
//!    API: no 5xx, no panic, every error a JSON body with a code, the stream unchanged.

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{Value, json};
use veto_e2e::*;
use veto_testkit::NatsServer;

#[derive(Debug, Clone)]
struct Attempt {
    method: Method,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::hash_map("[a-z_]{0,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body that can never be a valid revocation: each branch breaks it on purpose.
fn invalid_revocation() -> impl Strategy<Value = Value> {
    let valid_kind = prop::sample::select(vec!["jti", "sub", "sid", "all"]);
    prop_oneof![
        // An unknown kind.
        ("[A-Z]{1,8}|token|JTI|", ".{1,20}").prop_map(|(kind, value)| json!({"kind": kind, "value": value})),
        // A value that is empty, too long, or has a control character.
        (
            valid_kind.clone(),
            prop_oneof![
                Just(String::new()),
                ".{257,300}",
                "[a-z]{0,5}[\\x00-\\x1f][a-z]{0,5}"
            ]
        )
            .prop_map(|(kind, value)| json!({"kind": kind, "value": value})),
        // An unknown field next to otherwise valid ones.
        (valid_kind.clone(), "x_[a-z]{1,10}", json_value()).prop_map(|(kind, field, junk)| {
            let mut body = json!({"kind": kind, "value": "v"});
            body[field] = junk;
            body
        }),
        // Times far out of range.
        (
            valid_kind,
            prop_oneof![i64::MIN..-1_000_000i64, 10_000_000_000i64..i64::MAX]
        )
            .prop_map(|(kind, time)| json!({"kind": kind, "value": "v", "exp": time, "issued_before": time})),
        // Any JSON at all that is not an object with a string kind.
        json_value().prop_filter("no string kind", |value| !value
            .get("kind")
            .is_some_and(Value::is_string)),
    ]
}

fn attempt() -> impl Strategy<Value = Attempt> {
    let body = prop_oneof![
        invalid_revocation().prop_map(|value| value.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..400),
        invalid_revocation().prop_map(|value| json!({"revocations": [value]}).to_string().into_bytes()),
    ];
    // Mostly the write routes, where validation lives; the rest for coverage.
    let path = prop_oneof![
        5 => Just("/v1/revocations".to_owned()),
        3 => Just("/v1/revocations/batch".to_owned()),
        1 => Just("/oauth2/revoke".to_owned()),
        1 => "[a-z%0-9]{0,12}".prop_map(|segment| format!("/v1/revocations/{segment}")),
        1 => ("(jti|sub|sid|all|[a-z]{1,5})", "[a-zA-Z0-9%._~-]{1,20}").prop_map(|(kind, value)| format!("/v1/revocations/{kind}/{value}")),
    ];
    let method = prop_oneof![6 => Just(Method::POST), 1 => Just(Method::DELETE), 1 => Just(Method::GET), 1 => Just(Method::PUT)];
    let content_type = prop_oneof![4 => Just("application/json"), 1 => Just("text/plain"), 1 => Just("application/x-www-form-urlencoded")];
    (method, path, content_type, body).prop_map(|(method, path, content_type, body)| Attempt {
        method,
        path,
        content_type,
        body,
    })
}

#[tokio::test]
async fn a_storm_of_bad_requests_changes_nothing() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    let daemon = daemon(&nats.url(), 1).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut runner = TestRunner::deterministic();
    let strategy = attempt();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..400 {
        let attempt = strategy.new_tree(&mut runner).expect("an attempt").current();
        let response = within(
            15,
            "storm request",
            http.request(attempt.method.clone(), format!("{}{}", daemon.url, attempt.path))
                .bearer_auth(ADMIN_KEY)
                .header("content-type", attempt.content_type)
                .body(attempt.body.clone())
                .send(),
        )
        .await
        .expect("the daemon answers");
        let status = response.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        assert!(status < 500, "{status} for {attempt:?}");
        if status >= 400 {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(
                body["code"].is_string(),
                "an error without a code for {attempt:?}: {body}"
            );
        } else if attempt.path == "/v1/revocations/batch" && status == 200 {
            let body: Value = response.json().await.expect("json");
            assert!(
                body["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|item| item["status"] != 201),
                "a storm item was stored: {attempt:?}"
            );
        }
    }
    println!("e2e report | 6 storm of bad requests       | statuses {statuses:?}");

    let client = within(10, "connect", nats.connect()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let stream = within(10, "stream", js.get_stream("VETO")).await.expect("stream");
    let subjects = within(10, "subjects", stream.info_with_subjects("veto.v1.rule.>"))
        .await
        .expect("info");
    use futures_util::StreamExt;
    let stored: Vec<_> = within(10, "subjects", subjects.collect::<Vec<_>>()).await;
    assert!(stored.is_empty(), "the storm changed the stream: {stored:?}");
}
