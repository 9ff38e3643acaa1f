//! A revocation is final: nothing on the bus and no revoked admin can undo or block
//! one. Each test plays an attacker the issue found: a revoked admin, a forged event on
//! a subject, an old signed lift replayed, an erasing publish, a lift racing a stronger
//! revocation.

use std::time::Duration;

use async_nats::HeaderMap;
use reqwest::Method;
use serde_json::{Value, json};
use veto_api::{RevokeRequest, RuleKey};
use veto_client::{ListConfig, RevocationList, TokenFacts, Verdict};
use veto_proto::{
    Event, KEY_ID_HEADER, RevocationRule, RuleKind, SIGNATURE_HEADER, UnixSeconds, VerificationKeys,
};
use veto_testkit::TestSigningKey;

use crate::support::*;

/// A daemon that signs its events, and the key its services trust.
async fn signed_app() -> (TestApp, TestSigningKey) {
    let key = TestSigningKey::new("test-key");
    let app = spawn_app_with(|settings| key.apply(settings)).await;
    (app, key)
}

/// A service's list, trusting `keys`, ready.
async fn service(app: &TestApp, keys: VerificationKeys) -> RevocationList {
    let client = within(10, "connect", app.nats.connect()).await.expect("connect");
    let list = RevocationList::start(client, ListConfig::default().signed_by(keys)).expect("list");
    within(30, "service ready", list.ready()).await;
    list
}

fn jti(value: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(value),
        ..TokenFacts::default()
    }
}

/// Publishes raw bytes on a subject, as anyone with publish rights can.
async fn publish_raw(app: &TestApp, subject: &str, headers: HeaderMap, payload: Vec<u8>) -> u64 {
    let ack = within(
        10,
        "publish",
        app.js
            .publish_with_headers(subject.to_owned(), headers, payload.into()),
    )
    .await
    .expect("sent");
    within(10, "ack", std::future::IntoFuture::into_future(ack))
        .await
        .expect("stored")
        .sequence
}

/// The latest message on a subject: its sequence, and whether it verifies under `keys`
/// and decodes as an event of its subject.
async fn latest(app: &TestApp, subject: &str, keys: &VerificationKeys) -> (u64, Option<Event>) {
    let stream = within(10, "stream", app.js.get_stream("VETO"))
        .await
        .expect("stream");
    let message = within(
        10,
        "last message",
        stream.get_last_raw_message_by_subject(subject),
    )
    .await
    .expect("a message");
    let header = |name: &str| message.headers.get(name).map(|value| value.as_str().to_owned());
    let verified = keys
        .verify(
            subject,
            &message.payload,
            header(KEY_ID_HEADER).as_deref(),
            header(SIGNATURE_HEADER).as_deref(),
        )
        .is_ok();
    let event = verified
        .then(|| Event::decode_on(subject, &message.payload).ok())
        .flatten();
    (message.sequence, event)
}

