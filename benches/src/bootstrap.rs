//! Figure 4: how fast a service loads the list from a real nats-server, in the
//! configuration the README's Production section describes: events signed by the
//! daemon, the list trusting only its key (`signed_by`).
//!
//! Fills the stream as the daemon would (one signed rule event per key, `Nats-Msg-Id`
//! set, publishes pipelined with acks awaited in batches), writes the daemon's signed
//! snapshot of those rules into the snapshot bucket (the daemon's own code:
//! `veto_daemon::snapshot::{from_rules, put}`), then publishes a tail of 0.1 % more
//! signed rules after it, as happens between two snapshots. Then times, alternately,
//!
//! - the floor: a bare ordered push consumer that delivers every stored message (the
//!   stream keeps one per subject) and only counts them until the stream's last
//!   sequence: merely reading the stream;
//! - `RevocationList::start` until `ready()` as shipped (the newest snapshot, verified
//!   once, then the tail, each tail event verified), on its own connection, whose
//!   received bytes give the bytes fetched per rule;
//! - for reference, once per size: the full signed replay (one Ed25519 verification
//!   per rule: the configuration before snapshots) and the unsigned replay.
//!
//! The fastest round of each is reported (the slower ones met a busy core or a cold
//! page cache). The memory of the list loaded from the snapshot goes to the memory
//! figure.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use async_nats::HeaderMap;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::OrderedConfig;
use async_nats::jetstream::{self, Context as JetStream};
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use tokio::time::timeout;
use veto_client::{Bootstrap, ListConfig, RevocationList};
use veto_daemon::signer::EventSigner;
use veto_daemon::snapshot::{SnapshotOrigin, from_rules};
use veto_proto::{Event, StreamSettings, TokenPolicy, UnixSeconds};
use veto_testkit::TestSigningKey;

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
/// veto's bootstrap (snapshot and tail, signed) may take at most this many times the
/// bare replay of the same stream, at [`TARGET_RULES`].
const MAX_SNAPSHOT_MULTIPLE: f64 = 0.25;
/// Bytes a list may fetch per rule at bootstrap, at [`TARGET_RULES`].
const MAX_BYTES_PER_RULE: f64 = 24.0;
/// The tail published after the snapshot: one rule per this many. 0.1 %: at 1M rules
/// 1,000 revocations, what 30 s (the default snapshot interval) bring at 33 per
/// second, three times the average rate that keeps a list of 1M rules with a 24 h
/// lifetime (11.6 per second).
const TAIL_PER_RULE: u64 = 1_000;
/// The snapshot bucket, as the daemon names it for the default stream.
const SNAPSHOT_BUCKET: &str = "VETO_SNAPSHOTS";

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
    let stream_info = timeout(REQUEST_TIMEOUT, veto_daemon::nats::ensure_stream(&js, &settings))
        .await
        .context("creating the stream")??;
    let key = TestSigningKey::new("veto-bench");
    let signer = key.signer();
    let now = UnixSeconds::now();

    eprintln!("  (publishing {label} signed rules to nats-server)");
    let started = Instant::now();
    publish_rules(&js, &signer, 0..rules, now).await?;
    report.add(
        Figure::info(
            format!("bootstrap.publish_signed.{label}"),
            rules as f64 / started.elapsed().as_secs_f64(),
            "rules/s",
        )
        .baseline(format!(
            "{PUBLISH_WINDOW} acks in flight, 1 connection, Ed25519 per event"
        )),
    );

    eprintln!("  (writing the signed snapshot)");
    let started = Instant::now();
    let snapshot_bytes = write_snapshot(&js, &signer, &stream_info, rules, now).await?;
    report.add(
        Figure::info(
            format!("bootstrap.snapshot_write.{label}"),
            started.elapsed().as_secs_f64(),
            "s",
        )
        .baseline(format!(
            "build, sign once, store: {:.1} B/rule",
            snapshot_bytes as f64 / rules as f64
        )),
    );
    let tail = rules / TAIL_PER_RULE;
    publish_rules(&js, &signer, rules..rules + tail, now).await?;
    let total = rules + tail;

    let mut stream = timeout(REQUEST_TIMEOUT, js.get_stream(STREAM)).await??;
    let state = timeout(REQUEST_TIMEOUT, stream.info()).await??.state.clone();
    ensure!(
        state.messages == total,
        "the stream holds {} messages, not {total}",
        state.messages
    );

    let signed = ListConfig::default().signed_by(key.verification_keys());
    let mut raw_best = Duration::MAX;
    let mut snapshot_best = Duration::MAX;
    let mut fetched = u64::MAX;
    let mut memory = None;
    for _ in 0..plan.bootstrap_rounds {
        raw_best = raw_best.min(raw_replay(&js, &client, DeliverPolicy::All, state.last_sequence).await?);
        let round = veto_bootstrap(&server.url(), signed.clone(), total).await?;
        ensure!(
            round.loaded_snapshot == rules,
            "the list did not load the snapshot"
        );
        snapshot_best = snapshot_best.min(round.elapsed);
        fetched = fetched.min(round.bytes_in);
        memory = Some(round.memory);
    }
    eprintln!("  (one full signed replay and one unsigned, for reference)");
    let replay_signed =
        veto_bootstrap(&server.url(), signed.clone().bootstrap(Bootstrap::Replay), total).await?;
    let replay_unsigned = veto_bootstrap(
        &server.url(),
        ListConfig::default().bootstrap(Bootstrap::Replay),
        total,
    )
    .await?;

    let rate = |elapsed: Duration| total as f64 / elapsed.as_secs_f64();
    let seconds = |elapsed: Duration| format!("{:.2} s to ready", elapsed.as_secs_f64());
    report.add(
        Figure::info(format!("bootstrap.raw_replay.{label}"), rate(raw_best), "rules/s")
            .baseline(format!("bare ordered consumer, {}", seconds(raw_best))),
    );
    report.add(
        Figure::info(
            format!("bootstrap.veto_ready.{label}"),
            rate(snapshot_best),
            "rules/s",
        )
        .baseline(format!(
            "signed snapshot + 0.1 % tail: {}",
            seconds(snapshot_best)
        )),
    );
    report.add(
        Figure::info(
            format!("bootstrap.replay_signed.{label}"),
            rate(replay_signed.elapsed),
            "rules/s",
        )
        .baseline(format!(
            "every event verified, no snapshot: {} ({:.1} x raw)",
            seconds(replay_signed.elapsed),
            replay_signed.elapsed.as_secs_f64() / raw_best.as_secs_f64()
        )),
    );
    report.add(
        Figure::info(
            format!("bootstrap.replay_unsigned.{label}"),
            rate(replay_unsigned.elapsed),
            "rules/s",
        )
        .baseline(format!(
            "development setting: {} ({:.2} x raw)",
            seconds(replay_unsigned.elapsed),
            replay_unsigned.elapsed.as_secs_f64() / raw_best.as_secs_f64()
        )),
    );
    let at_target = rules == TARGET_RULES;
    let ratio = snapshot_best.as_secs_f64() / raw_best.as_secs_f64();
    let name = format!("bootstrap.veto_over_raw.{label}");
    report.add(if at_target {
        Figure::target(
            name,
            ratio,
            "x",
            Bound::AtMost(MAX_SNAPSHOT_MULTIPLE),
            format!("signed snapshot + tail / raw replay <= {MAX_SNAPSHOT_MULTIPLE}"),
        )
    } else {
        Figure::info(name, ratio, "x").baseline(format!(
            "target <= {MAX_SNAPSHOT_MULTIPLE} applies at {}",
            size_label(TARGET_RULES)
        ))
    });
    let per_rule = fetched as f64 / total as f64;
    let name = format!("bootstrap.bytes_per_rule.{label}");
    let replay_bytes = replay_signed.bytes_in as f64 / total as f64;
    report.add(if at_target {
        Figure::target(
            name,
            per_rule,
            "B/rule",
            Bound::AtMost(MAX_BYTES_PER_RULE),
            format!(
                "bytes received by the list's connection <= {MAX_BYTES_PER_RULE} (replay: {replay_bytes:.0})"
            ),
        )
    } else {
        Figure::info(name, per_rule, "B/rule").baseline(format!("replay: {replay_bytes:.0} B/rule"))
    });
    drop(server);
    memory.ok_or_else(|| anyhow!("no bootstrap round ran"))
}

