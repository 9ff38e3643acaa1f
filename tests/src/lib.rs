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
//! - [`Daemon`]: `vetod` in-process on port 0; [`DaemonProcess`]: the real binary.
//! - [`Writer`]: HTTP writes that retry until acknowledged.
//! - [`start_clients`], [`converge`]: many replicas, and waiting until they agree.
//! - [`Report`]: what each scenario prints.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use veto_client::{ListConfig, RevocationList, TokenFacts, Verdict};
use veto_daemon::Application;
use veto_daemon::auth::{ApiKeyEntry, Permission, hash_api_key};
use veto_daemon::config::Settings;

/// The admin API key every scenario uses.
pub const ADMIN_KEY: &str = "veto_e2e_admin_key";

/// Every await in a scenario is bounded.
pub async fn within<T>(seconds: u64, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {seconds}s: {what}"))
}

fn admin_keys() -> Vec<ApiKeyEntry> {
    vec![ApiKeyEntry {
        name: "admin".into(),
        sha256: hash_api_key(ADMIN_KEY),
        permissions: vec![Permission::Revoke, Permission::Lift, Permission::Read],
    }]
}

/// `vetod` running in this process.
#[derive(Debug)]
pub struct Daemon {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Daemon {
    /// A daemon on port 0 against `nats_urls` (comma-separated) with `replicas`.
    pub async fn start(nats_urls: &str, replicas: usize) -> Daemon {
        Daemon::start_with(nats_urls, replicas, |_| {}).await
    }

    /// Like [`Daemon::start`], with settings adjusted by `adjust`.
    pub async fn start_with(nats_urls: &str, replicas: usize, adjust: impl FnOnce(&mut Settings)) -> Daemon {
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().expect("address"),
            ..Settings::default()
        };
        settings.nats.url = nats_urls.to_owned();
        settings.stream.replicas = replicas;
        settings.api.publish_timeout = Duration::from_secs(2);
        settings.rate_limit.per_second = 0;
        settings.auth.api_keys = admin_keys();
        adjust(&mut settings);
        let app = within(60, "daemon build", Application::build(settings))
            .await
            .expect("daemon builds");
        let url = format!("http://{}", app.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let daemon = Daemon {
            url,
            stop: Some(stop),
            task: Some(task),
        };
        wait_ready(&daemon.url).await;
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Waits (bounded) until `GET /readyz` answers 200.
pub async fn wait_ready(url: &str) {
    let http = reqwest::Client::new();
    within(60, "daemon ready", async {
        loop {
            if let Ok(response) = http.get(format!("{url}/readyz")).send().await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// The real `vetod` binary, so it can be killed with SIGKILL.
#[derive(Debug)]
pub struct DaemonProcess {
    child: Option<Child>,
    port: u16,
    nats_url: String,
}

/// The `vetod` binary next to this test binary (`target/<profile>/vetod`), built by the
/// workspace test run; built here if missing.
fn vetod_binary() -> PathBuf {
    let target_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/debug"));
    let binary = target_dir.join("vetod");
    if !binary.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "veto-daemon", "--bin", "vetod"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building vetod");
    }
    binary
}

impl DaemonProcess {
    /// Starts `vetod` on a port of its choosing against `nats_url`; restarts reuse it.
    pub async fn start(nats_url: &str) -> DaemonProcess {
        let mut process = DaemonProcess {
            child: None,
            port: 0,
            nats_url: nats_url.to_owned(),
        };
        process.start_again().await;
        process
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the binary again on the same port (port 0, the first time: the daemon binds
    /// any free port and logs it, so no port is picked here that another test could take).
    pub async fn start_again(&mut self) {
        let mut child = Command::new(vetod_binary())
            .args([
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--nats-url",
                &self.nats_url,
            ])
            .env(
                "VETO_API_KEYS",
                format!("admin:{}:revoke+lift+read", hash_api_key(ADMIN_KEY)),
            )
            .env("VETO_LOG", "info")
            .env("VETO_LOG_JSON", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vetod starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let address_rx = veto_testkit::logs::port_from_json_log(stdout, "vetod listening");
        self.port = within(60, "vetod logs its address", address_rx)
            .await
            .expect("vetod listening");
        self.child = Some(child);
        wait_ready(&self.url()).await;
    }

    /// SIGKILL: no shutdown, no drain.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes through the admin API, retrying until acknowledged.
#[derive(Clone, Debug)]
pub struct Writer {
    http: reqwest::Client,
    base_url: String,
}

/// What a write came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// 2xx, with the body.
    Acknowledged(Value),
    /// A 4xx other than 429: the request itself is wrong.
    Rejected(u16, Value),
    /// No 2xx before the deadline.
    GaveUp,
}

impl Writer {
    /// A writer to `base_url` with the admin key.
    pub fn new(base_url: &str) -> Writer {
        Writer {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
            base_url: base_url.to_owned(),
        }
    }

    /// Points the writer at another daemon.
    pub fn with_url(&self, base_url: &str) -> Writer {
        Writer {
            http: self.http.clone(),
            base_url: base_url.to_owned(),
        }
    }

    /// Sends `method path` with `body` until a 2xx or a non-retryable 4xx, retrying 503s,
    /// 409s, 429s and connection errors with the same request, for up to `patience`.
    pub async fn send_until_acknowledged(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        patience: Duration,
    ) -> Written {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base_url))
                .bearer_auth(ADMIN_KEY);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Ok(response) = request.send().await {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                match status {
                    200..=299 => return Written::Acknowledged(body),
                    409 | 429 | 500..=599 => {}
                    _ => return Written::Rejected(status, body),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Written::GaveUp
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
        let body = serde_json::json!({"kind": "jti", "value": value});
        matches!(
            self.send_until_acknowledged(reqwest::Method::POST, "/v1/revocations", Some(&body), patience)
                .await,
            Written::Acknowledged(_)
        )
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
