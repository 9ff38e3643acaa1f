//! Health, readiness, and the machine-readable status of one daemon.

use serde::{Deserialize, Serialize};

/// `GET /healthz` and `GET /readyz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` (healthz), `ready` or `not_ready` (readyz).
    pub status: String,
    /// What is missing, when not ready: `nats_disconnected`, `stream_not_acknowledging`,
    /// `list_loading`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl Health {
    /// Whether the daemon said it is ready (or, for healthz, up).
    pub fn is_ready(&self) -> bool {
        self.status == "ready" || self.status == "ok"
    }
}

/// Live rules by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesByKind {
    /// `jti` rules.
    pub jti: u64,
    /// `sub` rules.
    pub sub: u64,
    /// `sid` rules.
    pub sid: u64,
    /// `all` rules.
    pub all: u64,
}

impl RulesByKind {
    /// Every live rule.
    pub fn total(&self) -> u64 {
        self.jti + self.sub + self.sid + self.all
    }
}

/// The daemon's replica of the list: what services see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListStatus {
    /// Whether the replica has loaded the stream.
    pub ready: bool,
    /// Whether no daemon tick was applied within the staleness bound.
    pub stale: bool,
    /// Milliseconds since the daemon clock of the newest tick applied; absent before
    /// the first.
    #[serde(default)]
    pub freshness_age_ms: Option<u64>,
    /// The highest stream sequence applied.
    pub applied_sequence: u64,
    /// Live rules by kind.
    pub live: RulesByKind,
}

/// The stream as JetStream reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamStatus {
    /// The stream's name.
    pub name: String,
    /// The sequence of its newest message; absent when NATS did not answer.
    #[serde(default)]
    pub last_sequence: Option<u64>,
    /// Messages held (the latest per key, plus ticks); absent when NATS did not answer.
    #[serde(default)]
    pub messages: Option<u64>,
}

/// `GET /v1/status`: one daemon, machine-readable (the same facts as `/metrics`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DaemonStatus {
    /// The daemon's id (in ticks and logs).
    pub daemon_id: String,
    /// The daemon's version.
    pub version: String,
    /// Readiness, as `/readyz` answers it.
    pub readiness: Health,
    /// The daemon's replica of the list.
    pub list: ListStatus,
    /// The stream.
    pub stream: StreamStatus,
}
