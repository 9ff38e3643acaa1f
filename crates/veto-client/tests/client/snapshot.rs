//! Signed snapshots: a list loads the newest snapshot it can verify, then the stream
//! after it, and ends up with exactly what a list that replayed the stream holds; a
//! snapshot that is tampered with, cut short, signed by another key or older than
//! what the stream keeps is refused, counted, and the list replays instead.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::time::Duration;

use async_nats::jetstream::{self, object_store};
use veto_api::{AdminClient, RevokeRequest, RuleKey};
use veto_client::snapshots::SEQUENCE_METADATA;
use veto_client::{Bootstrap, ListConfig, RevocationList, TokenFacts, Verdict};
use veto_proto::{RuleKind, Snapshot, UnixSeconds};
use veto_testkit::daemon::test_settings;
use veto_testkit::{NatsServer, TestDaemon, TestSigningKey};

use crate::support::*;

const BUCKET: &str = "VETO_SNAPSHOTS";

fn token(jti: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(jti),
        ..TokenFacts::default()
    }
}

/// A signing daemon that writes snapshots only when asked (`POST /v1/snapshot`), with
/// no leeway, so a rule expires exactly at the `exp` it was given.
async fn signing_daemon(server: &NatsServer, key: &TestSigningKey) -> TestDaemon {
    let mut settings = test_settings(&server.url());
    key.apply(&mut settings);
    settings.tokens.leeway = Duration::ZERO;
    settings.snapshot.interval = Duration::from_secs(3600);
    TestDaemon::start_with(settings).await
}

async fn revoke(admin: &AdminClient, request: RevokeRequest) -> u64 {
    within(10, "revoke", admin.revoke(&request))
        .await
        .unwrap_or_else(|error| panic!("revoking {:?}: {error}", request.value))
        .reply
        .body
        .sequence
}

async fn revoke_jti(admin: &AdminClient, value: &str, exp: Option<UnixSeconds>) -> u64 {
    revoke(
        admin,
        RevokeRequest {
            exp,
            ..RevokeRequest::new(RuleKind::Jti, Some(value))
        },
    )
    .await
}

async fn lift_jti(admin: &AdminClient, value: &str) -> u64 {
    within(
        10,
        "lift",
        admin.lift(&RuleKey::new(RuleKind::Jti, Some(value)), Some("test")),
    )
    .await
    .unwrap_or_else(|error| panic!("lifting {value}: {error}"))
    .body
    .sequence
}

async fn write_snapshot(admin: &AdminClient) -> u64 {
    within(20, "snapshot written", admin.write_snapshot())
        .await
        .expect("POST /v1/snapshot")
        .body
        .sequence
}

async fn list_with(server: &NatsServer, key: &TestSigningKey, bootstrap: Bootstrap) -> RevocationList {
    ready_list(
        &server.url(),
        ListConfig::default()
            .signed_by(key.verification_keys())
            .bootstrap(bootstrap),
    )
    .await
}

async fn applied_at_least(list: &RevocationList, sequence: u64) {
    let mut applied = list.applied_sequence();
    within(
        20,
        "the list applies the newest write",
        applied.wait_for(|applied| *applied >= sequence),
    )
    .await
    .expect("the list runs");
}

#[tokio::test]
async fn a_list_from_a_snapshot_and_its_tail_agrees_with_one_that_replayed() {
    let server = within(30, "nats-server", NatsServer::start())
        .await
        .expect("nats-server starts");
    let key = TestSigningKey::new("snap-1");
    let daemon = signing_daemon(&server, &key).await;
    let admin = daemon.admin();
    let in_seconds = |seconds| UnixSeconds::now().saturating_add(Duration::from_secs(seconds));

    // Before the snapshot: rules of every kind, one lifted, one about to expire.
    for index in 0..100 {
        revoke_jti(&admin, &format!("a{index}"), None).await;
    }
    let first_expiry = in_seconds(4);
    revoke_jti(&admin, "expires-after-the-snapshot", Some(first_expiry)).await;
    revoke(&admin, RevokeRequest::new(RuleKind::Sub, Some("alice"))).await;
    revoke(&admin, RevokeRequest::new(RuleKind::Sid, Some("session-1"))).await;
    revoke(
        &admin,
        RevokeRequest {
            iss: Some("https://old-idp.example".into()),
            ..RevokeRequest::new(RuleKind::All, None)
        },
    )
    .await;
    lift_jti(&admin, "a0").await;
    let snapshot_sequence = write_snapshot(&admin).await;

    // After it: a lift of a rule the snapshot holds, a rule again on a lifted key, a
    // stronger rule, new rules, one more that expires.
    lift_jti(&admin, "a1").await;
    revoke_jti(&admin, "a0", None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    revoke(&admin, RevokeRequest::new(RuleKind::Sub, Some("alice"))).await;
    for index in 0..50 {
        revoke_jti(&admin, &format!("b{index}"), None).await;
    }
    let second_expiry = in_seconds(3);
    let last_write = revoke_jti(&admin, "expires-after-the-tail", Some(second_expiry)).await;
    assert!(last_write > snapshot_sequence);
    let last_expiry = first_expiry.0.max(second_expiry.0);
    let wait = u64::try_from(last_expiry - UnixSeconds::now().0 + 1).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(wait)).await;

    let from_snapshot = list_with(&server, &key, Bootstrap::Snapshot).await;
    let replayed = list_with(&server, &key, Bootstrap::Replay).await;
    applied_at_least(&from_snapshot, last_write).await;
    applied_at_least(&replayed, last_write).await;

    assert_eq!(
        from_snapshot.loaded_snapshot(),
        snapshot_sequence,
        "loaded from the snapshot"
    );
    assert_eq!(replayed.loaded_snapshot(), 0, "replayed the stream");
    assert_eq!(from_snapshot.refused_snapshots(), 0);
    let content = from_snapshot.content();
    assert_eq!(
        content,
        replayed.content(),
        "rule for rule, tombstone for tombstone"
    );
    assert_eq!(content.jti.len(), 149, "a0 again, a2..a99, b0..b49");
    assert_eq!(content.sub.len(), 1);
    assert_eq!(content.sid.len(), 1);
    assert_eq!(content.all_scoped.len(), 1);
    assert!(!content.tombstones.is_empty(), "a1's lift is remembered");
    for (value, verdict) in [
        ("a0", Verdict::Revoked(RuleKind::Jti)),
        ("a1", Verdict::Allowed),
        ("a2", Verdict::Revoked(RuleKind::Jti)),
        ("b49", Verdict::Revoked(RuleKind::Jti)),
        ("expires-after-the-snapshot", Verdict::Allowed),
        ("expires-after-the-tail", Verdict::Allowed),
    ] {
        assert_eq!(from_snapshot.check(&token(value)), verdict, "{value}");
        assert_eq!(replayed.check(&token(value)), verdict, "{value}");
    }

    // And it follows the stream live like any list.
    let live = revoke_jti(&admin, "after-start", None).await;
    applied_at_least(&from_snapshot, live).await;
    assert_eq!(
        from_snapshot.check(&token("after-start")),
        Verdict::Revoked(RuleKind::Jti)
    );
}