/// Writes the daemon's signed snapshot of the jti rules `0..rules` (stream sequences
/// `1..=rules`) into the snapshot bucket, with the daemon's code; its size in bytes.
pub(crate) async fn write_snapshot(
    js: &JetStream,
    signer: &EventSigner,
    stream_info: &async_nats::jetstream::stream::Info,
    rules: u64,
    now: UnixSeconds,
) -> anyhow::Result<usize> {
    let held: Vec<_> = (0..rules).map(|index| jti_rule(index, now)).collect();
    let snapshot = from_rules(
        SnapshotOrigin {
            stream: STREAM,
            stream_created_unix_ns: i64::try_from(stream_info.created.unix_timestamp_nanos()).unwrap_or(0),
            sequence: rules,
            daemon: "veto-bench",
        },
        &held,
        &[],
        None,
    );
    drop(held);
    let bytes = snapshot.encode_signed(signer.key_id(), |input| signer.sign_raw(input));
    let store = veto_daemon::snapshot::bucket(js, SNAPSHOT_BUCKET, 1).await?;
    veto_daemon::snapshot::put(&store, "veto-bench", rules, &bytes).await?;
    Ok(bytes.len())
}

/// Publishes the jti rules of `indices`, signed, as the daemon does, [`PUBLISH_WINDOW`]
/// acks at a time.
pub(crate) async fn publish_rules(
    js: &JetStream,
    signer: &EventSigner,
    indices: std::ops::Range<u64>,
    now: UnixSeconds,
) -> anyhow::Result<()> {
    let mut next = indices.start;
    while next < indices.end {
        let window_end = (next + PUBLISH_WINDOW).min(indices.end);
        let mut acks = Vec::with_capacity(PUBLISH_WINDOW as usize);
        for index in next..window_end {
            let event = Event::Rule(jti_rule(index, now));
            let payload = event.encode();
            let mut headers = HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                Event::msg_id(&payload).as_str(),
            );
            signer.sign_into(&event.subject(), &payload, &mut headers);
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

/// One bootstrap: how long, from where, how many bytes, and the memory.
struct Round {
    elapsed: Duration,
    loaded_snapshot: u64,
    bytes_in: u64,
    memory: ListMemory,
}

/// `RevocationList::start` with `config` on a fresh connection, to `ready()`.
async fn veto_bootstrap(url: &str, config: ListConfig, rules: u64) -> anyhow::Result<Round> {
    let client = timeout(REQUEST_TIMEOUT, async_nats::connect(url))
        .await
        .context("connecting to nats-server")??;
    let bytes_before = client.statistics().in_bytes.load(Ordering::Relaxed);
    let live_before = alloc_counter::live_bytes();
    let started = Instant::now();
    let list = RevocationList::start(client.clone(), config)?;
    timeout(REPLAY_TIMEOUT, list.ready())
        .await
        .context("the list was not ready in time")?;
    let elapsed = started.elapsed();
    let measured_bytes = alloc_counter::live_bytes().saturating_sub(live_before);
    let bytes_in = client.statistics().in_bytes.load(Ordering::Relaxed) - bytes_before;
    ensure!(
        list.stats().live() == rules,
        "the list holds {} rules, not {rules}",
        list.stats().live()
    );
    ensure!(list.rejected_events() == 0, "the list rejected events");
    let (bloom_bytes, exact_bytes) = list.memory_bytes();
    let loaded_snapshot = list.loaded_snapshot();
    // Dropping the last handle aborts the list's tasks; give them a moment to end, so
    // that the next round starts from the same heap.
    drop(list);
    drop(client);
    tokio::time::sleep(TASK_END_PAUSE).await;
    Ok(Round {
        elapsed,
        loaded_snapshot,
        bytes_in,
        memory: ListMemory {
            rules,
            bloom_bytes,
            exact_bytes,
            measured_bytes,
        },
    })
}
