//! The fleet and receipts, with a real nats-server, the daemon, and several lists in
//! this process reporting presence (one of them through a proxy the test cuts).
//!
//! Scenarios: (1) `GET /v1/fleet` lists each instance with what it applied, and a write
//! that waits answers once all have applied it (`wait=fleet`, `wait=service:…`, batch,
//! lift); presence is never stored; (2) an instance cut off from NATS is reported
//! lagging (fleet, `/metrics`, one log line), is named in the receipt of a write that
//! times out (still stored), and shows caught up once it is back; (3) an instance that
//! exits is gone after its heartbeats stop, and a restart with the same id is one
//! instance; (4) a bad `wait` or `timeout` is `invalid_query` and writes nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use veto_api::{
    BatchRequest, FleetResponse, InstanceState, InstanceView, RevokeRequest, RuleKey, Wait, WaitScope,
};
use veto_client::{ListConfig, RevocationList, TokenFacts, Verdict};
use veto_proto::RuleKind;
use veto_testkit::TcpProxy;

use crate::support::*;

const HEARTBEAT: Duration = Duration::from_millis(300);

/// A list following the stream through `nats_url`, reporting as `service`/`instance`.
async fn reporting(nats_url: &str, service: &str, instance: &str) -> RevocationList {
    let client = within(10, "connect", async_nats::connect(nats_url))
        .await
        .expect("connect");
    let config = ListConfig::default()
        .reporting_as(service, instance)
        .presence_heartbeat(HEARTBEAT);
    let list = RevocationList::start(client, config).expect("a reporting list");
    within(30, "the list is ready", list.ready()).await;
    list
}

async fn fleet(app: &TestApp) -> FleetResponse {
    within(10, "GET /v1/fleet", app.api(Some(READER_KEY)).fleet())
        .await
        .expect("the fleet")
        .body
}

fn instance<'a>(fleet: &'a FleetResponse, service: &str, instance: &str) -> Option<&'a InstanceView> {
    fleet
        .services
        .iter()
        .find(|group| group.service == service)?
        .instances
        .iter()
        .find(|view| view.instance == instance)
}

fn jti(value: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(value),
        ..TokenFacts::default()
    }
}

fn waiting(scope: WaitScope, timeout: Duration) -> Wait {
    Wait::new(scope, timeout)
}

