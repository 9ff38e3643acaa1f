//! `spawn_daemon()`: a real nats-server and the test kit's vetod on port 0; and
//! `veto(...)`: runs the built binary (assert_cmd), bounded, with the daemon's URL, key
//! and NATS URL in its environment.

use std::time::Duration;

use serde_json::Value;
pub use veto_testkit::daemon::ADMIN_KEY;
pub use veto_testkit::within;
use veto_testkit::{NatsServer, TestDaemon};
pub const ISSUER: &str = "https://idp.test";

/// Every variable the CLI reads, cleared before each run so the caller's shell cannot
/// change what a test sees.
const VETO_VARIABLES: [&str; 6] = [
    "VETO_URL",
    "VETO_API_KEY",
    "VETO_TOKEN",
    "VETO_NATS_URL",
    "VETO_STREAM",
    "VETO_VERIFY_KEYS",
];

pub fn now() -> i64 {
    veto_proto::UnixSeconds::now().0
}

/// A daemon (the test kit's, with its admin key) and its NATS server.
pub struct TestDaemonAndNats {
    /// Kept for its lifetime: dropping it stops the daemon.
    pub _daemon: TestDaemon,
    pub nats: NatsServer,
    pub url: String,
}

pub async fn spawn_daemon() -> TestDaemonAndNats {
    spawn_daemon_with(|_| {}).await
}

/// A daemon with its settings adjusted by `adjust`.
pub async fn spawn_daemon_with(adjust: impl FnOnce(&mut veto_daemon::config::Settings)) -> TestDaemonAndNats {
    let nats = within(30, "nats-server start", NatsServer::start())
        .await
        .expect("nats-server starts (run scripts/install-nats or set NATS_SERVER_BIN)");
    let mut settings = veto_testkit::daemon::test_settings(&nats.url());
    adjust(&mut settings);
    let daemon = TestDaemon::start_with(settings).await;
    TestDaemonAndNats {
        url: daemon.url.clone(),
        _daemon: daemon,
        nats,
    }
}

impl TestDaemonAndNats {
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

/// Runs the built `veto` (assert_cmd finds it) with only `env` among the `VETO_*`
/// variables, feeding `stdin`; killed after 30 s.
pub async fn veto_with(env: &[(&str, String)], args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = assert_cmd::Command::cargo_bin("veto").expect("the veto binary is built");
    for name in VETO_VARIABLES {
        command.env_remove(name);
    }
    command
        .envs(env.iter().map(|(name, value)| (name, value)))
        // Loopback never goes through a proxy, whatever the machine's settings.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .args(args)
        .timeout(Duration::from_secs(30))
        .write_stdin(stdin.unwrap_or_default().as_bytes().to_vec());
    let what = format!("veto {args:?}");
    let output = within(40, &what, tokio::task::spawn_blocking(move || command.output()))
        .await
        .expect("the run finishes")
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
