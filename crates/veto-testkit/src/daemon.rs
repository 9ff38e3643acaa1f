//! `vetod` for tests (feature `daemon`): in this process on port 0 ([`TestDaemon`]), or
//! the real binary ([`DaemonProcess`]) when a test must kill or signal it. Both wait
//! (bounded) until `/readyz` answers ready, and both talk to tests through veto-api's
//! [`AdminClient`].

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use veto_api::AdminClient;
use veto_daemon::Application;
use veto_daemon::auth::hash_api_key;
use veto_daemon::config::Settings;
use veto_daemon::permission::{ApiKeyEntry, Permission};
use veto_daemon::signer::EventSigner;
use veto_daemon::state::AppState;
use veto_proto::VerificationKeys;

use crate::wait::within;

/// The API key with every permission that test daemons accept.
pub const ADMIN_KEY: &str = "veto_test_admin_key";

/// How long a daemon may take to build and become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The admin key's entry, as settings hold it.
pub fn admin_key_entry() -> ApiKeyEntry {
    ApiKeyEntry {
        name: "admin".into(),
        sha256: hash_api_key(ADMIN_KEY),
        permissions: vec![Permission::Revoke, Permission::Lift, Permission::Read],
    }
}

/// Settings for a test daemon against `nats_urls` (comma-separated): port 0, the admin
/// key, no rate limit, a 2 s publish timeout.
pub fn test_settings(nats_urls: &str) -> Settings {
    let mut settings = Settings {
        listen: "127.0.0.1:0"
            .parse()
            .unwrap_or_else(|_| unreachable!("a literal address")),
        ..Settings::default()
    };
    settings.nats.url = nats_urls.to_owned();
    settings.api.publish_timeout = Duration::from_secs(2);
    // Ticks every second (production: 5 s), so that tests see freshness and staleness
    // within their short `max_staleness`.
    settings.api.tick_interval = Duration::from_secs(1);
    settings.rate_limit.per_second = 0;
    settings.auth.api_keys = vec![admin_key_entry()];
    settings
}

/// A daemon signing key for tests: a fresh seed in a temporary file.
#[derive(Debug)]
pub struct TestSigningKey {
    /// The key id (`Veto-Key-Id`).
    pub key_id: String,
    /// The seed file, as `signing.seed_file` names it.
    pub seed_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestSigningKey {
    /// A new key named `key_id`.
    pub fn new(key_id: &str) -> TestSigningKey {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let seed_file = dir.path().join("signing-seed");
        std::fs::write(&seed_file, EventSigner::generate_seed()).expect("the seed file");
        TestSigningKey {
            key_id: key_id.to_owned(),
            seed_file,
            _dir: dir,
        }
    }

    /// Makes `settings` sign with this key.
    pub fn apply(&self, settings: &mut Settings) {
        settings.signing.key_id = Some(self.key_id.clone());
        settings.signing.seed_file = Some(self.seed_file.clone());
    }

    /// The signer (to publish as the daemon would).
    pub fn signer(&self) -> EventSigner {
        EventSigner::from_seed_file(&self.key_id, &self.seed_file).expect("the test key loads")
    }

    /// The keys a service trusts to read what this key signed.
    pub fn verification_keys(&self) -> VerificationKeys {
        self.signer().verification_keys()
    }

    /// `kid:publickey`, the form of `VETO_VERIFY_KEYS`.
    pub fn verify_keys_line(&self) -> String {
        format!("{}:{}", self.key_id, self.signer().public_key())
    }
}

/// `vetod` running in this process, stopped when dropped.
#[derive(Debug)]
pub struct TestDaemon {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<AppState>,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestDaemon {
    /// A daemon with [`test_settings`] against `nats_urls`.
    pub async fn start(nats_urls: &str) -> TestDaemon {
        TestDaemon::start_with(test_settings(nats_urls)).await
    }

    /// A daemon with these settings (bind `127.0.0.1:0`), ready.
    pub async fn start_with(settings: Settings) -> TestDaemon {
        let app = within(
            READY_TIMEOUT.as_secs(),
            "daemon build",
            Application::build(settings),
        )
        .await
        .unwrap_or_else(|error| panic!("the daemon does not build: {error:#}"));
        let url = format!("http://{}", app.local_addr());
        let state = app.state();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run_until(stop.clone().cancelled_owned()));
        let daemon = TestDaemon {
            url,
            state,
            stop,
            task: Some(task),
        };
        daemon
            .admin()
            .wait_ready(READY_TIMEOUT)
            .await
            .unwrap_or_else(|error| panic!("the daemon is not ready: {error}"));
        daemon
    }

