//! Durable, non-weakening, idempotent writes to the stream.
//!
//! Each write reads the key's current state, merges (a revocation never weakens an
//! earlier one for the same key), and publishes with compare-and-set on the subject's
//! last sequence (`Nats-Expected-Last-Subject-Sequence`), so that with several daemons
//! the later `issued_before` and `expires_at` always win; on a conflict it re-reads and
//! retries. The current state comes from the daemon's listing index first (no round
//! trip), and from the stream itself after a conflict. `Nats-Msg-Id` is a hash of the
//! encoded event, so a retried publish within the duplicate window is stored once.
//! A write succeeds only once JetStream acknowledged it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, Stream};
use async_nats::jetstream::{self};
use tracing::debug;
use veto_proto::{Event, Lift, RevocationRule};

use crate::index::{RuleIndex, StoredRule};
use crate::metrics::names;
use crate::signer::EventSigner;

/// How many compare-and-set rounds a write tries before giving up with a conflict.
const MAX_CAS_ATTEMPTS: usize = 8;

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// NATS did not acknowledge within the publish timeout, or is disconnected.
    #[error("NATS did not acknowledge: {0}")]
    Unavailable(String),
    /// The key kept changing under us.
    #[error("the key changed concurrently {MAX_CAS_ATTEMPTS} times")]
    Contention,
    /// A lift for a key with no live rule.
    #[error("no live rule for that key")]
    NotFound,
}

/// Whether a write published something or found it already in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new event was published.
    Published,
    /// The stream already held a rule covering the request; nothing was published.
    AlreadyCovered,
}

/// Writes rules and lifts.
#[derive(Clone, Debug)]
pub struct Publisher {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: Stream,
    index: Arc<RuleIndex>,
    timeout: Duration,
    signer: Option<Arc<EventSigner>>,
}

/// The state of one key in the stream.
enum KeyState {
    Nothing,
    Rule(RevocationRule),
    Lifted,
}

impl Publisher {
    /// A publisher on `stream`, reading a key's current state from the daemon's `index`
    /// first.
    pub fn new(
        client: async_nats::Client,
        js: jetstream::Context,
        stream: Stream,
        index: Arc<RuleIndex>,
        timeout: Duration,
        signer: Option<Arc<EventSigner>>,
    ) -> Publisher {
        Publisher {
            client,
            js,
            stream,
            index,
            timeout,
            signer,
        }
    }

    /// The stream's info, from the server.
    pub async fn stream_info(&self) -> Result<async_nats::jetstream::stream::Info, PublishError> {
        let mut stream = self.stream.clone();
        stream
            .info()
            .await
            .cloned()
            .map_err(|error| PublishError::Unavailable(error.to_string()))
    }

    /// Revokes: publishes `rule`, merged with the key's current rule, unless that rule
    /// already covers it. Returns the stored rule and its sequence.
    pub async fn revoke(&self, rule: RevocationRule) -> Result<(StoredRule, Outcome), PublishError> {
        self.within_publish_timeout(async {
            let subject = rule.subject();
            let (mut current, mut sequence) = self.current_in_index(&rule);
            // Whether `current` came from the stream leader rather than the index.
            let mut authoritative = false;
            for _ in 0..MAX_CAS_ATTEMPTS {
                let to_publish = match &current {
                    // The index may lag (a lift it has not applied yet): answer "already
                    // covered" only on the stream's word. A publish needs no such check:
                    // compare-and-set refuses one based on a stale sequence.
                    KeyState::Rule(existing) if existing.covers(&rule) && !authoritative => {
                        (current, sequence) = self.current_in_stream(&subject).await?;
                        authoritative = true;
                        continue;
                    }
                    KeyState::Rule(existing) if existing.covers(&rule) => {
                        return Ok((
                            StoredRule {
                                rule: existing.clone(),
                                sequence,
                            },
                            Outcome::AlreadyCovered,
                        ));
                    }
                    KeyState::Rule(existing) => existing.strengthened_by(&rule),
                    KeyState::Nothing | KeyState::Lifted => rule.clone(),
                };
                match self
                    .publish(&subject, &Event::Rule(to_publish.clone()), sequence)
                    .await?
                {
                    Some(stored_at) => {
                        return Ok((
                            StoredRule {
                                rule: to_publish,
                                sequence: stored_at,
                            },
                            Outcome::Published,
                        ));
                    }
                    None => {
                        (current, sequence) = self.current_in_stream(&subject).await?;
                        authoritative = true;
                    }
                }
            }
            Err(PublishError::Contention)
        })
        .await
    }

