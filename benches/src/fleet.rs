//! Figure 9: a fleet of services on one nats-server, what it costs the server, next to
//! the floor of plain NATS in the same run.
//!
//! For N in the plan's fleet sizes (100 and 1,000), on a fresh nats-server with
//! `vetod` (signing) in this process: N lists trusting the daemon's key, each on its
//! own connection (many lists in one process, real connections), and N bare core
//! subscribers, each on its own connection: the floor. Round after round,
//!
//! - veto: `POST /v1/revocations` until all N lists answer Revoked (HTTP, the
//!   daemon's compare-and-set publish, JetStream's store, its republish to N core
//!   subscriptions, N lists verifying and applying);
//! - the floor: one core publish of a rule event's size until all N subscribers
//!   received it.
//!
//! The server's CPU (its threads' time on a CPU, in ns: [`ServerProbe::cpu`]) is read
//! around each round, so each side is charged its own rounds; divided by rounds and N,
//! it is the server's CPU per event per client. This process's CPU, read the same way
//! (`getrusage`), is the lists'
//! (or bare subscribers') side: what one service spends per event, which here N of
//! them spend on two shared cores. Then the server idles (the daemon still ticks, every
//! 5 s as shipped) and its CPU is read over a quiet spell. The server's resident memory
//! before and after the lists start gives its memory per client.
//!
//! Cold start: a stream of 10,000 signed rules with the daemon's signed snapshot, then
//! N lists started together (each its own connection) until every one is ready; the
//! bytes the server sent are what those connections received. The design this replaced
//! (each service replaying the stream through its own consumer) is measured in the same
//! run with bare ordered consumers, each reading the whole stream, and compared per
//! client.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::OrderedConfig;
use futures_util::StreamExt;
use tokio::time::timeout;
use veto_client::{ListConfig, RevocationList};
use veto_proto::{Event, StreamSettings, TokenPolicy, UnixSeconds};
use veto_testkit::{NatsServer, TestSigningKey};

use crate::bootstrap::{publish_rules, write_snapshot};
use crate::daemon::BenchDaemon;
use crate::measure::{P50_P99, add_latencies, percentile};
use crate::plan::Plan;
use crate::propagation::propagate;
use crate::report::{Bound, Figure, Report};
use crate::workload::{Namespace, jti_rule, uuid_like_string};

/// How long nats-server may take to start.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long N clients may take to connect and become ready (outside the cold start).
const CLIENTS_READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one floor round may take.
const ROUND_TIMEOUT: Duration = Duration::from_secs(10);
/// Untimed rounds first.
const WARMUP_ROUNDS: usize = 10;
/// The fleet size at which the targets apply.
const TARGET_CLIENTS: usize = 1_000;
/// Propagation p99 to all clients, at most this many times the core floor's.
const MAX_P99_MULTIPLE: f64 = 1.5;
/// Server CPU per event per client, at most this many times the core floor's.
const MAX_CPU_MULTIPLE: f64 = 1.2;
/// Idle server CPU at [`TARGET_CLIENTS`], at most this share of a core.
const MAX_IDLE_PERCENT: f64 = 0.5;
/// A cold start of [`TARGET_CLIENTS`] is ready within this.
const MAX_COLD_START: Duration = Duration::from_secs(10);
/// Bytes the server sends for a cold start, at most this share of the replay design's.
const MAX_BYTES_SHARE: f64 = 0.25;
/// Rules in the cold start's stream.
const COLD_START_RULES: u64 = 10_000;
/// Where the floor publishes.
const FLOOR_SUBJECT: &str = "bench.core";

/// Runs every fleet size, then the cold start.
pub async fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    for &clients in &plan.fleet_clients {
        eprintln!("  ({clients} clients)");
        run_fleet(plan, clients, report).await?;
    }
    eprintln!("  (cold start of {} clients)", plan.cold_start_clients);
    cold_start(plan, report).await
}

/// The server process's CPU time and resident memory, from `/proc`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerProbe {
    pid: u32,
    ticks_per_second: f64,
}