#[tokio::test]
async fn a_revoked_admin_token_has_no_powers_left() {
    let app = spawn_app().await;
    let mut claims = app.issuer.claims(ADMIN_AUDIENCE, Duration::from_secs(300));
    claims["roles"] = json!(["veto:revoke", "veto:lift", "veto:read"]);
    claims["sub"] = json!("mallory");
    let token = app.issuer.mint(&claims);
    let as_mallory = app.api(Some(&token));
    as_mallory
        .revoke(&RevokeRequest::new(RuleKind::Jti, Some("before-the-compromise")))
        .await
        .expect("a valid admin may revoke");

    // The compromise is found: mallory's tokens are revoked.
    let revocation = RevokeRequest {
        iss: Some(ISSUER.to_owned()),
        ..RevokeRequest::new(RuleKind::Sub, Some("mallory"))
    };
    app.api(Some(ADMIN_KEY))
        .revoke(&revocation)
        .await
        .expect("mallory revoked");
    eventually(10, "the daemon's list applied it", || async {
        as_mallory
            .revoke(&RevokeRequest::new(RuleKind::Jti, Some("probe")))
            .await
            .is_err()
    })
    .await;

    // Every mutating route refuses mallory: 401, nothing published.
    let unlift = app
        .send(app.request(
            Method::DELETE,
            &format!("/v1/revocations/sub/mallory?iss={ISSUER}"),
            Some(&token),
        ))
        .await;
    assert_eq!(unlift.status(), 401, "mallory cannot lift her own revocation");
    let everything = app
        .send(
            app.request(Method::POST, "/v1/revocations", Some(&token))
                .json(&json!({"kind": "all"})),
        )
        .await;
    assert_eq!(everything.status(), 401, "nor revoke everything");
    let batch = app
        .send(
            app.request(Method::POST, "/v1/revocations/batch", Some(&token))
                .json(&json!({"revocations": [{"kind": "jti", "value": "x"}]})),
        )
        .await;
    assert_eq!(batch.status(), 401, "nor write a batch");
    let read = app.get("/v1/revocations", Some(&token)).await;
    assert_eq!(read.status(), 401, "nor read");
    assert!(
        app.api(Some(ADMIN_KEY))
            .get(&RuleKey::new(RuleKind::Sub, Some("mallory")).scoped(Some(ISSUER)))
            .await
            .is_ok(),
        "the revocation stands"
    );

    // A token revoked by its own jti, another admin's: refused too.
    let mut claims = app.issuer.claims(ADMIN_AUDIENCE, Duration::from_secs(300));
    claims["roles"] = json!(["veto:revoke"]);
    let token = app.issuer.mint(&claims);
    let leaked = RevokeRequest {
        iss: Some(ISSUER.to_owned()),
        ..RevokeRequest::new(RuleKind::Jti, claims["jti"].as_str())
    };
    app.api(Some(ADMIN_KEY))
        .revoke(&leaked)
        .await
        .expect("jti revoked");
    eventually(10, "the leaked admin token is refused", || async {
        app.api(Some(&token))
            .revoke(&RevokeRequest::new(RuleKind::Jti, Some("probe-2")))
            .await
            .is_err_and(|error| error.status() == Some(401))
    })
    .await;
}

#[tokio::test]
async fn a_forged_event_on_a_subject_does_not_block_a_revocation() {
    let (app, key) = signed_app().await;
    let keys = key.verification_keys();
    let services = service(&app, keys.clone()).await;
    // An unsigned "rule" for mallory, so strong that every later revocation of her
    // would be "already covered".
    let forged = RevocationRule::sub_or_sid(
        RuleKind::Sub,
        "mallory",
        None,
        UnixSeconds::now().saturating_add(Duration::from_secs(60)),
        &veto_proto::TokenPolicy::default(),
    );
    let subject = forged.subject();
    let forged_at = publish_raw(&app, &subject, HeaderMap::new(), Event::Rule(forged).encode()).await;

    let response = app.revoke(&json!({"kind": "sub", "value": "mallory"})).await;
    assert_eq!(response.status(), 201);
    assert!(
        response.headers().get("idempotent-replayed").is_none(),
        "answered from the forgery"
    );
    let stored: Value = response.json().await.expect("json");
    assert!(
        stored["sequence"].as_u64() > Some(forged_at),
        "a real rule was published"
    );
    let (sequence, event) = latest(&app, &subject, &keys).await;
    assert!(sequence > forged_at);
    assert!(
        matches!(event, Some(Event::Rule(_))),
        "the daemon's signed rule is on top"
    );
    eventually(10, "GET answers the rule", || async {
        app.get("/v1/revocations/sub/mallory", Some(ADMIN_KEY))
            .await
            .status()
            == 200
    })
    .await;
    let token = TokenFacts {
        sub: Some("mallory"),
        iat: Some(UnixSeconds::now()),
        ..TokenFacts::default()
    };
    eventually(10, "a signed service revokes mallory", || async {
        services.check(&token) == Verdict::Revoked(RuleKind::Sub)
    })
    .await;
}

