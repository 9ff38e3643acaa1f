//! The design comparison: what one probe costs in each candidate structure at 1M keys,
//! and what hashing a `jti` costs with the bloom filter's hash and the exact set's.
//!
//! The README quotes these figures to explain the client's shape: a split-block bloom
//! filter keyed by xxh3 answers the common "not revoked" case before anything pays for
//! a BLAKE3 digest or takes a shard lock. Every structure is asked about keys it does not
//! hold (the Allowed path), precomputed, so the figures compare structures, not hashes;
//! the `bloomfilter` crate hashes internally (SipHash), which is part of its cost. Each
//! structure's heap size is measured with the counting allocator.

use std::hint::black_box;

use anyhow::anyhow;
use dashmap::DashMap;
use veto_client::bloom::Bloom;
use veto_client::replica::bloom_key;
use veto_proto::{KeyDigest, RuleKind};

use crate::alloc_counter;
use crate::measure::median_ns_per_item;
use crate::plan::{Plan, TARGET_RULES};
use crate::report::{Figure, Report, size_label};
use crate::workload::{Namespace, TokenSample, UUID_TEXT_LEN, bits128, uuid_like};

/// Absent keys probed per timed batch (as many as the Allowed checks of a batch of
/// figure 1 make).
const BATCH_PROBES: usize = 3 * 4_096;

/// The `bloomfilter` crate's false-positive rate, as a service would pick it.
const BLOOMFILTER_FP_RATE: f64 = 0.01;

/// `jti` values hashed per timed batch.
const BATCH_VALUES: usize = 4_096;

