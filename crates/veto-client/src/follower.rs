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
//! keys) while the current one keeps serving; once the new one has applied exactly as
//! much of the stream as the old, it replaces it atomically and its consumer becomes
//! the live feed. The old replica's values are never needed, so rules keep no copy of
//! their values for this.
//!
//! [`run`] is a loop of three named steps: a live message, a bootstrap message,
//! housekeeping. Errors never end the task: the ordered consumer recreates itself after
//! a NATS restart (yielding one error, which is skipped), and opening the stream is
//! retried with backoff.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::{Ordered, OrderedConfig, OrderedError};
use async_nats::jetstream::{self, Message};
use futures_util::StreamExt;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use veto_proto::{KEY_ID_HEADER, SIGNATURE_HEADER, STREAM_SUBJECTS, UnixSeconds};

use crate::apply::{Incoming, apply};
use crate::error::OpenError;
use crate::metrics::names;
use crate::replica::Replica;
use crate::shared::ListState;

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
    /// When the stream was created, as of opening the feed.
    stream_created: time::OffsetDateTime,
    /// The stream's last sequence as of opening the feed.
    stream_last_sequence: u64,
}

/// The follower's own state between steps.
struct Follower {
    state: Arc<ListState>,
    client: async_nats::Client,
    js: jetstream::Context,
    /// The feed of the serving replica, once there is one.
    live: Option<Feed>,
    /// A replica being loaded: the first one, or a rebuild.
    building: Option<Feed>,
    last_sweep: Instant,
    stall_after: Duration,
    /// When the stream being followed was created: another time is another stream.
    stream_created: Option<time::OffsetDateTime>,
}

pub(crate) async fn run(state: Arc<ListState>, client: async_nats::Client) {
    let mut follower = Follower {
        js: jetstream::new(client.clone()),
        client,
        state,
        live: None,
        building: None,
        last_sweep: Instant::now(),
        stall_after: STALL_AFTER,
        stream_created: None,
    };
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        if follower.live.is_none() && follower.building.is_none() {
            follower.open_first_feed().await;
        }
        follower.promote_if_caught_up();
        tokio::select! {
            next = next_message(&mut follower.live), if follower.live.is_some() => follower.on_live_message(next),
            next = next_message(&mut follower.building), if follower.building.is_some() => follower.on_bootstrap_message(next),
            _ = housekeeping.tick() => follower.housekeeping().await,
        }
    }
}

