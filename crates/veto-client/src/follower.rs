//! The follower: the one task that writes the list.
//!
//! It reads the stream with an ordered push consumer that starts at the latest message
//! of every subject (the stream holds one per key, so that is the list), applies each
//! event, and follows live. The replica is *complete* once it applied the stream's last
//! sequence as of opening (or the consumer reports nothing pending); the first complete
//! replica makes the list ready.
//!
//! Rebuilds reuse bootstrap: when the bloom filter is over capacity or mostly dead, a
//! second consumer loads a fresh replica (sized for the live rules, so none of the dead
//! keys) while the current one keeps serving; once the new one has caught up with the
//! old, it replaces it atomically and its consumer becomes the live feed. The old
//! replica's values are never needed, so rules keep no copy of their values for this.
//!
//! Errors never end the task: the ordered consumer recreates itself after a NATS
//! restart (yielding one error, which is skipped), and opening the stream is retried
//! with backoff.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::{Ordered, OrderedConfig};
use async_nats::jetstream::{self, Message};
use futures_util::StreamExt;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use veto_proto::{Event, KeyedEvent, STREAM_SUBJECTS, UnixSeconds};

use crate::config::EventTrust;
use crate::error::OpenError;
use crate::list::{READY, Shared};
use crate::metrics as names;
use crate::replica::Replica;
use crate::watcher::{now_unix_ms, refresh_stale};

/// How often the follower sweeps, checks for a rebuild, and looks at a stalled bootstrap.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(500);
/// A bootstrap that received nothing for this long checks whether the stream emptied.
const BOOTSTRAP_IDLE: Duration = Duration::from_secs(2);
/// A live feed silent for this long (daemons tick every second) is resubscribed from
/// its last sequence: a consumer lost with a cluster node can take the client library's
/// heartbeat detection much longer to notice. Doubles while the silence lasts (no daemon
/// running), up to [`STALL_AFTER_MAX`].
const STALL_AFTER: Duration = Duration::from_secs(3);
const STALL_AFTER_MAX: Duration = Duration::from_secs(30);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// One consumer feeding one replica.
struct Feed {
    messages: Ordered,
    replica: Arc<Replica>,
    /// The stream's last sequence when the feed was opened.
    target_sequence: u64,
    complete: bool,
    last_message_at: Instant,
}

