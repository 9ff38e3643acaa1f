//! The list as a service sees it: a veto-client replica loaded straight from NATS, and
//! the stream's own state, for `check` and `status`.

use std::time::{Duration, SystemTime};

use async_nats::ConnectErrorKind;
use tokio::time::{Instant, timeout};
use veto_client::{ListConfig, RevocationList, VerificationKeys};

use crate::error::{CliError, with_causes};

/// How long to wait for a first daemon tick once the list is loaded. Daemons tick every
/// second, so this tells "just loaded" from "no daemon is ticking".
pub const FIRST_TICK_GRACE: Duration = Duration::from_millis(2_500);

/// Connects to NATS, within `limit`.
pub async fn connect(url: &str, limit: Duration) -> Result<async_nats::Client, CliError> {
    let connecting = async_nats::ConnectOptions::new()
        .connection_timeout(limit)
        .connect(url);
    match timeout(limit, connecting).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(error)) => Err(match error.kind() {
            ConnectErrorKind::ServerParse => CliError::usage(format!("--nats-url: {}", with_causes(&error))),
            ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                CliError::NatsRefused(with_causes(&error))
            }
            _ => CliError::Unreachable {
                what: "NATS".to_owned(),
                detail: with_causes(&error),
            },
        }),
        Err(_) => Err(CliError::Unreachable {
            what: "NATS".to_owned(),
            detail: format!("no connection within {}", humantime::format_duration(limit)),
        }),
    }
}

/// Starts a replica of the list in `stream` and waits, within `limit`, until it has
/// applied everything that was in the stream when it started.
pub async fn load_list(
    client: async_nats::Client,
    stream: &str,
    keys: Option<VerificationKeys>,
    limit: Duration,
) -> Result<RevocationList, CliError> {
    let config = ListConfig::default().stream_name(stream);
    let config = match keys {
        Some(keys) => config.signed_by(keys),
        None => config,
    };
    let list = RevocationList::start(client, config)
        .map_err(|error| CliError::usage(format!("--stream: {error}")))?;
    // The replica retries a missing stream forever (a service must survive a NATS
    // restart); a command must not, so the wait is bounded here.
    timeout(limit, list.ready())
        .await
        .map_err(|_| CliError::Unreachable {
            what: format!("the revocation list in stream {stream:?}"),
            detail: format!(
                "not loaded within {} (does the stream exist? is JetStream enabled?)",
                humantime::format_duration(limit)
            ),
        })?;
    Ok(list)
}

/// The list's freshness: the daemon clock of the newest tick applied, waiting up to
/// `grace` for a first one.
pub async fn freshness(list: &RevocationList, grace: Duration) -> Option<SystemTime> {
    let deadline = Instant::now() + grace;
    loop {
        if let Some(at) = list.freshness() {
            return Some(at);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stream's state as JetStream reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamState {
    /// The sequence of the newest message.
    pub last_sequence: u64,
    /// Messages held (the latest per key, plus the tick).
    pub messages: u64,
}

/// JetStream's stream info for `stream`, within `limit`.
pub async fn stream_state(
    client: async_nats::Client,
    stream: &str,
    limit: Duration,
) -> Result<StreamState, CliError> {
    let js = async_nats::jetstream::new(client);
    match timeout(limit, js.get_stream(stream)).await {
        Ok(Ok(found)) => {
            let state = &found.cached_info().state;
            Ok(StreamState {
                last_sequence: state.last_sequence,
                messages: state.messages,
            })
        }
        Ok(Err(error)) => Err(CliError::Unreachable {
            what: format!("stream {stream:?}"),
            detail: with_causes(&error),
        }),
        Err(_) => Err(CliError::Unreachable {
            what: format!("stream {stream:?}"),
            detail: format!("no stream info within {}", humantime::format_duration(limit)),
        }),
    }
}
