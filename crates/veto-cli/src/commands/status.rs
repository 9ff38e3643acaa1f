//! `veto status`: the daemon's health, readiness and live rules; with NATS, the
//! stream's last sequence and the freshness a fresh client replica reaches.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::api::{AdminClient, Readiness};
use crate::cli::Connection;
use crate::error::{CliError, Exit};
use crate::output::Report;
use crate::replica::{self, FIRST_TICK_GRACE, StreamState};
use crate::times::{age, describe_precise, unix_ms};

/// The Prometheus gauge of live rules by kind.
const RULES_LIVE_GAUGE: &str = "veto_rules_live";

/// Live rules by kind from Prometheus text: the `veto_rules_live{kind="…"}` samples.
pub fn rules_live(metrics: &str) -> BTreeMap<String, u64> {
    let mut live = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(RULES_LIVE_GAUGE) else {
            continue;
        };
        let Some((labels, value)) = rest.strip_prefix('{').and_then(|rest| rest.split_once('}')) else {
            continue;
        };
        let kind = labels
            .split(',')
            .find_map(|label| label.trim().strip_prefix("kind=\""))
            .and_then(|quoted| quoted.strip_suffix('"'));
        // Gauges render as floats ("3" or "3.0"); a count is whole.
        let count = value
            .split_whitespace()
            .next()
            .and_then(|value| value.parse::<f64>().ok());
        if let (Some(kind), Some(count)) = (kind, count) {
            live.insert(kind.to_owned(), count.max(0.0) as u64);
        }
    }
    live
}

/// What the daemon said, part by part (one part failing does not hide the others).
struct DaemonStatus {
    healthz: Result<Value, CliError>,
    readyz: Result<Readiness, CliError>,
    rules_live: Result<BTreeMap<String, u64>, CliError>,
}

/// What NATS said, once connected.
struct StreamStatus {
    state: Result<StreamState, CliError>,
    /// The freshness a new replica reached (`Ok(None)`: loaded, but no tick yet).
    freshness: Result<Option<SystemTime>, CliError>,
}

async fn daemon_status(api: &AdminClient) -> DaemonStatus {
    let (healthz, readyz, metrics) = tokio::join!(api.healthz(), api.readyz(), api.metrics());
    DaemonStatus {
        healthz,
        readyz,
        rules_live: metrics.map(|text| rules_live(&text)),
    }
}

async fn stream_status(connection: &Connection, nats_url: &str) -> Result<StreamStatus, CliError> {
    let client = replica::connect(nats_url, connection.timeout).await?;
    let state = replica::stream_state(client.clone(), &connection.stream, connection.timeout).await;
    let freshness = match replica::load_list(client, &connection.stream, connection.timeout).await {
        Ok(list) => Ok(replica::freshness(&list, FIRST_TICK_GRACE.min(connection.timeout)).await),
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
        Ok(live) if live.is_empty() => "unknown (no veto_rules_live gauge in /metrics)".to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_rules_are_read_from_the_gauge_lines() {
        let text = "\
# TYPE veto_rules_live gauge
veto_rules_live{kind=\"jti\"} 3
veto_rules_live{kind=\"sub\"} 1.0
veto_rules_live_other{kind=\"sid\"} 9
veto_rules_live{daemon=\"a\",kind=\"all\"} 0
veto_http_requests_total{route=\"/x\"} 5
";
        let live = rules_live(text);
        assert_eq!(
            live.into_iter().collect::<Vec<_>>(),
            [
                ("all".to_owned(), 0),
                ("jti".to_owned(), 3),
                ("sub".to_owned(), 1)
            ]
        );
    }
}