#[tokio::test]
async fn an_erased_rule_is_back_in_the_stream_and_a_later_client_sees_it() {
    let (app, key) = signed_app().await;
    let keys = key.verification_keys();
    let response = app.revoke(&json!({"kind": "jti", "value": "leaked"})).await;
    assert_eq!(response.status(), 201);
    let subject: String = response.json::<Value>().await.expect("json")["subject"]
        .as_str()
        .expect("subject")
        .to_owned();
    eventually(10, "the daemon's index has it", || async {
        app.get("/v1/revocations/jti/leaked", Some(ADMIN_KEY))
            .await
            .status()
            == 200
    })
    .await;

    // Erasure: garbage on the rule's subject replaces it in the stream.
    let erased_at = publish_raw(&app, &subject, HeaderMap::new(), b"garbage".to_vec()).await;
    eventually(10, "the daemon republished the rule", || async {
        let (sequence, event) = latest(&app, &subject, &keys).await;
        sequence > erased_at && matches!(event, Some(Event::Rule(_)))
    })
    .await;
    let late = service(&app, keys.clone()).await;
    assert_eq!(late.check(&jti("leaked")), Verdict::Revoked(RuleKind::Jti));
    let metrics = within(10, "metrics", app.api(None).metrics())
        .await
        .expect("metrics");
    assert!(metrics.contains("veto_repairs_total"), "a repair is counted");
}

#[tokio::test]
async fn an_old_signed_lift_replayed_changes_no_verdict_and_is_undone() {
    let (app, key) = signed_app().await;
    let keys = key.verification_keys();
    let services = service(&app, keys.clone()).await;
    let admin = app.api(Some(ADMIN_KEY));
    let key_of_token = RuleKey::new(RuleKind::Jti, Some("t-9"));

    admin
        .revoke(&RevokeRequest::new(RuleKind::Jti, Some("t-9")))
        .await
        .expect("revoked");
    eventually(10, "indexed", || async { admin.get(&key_of_token).await.is_ok() }).await;
    let lifted = admin
        .lift(&key_of_token, Some("mistake"))
        .await
        .expect("lifted")
        .body;
    // The attacker keeps yesterday's signed lift, bytes and headers.
    let stream = within(10, "stream", app.js.get_stream("VETO"))
        .await
        .expect("stream");
    let old_lift = within(10, "the lift", stream.get_raw_message(lifted.sequence))
        .await
        .expect("the lift message");
    eventually(10, "the lift is applied", || async {
        services.check(&jti("t-9")) == Verdict::Allowed
    })
    .await;

    // Today: revoked again, for good.
    let again = admin
        .revoke(&RevokeRequest::new(RuleKind::Jti, Some("t-9")))
        .await
        .expect("revoked again");
    assert!(
        again.reply.body.rule.expires_at > lifted.lifted.expires_at,
        "a revocation after a lift outlasts the lifted rule"
    );
    eventually(10, "revoked again everywhere", || async {
        services.check(&jti("t-9")) == Verdict::Revoked(RuleKind::Jti)
    })
    .await;

    // The replay.
    let replayed_before = services.replayed_events();
    let mut headers = HeaderMap::new();
    for name in [KEY_ID_HEADER, SIGNATURE_HEADER] {
        if let Some(value) = old_lift.headers.get(name) {
            headers.insert(name, value.as_str());
        }
    }
    let replayed_at = publish_raw(
        &app,
        old_lift.subject.as_str(),
        headers,
        old_lift.payload.to_vec(),
    )
    .await;
    eventually(10, "the replay is counted", || async {
        services.replayed_events() > replayed_before
    })
    .await;
    assert_eq!(
        services.check(&jti("t-9")),
        Verdict::Revoked(RuleKind::Jti),
        "a replayed lift changes no verdict"
    );
    // And the daemon puts the rule back on top, for clients started later.
    let subject = old_lift.subject.as_str();
    eventually(10, "the daemon republished the rule", || async {
        let (sequence, event) = latest(&app, subject, &keys).await;
        sequence > replayed_at && matches!(event, Some(Event::Rule(_)))
    })
    .await;
    let late = service(&app, keys).await;
    assert_eq!(late.check(&jti("t-9")), Verdict::Revoked(RuleKind::Jti));
}