#[tokio::test]
async fn the_fleet_lists_each_instance_with_what_it_applied_and_writes_wait_for_all() {
    let app = spawn_app().await;
    let url = app.nats.url();
    let lists = vec![
        reporting(&url, "orders", "orders-1").await,
        reporting(&url, "orders", "orders-2").await,
        reporting(&url, "billing", "billing-1").await,
    ];
    // A list that does not report is no part of the fleet.
    let quiet = RevocationList::start(
        within(10, "connect", app.nats.connect()).await.expect("connect"),
        ListConfig::default(),
    )
    .expect("a list");
    eventually(20, "three fresh instances", || async {
        fleet(&app).await.by_state.fresh == 3
    })
    .await;

    let admin = app.api(Some(ADMIN_KEY));
    let written = within(
        20,
        "a revocation that waits for the fleet",
        admin
            .waiting_for(waiting(WaitScope::Fleet, Duration::from_secs(5)))
            .revoke(&RevokeRequest::new(RuleKind::Jti, Some("leaked"))),
    )
    .await
    .expect("stored");
    let applied_by = written.reply.body.applied_by.clone().expect("a receipt");
    assert_eq!(
        written.reply.json["applied_by"]["instances"], 3,
        "{}",
        written.reply.json
    );
    assert_eq!(written.reply.json["applied_by"]["of"], 3);
    assert!(
        applied_by.complete && applied_by.laggards.is_empty(),
        "{applied_by:?}"
    );
    assert_eq!(applied_by.scope, "fleet");
    assert_eq!(applied_by.sequence, written.reply.body.sequence);
    for list in &lists {
        assert_eq!(
            list.check(&jti("leaked")),
            Verdict::Revoked(RuleKind::Jti),
            "the receipt said every instance applied it"
        );
    }

    let view = fleet(&app).await;
    assert_eq!(view.instances, 3);
    assert!(view.stream_last_sequence >= written.reply.body.sequence);
    let services: Vec<&str> = view.services.iter().map(|group| group.service.as_str()).collect();
    assert_eq!(services, ["billing", "orders"]);
    for (service, id) in [
        ("orders", "orders-1"),
        ("orders", "orders-2"),
        ("billing", "billing-1"),
    ] {
        let seen = instance(&view, service, id).unwrap_or_else(|| panic!("{service}/{id} listed"));
        assert!(seen.applied_sequence >= written.reply.body.sequence, "{seen:?}");
        assert_eq!(seen.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(seen.rules, 1);
        assert_eq!(seen.heartbeat_ms, HEARTBEAT.as_millis() as u64);
        assert!(seen.bloom.keys >= 1 && seen.bloom.capacity > 0, "{seen:?}");
        assert!(
            seen.tick_age_ms.is_some() && seen.last_seen_ms < 5_000,
            "{seen:?}"
        );
    }

    // One service only.
    let billing = within(
        20,
        "a revocation that waits for billing",
        admin
            .waiting_for(waiting(
                WaitScope::Service("billing".into()),
                Duration::from_secs(5),
            ))
            .revoke(&RevokeRequest::new(RuleKind::Sub, Some("alice"))),
    )
    .await
    .expect("stored");
    let applied_by = billing.reply.body.applied_by.expect("a receipt");
    assert_eq!((applied_by.instances, applied_by.of), (1, 1));
    assert_eq!(applied_by.scope, "service:billing");

    // A batch waits for its highest sequence; a lift waits too.
    let batch = BatchRequest {
        revocations: vec![
            RevokeRequest::new(RuleKind::Jti, Some("batch-1")),
            RevokeRequest::new(RuleKind::Jti, Some("batch-2")),
        ],
    };
    let stored = within(
        20,
        "a batch that waits",
        admin
            .waiting_for(waiting(WaitScope::Fleet, Duration::from_secs(5)))
            .revoke_batch(&batch),
    )
    .await
    .expect("stored")
    .body;
    let highest = stored
        .results
        .iter()
        .filter_map(|item| item.stored.as_ref().map(|rule| rule.sequence))
        .max();
    let applied_by = stored.applied_by.expect("a receipt");
    assert_eq!(Some(applied_by.sequence), highest);
    assert!(applied_by.complete && applied_by.of == 3, "{applied_by:?}");
    let lifted = within(
        20,
        "a lift that waits",
        admin
            .waiting_for(waiting(WaitScope::Fleet, Duration::from_secs(5)))
            .lift(&RuleKey::new(RuleKind::Jti, Some("batch-1")), Some("false alarm")),
    )
    .await
    .expect("lifted")
    .body;
    let applied_by = lifted.applied_by.expect("a receipt");
    assert!(applied_by.complete && applied_by.instances == 3, "{applied_by:?}");
    for list in &lists {
        assert_eq!(list.check(&jti("batch-1")), Verdict::Allowed);
    }

    // Without wait, nothing changes: no receipt in the body.
    let plain = app.revoke(&json!({"kind": "jti", "value": "no-wait"})).await;
    assert_eq!(plain.status(), StatusCode::CREATED);
    let body: Value = plain.json().await.expect("json");
    assert!(body.get("applied_by").is_none(), "{body}");

    // Presence is never stored: every subject the stream holds is veto.v1's.
    let stream = within(10, "stream", app.js.get_stream("VETO"))
        .await
        .expect("stream");
    let mut subjects = within(10, "subjects", stream.info_with_subjects(">"))
        .await
        .expect("stream info");
    while let Some((subject, _)) = within(10, "subjects page", subjects.try_next())
        .await
        .expect("subjects")
    {
        assert!(subject.starts_with("veto.v1."), "{subject} is in the stream");
    }

    // The fleet is for readers, not for anyone.
    let anonymous = app.get("/v1/fleet", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.daemon.state().fleet.open_waits(), 0, "every wait ended");
    drop(quiet);
}

#[tokio::test]
async fn a_cut_off_instance_lags_is_named_by_a_receipt_that_times_out_and_catches_up() {
    let logs = CapturedLogs::install();
    let app = spawn_app_with(|settings| {
        settings.fleet.lagging_after = Duration::from_secs(1);
        // Not gone while cut off (async-nats reconnects within a few seconds of the
        // proxy coming back).
        settings.fleet.missed_heartbeats = 100;
    })
    .await;
    let target: SocketAddr = ([127, 0, 0, 1], app.nats.port()).into();
    let proxy = within(5, "proxy", TcpProxy::start(target))
        .await
        .expect("a proxy");
    let steady = reporting(&app.nats.url(), "orders", "steady").await;
    let cut_off = reporting(&proxy.url(), "orders", "cut-off").await;
    eventually(20, "both fresh", || async {
        fleet(&app).await.by_state.fresh == 2
    })
    .await;

    proxy.cut();
    let admin = app.api(Some(ADMIN_KEY));
    let started = Instant::now();
    let written = within(
        20,
        "a revocation that waits while one instance is cut off",
        admin
            .waiting_for(waiting(WaitScope::Fleet, Duration::from_millis(1500)))
            .revoke(&RevokeRequest::new(RuleKind::Jti, Some("while-cut"))),
    )
    .await
    .expect("stored all the same (201)");
    assert!(started.elapsed() >= Duration::from_millis(1400));
    let sequence = written.reply.body.sequence;
    let applied_by = written.reply.body.applied_by.expect("a receipt");
    assert!(!applied_by.complete, "{applied_by:?}");
    assert_eq!((applied_by.instances, applied_by.of), (1, 2));
    let [laggard] = applied_by.laggards.as_slice() else {
        panic!("one laggard: {applied_by:?}");
    };
    assert_eq!(
        (laggard.service.as_str(), laggard.instance.as_str()),
        ("orders", "cut-off")
    );
    assert!(laggard.applied_sequence < sequence, "{laggard:?}");
    assert_eq!(steady.check(&jti("while-cut")), Verdict::Revoked(RuleKind::Jti));

    eventually(10, "the fleet says cut-off lags", || async {
        instance(&fleet(&app).await, "orders", "cut-off")
            .is_some_and(|view| view.state == InstanceState::Lagging && view.lag >= 1)
    })
    .await;
    let view = fleet(&app).await;
    assert_eq!(
        instance(&view, "orders", "steady").map(|view| view.state),
        Some(InstanceState::Fresh)
    );
    eventually(5, "/metrics counts it", || async {
        let metrics = app.api(None).metrics().await.unwrap_or_default();
        metrics.contains("veto_fleet_instances{state=\"lagging\"} 1")
            && metrics.lines().any(|line| {
                line.starts_with("veto_fleet_max_lag_sequences ")
                    && line.split(' ').nth(1).and_then(|n| n.parse::<f64>().ok()) >= Some(1.0)
            })
    })
    .await;

    proxy.restore();
    eventually(40, "cut-off is back and caught up", || async {
        instance(&fleet(&app).await, "orders", "cut-off")
            .is_some_and(|view| view.state == InstanceState::Fresh && view.applied_sequence >= sequence)
    })
    .await;
    assert_eq!(cut_off.check(&jti("while-cut")), Verdict::Revoked(RuleKind::Jti));
    let again = within(
        20,
        "a revocation once all are back",
        admin
            .waiting_for(waiting(WaitScope::Fleet, Duration::from_secs(5)))
            .revoke(&RevokeRequest::new(RuleKind::Jti, Some("after"))),
    )
    .await
    .expect("stored");
    let applied_by = again.reply.body.applied_by.expect("a receipt");
    assert!(applied_by.complete && applied_by.instances == 2, "{applied_by:?}");
    assert_eq!(
        app.daemon.state().fleet.open_waits(),
        0,
        "the timed-out wait ended too"
    );

    if let Some(logs) = logs {
        let text = logs.text();
        let lagging: Vec<&str> = text
            .lines()
            .filter(|line| line.contains("fleet: instance lagging") && line.contains("cut-off"))
            .collect();
        assert_eq!(lagging.len(), 1, "logged once per state change:\n{text}");
        assert!(
            text.lines()
                .any(|line| line.contains("fleet: instance fresh and caught up") && line.contains("cut-off")),
            "{text}"
        );
        assert!(
            !text
                .lines()
                .any(|line| line.contains("fleet: instance lagging") && line.contains("steady")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_instance_that_exits_is_gone_after_its_heartbeats_stop_and_a_restart_is_one_instance() {
    let app = spawn_app_with(|settings| settings.fleet.missed_heartbeats = 3).await;
    let url = app.nats.url();
    let first = reporting(&url, "orders", "orders-1").await;
    eventually(20, "orders-1 listed", || async {
        instance(&fleet(&app).await, "orders", "orders-1").is_some()
    })
    .await;
    let first_start = instance(&fleet(&app).await, "orders", "orders-1")
        .expect("listed")
        .started_unix_ms;
    drop(first);
    // Started again with the same id (a millisecond later at least, as a restart is).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = reporting(&url, "orders", "orders-1").await;
    eventually(20, "the restart replaces it", || async {
        let view = fleet(&app).await;
        assert!(view.instances <= 1, "a restart is one instance: {view:?}");
        instance(&view, "orders", "orders-1").is_some_and(|seen| seen.started_unix_ms > first_start)
    })
    .await;
    let other = reporting(&url, "orders", "orders-2").await;
    eventually(20, "two instances", || async { fleet(&app).await.instances == 2 }).await;

    drop(again);
    let stopped = Instant::now();
    eventually(10, "orders-1 gone", || async {
        instance(&fleet(&app).await, "orders", "orders-1").is_none()
    })
    .await;
    assert!(
        stopped.elapsed() >= HEARTBEAT * 2,
        "gone after its missed heartbeats, not at once ({:?})",
        stopped.elapsed()
    );
    assert!(instance(&fleet(&app).await, "orders", "orders-2").is_some());
    drop(other);
    eventually(10, "nobody left", || async { fleet(&app).await.instances == 0 }).await;
}

#[tokio::test]
async fn a_bad_wait_is_an_invalid_query_and_writes_nothing() {
    let app = spawn_app().await;
    for query in [
        "wait=everyone",
        "wait=service:a.b",
        "wait=fleet&timeout=soon",
        "wait=fleet&timeout=0s",
        "wait=fleet&timeout=1h",
        "timeout=2s",
    ] {
        for (method, path, body) in [
            (
                Method::POST,
                "/v1/revocations",
                json!({"kind": "jti", "value": "bad-wait"}),
            ),
            (
                Method::POST,
                "/v1/revocations/batch",
                json!({"revocations": [{"kind": "jti", "value": "bad-wait"}]}),
            ),
        ] {
            let answer = app
                .send(
                    app.request(method, &format!("{path}?{query}"), Some(ADMIN_KEY))
                        .json(&body),
                )
                .await;
            assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{path}?{query}");
            let error: Value = answer.json().await.expect("json");
            assert_eq!(error["code"], "invalid_query", "{path}?{query}: {error}");
        }
    }
    assert_eq!(
        app.get("/v1/revocations/jti/bad-wait", Some(ADMIN_KEY))
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "nothing was written"
    );
    assert_eq!(
        app.revoke(&json!({"kind": "jti", "value": "kept"}))
            .await
            .status(),
        StatusCode::CREATED
    );
    let lift = app
        .send(app.request(
            Method::DELETE,
            "/v1/revocations/jti/kept?wait=fleet&timeout=forever",
            Some(ADMIN_KEY),
        ))
        .await;
    assert_eq!(lift.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/v1/revocations/jti/kept", Some(ADMIN_KEY))
            .await
            .status(),
        StatusCode::OK,
        "the lift with a bad wait lifted nothing"
    );
}