impl ServerProbe {
    pub(crate) fn of(server: &NatsServer) -> anyhow::Result<ServerProbe> {
        let pid = server
            .pid()
            .ok_or_else(|| anyhow!("nats-server is not running"))?;
        ServerProbe::of_pid(pid)
    }

    pub(crate) fn of_pid(pid: u32) -> anyhow::Result<ServerProbe> {
        let ticks_per_second = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0);
        Ok(ServerProbe {
            pid,
            ticks_per_second,
        })
    }

    /// User plus system CPU time so far, to the microsecond: `/proc/<pid>/stat`
    /// counts clock ticks (10 ms), as coarse as a whole round at 100 clients, so each
    /// thread's time on a CPU is summed from `/proc/<pid>/task/*/schedstat` (ns), and
    /// this process's own from `getrusage` (which also counts its threads that ended).
    pub(crate) fn cpu(self) -> anyhow::Result<Duration> {
        if self.pid == std::process::id() {
            let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)?;
            let micros = |time: nix::sys::time::TimeVal| {
                u64::try_from(time.tv_sec()).unwrap_or(0) * 1_000_000
                    + u64::try_from(time.tv_usec()).unwrap_or(0)
            };
            return Ok(Duration::from_micros(
                micros(usage.user_time()) + micros(usage.system_time()),
            ));
        }
        let mut nanos = 0u64;
        let mut threads = 0usize;
        for entry in std::fs::read_dir(format!("/proc/{}/task", self.pid))?.flatten() {
            // A thread that ended meanwhile has no file any more.
            let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
                continue;
            };
            if let Some(on_cpu) = text
                .split_whitespace()
                .next()
                .and_then(|field| field.parse::<u64>().ok())
            {
                nanos += on_cpu;
                threads += 1;
            }
        }
        if threads > 0 {
            return Ok(Duration::from_nanos(nanos));
        }
        self.cpu_ticks()
    }

    /// User plus system CPU time so far, in clock ticks (where schedstat is missing).
    fn cpu_ticks(self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // `pid (comm) state ...`: utime and stime are fields 14 and 15, the 12th and
        // 13th after the command's closing parenthesis.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |index: usize| -> anyhow::Result<f64> {
            Ok(fields
                .get(index)
                .ok_or_else(|| anyhow!("a short /proc stat"))?
                .parse::<f64>()?)
        };
        Ok(Duration::from_secs_f64(
            (ticks(11)? + ticks(12)?) / self.ticks_per_second,
        ))
    }

    /// Resident memory, in bytes.
    fn rss(self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| anyhow!("no VmRSS"))?;
        Ok(kib * 1024)
    }
}

