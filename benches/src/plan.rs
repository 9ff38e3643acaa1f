//! How much each figure measures, in quick and full mode.

/// The sizes and repetitions of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `--quick`: a smoke run (under 2 minutes) that skips the largest sizes.
    pub quick: bool,
    /// Rule counts for the check latency figure.
    pub check_rule_counts: Vec<u64>,
    /// Timed batches per latency figure (the median is reported).
    pub timed_batches: usize,
    /// Checks per thread in the throughput figure, over all its rounds.
    pub throughput_checks_per_thread: usize,
    /// ES256 verifications per timed batch.
    pub verifications_per_batch: usize,
    /// Redis `EXISTS` round trips timed.
    pub redis_requests: usize,
    /// Rule counts for the bootstrap figure (the target applies to the largest).
    pub bootstrap_rule_counts: Vec<u64>,
    /// Replays of each kind per size (the fastest is reported).
    pub bootstrap_rounds: usize,
    /// Clients following the stream in the propagation figure.
    pub propagation_clients: usize,
    /// Timed revocations in the propagation figure (each also times one raw publish).
    pub propagation_rounds: usize,
    /// Fleet sizes of the fleet figure (lists and core subscribers).
    pub fleet_clients: Vec<usize>,
    /// Timed rounds per fleet size.
    pub fleet_rounds: usize,
    /// The quiet spell over which idle server CPU is read.
    pub fleet_idle_seconds: u64,
    /// Lists started together in the cold start.
    pub cold_start_clients: usize,
    /// Consumers of the replay design measured next to it (bytes are per client).
    pub replay_design_clients: usize,
    /// Timed rounds of the receipts figure (each one receipt and one propagation, to
    /// [`Plan::propagation_clients`] reporting clients).
    pub receipt_rounds: usize,
    /// Timed batches of [`INGEST_BATCH_ITEMS`] rules in the batch ingest figure.
    pub ingest_batches: usize,
    /// Timed single `POST /v1/revocations` in the single-request ingest figure.
    pub ingest_single_requests: usize,
}

/// Rules per batch request in the ingest figure (the API's maximum).
pub const INGEST_BATCH_ITEMS: usize = 1_000;

/// The rule count at which the check and memory targets are stated.
pub const TARGET_RULES: u64 = 1_000_000;

impl Plan {
    /// The plan for `--quick` (`quick = true`) or the full run.
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                check_rule_counts: vec![10_000, TARGET_RULES],
                timed_batches: 15,
                throughput_checks_per_thread: 5_000_000,
                verifications_per_batch: 100,
                redis_requests: 5_000,
                bootstrap_rule_counts: vec![100_000],
                bootstrap_rounds: 2,
                propagation_clients: 100,
                propagation_rounds: 50,
                fleet_clients: vec![100],
                fleet_rounds: 50,
                fleet_idle_seconds: 5,
                cold_start_clients: 100,
                replay_design_clients: 100,
                receipt_rounds: 50,
                ingest_batches: 12,
                ingest_single_requests: 2_000,
            }
        } else {
            Plan {
                quick,
                check_rule_counts: vec![10_000, TARGET_RULES, 10_000_000],
                timed_batches: 31,
                throughput_checks_per_thread: 20_000_000,
                verifications_per_batch: 200,
                redis_requests: 20_000,
                bootstrap_rule_counts: vec![100_000, TARGET_RULES],
                bootstrap_rounds: 3,
                propagation_clients: 100,
                propagation_rounds: 200,
                fleet_clients: vec![100, 1_000],
                fleet_rounds: 300,
                fleet_idle_seconds: 20,
                cold_start_clients: 1_000,
                replay_design_clients: 200,
                receipt_rounds: 200,
                ingest_batches: 40,
                ingest_single_requests: 10_000,
            }
        }
    }
}
