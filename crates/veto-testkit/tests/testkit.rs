//! The test kit against the real server: start, publish, restart, kill -9, cluster.

use std::future::IntoFuture;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use veto_testkit::{NatsCluster, NatsServer, eventually, within};

fn stream_config(name: &str, replicas: usize) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("{}.>", name.to_lowercase())],
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

async fn publish_acked(js: &jetstream::Context, subject: &str, payload: &'static str) -> u64 {
    let ack = within(10, "publish", js.publish(subject.to_owned(), payload.into()))
        .await
        .expect("publish sent");
    within(10, "ack", ack.into_future())
        .await
        .expect("publish acknowledged")
        .sequence
}

async fn message_count(js: &jetstream::Context, name: &str) -> u64 {
    let mut stream = within(10, "get stream", js.get_stream(name))
        .await
        .expect("stream exists");
    within(10, "stream info", stream.info())
        .await
        .expect("stream info")
        .state
        .messages
}

#[tokio::test]
async fn a_server_takes_a_jetstream_publish() {
    let server = within(30, "server start", NatsServer::start())
        .await
        .expect("server starts");
    assert!(server.url().starts_with("nats://127.0.0.1:"));
    assert_ne!(server.port(), 0);
    let js = jetstream::new(within(10, "connect", server.connect()).await.expect("connect"));
    within(10, "create stream", js.create_stream(stream_config("ONE", 1)))
        .await
        .expect("stream created");
    assert_eq!(publish_acked(&js, "one.a", "hello").await, 1);
    assert_eq!(message_count(&js, "ONE").await, 1);
}

#[tokio::test]
async fn a_restart_on_the_same_port_keeps_the_streams_data() {
    let mut server = within(30, "server start", NatsServer::start())
        .await
        .expect("server starts");
    let port = server.port();
    let js = jetstream::new(within(10, "connect", server.connect()).await.expect("connect"));
    within(10, "create stream", js.create_stream(stream_config("KEPT", 1)))
        .await
        .expect("stream created");
    for _ in 0..3 {
        publish_acked(&js, "kept.a", "x").await;
    }

    within(30, "restart", server.restart())
        .await
        .expect("graceful restart");
    assert_eq!(server.port(), port, "same port after a restart");
    let js = jetstream::new(
        within(10, "reconnect", server.connect())
            .await
            .expect("reconnect"),
    );
    assert_eq!(message_count(&js, "KEPT").await, 3);

    // SIGKILL: no shutdown at all. Acknowledged writes reached the OS, so they survive
    // the process (not a power cut: that needs sync_interval: always).
    publish_acked(&js, "kept.a", "y").await;
    server.kill().expect("kill -9");
    assert!(!server.is_running());
    assert!(
        within(5, "connect to a dead server", server.connect())
            .await
            .is_err(),
        "a killed server refuses connections"
    );
    within(30, "start again", server.start_again())
        .await
        .expect("start after kill");
    assert_eq!(server.port(), port);
    let js = jetstream::new(
        within(10, "reconnect", server.connect())
            .await
            .expect("reconnect"),
    );
    assert_eq!(message_count(&js, "KEPT").await, 4);
}

#[tokio::test]
async fn a_paused_server_answers_nothing_until_resumed() {
    let server = within(30, "server start", NatsServer::start())
        .await
        .expect("server starts");
    let client = within(10, "connect", server.connect()).await.expect("connect");
    let js = jetstream::new(client);
    server.pause();
    let frozen = tokio::time::timeout(Duration::from_secs(1), js.query_account()).await;
    assert!(!matches!(frozen, Ok(Ok(_))), "a paused server must not answer");
    server.resume();
    within(15, "answer after resume", async {
        eventually(Duration::from_secs(10), "account info after resume", || async {
            js.query_account().await.ok()
        })
        .await
    })
    .await
    .expect("answers again after resume");
}

#[tokio::test]
async fn the_development_config_starts() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nats/dev.conf");
    let server = within(
        30,
        "server start",
        NatsServer::builder().config_file(config).start(),
    )
    .await
    .expect("deploy/nats/dev.conf starts");
    let js = jetstream::new(within(10, "connect", server.connect()).await.expect("connect"));
    within(10, "create stream", js.create_stream(stream_config("DEV", 1)))
        .await
        .expect("stream created");
    assert_eq!(publish_acked(&js, "dev.a", "x").await, 1);
    assert!(
        server.log().contains("veto-dev"),
        "the config's server_name is in use"
    );
}

#[tokio::test]
async fn a_three_node_cluster_keeps_taking_publishes_with_one_node_killed() {
    let mut cluster = within(60, "cluster start", NatsCluster::start(3))
        .await
        .expect("cluster forms");
    let js = jetstream::new(within(10, "connect", cluster.connect()).await.expect("connect"));
    let info = within(
        30,
        "create R3 stream",
        eventually(Duration::from_secs(25), "an R3 stream", || async {
            js.create_stream(stream_config("TRIPLE", 3)).await.ok()
        }),
    )
    .await
    .expect("R3 stream created");
    assert_eq!(info.cached_info().config.num_replicas, 3);
    publish_acked(&js, "triple.a", "before").await;

    // Kill the node the client is not necessarily on; the client fails over if it was.
    cluster.node_mut(0).kill().expect("kill node 1");
    let acked = within(
        40,
        "publish with a node down",
        eventually(
            Duration::from_secs(35),
            "a publish acknowledged by the two live nodes",
            || async {
                let ack = js.publish("triple.a", "during".into()).await.ok()?;
                ack.await.ok()
            },
        ),
    )
    .await
    .expect("publishes continue with one node down");
    assert!(acked.sequence >= 2);

    within(30, "node rejoins", cluster.node_mut(0).start_again())
        .await
        .expect("node 1 starts again");
    let rejoined = within(
        40,
        "replicas current",
        eventually(Duration::from_secs(35), "all three replicas current", || async {
            let mut stream = js.get_stream("TRIPLE").await.ok()?;
            let info = stream.info().await.ok()?;
            let cluster = info.cluster.as_ref()?;
            let current = cluster.replicas.iter().filter(|peer| peer.current).count();
            (cluster.leader.is_some() && current == 2 && info.state.messages >= 2).then_some(())
        }),
    )
    .await;
    rejoined.expect("the restarted node rejoins and catches up");
}
