//! Figure 1: how long a check takes, next to the floor of a bare hash set.
//!
//! A `Replica` holds only `jti` rules (unique UUID-like values). The Allowed path
//! checks tokens that carry `jti`, `sub`, `sid` and `iss` and match nothing: three
//! claims hashed, three bloom probes, no digest. The Revoked path checks tokens whose
//! `jti` is revoked: a bloom hit, a BLAKE3 digest and an exact-set lookup. Every timed
//! batch checks tokens no earlier batch checked, spread over the whole filter, so at 1M
//! and 10M rules probes miss the CPU caches as fresh traffic would (see [`crate::measure`]).
//!
//! The floor is what a check could cost at best for the same number of probes: a
//! `hashbrown::HashSet<u128>` (foldhash) with the same number of keys, asked about three
//! precomputed 128-bit digests per token (no hashing of claims, no bloom filter, no
//! concurrency). Check and floor are timed in alternating batches, so that noise from
//! the other core hits both alike.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use anyhow::ensure;
use veto_client::replica::Replica;
use veto_proto::RuleKind;
use veto_proto::rule::TokenFacts;

use crate::measure::{median, median_ns_per_item, paired_median_ns_per_item};
use crate::plan::{Plan, TARGET_RULES};
use crate::report::{Bound, Figure, Report, size_label};
use crate::workload::{Namespace, TokenSample, bits128, build_replica};

/// Tokens per timed batch: a batch takes a fraction of a millisecond or more, and its
/// claims (about 1 MB) fit in the L2 cache.
const BATCH_TOKENS: usize = 4_096;

/// Claims an Allowed check probes: `jti`, `sub`, `sid`.
const CLAIM_PROBES: usize = 3;

/// The check must cost at most this many times the floor, at [`TARGET_RULES`].
const MAX_FLOOR_MULTIPLE: f64 = 2.0;

/// Alternating rounds of the throughput figure.
const THROUGHPUT_ROUNDS: usize = 3;

/// What later figures compare with.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckSummary {
    /// ns per Allowed check at [`TARGET_RULES`], if measured.
    pub allowed_ns_at_target: Option<f64>,
}