    /// Lifts the live rule with `lift`'s key. Returns the sequence of the tombstone.
    pub async fn lift(&self, lift: Lift) -> Result<(RevocationRule, u64), PublishError> {
        self.within_publish_timeout(async {
            let subject = lift.subject();
            let (mut current, mut sequence) =
                match self
                    .index
                    .rule(lift.kind, lift.iss.as_deref(), lift.value.as_deref())
                {
                    Some(stored) => (KeyState::Rule(stored.rule), stored.sequence),
                    // The index may lag a write made a moment ago: ask the stream.
                    None => self.current_in_stream(&subject).await?,
                };
            for _ in 0..MAX_CAS_ATTEMPTS {
                let KeyState::Rule(existing) = current else {
                    return Err(PublishError::NotFound);
                };
                match self
                    .publish(&subject, &Event::Lift(lift.clone()), sequence)
                    .await?
                {
                    Some(stored_at) => return Ok((existing, stored_at)),
                    None => (current, sequence) = self.current_in_stream(&subject).await?,
                }
            }
            Err(PublishError::Contention)
        })
        .await
    }

    async fn within_publish_timeout<T>(
        &self,
        write: impl Future<Output = Result<T, PublishError>>,
    ) -> Result<T, PublishError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            metrics::counter!(names::PUBLISH_ERRORS_TOTAL, "reason" => "disconnected").increment(1);
            return Err(PublishError::Unavailable("not connected to NATS".into()));
        }
        match tokio::time::timeout(self.timeout, write).await {
            Ok(result) => result,
            Err(_) => {
                metrics::counter!(names::PUBLISH_ERRORS_TOTAL, "reason" => "timeout").increment(1);
                Err(PublishError::Unavailable(format!(
                    "no acknowledgement within {:?}",
                    self.timeout
                )))
            }
        }
    }

    fn current_in_index(&self, rule: &RevocationRule) -> (KeyState, u64) {
        match self
            .index
            .rule(rule.kind, rule.iss.as_deref(), rule.value.as_deref())
        {
            Some(stored) => (KeyState::Rule(stored.rule), stored.sequence),
            None => (KeyState::Nothing, 0),
        }
    }

    /// The key's current state from the stream leader (not a direct get, which a lagging
    /// replica may answer).
    async fn current_in_stream(&self, subject: &str) -> Result<(KeyState, u64), PublishError> {
        match self.stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => {
                let current = match Event::decode_on(subject, &message.payload) {
                    Ok(Event::Rule(rule)) => KeyState::Rule(rule),
                    Ok(Event::Lift(_)) => KeyState::Lifted,
                    // Something we cannot read sits on the subject; a valid event replaces it.
                    Ok(Event::Tick(_)) | Err(_) => KeyState::Nothing,
                };
                Ok((current, message.sequence))
            }
            Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => {
                Ok((KeyState::Nothing, 0))
            }
            Err(error) => {
                metrics::counter!(names::PUBLISH_ERRORS_TOTAL, "reason" => "read").increment(1);
                Err(PublishError::Unavailable(error.to_string()))
            }
        }
    }

    /// Publishes with compare-and-set on `expected_last_sequence` and waits for the
    /// acknowledgement. `Ok(None)` is a conflict: the subject moved on.
    async fn publish(
        &self,
        subject: &str,
        event: &Event,
        expected_last_sequence: u64,
    ) -> Result<Option<u64>, PublishError> {
        let payload = event.encode();
        // The id covers the expected sequence too: the same event published again after
        // the key changed (revoke, lift, revoke within one second) is a new message,
        // while a retry of this very attempt is recognised as a duplicate.
        let mut identity = payload.clone();
        identity.extend_from_slice(&expected_last_sequence.to_be_bytes());
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", Event::msg_id(&identity).as_str());
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            expected_last_sequence.to_string().as_str(),
        );
        if let Some(signer) = &self.signer {
            signer.sign_into(subject, &payload, &mut headers);
        }
        let started = Instant::now();
        let acked = async {
            self.js
                .publish_with_headers(subject.to_owned(), headers, payload.into())
                .await?
                .await
        }
        .await;
        metrics::histogram!(names::PUBLISH_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
        match acked {
            Ok(ack) => {
                if ack.duplicate {
                    debug!(
                        subject,
                        sequence = ack.sequence,
                        "duplicate publish; the stream kept the first"
                    );
                }
                Ok(Some(ack.sequence))
            }
            Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                metrics::counter!(names::PUBLISH_CONFLICTS_TOTAL).increment(1);
                Ok(None)
            }
            Err(error) => {
                metrics::counter!(names::PUBLISH_ERRORS_TOTAL, "reason" => "publish").increment(1);
                Err(PublishError::Unavailable(error.to_string()))
            }
        }
    }
}
