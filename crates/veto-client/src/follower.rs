//! The follower: the one task that writes the list, with no per-client state on the
//! server.
//!
//! - **Live**: the stream republishes every stored message, with its stream sequence,
//!   on `veto.v1.live.>`; the follower holds one plain core subscription there. No
//!   consumer, no heartbeats, no flow control: the server's cost per service is one
//!   subscription's interest.
//! - **Load**: from the newest snapshot it can verify (one signature for the whole
//!   list), then the stored messages after it, read with batched direct gets; with no
//!   usable snapshot (or for the daemon, whose index needs every rule in full), every
//!   stored message from sequence 1 (the stream keeps one per key: that is the list).
//! - **In order, exactly once**: a live message is applied when it is the next sequence;
//!   one that is not yet is held while the gap is read with direct gets; one already
//!   applied is dropped. So nothing is applied twice, none skipped.
//! - **Going back**: a message older than what is applied, a stream whose last sequence
//!   is below it, or a new creation time, means the stream was restored or created
//!   again: the list loads from scratch while the old copy serves.
//! - **Silence**: daemons tick every second; after a few silent seconds the follower
//!   asks the stream where it stands and reads what it missed.
//! - **Rebuild**: when a bloom filter is full or mostly dead, a fresh replica loads in
//!   another task (as the first did) while the current one serves; it then reads up to
//!   the current one's sequence and replaces it atomically.
//!
//! `run` is a loop of named steps: a live message, a finished rebuild, housekeeping.
//! Errors never end the task: every read is retried with backoff.
//!
//! Longer than most files on purpose: the follower is one task's state machine (load, live
//! messages, gaps, rebuilds, housekeeping) whose steps share its state; split apart, each
//! part would take the whole `Follower` anyway.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use veto_proto::subject::LIVE_SUBJECTS;
use veto_proto::{KEY_ID_HEADER, SIGNATURE_HEADER, UnixSeconds, VerificationKeys};

use crate::apply::{Incoming, apply};
use crate::config::{Bootstrap, EventTrust};
use crate::direct::{DirectReader, ReadError, StoredMessage, StreamFacts};
use crate::metrics::names;
use crate::replica::Replica;
use crate::shared::ListState;
use crate::snapshots;

/// How often the follower sweeps, checks for a rebuild, and listens for silence.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(500);
/// A live feed silent for longer than 7/10 of the list's `max_staleness` (daemons tick
/// at least twice within it: every 5 s by default, against 10 s) asks the stream where
/// it stands. Doubles while the silence lasts (no daemon running), up to
/// [`SILENCE_MAX`]; never less than [`SILENCE_MIN`].
const SILENCE_MIN: Duration = Duration::from_secs(1);
const SILENCE_MAX: Duration = Duration::from_secs(30);

/// The silence after which a list asks the stream where it stands.
fn silence_of(state: &ListState) -> Duration {
    (state.config.max_staleness * 7 / 10).clamp(SILENCE_MIN, SILENCE_MAX)
}
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Messages verified ahead together, then applied: well under what
/// [`veto_proto::known_good`] remembers, so that other lists of the process loading
/// meanwhile do not push them out before they are applied.
const VERIFY_AHEAD_CHUNK: usize = 2_048;
/// Fewer messages than this are verified as they are applied (a short tail).
const VERIFY_AHEAD_MIN: usize = 256;
/// Live messages held ahead of the next sequence, at most (the rest are read with the
/// gap).
const MAX_HELD: usize = crate::direct::BATCH;

/// A rebuilt replica and the sequence it applied, once its task is done (none: it
/// failed, and is tried again).
type Rebuilt = oneshot::Receiver<Option<(Arc<Replica>, u64)>>;

/// The serving replica and how far it has applied the stream.
struct Serving {
    replica: Arc<Replica>,
    applied: u64,
    /// The stream's creation time, when known.
    created_unix_ns: Option<i64>,
}

/// The follower's own state between steps.
struct Follower {
    state: Arc<ListState>,
    reader: DirectReader,
    serving: Option<Serving>,
    /// Live messages ahead of the next sequence, held until the gap is read.
    ahead: BTreeMap<u64, StoredMessage>,
    last_message_at: Instant,
    silence: Duration,
    last_sweep: Instant,
    rebuild: Option<Rebuilt>,
    /// When the follower last asked whether the stream went back.
    last_went_back_check: Instant,
}

