//! 11. A fleet past the old ceiling: 1,001 services on one stream (a JetStream stream
//!     holds at most 1,000 consumers unless told otherwise; veto's lists hold none).
//!     Every list loads the daemon's signed snapshot, becomes ready, and revokes what is
//!     revoked after; the stream has no consumer at any point.

use std::time::Duration;

use veto_client::{ListConfig, RevocationList};
use veto_e2e::*;
use veto_testkit::{NatsServer, TestSigningKey};

const CLIENTS: usize = 1_001;

#[tokio::test]
async fn more_than_a_thousand_services_start_on_one_stream() {
    let server = within(30, "nats-server", NatsServer::start())
        .await
        .expect("nats-server starts");
    let key = TestSigningKey::new("fleet");
    let daemon = daemon_with(&server.url(), 1, |settings| key.apply(settings)).await;
    let writer = Writer::new(&daemon.url);
    let before: Vec<String> = (0..50).map(|index| format!("fleet-before-{index}")).collect();
    let acknowledged = writer
        .revoke_all_jti(before.clone(), 8, Duration::from_secs(30))
        .await;
    assert_eq!(acknowledged.len(), before.len(), "every revocation acknowledged");
    let snapshot = within(20, "POST /v1/snapshot", daemon.admin().write_snapshot())
        .await
        .expect("a snapshot")
        .body;

    let config = ListConfig::default().signed_by(key.verification_keys());
    let connections = within(120, "1,001 connections", async {
        let mut connections = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            connections.push(async_nats::connect(server.url()).await.expect("connect"));
        }
        connections
    })
    .await;
    let clients: Vec<RevocationList> = connections
        .iter()
        .map(|connection| RevocationList::start(connection.clone(), config.clone()).expect("list"))
        .collect();
    within(120, "every one of 1,001 lists ready", async {
        for list in &clients {
            list.ready().await;
        }
    })
    .await;
    assert!(
        clients
            .iter()
            .all(|list| list.loaded_snapshot() == snapshot.sequence),
        "every list loaded the snapshot"
    );

    let after: Vec<String> = (0..5).map(|index| format!("fleet-after-{index}")).collect();
    let acknowledged = writer
        .revoke_all_jti(after.clone(), 5, Duration::from_secs(30))
        .await;
    assert_eq!(acknowledged.len(), after.len(), "every revocation acknowledged");
    let values: Vec<String> = before.iter().chain(&after).cloned().collect();
    let (found, took) = converge(&clients, &values, Duration::from_secs(60)).await;

    let js = async_nats::jetstream::new(within(10, "connect", server.connect()).await.expect("connect"));
    let mut stream = within(10, "stream", js.get_stream("VETO")).await.expect("stream");
    let info = within(10, "stream info", stream.info()).await.expect("info");
    assert_eq!(info.state.consumer_count, 0, "no consumer on the stream");

    Report {
        scenario: "11 1,001 services",
        acknowledged: values.len(),
        found_per_client: found,
        worst_convergence: took,
    }
    .print_and_check();
}
