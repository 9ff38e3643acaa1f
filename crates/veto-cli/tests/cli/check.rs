//! `veto check` answers from the list loaded straight from NATS, as a service would.

use crate::support::*;

#[tokio::test]
async fn check_exits_1_for_a_revoked_token_and_0_for_another() {
    let daemon = spawn_daemon().await;
    daemon
        .veto(&["revoke", "jti", "t-revoked", "--exp", "+1h"])
        .await
        .exits(0);
    daemon
        .veto(&["revoke", "sub", "bob", "--before", "-10m"])
        .await
        .exits(0);

    let revoked = daemon
        .veto(&["check", "--jti", "t-revoked", "--sub", "alice"])
        .await;
    revoked.exits(1);
    assert!(
        revoked.stdout.contains("verdict    revoked (jti)"),
        "{}",
        revoked.stdout
    );
    assert!(
        revoked.stdout.contains(" ago)"),
        "freshness is shown: {}",
        revoked.stdout
    );

    let allowed = daemon
        .veto(&["check", "--jti", "t-other", "--sub", "alice", "--json"])
        .await;
    let report = allowed.exits(0).json();
    assert_eq!(report["verdict"], "allowed");
    // The in-process daemon ticks every second; the replica applied a recent tick.
    let age_ms = report["freshness"]["age_ms"]
        .as_u64()
        .expect("a tick was applied");
    assert!(age_ms < 10_000, "{age_ms}");
    assert_eq!(report["stale"], false);

    // A sub rule revokes only tokens issued before its issued_before.
    let old = (now() - 3600).to_string();
    daemon
        .veto(&["check", "--sub", "bob", "--iat", old.as_str()])
        .await
        .exits(1);
    daemon
        .veto(&["check", "--sub", "bob", "--iat", "now"])
        .await
        .exits(0);
    // A token without iat counts as issued at the epoch; without --iat, check takes
    // now and says so (an unscoped `all` rule must not make every check "revoked").
    daemon
        .veto(&["check", "--sub", "bob", "--iat", "0"])
        .await
        .exits(1);
    let defaulted = daemon.veto(&["check", "--sub", "bob"]).await;
    defaulted.exits(0);
    assert!(
        defaulted.stdout.contains("iat        now"),
        "{}",
        defaulted.stdout
    );
}

#[tokio::test]
async fn check_with_the_daemons_keys_decides_as_a_signed_service_does() {
    let key = veto_testkit::TestSigningKey::new("test-key");
    let daemon = spawn_daemon_with(|settings| key.apply(settings)).await;
    daemon.veto(&["revoke", "jti", "t-real"]).await.exits(0);
    // Anyone on the bus (the dev config has no permissions) publishes an unsigned rule.
    let client = within(10, "connect", daemon.nats.connect())
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    let forged = veto_proto::Event::Rule(veto_proto::RevocationRule::jti(
        "t-forged",
        None,
        veto_proto::UnixSeconds(now() + 600),
    ));
    let ack = within(
        10,
        "publish",
        js.publish(forged.subject(), forged.encode().into()),
    )
    .await
    .expect("sent");
    within(10, "ack", std::future::IntoFuture::into_future(ack))
        .await
        .expect("stored");

    let mut signed = daemon.env();
    signed.push(("VETO_VERIFY_KEYS", key.verify_keys_line()));
    veto_with(&signed, &["check", "--jti", "t-forged"], None)
        .await
        .exits(0);
    veto_with(&signed, &["check", "--jti", "t-real"], None)
        .await
        .exits(1);
    let unsigned = daemon.veto(&["check", "--jti", "t-forged"]).await;
    unsigned.exits(1);
    assert!(
        unsigned.stdout.contains("signatures not checked"),
        "{}",
        unsigned.stdout
    );
}
