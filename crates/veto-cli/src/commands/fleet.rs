//! `veto fleet`: `GET /v1/fleet` as a table, one line per service instance that reports
//! presence: its state, what it applied and how far behind the stream that is, how
//! old its newest tick is, when it last reported.

use std::fmt::Write as _;

use veto_api::{AdminClient, FleetResponse, InstanceState};

use crate::error::CliError;
use crate::output::Report;

/// The table's columns.
const HEADINGS: [&str; 9] = [
    "SERVICE",
    "INSTANCE",
    "STATE",
    "APPLIED",
    "LAG",
    "TICK AGE",
    "LAST REPORT",
    "RULES",
    "VERSION",
];

/// `veto fleet`: the API's JSON, or a table. Exits 0 whatever the states (it is a view).
pub async fn run(api: &AdminClient) -> Result<Report, CliError> {
    let reply = api.fleet().await?;
    Ok(Report::ok(table(&reply.body), reply.json))
}

/// Milliseconds as seconds with one decimal (`0.3s`).
fn seconds(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// The summary line, then one aligned row per instance, by service then instance.
pub fn table(fleet: &FleetResponse) -> String {
    let states: Vec<String> = InstanceState::EVERY
        .into_iter()
        .map(|state| format!("{} {state}", fleet.by_state.get(state)))
        .collect();
    let mut text = format!(
        "{} instance{} of {} service{} ({}); stream last sequence {}, largest lag {}\n",
        fleet.instances,
        if fleet.instances == 1 { "" } else { "s" },
        fleet.services.len(),
        if fleet.services.len() == 1 { "" } else { "s" },
        states.join(", "),
        fleet.stream_last_sequence,
        fleet.max_lag,
    );
    if fleet.instances == 0 {
        text.push_str("no service instance reports presence (ListConfig::reporting_as)\n");
        return text;
    }
    let mut rows: Vec<[String; 9]> = vec![HEADINGS.map(str::to_owned)];
    for service in &fleet.services {
        for instance in &service.instances {
            rows.push([
                service.service.clone(),
                instance.instance.clone(),
                instance.state.to_string(),
                instance.applied_sequence.to_string(),
                instance.lag.to_string(),
                instance.tick_age_ms.map_or_else(|| "-".to_owned(), seconds),
                format!("{} ago", seconds(instance.last_seen_ms)),
                instance.rules.to_string(),
                // Printable ASCII (the daemon checks), Debug-escaped all the same.
                instance.version.escape_debug().to_string(),
            ]);
        }
    }
    let mut widths = [0usize; 9];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use veto_api::{InstanceView, ServiceFleet, StateCounts};
    use veto_proto::{BloomReport, Freshness};

    use super::*;

    #[test]
    fn the_table_has_a_summary_and_one_aligned_row_per_instance() {
        let view = |instance: &str, state, applied_sequence, lag| InstanceView {
            instance: instance.into(),
            version: "0.1.0".into(),
            applied_sequence,
            lag,
            state,
            freshness: Freshness::Fresh,
            tick_age_ms: Some(1234),
            rules: 7,
            bloom: BloomReport::default(),
            last_seen_ms: 250,
            heartbeat_ms: 5000,
            started_unix_ms: 1,
        };
        let mut by_state = StateCounts::default();
        by_state.add(InstanceState::Fresh);
        by_state.add(InstanceState::Lagging);
        let fleet = FleetResponse {
            stream_last_sequence: 42,
            instances: 2,
            by_state,
            max_lag: 12,
            services: vec![ServiceFleet {
                service: "orders".into(),
                by_state,
                min_applied_sequence: 30,
                instances: vec![
                    view("orders-1", InstanceState::Fresh, 42, 0),
                    view("orders-2", InstanceState::Lagging, 30, 12),
                ],
            }],
        };
        let text = table(&fleet);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "2 instances of 1 service (1 fresh, 1 lagging, 0 stale, 0 not_ready); stream last sequence 42, largest lag 12"
        );
        assert!(
            lines[1].starts_with("SERVICE  INSTANCE  STATE    APPLIED  LAG"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("orders   orders-2  lagging  30       12   1.2s"),
            "{text}"
        );
        assert!(lines[3].contains("0.2s ago"), "{text}");
        let empty = FleetResponse {
            instances: 0,
            by_state: StateCounts::default(),
            max_lag: 0,
            services: Vec::new(),
            stream_last_sequence: 1,
        };
        assert!(table(&empty).contains("no service instance reports presence"));
    }
}