pub(crate) async fn run(state: Arc<ListState>, client: async_nats::Client) {
    let reader = DirectReader::new(client.clone(), state.config.js_domain.as_deref());
    let silence = silence_of(&state);
    let mut follower = Follower {
        state,
        reader,
        serving: None,
        ahead: BTreeMap::new(),
        last_message_at: Instant::now(),
        silence,
        last_sweep: Instant::now(),
        rebuild: None,
        last_went_back_check: Instant::now(),
    };
    // Subscribe first: whatever is published while the list loads waits here.
    let mut live = follower.subscribe(&client).await;
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        if follower.serving.is_none() {
            follower.load_first().await;
        }
        tokio::select! {
            message = live.next() => match message {
                Some(message) => follower.on_live(message).await,
                None => {
                    warn!("the live subscription ended; subscribing again");
                    live = follower.subscribe(&client).await;
                }
            },
            built = rebuilt(&mut follower.rebuild), if follower.rebuild.is_some() => {
                follower.rebuild = None;
                follower.on_rebuilt(built).await;
            }
            _ = housekeeping.tick() => follower.housekeeping().await,
        }
    }
}

async fn rebuilt(rebuild: &mut Option<Rebuilt>) -> Option<(Arc<Replica>, u64)> {
    match rebuild {
        Some(receiver) => receiver.await.ok().flatten(),
        None => std::future::pending().await,
    }
}

