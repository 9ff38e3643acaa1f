//! The fleet: every service instance whose list reports presence, as one daemon sees
//! it (`GET /v1/fleet`), and the receipt a write answers with when asked to wait for
//! the fleet (`?wait=fleet&timeout=2s`, or `?wait=service:<name>`).
//!
//! Presence is advisory (see `veto_proto::presence`): these answers say who has
//! applied what, never whether a token is revoked.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use veto_proto::presence::validate_name;
use veto_proto::{BloomReport, Freshness};

/// How a daemon sees one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Reports fresh, and has applied what the stream held a moment ago.
    Fresh,
    /// Has not applied a sequence the stream stored longer ago than the daemon's
    /// `fleet.lagging_after` (cut off, paused, overloaded), or has gone silent.
    Lagging,
    /// Reports stale: no daemon tick applied within its `max_staleness`.
    Stale,
    /// Reports still loading the list.
    NotReady,
}

impl InstanceState {
    /// Every state, in the order tables show them.
    pub const EVERY: [InstanceState; 4] = [
        InstanceState::Fresh,
        InstanceState::Lagging,
        InstanceState::Stale,
        InstanceState::NotReady,
    ];

    /// The name on the wire and in metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            InstanceState::Fresh => "fresh",
            InstanceState::Lagging => "lagging",
            InstanceState::Stale => "stale",
            InstanceState::NotReady => "not_ready",
        }
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Instances by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StateCounts {
    /// Fresh and caught up.
    pub fresh: u64,
    /// Behind the stream, or silent.
    pub lagging: u64,
    /// Stale by their own account.
    pub stale: u64,
    /// Still loading.
    pub not_ready: u64,
}

impl StateCounts {
    /// The count for `state`.
    pub fn get(&self, state: InstanceState) -> u64 {
        match state {
            InstanceState::Fresh => self.fresh,
            InstanceState::Lagging => self.lagging,
            InstanceState::Stale => self.stale,
            InstanceState::NotReady => self.not_ready,
        }
    }

    /// Counts one more instance in `state`.
    pub fn add(&mut self, state: InstanceState) {
        match state {
            InstanceState::Fresh => self.fresh += 1,
            InstanceState::Lagging => self.lagging += 1,
            InstanceState::Stale => self.stale += 1,
            InstanceState::NotReady => self.not_ready += 1,
        }
    }

    /// Every instance.
    pub fn total(&self) -> u64 {
        self.fresh + self.lagging + self.stale + self.not_ready
    }
}

/// One live instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceView {
    /// Its id within its service.
    pub instance: String,
    /// Its client library's version.
    pub version: String,
    /// The highest stream sequence it applied, as of its last report.
    pub applied_sequence: u64,
    /// How many sequences it is behind the stream's last.
    pub lag: u64,
    /// How the daemon sees it.
    pub state: InstanceState,
    /// How it judged its own freshness in its last report.
    pub freshness: Freshness,
    /// Milliseconds since the daemon clock of its newest tick, now (its last report's
    /// age plus the time since); absent before its first tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_age_ms: Option<u64>,
    /// Live rules it holds.
    pub rules: u64,
    /// Its bloom filter.
    pub bloom: BloomReport,
    /// Milliseconds since its last report arrived.
    pub last_seen_ms: u64,
    /// Its heartbeat, in milliseconds.
    pub heartbeat_ms: u64,
    /// When its list started (ms since the epoch).
    pub started_unix_ms: u64,
}

/// The live instances of one service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceFleet {
    /// The service.
    pub service: String,
    /// Its instances by state.
    pub by_state: StateCounts,
    /// The lowest sequence any of its instances applied.
    pub min_applied_sequence: u64,
    /// Its instances, by id.
    pub instances: Vec<InstanceView>,
}

/// `GET /v1/fleet`: every live instance, grouped by service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetResponse {
    /// The stream's last sequence: what JetStream answered, or, when it did not, the
    /// newest this daemon's replica applied.
    pub stream_last_sequence: u64,
    /// Live instances.
    pub instances: u64,
    /// Live instances by state.
    pub by_state: StateCounts,
    /// The largest lag of any instance, in sequences.
    pub max_lag: u64,
    /// Services, by name.
    pub services: Vec<ServiceFleet>,
}

