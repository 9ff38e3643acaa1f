//! Figure 8: how long a write waits for its receipt from every service, next to how
//! long it takes to reach every service.
//!
//! One nats-server, `vetod` in this process, and N clients (`RevocationList`, each on
//! its own NATS connection, each reporting presence as `bench/client-<n>` with the
//! default heartbeat), as N services that report would run. Once the daemon's fleet
//! lists all N fresh, rounds alternate:
//!
//! - **receipt**: `POST /v1/revocations?wait=fleet&timeout=5s` of a fresh `jti`, timed
//!   from just before the request is sent until the answer arrives; the answer must say
//!   `applied_by.complete` with N of N. That is the write, the fan-out, N replicas
//!   applying it, N presence reports, and the daemon noticing the last one;
//! - **propagation**: the same write without `wait`, timed until every client's
//!   `check` answers `Revoked` (figure 6's measurement, with these clients, in this
//!   run).
//!
//! The target: the receipt's p99 at most the propagation's p99 + 2 ms (what knowing
//! costs on top of getting there). 10 untimed rounds first.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use tokio::time::timeout;
use veto_api::{Wait, WaitScope};
use veto_client::{ListConfig, RevocationList};

use crate::daemon::BenchDaemon;
use crate::measure::{P50_P99_MAX, add_latencies, millis, percentile};
use crate::plan::Plan;
use crate::propagation::propagate;
use crate::report::{Bound, Figure, Report};
use crate::workload::{Namespace, uuid_like_string};

/// How long nats-server may take to start.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long all clients together may take to become ready and be listed.
const CLIENTS_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one receipt may be waited for.
const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Untimed rounds first.
const WARMUP_ROUNDS: usize = 10;
/// The receipt's p99 may exceed the propagation's p99 by at most this much.
const MAX_EXTRA_MS: f64 = 2.0;

/// Runs the figure; adds receipt and propagation percentiles and their difference.
pub async fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let server = timeout(NATS_START_TIMEOUT, veto_testkit::NatsServer::start())
        .await
        .context("nats-server did not start in time")??;
    let daemon = BenchDaemon::start(&server.url(), |_| {}).await?;
    let count = plan.propagation_clients;
    eprintln!("  (starting {count} reporting clients)");
    let clients = start_reporting_clients(&server.url(), count).await?;
    timeout(CLIENTS_READY_TIMEOUT, async {
        while daemon.fresh_instances().await? < count as u64 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::Ok(())
    })
    .await
    .context("the daemon did not list every client in time")??;

    let wait = Wait::new(WaitScope::Fleet, WAIT_TIMEOUT);
    let mut receipts = Vec::with_capacity(plan.receipt_rounds);
    let mut propagations = Vec::with_capacity(plan.receipt_rounds);
    for round in 0..WARMUP_ROUNDS + plan.receipt_rounds {
        let waited_for = uuid_like_string(Namespace::DaemonJti, 1_000_000 + 2 * round as u64);
        let started = Instant::now();
        let applied_by = daemon.revoke_jti_waiting(&waited_for, &wait).await?;
        let receipt = started.elapsed();
        ensure!(
            applied_by.complete && applied_by.instances == count as u64,
            "a receipt was not complete: {} of {}",
            applied_by.instances,
            applied_by.of
        );
        let plain = uuid_like_string(Namespace::DaemonJti, 1_000_001 + 2 * round as u64);
        let propagation = propagate(&daemon, &clients, &plain).await?;
        if round >= WARMUP_ROUNDS {
            receipts.push(receipt);
            propagations.push(propagation);
        }
    }
    drop(clients);
    daemon.stop().await;
    drop(server);

    receipts.sort_unstable();
    propagations.sort_unstable();
    let label = format!("{count}_clients");
    let suffix = format!(".{label}");
    add_latencies(
        report,
        ("receipts.receipt_", &suffix),
        &receipts,
        P50_P99_MAX,
        &format!(
            "POST ?wait=fleet -> applied_by {count} of {count}, {} rounds",
            receipts.len()
        ),
    );
    add_latencies(
        report,
        ("receipts.propagation_", &suffix),
        &propagations,
        P50_P99_MAX,
        &format!("POST -> Revoked in all {count} reporting clients, same rounds"),
    );
    let extra = millis(percentile(&receipts, 0.99)) - millis(percentile(&propagations, 0.99));
    report.add(Figure::target(
        format!("receipts.receipt_p99_minus_propagation_p99.{label}"),
        extra,
        "ms",
        Bound::AtMost(MAX_EXTRA_MS),
        format!("receipt p99 <= propagation p99 + {MAX_EXTRA_MS} ms"),
    ));
    Ok(())
}

/// `count` reporting lists, each on its own connection to `url`, all ready.
async fn start_reporting_clients(url: &str, count: usize) -> anyhow::Result<Vec<RevocationList>> {
    timeout(CLIENTS_READY_TIMEOUT, async {
        let mut clients = Vec::with_capacity(count);
        for client in 0..count {
            let connection = async_nats::connect(url).await?;
            let config = ListConfig::default().reporting_as("bench", &format!("client-{client}"));
            clients.push(RevocationList::start(connection, config)?);
        }
        for list in &clients {
            list.ready().await;
        }
        anyhow::Ok(clients)
    })
    .await
    .context("the clients were not ready in time")?
}
