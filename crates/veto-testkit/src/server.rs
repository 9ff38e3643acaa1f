//! One real `nats-server` process on loopback: its builder, start (port read back from
//! its log), graceful stop, SIGKILL, SIGSTOP/SIGCONT and restart on the same port and
//! store. One process's whole life cycle in one file, hence its length.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::{START_TIMEOUT, TestkitError, binary, eventually};

/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Membership of a server in a cluster (set by [`crate::NatsCluster`]).
#[derive(Clone, Debug)]
pub(crate) struct ClusterMembership {
    pub(crate) cluster_name: String,
    pub(crate) cluster_port: u16,
    pub(crate) routes: Vec<String>,
}

/// What a server waits for before [`NatsServerBuilder::start`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// The JetStream API answers (a standalone server).
    JetStream,
    /// The client port is open (a cluster node: JetStream needs the whole cluster, and
    /// a config with accounts needs credentials to connect).
    Listening,
}

/// Options for a server; see [`NatsServer::builder`].
#[derive(Debug)]
pub struct NatsServerBuilder {
    config_file: Option<PathBuf>,
    name: Option<String>,
    extra_args: Vec<String>,
    envs: Vec<(String, String)>,
    pub(crate) cluster: Option<ClusterMembership>,
    pub(crate) readiness: Readiness,
}

impl NatsServerBuilder {
    /// Starts the server from this configuration file. The test kit still sets the
    /// listen address (loopback), the port and the store directory on the command line,
    /// which take precedence over the file.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// The server's name (`-n`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// An environment variable for the server process (configs may reference `$NAME`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// An extra command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_owned());
        self
    }

    /// Returns from [`NatsServerBuilder::start`] once the client port is open, without
    /// waiting for the JetStream API (a config with accounts needs credentials for it).
    pub fn ready_when_listening(mut self) -> Self {
        self.readiness = Readiness::Listening;
        self
    }

    /// Starts the server and waits until it is ready.
    pub async fn start(self) -> Result<NatsServer, TestkitError> {
        let binary = binary::server_binary()?;
        let work_dir = tempfile::Builder::new().prefix("veto-nats-").tempdir()?;
        let mut server = NatsServer {
            binary,
            options: self,
            port: None,
            child: None,
            log_path: work_dir.path().join("server.log"),
            work_dir,
        };
        server.spawn_and_wait().await?;
        Ok(server)
    }
}

/// A running (or stopped) `nats-server` process with JetStream, on 127.0.0.1.
///
/// Its store directory and log live in a temporary directory that outlives restarts
/// and is removed on drop, when the process (if any) is killed.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    options: NatsServerBuilder,
    /// Chosen by the server at first start (`-p -1`), then fixed for restarts.
    port: Option<u16>,
    child: Option<Child>,
    log_path: PathBuf,
    work_dir: TempDir,
}