async fn run_fleet(plan: &Plan, count: usize, report: &mut Report) -> anyhow::Result<()> {
    let server = timeout(NATS_START_TIMEOUT, NatsServer::start())
        .await
        .context("nats-server did not start in time")??;
    let probe = ServerProbe::of(&server)?;
    let this_process = ServerProbe::of_pid(std::process::id())?;
    let daemon = BenchDaemon::start(&server.url(), |_| {}).await?;
    // The quiet server before any list: the daemon's ticks and its own list only.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let quiet = Duration::from_secs(plan.fleet_idle_seconds);
    let before = probe.cpu()?;
    tokio::time::sleep(quiet).await;
    let idle_alone = probe.cpu()?.saturating_sub(before).as_secs_f64() / quiet.as_secs_f64();
    let memory_before = probe.rss()?;
    let config = ListConfig::default().signed_by(daemon.keys());
    let (clients, _connections) = timeout(CLIENTS_READY_TIMEOUT, start_lists(&server.url(), count, &config))
        .await
        .context("the lists were not ready in time")??;
    let memory_per_client = probe.rss()?.saturating_sub(memory_before) as f64 / count as f64;
    let mut floor = CoreFloor::open(&server.url(), count).await?;

    let rounds = plan.fleet_rounds;
    let (mut veto, mut core) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    let (mut veto_cpu, mut core_cpu) = (Duration::ZERO, Duration::ZERO);
    let (mut lists_cpu, mut subscribers_cpu) = (Duration::ZERO, Duration::ZERO);
    for round in 0..WARMUP_ROUNDS + rounds {
        let jti = uuid_like_string(Namespace::DaemonJti, (count * 1_000_000 + round) as u64);
        let (before, here_before) = (probe.cpu()?, this_process.cpu()?);
        let to_all = propagate(&daemon, &clients, &jti).await?;
        let (between, here_between) = (probe.cpu()?, this_process.cpu()?);
        let delivered = floor.time_all().await?;
        let (after, here_after) = (probe.cpu()?, this_process.cpu()?);
        if round >= WARMUP_ROUNDS {
            veto.push(to_all);
            core.push(delivered);
            veto_cpu += between.saturating_sub(before);
            core_cpu += after.saturating_sub(between);
            lists_cpu += here_between.saturating_sub(here_before);
            subscribers_cpu += here_after.saturating_sub(here_between);
        }
    }

    // Idle: nothing but the daemon's ticks (every 5 s, as shipped), to the lists alone
    // (the floor's connections closed first).
    drop(floor);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = probe.cpu()?;
    tokio::time::sleep(quiet).await;
    let idle_share = probe.cpu()?.saturating_sub(before).as_secs_f64() / quiet.as_secs_f64();
    ensure!(
        clients.iter().all(|list| !list.is_stale()),
        "a list went stale while idle"
    );
    drop(clients);
    daemon.stop().await;
    drop(server);

    veto.sort_unstable();
    core.sort_unstable();
    let at_target = count == TARGET_CLIENTS;
    let label = format!("{count}_clients");
    let suffix = format!(".{label}");
    add_latencies(
        report,
        ("fleet.veto_", &suffix),
        &veto,
        P50_P99,
        &format!("POST -> Revoked in all {count} lists, {} rounds", veto.len()),
    );
    add_latencies(
        report,
        ("fleet.core_floor_", &suffix),
        &core,
        P50_P99,
        &format!("core publish -> all {count} subscribers"),
    );
    let p99_ratio = percentile(&veto, 0.99).as_secs_f64() / percentile(&core, 0.99).as_secs_f64();
    report.add(Figure::target(
        format!("fleet.p99_over_core_floor.{label}"),
        p99_ratio,
        "x",
        Bound::AtMost(MAX_P99_MULTIPLE),
        format!("p99 to all lists <= {MAX_P99_MULTIPLE} x the core floor's"),
    ));
    let per_event_per_client = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (rounds as f64 * count as f64);
    let (veto_us, core_us) = (per_event_per_client(veto_cpu), per_event_per_client(core_cpu));
    report.add(
        Figure::info(
            format!("fleet.server_cpu_per_event_per_client.{label}"),
            veto_us,
            "us",
        )
        .baseline(format!("core floor: {core_us:.2} us")),
    );
    report.add(
        Figure::info(
            format!("fleet.list_cpu_per_event.{label}"),
            per_event_per_client(lists_cpu),
            "us",
        )
        .baseline(format!(
            "a list's own CPU per event (the daemon's included); a bare subscriber: {:.2} us",
            per_event_per_client(subscribers_cpu)
        )),
    );
    report.add(Figure::target(
        format!("fleet.server_cpu_over_core_floor.{label}"),
        veto_us / core_us,
        "x",
        Bound::AtMost(MAX_CPU_MULTIPLE),
        format!("server CPU per event per client <= {MAX_CPU_MULTIPLE} x the core floor's"),
    ));
    let idle_percent = idle_share * 100.0;
    let name = format!("fleet.idle_server_cpu.{label}");
    report.add(if at_target {
        Figure::target(
            name,
            idle_percent,
            "% core",
            Bound::AtMost(MAX_IDLE_PERCENT),
            format!("<= {MAX_IDLE_PERCENT} % (the daemon ticking every 5 s)"),
        )
    } else {
        Figure::info(name, idle_percent, "% core").baseline("the daemon ticking every 5 s")
    });
    report.add(
        Figure::info(
            format!("fleet.idle_server_cpu_before_clients.{label}"),
            idle_alone * 100.0,
            "% core",
        )
        .baseline("the same server before the lists started: the daemon alone"),
    );
    report.add(
        Figure::info(
            format!("fleet.server_memory_per_client.{label}"),
            memory_per_client / 1024.0,
            "KiB",
        )
        .baseline("server RSS growth / lists (connection + subscription)"),
    );
    Ok(())
}

