//! Timing helpers: medians of batches, percentiles of single requests.
//!
//! A latency figure is the median of many timed batches, not a mean: a batch that the
//! scheduler interrupted (this machine has two cores, shared with builds) is an
//! outlier, and the median ignores it.
//!
//! Each batch works on its own slice of the inputs, read once untimed just before it is
//! timed: the inputs are in cache, as a token's claims are right after it was decoded,
//! while the structure probed is only as warm as random traffic leaves it (no batch
//! repeats another's probes). Streaming megabytes of inputs through the cache while
//! timing would instead evict the structure and measure the benchmark's own traffic.

use std::hint::black_box;
use std::time::{Duration, Instant};

use veto_proto::rule::TokenFacts;

/// An input that can be pulled into the cache before its batch is timed.
pub trait Warm {
    /// Reads every byte the timed operation will read.
    fn warm(&self);
}

impl Warm for u64 {
    fn warm(&self) {
        black_box(*self);
    }
}

impl Warm for u128 {
    fn warm(&self) {
        black_box(*self);
    }
}

impl<T: Warm, const N: usize> Warm for [T; N] {
    fn warm(&self) {
        self.iter().for_each(Warm::warm);
    }
}

impl Warm for str {
    fn warm(&self) {
        black_box(self.bytes().fold(0u8, |sum, byte| sum ^ byte));
    }
}

impl Warm for String {
    fn warm(&self) {
        self.as_str().warm();
    }
}

impl Warm for TokenFacts<'_> {
    fn warm(&self) {
        for claim in [self.jti, self.sub, self.sid, self.iss].into_iter().flatten() {
            claim.warm();
        }
    }
}

/// For compute-bound work that needs no fresh inputs (a signature check): runs `batch`
/// once untimed, then `batches` times timed, and returns the median ns per operation.
/// `batch` performs `operations_per_batch` operations, feeding results to [`black_box`].
pub fn median_ns_per_op(batches: usize, operations_per_batch: usize, mut batch: impl FnMut()) -> f64 {
    batch();
    let mut per_op: Vec<f64> = (0..batches.max(1))
        .map(|_| {
            let started = Instant::now();
            batch();
            started.elapsed().as_nanos() as f64 / operations_per_batch as f64
        })
        .collect();
    median(&mut per_op)
}

/// How many batches `items` make: one untimed warm-up batch, then `batches` timed.
fn batch_size(items: usize, batches: usize) -> usize {
    (items / (batches.max(1) + 1)).max(1)
}

/// Times `operation` over one batch of warmed inputs; ns per input.
fn time_batch<T: Warm>(batch: &[T], operation: &mut impl FnMut(&T)) -> f64 {
    batch.iter().for_each(Warm::warm);
    let started = Instant::now();
    for item in batch {
        operation(item);
    }
    started.elapsed().as_nanos() as f64 / batch.len() as f64
}

/// The median ns per input of `operation`, over `batches` timed batches that split
/// `items` (after one untimed warm-up batch). `operation` must feed its result to
/// [`black_box`] so that the compiler keeps it.
pub fn median_ns_per_item<T: Warm>(items: &[T], batches: usize, mut operation: impl FnMut(&T)) -> f64 {
    let mut chunks = items.chunks_exact(batch_size(items.len(), batches));
    if let Some(warm_up) = chunks.next() {
        warm_up.iter().for_each(&mut operation);
    }
    let mut per_item: Vec<f64> = chunks.map(|batch| time_batch(batch, &mut operation)).collect();
    median(&mut per_item)
}

/// [`median_ns_per_item`] for two workloads timed in alternating batches, so that a
/// noisy spell (a build on the other core) slows both alike and the ratio of the two
/// medians stays steady. Each timed batch follows an untimed batch of the same
/// workload, so that neither is timed in caches the other just filled.
pub fn paired_median_ns_per_item<A: Warm, B: Warm>(
    batches: usize,
    (first_items, mut first): (&[A], impl FnMut(&A)),
    (second_items, mut second): (&[B], impl FnMut(&B)),
) -> (f64, f64) {
    // Two batches of inputs per timed batch: one warms the structure, one is timed.
    let mut first_chunks = first_items.chunks_exact(batch_size(first_items.len(), 2 * batches));
    let mut second_chunks = second_items.chunks_exact(batch_size(second_items.len(), 2 * batches));
    let mut first_per_item = Vec::with_capacity(batches);
    let mut second_per_item = Vec::with_capacity(batches);
    while let (Some(first_warm_up), Some(first_timed), Some(second_warm_up), Some(second_timed)) = (
        first_chunks.next(),
        first_chunks.next(),
        second_chunks.next(),
        second_chunks.next(),
    ) {
        first_warm_up.iter().for_each(&mut first);
        first_per_item.push(time_batch(first_timed, &mut first));
        second_warm_up.iter().for_each(&mut second);
        second_per_item.push(time_batch(second_timed, &mut second));
    }
    (median(&mut first_per_item), median(&mut second_per_item))
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

/// The `quantile` (0..=1) of sorted durations, nearest rank.
pub fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds as a float, for printing.
pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Milliseconds as a float, for printing.
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The quantiles a latency figure reports.
pub const P50_P99: &[(&str, f64)] = &[("p50", 0.5), ("p99", 0.99)];
/// The same, with the worst round.
pub const P50_P99_MAX: &[(&str, f64)] = &[("p50", 0.5), ("p99", 0.99), ("max", 1.0)];

/// Adds one information figure in ms per quantile of `sorted` (durations, sorted), each
/// named `{prefix}{quantile}{suffix}` (`propagation.veto_` `p99` `.100_clients`).
pub fn add_latencies(
    report: &mut crate::report::Report,
    (prefix, suffix): (&str, &str),
    sorted: &[Duration],
    quantiles: &[(&str, f64)],
    baseline: &str,
) {
    for (what, quantile) in quantiles {
        report.add(
            crate::report::Figure::info(
                format!("{prefix}{what}{suffix}"),
                millis(percentile(sorted, *quantile)),
                "ms",
            )
            .baseline(baseline.to_owned()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentile() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&sorted, 0.5), Duration::from_micros(50));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_micros(99));
    }

    #[test]
    fn every_timed_batch_sees_its_own_inputs() {
        let items: Vec<u64> = (0..100).collect();
        let mut seen = Vec::new();
        let _ = median_ns_per_item(&items, 4, |item| seen.push(*item));
        // 5 batches of 20: one warm-up, four timed; every input once.
        assert_eq!(seen, items);
        let (mut first, mut second) = (0, 0);
        let _ = paired_median_ns_per_item(3, (&items[..], |_| first += 1), (&items[..60], |_| second += 1));
        // 100 / 7 = 14 and 60 / 7 = 8 per batch; three rounds of two batches each.
        assert_eq!((first, second), (84, 48));
    }
}