/// Measures every structure at [`TARGET_RULES`] keys and adds the figures.
pub fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let keys = TARGET_RULES;
    let label = size_label(keys);
    let capacity = usize::try_from(keys)?;
    let batches = plan.timed_batches;
    // Fresh keys for every batch, the warm-up batch included.
    let probe_count = (batches + 1) * BATCH_PROBES;
    let present = || (0..keys).map(|index| bits128(Namespace::RevokedJti, index));
    let absent: Vec<u128> = (0..probe_count as u64)
        .map(|index| bits128(Namespace::AbsentJti, index))
        .collect();
    let per_key = |bytes: usize| bytes as f64 / keys as f64;

    // (a) veto's split-block filter, fed by the client's own `bloom_key`, sized as the
    // replica sizes it (half again the expected keys, room to grow).
    let mut buffer = [0; UUID_TEXT_LEN];
    let (bloom, bloom_bytes) = alloc_counter::measure(|| {
        let bloom = Bloom::with_capacity(capacity + capacity / 2);
        for index in 0..keys {
            let jti = uuid_like(Namespace::RevokedJti, index, &mut buffer);
            bloom.insert(bloom_key(RuleKind::Jti, jti));
        }
        bloom
    });
    let bloom_probes: Vec<u64> = (0..probe_count as u64)
        .map(|index| bloom_key(RuleKind::Jti, uuid_like(Namespace::AbsentJti, index, &mut buffer)))
        .collect();
    let veto_bloom_ns = median_ns_per_item(&bloom_probes, batches, |&probe| {
        black_box(bloom.may_contain(black_box(probe)));
    });
    let veto_false_positives = bloom_probes
        .iter()
        .filter(|&&probe| bloom.may_contain(probe))
        .count();
    drop(bloom);
    report.add(
        Figure::info(format!("design.veto_bloom.probe.{label}"), veto_bloom_ns, "ns")
            .baseline("sbbf-rs-safe 10 bits/key: 3.4 ns (BASELINES.md)"),
    );
    report.add(
        Figure::info(
            format!("design.veto_bloom.size.{label}"),
            per_key(bloom_bytes),
            "B/key",
        )
        .baseline(format!(
            "false positives {:.2} %",
            100.0 * veto_false_positives as f64 / probe_count as f64
        )),
    );

    // (b) the `bloomfilter` crate: k scattered bits, SipHash, `&mut self` to insert.
    let (crate_bloom, crate_bloom_bytes) = alloc_counter::measure(|| {
        let mut bloom = bloomfilter::Bloom::new_for_fp_rate(capacity, BLOOMFILTER_FP_RATE)
            .map_err(|error| anyhow!("bloomfilter: {error}"))?;
        for key in present() {
            bloom.set(&key);
        }
        anyhow::Ok(bloom)
    });
    let crate_bloom = crate_bloom?;
    let crate_bloom_ns = median_ns_per_item(&absent, batches, |probe| {
        black_box(crate_bloom.check(black_box(probe)));
    });
    let crate_false_positives = absent.iter().filter(|probe| crate_bloom.check(probe)).count();
    drop(crate_bloom);
    report.add(
        Figure::info(
            format!("design.bloomfilter_1pct.probe.{label}"),
            crate_bloom_ns,
            "ns",
        )
        .baseline("bloomfilter 3.0.2: 42.1 ns (BASELINES.md)"),
    );
    report.add(
        Figure::info(
            format!("design.bloomfilter_1pct.size.{label}"),
            per_key(crate_bloom_bytes),
            "B/key",
        )
        .baseline(format!(
            "false positives {:.2} %",
            100.0 * crate_false_positives as f64 / probe_count as f64
        )),
    );

    // (c) DashMap with its default hasher (SipHash), as a first version might use.
    let (dashmap, dashmap_bytes) = alloc_counter::measure(|| {
        let map = DashMap::<u128, u64>::with_capacity(capacity);
        for key in present() {
            map.insert(key, 0);
        }
        map
    });
    let dashmap_ns = median_ns_per_item(&absent, batches, |probe| {
        black_box(dashmap.contains_key(black_box(probe)));
    });
    drop(dashmap);
    report.add(
        Figure::info(format!("design.dashmap.probe.{label}"), dashmap_ns, "ns")
            .baseline("DashMap<u128,u64> 6.2.1: 50.3 ns (BASELINES.md)"),
    );
    report.add(Figure::info(
        format!("design.dashmap.size.{label}"),
        per_key(dashmap_bytes),
        "B/key",
    ));

    // (d) the bare hash set: the floor of figure 1.
    let (set, set_bytes) = alloc_counter::measure(|| {
        let mut set =
            hashbrown::HashSet::with_capacity_and_hasher(capacity, foldhash::fast::RandomState::default());
        set.extend(present());
        set
    });
    let set_ns = median_ns_per_item(&absent, batches, |probe| {
        black_box(set.contains(black_box(probe)));
    });
    drop(set);
    report.add(
        Figure::info(format!("design.hashset.probe.{label}"), set_ns, "ns")
            .baseline("hashbrown + foldhash: 10.9 ns (BASELINES.md)"),
    );
    report.add(Figure::info(
        format!("design.hashset.size.{label}"),
        per_key(set_bytes),
        "B/key",
    ));

    // The two hashes of a 36-byte jti: the bloom filter's and the exact set's.
    let sample = TokenSample::allowed((batches + 1) * BATCH_VALUES);
    let jtis = sample.jtis();
    let xxh3_ns = median_ns_per_item(jtis, batches, |jti| {
        black_box(bloom_key(RuleKind::Jti, black_box(jti)));
    });
    report.add(
        Figure::info("design.hash.xxh3_64.jti36", xxh3_ns, "ns")
            .baseline("bloom_key; xxh3-64: 11.8 ns (BASELINES.md)"),
    );
    let blake3_ns = median_ns_per_item(jtis, batches, |jti| {
        black_box(KeyDigest::of(RuleKind::Jti, None, Some(black_box(jti))));
    });
    report.add(
        Figure::info("design.hash.blake3_digest.jti36", blake3_ns, "ns")
            .baseline(format!("KeyDigest::of; {:.1} x xxh3-64", blake3_ns / xxh3_ns)),
    );
    Ok(())
}
