//! The metrics the client library emits through the `metrics` facade. Install any
//! recorder (Prometheus, StatsD, …) to collect them.

/// The metric names.
pub mod names {

    /// Gauge: live rules in memory, by `kind`.
    pub const RULES_LIVE: &str = "veto_client_rules_live";
    /// Counter: checks by `verdict` (`allowed`, `revoked`, `not_ready`, `stale_rejected`, `stale_open`).
    pub const CHECKS_TOTAL: &str = "veto_client_checks_total";
    /// Histogram: seconds from the stream storing an event to this client applying it.
    pub const APPLY_LAG_SECONDS: &str = "veto_client_apply_lag_seconds";
    /// Gauge: seconds since the newest applied daemon tick.
    pub const FRESHNESS_AGE_SECONDS: &str = "veto_client_freshness_age_seconds";
    /// Gauge: 1 while stale.
    pub const STALE: &str = "veto_client_stale";
    /// Gauge: 1 once ready.
    pub const READY: &str = "veto_client_ready";
    /// Counter: times the stream went back (restored, recreated) and the list reloaded.
    pub const STREAM_RESETS_TOTAL: &str = "veto_client_stream_resets_total";
    /// Counter: snapshots refused, by `reason` (unsigned, forged, truncated, older_than_the_stream, …).
    pub const SNAPSHOTS_REFUSED_TOTAL: &str = "veto_client_snapshots_refused_total";
    /// Counter: bloom filter rebuilds.
    pub const BLOOM_REBUILDS_TOTAL: &str = "veto_client_bloom_rebuilds_total";
    /// Gauge: keys in the bloom filter whose rule is gone.
    pub const BLOOM_DEAD_KEYS: &str = "veto_client_bloom_dead_keys";
    /// Counter: events signed and valid, but out of place (an old lift or weaker rule
    /// replayed): they changed nothing.
    pub const EVENTS_REPLAYED_TOTAL: &str = "veto_client_events_replayed_total";
    /// Counter: events ignored, by `reason` (malformed, invalid, subject_mismatch, …).
    pub const EVENTS_REJECTED_TOTAL: &str = "veto_client_events_rejected_total";
}
