//! 2. NATS restarts three times while a writer posts 2,000 revocations (retrying 503s
//!    with the same idempotent request): every acknowledged rule is in every client, and
//!    the stream holds no duplicates.

use std::time::Duration;

use futures_util::StreamExt;
use veto_client::ListConfig;
use veto_e2e::*;
use veto_testkit::NatsServer;

const RULES: usize = 2_000;
const WRITERS: usize = 8;

#[tokio::test]
async fn nats_restarts_during_a_write_load_lose_nothing() {
    let mut nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    let daemon = daemon(&nats.url(), 1).await;
    let clients = start_clients(&nats.url(), 3, ListConfig::default()).await;
    let writer = Writer::new(&daemon.url);

    let values: Vec<String> = (0..RULES).map(|index| format!("restart-{index}")).collect();
    let load = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .revoke_all_jti(values, WRITERS, Duration::from_secs(60))
                .await
        })
    };
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        within(30, "restart nats", nats.restart())
            .await
            .expect("nats restarts");
    }
    let acknowledged = within(180, "the write load finishes", load)
        .await
        .expect("load task");
    assert_eq!(
        acknowledged.len(),
        RULES,
        "every write is acknowledged eventually"
    );
    let (found, took) = converge(&clients, &acknowledged, Duration::from_secs(60)).await;

    // No duplicates: one message per rule subject, one subject per rule.
    let client = within(10, "connect", nats.connect()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let stream = within(10, "stream", js.get_stream("VETO")).await.expect("stream");
    let mut subjects = within(10, "subjects", stream.info_with_subjects("veto.v1.rule.>"))
        .await
        .expect("info");
    let mut counts = Vec::new();
    while let Some(entry) = within(10, "subjects page", subjects.next()).await {
        counts.push(entry.expect("subject").1);
    }
    assert_eq!(counts.len(), RULES, "one subject per rule");
    assert!(counts.iter().all(|&count| count == 1), "one message per subject");

    Report {
        scenario: "2 three NATS restarts",
        acknowledged: acknowledged.len(),
        found_per_client: found,
        worst_convergence: took,
    }
    .print_and_check();
}
