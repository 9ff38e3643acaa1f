//! `veto`, the command line of veto: revoke, lift and inspect JWT revocations from a
//! terminal. A thin client of vetod's admin API (`/v1/revocations`, `/healthz`,
//! `/readyz`, `/v1/status`) through veto-api's `AdminClient`, plus `veto check`, which loads the list straight from NATS
//! with veto-client and checks token facts exactly as a service would.
//!
//! ```text
//! veto revoke jti <value> [--exp <instant>] [--iss …] [--reason …] [<wait>]
//! veto revoke sub|sid <value> [--before <instant>] [--iss …] [--reason …] [<wait>]
//! veto revoke all --before <instant> [--iss …] [--reason …] [<wait>]
//! veto lift <kind> [<value>] [--iss …] [--reason …] [<wait>]
//! veto get <kind> [<value>] [--iss …]
//! veto list [--kind …] [--limit N] [--cursor …] [--all-pages]
//! veto token inspect <jwt | -> [--offline]
//! veto check [--jti …] [--sub …] [--sid …] [--iss …] [--iat <instant>]
//! veto status
//! veto fleet
//!
//! <wait>: --wait[=fleet|=service:<name>] [--wait-timeout <duration>]
//! ```
//!
//! Instants are RFC 3339, unix seconds, `now`, or relative (`+15m`, `-1h`). The daemon
//! is `--url`/`VETO_URL` (default `http://127.0.0.1:8080`); `--api-key`/`VETO_API_KEY`
//! or `--token`/`VETO_TOKEN` is sent as `Authorization: Bearer` and never printed;
//! `--nats-url`/`VETO_NATS_URL` and `--stream`/`VETO_STREAM` (default `VETO`) serve
//! `check` and `status`. Output is text, or JSON with `--json`. `--wait` (`fleet`, or
//! `--wait=service:<name>`) makes a write answer once every live service instance that
//! reports presence has applied it; `veto fleet` lists those instances.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok; for `check` and `token inspect`, no rule revokes the token |
//! | 1 | revoked: `check` or `token inspect` found a rule that revokes the token |
//! | 2 | usage: bad arguments or unreadable input (clap's own errors included) |
//! | 3 | unreachable: connection refused, timeout, or 503 (also 408, 502, 504) |
//! | 4 | rejected: any other error status, printed as `error: <code>: <message>` |
//! | 5 | not applied everywhere: with `--wait`, the write is stored, but some live service instances had not applied it within `--wait-timeout` (they are named) |
//!
//! # Layout
//!
//! - [`cli`]: flags, environment variables and subcommands (clap).
//! - [`commands`]: one module per group of subcommands; each returns a [`Report`].
//! - [`nats`]: the list and stream state read straight from NATS (`check`, `status`).
//! - [`token`]: reading a JWT's header and claims without verifying it.
//! - [`times`]: instants on the command line and on the screen.
//! - [`output`]: [`Report`], text and JSON renderings.
//! - [`error`]: [`CliError`] and the [`Exit`] code each failure maps to.
//!
//! `main.rs` only parses, runs [`run`] on a runtime, prints and exits.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use base64::Engine as _;
//! use base64::engine::general_purpose::URL_SAFE_NO_PAD;
//! use clap::Parser as _;
//! use veto_cli::{Cli, Exit};
//!
//! let segment = |json: &str| URL_SAFE_NO_PAD.encode(json);
//! let token = format!(
//!     "{}.{}.signature",
//!     segment(r#"{"alg":"ES256","kid":"key-1"}"#),
//!     segment(r#"{"jti":"t-1","sub":"alice","iat":1800000000}"#),
//! );
//! // `--offline`: decode only, without asking a daemon.
//! let cli = Cli::try_parse_from(["veto", "token", "inspect", "--offline", token.as_str()])?;
//! let report = veto_cli::run(cli).await?;
//! assert_eq!(report.exit, Exit::Ok);
//! assert!(report.human.contains("NOT verified"));
//! assert_eq!(report.json["claims"]["sub"], "alice");
//! assert!(!report.render(true).contains("signature"));
//! # Ok(()) }
//! ```

pub mod cli;
pub mod commands;
pub mod error;
pub mod nats;
pub mod output;
pub mod times;
pub mod token;

pub use cli::Cli;
pub use error::{CliError, Exit};
pub use output::Report;

use veto_api::AdminClient;

use crate::cli::{Command, TokenCommand};

/// Runs one command line to its report. Only `check` works without the daemon (and
/// `token inspect --offline` without anything).
pub async fn run(cli: Cli) -> Result<Report, CliError> {
    let connection = cli.connection;
    let admin_api = || {
        AdminClient::new(
            connection.url.clone(),
            connection.credential(),
            connection.timeout,
        )
        .map_err(CliError::from)
    };
    match cli.command {
        Command::Revoke(command) => commands::revoke::run(&admin_api()?, command).await,
        Command::Lift(args) => commands::rules::lift(&admin_api()?, args).await,
        Command::Get(args) => commands::rules::get(&admin_api()?, args).await,
        Command::List(args) => commands::rules::list(&admin_api()?, args).await,
        Command::Token(TokenCommand::Inspect(args)) => commands::inspect::run(&admin_api()?, args).await,
        Command::Check(args) => commands::check::run(&connection, args).await,
        Command::Status => commands::status::run(&admin_api()?, &connection).await,
        Command::Fleet => commands::fleet::run(&admin_api()?).await,
    }
}
