//! The harness of veto's end-to-end scenarios: daemons (in-process, or the real `vetod`
//! binary for SIGKILL), many clients, a writer that retries 503s with the same
//! idempotent request, and the per-scenario report.
//!
//! Run the scenarios with `tests/run` (see the README); each prints one report line:
//! rules acknowledged, rules found in each client, rules lost (must be 0), and the worst
//! time to converge.
//!
//! # Layout
//!
//! - [`daemon`]: `vetod` in-process on port 0; [`DaemonProcess`]: the real binary
//!   (both from the test kit).
//! - [`Writer`]: writes through veto-api's `AdminClient` that retry until acknowledged.
//! - [`start_clients`], [`converge`]: many replicas, and waiting until they agree.
//! - [`Report`]: what each scenario prints.

use std::future::Future;
use std::time::{Duration, Instant};

use veto_api::{AdminClient, AdminError, LiftResponse, RevokeRequest, RuleKey, RuleResponse};
use veto_client::{ListConfig, RevocationList, TokenFacts, Verdict};
use veto_daemon::config::Settings;
use veto_proto::RuleKind;
pub use veto_testkit::daemon::{ADMIN_KEY, DaemonProcess, TestDaemon};
pub use veto_testkit::within;

/// `vetod` in this process against `nats_urls` with `replicas`, ready.
pub async fn daemon(nats_urls: &str, replicas: usize) -> TestDaemon {
    daemon_with(nats_urls, replicas, |_| {}).await
}

/// Like [`daemon`], with settings adjusted by `adjust`.
pub async fn daemon_with(nats_urls: &str, replicas: usize, adjust: impl FnOnce(&mut Settings)) -> TestDaemon {
    let mut settings = veto_testkit::daemon::test_settings(nats_urls);
    settings.stream.replicas = replicas;
    adjust(&mut settings);
    TestDaemon::start_with(settings).await
}

/// Writes through the admin API, retrying what may succeed later.
#[derive(Clone, Debug)]
pub struct Writer {
    api: AdminClient,
}

/// What a write came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Written<T> {
    /// 2xx, with the body.
    Acknowledged(T),
    /// A 4xx that retrying cannot change: its status and code.
    Rejected(u16, String),
    /// No 2xx before the deadline.
    GaveUp,
}

impl Writer {
    /// A writer to `base_url` with the admin key.
    pub fn new(base_url: &str) -> Writer {
        let api = AdminClient::new(
            base_url.parse().expect("a URL"),
            Some(ADMIN_KEY.to_owned().into()),
            Duration::from_secs(5),
        )
        .expect("an admin client");
        Writer { api }
    }

    /// Calls `attempt` until it succeeds or fails for good, retrying 503s, 409s, 429s
    /// and connection errors with the same request, for up to `patience`.
    pub async fn until_acknowledged<T, Fut>(
        &self,
        patience: Duration,
        mut attempt: impl FnMut(AdminClient) -> Fut,
    ) -> Written<T>
    where
        Fut: Future<Output = Result<T, AdminError>>,
    {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            match attempt(self.api.clone()).await {
                Ok(answer) => return Written::Acknowledged(answer),
                Err(error) if error.is_retryable() => {}
                Err(AdminError::Api { status, code, .. }) => return Written::Rejected(status, code),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Written::GaveUp
    }

    /// Revokes as `request` asks, retrying until acknowledged.
    pub async fn revoke(&self, request: &RevokeRequest, patience: Duration) -> Written<RuleResponse> {
        self.until_acknowledged(patience, |api| async move {
            api.revoke(request).await.map(|revoked| revoked.reply.body)
        })
        .await
    }

    /// Lifts the rule for `key`, retrying until acknowledged.
    pub async fn lift(&self, key: &RuleKey, patience: Duration) -> Written<LiftResponse> {
        self.until_acknowledged(patience, |api| async move {
            api.lift(key, None).await.map(|reply| reply.body)
        })
        .await
    }

    /// Revokes every value as a jti, `concurrency` at a time, each retried until
    /// acknowledged or `patience` runs out; returns the acknowledged values.
    pub async fn revoke_all_jti(
        &self,
        values: Vec<String>,
        concurrency: usize,
        patience: Duration,
    ) -> Vec<String> {
        use futures_util::StreamExt;
        futures_util::stream::iter(values)
            .map(|value| async move { self.revoke_jti(&value, patience).await.then_some(value) })
            .buffer_unordered(concurrency)
            .filter_map(std::future::ready)
            .collect()
            .await
    }

    /// Revokes a jti (retrying until acknowledged); `true` once acknowledged.
    pub async fn revoke_jti(&self, value: &str, patience: Duration) -> bool {
        let request = RevokeRequest::new(RuleKind::Jti, Some(value));
        matches!(self.revoke(&request, patience).await, Written::Acknowledged(_))
    }
}

/// `count` lists following the stream through their own connections to `nats_url`, ready.
pub async fn start_clients(nats_url: &str, count: usize, config: ListConfig) -> Vec<RevocationList> {
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let connection = within(10, "connect", async_nats::connect(nats_url))
            .await
            .expect("connect");
        let list = RevocationList::start(connection, config.clone()).expect("list");
        clients.push(list);
    }
    for list in &clients {
        within(60, "client ready", list.ready()).await;
    }
    clients
}

/// The facts of a token with this jti.
pub fn jti_token(jti: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(jti),
        ..TokenFacts::default()
    }
}

/// How many of `values` (jti rules) each client revokes.
pub fn found_per_client(clients: &[RevocationList], values: &[String]) -> Vec<usize> {
    clients
        .iter()
        .map(|list| {
            values
                .iter()
                .filter(|value| matches!(list.check(&jti_token(value)), Verdict::Revoked(_)))
                .count()
        })
        .collect()
}

/// Waits until every client revokes every value, for up to `patience`; returns what
/// each client has then and how long it took.
pub async fn converge(
    clients: &[RevocationList],
    values: &[String],
    patience: Duration,
) -> (Vec<usize>, Duration) {
    let started = Instant::now();
    loop {
        let found = found_per_client(clients, values);
        if found.iter().all(|&count| count == values.len()) || started.elapsed() > patience {
            return (found, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One scenario's figures.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario.
    pub scenario: &'static str,
    /// Rules the API acknowledged (2xx).
    pub acknowledged: usize,
    /// Acknowledged rules found in each client.
    pub found_per_client: Vec<usize>,
    /// The worst time for a change to reach every client.
    pub worst_convergence: Duration,
}

impl Report {
    /// Acknowledged rules missing from the worst client.
    pub fn lost(&self) -> usize {
        let worst = self.found_per_client.iter().copied().min().unwrap_or(0);
        self.acknowledged.saturating_sub(worst)
    }

    /// Prints the report line and asserts nothing was lost.
    pub fn print_and_check(&self) {
        let min = self.found_per_client.iter().copied().min().unwrap_or(0);
        let max = self.found_per_client.iter().copied().max().unwrap_or(0);
        println!(
            "e2e report | {:<28} | acknowledged {:>5} | found per client min {:>5} max {:>5} ({} clients) | lost {} | worst convergence {:>6.1} ms",
            self.scenario,
            self.acknowledged,
            min,
            max,
            self.found_per_client.len(),
            self.lost(),
            self.worst_convergence.as_secs_f64() * 1000.0
        );
        assert_eq!(self.lost(), 0, "{}: acknowledged rules lost", self.scenario);
    }
}
