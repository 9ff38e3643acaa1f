//! Figure 6: how long a revocation takes to reach every service.
//!
//! One nats-server, `vetod` in this process signing its events, and N clients
//! (`RevocationList` trusting the daemon's key, each on its own NATS connection, all
//! ready), as N services run in production. Each round revokes a fresh `jti` with `POST /v1/revocations` and times
//! from just before the request is sent until every client's `check` answers
//! `Revoked`: the HTTP request, the daemon's validation and compare-and-set publish,
//! JetStream's store, the fan-out to N consumers, and N replicas applying the rule.
//! The clients are polled in a tight loop on a blocking thread (one sweep over those
//! not yet revoked, then a 50 µs sleep), so the poller does not hold a core the
//! delivery needs.
//!
//! The floors, in the same rounds: a bare JetStream publish (acknowledged) of a rule
//! event of the same size to a separate stream, timed until
//!
//! - one ordered push consumer (`DeliverPolicy::New`, its own connection) receives it:
//!   the target (p99 to all N clients within 3 × this p99) is stated against it;
//! - N such consumers (each on its own connection) have all received it: for
//!   information, the cost of the fan-out itself on this machine.
//!
//! 10 untimed rounds first. Round by round the three alternate, so that a noisy spell
//! slows all of them.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::{Ordered, OrderedConfig};
use async_nats::jetstream::stream::{Config as StreamConfig, DiscardPolicy, StorageType};
use async_nats::jetstream::{self, Context as JetStream};
use futures_util::StreamExt;
use tokio::time::timeout;
use veto_client::{ListConfig, RevocationList, TokenFacts, Verdict};
use veto_proto::{Event, UnixSeconds};

use crate::daemon::BenchDaemon;
use crate::measure::{P50_P99, P50_P99_MAX, add_latencies, percentile};
use crate::plan::Plan;
use crate::report::{Figure, Report};
use crate::workload::{Namespace, jti_rule, uuid_like_string};

/// How long nats-server may take to start.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long all clients together may take to become ready.
const CLIENTS_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one revocation may take to reach every client (or one raw delivery).
const ROUND_TIMEOUT: Duration = Duration::from_secs(10);
/// Untimed rounds first (connections, caches and the server's consumers warm up).
const WARMUP_ROUNDS: usize = 10;
/// The floor's stream, apart from veto's so that no client sees its messages.
const FLOOR_STREAM: &str = "VETO_BENCH_FLOOR";
/// The floors' subjects (`bench.one.<round>`, `bench.all.<round>`: one message each).
const FLOOR_SUBJECTS: &str = "bench.>";
/// The poller's pause between sweeps over the clients not yet revoked.
const POLL_PAUSE: Duration = Duration::from_micros(50);
/// The first release's bound on propagation p99 against one consumer's (now information).
const MAX_FLOOR_MULTIPLE: f64 = 3.0;

