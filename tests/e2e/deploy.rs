//! The production NATS config from `deploy/nats/cluster.conf`, started as a 3-node
//! cluster: the daemon (user `vetod`) signs and publishes, a service (user `service`)
//! follows the stream and verifies signatures, and NATS refuses the service's own
//! publishes on `veto.v1.>`.

use std::time::Duration;

use async_nats::ConnectOptions;
use veto_client::{ListConfig, RevocationList, Verdict, VerificationKeys};
use veto_daemon::signer::EventSigner;
use veto_e2e::*;
use veto_testkit::NatsCluster;

const VETOD_PASSWORD: &str = "vetod-test-password";
const SERVICE_PASSWORD: &str = "service-test-password";

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
    let (errors_tx, mut errors) = tokio::sync::mpsc::unbounded_channel();
    let probe = within(
        10,
        "probe connects",
        as_user("service", SERVICE_PASSWORD)
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
        ListConfig::default().signed_by(keys),
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

    Report {
        scenario: "8 deployed permissions",
        acknowledged: 1,
        found_per_client: found,
        worst_convergence: took,
    }
    .print_and_check();
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