#[tokio::test]
async fn a_lift_of_a_version_the_caller_did_not_see_answers_409() {
    let (app, _key) = signed_app().await;
    let admin = app.api(Some(ADMIN_KEY));
    let key = RuleKey::new(RuleKind::Sub, Some("alice"));
    let first = RevokeRequest {
        issued_before: Some(UnixSeconds(now() - 600)),
        ..RevokeRequest::new(RuleKind::Sub, Some("alice"))
    };
    admin.revoke(&first).await.expect("revoked");
    eventually(10, "indexed", || async { admin.get(&key).await.is_ok() }).await;
    let seen = app.get("/v1/revocations/sub/alice", Some(ADMIN_KEY)).await;
    let etag = seen
        .headers()
        .get("etag")
        .expect("GET answers the rule's version")
        .to_str()
        .expect("ascii")
        .to_owned();

    // Another operator, after a compromise: every token of alice until now.
    let stronger = admin
        .revoke(&RevokeRequest::new(RuleKind::Sub, Some("alice")))
        .await
        .expect("revoked again")
        .reply
        .body;
    eventually(10, "indexed", || async {
        admin
            .get(&key)
            .await
            .is_ok_and(|reply| reply.body.sequence == stronger.sequence)
    })
    .await;

    // The first operator lifts what they saw: refused, the stronger rule stands.
    let lift = app
        .send(
            app.request(Method::DELETE, "/v1/revocations/sub/alice", Some(ADMIN_KEY))
                .header("if-match", &etag),
        )
        .await;
    assert_eq!(lift.status(), 409);
    assert_eq!(lift.json::<Value>().await.expect("json")["code"], "conflict");
    let held = admin.get(&key).await.expect("still revoked").body;
    assert_eq!(held.rule, stronger.rule);

    // With the current version named, the lift goes through.
    let current = veto_api::routes::etag(held.sequence);
    let lift = app
        .send(
            app.request(Method::DELETE, "/v1/revocations/sub/alice", Some(ADMIN_KEY))
                .header("if-match", current),
        )
        .await;
    assert_eq!(lift.status(), 200);
    let malformed = app
        .send(
            app.request(Method::DELETE, "/v1/revocations/sub/alice", Some(ADMIN_KEY))
                .header("if-match", "yesterday"),
        )
        .await;
    assert_eq!(malformed.status(), 400);
}

#[tokio::test]
async fn an_api_key_removed_from_the_settings_is_refused_after_sighup() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let nats = within(30, "nats", veto_testkit::NatsServer::start())
        .await
        .expect("nats-server");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("vetod.toml");
    let entry = |name: &str, key: &str| {
        format!(
            "[[auth.api_keys]]\nname = \"{name}\"\nsha256 = \"{}\"\npermissions = [\"revoke\"]\n",
            veto_daemon::auth::hash_api_key(key)
        )
    };
    let stolen = "veto_stolen_key";
    std::fs::write(&config, entry("ops", stolen) + &entry("ci", "veto_ci_key")).expect("config");
    let mut daemon = veto_testkit::DaemonProcess::start_with_env(
        &nats.url(),
        &[("VETO_CONFIG", config.to_str().expect("utf-8 path"))],
    )
    .await;
    let as_key = |key: &str| veto_api::AdminClient::at(&daemon.url(), Some(key)).expect("client");
    let probe = |name: &str| RevokeRequest::new(RuleKind::Jti, Some(name));
    as_key(stolen).revoke(&probe("one")).await.expect("the key works");

    // The key leaked: removed from the file, and the daemon told.
    std::fs::write(&config, entry("ci", "veto_ci_key")).expect("config");
    let pid = daemon.pid().expect("running");
    kill(Pid::from_raw(pid as i32), Signal::SIGHUP).expect("SIGHUP");
    eventually(10, "the removed key is refused", || async {
        as_key(stolen)
            .revoke(&probe("two"))
            .await
            .is_err_and(|error| error.status() == Some(401))
    })
    .await;
    as_key("veto_ci_key")
        .revoke(&probe("three"))
        .await
        .expect("the other key still works");
    assert!(daemon.pid().is_some(), "no restart");
    daemon.kill();
}