impl Follower {
    /// The live subscription, retried until it is made.
    async fn subscribe(&self, client: &async_nats::Client) -> async_nats::Subscriber {
        let mut backoff = BACKOFF_MIN;
        loop {
            match client.subscribe(LIVE_SUBJECTS).await {
                Ok(subscriber) => return subscriber,
                Err(error) => {
                    warn!(%error, "cannot subscribe to the live stream; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Loads the list (the first time, or after the stream went back), retrying with
    /// backoff; the first load makes the list ready.
    async fn load_first(&mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match load(&self.state, &self.reader, true, None, false).await {
                Ok((replica, facts)) => {
                    let applied = replica.stats().last_sequence;
                    self.state.replica.store(Arc::clone(&replica));
                    let stats = replica.stats();
                    info!(live = stats.live(), applied, "revocation list ready");
                    self.serving = Some(Serving {
                        replica,
                        applied,
                        created_unix_ns: facts.created_unix_ns,
                    });
                    self.ahead.retain(|sequence, _| *sequence > applied);
                    self.last_message_at = Instant::now();
                    self.state.reset_applied(applied);
                    self.state.mark_ready();
                    return;
                }
                Err(error) => {
                    warn!(%error, retry_in_ms = backoff.as_millis() as u64, "cannot load the revocation list");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// One live message: applied if it is the next sequence; held (and the gap read)
    /// if it is ahead; dropped if already applied.
    async fn on_live(&mut self, message: async_nats::Message) {
        self.last_message_at = Instant::now();
        self.silence = silence_of(&self.state);
        let Some(stored) = stored_of(&message) else {
            debug!(subject = %message.subject, "a live message without its stream sequence; ignored");
            return;
        };
        // Held messages are bounded, in number and in how far ahead they claim to be
        // (a sequence header is anyone's word where anyone may publish): beyond, the gap
        // read fetches them from the stream.
        let applied = self.serving.as_ref().map_or(0, |serving| serving.applied);
        let too_far = self.serving.is_some() && stored.sequence > applied.saturating_add(MAX_HELD as u64);
        if too_far || (self.ahead.len() >= MAX_HELD && !self.ahead.contains_key(&stored.sequence)) {
            debug!(
                sequence = stored.sequence,
                applied, "too many live messages held; read later with the gap"
            );
            return;
        }
        let Some(serving) = &self.serving else {
            self.ahead.insert(stored.sequence, stored);
            return;
        };
        if stored.sequence <= serving.applied {
            // Read already while loading or filling a gap, or the stream went back
            // (asked at most once a second).
            if stored.sequence + 1 < serving.applied
                && self.last_went_back_check.elapsed() >= Duration::from_secs(1)
            {
                self.last_went_back_check = Instant::now();
                if self.stream_went_back().await {
                    self.reload("a live message older than what the list applied");
                }
            }
            return;
        }
        self.ahead.insert(stored.sequence, stored);
        self.apply_ahead().await;
    }

    /// Applies the held messages in order, reading each gap before them.
    async fn apply_ahead(&mut self) {
        loop {
            let Some(serving) = &mut self.serving else { return };
            let next = serving.applied + 1;
            let Some((&first, _)) = self.ahead.first_key_value() else {
                return;
            };
            if first > next {
                // Read up to the newest held message: a replica that answers with it
                // holds everything before it (a lagging one does not, and its holes
                // would look like deleted messages), so the holes left are deleted
                // messages (superseded or aged out), nothing to apply.
                let newest = self
                    .ahead
                    .last_key_value()
                    .map_or(first, |(sequence, _)| *sequence);
                match self
                    .reader
                    .range(&self.state.config.stream_name, next, newest)
                    .await
                {
                    Ok(missed) if missed.iter().any(|message| message.sequence == newest) => {
                        debug!(from = next, to = newest, read = missed.len(), "read a gap");
                        // The stream's copy wins over a live one.
                        for message in missed {
                            self.ahead.insert(message.sequence, message);
                        }
                    }
                    Ok(_) => {
                        debug!(
                            from = next,
                            to = newest,
                            "the stream's answer lags the live message; retrying later"
                        );
                        return;
                    }
                    Err(error) => {
                        warn!(%error, "cannot read a gap in the live stream; retrying at the next message");
                        return;
                    }
                }
                let Some((&first, _)) = self.ahead.first_key_value() else {
                    return;
                };
                if first - 1 > serving.applied {
                    serving.applied = first - 1;
                    serving.replica.set_last_sequence(serving.applied);
                    self.state.note_applied(serving.applied);
                }
            }
            while let Some(entry) = self.ahead.first_entry() {
                if *entry.key() > serving.applied + 1 {
                    break;
                }
                let message = entry.remove();
                if message.sequence > serving.applied {
                    apply_stored(&self.state, &serving.replica, &message, true);
                    serving.applied = message.sequence;
                }
            }
            if self.ahead.is_empty() {
                return;
            }
        }
    }

    /// Whether the stream's last sequence is below what the list applied, or the
    /// stream is not the one the list loaded.
    async fn stream_went_back(&self) -> bool {
        let Some(serving) = &self.serving else {
            return false;
        };
        match self.reader.facts(&self.state.config.stream_name).await {
            Ok(facts) => {
                facts.last_sequence < serving.applied
                    || matches!((facts.created_unix_ns, serving.created_unix_ns), (Some(now), Some(then)) if now != then)
            }
            Err(_) => false,
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
        self.serving = None;
        self.ahead.clear();
        self.rebuild = None;
        if let Some(observer) = &self.state.config.observer {
            observer.reset();
        }
    }

    /// Sweeps expired rules, asks the stream where it stands after a silence, and
    /// starts a rebuild when a bloom filter needs one.
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
        if self.serving.is_some() && self.last_message_at.elapsed() > self.silence {
            self.after_silence().await;
        }
        let needs_rebuild = self
            .serving
            .as_ref()
            .is_some_and(|serving| serving.replica.needs_rebuild());
        if needs_rebuild && self.rebuild.is_none() {
            self.start_rebuild();
        }
    }

    /// After a silence: read what was missed, or reload if the stream went back.
    async fn after_silence(&mut self) {
        self.last_message_at = Instant::now();
        self.silence = (self.silence * 2).min(SILENCE_MAX);
        let Some(serving) = &self.serving else { return };
        let facts = match self.reader.facts(&self.state.config.stream_name).await {
            Ok(facts) => facts,
            Err(error) => {
                warn!(%error, "the live stream is silent and the stream does not answer");
                return;
            }
        };
        let recreated = matches!((facts.created_unix_ns, serving.created_unix_ns), (Some(now), Some(then)) if now != then);
        if facts.last_sequence < serving.applied || recreated {
            self.reload("the stream's last sequence is below what the list applied, or it was created again");
        } else if facts.last_sequence > serving.applied {
            info!(
                applied = serving.applied,
                last = facts.last_sequence,
                "the live stream was silent; reading what was missed"
            );
            match self
                .reader
                .batch(&self.state.config.stream_name, facts.last_sequence, 1, None)
                .await
            {
                Ok(last) => {
                    for message in last {
                        self.ahead.insert(message.sequence, message);
                    }
                    self.apply_ahead().await;
                }
                Err(error) => warn!(%error, "cannot read what the silence missed; will retry"),
            }
        }
    }

    /// Loads a fresh replica in another task, sized for the live rules.
    fn start_rebuild(&mut self) {
        let Some(serving) = &self.serving else { return };
        let stats = serving.replica.stats();
        info!(
            live = stats.live(),
            dead = stats.bloom_dead,
            inserted = stats.bloom_inserted,
            capacity = stats.bloom_capacity,
            "rebuilding the bloom filters"
        );
        let (state, reader) = (Arc::clone(&self.state), self.reader.clone());
        let sizes = serving.replica.live_values();
        let (done, receiver) = oneshot::channel();
        self.rebuild = Some(receiver);
        // An observer that keeps every rule in full (the daemon's index) gives the
        // rules as of what the serving replica applied: no stream read, no signature
        // verified again. Taken here, between two changes, so that it is exactly that.
        let held = self
            .state
            .config
            .observer
            .as_ref()
            .and_then(|observer| observer.snapshot(Replica::bloom_capacities(sizes)));
        if let Some(held) = held {
            tokio::task::spawn_blocking(move || {
                let built = Replica::from_snapshot(&held, UnixSeconds::now())
                    .inspect_err(|error| warn!(%error, "cannot rebuild the bloom filters from the observer"))
                    .ok();
                let _ = done.send(built.map(|replica| (Arc::new(replica), held.sequence)));
            });
            return;
        }
        tokio::spawn(async move {
            let built = match load(&state, &reader, false, Some(sizes), false).await {
                Ok((replica, _)) if !replica.needs_rebuild() => Some(replica),
                // A snapshot whose filters are already full: replay instead.
                Ok(_) => load(&state, &reader, false, Some(sizes), true)
                    .await
                    .ok()
                    .map(|(replica, _)| replica),
                Err(error) => {
                    warn!(%error, "cannot rebuild the bloom filters; will retry");
                    None
                }
            };
            let _ = done.send(built.map(|replica| {
                let applied = replica.stats().last_sequence;
                (replica, applied)
            }));
        });
    }

    /// A rebuilt replica reads up to the serving one's sequence, then replaces it.
    async fn on_rebuilt(&mut self, built: Option<(Arc<Replica>, u64)>) {
        let (Some((replica, mut applied)), Some(serving)) = (built, &mut self.serving) else {
            return;
        };
        if applied < serving.applied {
            match self
                .reader
                .range(&self.state.config.stream_name, applied + 1, serving.applied)
                .await
            {
                Ok(missed) => {
                    apply_all(&self.state, &replica, &missed, false).await;
                    applied = serving.applied;
                    replica.set_last_sequence(applied);
                }
                Err(error) => {
                    warn!(%error, "cannot bring the rebuilt filters up to date; will retry");
                    return;
                }
            }
        }
        if applied != serving.applied {
            return;
        }
        self.state.replica.store(Arc::clone(&replica));
        serving.replica = replica;
        self.state.rebuilds.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::BLOOM_REBUILDS_TOTAL).increment(1);
        info!(live = serving.replica.stats().live(), "bloom filters rebuilt");
    }
}

/// A live message's stored form: the original subject and the stream sequence come
/// from the republish headers.
fn stored_of(message: &async_nats::Message) -> Option<StoredMessage> {
    let headers = message.headers.as_ref()?;
    let header = |name: &str| headers.get(name).map(|value| value.as_str().to_owned());
    Some(StoredMessage {
        subject: header("Nats-Subject")?,
        sequence: header("Nats-Sequence")?.parse().ok()?,
        key_id: header(KEY_ID_HEADER),
        signature: header(SIGNATURE_HEADER),
        payload: message.payload.clone(),
    })
}

/// Applies `messages`, in order, a chunk at a time, each chunk's signatures verified
/// ahead on every core ([`verify_ahead`]).
async fn apply_all(state: &ListState, replica: &Replica, messages: &[StoredMessage], serving: bool) {
    for chunk in messages.chunks(VERIFY_AHEAD_CHUNK) {
        verify_ahead(state, chunk).await;
        for message in chunk {
            apply_stored(state, replica, message, serving);
        }
    }
}

/// Verifies the signatures of `messages` across the cores, ahead of applying them in
/// order on one: each good signature is remembered ([`veto_proto::known_good`]), so
/// applying finds it for 0.4 µs instead of verifying it again (about 40 µs). Nothing
/// is decided here: a message that fails is verified, and refused, when applied. Why:
/// a replay (the daemon's start, a service without a usable snapshot) is one Ed25519
/// verification per event, 13.6× a bare read of the stream at 1M rules on one core,
/// 10.1× on two (`benches/run`, bootstrap).
async fn verify_ahead(state: &ListState, messages: &[StoredMessage]) {
    let EventTrust::SignedBy(keys) = &state.config.trust else {
        return;
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if cores < 2 || messages.len() < VERIFY_AHEAD_MIN {
        return;
    }
    let share = messages.len().div_ceil(cores);
    let helpers: Vec<_> = messages[share..]
        .chunks(share)
        .map(|part| {
            let (keys, part) = (keys.clone(), part.to_vec());
            tokio::task::spawn_blocking(move || verify_each(&keys, &part))
        })
        .collect();
    verify_each(keys, &messages[..share]);
    for helper in helpers {
        let _ = helper.await;
    }
}

fn verify_each(keys: &VerificationKeys, messages: &[StoredMessage]) {
    for message in messages {
        let _ = keys.verify(
            &message.subject,
            &message.payload,
            message.key_id.as_deref(),
            message.signature.as_deref(),
        );
    }
}

fn apply_stored(state: &ListState, replica: &Replica, message: &StoredMessage, serving: bool) {
    let incoming = Incoming {
        subject: &message.subject,
        payload: &message.payload,
        key_id: message.key_id.as_deref(),
        signature: message.signature.as_deref(),
        sequence: message.sequence,
    };
    apply(state, replica, &incoming, serving);
}

/// Loads a replica: from the newest usable snapshot (unless the list replays, as the
/// daemon's does, or `replay` says so), then every stored message after it up to the
/// stream's last sequence as of the start, a batch at a time. `serving`: the replica
/// will serve as soon as it is loaded (the first load), so the observer is told and
/// ticks count.
async fn load(
    state: &ListState,
    reader: &DirectReader,
    serving: bool,
    sizes: Option<[usize; 3]>,
    replay: bool,
) -> Result<(Arc<Replica>, StreamFacts), ReadError> {
    let facts = reader.facts(&state.config.stream_name).await?;
    let snapshot = match state.config.bootstrap {
        Bootstrap::Snapshot if state.config.observer.is_none() && !replay => {
            snapshots::newest(state, reader, &facts).await
        }
        _ => None,
    };
    let from_snapshot = snapshot.as_ref().and_then(|snapshot| {
        Replica::from_snapshot(snapshot, UnixSeconds::now())
            .inspect_err(|error| warn!(%error, "refused a snapshot"))
            .ok()
    });
    state.loaded_snapshot.store(
        from_snapshot
            .as_ref()
            .map_or(0, |replica| replica.stats().last_sequence),
        Ordering::Relaxed,
    );
    let replica = match from_snapshot {
        Some(replica) => Arc::new(replica),
        None => {
            let messages =
                usize::try_from(facts.last_sequence.saturating_sub(facts.first_sequence)).unwrap_or(0);
            Arc::new(match sizes {
                Some(sizes) => Replica::with_capacities(sizes),
                None => Replica::new(messages),
            })
        }
    };
    let mut next = replica.stats().last_sequence + 1;
    while next <= facts.last_sequence {
        let batch = reader
            .batch(&state.config.stream_name, next, crate::direct::BATCH, None)
            .await?;
        let Some(last) = batch.last().map(|message| message.sequence) else {
            break;
        };
        let upto = batch.partition_point(|message| message.sequence <= facts.last_sequence);
        apply_all(state, &replica, &batch[..upto], serving).await;
        next = crate::direct::following(&state.config.stream_name, next, last)?;
    }
    replica.set_last_sequence(facts.last_sequence);
    if serving {
        state.note_applied(facts.last_sequence);
    }
    Ok((replica, facts))
}