/// What a write waits for: `fleet` (every live instance) or `service:<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WaitScope {
    /// Every live instance of every service.
    Fleet,
    /// Every live instance of one service.
    Service(String),
}

impl WaitScope {
    /// Whether an instance of `service` is in scope.
    pub fn includes(&self, service: &str) -> bool {
        match self {
            WaitScope::Fleet => true,
            WaitScope::Service(name) => name == service,
        }
    }
}

impl fmt::Display for WaitScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitScope::Fleet => f.write_str("fleet"),
            WaitScope::Service(name) => write!(f, "service:{name}"),
        }
    }
}

/// A `wait` value that is not `fleet` nor `service:<name>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "wait is `fleet` or `service:<name>` (a service name of 1 to 64 letters, digits, '-' or '_'), not {0:?}"
)]
pub struct InvalidWait(pub String);

impl FromStr for WaitScope {
    type Err = InvalidWait;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "fleet" {
            return Ok(WaitScope::Fleet);
        }
        match text.strip_prefix("service:") {
            Some(name) if validate_name("service", name).is_ok() => Ok(WaitScope::Service(name.to_owned())),
            _ => Err(InvalidWait(text.chars().take(80).collect())),
        }
    }
}

/// The query of the writes that can wait: `?wait=fleet&timeout=2s`.
///
/// Unlike the other queries it takes unknown parameters silently: `POST`s took any
/// query before `wait` existed, and a write must not start failing for that.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct WaitQuery {
    /// `fleet` or `service:<name>`: answer once every live instance (of that service)
    /// has applied the write, or the timeout passed. Absent: answer once it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// How long to wait, such as `2s` or `500ms` (with `wait`; default 2 s, at most the
    /// daemon's `fleet.max_wait`). The write is stored either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// What a write asks to wait for, read from a [`WaitQuery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// Who must have applied the write.
    pub scope: WaitScope,
    /// How long to wait at most.
    pub timeout: Duration,
}

impl Wait {
    /// The default timeout when `wait` is given without one.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// A wait for `scope`, up to `timeout`.
    pub fn new(scope: WaitScope, timeout: Duration) -> Wait {
        Wait { scope, timeout }
    }

    /// The query that asks for this wait.
    pub fn query(&self) -> WaitQuery {
        WaitQuery {
            wait: Some(self.scope.to_string()),
            timeout: Some(format_timeout(self.timeout)),
        }
    }
}

/// Why a [`WaitQuery`] is not one the API takes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitQueryError {
    /// `wait` is neither `fleet` nor `service:<name>`.
    #[error(transparent)]
    Scope(#[from] InvalidWait),
    /// `timeout` without `wait`.
    #[error("timeout applies only with wait=fleet or wait=service:<name>")]
    TimeoutWithoutWait,
    /// `timeout` is not a duration.
    #[error("timeout is a duration such as 2s or 500ms, not {0:?}")]
    InvalidTimeout(String),
    /// `timeout` is zero or over the daemon's maximum.
    #[error("timeout must be more than 0 and at most {max:?}")]
    TimeoutOutOfRange {
        /// The daemon's `fleet.max_wait`.
        max: Duration,
    },
}

impl WaitQuery {
    /// The wait this query asks for (`None`: no wait), with timeouts up to `max`.
    pub fn wait(&self, max: Duration) -> Result<Option<Wait>, WaitQueryError> {
        let Some(scope) = &self.wait else {
            return match self.timeout {
                Some(_) => Err(WaitQueryError::TimeoutWithoutWait),
                None => Ok(None),
            };
        };
        let scope: WaitScope = scope.parse()?;
        let timeout = match &self.timeout {
            None => Wait::DEFAULT_TIMEOUT.min(max),
            Some(text) => humantime::parse_duration(text.trim())
                .map_err(|_| WaitQueryError::InvalidTimeout(text.chars().take(40).collect()))?,
        };
        if timeout.is_zero() || timeout > max {
            return Err(WaitQueryError::TimeoutOutOfRange { max });
        }
        Ok(Some(Wait { scope, timeout }))
    }
}