pub(crate) async fn run(shared: Arc<Shared>, client: async_nats::Client) {
    let js = jetstream::new(client.clone());
    let mut live: Option<Feed> = None;
    let mut building: Option<Feed> = None;
    let mut backoff = BACKOFF_MIN;
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_sweep = Instant::now();
    let mut stall_after = STALL_AFTER;

    loop {
        if live.is_none() && building.is_none() {
            match open(&shared, &js, &client).await {
                Ok(feed) => {
                    backoff = BACKOFF_MIN;
                    building = Some(feed);
                }
                Err(error) => {
                    warn!(%error, retry_in_ms = backoff.as_millis() as u64, "cannot open the revocation stream");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
        }
        if building
            .as_ref()
            .is_some_and(|feed| feed.complete && caught_up_with(feed, live.as_ref()))
        {
            promote(&shared, &mut live, &mut building);
            continue;
        }

        tokio::select! {
            next = next_message(&mut live), if live.is_some() => {
                match next {
                    Some(Ok(message)) => {
                        if let Some(feed) = live.as_mut() {
                            apply(&shared, feed, &message, true);
                        }
                        stall_after = STALL_AFTER;
                    }
                    Some(Err(error)) => debug!(%error, "live feed interrupted; the ordered consumer recreates itself"),
                    None => {
                        warn!("live feed ended; reloading the list (the current one keeps serving)");
                        live = None;
                    }
                }
            }
            next = next_message(&mut building), if building.is_some() => {
                match next {
                    Some(Ok(message)) => {
                        if let Some(feed) = building.as_mut() {
                            apply(&shared, feed, &message, live.is_none());
                        }
                    }
                    Some(Err(error)) => debug!(%error, "bootstrap feed interrupted; the ordered consumer recreates itself"),
                    None => {
                        warn!("bootstrap feed ended; starting over");
                        building = None;
                    }
                }
            }
            _ = housekeeping.tick() => {
                if last_sweep.elapsed() >= shared.config.sweep_interval {
                    last_sweep = Instant::now();
                    let swept = shared.replica.load().sweep_expired(UnixSeconds::now());
                    if swept > 0 {
                        debug!(swept, "dropped expired rules");
                    }
                }
                if let Some(feed) = building.as_mut() {
                    check_idle_bootstrap(&js, &shared, feed).await;
                }
                if let Some(feed) = live.as_mut()
                    && feed.last_message_at.elapsed() > stall_after
                {
                    let from = feed.replica.stats().last_sequence + 1;
                    match resume(&shared, &js, &client, Arc::clone(&feed.replica), from).await {
                        Ok(resumed) => {
                            info!(silent_ms = feed.last_message_at.elapsed().as_millis() as u64, from,
                                  "live feed silent; resubscribed from the last applied sequence");
                            *feed = resumed;
                        }
                        Err(error) => warn!(%error, "live feed silent and cannot resubscribe; will retry"),
                    }
                    stall_after = (stall_after * 2).min(STALL_AFTER_MAX);
                }
                if building.is_none() && live.is_some() && shared.replica.load().needs_rebuild() {
                    let stats = shared.replica.load().stats();
                    info!(live = stats.live(), dead = stats.bloom_dead, inserted = stats.bloom_inserted,
                          capacity = stats.bloom_capacity, "rebuilding the bloom filter");
                    match open(&shared, &js, &client).await {
                        Ok(feed) => building = Some(feed),
                        Err(error) => warn!(%error, "cannot open the stream for a rebuild; will retry"),
                    }
                }
            }
        }
    }
}

async fn next_message(
    feed: &mut Option<Feed>,
) -> Option<Result<Message, async_nats::jetstream::consumer::push::OrderedError>> {
    match feed {
        Some(feed) => feed.messages.next().await,
        None => std::future::pending().await,
    }
}

/// Opens a feed that loads a fresh replica from the latest message of every subject.
async fn open(
    shared: &Shared,
    js: &jetstream::Context,
    client: &async_nats::Client,
) -> Result<Feed, OpenError> {
    let mut stream = js.get_stream(&shared.config.stream_name).await?;
    let state = stream.info().await?.state.clone();
    let replica = Arc::new(Replica::new(
        usize::try_from(state.messages).unwrap_or(usize::MAX),
        shared.config.retain_rules,
    ));
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: STREAM_SUBJECTS.to_owned(),
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await?;
    let messages = consumer.messages().await?;
    debug!(
        messages = state.messages,
        last_sequence = state.last_sequence,
        "opened the revocation stream"
    );
    Ok(Feed {
        messages,
        replica,
        target_sequence: state.last_sequence,
        complete: state.messages == 0,
        last_message_at: Instant::now(),
    })
}

/// A feed that continues `replica` from stream sequence `from` (after a stall).
async fn resume(
    shared: &Shared,
    js: &jetstream::Context,
    client: &async_nats::Client,
    replica: Arc<Replica>,
    from: u64,
) -> Result<Feed, OpenError> {
    let stream = js.get_stream(&shared.config.stream_name).await?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: STREAM_SUBJECTS.to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: from },
            ..Default::default()
        })
        .await?;
    Ok(Feed {
        messages: consumer.messages().await?,
        replica,
        target_sequence: 0,
        complete: true,
        last_message_at: Instant::now(),
    })
}

/// A rebuilt replica may replace the live one only once it has applied at least as
/// much of the stream, or checks would briefly miss the newest rules.
fn caught_up_with(building: &Feed, live: Option<&Feed>) -> bool {
    live.is_none_or(|live| building.replica.stats().last_sequence >= live.replica.stats().last_sequence)
}

