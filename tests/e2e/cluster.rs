//! 4. A 3-node NATS cluster with the stream at 3 replicas: one node killed during a
//!    write load. Writes continue (brief 503s allowed, then success on retry), clients
//!    converge, and the node rejoins when restarted.

use std::time::Duration;

use veto_client::ListConfig;
use veto_e2e::*;
use veto_testkit::{NatsCluster, eventually};

const RULES: usize = 600;

#[tokio::test]
async fn a_node_lost_from_an_r3_cluster_loses_nothing() {
    let mut cluster = within(60, "cluster", NatsCluster::start(3))
        .await
        .expect("cluster forms");
    let daemon = daemon(&cluster.urls(), 3).await;
    let clients = start_clients(&cluster.node(1).url(), 2, ListConfig::default()).await;
    let more_clients = start_clients(&cluster.node(2).url(), 1, ListConfig::default()).await;
    let clients: Vec<_> = clients.into_iter().chain(more_clients).collect();
    let writer = Writer::new(&daemon.url);

    let values: Vec<String> = (0..RULES).map(|index| format!("cluster-{index}")).collect();
    let load = {
        let writer = writer.clone();
        tokio::spawn(async move { writer.revoke_all_jti(values, 8, Duration::from_secs(90)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.node_mut(0).kill().expect("kill node 1");
    let acknowledged = within(180, "the write load finishes", load)
        .await
        .expect("load task");
    assert_eq!(acknowledged.len(), RULES, "writes continue with a node down");
    let (found, took) = converge(&clients, &acknowledged, Duration::from_secs(60)).await;

    within(60, "node 1 restarts", cluster.node_mut(0).start_again())
        .await
        .expect("node 1 back");
    let client = within(10, "connect", cluster.connect()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    within(
        70,
        "the node rejoins",
        eventually(Duration::from_secs(60), "three current replicas", || async {
            let mut stream = js.get_stream("VETO").await.ok()?;
            let info = stream.info().await.ok()?;
            let cluster = info.cluster.as_ref()?;
            let current = cluster
                .replicas
                .iter()
                .filter(|peer| peer.current && !peer.offline)
                .count();
            (cluster.leader.is_some() && current == 2).then_some(())
        }),
    )
    .await
    .expect("the restarted node is a current replica again");

    Report {
        scenario: "4 R3 cluster, one node killed",
        acknowledged: acknowledged.len(),
        found_per_client: found,
        worst_convergence: took,
    }
    .print_and_check();
}
