//! Figure 4: how fast a client loads the list from a real nats-server.
//!
//! Fills the stream as the daemon would (one rule event per key, `Nats-Msg-Id` set,
//! publishes pipelined with acks awaited in batches), then times, alternately,
//!
//! - the floor: a bare ordered push consumer that replays the latest message of every
//!   subject (`DeliverPolicy::LastPerSubject`, as the client does) and only counts
//!   messages until the stream's last sequence,
//! - for reference, the same with `DeliverPolicy::All` (the stream keeps one message per
//!   subject, so both deliver the same messages; the difference is the server's cost of
//!   finding the last message of every subject), and
//! - `RevocationList::start` until `ready()`: the same replay plus decoding, validation
//!   and inserting every rule into the bloom filter and the exact set.
//!
//! Each gets the same number of rounds; the fastest round of each is reported (the
//! slower ones met a busy core or a cold page cache). The list's memory after its
//! bootstrap goes to the memory figure.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use async_nats::HeaderMap;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::OrderedConfig;
use async_nats::jetstream::{self, Context as JetStream};
use futures_util::StreamExt;
use tokio::time::timeout;
use veto_client::{ListConfig, RevocationList};
use veto_proto::{Event, StreamSettings, TokenPolicy, UnixSeconds};

use crate::alloc_counter;
use crate::memory::ListMemory;
use crate::plan::{Plan, TARGET_RULES};
use crate::report::{Bound, Figure, Report, size_label};
use crate::workload::jti_rule;

/// The stream's name, as in production.
const STREAM: &str = StreamSettings::DEFAULT_NAME;
/// Publishes in flight before their acks are awaited (the client allows 5000).
const PUBLISH_WINDOW: u64 = 2_048;
/// How long nats-server may take to start and answer JetStream requests.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one request (connect, create or inspect the stream, one publish) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the acks of one window of publishes may take.
const ACK_WINDOW_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one replay or bootstrap may take (1M rules take seconds).
const REPLAY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an aborted list's tasks get to finish before the next round.
const TASK_END_PAUSE: Duration = Duration::from_millis(200);
/// veto's bootstrap may take at most this many times the bare replay, at [`TARGET_RULES`].
const MAX_REPLAY_MULTIPLE: f64 = 1.5;

/// Runs every size of the plan; returns the list's memory at the largest.
pub async fn run(plan: &Plan, report: &mut Report) -> anyhow::Result<Option<ListMemory>> {
    let mut memory = None;
    for &rules in &plan.bootstrap_rule_counts {
        memory = Some(run_size(plan, rules, report).await?);
    }
    Ok(memory)
}

async fn run_size(plan: &Plan, rules: u64, report: &mut Report) -> anyhow::Result<ListMemory> {
    let label = size_label(rules);
    // A fresh server per size: its own store, nothing left from the previous size.
    let server = timeout(NATS_START_TIMEOUT, veto_testkit::NatsServer::start())
        .await
        .context("nats-server did not start in time")??;
    let client = timeout(REQUEST_TIMEOUT, async_nats::connect(server.url()))
        .await
        .context("connecting to nats-server")??;
    let js = jetstream::new(client.clone());
    let settings = StreamSettings::new(STREAM, &TokenPolicy::default(), 1)?;
    timeout(REQUEST_TIMEOUT, veto_daemon::nats::ensure_stream(&js, &settings))
        .await
        .context("creating the stream")??;

    eprintln!("  (publishing {label} rules to nats-server)");
    let started = Instant::now();
    publish_rules(&js, rules).await?;
    report.add(
        Figure::info(
            format!("bootstrap.publish.{label}"),
            rules as f64 / started.elapsed().as_secs_f64(),
            "rules/s",
        )
        .baseline(format!("{PUBLISH_WINDOW} acks in flight, 1 connection")),
    );

    let mut stream = timeout(REQUEST_TIMEOUT, js.get_stream(STREAM)).await??;
    let state = timeout(REQUEST_TIMEOUT, stream.info()).await??.state.clone();
    ensure!(
        state.messages == rules,
        "the stream holds {} messages, not {rules}",
        state.messages
    );

    let mut raw_best = Duration::MAX;
    let mut all_best = Duration::MAX;
    let mut veto_best = Duration::MAX;
    let mut memory = None;
    for _ in 0..plan.bootstrap_rounds {
        let last_sequence = state.last_sequence;
        raw_best =
            raw_best.min(raw_replay(&js, &client, DeliverPolicy::LastPerSubject, last_sequence).await?);
        all_best = all_best.min(raw_replay(&js, &client, DeliverPolicy::All, last_sequence).await?);
        let (elapsed, list_memory) = veto_bootstrap(&client, rules).await?;
        veto_best = veto_best.min(elapsed);
        memory = Some(list_memory);
    }
    let rate = |elapsed: Duration| rules as f64 / elapsed.as_secs_f64();
    report.add(
        Figure::info(format!("bootstrap.raw_replay.{label}"), rate(raw_best), "rules/s")
            .baseline("LastPerSubject, as the client reads"),
    );
    report.add(
        Figure::info(
            format!("bootstrap.raw_replay_all.{label}"),
            rate(all_best),
            "rules/s",
        )
        .baseline("DeliverPolicy::All; 1M x 100 B: 685k/s (BASELINES.md)"),
    );
    report.add(
        Figure::info(
            format!("bootstrap.veto_ready.{label}"),
            rate(veto_best),
            "rules/s",
        )
        .baseline(format!("{:.2} s to ready", veto_best.as_secs_f64())),
    );
    let ratio = veto_best.as_secs_f64() / raw_best.as_secs_f64();
    let name = format!("bootstrap.veto_over_raw.{label}");
    report.add(if rules == TARGET_RULES {
        Figure::target(
            name,
            ratio,
            "x",
            Bound::AtMost(MAX_REPLAY_MULTIPLE),
            format!("veto time / raw replay time <= {MAX_REPLAY_MULTIPLE}"),
        )
    } else {
        Figure::info(name, ratio, "x").baseline(format!(
            "target <= {MAX_REPLAY_MULTIPLE} applies at {}",
            size_label(TARGET_RULES)
        ))
    });
    drop(server);
    memory.ok_or_else(|| anyhow!("no bootstrap round ran"))
}