/// Measures every size of the plan and adds the figures.
pub fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<CheckSummary> {
    let mut summary = CheckSummary::default();
    // Enough tokens that every batch (warm-up and timed, of check and floor) is fresh.
    let sample_tokens = (2 * plan.timed_batches + 1) * BATCH_TOKENS;
    let allowed = TokenSample::allowed(sample_tokens);
    let allowed_facts = allowed.facts();
    for &rules in &plan.check_rule_counts {
        let label = size_label(rules);
        eprintln!("  (filling a replica and a bare hash set with {label} keys)");
        let replica = Arc::new(build_replica(rules));
        let floor = Floor::new(rules, sample_tokens);
        let revoked = TokenSample::revoked(sample_tokens, rules);
        let revoked_facts = revoked.facts();
        // Time only checks that answer correctly.
        ensure!(
            allowed_facts.iter().all(|token| replica.lookup(token).is_none()),
            "an Allowed-path token was revoked at {label}"
        );
        ensure!(
            revoked_facts
                .iter()
                .all(|token| replica.lookup(token) == Some(RuleKind::Jti)),
            "a revoked jti was not found at {label}"
        );

        let (allowed_ns, floor_ns) = paired_median_ns_per_item(
            plan.timed_batches,
            (&allowed_facts[..], |token: &TokenFacts<'_>| {
                black_box(replica.lookup(black_box(token)));
            }),
            (&floor.probes[..], |digests: &[u128; CLAIM_PROBES]| {
                for digest in digests {
                    black_box(floor.set.contains(black_box(digest)));
                }
            }),
        );
        drop(floor);
        report.add(
            Figure::info(format!("check.floor_3_probes.{label}"), floor_ns, "ns")
                .baseline("3 lookups in hashbrown HashSet<u128> + foldhash"),
        );

        let allowed_name = format!("check.allowed.{label}");
        let limit = MAX_FLOOR_MULTIPLE * floor_ns;
        report.add(if rules == TARGET_RULES {
            summary.allowed_ns_at_target = Some(allowed_ns);
            Figure::target(
                allowed_name,
                allowed_ns,
                "ns",
                Bound::AtMost(limit),
                format!("<= {limit:.1} ns (2 x floor of 3 probes)"),
            )
        } else {
            Figure::info(allowed_name, allowed_ns, "ns").baseline(format!(
                "{:.2} x floor (target applies at {})",
                allowed_ns / floor_ns,
                size_label(TARGET_RULES)
            ))
        });

        let revoked_ns = median_ns_per_item(&revoked_facts, plan.timed_batches, |token| {
            black_box(replica.lookup(black_box(token)));
        });
        report.add(
            Figure::info(format!("check.revoked.{label}"), revoked_ns, "ns")
                .baseline("bloom hit + BLAKE3 digest + exact set"),
        );

        // One and two threads in alternating rounds (a build on the other core would
        // otherwise favour whichever ran while it paused); the median round of each.
        let checks = plan.throughput_checks_per_thread / THROUGHPUT_ROUNDS;
        let (mut one_thread, mut two_threads): (Vec<f64>, Vec<f64>) = (0..THROUGHPUT_ROUNDS)
            .map(|_| {
                (
                    checks_per_second(&replica, &allowed_facts, 1, checks),
                    checks_per_second(&replica, &allowed_facts, 2, checks),
                )
            })
            .unzip();
        let (one_thread, two_threads) = (median(&mut one_thread), median(&mut two_threads));
        report.add(
            Figure::info(
                format!("check.allowed_2_threads.{label}"),
                two_threads / 1e6,
                "M checks/s",
            )
            .baseline(format!("1 thread, same loop: {:.1} M checks/s", one_thread / 1e6)),
        );
    }
    Ok(summary)
}

/// Checks per second with `threads` threads sharing one replica through an `Arc`, as
/// a service's request handlers share a `RevocationList`. Each thread checks
/// `checks_per_thread` tokens, cycling through the whole sample.
fn checks_per_second(
    replica: &Arc<Replica>,
    tokens: &[TokenFacts<'_>],
    threads: usize,
    checks_per_thread: usize,
) -> f64 {
    // The main thread waits too, so the clock starts when every worker may run.
    let start = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let replica = Arc::clone(replica);
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    // Each thread starts at another point of the sample.
                    let offset = thread * tokens.len() / threads;
                    let revoked = tokens
                        .iter()
                        .cycle()
                        .skip(offset)
                        .take(checks_per_thread)
                        .filter(|token| replica.lookup(token).is_some())
                        .count();
                    black_box(revoked);
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        for worker in workers {
            worker.join().expect("a throughput thread panicked");
        }
        started.elapsed()
    });
    (threads * checks_per_thread) as f64 / elapsed.as_secs_f64()
}

/// The floor: a bare hash set of random 128-bit digests (as uniform as BLAKE3 output),
/// and [`CLAIM_PROBES`] absent precomputed digests per token to ask it about.
struct Floor {
    set: hashbrown::HashSet<u128, foldhash::fast::RandomState>,
    probes: Vec<[u128; CLAIM_PROBES]>,
}

impl Floor {
    fn new(keys: u64, tokens: usize) -> Floor {
        let mut set = hashbrown::HashSet::with_capacity_and_hasher(
            usize::try_from(keys).unwrap_or(usize::MAX),
            foldhash::fast::RandomState::default(),
        );
        set.extend((0..keys).map(|index| bits128(Namespace::RevokedJti, index)));
        let probes = (0..tokens as u64)
            .map(|token| {
                std::array::from_fn(|claim| {
                    bits128(Namespace::AbsentJti, token * CLAIM_PROBES as u64 + claim as u64)
                })
            })
            .collect();
        Floor { set, probes }
    }
}
