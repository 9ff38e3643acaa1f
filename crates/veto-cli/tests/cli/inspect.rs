//! `veto token inspect` decodes without verifying and names the rule that revokes.

use serde_json::json;
use veto_testkit::TestIssuer;

use crate::support::*;

#[tokio::test]
async fn inspect_names_the_rule_that_revokes_a_token() {
    let daemon = spawn_daemon().await;
    let issuer = TestIssuer::new(ISSUER);
    let now = now();
    let token = issuer.mint(&json!({
        "iss": ISSUER, "sub": "alice", "sid": "s-1", "jti": "t-1", "aud": "orders",
        "iat": now, "exp": now + 3600,
    }));
    let signature = token.rsplit('.').next().expect("a signature segment");

    let clean = daemon.veto(&["token", "inspect", &token]).await;
    clean.exits(0);
    assert!(clean.stdout.contains("NOT verified"), "{}", clean.stdout);
    assert!(clean.stdout.contains("alg  \"ES256\""), "{}", clean.stdout);
    assert!(clean.stdout.contains("kid  \"key-1\""), "{}", clean.stdout);
    assert!(
        clean.stdout.contains("no live rule revokes this token"),
        "{}",
        clean.stdout
    );

    daemon
        .veto(&["revoke", "jti", "t-1", "--iss", ISSUER, "--exp", "+1h"])
        .await
        .exits(0);
    let revoked = daemon.veto(&["token", "inspect", &token]).await;
    revoked.exits(1);
    assert!(
        revoked
            .stdout
            .contains("REVOKED by jti \"t-1\" (issuer \"https://idp.test\")"),
        "{}",
        revoked.stdout
    );
    assert!(
        !revoked.stdout.contains(signature),
        "the signature is never printed"
    );

    // From stdin, as JSON.
    let piped = veto_with(
        &daemon.env(),
        &["token", "inspect", "-", "--json"],
        Some(&format!("{token}\n")),
    )
    .await;
    let report = piped.exits(1).json();
    assert_eq!(report["revoked"], true);
    assert_eq!(report["verified"], false);
    assert_eq!(report["header"]["kid"], "key-1");
    assert_eq!(report["claims"]["iat"], now);
    assert_eq!(report["rules"][0]["revokes"], true);
    assert_eq!(report["rules"][0]["stored"]["rule"]["kind"], "jti");
    assert!(!piped.stdout.contains(signature));
}

#[tokio::test]
async fn inspect_applies_issued_before_to_sub_rules() {
    let daemon = spawn_daemon().await;
    let issuer = TestIssuer::new(ISSUER);
    let now = now();
    daemon
        .veto(&["revoke", "sub", "bob", "--before", "-10m"])
        .await
        .exits(0);
    let token_issued = |iat: Option<i64>| {
        let mut claims = json!({"iss": ISSUER, "sub": "bob", "exp": now + 3600});
        if let Some(iat) = iat {
            claims["iat"] = json!(iat);
        }
        issuer.mint(&claims)
    };

    let before_rule = daemon
        .veto(&["token", "inspect", &token_issued(Some(now - 3600))])
        .await;
    assert!(
        before_rule
            .exits(1)
            .stdout
            .contains("REVOKED by sub \"bob\" (every issuer)"),
        "{}",
        before_rule.stdout
    );
    let after_rule = daemon.veto(&["token", "inspect", &token_issued(Some(now))]).await;
    assert!(
        after_rule.exits(0).stdout.contains("not revoked by sub \"bob\""),
        "{}",
        after_rule.stdout
    );
    // No iat: issued at the beginning of time, so the sub rule covers it.
    daemon
        .veto(&["token", "inspect", &token_issued(None)])
        .await
        .exits(1);
}
