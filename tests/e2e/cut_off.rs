//! 5. A client cut off from NATS goes Stale; under FailClosed it rejects; it heals and
//!    catches up with what was revoked meanwhile.

use std::time::Duration;

use veto_client::{ListConfig, RevocationList, StalePolicy, Verdict};
use veto_e2e::*;
use veto_testkit::{NatsServer, TcpProxy};

#[tokio::test]
async fn a_cut_off_client_goes_stale_rejects_and_catches_up() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    let daemon = daemon(&nats.url(), 1).await;
    let writer = Writer::new(&daemon.url);
    let proxy = within(
        5,
        "proxy",
        TcpProxy::start(format!("127.0.0.1:{}", nats.port()).parse().expect("addr")),
    )
    .await
    .expect("proxy");
    let config = ListConfig::default()
        .max_staleness(Duration::from_secs(2))
        .stale_policy(StalePolicy::FailClosed);
    let isolated = start_clients(&proxy.url(), 1, config).await.remove(0);
    let connected = start_clients(&nats.url(), 1, ListConfig::default())
        .await
        .remove(0);
    within(10, "fresh", async {
        while isolated.is_stale() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(isolated.check(&jti_token("t")), Verdict::Allowed);

    proxy.cut();
    within(10, "stale", async {
        while !isolated.is_stale() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        isolated.check(&jti_token("t")),
        Verdict::Stale,
        "fail-closed rejects while stale"
    );

    let missed: Vec<String> = (0..50).map(|index| format!("while-cut-{index}")).collect();
    for value in &missed {
        assert!(writer.revoke_jti(value, Duration::from_secs(10)).await);
    }
    let (found, _) = converge(std::slice::from_ref(&connected), &missed, Duration::from_secs(10)).await;
    assert_eq!(found, vec![missed.len()], "connected services see them at once");

    proxy.restore();
    let clients: Vec<RevocationList> = vec![isolated, connected];
    let (found, took) = converge(&clients, &missed, Duration::from_secs(30)).await;
    within(10, "fresh again", async {
        while clients[0].is_stale() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(matches!(
        clients[0].check(&jti_token(&missed[0])),
        Verdict::Revoked(_)
    ));
    Report {
        scenario: "5 client cut off, heals",
        acknowledged: missed.len(),
        found_per_client: found,
        worst_convergence: took,
    }
    .print_and_check();
}
