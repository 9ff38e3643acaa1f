//! NATS down or frozen: writes answer 503 within the publish timeout, never 2xx; once
//! NATS is back, writes succeed without restarting the daemon.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn nats_stopped_means_503_within_the_timeout_then_success_when_back() {
    let mut app = spawn_app().await;
    within(15, "stop nats", app.nats.stop())
        .await
        .expect("nats stops");

    let started = Instant::now();
    let response = app
        .revoke(&json!({"kind": "jti", "value": "during-outage"}))
        .await;
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(
        response.json::<Value>().await.expect("json")["code"],
        "nats_unavailable"
    );
    assert_eq!(app.get("/readyz", None).await.status(), 503);

    within(30, "start nats again", app.nats.start_again())
        .await
        .expect("nats back");
    eventually(30, "a write succeeds once NATS is back", || async {
        app.revoke(&json!({"kind": "jti", "value": "after-outage"}))
            .await
            .status()
            == 201
    })
    .await;
    app.wait_ready().await;
    assert_eq!(
        app.rule_subjects().await.len(),
        1,
        "only the acknowledged write is stored"
    );
}

#[tokio::test]
async fn a_frozen_nats_means_503_within_the_timeout() {
    let app = spawn_app().await;
    app.nats.pause();
    let started = Instant::now();
    let response = app.revoke(&json!({"kind": "jti", "value": "frozen"})).await;
    let elapsed = started.elapsed();
    app.nats.resume();
    assert_eq!(response.status(), 503);
    assert!(elapsed < Duration::from_secs(3), "answered in {elapsed:?}");
    eventually(30, "writes succeed after the thaw", || async {
        app.revoke(&json!({"kind": "jti", "value": "thawed"}))
            .await
            .status()
            == 201
    })
    .await;
}