/// Runs the figure; adds the propagation and floor percentiles and their ratio.
pub async fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let server = timeout(NATS_START_TIMEOUT, veto_testkit::NatsServer::start())
        .await
        .context("nats-server did not start in time")??;
    let daemon = BenchDaemon::start(&server.url(), |_| {}).await?;
    let count = plan.propagation_clients;
    eprintln!("  (starting {count} clients)");
    let clients = start_clients(
        &server.url(),
        count,
        &ListConfig::default().signed_by(daemon.keys()),
    )
    .await?;
    let mut floor = RawFloor::open(&server.url(), count).await?;

    let mut veto = Vec::with_capacity(plan.propagation_rounds);
    let mut raw = Vec::with_capacity(plan.propagation_rounds);
    let mut fan_out = Vec::with_capacity(plan.propagation_rounds);
    for round in 0..WARMUP_ROUNDS + plan.propagation_rounds {
        let jti = uuid_like_string(Namespace::DaemonJti, round as u64);
        let to_all = propagate(&daemon, &clients, &jti).await?;
        let delivered = floor.time_one(round).await?;
        let delivered_to_all = floor.time_all(round).await?;
        if round >= WARMUP_ROUNDS {
            veto.push(to_all);
            raw.push(delivered);
            fan_out.push(delivered_to_all);
        }
    }
    drop(clients);
    daemon.stop().await;
    drop(server);

    veto.sort_unstable();
    raw.sort_unstable();
    fan_out.sort_unstable();
    let label = format!("{count}_clients");
    let suffix = format!(".{label}");
    add_latencies(
        report,
        ("propagation.veto_", &suffix),
        &veto,
        P50_P99_MAX,
        &format!("POST -> Revoked in all {count} clients, {} rounds", veto.len()),
    );
    add_latencies(
        report,
        ("propagation.raw_", ""),
        &raw,
        P50_P99,
        "floor: JetStream publish -> 1 ordered consumer",
    );
    add_latencies(
        report,
        ("propagation.raw_fan_out_", &suffix),
        &fan_out,
        P50_P99,
        &format!("publish -> all of {count} ordered consumers"),
    );
    let ratio = percentile(&veto, 0.99).as_secs_f64() / percentile(&raw, 0.99).as_secs_f64();
    // The first release's target, against one JetStream consumer; lists follow the
    // stream by core subscription now, and `fleet.*` states the target against the core
    // fan-out floor at the same fleet size.
    report.add(
        Figure::info(format!("propagation.veto_p99_over_raw_p99.{label}"), ratio, "x").baseline(format!(
            "was <= {MAX_FLOOR_MULTIPLE} x one consumer's p99; see fleet.p99_over_core_floor"
        )),
    );
    Ok(())
}

/// `count` lists, each on its own connection to `url`, all ready.
async fn start_clients(url: &str, count: usize, config: &ListConfig) -> anyhow::Result<Vec<RevocationList>> {
    timeout(CLIENTS_READY_TIMEOUT, async {
        let mut clients = Vec::with_capacity(count);
        for _ in 0..count {
            let connection = async_nats::connect(url).await?;
            clients.push(RevocationList::start(connection, config.clone())?);
        }
        for list in &clients {
            list.ready().await;
        }
        anyhow::Ok(clients)
    })
    .await
    .context("the clients were not ready in time")?
}

/// Revokes `jti` through the daemon and times until every client revokes it.
///
/// The clients are polled on a blocking thread that sleeps [`POLL_PAUSE`] between
/// sweeps: a tokio task spinning with `yield_now` would keep one of the two cores busy
/// and slow the very delivery it waits for (by about a third at 100 clients).
pub(crate) async fn propagate(
    daemon: &BenchDaemon,
    clients: &[RevocationList],
    jti: &str,
) -> anyhow::Result<Duration> {
    let token = TokenFacts {
        jti: Some(jti),
        ..TokenFacts::default()
    };
    ensure!(
        clients.iter().all(|list| list.check(&token) == Verdict::Allowed),
        "a fresh jti is not allowed by every client"
    );
    let mut waiting = clients.to_vec();
    let owned_jti = jti.to_owned();
    let (start_polling, polling_started) = std::sync::mpsc::channel::<Instant>();
    let poller = tokio::task::spawn_blocking(move || {
        let token = TokenFacts {
            jti: Some(&owned_jti),
            ..TokenFacts::default()
        };
        let started = polling_started.recv().ok()?;
        while started.elapsed() < ROUND_TIMEOUT {
            waiting.retain(|list| !matches!(list.check(&token), Verdict::Revoked(_)));
            if waiting.is_empty() {
                return Some(started.elapsed());
            }
            std::thread::sleep(POLL_PAUSE);
        }
        None
    });
    let started = Instant::now();
    let request = daemon.revoke_jti(jti);
    let _ = start_polling.send(started);
    request.await?;
    let reached_all = timeout(ROUND_TIMEOUT + Duration::from_secs(1), poller)
        .await
        .context("the poller did not end")??;
    reached_all.context("a revocation did not reach every client in time")
}