/// A duration as `timeout` takes it: whole milliseconds (`1500ms`).
pub fn format_timeout(timeout: Duration) -> String {
    format!("{}ms", timeout.as_millis().max(1))
}

/// An instance that had not applied a write when its wait timed out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Laggard {
    /// Its service.
    pub service: String,
    /// Its id.
    pub instance: String,
    /// The highest sequence it had applied, as of its last report.
    pub applied_sequence: u64,
    /// How the daemon sees it.
    pub state: InstanceState,
    /// How it judged its own freshness in its last report.
    pub freshness: Freshness,
    /// Milliseconds since the daemon clock of its newest tick, now; absent before its
    /// first tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_age_ms: Option<u64>,
    /// Milliseconds since its last report arrived.
    pub last_seen_ms: u64,
}

/// The receipt of a write that waited: how many of the live instances in scope have
/// applied it. Present only when the request asked to wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedBy {
    /// What was waited for: `fleet` or `service:<name>`.
    pub scope: String,
    /// The stream sequence waited for (a batch: its highest).
    pub sequence: u64,
    /// Instances that have applied it.
    pub instances: u64,
    /// Instances in scope that were live when the write was stored (and still are).
    pub of: u64,
    /// Whether all of them applied it before the timeout.
    pub complete: bool,
    /// How long the daemon waited, in milliseconds.
    pub waited_ms: u64,
    /// Those that had not, when the wait timed out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub laggards: Vec<Laggard>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_back() {
        for text in ["fleet", "service:orders", "service:billing_api-2"] {
            assert_eq!(text.parse::<WaitScope>().unwrap().to_string(), text);
        }
        for bad in ["", "all", "service:", "service:a.b", "service:*", "Fleet"] {
            assert!(bad.parse::<WaitScope>().is_err(), "{bad:?}");
        }
        assert!(WaitScope::Service("orders".into()).includes("orders"));
        assert!(!WaitScope::Service("orders".into()).includes("billing"));
        assert!(WaitScope::Fleet.includes("billing"));
    }

    #[test]
    fn wait_queries_are_checked() {
        let max = Duration::from_secs(10);
        let query = |wait: Option<&str>, timeout: Option<&str>| WaitQuery {
            wait: wait.map(str::to_owned),
            timeout: timeout.map(str::to_owned),
        };
        assert_eq!(query(None, None).wait(max), Ok(None));
        assert_eq!(
            query(Some("fleet"), Some("2s")).wait(max),
            Ok(Some(Wait::new(WaitScope::Fleet, Duration::from_secs(2))))
        );
        assert_eq!(
            query(Some("service:orders"), None)
                .wait(max)
                .unwrap()
                .unwrap()
                .timeout,
            Wait::DEFAULT_TIMEOUT
        );
        assert_eq!(
            query(Some("fleet"), Some("500ms"))
                .wait(max)
                .unwrap()
                .unwrap()
                .timeout,
            Duration::from_millis(500)
        );
        assert_eq!(
            query(None, Some("2s")).wait(max),
            Err(WaitQueryError::TimeoutWithoutWait)
        );
        assert!(matches!(
            query(Some("fleet"), Some("soon")).wait(max),
            Err(WaitQueryError::InvalidTimeout(_))
        ));
        for out_of_range in ["0s", "11s"] {
            assert_eq!(
                query(Some("fleet"), Some(out_of_range)).wait(max),
                Err(WaitQueryError::TimeoutOutOfRange { max })
            );
        }
        assert!(matches!(
            query(Some("everyone"), None).wait(max),
            Err(WaitQueryError::Scope(_))
        ));
        let wait = Wait::new(WaitScope::Service("orders".into()), Duration::from_millis(1500));
        assert_eq!(wait.query().wait(max), Ok(Some(wait)));
    }
}
