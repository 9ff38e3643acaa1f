//! The command line: flags, environment variables and subcommands (clap).

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reqwest::Url;
use veto_api::{Wait, WaitScope};
use veto_proto::{RuleKind, UnixSeconds, VerificationKeys};

use crate::error::{Secret, parse_secret};
use crate::times::parse_instant;

/// The end of `veto --help`: instant syntax and the exit codes ([`crate::Exit`]).
const HELP_FOOTER: &str = "\
Instants (--exp, --before, --iat): RFC 3339 (2030-01-02T03:04:05Z), unix seconds, now,
or relative to now: +15m, -1h.

Exit codes:
  0  ok (for check and token inspect: no rule revokes the token)
  1  revoked: check or token inspect found a rule that revokes the token
  2  usage: bad arguments or unreadable input (such as a malformed token)
  3  unreachable: connection refused, timeout, or 503 (also 408, 502, 504)
  4  rejected: any other error status from the API, printed as
     `error: <code>: <message>` on stderr
  5  not applied everywhere: with --wait, the write is stored but some live service
     instances had not applied it within --wait-timeout (they are named)";

/// Revoke, lift and inspect JWT revocations: a client of vetod's admin API.
#[derive(Debug, Parser)]
#[command(name = "veto", version, after_help = HELP_FOOTER)]
pub struct Cli {
    /// Where and how to connect.
    #[command(flatten)]
    pub connection: Connection,

    /// Print JSON for scripts (the API's own JSON, or one object) instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the daemon and NATS. Credentials are never printed (and `--help` hides
/// their environment values).
#[derive(Debug, Args)]
pub struct Connection {
    /// The daemon's admin API.
    #[arg(
        long,
        env = "VETO_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: Url,

    /// An API key, sent as `Authorization: Bearer`.
    #[arg(
        long,
        env = "VETO_API_KEY",
        hide_env_values = true,
        global = true,
        conflicts_with = "token",
        value_parser = parse_secret
    )]
    pub api_key: Option<Secret>,

    /// An admin JWT, sent as `Authorization: Bearer`.
    #[arg(long, env = "VETO_TOKEN", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub token: Option<Secret>,

    /// NATS, for `check` and the stream part of `status`.
    #[arg(long, env = "VETO_NATS_URL", hide_env_values = true, global = true)]
    pub nats_url: Option<String>,

    /// The JetStream stream holding the list.
    #[arg(long, env = "VETO_STREAM", default_value = "VETO", global = true)]
    pub stream: String,

    /// Bound on each HTTP request, on connecting to NATS, and on loading the list.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub timeout: Duration,
}

