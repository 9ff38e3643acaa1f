//! 1. A revocation via HTTP reaches 20 clients; all reject the token within a bound.

use std::time::Duration;

use veto_client::ListConfig;
use veto_e2e::*;
use veto_testkit::NatsServer;

#[tokio::test]
async fn a_revocation_reaches_twenty_clients() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    let daemon = daemon(&nats.url(), 1).await;
    let clients = start_clients(&nats.url(), 20, ListConfig::default()).await;
    let writer = Writer::new(&daemon.url);

    let mut acknowledged = Vec::new();
    let mut worst = Duration::ZERO;
    for index in 0..20 {
        let value = format!("propagation-{index}");
        assert!(
            writer.revoke_jti(&value, Duration::from_secs(10)).await,
            "acknowledged"
        );
        acknowledged.push(value.clone());
        let (found, took) = converge(&clients, std::slice::from_ref(&value), Duration::from_secs(5)).await;
        assert!(
            found.iter().all(|&count| count == 1),
            "every client rejects {value} within 5 s"
        );
        worst = worst.max(took);
    }
    Report {
        scenario: "1 propagation to 20 clients",
        acknowledged: acknowledged.len(),
        found_per_client: found_per_client(&clients, &acknowledged),
        worst_convergence: worst,
    }
    .print_and_check();
}
