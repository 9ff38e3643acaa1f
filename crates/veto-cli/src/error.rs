//! What can go wrong, and the exit code each failure maps to.

use std::process::ExitCode;

use reqwest::StatusCode;
use veto_api::AdminError;

/// The documented exit codes of `veto` (also in `veto --help` and the crate doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; for `check` and `token inspect`, no rule matches.
    Ok,
    /// 1: `check` or `token inspect` found a rule that revokes the token.
    Revoked,
    /// 2: bad usage or unreadable local input (clap's own errors exit 2 as well).
    Usage,
    /// 3: the daemon or NATS could not be reached, timed out, or answered 503.
    Unreachable,
    /// 4: the API (or NATS) refused the request: any other error status, bad NATS
    /// credentials, or an answer that is not what the API documents.
    Rejected,
    /// 5: with `--wait`, the write is stored, but some live service instances had not
    /// applied it when the wait timed out.
    NotAppliedEverywhere,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Revoked => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::Rejected => 4,
            Exit::NotAppliedEverywhere => 5,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// Why a command failed. [`CliError::exit`] gives its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments or local input make no sense.
    #[error("{0}")]
    Usage(String),
    /// Nothing (useful) answered: connection refused, timeout, DNS, a NATS stream that
    /// never loaded.
    #[error("cannot reach {what}: {detail}")]
    Unreachable {
        /// The daemon's URL or "NATS".
        what: String,
        /// Why, with the cause chain.
        detail: String,
    },
    /// The API answered with an error body (or an error status without one).
    #[error("{code}: {message}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The API's stable error code (`http_<status>` when the body had none).
        code: String,
        /// The API's message.
        message: String,
    },
    /// NATS refused our connection (authentication or authorization).
    #[error("NATS refused the connection: {0}")]
    NatsRefused(String),
    /// Something answered with a success status but not with what the API promises.
    #[error("unexpected response from {what}: {detail}")]
    UnexpectedResponse {
        /// The URL that answered.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
}

impl CliError {
    /// The exit code for this failure.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) => Exit::Usage,
            CliError::Unreachable { .. } => Exit::Unreachable,
            CliError::Api { status, .. } if is_unavailable(*status) => Exit::Unreachable,
            CliError::Api { .. } | CliError::NatsRefused(_) | CliError::UnexpectedResponse { .. } => {
                Exit::Rejected
            }
        }
    }

    /// Whether the API said there is no live rule for the key asked about.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CliError::Api { status, code, .. } if *status == StatusCode::NOT_FOUND && code == "not_found")
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }
}

/// Statuses that mean "try again later" rather than "this request is wrong": the daemon
/// is loading or NATS did not acknowledge (503), or something in between timed out.
fn is_unavailable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::BAD_GATEWAY
            | StatusCode::GATEWAY_TIMEOUT
    )
}

pub use veto_api::client::with_causes;

impl From<AdminError> for CliError {
    fn from(error: AdminError) -> CliError {
        match error {
            AdminError::Usage(message) => CliError::Usage(message),
            AdminError::Unreachable { what, detail } => CliError::Unreachable { what, detail },
            AdminError::Api {
                status,
                code,
                message,
                ..
            } => CliError::Api {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                code,
                message,
            },
            AdminError::Unexpected { what, detail } => CliError::UnexpectedResponse { what, detail },
            other => CliError::UnexpectedResponse {
                what: "the admin API".to_owned(),
                detail: other.to_string(),
            },
        }
    }
}

/// A secret from a flag or the environment (an API key or a bearer token): never in a
/// `Debug` or `Display`.
pub type Secret = secrecy::SecretString;

/// Parses a secret flag.
pub fn parse_secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::from(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: StatusCode, code: &str) -> CliError {
        CliError::Api {
            status,
            code: code.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn unavailable_statuses_exit_3_and_other_api_errors_exit_4() {
        assert_eq!(
            api(StatusCode::SERVICE_UNAVAILABLE, "not_ready").exit(),
            Exit::Unreachable
        );
        assert_eq!(
            api(StatusCode::UNAUTHORIZED, "unauthorized").exit(),
            Exit::Rejected
        );
        assert_eq!(api(StatusCode::CONFLICT, "contention").exit(), Exit::Rejected);
        assert_eq!(CliError::usage("x").exit().code(), 2);
    }

    #[test]
    fn not_found_means_the_api_code_not_a_missing_route() {
        assert!(api(StatusCode::NOT_FOUND, "not_found").is_not_found());
        assert!(!api(StatusCode::NOT_FOUND, "http_404").is_not_found());
    }

    #[test]
    fn secrets_never_format() {
        use secrecy::ExposeSecret as _;
        let secret = parse_secret("hunter2").unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(secret.expose_secret(), "hunter2");
    }
}
