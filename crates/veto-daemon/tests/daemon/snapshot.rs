//! The list over HTTP for readers that do not speak NATS: `GET /v1/snapshot` (the
//! signed bytes, `ETag` its sequence, 304 for `If-None-Match`), `POST /v1/snapshot`,
//! and `GET /v1/changes?after=` (the signed events since, or 410). A reader in another
//! process than the daemon rebuilds, from those alone, exactly the list a NATS
//! subscriber holds.

use std::future::IntoFuture;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use veto_api::{AdminClient, ChangesQuery, ErrorCode, RevokeRequest, RuleKey};
use veto_client::replica::Replica;
use veto_client::{Bootstrap, EventTrust, ListConfig, RevocationList};
use veto_proto::{RuleKind, Snapshot, UnixSeconds};
use veto_testkit::{DaemonProcess, NatsServer, TestSigningKey};

use crate::support::within;

async fn revoke_jti(admin: &AdminClient, value: &str) -> u64 {
    within(
        10,
        "revoke",
        admin.revoke(&RevokeRequest::new(RuleKind::Jti, Some(value))),
    )
    .await
    .unwrap_or_else(|error| panic!("revoking {value}: {error}"))
    .reply
    .body
    .sequence
}

async fn lift_jti(admin: &AdminClient, value: &str) -> u64 {
    within(
        10,
        "lift",
        admin.lift(&RuleKey::new(RuleKind::Jti, Some(value)), None),
    )
    .await
    .unwrap_or_else(|error| panic!("lifting {value}: {error}"))
    .body
    .sequence
}

/// What a reader without NATS does: the snapshot, verified, then every page of changes
/// after it, each event verified and applied.
async fn rebuild_over_http(admin: &AdminClient, trust: &EventTrust) -> (Replica, u64) {
    let (sequence, bytes) = within(10, "GET /v1/snapshot", admin.snapshot(None))
        .await
        .expect("GET /v1/snapshot")
        .expect("a snapshot");
    let EventTrust::SignedBy(keys) = trust else {
        unreachable!("signed in this test")
    };
    let snapshot = Snapshot::decode_verified(&bytes, keys).expect("the snapshot verifies");
    assert_eq!(snapshot.sequence, sequence, "the ETag is the snapshot's sequence");
    let replica = Replica::from_snapshot(&snapshot, UnixSeconds::now()).expect("a replica");
    let mut after = sequence;
    loop {
        let page = within(
            10,
            "GET /v1/changes",
            admin.changes(&ChangesQuery {
                after,
                limit: Some(7),
            }),
        )
        .await
        .expect("GET /v1/changes")
        .body;
        for event in &page.events {
            assert!(event.sequence > after, "in order, after the cursor");
            let payload = URL_SAFE_NO_PAD.decode(&event.payload).expect("base64url");
            replica
                .apply_signed(
                    trust,
                    &event.subject,
                    &payload,
                    event.key_id.as_deref(),
                    event.signature.as_deref(),
                )
                .unwrap_or_else(|reason| panic!("event {} refused: {reason}", event.sequence));
        }
        after = page.last_sequence;
        if !page.more {
            break;
        }
    }
    replica.set_last_sequence(after);
    (replica, after)
}

