//! Figure 7: how many rules one daemon stores per second.
//!
//! A fresh nats-server and `vetod` in this process, signing every event as shipped
//! (one replica, no services following). Every rule is a fresh `jti`, so every item is
//! a real compare-and-set publish, signed, that JetStream acknowledges before the API
//! answers.
//!
//! - Through the batch API: batches of [`INGEST_BATCH_ITEMS`] rules,
//!   [`BATCHES_IN_FLIGHT`] requests at a time; only items answered 201 count.
//! - Through single `POST /v1/revocations`, [`SINGLES_IN_FLIGHT`] at a time (for
//!   information: what a client without the batch API gets).
//!
//! One untimed round of each first (connections, the stream's first blocks).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{StreamExt, stream};
use tokio::time::timeout;

use crate::daemon::BenchDaemon;
use crate::plan::{INGEST_BATCH_ITEMS, Plan};
use crate::report::{Bound, Figure, Report, format_value};
use crate::workload::{Namespace, uuid_like_string};

/// How long nats-server may take to start.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long all timed requests of one kind may take together.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Batch requests in flight at once.
const BATCHES_IN_FLIGHT: usize = 4;
/// Single requests in flight at once.
const SINGLES_IN_FLIGHT: usize = 64;
/// Rules per second the batch API must store, on one daemon.
const MIN_BATCH_RULES_PER_SECOND: f64 = 20_000.0;
/// Where the `jti` values of this figure start in [`Namespace::DaemonJti`] (the
/// propagation figure uses the first ones, on another server).
const FIRST_INDEX: u64 = 1 << 32;

/// Runs both ingest figures.
pub async fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let server = timeout(NATS_START_TIMEOUT, veto_testkit::NatsServer::start())
        .await
        .context("nats-server did not start in time")??;
    let probe = crate::fleet::ServerProbe::of(&server)?;
    let this_process = crate::fleet::ServerProbe::of_pid(std::process::id())?;
    let daemon = BenchDaemon::start(&server.url(), |_| {}).await?;
    let mut values = (FIRST_INDEX..).map(|index| uuid_like_string(Namespace::DaemonJti, index));

    // Through the batch API.
    let batches: Vec<Vec<String>> = (0..plan.ingest_batches + BATCHES_IN_FLIGHT)
        .map(|_| values.by_ref().take(INGEST_BATCH_ITEMS).collect())
        .collect();
    let (warm_up, timed) = batches.split_at(BATCHES_IN_FLIGHT);
    let _ = send_batches(&daemon, warm_up).await?;
    let (server_before, here_before) = (probe.cpu()?, this_process.cpu()?);
    let started = Instant::now();
    let (stored, failed) = send_batches(&daemon, timed).await?;
    let elapsed = started.elapsed();
    let per_rule = |cpu: Duration| cpu.as_secs_f64() * 1e6 / stored.max(1) as f64;
    let server_cpu = per_rule(probe.cpu()?.saturating_sub(server_before));
    let here_cpu = per_rule(this_process.cpu()?.saturating_sub(here_before));
    let offered = timed.len() * INGEST_BATCH_ITEMS;
    report.add(Figure::target(
        "ingest.batch_api",
        stored as f64 / elapsed.as_secs_f64(),
        "rules/s",
        Bound::AtLeast(MIN_BATCH_RULES_PER_SECOND),
        format!(
            ">= {} (1 daemon; {stored}/{offered} stored{})",
            format_value(MIN_BATCH_RULES_PER_SECOND),
            failures(failed)
        ),
    ));

    report.add(
        Figure::info("ingest.batch_cpu_per_rule", server_cpu + here_cpu, "us").baseline(format!(
            "nats-server {server_cpu:.1} us + vetod and the client {here_cpu:.1} us (2 cores: {:.0} rules/s at most)",
            2e6 / (server_cpu + here_cpu)
        )),
    );

    // Through single requests.
    let singles: Vec<String> = values
        .by_ref()
        .take(plan.ingest_single_requests + SINGLES_IN_FLIGHT)
        .collect();
    let (warm_up, timed) = singles.split_at(SINGLES_IN_FLIGHT);
    let _ = send_singles(&daemon, warm_up).await?;
    let started = Instant::now();
    let (stored, failed) = send_singles(&daemon, timed).await?;
    let elapsed = started.elapsed();
    report.add(
        Figure::info(
            format!("ingest.single_posts.c{SINGLES_IN_FLIGHT}"),
            stored as f64 / elapsed.as_secs_f64(),
            "rules/s",
        )
        .baseline(format!(
            "{SINGLES_IN_FLIGHT} in flight; {stored}/{} stored{}",
            timed.len(),
            failures(failed)
        )),
    );

    daemon.stop().await;
    drop(server);
    Ok(())
}

fn failures(failed: usize) -> String {
    if failed == 0 {
        String::new()
    } else {
        format!(", {failed} requests failed")
    }
}

/// Sends `batches`, [`BATCHES_IN_FLIGHT`] at a time; items stored (201) and requests
/// that failed as a whole.
async fn send_batches(daemon: &BenchDaemon, batches: &[Vec<String>]) -> anyhow::Result<(usize, usize)> {
    let answers: Vec<anyhow::Result<usize>> = timeout(
        RUN_TIMEOUT,
        stream::iter(batches)
            .map(|batch| daemon.revoke_batch(batch))
            .buffer_unordered(BATCHES_IN_FLIGHT)
            .collect(),
    )
    .await
    .context("the batch requests took too long")?;
    Ok(tally(answers, |stored| stored))
}

/// Sends one `POST /v1/revocations` per value, [`SINGLES_IN_FLIGHT`] at a time; rules
/// stored (201) and requests that failed.
async fn send_singles(daemon: &BenchDaemon, values: &[String]) -> anyhow::Result<(usize, usize)> {
    let answers: Vec<anyhow::Result<()>> = timeout(
        RUN_TIMEOUT,
        stream::iter(values)
            .map(|value| daemon.revoke_jti(value))
            .buffer_unordered(SINGLES_IN_FLIGHT)
            .collect(),
    )
    .await
    .context("the single requests took too long")?;
    Ok(tally(answers, |()| 1))
}

/// Rules stored and requests failed; the first failure is printed.
fn tally<T>(answers: Vec<anyhow::Result<T>>, stored: impl Fn(T) -> usize) -> (usize, usize) {
    let (mut total, mut failed) = (0, 0);
    for answer in answers {
        match answer {
            Ok(value) => total += stored(value),
            Err(error) => {
                if failed == 0 {
                    eprintln!("  (a request failed: {error:#})");
                }
                failed += 1;
            }
        }
    }
    (total, failed)
}
