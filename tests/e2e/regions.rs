//! 12. Regions on leaf nodes, started from `deploy/nats/hub.conf` and
//!     `deploy/nats/leaf.conf`: a 3-node hub (JetStream domain `hub`, the stream R3,
//!     vetod) and two regions, each a leaf node with its own domain holding mirrors of
//!     the stream and the snapshot bucket (`vetod --create-region-mirrors`), its
//!     services connected to it as the `service` user (which may read only its own
//!     region's JetStream: every bootstrap is served by the region, not the hub). A
//!     revocation on the hub reaches both regions; cutting one region's link makes its
//!     services stale (fail closed) while the other converges; healed, it converges with
//!     nothing lost.

use std::time::Duration;

use async_nats::ConnectOptions;
use veto_client::{ListConfig, RevocationList, StalePolicy, Verdict};
use veto_e2e::*;
use veto_testkit::{NatsCluster, NatsServer, TcpProxy, TestSigningKey, eventually};

const VETOD_PASSWORD: &str = "vetod-test-password";
const SERVICE_PASSWORD: &str = "service-test-password";
const LEAF_PASSWORD: &str = "leaf-test-password";
const SERVICES_PER_REGION: usize = 3;
const STALENESS: Duration = Duration::from_secs(3);

fn deploy(file: &str) -> String {
    format!("{}/../deploy/nats/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn passwords(builder: veto_testkit::NatsServerBuilder) -> veto_testkit::NatsServerBuilder {
    builder
        .env("VETOD_NATS_PASSWORD", VETOD_PASSWORD)
        .env("SERVICE_NATS_PASSWORD", SERVICE_PASSWORD)
        .env("ORDERS_NATS_PASSWORD", "orders-test-password")
        .env("LEAF_NATS_PASSWORD", LEAF_PASSWORD)
}

fn as_user(user: &str, password: &str) -> ConnectOptions {
    ConnectOptions::new().user_and_password(user.to_owned(), password.to_owned())
}

/// A region: its leaf node (linked to the hub through a proxy that can cut it) and its
/// services.
struct Region {
    name: &'static str,
    link: TcpProxy,
    leaf: NatsServer,
    services: Vec<RevocationList>,
}

async fn region(name: &'static str, hub_leaf_port: u16) -> Region {
    let link = TcpProxy::start(([127, 0, 0, 1], hub_leaf_port).into())
        .await
        .expect("a proxy for the region's link");
    let hub_url = format!(
        "nats-leaf://leaf:{LEAF_PASSWORD}@{}",
        link.url().trim_start_matches("nats://")
    );
    let leaf = within(
        30,
        "a leaf node from deploy/nats/leaf.conf",
        passwords(NatsServer::builder())
            .config_file(deploy("leaf.conf"))
            .name(&format!("leaf-{name}"))
            .env("VETO_REGION", name)
            .env("VETO_HUB_URL", &hub_url)
            .ready_when_listening()
            .start(),
    )
    .await
    .expect("the leaf node starts");
    Region {
        name,
        link,
        leaf,
        services: Vec::new(),
    }
}

#[tokio::test]
async fn regions_on_leaf_nodes_converge_and_a_cut_region_goes_stale_then_heals() {
    // The hub: hub.conf, with each node's leaf-node port on loopback (and not
    // advertised, so a region reaches the hub only through its proxy).
    let work = tempfile::tempdir().expect("a directory for the nodes' configs");
    let leaf_ports: Vec<u16> = (0..3)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .map(|address| address.port())
                .expect("a free port")
        })
        .collect();
    // nats-server resolves an include relative to the including file, even when it
    // starts with `/`: climb from the temporary directory to the root.
    let to_root = "../".repeat(work.path().components().count().saturating_sub(1));
    let hub_conf = std::fs::canonicalize(deploy("hub.conf")).expect("deploy/nats/hub.conf");
    let included = format!(
        "{to_root}{}",
        hub_conf.display().to_string().trim_start_matches('/')
    );
    let configs: Vec<String> = leaf_ports
        .iter()
        .enumerate()
        .map(|(index, port)| {
            let path = work.path().join(format!("hub-{index}.conf"));
            std::fs::write(
                &path,
                format!(
                    "include \"{included}\"\nleafnodes {{\n  listen: \"127.0.0.1:{port}\"\n  no_advertise: true\n  authorization {{ users: [ {{ user: leaf, password: $LEAF_NATS_PASSWORD, account: VETO }} ] }}\n}}\n"
                ),
            )
            .expect("a node config");
            path.display().to_string()
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let hub = within(
        60,
        "the hub from deploy/nats/hub.conf",
        NatsCluster::start_with(3, |node| {
            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 3;
            passwords(node).config_file(&configs[index])
        }),
    )
    .await
    .expect("the hub forms");
    within(
        60,
        "the hub's JetStream",
        hub.wait_for_jetstream_as(|| as_user("vetod", VETOD_PASSWORD)),
    )
    .await
    .expect("JetStream answers on the hub");
    // Every node started from the config whose leaf port is its index's: which node
    // took which config is the order they started in, the first one included.
    let hub_leaf_port = leaf_ports[0];

    let key = TestSigningKey::new("regions");
    let daemon = daemon_with(&hub.urls(), 3, |settings| {
        settings.nats.user = Some("vetod".into());
        settings.nats.password = Some(VETOD_PASSWORD.to_owned().into());
        key.apply(settings);
    })
    .await;
    let writer = Writer::new(&daemon.url);
    let mut acknowledged: Vec<String> = Vec::new();
    let before: Vec<String> = (0..20).map(|index| format!("region-before-{index}")).collect();
    acknowledged.extend(writer.revoke_all_jti(before, 8, Duration::from_secs(30)).await);
    assert_eq!(acknowledged.len(), 20);
    let snapshot = within(20, "POST /v1/snapshot", daemon.admin().write_snapshot())
        .await
        .expect("a snapshot on the hub")
        .body;

    let mut regions = vec![
        region("eu", hub_leaf_port).await,
        region("us", hub_leaf_port).await,
    ];
    for region in &mut regions {
        // The region's mirrors, as an operator creates them: vetod's own command.
        let mut settings = veto_testkit::daemon::test_settings(&region.leaf.url());
        settings.nats.user = Some("vetod".into());
        settings.nats.password = Some(VETOD_PASSWORD.to_owned().into());
        within(
            60,
            "the region's mirrors",
            eventually(Duration::from_secs(55), "the mirrors are created", || {
                let settings = settings.clone();
                async move {
                    veto_daemon::create_region_mirrors(&settings, "hub", 64 << 20)
                        .await
                        .ok()
                }
            }),
        )
        .await
        .unwrap_or_else(|error| panic!("{error}: {}", region.leaf.log()));
        // Mirroring is asynchronous: the region serves once its mirrors have caught up.
        let leaf_js = async_nats::jetstream::new(
            within(
                10,
                "connect",
                as_user("vetod", VETOD_PASSWORD).connect(region.leaf.url()),
            )
            .await
            .expect("vetod connects to the leaf"),
        );
        within(60, "the region's mirrors catch up", async {
            loop {
                let mut caught_up = true;
                for (stream, at_least) in [("VETO", snapshot.sequence), ("OBJ_VETO_SNAPSHOTS", 2)] {
                    let last = match leaf_js.get_stream(stream).await {
                        Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.last_sequence),
                        Err(_) => 0,
                    };
                    caught_up &= last >= at_least;
                }
                if caught_up {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        let config = ListConfig::default()
            .signed_by(key.verification_keys())
            .max_staleness(STALENESS)
            .stale_policy(StalePolicy::FailClosed);
        for _ in 0..SERVICES_PER_REGION {
            let connection = within(
                10,
                "a service connects to its region",
                as_user("service", SERVICE_PASSWORD).connect(region.leaf.url()),
            )
            .await
            .expect("the service user connects to the leaf");
            region
                .services
                .push(RevocationList::start(connection, config.clone()).expect("a list"));
        }
        within(60, "the region's services are ready", async {
            for list in &region.services {
                list.ready().await;
            }
        })
        .await;
    }
    for region in &regions {
        for list in &region.services {
            assert_eq!(
                list.loaded_snapshot(),
                snapshot.sequence,
                "{}: loaded the snapshot from the region's mirror ({} refused)",
                region.name,
                list.refused_snapshots()
            );
        }
    }

    // A revocation on the hub reaches both regions.
    let live: Vec<String> = (0..10).map(|index| format!("region-live-{index}")).collect();
    acknowledged.extend(writer.revoke_all_jti(live, 5, Duration::from_secs(30)).await);
    assert_eq!(acknowledged.len(), 30);
    let mut worst = Duration::ZERO;
    for region in &regions {
        let (found, took) = converge(&region.services, &acknowledged, Duration::from_secs(20)).await;
        assert!(
            found.iter().all(|&count| count == acknowledged.len()),
            "{}: {found:?}",
            region.name
        );
        worst = worst.max(took);
    }

    // Cut eu's link: its services go stale (fail closed); us keeps converging.
    regions[0].link.cut();
    let cut_off: Vec<String> = (0..10).map(|index| format!("region-cut-{index}")).collect();
    acknowledged.extend(writer.revoke_all_jti(cut_off, 5, Duration::from_secs(30)).await);
    assert_eq!(acknowledged.len(), 40);
    let (found, took) = converge(&regions[1].services, &acknowledged, Duration::from_secs(20)).await;
    assert!(
        found.iter().all(|&count| count == acknowledged.len()),
        "us: {found:?}"
    );
    worst = worst.max(took);
    within(20, "eu's services turn stale", async {
        while !regions[0].services.iter().all(RevocationList::is_stale) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for list in &regions[0].services {
        assert_eq!(
            list.check(&jti_token("region-cut-0")),
            Verdict::Stale,
            "fail closed while cut off"
        );
    }

    // Healed: eu converges from its mirror and the live feed, nothing lost.
    regions[0].link.restore();
    let (found, took) = converge(&regions[0].services, &acknowledged, Duration::from_secs(60)).await;
    worst = worst.max(took);
    within(20, "eu's services fresh again", async {
        while regions[0].services.iter().any(RevocationList::is_stale) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    let mut found_per_client = found;
    for region in &regions[1..] {
        found_per_client.extend(found_per_client_of(region, &acknowledged));
    }
    Report {
        scenario: "12 regions on leaf nodes",
        acknowledged: acknowledged.len(),
        found_per_client,
        worst_convergence: worst,
    }
    .print_and_check();
}

fn found_per_client_of(region: &Region, values: &[String]) -> Vec<usize> {
    found_per_client(&region.services, values)
}