impl Connection {
    /// The credential to send: the API key, or else the admin JWT.
    pub fn credential(&self) -> Option<Secret> {
        self.api_key.clone().or_else(|| self.token.clone())
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Revoke tokens: one by jti, a subject's or a session's issued before an instant, or all.
    #[command(subcommand)]
    Revoke(RevokeCommand),
    /// Lift (un-revoke) the rule for a key.
    Lift(LiftArgs),
    /// Show the live rule for a key.
    Get(GetArgs),
    /// List live rules.
    List(ListArgs),
    /// Work with tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check token facts against the list read straight from NATS, as a service would.
    Check(CheckArgs),
    /// The daemon's health, readiness and live rules; with --nats-url, the stream's too.
    Status,
    /// The service instances that report presence: what each applied, how fresh it is.
    Fleet,
}

/// `veto revoke …`.
#[derive(Debug, Subcommand)]
pub enum RevokeCommand {
    /// Revoke one token by its jti.
    Jti(RevokeJtiArgs),
    /// Revoke a subject's tokens issued before an instant.
    Sub(RevokeIssuedBeforeArgs),
    /// Revoke a session's tokens issued before an instant.
    Sid(RevokeIssuedBeforeArgs),
    /// Revoke every token (of one issuer, with --iss) issued before an instant.
    All(RevokeAllArgs),
}

/// `veto revoke jti`.
#[derive(Debug, Args)]
pub struct RevokeJtiArgs {
    /// The token's jti.
    pub value: String,
    /// The token's exp, so the rule is dropped once the token has expired.
    /// Default: the daemon keeps the rule as long as any token can live.
    #[arg(long, value_parser = parse_instant, allow_hyphen_values = true)]
    pub exp: Option<UnixSeconds>,
    /// Scope and audit.
    #[command(flatten)]
    pub scope: Scope,
    /// Waiting for the services.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `veto revoke sub|sid`.
#[derive(Debug, Args)]
pub struct RevokeIssuedBeforeArgs {
    /// The claim's value.
    pub value: String,
    /// Revoke tokens issued before this. Default: the daemon's now plus its clock-skew
    /// allowance.
    #[arg(long, value_parser = parse_instant, allow_hyphen_values = true)]
    pub before: Option<UnixSeconds>,
    /// Scope and audit.
    #[command(flatten)]
    pub scope: Scope,
    /// Waiting for the services.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `veto revoke all`: `--before` is required, so revoking everything is never a typo.
#[derive(Debug, Args)]
pub struct RevokeAllArgs {
    /// Revoke tokens issued before this (`now` is accepted).
    #[arg(long, value_parser = parse_instant, allow_hyphen_values = true)]
    pub before: UnixSeconds,
    /// Scope and audit.
    #[command(flatten)]
    pub scope: Scope,
    /// Waiting for the services.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Issuer scope and audit reason of a mutation.
#[derive(Debug, Args)]
pub struct Scope {
    /// Only tokens of this issuer. Default: every issuer.
    #[arg(long)]
    pub iss: Option<String>,
    /// Why, for the audit trail.
    #[arg(long)]
    pub reason: Option<String>,
}

/// `--wait[=SCOPE]` and `--wait-timeout` of the writes.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Answer once every live service instance has applied the write (`--wait` or
    /// `--wait=fleet`), or every instance of one service (`--wait=service:<name>`);
    /// exit 5, naming the laggards, if some had not within --wait-timeout. The write
    /// is stored either way.
    #[arg(
        long,
        value_name = "SCOPE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "fleet",
        value_parser = parse_wait_scope
    )]
    pub wait: Option<WaitScope>,
    /// How long --wait waits (the daemon allows up to its fleet.max_wait, 10s by default).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "wait")]
    pub wait_timeout: Option<Duration>,
}

impl WaitArgs {
    /// The wait asked for, if any.
    pub fn wait(&self) -> Option<Wait> {
        self.wait
            .clone()
            .map(|scope| Wait::new(scope, self.wait_timeout.unwrap_or(Wait::DEFAULT_TIMEOUT)))
    }
}

/// Parses `fleet` or `service:<name>`.
fn parse_wait_scope(text: &str) -> Result<WaitScope, String> {
    text.parse()
        .map_err(|error: veto_api::fleet::InvalidWait| error.to_string())
}

/// A rule kind on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// One token.
    Jti,
    /// A subject.
    Sub,
    /// A session.
    Sid,
    /// Every token.
    All,
}

impl From<KindArg> for RuleKind {
    fn from(kind: KindArg) -> RuleKind {
        match kind {
            KindArg::Jti => RuleKind::Jti,
            KindArg::Sub => RuleKind::Sub,
            KindArg::Sid => RuleKind::Sid,
            KindArg::All => RuleKind::All,
        }
    }
}

/// `veto lift`.
#[derive(Debug, Args)]
pub struct LiftArgs {
    /// The rule's kind.
    pub kind: KindArg,
    /// The rule's value (none for `all`).
    pub value: Option<String>,
    /// Issuer scope and audit reason.
    #[command(flatten)]
    pub scope: Scope,
    /// Waiting for the services.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `veto get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The rule's kind.
    pub kind: KindArg,
    /// The rule's value (none for `all`).
    pub value: Option<String>,
    /// The rule's issuer scope. Default: the unscoped rule.
    #[arg(long)]
    pub iss: Option<String>,
}

/// `veto list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only rules of this kind.
    #[arg(long)]
    pub kind: Option<KindArg>,
    /// Rules per page (1 to 1000). Default: the daemon's (100).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: Option<u16>,
    /// Start after this page (the `next_cursor` of the previous one).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follow next_cursor to the last page.
    #[arg(long)]
    pub all_pages: bool,
}

/// `veto token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show a token's claims (NOT verified) and whether a live rule revokes it.
    Inspect(InspectArgs),
}