/// `count` lists, each on its own connection, all ready; and the connections.
async fn start_lists(
    url: &str,
    count: usize,
    config: &ListConfig,
) -> anyhow::Result<(Vec<RevocationList>, Vec<async_nats::Client>)> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections.push(async_nats::connect(url).await?);
    }
    let lists = connections
        .iter()
        .map(|connection| RevocationList::start(connection.clone(), config.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    for list in &lists {
        list.ready().await;
    }
    Ok((lists, connections))
}

/// N core subscribers, each on its own connection, and a publisher.
struct CoreFloor {
    publisher: async_nats::Client,
    subscribers: Vec<async_nats::Subscriber>,
    payload: bytes::Bytes,
    _connections: Vec<async_nats::Client>,
}

impl CoreFloor {
    async fn open(url: &str, count: usize) -> anyhow::Result<CoreFloor> {
        let mut connections = Vec::with_capacity(count);
        let mut subscribers = Vec::with_capacity(count);
        for _ in 0..count {
            let connection = async_nats::connect(url).await?;
            subscribers.push(connection.subscribe(FLOOR_SUBJECT).await?);
            connection.flush().await?;
            connections.push(connection);
        }
        let publisher = async_nats::connect(url).await?;
        let payload = Event::Rule(jti_rule(0, UnixSeconds::now())).encode().into();
        Ok(CoreFloor {
            publisher,
            subscribers,
            payload,
            _connections: connections,
        })
    }

    /// One publish until every subscriber received it.
    async fn time_all(&mut self) -> anyhow::Result<Duration> {
        timeout(ROUND_TIMEOUT, async {
            let started = Instant::now();
            self.publisher
                .publish(FLOOR_SUBJECT, self.payload.clone())
                .await?;
            self.publisher.flush().await?;
            let received = futures_util::future::join_all(
                self.subscribers.iter_mut().map(|subscriber| subscriber.next()),
            )
            .await;
            let delivered = started.elapsed();
            ensure!(received.iter().all(Option::is_some), "a floor subscriber ended");
            Ok(delivered)
        })
        .await
        .context("a core fan-out took too long")?
    }
}

async fn cold_start(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let count = plan.cold_start_clients;
    let server = timeout(NATS_START_TIMEOUT, NatsServer::start())
        .await
        .context("nats-server did not start in time")??;
    let probe = ServerProbe::of(&server)?;
    let client = async_nats::connect(server.url()).await?;
    let js = async_nats::jetstream::new(client.clone());
    let settings = StreamSettings::new(StreamSettings::DEFAULT_NAME, &TokenPolicy::default(), 1)?;
    let stream_info = veto_daemon::nats::ensure_stream(&js, &settings).await?;
    let key = TestSigningKey::new("veto-bench");
    let signer = key.signer();
    let now = UnixSeconds::now();
    publish_rules(&js, &signer, 0..COLD_START_RULES, now).await?;
    write_snapshot(&js, &signer, &stream_info, COLD_START_RULES, now).await?;
    let last_sequence = COLD_START_RULES;

    // veto: every list connects, loads the snapshot (and the empty tail), subscribes.
    let config = ListConfig::default().signed_by(key.verification_keys());
    let cpu_before = probe.cpu()?;
    let started = Instant::now();
    let (lists, connections) = timeout(CLIENTS_READY_TIMEOUT, start_lists(&server.url(), count, &config))
        .await
        .context("the cold start did not finish")??;
    let ready_in = started.elapsed();
    let veto_cpu = probe.cpu()?.saturating_sub(cpu_before);
    ensure!(
        lists.iter().all(|list| list.stats().live() == COLD_START_RULES),
        "a list did not load every rule"
    );
    ensure!(
        lists.iter().all(|list| list.loaded_snapshot() == last_sequence),
        "a list did not load the snapshot"
    );
    let veto_bytes: u64 = connections
        .iter()
        .map(|connection| connection.statistics().in_bytes.load(Ordering::Relaxed))
        .sum();
    drop(lists);
    drop(connections);

    // The replay design: each client reads the whole stream through its own consumer.
    let replayers = count.min(plan.replay_design_clients);
    let cpu_before = probe.cpu()?;
    let started = Instant::now();
    let replay_bytes = timeout(
        CLIENTS_READY_TIMEOUT,
        replay_design(&server.url(), replayers, last_sequence),
    )
    .await
    .context("the replay design did not finish")??;
    let replay_took = started.elapsed();
    let replay_cpu = probe.cpu()?.saturating_sub(cpu_before);
    drop(server);

    let per_client = |bytes: u64, clients: usize| bytes as f64 / clients as f64;
    let replay_per_client = per_client(replay_bytes, replayers);
    let at_target = count == TARGET_CLIENTS;
    let label = format!("{count}_clients");
    let name = format!("fleet.cold_start.{label}");
    let baseline = format!(
        "{COLD_START_RULES} signed rules, from the snapshot; server CPU {:.1} s",
        veto_cpu.as_secs_f64()
    );
    report.add(if at_target {
        Figure::target(
            name,
            ready_in.as_secs_f64(),
            "s",
            Bound::AtMost(MAX_COLD_START.as_secs_f64()),
            format!("all ready <= {} s; {baseline}", MAX_COLD_START.as_secs()),
        )
    } else {
        Figure::info(name, ready_in.as_secs_f64(), "s").baseline(baseline)
    });
    report.add(
        Figure::info(
            format!("fleet.cold_start_bytes_per_client.{label}"),
            per_client(veto_bytes, count) / 1024.0,
            "KiB",
        )
        .baseline(format!(
            "replay design: {:.0} KiB per client ({replayers} consumers: {:.1} s, server CPU {:.1} s)",
            replay_per_client / 1024.0,
            replay_took.as_secs_f64(),
            replay_cpu.as_secs_f64()
        )),
    );
    let share = per_client(veto_bytes, count) / replay_per_client;
    let name = format!("fleet.cold_start_bytes_over_replay.{label}");
    report.add(if at_target {
        Figure::target(
            name,
            share,
            "x",
            Bound::AtMost(MAX_BYTES_SHARE),
            format!("server bytes sent <= {MAX_BYTES_SHARE} x the replay design's"),
        )
    } else {
        Figure::info(name, share, "x").baseline("per client")
    });
    Ok(())
}

/// `count` bare ordered consumers, each on its own connection, all reading the whole
/// stream at once; the bytes their connections received.
async fn replay_design(url: &str, count: usize, last_sequence: u64) -> anyhow::Result<u64> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections.push(async_nats::connect(url).await?);
    }
    let replays = connections.iter().map(|connection| async move {
        let stream = async_nats::jetstream::new(connection.clone())
            .get_stream(StreamSettings::DEFAULT_NAME)
            .await?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_subject: connection.new_inbox(),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        while let Some(message) = messages.next().await {
            let sequence = message?
                .info()
                .map_err(|error| anyhow!("{error}"))?
                .stream_sequence;
            if sequence >= last_sequence {
                return anyhow::Ok(());
            }
        }
        Err(anyhow!("a replay ended early"))
    });
    for replayed in futures_util::future::join_all(replays).await {
        replayed?;
    }
    Ok(connections
        .iter()
        .map(|connection| connection.statistics().in_bytes.load(Ordering::Relaxed))
        .sum())
}
