//! `veto status` reports the daemon, its rules by kind, and the stream.

use crate::support::*;

#[tokio::test]
async fn status_reports_readiness_live_rules_and_the_stream() {
    let daemon = spawn_daemon().await;
    for args in [
        vec!["revoke", "jti", "t-1"],
        vec!["revoke", "jti", "t-2"],
        vec!["revoke", "sub", "alice"],
    ] {
        daemon.veto(&args).await.exits(0);
    }

    let status = daemon.veto(&["status", "--json"]).await;
    let report = status.exits(0).json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["daemon"]["healthz"]["status"], "ok");
    assert_eq!(report["daemon"]["readyz"]["status"], "ready");
    // The gauge is process-wide; nextest runs each test in its own process.
    assert_eq!(report["daemon"]["rules_live"]["jti"], 2);
    assert_eq!(report["daemon"]["rules_live"]["sub"], 1);
    assert_eq!(report["daemon"]["rules_live"]["all"], 0);
    assert!(report["stream"]["last_sequence"].as_u64() >= Some(3), "{report}");
    assert!(
        report["stream"]["freshness"]["age_ms"].as_u64().is_some(),
        "{report}"
    );

    // Without NATS, the daemon part alone, as text.
    let mut daemon_only = daemon.env();
    daemon_only.retain(|(name, _)| *name != "VETO_NATS_URL");
    let text = veto_with(&daemon_only, &["status"], None).await;
    text.exits(0);
    assert!(text.stdout.contains("readiness   ready"), "{}", text.stdout);
    assert!(
        text.stdout.contains("live rules  all 0, jti 2, sid 0, sub 1"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("stream  not checked"), "{}", text.stdout);
}
