//! revoke, get, list and lift, checked by their effect on the daemon.

use crate::support::*;

#[tokio::test]
async fn a_revoked_jti_can_be_read_listed_and_lifted() {
    let daemon = spawn_daemon().await;

    let revoked = daemon
        .veto(&[
            "revoke",
            "jti",
            "t-1",
            "--exp",
            "+15m",
            "--reason",
            "laptop stolen",
        ])
        .await;
    revoked.exits(0);
    assert!(
        revoked.stdout.starts_with("revoked: jti \"t-1\" (every issuer)"),
        "{}",
        revoked.stdout
    );
    assert!(revoked.stdout.contains("\"laptop stolen\""), "{}", revoked.stdout);

    let got = daemon.veto(&["get", "jti", "t-1", "--json"]).await;
    let rule = &got.exits(0).json()["rule"];
    assert_eq!(rule["value"], "t-1");
    assert_eq!(rule["revoked_by"], "key:admin");
    // --exp +15m is the token's exp; the daemon keeps the rule for its leeway longer.
    let expires_at = rule["expires_at"].as_i64().expect("expires_at");
    assert!(
        (now() + 900..=now() + 900 + 120).contains(&expires_at),
        "{expires_at}"
    );

    let again = daemon.veto(&["revoke", "jti", "t-1", "--exp", "+5m"]).await;
    assert!(
        again.exits(0).stdout.starts_with("already revoked"),
        "{}",
        again.stdout
    );

    let listed = daemon.veto(&["list", "--json"]).await;
    let items = listed.exits(0).json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["rule"]["value"], "t-1");

    let lifted = daemon.veto(&["lift", "jti", "t-1", "--reason", "found it"]).await;
    assert!(
        lifted.exits(0).stdout.starts_with("lifted: jti \"t-1\""),
        "{}",
        lifted.stdout
    );

    let gone = daemon.veto(&["get", "jti", "t-1"]).await;
    assert!(
        gone.exits(4).stderr.starts_with("error: not_found: "),
        "{}",
        gone.stderr
    );
    let empty = daemon.veto(&["list"]).await;
    assert!(empty.exits(0).stdout.contains("0 live rules"), "{}", empty.stdout);
}

#[tokio::test]
async fn scoped_sub_sid_and_all_rules_page_and_lift_by_key() {
    let daemon = spawn_daemon().await;
    let before = (now() - 60).to_string();
    // A value with a slash, a space and a non-ASCII letter travels as one path segment.
    let odd_sub = "team/ana maría";
    for args in [
        vec![
            "revoke",
            "sub",
            odd_sub,
            "--iss",
            ISSUER,
            "--before",
            before.as_str(),
        ],
        vec!["revoke", "sid", "s-1"],
        vec!["revoke", "all", "--before", "-10m", "--iss", ISSUER],
    ] {
        daemon.veto(&args).await.exits(0);
    }

    let sub = daemon
        .veto(&["get", "sub", odd_sub, "--iss", ISSUER, "--json"])
        .await;
    let rule = &sub.exits(0).json()["rule"];
    assert_eq!(rule["value"], odd_sub);
    assert_eq!(rule["issued_before"].as_i64(), before.parse().ok());
    // The same value without the issuer is another key, with no rule.
    daemon.veto(&["get", "sub", odd_sub]).await.exits(4);

    let paged = daemon
        .veto(&["list", "--limit", "1", "--all-pages", "--json"])
        .await;
    let items = paged.exits(0).json()["items"].as_array().expect("items").clone();
    let mut kinds: Vec<&str> = items
        .iter()
        .filter_map(|item| item["rule"]["kind"].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["all", "sid", "sub"]);

    let one_page = daemon.veto(&["list", "--limit", "1"]).await;
    assert!(
        one_page.exits(0).stdout.contains("more: --cursor "),
        "{}",
        one_page.stdout
    );
    let only_sid = daemon.veto(&["list", "--kind", "sid", "--json"]).await;
    assert_eq!(
        only_sid.exits(0).json()["items"].as_array().map(Vec::len),
        Some(1)
    );

    daemon.veto(&["lift", "all", "--iss", ISSUER]).await.exits(0);
    daemon.veto(&["get", "all", "--iss", ISSUER]).await.exits(4);
    daemon
        .veto(&["lift", "sub", odd_sub, "--iss", ISSUER])
        .await
        .exits(0);
    let left = daemon.veto(&["list", "--json"]).await;
    assert_eq!(left.exits(0).json()["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn values_a_url_would_normalise_away_can_be_read_and_lifted() {
    let daemon = spawn_daemon().await;
    for value in ["..", "."] {
        daemon.veto(&["revoke", "jti", value]).await.exits(0);
        // The daemon's replica has the rule a moment after the 201.
        let mut got = daemon.veto(&["get", "jti", value, "--json"]).await;
        for _ in 0..100 {
            if got.code == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            got = daemon.veto(&["get", "jti", value, "--json"]).await;
        }
        assert_eq!(got.exits(0).json()["rule"]["value"], value);
        let lifted = daemon.veto(&["lift", "jti", value]).await;
        assert!(
            lifted.exits(0).stdout.starts_with("lifted: jti"),
            "{}",
            lifted.stdout
        );
    }
}
