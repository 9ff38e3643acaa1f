//! The production NATS config from `deploy/nats/cluster.conf`, started as a 3-node
//! cluster: the daemon (user `vetod`) signs and publishes, a service (user `service`)
//! follows the stream and verifies signatures, and NATS refuses the service's own
//! publishes on `veto.v1.>`. A reporting service (user `orders`) reports its presence,
//! which the daemon reads (its fleet and a receipt name it); NATS refuses its publishes
//! of another service's presence and of any rule, and the reading-only user's presence.

use std::time::Duration;

use async_nats::ConnectOptions;
use veto_client::{ListConfig, RevocationList, Verdict, VerificationKeys};
use veto_daemon::signer::EventSigner;
use veto_e2e::*;
use veto_testkit::NatsCluster;

const VETOD_PASSWORD: &str = "vetod-test-password";
const SERVICE_PASSWORD: &str = "service-test-password";
const ORDERS_PASSWORD: &str = "orders-test-password";

fn as_user(user: &str, password: &str) -> ConnectOptions {
    ConnectOptions::new().user_and_password(user.to_owned(), password.to_owned())
}

#[tokio::test]
async fn the_deployed_permissions_let_only_the_daemon_publish() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nats/cluster.conf");
    let cluster = within(
        60,
        "cluster from deploy/nats/cluster.conf",
        NatsCluster::start_with(3, |node| {
            node.config_file(config)
                .env("VETOD_NATS_PASSWORD", VETOD_PASSWORD)
                .env("SERVICE_NATS_PASSWORD", SERVICE_PASSWORD)
                .env("ORDERS_NATS_PASSWORD", ORDERS_PASSWORD)
        }),
    )
    .await
    .expect("the cluster forms from the deployed config");
    within(
        60,
        "JetStream",
        cluster.wait_for_jetstream_as(|| as_user("vetod", VETOD_PASSWORD)),
    )
    .await
    .expect("JetStream answers the daemon's user");

    // The daemon, as user vetod, signing with a fresh key.
    let seed_dir = tempfile_dir();
    let seed_file = seed_dir.join("signing-seed");
    std::fs::write(&seed_file, EventSigner::generate_seed()).expect("seed file");
    let signer = EventSigner::from_seed_file("test-key", &seed_file).expect("signer");
    let daemon = daemon_with(&cluster.urls(), 3, |settings| {
        settings.nats.user = Some("vetod".into());
        settings.nats.password = Some(VETOD_PASSWORD.to_owned().into());
        settings.signing.key_id = Some("test-key".into());
        settings.signing.seed_file = Some(seed_file.clone());
    })
    .await;

    // A service, as user service, trusting the daemon's key.
    let keys = VerificationKeys::new()
        .with_key("test-key", &signer.public_key())
        .expect("key");
    let service_client = within(
        10,
        "service connects",
        as_user("service", SERVICE_PASSWORD).connect(cluster.server_addrs()),
    )
    .await
    .expect("the service user may connect");
    let (probe, mut errors) = connect_probe("service", SERVICE_PASSWORD, &cluster).await;
    let list =
        RevocationList::start(service_client, ListConfig::default().signed_by(keys.clone())).expect("list");
    within(30, "the service's list is ready", list.ready()).await;

    let writer = Writer::new(&daemon.url);
    assert!(writer.revoke_jti("deployed", Duration::from_secs(20)).await);
    let (found, took) = converge(
        std::slice::from_ref(&list),
        &["deployed".to_owned()],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(found, vec![1], "the signed revocation reached the service");
    within(20, "fresh from signed ticks", async {
        while list.is_stale() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // A service starting now loads the daemon's snapshot (the replicated bucket, read
    // with the service user's direct gets) and the stream after it.
    let snapshot = within(20, "POST /v1/snapshot", daemon.admin().write_snapshot())
        .await
        .expect("the daemon writes a snapshot into the replicated bucket")
        .body;
    let restarted = RevocationList::start(
        within(
            10,
            "service connects",
            as_user("service", SERVICE_PASSWORD).connect(cluster.server_addrs()),
        )
        .await
        .expect("connects"),
        ListConfig::default().signed_by(keys.clone()),
    )
    .expect("list");
    within(30, "the restarted service is ready", restarted.ready()).await;
    assert_eq!(
        restarted.loaded_snapshot(),
        snapshot.sequence,
        "loaded from the snapshot with the service's permissions"
    );
    assert_eq!(restarted.refused_snapshots(), 0);
    assert_eq!(
        restarted.check(&jti_token("deployed")),
        Verdict::Revoked(veto_proto::RuleKind::Jti)
    );

    // The service tries to publish a rule of its own: NATS refuses it.
    let forged = veto_proto::Event::Rule(veto_proto::RevocationRule::jti(
        "forged-by-service",
        None,
        veto_proto::UnixSeconds::now().saturating_add(Duration::from_secs(600)),
    ));
    probe
        .publish(forged.subject(), forged.encode().into())
        .await
        .expect("sent");
    probe.flush().await.expect("flushed");
    let refusal = within(10, "a permissions violation", errors.recv())
        .await
        .expect("an error event");
    assert!(refusal.to_lowercase().contains("permission"), "{refusal}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(list.check(&jti_token("forged-by-service")), Verdict::Allowed);
    assert_eq!(
        list.rejected_events(),
        0,
        "the refused publish never reached the stream"
    );

    // Not even the daemon's user may publish on the live republish: a live message
    // names its stream sequence, which no signature covers.
    let (daemon_probe, mut daemon_errors) = connect_probe("vetod", VETOD_PASSWORD, &cluster).await;
    daemon_probe
        .publish("veto.v1.live.rule.jti.0123", forged.encode().into())
        .await
        .expect("sent");
    daemon_probe.flush().await.expect("flushed");
    let refusal = within(10, "a permissions violation", daemon_errors.recv())
        .await
        .expect("an error event");
    assert!(refusal.to_lowercase().contains("permission"), "{refusal}");

    // A service that reports presence, as its own user: the daemon (user vetod) reads
    // it, so the fleet lists it and a receipt counts it.
    let orders_client = within(
        10,
        "orders connects",
        as_user("orders", ORDERS_PASSWORD).connect(cluster.server_addrs()),
    )
    .await
    .expect("the orders user may connect");
    let orders = RevocationList::start(
        orders_client,
        ListConfig::default()
            .signed_by(keys)
            .reporting_as("orders", "orders-1")
            .presence_heartbeat(Duration::from_millis(500)),
    )
    .expect("a reporting list");
    within(30, "the orders list is ready", orders.ready()).await;
    let admin = daemon.admin();
    let fleet_lists = |service: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .fleet()
                .await
                .is_ok_and(|fleet| fleet.body.services.iter().any(|s| s.service == service))
        }
    };
    veto_testkit::until(20, "the daemon sees orders-1", || fleet_lists("orders")).await;
    let wait = veto_api::Wait::new(
        veto_api::WaitScope::Service("orders".into()),
        Duration::from_secs(5),
    );
    let receipt = within(
        20,
        "a revocation waiting for orders",
        admin.waiting_for(wait).revoke(&veto_api::RevokeRequest::new(
            veto_proto::RuleKind::Jti,
            Some("deployed-2"),
        )),
    )
    .await
    .expect("stored");
    let applied_by = receipt.reply.body.applied_by.expect("a receipt");
    assert!(
        applied_by.complete && applied_by.instances == 1 && applied_by.of == 1,
        "{applied_by:?}"
    );

    // As orders: another service's presence and a rule are refused.
    let (orders_probe, mut orders_errors) = connect_probe("orders", ORDERS_PASSWORD, &cluster).await;
    let impostor = veto_proto::PresenceReport {
        service: "billing".into(),
        instance: "billing-1".into(),
        version: "0.1.0".into(),
        applied_sequence: u64::MAX,
        freshness: veto_proto::Freshness::Fresh,
        tick_age_ms: Some(1),
        rules: 0,
        bloom: veto_proto::BloomReport::default(),
        heartbeat_ms: 60_000,
        started_unix_ms: 1,
        report: 1,
    };
    let as_orders_2 = veto_proto::PresenceReport {
        service: "orders".into(),
        instance: "orders-2".into(),
        ..impostor.clone()
    };
    for (what, subject, payload) in [
        (
            "another service's presence",
            impostor.subject().expect("subject"),
            impostor.encode(),
        ),
        ("a rule", forged.subject(), forged.encode()),
    ] {
        orders_probe.publish(subject, payload.into()).await.expect("sent");
        orders_probe.flush().await.expect("flushed");
        let refusal = within(10, what, orders_errors.recv())
            .await
            .expect("an error event");
        assert!(refusal.to_lowercase().contains("permission"), "{what}: {refusal}");
    }
    // The reading-only user may not report at all.
    probe
        .publish(
            as_orders_2.subject().expect("subject"),
            as_orders_2.encode().into(),
        )
        .await
        .expect("sent");
    probe.flush().await.expect("flushed");
    let refusal = within(10, "presence as the service user", errors.recv())
        .await
        .expect("an error event");
    assert!(refusal.to_lowercase().contains("permission"), "{refusal}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fleet = within(10, "fleet", admin.fleet()).await.expect("fleet").body;
    let names: Vec<(&str, Vec<&str>)> = fleet
        .services
        .iter()
        .map(|service| {
            (
                service.service.as_str(),
                service.instances.iter().map(|i| i.instance.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![("orders", vec!["orders-1"])],
        "no refused report got through"
    );
    assert_eq!(orders.check(&jti_token("forged-by-service")), Verdict::Allowed);

    Report {
        scenario: "8 deployed permissions",
        acknowledged: 1,
        found_per_client: found,
        worst_convergence: took,
    }
    .print_and_check();
}

/// A connection as `user` whose refused publishes arrive on the receiver.
async fn connect_probe(
    user: &str,
    password: &str,
    cluster: &NatsCluster,
) -> (async_nats::Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (errors_tx, errors) = tokio::sync::mpsc::unbounded_channel();
    let client = within(
        10,
        "probe connects",
        as_user(user, password)
            .event_callback(move |event| {
                let errors_tx = errors_tx.clone();
                async move {
                    if let async_nats::Event::ServerError(error) = event {
                        let _ = errors_tx.send(error.to_string());
                    }
                }
            })
            .connect(cluster.server_addrs()),
    )
    .await
    .expect("probe connects");
    (client, errors)
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "veto-e2e-{}-{}",
        std::process::id(),
        veto_testkit::tokens::random_id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
