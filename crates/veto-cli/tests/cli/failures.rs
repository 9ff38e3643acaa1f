//! Each failure exits with its documented code: 2 usage, 3 unreachable, 4 rejected.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn bad_usage_exits_2_before_anything_is_sent() {
    // No daemon: none of these may get as far as connecting.
    let env = vec![("VETO_URL", "http://127.0.0.1:9".to_owned())];
    for args in [
        vec!["revoke", "jti"],
        vec!["revoke", "jti", "t-1", "--exp", "soon"],
        vec!["revoke", "all"],
        vec!["get", "all", "x"],
        vec!["lift", "sub"],
        vec!["list", "--limit", "0"],
        vec!["token", "inspect", "not-a-jwt"],
        vec!["check", "--jti", "t-1"],
        vec!["--url", "nats://127.0.0.1:4222", "get", "jti", "t-1"],
    ] {
        let run = veto_with(&env, &args, None).await;
        run.exits(2);
        assert!(!run.stderr.is_empty(), "{args:?} says why");
    }
}

#[tokio::test]
async fn an_unreachable_or_silent_daemon_exits_3() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let refused = veto_with(&[("VETO_URL", closed_url.clone())], &["get", "jti", "t-1"], None).await;
    assert!(
        refused.exits(3).stderr.starts_with("error: cannot reach"),
        "{}",
        refused.stderr
    );
    let no_nats = veto_with(
        &[("VETO_NATS_URL", closed_url.replace("http", "nats"))],
        &["check"],
        None,
    )
    .await;
    no_nats.exits(3);

    // A port that accepts connections (the kernel's backlog) but never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_url = format!("http://{}", silent.local_addr().expect("address"));
    let started = std::time::Instant::now();
    let timed_out = veto_with(&[("VETO_URL", silent_url)], &["--timeout", "300ms", "list"], None).await;
    timed_out.exits(3);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "--timeout bounds the request"
    );
    drop(silent);
}

#[tokio::test]
async fn api_rejections_exit_4_with_the_api_error_code() {
    let daemon = spawn_daemon().await;

    let mut wrong_key = daemon.env();
    wrong_key.retain(|(name, _)| *name != "VETO_API_KEY");
    wrong_key.push(("VETO_API_KEY", "not-the-key".to_owned()));
    let unauthorized = veto_with(&wrong_key, &["revoke", "jti", "t-1"], None).await;
    assert!(
        unauthorized.exits(4).stderr.starts_with("error: unauthorized: "),
        "{}",
        unauthorized.stderr
    );
    assert!(
        !unauthorized.stderr.contains("not-the-key"),
        "the key is never printed"
    );

    let empty = daemon.veto(&["revoke", "jti", ""]).await;
    assert!(
        empty.exits(4).stderr.starts_with("error: empty_field: "),
        "{}",
        empty.stderr
    );
    let past = daemon.veto(&["revoke", "jti", "t-1", "--exp", "-1h"]).await;
    assert!(
        past.exits(4).stderr.starts_with("error: expires_at_in_past: "),
        "{}",
        past.stderr
    );
    let missing = daemon.veto(&["lift", "sid", "never-revoked"]).await;
    assert!(
        missing.exits(4).stderr.starts_with("error: not_found: "),
        "{}",
        missing.stderr
    );

    // None of it changed anything.
    let listed = daemon.veto(&["list", "--json"]).await;
    assert_eq!(listed.exits(0).json()["items"].as_array().map(Vec::len), Some(0));
}