impl Follower {
    /// Opens the feed that loads the list, retrying with backoff until it opens.
    async fn open_first_feed(&mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match open(&self.state, &self.js, &self.client).await {
                Ok(feed) => {
                    self.stream_created = Some(feed.stream_created);
                    self.building = Some(feed);
                    return;
                }
                Err(error) => {
                    warn!(%error, retry_in_ms = backoff.as_millis() as u64, "cannot open the revocation stream");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// A rebuilt (or first) replica replaces the serving one once it has applied exactly
    /// as much of the stream: then no change is missed or told twice to the observer.
    fn promote_if_caught_up(&mut self) {
        let caught_up = self.building.as_ref().is_some_and(|building| {
            building.complete
                && self.live.as_ref().is_none_or(|live| {
                    building.replica.stats().last_sequence == live.replica.stats().last_sequence
                })
        });
        if !caught_up {
            return;
        }
        let Some(feed) = self.building.take() else { return };
        self.state.replica.store(Arc::clone(&feed.replica));
        let stats = feed.replica.stats();
        if self.live.is_some() {
            self.state.rebuilds.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(names::BLOOM_REBUILDS_TOTAL).increment(1);
            info!(live = stats.live(), "bloom filter rebuilt");
        } else {
            info!(
                live = stats.live(),
                last_sequence = stats.last_sequence,
                "revocation list ready"
            );
        }
        self.live = Some(feed);
        self.state.mark_ready();
    }

    fn on_live_message(&mut self, next: Option<Result<Message, OrderedError>>) {
        match next {
            Some(Ok(message)) => {
                let in_order = match self.live.as_mut() {
                    Some(feed) => apply_message(&self.state, feed, &message, true),
                    None => true,
                };
                if !in_order {
                    self.reload("a message older than what the list applied");
                }
                self.stall_after = STALL_AFTER;
            }
            Some(Err(error)) => {
                debug!(%error, "live feed interrupted; the ordered consumer recreates itself")
            }
            None => {
                warn!("live feed ended; reloading the list (the current one keeps serving)");
                self.live = None;
            }
        }
    }

    fn on_bootstrap_message(&mut self, next: Option<Result<Message, OrderedError>>) {
        match next {
            Some(Ok(message)) => {
                // Only the first load is the serving replica's history; a rebuild's
                // events were already observed on the live feed.
                let serving = self.live.is_none();
                let in_order = match self.building.as_mut() {
                    Some(feed) => apply_message(&self.state, feed, &message, serving),
                    None => true,
                };
                if !in_order {
                    self.reload("a message older than what the list applied");
                }
            }
            Some(Err(error)) => {
                debug!(%error, "bootstrap feed interrupted; the ordered consumer recreates itself")
            }
            None => {
                warn!("bootstrap feed ended; starting over");
                self.building = None;
            }
        }
    }

    /// The stream went back (restored from a backup, deleted and created again, or an
    /// R3 leader that lost its tail): what it holds now is loaded from scratch, while
    /// the current replica keeps serving; the observer starts over.
    fn reload(&mut self, why: &str) {
        warn!(
            why,
            "the stream went back; loading the list from scratch (the current one keeps serving)"
        );
        metrics::counter!(names::STREAM_RESETS_TOTAL).increment(1);
        self.live = None;
        self.building = None;
        self.stream_created = None;
        if let Some(observer) = &self.state.config.observer {
            observer.reset();
        }
    }

    /// Remembers the stream's creation time; a different one is a new stream.
    fn note_stream_created(&mut self, created: time::OffsetDateTime) -> bool {
        if self.live.is_none() {
            self.stream_created = Some(created);
            return true;
        }
        match self.stream_created.replace(created) {
            Some(known) if known != created => {
                self.reload("the stream was created again");
                false
            }
            _ => true,
        }
    }

    /// Sweeps expired rules, notices a stalled bootstrap or a silent live feed, and
    /// starts a rebuild when the bloom filter needs one.
    async fn housekeeping(&mut self) {
        if self.last_sweep.elapsed() >= self.state.config.sweep_interval {
            self.last_sweep = Instant::now();
            let now = UnixSeconds::now();
            let swept = self.state.replica.load().sweep_expired(now);
            if let Some(observer) = &self.state.config.observer {
                observer.sweep(now);
            }
            if swept > 0 {
                debug!(swept, "dropped expired rules");
            }
        }
        if let Some(feed) = self.building.as_mut() {
            check_idle_bootstrap(&self.js, &self.state, feed).await;
        }
        self.resubscribe_if_silent().await;
        if self.building.is_none() && self.live.is_some() && self.state.replica.load().needs_rebuild() {
            let stats = self.state.replica.load().stats();
            info!(
                live = stats.live(),
                dead = stats.bloom_dead,
                inserted = stats.bloom_inserted,
                capacity = stats.bloom_capacity,
                "rebuilding the bloom filter"
            );
            match open(&self.state, &self.js, &self.client).await {
                Ok(feed) => {
                    if self.note_stream_created(feed.stream_created) {
                        self.building = Some(feed);
                    }
                }
                Err(error) => warn!(%error, "cannot open the stream for a rebuild; will retry"),
            }
        }
    }

    async fn resubscribe_if_silent(&mut self) {
        let Some(feed) = self.live.as_mut() else { return };
        if feed.last_message_at.elapsed() <= self.stall_after {
            return;
        }
        let from = feed.replica.stats().last_sequence + 1;
        match resume(
            &self.state,
            &self.js,
            &self.client,
            Arc::clone(&feed.replica),
            from,
        )
        .await
        {
            Ok(resumed) => {
                info!(
                    silent_ms = feed.last_message_at.elapsed().as_millis() as u64,
                    from, "live feed silent; resubscribed from the last applied sequence"
                );
                let went_back = resumed.stream_last_sequence + 1 < from;
                let created = resumed.stream_created;
                *feed = resumed;
                if went_back {
                    self.reload("the stream's last sequence is below what the list applied");
                } else {
                    self.note_stream_created(created);
                }
            }
            Err(error) => warn!(%error, "live feed silent and cannot resubscribe; will retry"),
        }
        self.stall_after = (self.stall_after * 2).min(STALL_AFTER_MAX);
    }
}

async fn next_message(feed: &mut Option<Feed>) -> Option<Result<Message, OrderedError>> {
    match feed {
        Some(feed) => feed.messages.next().await,
        None => std::future::pending().await,
    }
}

/// Opens a feed that loads a fresh replica from the latest message of every subject.
async fn open(
    state: &ListState,
    js: &jetstream::Context,
    client: &async_nats::Client,
) -> Result<Feed, OpenError> {
    let mut stream = js.get_stream(&state.config.stream_name).await?;
    let info = stream.info().await?;
    let (stream_state, stream_created) = (info.state.clone(), info.created);
    let replica = Arc::new(Replica::new(
        usize::try_from(stream_state.messages).unwrap_or(usize::MAX),
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
        messages = stream_state.messages,
        last_sequence = stream_state.last_sequence,
        "opened the revocation stream"
    );
    Ok(Feed {
        messages,
        replica,
        target_sequence: stream_state.last_sequence,
        complete: stream_state.messages == 0,
        last_message_at: Instant::now(),
        stream_created,
        stream_last_sequence: stream_state.last_sequence,
    })
}

/// A feed that continues `replica` from stream sequence `from` (after a stall).
async fn resume(
    state: &ListState,
    js: &jetstream::Context,
    client: &async_nats::Client,
    replica: Arc<Replica>,
    from: u64,
) -> Result<Feed, OpenError> {
    let stream = js.get_stream(&state.config.stream_name).await?;
    let info = stream.cached_info();
    let (stream_created, stream_last_sequence) = (info.created, info.state.last_sequence);
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
        stream_created,
        stream_last_sequence,
    })
}

/// Applies one stream message to a feed's replica; `serving`: the replica is (or is
/// about to become, as the first one) the one checks read. Returns `false` when the
/// message is older than what the feed applied: the stream went back.
fn apply_message(state: &ListState, feed: &mut Feed, message: &Message, serving: bool) -> bool {
    feed.last_message_at = Instant::now();
    let Ok(info) = message.info() else {
        debug!(subject = %message.subject, "a message without JetStream metadata; ignored");
        return true;
    };
    let (sequence, pending, published) = (info.stream_sequence, info.pending, info.published);
    if sequence <= feed.replica.stats().last_sequence {
        return false;
    }
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str())
    };
    let incoming = Incoming {
        subject: &message.subject,
        payload: &message.payload,
        key_id: header(KEY_ID_HEADER),
        signature: header(SIGNATURE_HEADER),
        sequence,
    };
    apply(state, &feed.replica, &incoming, serving);
    if !feed.complete && (pending == 0 || sequence >= feed.target_sequence) {
        feed.complete = true;
    }
    if serving && feed.complete {
        let lag = time::OffsetDateTime::now_utc() - published;
        metrics::histogram!(names::APPLY_LAG_SECONDS).record(lag.as_seconds_f64().max(0.0));
    }
    true
}

/// A bootstrap that waits for messages the stream no longer has (they expired or were
/// purged after it opened) would never complete: after a quiet spell, compare with the
/// stream's current state.
async fn check_idle_bootstrap(js: &jetstream::Context, state: &ListState, feed: &mut Feed) {
    if feed.complete || feed.last_message_at.elapsed() < BOOTSTRAP_IDLE {
        return;
    }
    let Ok(mut stream) = js.get_stream(&state.config.stream_name).await else {
        return;
    };
    let Ok(info) = stream.info().await else {
        return;
    };
    if info.state.messages == 0 || info.state.last_sequence <= feed.replica.stats().last_sequence {
        feed.complete = true;
    }
}