fn promote(shared: &Shared, live: &mut Option<Feed>, building: &mut Option<Feed>) {
    let Some(feed) = building.take() else { return };
    shared.replica.store(Arc::clone(&feed.replica));
    let stats = feed.replica.stats();
    if live.is_some() {
        shared.rebuilds.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::BLOOM_REBUILDS_TOTAL).increment(1);
        info!(live = stats.live(), "bloom filter rebuilt");
    } else {
        info!(
            live = stats.live(),
            last_sequence = stats.last_sequence,
            "revocation list ready"
        );
    }
    *live = Some(feed);
    refresh_stale(shared);
    shared.status.fetch_or(READY, Ordering::AcqRel);
    shared.ready.send_replace(true);
}

/// Applies one stream message to a feed's replica.
fn apply(shared: &Shared, feed: &mut Feed, message: &Message, is_current: bool) {
    feed.last_message_at = Instant::now();
    let Ok(info) = message.info() else {
        debug!(subject = %message.subject, "a message without JetStream metadata; ignored");
        return;
    };
    let (sequence, pending, published) = (info.stream_sequence, info.pending, info.published);
    let verified = match &shared.config.trust {
        EventTrust::AcceptUnsigned => Ok(()),
        EventTrust::SignedBy(keys) => {
            keys.verify(&message.subject, &message.payload, message.headers.as_ref())
        }
    };
    let event = match verified {
        Ok(()) => Event::decode_keyed(&message.subject, &message.payload).map_err(|error| error.code()),
        Err(rejection) => Err(rejection.code()),
    };
    match event {
        Ok(KeyedEvent::Rule(rule, digest)) if rule.expires_at <= UnixSeconds::now() => {
            feed.replica.forget(rule.kind, rule.iss.as_deref(), digest);
        }
        Ok(KeyedEvent::Rule(rule, digest)) => feed.replica.apply_rule_keyed(&rule, digest, sequence),
        Ok(KeyedEvent::Lift(lift, digest)) => feed.replica.forget(lift.kind, lift.iss.as_deref(), digest),
        Ok(KeyedEvent::Tick(tick)) => {
            // A daemon clock ahead of ours must not keep us "fresh" forever.
            let at = tick.at_unix_ms.min(now_unix_ms());
            shared.last_tick_unix_ms.fetch_max(at, Ordering::AcqRel);
            // Fresh at once, not at the watcher's next round.
            refresh_stale(shared);
        }
        Err(reason) => {
            shared.rejected_events.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(names::EVENTS_REJECTED_TOTAL, "reason" => reason).increment(1);
            warn!(subject = %message.subject, sequence, reason, "ignored an event");
        }
    }
    feed.replica.set_last_sequence(sequence);
    if !feed.complete && (pending == 0 || sequence >= feed.target_sequence) {
        feed.complete = true;
    }
    if is_current && feed.complete {
        let lag = time::OffsetDateTime::now_utc() - published;
        metrics::histogram!(names::APPLY_LAG_SECONDS).record(lag.as_seconds_f64().max(0.0));
    }
}

/// A bootstrap that waits for messages the stream no longer has (they expired or were
/// purged after it opened) would never complete: after a quiet spell, compare with the
/// stream's current state.
async fn check_idle_bootstrap(js: &jetstream::Context, shared: &Shared, feed: &mut Feed) {
    if feed.complete || feed.last_message_at.elapsed() < BOOTSTRAP_IDLE {
        return;
    }
    let Ok(mut stream) = js.get_stream(&shared.config.stream_name).await else {
        return;
    };
    let Ok(info) = stream.info().await else {
        return;
    };
    if info.state.messages == 0 || info.state.last_sequence <= feed.replica.stats().last_sequence {
        feed.complete = true;
    }
}
