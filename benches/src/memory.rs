//! Figure 5: bytes per rule in the client at 1M rules.
//!
//! Measured two ways and reported separately for the bloom filter and the exact set:
//! the library's own estimate (`Replica::memory_bytes`, from table capacities) and the
//! heap growth seen by the counting global allocator while a replica is filled. The
//! bloom filter is measured alone at the replica's own capacity; the exact set is the
//! rest. The bootstrap figure adds the same two numbers for a whole `RevocationList`
//! (its heap growth then includes the NATS consumer and the list's tasks).

use veto_client::bloom::Bloom;

use crate::alloc_counter;
use crate::plan::TARGET_RULES;
use crate::report::{Bound, Figure, Report, size_label};
use crate::workload::build_replica;

/// The target: heap bytes per rule at [`TARGET_RULES`] (bloom filter + exact set).
const MAX_BYTES_PER_RULE: f64 = 48.0;

/// A list's memory after its bootstrap, from the bootstrap figure.
#[derive(Clone, Copy, Debug)]
pub struct ListMemory {
    /// Rules the list held.
    pub rules: u64,
    /// `RevocationList::memory_bytes()`: the bloom filter...
    pub bloom_bytes: usize,
    /// ... and the exact sets.
    pub exact_bytes: usize,
    /// Heap growth from `start` to `ready()`, counted by the allocator.
    pub measured_bytes: usize,
}

/// Fills a replica with [`TARGET_RULES`] rules and adds the figures.
pub fn run(report: &mut Report) {
    let rules = TARGET_RULES;
    let label = size_label(rules);
    let per_rule = |bytes: usize| bytes as f64 / rules as f64;
    eprintln!("  (filling a replica with {label} jti rules)");
    let (replica, total_measured) = alloc_counter::measure(|| build_replica(rules));
    let (bloom_library, exact_library) = replica.memory_bytes();
    let bloom_capacity = usize::try_from(replica.stats().bloom_capacity).unwrap_or(usize::MAX);
    drop(replica);
    let (bloom, bloom_measured) = alloc_counter::measure(|| Bloom::with_capacity(bloom_capacity));
    drop(bloom);
    let exact_measured = total_measured.saturating_sub(bloom_measured);

    report.add(Figure::info(
        format!("memory.bloom.library.{label}"),
        per_rule(bloom_library),
        "B/rule",
    ));
    report.add(Figure::info(
        format!("memory.bloom.measured.{label}"),
        per_rule(bloom_measured),
        "B/rule",
    ));
    report.add(Figure::info(
        format!("memory.exact.library.{label}"),
        per_rule(exact_library),
        "B/rule",
    ));
    report.add(Figure::info(
        format!("memory.exact.measured.{label}"),
        per_rule(exact_measured),
        "B/rule",
    ));
    add_total(
        report,
        format!("memory.total.library.{label}"),
        rules,
        bloom_library + exact_library,
    );
    add_total(
        report,
        format!("memory.total.measured.{label}"),
        rules,
        total_measured,
    );
}

/// Adds the figures of a whole list after its bootstrap.
pub fn report_list(report: &mut Report, list: ListMemory) {
    let label = size_label(list.rules);
    add_total(
        report,
        format!("memory.list.library.{label}"),
        list.rules,
        list.bloom_bytes + list.exact_bytes,
    );
    add_total(
        report,
        format!("memory.list.measured.{label}"),
        list.rules,
        list.measured_bytes,
    );
}

/// A total in bytes per rule: held to the target at [`TARGET_RULES`], else information.
fn add_total(report: &mut Report, name: String, rules: u64, bytes: usize) {
    let per_rule = bytes as f64 / rules as f64;
    report.add(if rules == TARGET_RULES {
        Figure::target(
            name,
            per_rule,
            "B/rule",
            Bound::AtMost(MAX_BYTES_PER_RULE),
            format!("<= {MAX_BYTES_PER_RULE} B/rule at {}", size_label(TARGET_RULES)),
        )
    } else {
        Figure::info(name, per_rule, "B/rule")
            .baseline(format!("target applies at {}", size_label(TARGET_RULES)))
    });
}