/// `veto token inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token, or `-` to read it from stdin (keeps it out of the shell history).
    #[arg(value_name = "JWT")]
    pub jwt: String,
    /// Only decode; do not ask the daemon.
    #[arg(long)]
    pub offline: bool,
}

/// `veto check`: token facts, as a service would take them from verified claims.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The token's jti.
    #[arg(long)]
    pub jti: Option<String>,
    /// The token's sub.
    #[arg(long)]
    pub sub: Option<String>,
    /// The token's sid.
    #[arg(long)]
    pub sid: Option<String>,
    /// The token's iss.
    #[arg(long)]
    pub iss: Option<String>,
    /// The token's iat. Default: now (the report says so); `--iat 0` for a token
    /// without iat, which counts as issued at the epoch.
    #[arg(long, value_parser = parse_instant, allow_hyphen_values = true)]
    pub iat: Option<UnixSeconds>,
    /// The daemons' public keys, `kid:publickey,…`: apply only events they signed, as
    /// a production service does. Without them unsigned events count too (the report
    /// says so).
    #[arg(long, env = "VETO_VERIFY_KEYS", value_parser = parse_verify_keys)]
    pub verify_keys: Option<VerificationKeys>,
}

/// Parses `kid:publickey,…`.
fn parse_verify_keys(text: &str) -> Result<VerificationKeys, String> {
    let keys = VerificationKeys::parse(text).map_err(|error| error.to_string())?;
    if keys.is_empty() {
        return Err("no key: give kid:publickey,…".to_owned());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_documents_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("3  unreachable"), "{help}");
        assert!(help.contains("+15m"), "{help}");
    }

    #[test]
    fn revoke_all_needs_before_and_instants_are_checked() {
        assert!(Cli::try_parse_from(["veto", "revoke", "all"]).is_err());
        let relative = Cli::try_parse_from(["veto", "revoke", "sub", "bob", "--before", "-10m"]);
        assert!(relative.is_ok(), "{relative:?}");
        assert!(Cli::try_parse_from(["veto", "revoke", "jti", "x", "--exp", "soon"]).is_err());
        let cli = Cli::try_parse_from(["veto", "revoke", "all", "--before", "now"]).expect("parses");
        assert!(matches!(cli.command, Command::Revoke(RevokeCommand::All(_))));
    }

    #[test]
    fn wait_is_fleet_by_default_and_takes_a_service_after_an_equals_sign() {
        let wait_of = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).expect("parses");
            let Command::Revoke(RevokeCommand::Jti(jti)) = cli.command else {
                panic!("not revoke jti");
            };
            jti.wait.wait()
        };
        assert_eq!(wait_of(&["veto", "revoke", "jti", "t-1"]), None);
        assert_eq!(
            wait_of(&["veto", "revoke", "jti", "t-1", "--wait"]),
            Some(Wait::new(WaitScope::Fleet, Wait::DEFAULT_TIMEOUT))
        );
        assert_eq!(
            wait_of(&[
                "veto",
                "revoke",
                "jti",
                "--wait=service:orders",
                "--wait-timeout",
                "500ms",
                "t-1"
            ]),
            Some(Wait::new(
                WaitScope::Service("orders".into()),
                Duration::from_millis(500)
            ))
        );
        assert!(Cli::try_parse_from(["veto", "revoke", "jti", "t-1", "--wait=everyone"]).is_err());
        assert!(
            Cli::try_parse_from(["veto", "revoke", "jti", "t-1", "--wait-timeout", "2s"]).is_err(),
            "--wait-timeout without --wait"
        );
        let lift = Cli::try_parse_from(["veto", "lift", "jti", "t-1", "--wait"]).expect("parses");
        assert!(matches!(lift.command, Command::Lift(args) if args.wait.wait().is_some()));
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("5  not applied everywhere"), "{help}");
    }

    #[test]
    fn the_token_to_inspect_is_not_the_token_to_authenticate_with() {
        let cli =
            Cli::try_parse_from(["veto", "--api-key", "k", "token", "inspect", "a.b.c"]).expect("parses");
        let Command::Token(TokenCommand::Inspect(args)) = cli.command else {
            panic!("not inspect");
        };
        assert_eq!(args.jwt, "a.b.c");
        assert!(cli.connection.token.is_none());
    }
}
