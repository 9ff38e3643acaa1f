//! Prometheus metrics: the recorder, request metrics, and names.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The metric names.
pub mod names {
    /// Counter: HTTP requests by `route`, `method`, `status`.
    pub const HTTP_REQUESTS_TOTAL: &str = "veto_http_requests_total";
    /// Gauge: HTTP connections open.
    pub const HTTP_CONNECTIONS_OPEN: &str = "veto_http_connections_open";
    /// Counter: connections closed to make room for new ones, by `reason` (`limit`: the
    /// connection cap; `files`: the process ran out of files).
    pub const HTTP_CONNECTIONS_SHED_TOTAL: &str = "veto_http_connections_shed_total";
    /// Histogram: HTTP request duration by `route`.
    pub const HTTP_REQUEST_DURATION_SECONDS: &str = "veto_http_request_duration_seconds";
    /// Histogram: publish to acknowledgement.
    pub const PUBLISH_DURATION_SECONDS: &str = "veto_publish_duration_seconds";
    /// Counter: failed writes by `reason` (`disconnected`, `timeout`, `publish`, `read`).
    pub const PUBLISH_ERRORS_TOTAL: &str = "veto_publish_errors_total";
    /// Counter: compare-and-set conflicts (another writer changed the key).
    pub const PUBLISH_CONFLICTS_TOTAL: &str = "veto_publish_conflicts_total";
    /// Gauge: live rules by `kind`, as this daemon's replica holds them.
    pub const RULES_LIVE: &str = "veto_rules_live";
    /// Counter: keys published again because something else sat on their subject, by
    /// `what` (`rule`, `lift`).
    pub const REPAIRS_TOTAL: &str = "veto_repairs_total";
    /// Gauge: bytes of the newest snapshot written.
    pub const SNAPSHOT_BYTES: &str = "veto_snapshot_bytes";
    /// Gauge: the stream sequence of the newest snapshot written.
    pub const SNAPSHOT_SEQUENCE: &str = "veto_snapshot_sequence";
    /// Counter: snapshots written.
    pub const SNAPSHOTS_WRITTEN_TOTAL: &str = "veto_snapshots_written_total";
    /// Counter: mutations by `action` (`revoke`, `lift`) and `outcome`.
    pub const MUTATIONS_TOTAL: &str = "veto_mutations_total";
    /// Counter: events received from identity providers by `receiver`
    /// (`backchannel_logout`, `ssf`), `provider` (its configured name), `event`
    /// (`backchannel_logout`, `session_revoked`, `credential_change`, `account_disabled`,
    /// `account_purged`, `sessions_revoked`, `verification`, `other`) and `effect`
    /// (`revoked`, `already_covered`, `ignored`, `unsupported_subject`, `stale`).
    pub const IDP_EVENTS_TOTAL: &str = "veto_idp_events_total";
    /// Counter: identity-provider tokens refused or not stored, by `receiver` and
    /// `reason` (`unknown_issuer`, `bad_signature`, `replayed`, `nonce_present`, …,
    /// `keys_unavailable`, `not_stored`, `in_flight`).
    pub const IDP_REFUSED_TOTAL: &str = "veto_idp_refused_total";
    /// Counter: token ids dropped from a full replay cache before their expiry.
    pub const IDP_REPLAY_EVICTIONS_TOTAL: &str = "veto_idp_replay_evictions_total";
    /// Counter: tokens handed to `/oauth2/revoke` by `outcome`: `revoked`, or why
    /// nothing was: `no_jti`, `lifetime_too_long`, `expired`, `unusable_jti` (valid
    /// tokens no `jti` rule can cover), `not_accepted` (not a token of the `[oauth]`
    /// issuers), `keys_unavailable` (answered 503).
    pub const OAUTH_REVOCATIONS_TOTAL: &str = "veto_oauth_revocations_total";
    /// Gauge: live service instances (those reporting presence) by `state` (`fresh`,
    /// `lagging`, `stale`, `not_ready`).
    pub const FLEET_INSTANCES: &str = "veto_fleet_instances";
    /// Gauge: the largest number of stream sequences any live instance is behind.
    pub const FLEET_MAX_LAG_SEQUENCES: &str = "veto_fleet_max_lag_sequences";
    /// Counter: presence reports taken.
    pub const FLEET_REPORTS_TOTAL: &str = "veto_fleet_reports_total";
    /// Counter: presence reports ignored, by `reason` (`malformed`, `unsupported_version`,
    /// `subject_mismatch`, `invalid_name`, `invalid_version`, `too_large`,
    /// `not_presence_subject`).
    pub const FLEET_REPORTS_REJECTED_TOTAL: &str = "veto_fleet_reports_rejected_total";
    /// Counter: writes that waited for the fleet, by `outcome` (`complete`, `timed_out`).
    pub const FLEET_RECEIPTS_TOTAL: &str = "veto_fleet_receipts_total";
    /// Histogram: how long writes waited for the fleet.
    pub const FLEET_RECEIPT_WAIT_SECONDS: &str = "veto_fleet_receipt_wait_seconds";
}

/// The process-wide Prometheus recorder (installed once; every daemon in the process,
/// and the client library inside it, report to it).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &buckets)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed (an embedding program's); then
            // that one collects, and /metrics shows what this handle has.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Records every request. Every label comes from a fixed set, because a label value
/// taken from a request (read before authentication) would let anyone create series
/// forever: the route is the matched template (never the raw path: values are in paths)
/// or `unmatched`, the method one of [`method_label`]'s, the status the daemon's own.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(names::HTTP_REQUESTS_TOTAL, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(names::HTTP_REQUEST_DURATION_SECONDS, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The method as a metric label: the standard methods by name, any other (hyper takes
/// any token as a method) as `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}
