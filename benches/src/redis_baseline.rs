//! Figure 3: the Redis deny list that veto replaces, a network round trip per request.
//!
//! Starts its own `redis-server` on a free loopback port without persistence, fills it
//! with a deny list, and times `EXISTS` round trips one after another on one connection
//! (the `redis` crate on tokio, as a Rust service would call it). Without `redis-server`
//! (set `REDIS_SERVER_BIN` or put one on `PATH`; `benches/run` installs it) the figures
//! are reported as skipped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::time::timeout;

use crate::measure::{micros, percentile};
use crate::plan::{Plan, TARGET_RULES};
use crate::report::{Bound, Figure, Report, size_label};
use crate::workload::{Namespace, UUID_TEXT_LEN, uuid_like};

/// How long the server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long filling the deny list and all timed requests may take together.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Revoked jtis stored first, so `EXISTS` runs against a realistic keyspace.
const DENY_LIST_KEYS: u64 = 10_000;
/// Untimed round trips first (connection, allocator and CPU caches warm up).
const WARMUP_REQUESTS: usize = 1_000;
/// The check must be at least this many times faster than a Redis round trip (p50).
const MIN_SPEEDUP: f64 = 1_000.0;

/// A `redis-server` child process, killed on drop.
#[derive(Debug)]
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free loopback port; `Ok(None)` when the binary is missing.
    fn start() -> anyhow::Result<Option<RedisServer>> {
        let binary = std::env::var_os("REDIS_SERVER_BIN").unwrap_or_else(|| "redis-server".into());
        // Ask the kernel for a free port, then hand it to redis (a small race, on loopback).
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let spawned = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => Ok(Some(RedisServer { child, port })),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).context("starting redis-server"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Measures `EXISTS` round trips and compares them with the Allowed check at
/// [`TARGET_RULES`] (`allowed_check_ns`).
pub async fn run(plan: &Plan, allowed_check_ns: Option<f64>, report: &mut Report) {
    let names = [
        ("redis.exists.p50", "us"),
        ("redis.exists.p99", "us"),
        ("redis.p50_over_check", "x"),
    ];
    let latencies = match RedisServer::start() {
        Ok(Some(server)) => round_trips(&server, plan.redis_requests).await,
        Ok(None) => Err(anyhow::anyhow!(
            "redis-server not found (benches/run installs it)"
        )),
        Err(error) => Err(error),
    };
    let latencies = match latencies {
        Ok(latencies) => latencies,
        Err(error) => {
            for (name, unit) in names {
                report.add(Figure::skipped(name, unit, format!("skipped: {error:#}")));
            }
            return;
        }
    };
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    let baseline = "Redis 7 + redis crate on tokio: p50 86-109 us (BASELINES.md)";
    report.add(Figure::info(names[0].0, micros(p50), "us").baseline(baseline));
    report.add(Figure::info(names[1].0, micros(p99), "us").baseline("redis-benchmark p99 135-151 us"));
    let name = format!("{}.{}", names[2].0, size_label(TARGET_RULES));
    report.add(match allowed_check_ns {
        Some(check_ns) => Figure::target(
            name,
            p50.as_secs_f64() * 1e9 / check_ns,
            "x",
            Bound::AtLeast(MIN_SPEEDUP),
            format!("Redis p50 / Allowed check >= {MIN_SPEEDUP}"),
        ),
        None => Figure::skipped(name, "x", "no Allowed check measured at 1M"),
    });
}

/// Sorted latencies of `requests` `EXISTS` round trips.
async fn round_trips(server: &RedisServer, requests: usize) -> anyhow::Result<Vec<Duration>> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port))?;
    let mut connection = connect(&client).await?;
    let key = |namespace, index| {
        let mut buffer = [0; UUID_TEXT_LEN];
        format!("veto:jti:{}", uuid_like(namespace, index, &mut buffer))
    };
    let measured = async {
        let mut fill = redis::pipe();
        for index in 0..DENY_LIST_KEYS {
            fill.set(key(Namespace::RevokedJti, index), 1).ignore();
        }
        fill.query_async::<()>(&mut connection).await?;

        // Most tokens are not revoked: ask about keys that are absent.
        let keys: Vec<String> = (0..(WARMUP_REQUESTS + requests) as u64)
            .map(|index| key(Namespace::AbsentJti, index))
            .collect();
        let mut latencies = Vec::with_capacity(requests);
        for (position, key) in keys.iter().enumerate() {
            let started = Instant::now();
            let exists: bool = redis::cmd("EXISTS").arg(key).query_async(&mut connection).await?;
            let elapsed = started.elapsed();
            if exists {
                bail!("{key} should be absent");
            }
            if position >= WARMUP_REQUESTS {
                latencies.push(elapsed);
            }
        }
        latencies.sort_unstable();
        anyhow::Ok(latencies)
    };
    timeout(RUN_TIMEOUT, measured)
        .await
        .context("the Redis round trips took too long")?
}

/// A connection once the server answers PING, retried until [`START_TIMEOUT`].
async fn connect(client: &redis::Client) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let attempt = timeout(Duration::from_secs(1), async {
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut connection).await?;
            anyhow::Ok(connection)
        })
        .await;
        match attempt {
            Ok(Ok(connection)) => return Ok(connection),
            _ if Instant::now() >= deadline => bail!("redis-server did not answer within {START_TIMEOUT:?}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