impl NatsServer {
    /// Options for a server: config file, name, extra arguments.
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder {
            config_file: None,
            name: None,
            extra_args: Vec::new(),
            envs: Vec::new(),
            cluster: None,
            readiness: Readiness::JetStream,
        }
    }

    /// A standalone server with JetStream on a random loopback port.
    pub async fn start() -> Result<NatsServer, TestkitError> {
        NatsServer::builder().start().await
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_default()
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port())
    }

    /// The JetStream store directory (kept across restarts).
    pub fn store_dir(&self) -> PathBuf {
        self.work_dir.path().join("store")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// A client connected to this server.
    pub async fn connect(&self) -> Result<async_nats::Client, TestkitError> {
        let url = self.url();
        async_nats::connect(&url)
            .await
            .map_err(|source| TestkitError::Connect { url, source })
    }

    /// Stops the server with SIGTERM, killing it if it takes longer than 10 s.
    pub async fn stop(&mut self) -> Result<(), TestkitError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal(&child, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        while child.try_wait()?.is_none() {
            if tokio::time::Instant::now() >= deadline {
                child.kill()?;
                child.wait()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Kills the server with SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) -> Result<(), TestkitError> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered,
    /// like a server that is overloaded or cut off. Returns once the kernel reports the
    /// process stopped (a signal is delivered asynchronously: a busy server's threads
    /// could otherwise answer one more request), or after a second.
    pub fn pause(&self) {
        if let Some(child) = &self.child {
            signal(child, Signal::SIGSTOP);
            let stat = format!("/proc/{}/stat", child.id());
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            while std::time::Instant::now() < deadline {
                let stopped = fs::read_to_string(&stat).is_ok_and(|stat| {
                    // `pid (comm) state ...`: the state follows the last ')'.
                    stat.rsplit_once(')')
                        .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
                });
                if stopped {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        if let Some(child) = &self.child {
            signal(child, Signal::SIGCONT);
        }
    }

    /// Starts a stopped or killed server again, on the same port with the same data.
    pub async fn start_again(&mut self) -> Result<(), TestkitError> {
        if self.is_running() {
            return Ok(());
        }
        self.child = None;
        self.spawn_and_wait().await
    }

    /// Stops the server gracefully and starts it again on the same port with the same data.
    pub async fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop().await?;
        self.start_again().await
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        if let Some(config_file) = &self.options.config_file {
            command.arg("-c").arg(config_file);
        }
        let port = self.port.map_or_else(|| "-1".to_owned(), |port| port.to_string());
        // Monitoring on a random port: configs name a fixed one, and nodes share a host here.
        command
            .args(["-a", "127.0.0.1", "-p", &port, "-m", "-1", "-js", "-sd"])
            .arg(self.store_dir())
            .arg("--ports_file_dir")
            .arg(self.work_dir.path());
        if let Some(name) = &self.options.name {
            command.args(["-n", name]);
        }
        if let Some(cluster) = &self.options.cluster {
            command
                .args(["--cluster_name", &cluster.cluster_name])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", cluster.cluster_port)]);
            if !cluster.routes.is_empty() {
                command.args(["--routes", &cluster.routes.join(",")]);
            }
        }
        command.args(&self.options.extra_args);
        command.envs(self.options.envs.iter().map(|(name, value)| (name, value)));
        command
    }

    async fn spawn_and_wait(&mut self) -> Result<(), TestkitError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let log_start = log.metadata()?.len();
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let ports_file = self
            .work_dir
            .path()
            .join(format!("nats-server_{}.ports", child.id()));
        self.child = Some(child);

        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let port = loop {
            if let Some(port) = read_client_port(&ports_file) {
                break port;
            }
            // A server that exits at start (bad config, port taken) fails at once.
            if !self.is_running() || tokio::time::Instant::now() >= deadline {
                return Err(self.not_ready("listening for clients", log_start));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        self.port = Some(port);

        if self.options.cluster.is_some() {
            // A cluster node binds its route port after the client port: wait for that
            // too, or a node that dies on a taken route port would pass for started.
            loop {
                if log_since(&self.log_path, log_start).contains("Listening for route connections") {
                    break;
                }
                if !self.is_running() || tokio::time::Instant::now() >= deadline {
                    return Err(self.not_ready("listening for routes", log_start));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if self.options.readiness == Readiness::Listening {
            return Ok(());
        }
        let url = self.url();
        let readiness = self.options.readiness;
        let ready = eventually(START_TIMEOUT, "the JetStream API", || {
            let url = url.clone();
            async move {
                let client = async_nats::connect(&url).await.ok()?;
                match readiness {
                    Readiness::Listening => Some(()),
                    Readiness::JetStream => async_nats::jetstream::new(client)
                        .query_account()
                        .await
                        .ok()
                        .map(|_| ()),
                }
            }
        })
        .await;
        ready.map_err(|_| self.not_ready("answering JetStream API requests", log_start))
    }

    fn not_ready(&mut self, what: &str, log_start: u64) -> TestkitError {
        let _ = self.kill();
        TestkitError::NotReady {
            what: what.to_owned(),
            timeout: START_TIMEOUT,
            log_tail: log_tail(&self.log_path, log_start),
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn signal(child: &Child, signal: Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// The client port from a ports file (`{"nats":["nats://127.0.0.1:4222"],...}`).
fn read_client_port(ports_file: &Path) -> Option<u16> {
    let text = fs::read_to_string(ports_file).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = ports.get("nats")?.get(0)?.as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

/// Everything written to the log since `start`.
fn log_since(path: &Path, start: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(start));
        let _ = file.read_to_string(&mut text);
    }
    text
}

/// The last 40 lines written to the log since `start`.
fn log_tail(path: &Path, start: u64) -> String {
    let text = log_since(path, start);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
