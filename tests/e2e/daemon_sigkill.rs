//! 3. The daemon killed with SIGKILL during a write load, then restarted: every
//!    2xx-acknowledged rule is present, in the stream and in every client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use veto_client::ListConfig;
use veto_e2e::*;
use veto_testkit::NatsServer;

#[tokio::test]
async fn sigkill_of_the_daemon_loses_no_acknowledged_rule() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    let mut daemon = DaemonProcess::start(&nats.url()).await;
    let clients = start_clients(&nats.url(), 3, ListConfig::default()).await;

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer_index in 0..4 {
        let (writer, acknowledged, stop) = (
            Writer::new(&daemon.url()),
            Arc::clone(&acknowledged),
            Arc::clone(&stop),
        );
        writers.push(tokio::spawn(async move {
            let mut index = 0;
            while !stop.load(Ordering::Acquire) {
                let value = format!("sigkill-{writer_index}-{index}");
                // Only a 2xx counts; a write cut off by the kill is retried after restart
                // with the same request, and then counts (idempotent).
                if writer.revoke_jti(&value, Duration::from_secs(30)).await {
                    acknowledged.lock().expect("lock").push(value);
                }
                index += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before_kill = acknowledged.lock().expect("lock").len();
    daemon.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    within(60, "restart vetod", daemon.start_again()).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    stop.store(true, Ordering::Release);
    for writer in writers {
        within(60, "writer stops", writer).await.expect("writer");
    }

    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        before_kill > 0 && acknowledged.len() > before_kill,
        "writes before and after the kill"
    );
    let (found, took) = converge(&clients, &acknowledged, Duration::from_secs(30)).await;
    Report {
        scenario: "3 daemon SIGKILL + restart",
        acknowledged: acknowledged.len(),
        found_per_client: found,
        worst_convergence: took,
    }
    .print_and_check();
}