/// The floors: bare publishes to a separate stream, received by ordered consumers.
struct RawFloor {
    js: JetStream,
    /// One consumer on `bench.one.>`.
    one: Ordered,
    /// One consumer per client on `bench.all.>`, each on its own connection.
    all: Vec<Ordered>,
    /// A rule event as the daemon publishes one: the payload every round sends.
    payload: Vec<u8>,
    // Kept open for the consumers' lifetime.
    _connections: Vec<async_nats::Client>,
}

impl RawFloor {
    async fn open(url: &str, fan_out: usize) -> anyhow::Result<RawFloor> {
        timeout(CLIENTS_READY_TIMEOUT, async {
            let js = jetstream::new(async_nats::connect(url).await?);
            // As veto's stream (file storage, one message per subject), on other subjects.
            js.create_stream(StreamConfig {
                name: FLOOR_STREAM.to_owned(),
                subjects: vec![FLOOR_SUBJECTS.to_owned()],
                max_messages_per_subject: 1,
                storage: StorageType::File,
                discard: DiscardPolicy::Old,
                ..Default::default()
            })
            .await?;
            let mut connections = Vec::with_capacity(fan_out + 1);
            let mut consumers = Vec::with_capacity(fan_out + 1);
            for filter in std::iter::once("bench.one.>").chain(std::iter::repeat_n("bench.all.>", fan_out)) {
                let connection = async_nats::connect(url).await?;
                let consumer = jetstream::new(connection.clone())
                    .get_stream(FLOOR_STREAM)
                    .await?
                    .create_consumer(OrderedConfig {
                        deliver_subject: connection.new_inbox(),
                        filter_subject: filter.to_owned(),
                        deliver_policy: DeliverPolicy::New,
                        ..Default::default()
                    })
                    .await?;
                consumers.push(consumer.messages().await?);
                connections.push(connection);
            }
            let one = consumers.remove(0);
            let payload = Event::Rule(jti_rule(0, UnixSeconds::now())).encode();
            anyhow::Ok(RawFloor {
                js,
                one,
                all: consumers,
                payload,
                _connections: connections,
            })
        })
        .await
        .context("opening the raw JetStream floor took too long")?
    }

    /// Publishes one message to the single consumer and times until it receives it
    /// (the ack is awaited too, after the delivery, so a failed publish is an error).
    async fn time_one(&mut self, round: usize) -> anyhow::Result<Duration> {
        let subject = format!("bench.one.{round}");
        let payload = self.payload.clone().into();
        timeout(ROUND_TIMEOUT, async {
            let started = Instant::now();
            let ack = self.js.publish(subject.clone(), payload).await?;
            receive(&mut self.one, &subject).await?;
            let delivered = started.elapsed();
            ack.await?;
            Ok(delivered)
        })
        .await
        .context("a raw JetStream delivery took too long")?
    }

    /// The same to every fan-out consumer: until the last one receives it.
    async fn time_all(&mut self, round: usize) -> anyhow::Result<Duration> {
        let subject = format!("bench.all.{round}");
        let payload = self.payload.clone().into();
        timeout(ROUND_TIMEOUT, async {
            let started = Instant::now();
            let ack = self.js.publish(subject.clone(), payload).await?;
            let received = futures_util::future::join_all(
                self.all.iter_mut().map(|messages| receive(messages, &subject)),
            )
            .await;
            let delivered = started.elapsed();
            received.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
            ack.await?;
            Ok(delivered)
        })
        .await
        .context("a raw JetStream fan-out took too long")?
    }
}

/// Waits until `messages` delivers one on `subject`.
async fn receive(messages: &mut Ordered, subject: &str) -> anyhow::Result<()> {
    loop {
        let Some(message) = messages.next().await else {
            bail!("a floor consumer ended");
        };
        if message?.subject.as_str() == subject {
            return Ok(());
        }
    }
}
