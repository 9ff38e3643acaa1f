//! `veto status`: the daemon's health, readiness and live rules; with NATS, the
//! stream's last sequence and the freshness a fresh client replica reaches.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::cli::Connection;
use crate::error::{CliError, Exit};
use crate::nats::{self, FIRST_TICK_GRACE, StreamState};
use crate::output::Report;
use crate::times::{age, describe_precise, unix_ms};
use veto_api::{AdminClient, Health, RulesByKind};

/// What the daemon said, part by part (one part failing does not hide the others).
struct DaemonStatus {
    healthz: Result<Value, CliError>,
    readyz: Result<Health, CliError>,
    rules_live: Result<BTreeMap<String, u64>, CliError>,
}

/// What NATS said, once connected.
struct StreamStatus {
    state: Result<StreamState, CliError>,
    /// The freshness a new replica reached (`Ok(None)`: loaded, but no tick yet).
    freshness: Result<Option<SystemTime>, CliError>,
}

async fn daemon_status(api: &AdminClient) -> DaemonStatus {
    let (healthz, readyz, status) = tokio::join!(api.healthz(), api.readyz(), api.status());
    DaemonStatus {
        healthz: healthz.map(|reply| reply.json).map_err(CliError::from),
        readyz: readyz.map(|reply| reply.body).map_err(CliError::from),
        rules_live: status
            .map(|reply| rules_by_kind(&reply.body.list.live))
            .map_err(CliError::from),
    }
}

/// Live rules by kind, as `/v1/status` reports them.
fn rules_by_kind(live: &RulesByKind) -> BTreeMap<String, u64> {
    [
        ("jti", live.jti),
        ("sub", live.sub),
        ("sid", live.sid),
        ("all", live.all),
    ]
    .into_iter()
    .map(|(kind, count)| (kind.to_owned(), count))
    .collect()
}

async fn stream_status(connection: &Connection, nats_url: &str) -> Result<StreamStatus, CliError> {
    let client = nats::connect(nats_url, connection.timeout).await?;
    let state = nats::stream_state(client.clone(), &connection.stream, connection.timeout).await;
    let freshness = match nats::load_list(client, &connection.stream, None, connection.timeout).await {
        Ok(list) => Ok(nats::freshness(&list, FIRST_TICK_GRACE.min(connection.timeout)).await),
        Err(error) => Err(error),
    };
    Ok(StreamStatus { state, freshness })
}

/// `veto status`. Exits 0 when everything asked about is up and ready, else with the
/// code of the first problem (3 when the daemon answers but is not ready).
pub async fn run(api: &AdminClient, connection: &Connection) -> Result<Report, CliError> {
    let (daemon, stream) = tokio::join!(daemon_status(api), async {
        match connection.nats_url.as_deref() {
            Some(url) => Some(stream_status(connection, url).await),
            None => None,
        }
    });
    Ok(report(
        api,
        connection,
        &daemon,
        stream.as_ref(),
        SystemTime::now(),
    ))
}

/// Problems met while reporting: the exit code of each, and its message.
#[derive(Default)]
struct Problems(Vec<(Exit, String)>);

impl Problems {
    /// Records `error` and returns the text that stands in for the missing answer.
    fn note(&mut self, error: &CliError) -> String {
        self.0.push((error.exit(), error.to_string()));
        format!("error: {error}")
    }
}

fn report(
    api: &AdminClient,
    connection: &Connection,
    daemon: &DaemonStatus,
    stream: Option<&Result<StreamStatus, CliError>>,
    now: SystemTime,
) -> Report {
    let mut problems = Problems::default();
    let mut human = format!("daemon  {}\n", api.base_url());
    let health = match &daemon.healthz {
        Ok(body) => body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("ok")
            .to_owned(),
        Err(error) => problems.note(error),
    };
    let _ = writeln!(human, "  health      {health}");
    // When the daemon cannot be reached at all, say so once, not three times.
    let daemon_down = matches!(daemon.healthz, Err(CliError::Unreachable { .. }));
    let readiness = match &daemon.readyz {
        Err(CliError::Unreachable { .. }) if daemon_down => "unknown (see health)".to_owned(),
        Ok(ready) if ready.reasons.is_empty() => ready.status.clone(),
        Ok(ready) => format!("{} ({})", ready.status, ready.reasons.join(", ")),
        Err(error) => problems.note(error),
    };
    let _ = writeln!(human, "  readiness   {readiness}");
    let rules = match &daemon.rules_live {
        Err(CliError::Unreachable { .. }) if daemon_down => "unknown (see health)".to_owned(),
        Ok(live) => live
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect::<Vec<_>>()
            .join(", "),
        Err(error) => problems.note(error),
    };
    let _ = writeln!(human, "  live rules  {rules}");

    let mut stream_json = json!({ "name": connection.stream, "checked": stream.is_some() });
    match stream {
        None => human.push_str("stream  not checked (set --nats-url or VETO_NATS_URL)\n"),
        Some(Err(error)) => {
            let _ = writeln!(human, "stream  {}\n  {}", connection.stream, problems.note(error));
        }
        Some(Ok(stream)) => {
            let _ = writeln!(human, "stream  {}", connection.stream);
            let state = match &stream.state {
                Ok(state) => {
                    stream_json["last_sequence"] = json!(state.last_sequence);
                    stream_json["messages"] = json!(state.messages);
                    format!("{} ({} messages)", state.last_sequence, state.messages)
                }
                Err(error) => problems.note(error),
            };
            let _ = writeln!(human, "  last sequence  {state}");
            let freshness = match &stream.freshness {
                Ok(Some(at)) => {
                    stream_json["freshness"] = json!({
                        "at_unix_ms": unix_ms(*at),
                        "age_ms": u64::try_from(age(*at, now).as_millis()).unwrap_or(u64::MAX),
                    });
                    format!("{}, as a client replica sees it", describe_precise(*at, now))
                }
                Ok(None) => "unknown: no daemon tick applied (is a daemon running?)".to_owned(),
                Err(error) => problems.note(error),
            };
            let _ = writeln!(human, "  freshness      {freshness}");
        }
    }

    let ready = matches!(&daemon.readyz, Ok(ready) if ready.status == "ready");
    let exit = problems
        .0
        .first()
        .map_or(if ready { Exit::Ok } else { Exit::Unreachable }, |(exit, _)| {
            *exit
        });
    let json = json!({
        "ok": exit == Exit::Ok,
        "daemon": {
            "url": api.base_url(),
            "healthz": daemon.healthz.as_ref().ok(),
            "readyz": daemon.readyz.as_ref().ok(),
            "rules_live": daemon.rules_live.as_ref().ok(),
        },
        "stream": stream_json,
        "errors": problems.0.iter().map(|(_, message)| message.as_str()).collect::<Vec<_>>(),
    });
    Report { human, json, exit }
}