/// Publishes `rules` jti rules as the daemon does, [`PUBLISH_WINDOW`] acks at a time.
async fn publish_rules(js: &JetStream, rules: u64) -> anyhow::Result<()> {
    let now = UnixSeconds::now();
    let mut next = 0;
    while next < rules {
        let window_end = (next + PUBLISH_WINDOW).min(rules);
        let mut acks = Vec::with_capacity(PUBLISH_WINDOW as usize);
        for index in next..window_end {
            let event = Event::Rule(jti_rule(index, now));
            let payload = event.encode();
            let mut headers = HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                Event::msg_id(&payload).as_str(),
            );
            let ack = timeout(
                REQUEST_TIMEOUT,
                js.publish_with_headers(event.subject(), headers, payload.into()),
            )
            .await
            .context("publishing a rule")??;
            acks.push(ack);
        }
        timeout(ACK_WINDOW_TIMEOUT, async {
            for ack in acks {
                ack.await?;
            }
            anyhow::Ok(())
        })
        .await
        .context("awaiting publish acks")??;
        next = window_end;
    }
    Ok(())
}

/// The floor: an ordered push consumer with `deliver_policy`, counting messages until
/// `last_sequence`. Includes opening the stream, as the client's bootstrap does.
async fn raw_replay(
    js: &JetStream,
    client: &async_nats::Client,
    deliver_policy: DeliverPolicy,
    last_sequence: u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let replay = async {
        let stream = js.get_stream(STREAM).await?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_subject: client.new_inbox(),
                // Every stored message (the stream holds rules and ticks only).
                filter_subject: String::new(),
                deliver_policy,
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        while let Some(message) = messages.next().await {
            let info = message?
                .info()
                .map_err(|error| anyhow!("{error}"))?
                .stream_sequence;
            if info >= last_sequence {
                return anyhow::Ok(());
            }
        }
        Err(anyhow!("the replay ended before the last sequence"))
    };
    timeout(REPLAY_TIMEOUT, replay)
        .await
        .context("the raw replay took too long")??;
    Ok(started.elapsed())
}

/// `RevocationList::start` to `ready()`; also the list's memory once ready.
async fn veto_bootstrap(client: &async_nats::Client, rules: u64) -> anyhow::Result<(Duration, ListMemory)> {
    let live_before = alloc_counter::live_bytes();
    let started = Instant::now();
    let list = RevocationList::start(client.clone(), ListConfig::default())?;
    timeout(REPLAY_TIMEOUT, list.ready())
        .await
        .context("the list was not ready in time")?;
    let elapsed = started.elapsed();
    let measured_bytes = alloc_counter::live_bytes().saturating_sub(live_before);
    ensure!(
        list.stats().live() == rules,
        "the list holds {} rules, not {rules}",
        list.stats().live()
    );
    let (bloom_bytes, exact_bytes) = list.memory_bytes();
    // Dropping the last handle aborts the list's tasks; give them a moment to end, so
    // that the next round starts from the same heap.
    drop(list);
    tokio::time::sleep(TASK_END_PAUSE).await;
    Ok((
        elapsed,
        ListMemory {
            rules,
            bloom_bytes,
            exact_bytes,
            measured_bytes,
        },
    ))
}
