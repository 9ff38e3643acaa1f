//! `spawn_daemon()`: a real nats-server and vetod on port 0 with a known API key; and
//! `veto(...)`: runs the built binary, bounded, with the daemon's URL, key and NATS URL
//! in its environment.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use veto_daemon::Application;
use veto_daemon::auth::{ApiKeyEntry, Permission, hash_api_key};
use veto_daemon::config::Settings;
use veto_testkit::NatsServer;

pub const ADMIN_KEY: &str = "veto_cli_test_admin_key";
pub const ISSUER: &str = "https://idp.test";

/// Every variable the CLI reads, cleared before each run so the caller's shell cannot
/// change what a test sees.
const VETO_VARIABLES: [&str; 5] = [
    "VETO_URL",
    "VETO_API_KEY",
    "VETO_TOKEN",
    "VETO_NATS_URL",
    "VETO_STREAM",
];

/// Every await in these tests is bounded.
pub async fn within<T>(seconds: u64, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {seconds}s: {what}"))
}

pub fn now() -> i64 {
    veto_proto::UnixSeconds::now().0
}

/// A daemon and its NATS server, stopped when dropped.
pub struct TestDaemon {
    pub nats: NatsServer,
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    server: AbortHandle,
}

pub async fn spawn_daemon() -> TestDaemon {
    let nats = within(30, "nats-server start", NatsServer::start())
        .await
        .expect("nats-server starts (run scripts/install-nats or set NATS_SERVER_BIN)");
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        ..Settings::default()
    };
    settings.nats.url = nats.url();
    settings.rate_limit.per_second = 0;
    settings.auth.api_keys = vec![ApiKeyEntry {
        name: "admin".into(),
        sha256: hash_api_key(ADMIN_KEY),
        permissions: vec![Permission::Revoke, Permission::Lift, Permission::Read],
    }];
    let app = within(30, "daemon build", Application::build(settings))
        .await
        .expect("daemon builds");
    let url = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }))
    .abort_handle();
    let daemon = TestDaemon {
        nats,
        url,
        stop: Some(stop),
        server,
    };
    daemon.wait_ready().await;
    daemon
}

impl TestDaemon {
    async fn wait_ready(&self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let readyz = format!("{}/readyz", self.url);
        within(30, "daemon ready", async {
            loop {
                if let Ok(response) = http.get(&readyz).send().await
                    && response.status() == 200
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }

    /// The environment that points `veto` at this daemon, as the admin.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("VETO_URL", self.url.clone()),
            ("VETO_API_KEY", ADMIN_KEY.to_owned()),
            ("VETO_NATS_URL", self.nats.url()),
        ]
    }

    /// Runs `veto args…` against this daemon.
    pub async fn veto(&self, args: &[&str]) -> Run {
        veto_with(&self.env(), args, None).await
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.abort();
    }
}

/// One finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the run when it differs; returns the run.
    #[track_caller]
    pub fn exits(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "veto {:?} exited {}, expected {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    /// Stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| {
            panic!(
                "veto {:?}: stdout is not JSON ({error}):\n{}",
                self.args, self.stdout
            )
        })
    }
}

/// Runs the built `veto` with only `env` among the `VETO_*` variables, feeding `stdin`.
pub async fn veto_with(env: &[(&str, String)], args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_veto"));
    for name in VETO_VARIABLES {
        command.env_remove(name);
    }
    command
        .envs(env.iter().map(|(name, value)| (name, value)))
        // Loopback never goes through a proxy, whatever the machine's settings.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn the veto binary");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        within(5, "write stdin", pipe.write_all(input.as_bytes()))
            .await
            .expect("write stdin");
        // Dropping the pipe closes it: the end of the input.
    }
    let what = format!("veto {args:?}");
    let output = within(30, &what, child.wait_with_output())
        .await
        .expect("veto output");
    Run {
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        code: output
            .status
            .code()
            .expect("veto exited rather than being killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