#[tokio::test]
async fn http_snapshot_and_changes_rebuild_the_list_in_another_process() {
    let server = within(30, "nats-server", NatsServer::start())
        .await
        .expect("nats-server starts");
    let key = TestSigningKey::new("http-1");
    let seed_file = key.seed_file.to_string_lossy().into_owned();
    let daemon = DaemonProcess::start_with_env(
        &server.url(),
        &[
            ("VETO_SIGNING__KEY_ID", "http-1"),
            ("VETO_SIGNING__SEED_FILE", &seed_file),
            ("VETO_SNAPSHOT__INTERVAL", "1h"),
        ],
    )
    .await;
    let admin = daemon.admin();
    for index in 0..30 {
        revoke_jti(&admin, &format!("s{index}")).await;
    }
    lift_jti(&admin, "s0").await;
    let written = within(20, "POST /v1/snapshot", admin.write_snapshot())
        .await
        .expect("written")
        .body;
    assert_eq!(written.rules, 29);
    let again = within(20, "POST /v1/snapshot", admin.write_snapshot())
        .await
        .expect("the newest")
        .body;
    assert_eq!(again, written, "nothing moved (ticks aside): the same snapshot");

    // If-None-Match with the snapshot held: 304, nothing sent.
    assert!(
        within(10, "GET", admin.snapshot(Some(written.sequence)))
            .await
            .expect("GET /v1/snapshot")
            .is_none(),
        "304 Not Modified"
    );

    lift_jti(&admin, "s1").await;
    for index in 0..20 {
        revoke_jti(&admin, &format!("t{index}")).await;
    }
    let last_write = revoke_jti(&admin, "s0").await;

    let trust = EventTrust::SignedBy(key.verification_keys());
    let (replica, read_up_to) = rebuild_over_http(&admin, &trust).await;
    assert!(read_up_to >= last_write, "the changes reach the last write");

    let client = within(10, "connect", async_nats::connect(server.url()))
        .await
        .expect("connect");
    let list = RevocationList::start(
        client,
        ListConfig::default()
            .signed_by(key.verification_keys())
            .bootstrap(Bootstrap::Replay),
    )
    .expect("list starts");
    within(30, "list ready", list.ready()).await;
    let mut applied = list.applied_sequence();
    within(20, "applied", applied.wait_for(|applied| *applied >= last_write))
        .await
        .expect("the list runs");
    let content = replica.content(UnixSeconds::now());
    assert_eq!(content, list.content(), "the same list, rule for rule");
    assert_eq!(content.jti.len(), 49, "s0 again, s2..s29, t0..t19");

    // A newer snapshot: the old ETag no longer matches.
    let newer = within(20, "POST /v1/snapshot", admin.write_snapshot())
        .await
        .expect("written")
        .body;
    assert!(newer.sequence > written.sequence);
    let (sequence, _) = within(10, "GET", admin.snapshot(Some(written.sequence)))
        .await
        .expect("GET /v1/snapshot")
        .expect("200: a newer snapshot than the one held");
    assert_eq!(sequence, newer.sequence);

    // Older than the stream keeps, or past its end: 410, load the snapshot again.
    let js = async_nats::jetstream::new(within(10, "connect", server.connect()).await.expect("connect"));
    let stream = within(10, "stream", js.get_stream("VETO")).await.expect("stream");
    within(10, "purge", stream.purge().sequence(last_write).into_future())
        .await
        .expect("purged");
    for after in [written.sequence, read_up_to + 1_000_000] {
        let error = within(
            10,
            "GET /v1/changes",
            admin.changes(&ChangesQuery { after, limit: None }),
        )
        .await
        .expect_err("gone");
        assert_eq!(error.code(), Some(ErrorCode::Gone), "after={after}: {error}");
    }
    let error = within(
        10,
        "GET /v1/changes",
        admin.changes(&ChangesQuery {
            after: last_write,
            limit: Some(0),
        }),
    )
    .await
    .expect_err("a limit of 0");
    assert_eq!(error.code(), Some(ErrorCode::InvalidQuery));
}

/// The daemon's own list refills its bloom filters from its index, never by reading the
/// stream again (which verifies every event's signature again: half the CPU of a batch
/// ingest, `benches/run`). Proof: the refill completes while NATS is stopped.
#[tokio::test]
async fn the_daemon_refills_its_bloom_filters_from_its_index_without_nats() {
    let server = within(30, "nats-server", NatsServer::start())
        .await
        .expect("nats-server starts");
    let key = TestSigningKey::new("refill-1");
    let mut settings = veto_testkit::daemon::test_settings(&server.url());
    key.apply(&mut settings);
    // Short-lived rules expire at their `exp`, so that they die together.
    settings.tokens.leeway = std::time::Duration::ZERO;
    let daemon = veto_testkit::TestDaemon::start_with(settings).await;
    let admin = daemon.admin();
    let state = daemon.state();

    // One rule that stays, then 5,000 that expire in a few seconds: dead keys
    // outnumbering live ones (and more than 4,096) make the list refill its filters.
    let keeper = revoke_jti(&admin, "keeper").await;
    let exp = UnixSeconds(UnixSeconds::now().0 + 10);
    let mut last = keeper;
    for chunk in 0..5 {
        let batch = veto_api::BatchRequest {
            revocations: (0..1_000)
                .map(|index| RevokeRequest {
                    exp: Some(exp),
                    ..RevokeRequest::new(RuleKind::Jti, Some(&format!("short-{chunk}-{index}")))
                })
                .collect(),
        };
        let answer = within(60, "a batch", admin.revoke_batch(&batch))
            .await
            .expect("stored");
        for item in &answer.body.results {
            let stored = item.stored.as_ref().expect("every item stored");
            last = last.max(stored.sequence);
        }
    }
    assert!(
        state
            .index
            .wait_for(last, std::time::Duration::from_secs(30))
            .await,
        "the daemon's list applied every rule"
    );
    assert_eq!(
        state.list.rebuilds(),
        0,
        "nothing to refill yet (the writes took until {:?}; the rules expire at {exp:?})",
        UnixSeconds::now()
    );

    server.pause();
    let refilled = async {
        while state.list.rebuilds() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), refilled).await;
    server.resume();
    assert!(
        outcome.is_ok(),
        "the filters were refilled with NATS stopped (rules expire at {exp:?}, now {:?})",
        UnixSeconds::now()
    );
    let facts = |jti| veto_client::TokenFacts {
        jti: Some(jti),
        ..veto_client::TokenFacts::default()
    };
    // Fresh again once NATS answers (a stale list may refuse to say).
    let settled = async {
        while state.list.check(&facts("keeper")) != veto_client::Verdict::Revoked(RuleKind::Jti) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    within(20, "the refilled list still holds the live rule", settled).await;
    assert_eq!(
        state.list.check(&facts("short-0-0")),
        veto_client::Verdict::Allowed,
        "an expired rule is gone"
    );
    daemon.stop().await;
}