/// Puts `bytes` into the snapshot bucket as object `name`, claiming `sequence`.
async fn put_object(store: &object_store::ObjectStore, name: &str, sequence: u64, bytes: &[u8]) {
    let metadata = object_store::ObjectMetadata {
        name: name.to_owned(),
        metadata: HashMap::from([(SEQUENCE_METADATA.to_owned(), sequence.to_string())]),
        ..Default::default()
    };
    within(10, "put", store.put(metadata, &mut &bytes[..]))
        .await
        .expect("stored");
}

#[tokio::test]
async fn bad_snapshots_are_refused_and_counted_and_the_list_replays() {
    let server = within(30, "nats-server", NatsServer::start())
        .await
        .expect("nats-server starts");
    let key = TestSigningKey::new("snap-1");
    let daemon = signing_daemon(&server, &key).await;
    let admin = daemon.admin();
    for index in 0..20 {
        revoke_jti(&admin, &format!("r{index}"), None).await;
    }
    let good_sequence = write_snapshot(&admin).await;
    let (_, good) = within(10, "GET /v1/snapshot", admin.snapshot(None))
        .await
        .expect("GET /v1/snapshot")
        .expect("a snapshot");
    revoke_jti(&admin, "gap", None).await;
    let last_write = revoke_jti(&admin, "after", None).await;

    // Each bad object claims a newer sequence than the daemon's, so a list tries them
    // first.
    let js = jetstream::new(within(10, "connect", server.connect()).await.expect("connect"));
    let store = within(10, "bucket", js.get_object_store(BUCKET))
        .await
        .expect("the daemon made the bucket");
    let decoded = Snapshot::decode_verified(&good, &key.verification_keys()).expect("the daemon's verifies");
    let claimed = last_write;

    let mut tampered = good.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    put_object(&store, "snapshot.tampered", claimed, &tampered).await;

    put_object(&store, "snapshot.truncated", claimed, &good[..good.len() - 40]).await;

    let stranger = TestSigningKey::new("snap-1").signer();
    let foreign = decoded.encode_signed("snap-1", |input| stranger.sign_raw(input));
    put_object(&store, "snapshot.foreign-key", claimed, &foreign).await;

    // Signed by the right key, but not the sequence its object claims, or past the
    // stream's end (a snapshot of another stream's history).
    let signer = key.signer();
    let mismatched = decoded.encode_signed("snap-1", |input| signer.sign_raw(input));
    put_object(&store, "snapshot.mismatched", claimed, &mismatched).await;
    let mut ahead = decoded.clone();
    ahead.sequence = last_write + 1000;
    let ahead = ahead.encode_signed("snap-1", |input| signer.sign_raw(input));
    put_object(&store, "snapshot.ahead", last_write + 1000, &ahead).await;

    let list = list_with(&server, &key, Bootstrap::Snapshot).await;
    applied_at_least(&list, last_write).await;
    assert_eq!(
        list.loaded_snapshot(),
        good_sequence,
        "the newest snapshot that verifies"
    );
    assert_eq!(list.refused_snapshots(), 5, "every bad one refused and counted");
    assert_eq!(list.stats().live(), 22, "nothing half-applied, nothing lost");

    // The daemon's own snapshot, once the stream no longer holds what follows it, is
    // refused too: the list replays what the stream keeps.
    let stream = within(10, "stream", js.get_stream("VETO")).await.expect("stream");
    within(10, "purge", stream.purge().sequence(last_write).into_future())
        .await
        .expect("purged up to the last write");
    let replayed = list_with(&server, &key, Bootstrap::Snapshot).await;
    assert_eq!(replayed.loaded_snapshot(), 0, "no usable snapshot: a replay");
    assert_eq!(
        replayed.refused_snapshots(),
        6,
        "the five bad ones and the one older than the stream"
    );
    applied_at_least(&replayed, last_write).await;
    assert_eq!(
        replayed.check(&token("after")),
        Verdict::Revoked(RuleKind::Jti),
        "what the stream keeps is loaded"
    );
    assert_eq!(
        replayed.check(&token("r0")),
        Verdict::Allowed,
        "purged: not in the stream, and no snapshot was half-applied"
    );
}
