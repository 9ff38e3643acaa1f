//! `veto-bench`: veto's benchmark suite. Each figure is measured, printed against its
//! target or baseline, and written to `target/veto-bench/results.json`.
//!
//! ```sh
//! benches/run            # installs redis-server and nats-server if needed; full run (~4 min)
//! benches/run --quick    # smaller sizes, under 2 minutes once built
//! benches/run --quick --only fleet      # one figure (bootstrap, ingest, receipts, fleet), printed only (results.json untouched)
//! ```
//!
//! Ratios measured in the same run are what the targets compare (this is a shared
//! two-core machine; absolute figures move from run to run).
//!
//! # Layout
//!
//! - [`plan`]: sizes and repetitions for `--quick` and the full run.
//! - [`workload`]: deterministic rule values, token samples, a filled replica.
//! - [`measure`]: medians of timed batches, percentiles.
//! - [`report`]: figures, targets, the table, `results.json`.
//! - [`alloc_counter`]: the counting global allocator the memory figures read.
//! - [`daemon`]: `vetod` in-process, and the API calls the daemon figures make.
//! - The figures, in the order they run (CPU-only first, then those with servers):
//!   - figure 1, [`check`]: check latency at 10k/1M/10M rules next to a bare hash set;
//!     [`structures`]: the design comparison (bloom filters, maps, hashes) at 1M keys.
//!   - figure 2, [`signature`]: the check next to an ES256 verification.
//!   - figure 5, [`memory`]: bytes per rule at 1M rules.
//!   - figure 3, [`redis_baseline`]: a Redis deny-list round trip.
//!   - figure 4, [`bootstrap`]: loading the list from a real nats-server, next to a
//!     bare replay.
//!   - figure 6, [`propagation`]: a revocation through `vetod` until 100 clients
//!     revoke it, next to a bare JetStream publish-to-delivery.
//!   - figure 7, [`ingest`]: rules per second one daemon stores, through the batch
//!     API and through single requests.
//!   - figure 8, [`receipts`]: a write that waits until 100 reporting clients have
//!     applied it (`?wait=fleet`), next to the same clients' propagation.
//!   - figure 9, [`fleet`]: 100 and 1,000 lists on one server next to core
//!     subscribers (propagation, server CPU per event per client, idle CPU, memory),
//!     and a cold start of 1,000 lists next to the replay design.

mod alloc_counter;
mod bootstrap;
mod check;
mod daemon;
mod fleet;
mod ingest;
mod measure;
mod memory;
mod plan;
mod propagation;
mod receipts;
mod redis_baseline;
mod report;
mod signature;
mod structures;
mod workload;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::check::CheckSummary;
use crate::plan::Plan;
use crate::report::Report;

fn main() -> anyhow::Result<()> {
    let arguments = parse_arguments()?;
    let plan = Plan::new(arguments.quick);
    let started = Instant::now();
    eprintln!("veto-bench: {} run", if plan.quick { "quick" } else { "full" });
    let mut report = Report::default();
    if let Some(figure) = arguments.only {
        return run_one(figure, &plan, &mut report);
    }

    // CPU figures first, before any runtime or server exists: nothing else runs.
    eprintln!("1. check latency");
    let checks = check::run(&plan, &mut report)?;
    eprintln!("   design comparison");
    structures::run(&plan, &mut report)?;
    eprintln!("2. check vs signature");
    signature::run(&plan, checks.allowed_ns_at_target, &mut report)?;
    // Memory before the runtime, so that the allocator's count sees only the replica.
    eprintln!("5. memory");
    memory::run(&mut report);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(run_async_figures(&plan, checks, &mut report))?;
    drop(runtime);

    println!("{}", report.table());
    let results = results_path();
    report
        .write_json(&results)
        .with_context(|| format!("writing {}", results.display()))?;
    println!(
        "{} figures, {} targets missed, {:.0} s; written to {}",
        report.figures().len(),
        report.missed(),
        started.elapsed().as_secs_f64(),
        results.display()
    );
    Ok(())
}

/// The figures that need servers: Redis, then NATS, then NATS with `vetod`.
async fn run_async_figures(plan: &Plan, checks: CheckSummary, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("3. Redis baseline");
    redis_baseline::run(plan, checks.allowed_ns_at_target, report).await;
    eprintln!("4. bootstrap");
    if let Some(list_memory) = bootstrap::run(plan, report).await? {
        memory::report_list(report, list_memory);
    }
    eprintln!("6. propagation");
    propagation::run(plan, report).await?;
    eprintln!("7. ingest");
    ingest::run(plan, report).await?;
    eprintln!("8. receipts");
    receipts::run(plan, report).await?;
    eprintln!("9. fleet");
    fleet::run(plan, report).await?;
    Ok(())
}

/// The figures `--only` can run alone.
#[derive(Clone, Copy, Debug)]
enum OnlyFigure {
    Receipts,
    Bootstrap,
    Fleet,
    Ingest,
}

/// Runs one figure and prints its table; `results.json` (the full run's) is untouched.
fn run_one(figure: OnlyFigure, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    match figure {
        OnlyFigure::Receipts => runtime.block_on(receipts::run(plan, report))?,
        OnlyFigure::Bootstrap => runtime.block_on(bootstrap::run(plan, report)).map(|_| ())?,
        OnlyFigure::Fleet => runtime.block_on(fleet::run(plan, report))?,
        OnlyFigure::Ingest => runtime.block_on(ingest::run(plan, report))?,
    }
    println!("{}", report.table());
    Ok(())
}

/// The command line.
struct Arguments {
    quick: bool,
    only: Option<OnlyFigure>,
}

const USAGE: &str = "usage: veto-bench [--quick] [--only bootstrap|ingest|receipts|fleet]";

/// `--quick`, `--only <figure>`; anything else is an error with the usage.
fn parse_arguments() -> anyhow::Result<Arguments> {
    let mut arguments = Arguments {
        quick: false,
        only: None,
    };
    let mut given = std::env::args().skip(1);
    while let Some(argument) = given.next() {
        match argument.as_str() {
            "--quick" => arguments.quick = true,
            "--only" => match given.next().as_deref() {
                Some("receipts") => arguments.only = Some(OnlyFigure::Receipts),
                Some("bootstrap") => arguments.only = Some(OnlyFigure::Bootstrap),
                Some("fleet") => arguments.only = Some(OnlyFigure::Fleet),
                Some("ingest") => arguments.only = Some(OnlyFigure::Ingest),
                other => bail!("--only takes bootstrap, ingest, receipts or fleet, not {other:?}; {USAGE}"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    Ok(arguments)
}

/// `target/veto-bench/results.json` in the workspace's target directory.
fn results_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // The package sits one level below the workspace root.
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent();
            workspace.unwrap_or(Path::new(".")).join("target")
        });
    target.join("veto-bench").join("results.json")
}