    /// The daemon's shared state (its replica, index, settings).
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// A client of its API with the admin key.
    pub fn admin(&self) -> AdminClient {
        self.client(Some(ADMIN_KEY))
    }

    /// A client of its API with `credential` (an API key or a JWT), or none.
    pub fn client(&self, credential: Option<&str>) -> AdminClient {
        AdminClient::at(&self.url, credential).unwrap_or_else(|error| panic!("{error}"))
    }

    /// Stops serving and waits (bounded) until the daemon has drained.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = within(30, "daemon stops", task).await;
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The real `vetod` binary, so a test can SIGKILL or SIGTERM it.
#[derive(Debug)]
pub struct DaemonProcess {
    child: Option<Child>,
    port: u16,
    nats_url: String,
    env: Vec<(String, String)>,
    /// `RLIMIT_NOFILE` (soft and hard) the process starts with, if limited.
    open_files: Option<u64>,
}

/// The `vetod` binary of this workspace (`target/<profile>/vetod`), built if missing.
pub fn vetod_binary() -> PathBuf {
    let target_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/debug"));
    let binary = target_dir.join("vetod");
    if !binary.is_file() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .args(["build", "-p", "veto-daemon", "--bin", "vetod"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building vetod");
    }
    binary
}

impl DaemonProcess {
    /// Starts `vetod` against `nats_url` with the admin key, on a port of its choosing.
    pub async fn start(nats_url: &str) -> DaemonProcess {
        DaemonProcess::start_with_env(nats_url, &[]).await
    }

    /// Like [`DaemonProcess::start`], with more environment variables.
    pub async fn start_with_env(nats_url: &str, env: &[(&str, &str)]) -> DaemonProcess {
        DaemonProcess::start_limited(nats_url, env, None).await
    }

    /// Like [`DaemonProcess::start_with_env`], with the process's file limit
    /// (`RLIMIT_NOFILE`, soft and hard) set to `open_files`, as `ulimit -n` would.
    pub async fn start_with_file_limit(
        nats_url: &str,
        env: &[(&str, &str)],
        open_files: u64,
    ) -> DaemonProcess {
        DaemonProcess::start_limited(nats_url, env, Some(open_files)).await
    }

    async fn start_limited(nats_url: &str, env: &[(&str, &str)], open_files: Option<u64>) -> DaemonProcess {
        let mut process = DaemonProcess {
            child: None,
            port: 0,
            nats_url: nats_url.to_owned(),
            env: env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            open_files,
        };
        process.start_again().await;
        process
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client of its API with the admin key.
    pub fn admin(&self) -> AdminClient {
        AdminClient::at(&self.url(), Some(ADMIN_KEY)).unwrap_or_else(|error| panic!("{error}"))
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the binary again on the same port (port 0, the first time: the daemon
    /// binds any free port and logs it, so no port is picked here that another test
    /// could take).
    pub async fn start_again(&mut self) {
        let mut command = match self.open_files {
            // Through the shell's `ulimit` (this workspace forbids the `unsafe` a
            // `pre_exec` setrlimit would need); `exec` keeps the pid vetod's.
            Some(open_files) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {open_files} && exec \"$0\" \"$@\""))
                    .arg(vetod_binary());
                shell
            }
            None => Command::new(vetod_binary()),
        };
        let mut child = command
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
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vetod starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let address = crate::logs::port_from_json_log(stdout, "vetod listening");
        self.port = within(60, "vetod logs its address", address)
            .await
            .expect("vetod listening");
        self.child = Some(child);
        self.admin()
            .wait_ready(READY_TIMEOUT)
            .await
            .unwrap_or_else(|error| panic!("vetod is not ready: {error}"));
    }

    /// SIGKILL: no shutdown, no drain.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) for the process to exit on its own; its exit code.
    pub async fn wait_exit(&mut self, seconds: u64) -> Option<i32> {
        let mut child = self.child.take()?;
        let status = within(seconds, "vetod exits", async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        status.code()
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
