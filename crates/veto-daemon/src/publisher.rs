//! Durable, final, idempotent writes to the stream.
//!
//! A key's state comes from the daemon's index, which holds only what its replica
//! applied: events signed by a trusted key, taken by the rules of
//! [`veto_proto::history`]. So an unsigned, forged or replayed message on a subject is
//! never taken for a rule (it cannot make a revocation answer "already covered", nor
//! be the base of a merge). A write publishes with compare-and-set on the subject's
//! latest sequence (`Nats-Expected-Last-Subject-Sequence`), signs the sequence it
//! replaces into the event, and on a conflict waits (bounded) until the index has
//! applied what the stream holds, then decides again. Hence:
//!
//! - a revocation never weakens an earlier one, and after a lift it outlasts the
//!   lifted rule (so a reader can tell it from the lifted rule replayed);
//! - a lift names the rule it removes, and never removes one its caller did not see
//!   (`If-Match`, or the rule read before a conflict: otherwise 409/412);
//! - "already covered" is answered only when the subject's latest message is the
//!   covering rule itself; when something else sits on top, the rule is published
//!   again, which repairs the subject.
//!
//! `Nats-Msg-Id` is a keyed hash (a random key per process) of the encoded event: a
//! retried publish within the duplicate window is stored once, and nobody can make a
//! message that this daemon's next write would be taken for. A duplicate ack is trusted
//! only once the stored message is checked to be this write's. A write succeeds only
//! once JetStream acknowledged it.
//!
//! Longer than most files on purpose: the compare-and-set write protocol (revoke, lift,
//! conflicts, duplicates) is one algorithm over one subject's history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, Stream};
use async_nats::jetstream::{self};
use tracing::{debug, info, warn};
use veto_proto::{Event, KeyDigest, Lift, RevocationRule, RuleKind};

use crate::index::{KeyEntry, KeyView, RuleIndex, StoredRule};
use crate::metrics::names;
use crate::signer::EventSigner;

/// How many compare-and-set rounds a write tries before giving up with a conflict.
const MAX_CAS_ATTEMPTS: usize = 8;
/// How long a write waits for the index to apply what the stream holds.
const INDEX_CATCH_UP: Duration = Duration::from_millis(500);

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
    /// A lift whose caller saw another rule than the one now held.
    #[error("the rule changed since it was read: {0}")]
    Changed(String),
    /// A lift with `If-Match` naming another sequence than the held rule's.
    #[error("the rule is at sequence {held}, not {expected} (If-Match); read it again")]
    NotTheVersionSeen {
        /// The sequence the caller named.
        expected: u64,
        /// The held rule's.
        held: u64,
    },
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
    msg_id_key: [u8; 32],
}

/// What one compare-and-set publish came to.
enum Published {
    /// Stored at this sequence.
    At(u64),
    /// The subject moved on: its latest sequence is not the one expected.
    Conflict,
}

impl Publisher {
    /// A publisher on `stream`, reading a key's state from the daemon's `index`.
    pub fn new(
        client: async_nats::Client,
        js: jetstream::Context,
        stream: Stream,
        index: Arc<RuleIndex>,
        timeout: Duration,
        signer: Option<Arc<EventSigner>>,
    ) -> Publisher {
        let mut msg_id_key = [0u8; 32];
        // The system RNG only fails if the OS has no entropy source at all.
        aws_lc_rs::rand::fill(&mut msg_id_key).unwrap_or_else(|_| panic!("the system random source failed"));
        Publisher {
            client,
            js,
            stream,
            index,
            timeout,
            signer,
            msg_id_key,
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

    /// Revokes: publishes `rule`, merged with the key's held rule, unless that rule
    /// already covers it. Returns the stored rule and its sequence.
    pub async fn revoke(&self, rule: RevocationRule) -> Result<(StoredRule, Outcome), PublishError> {
        self.within_publish_timeout(async {
            let (subject, digest) = (rule.subject(), rule.digest());
            let mut view = self.index.view(rule.kind, digest);
            for _ in 0..MAX_CAS_ATTEMPTS {
                let to_publish = match &view.entry {
                    Some(KeyEntry::Held(held)) if held.covers(&rule) => {
                        let latest = self.latest_sequence(&subject).await?;
                        if latest == view.sequence {
                            let stored = StoredRule {
                                rule: held.clone(),
                                sequence: view.sequence,
                            };
                            return Ok((stored, Outcome::AlreadyCovered));
                        }
                        if latest > view.subject_sequence {
                            // The index lags the stream: decide on what it holds.
                            view = self.caught_up_view(rule.kind, digest, latest).await;
                            continue;
                        }
                        // Something other than the covering rule sits on top: publish
                        // the rule again, which repairs the subject.
                        held.clone()
                    }
                    Some(KeyEntry::Held(held)) => held.strengthened_by(&rule),
                    // After a lift, a revocation outlasts the lifted rule, so no reader
                    // can take it for that rule replayed.
                    Some(KeyEntry::Lifted(_, lifted_expires_at)) if rule.expires_at <= *lifted_expires_at => {
                        RevocationRule {
                            expires_at: lifted_expires_at.saturating_add(Duration::from_secs(1)),
                            ..rule.clone()
                        }
                    }
                    _ => rule.clone(),
                };
                match self
                    .publish(&subject, &Event::Rule(to_publish.clone()), view.subject_sequence)
                    .await?
                {
                    Published::At(sequence) => {
                        let stored = StoredRule {
                            rule: to_publish,
                            sequence,
                        };
                        return Ok((stored, Outcome::Published));
                    }
                    Published::Conflict => view = self.after_conflict(rule.kind, digest, &subject).await?,
                }
            }
            Err(PublishError::Contention)
        })
        .await
    }

    /// Lifts the live rule with `lift`'s key: the one held now, which must be the one
    /// the caller saw (the rule at sequence `if_match` when given, else the one held
    /// when the lift began). The tombstone names it. Returns the lifted rule and the
    /// tombstone's sequence.
    pub async fn lift(
        &self,
        lift: Lift,
        if_match: Option<u64>,
    ) -> Result<(RevocationRule, u64), PublishError> {
        self.within_publish_timeout(async {
            let (subject, digest) = (lift.subject(), lift.digest());
            let mut view = self.index.view(lift.kind, digest);
            if view.entry.is_none() {
                // The index may lag a write made a moment ago.
                let latest = self.latest_sequence(&subject).await?;
                if latest > view.subject_sequence {
                    view = self.caught_up_view(lift.kind, digest, latest).await;
                }
            }
            let mut seen: Option<RevocationRule> = None;
            for _ in 0..MAX_CAS_ATTEMPTS {
                let Some(KeyEntry::Held(held)) = &view.entry else {
                    return Err(PublishError::NotFound);
                };
                if let Some(expected) = if_match
                    && view.sequence != expected
                {
                    return Err(PublishError::NotTheVersionSeen {
                        expected,
                        held: view.sequence,
                    });
                }
                match &seen {
                    Some(seen) if seen != held => {
                        return Err(PublishError::Changed(
                            "another revocation of this key landed first; read it and lift again".to_owned(),
                        ));
                    }
                    Some(_) => {}
                    None => seen = Some(held.clone()),
                }
                let tombstone = Lift {
                    rule_expires_at: Some(held.expires_at),
                    ..lift.clone()
                };
                match self
                    .publish(&subject, &Event::Lift(tombstone), view.subject_sequence)
                    .await?
                {
                    Published::At(sequence) => return Ok((held.clone(), sequence)),
                    Published::Conflict => view = self.after_conflict(lift.kind, digest, &subject).await?,
                }
            }
            Err(PublishError::Contention)
        })
        .await
    }

    /// Publishes the key's held state again when the latest message on its subject is
    /// not it (garbage, unsigned, forged, or an old event replayed on top). Returns
    /// what was published, if anything.
    pub async fn repair(
        &self,
        kind: RuleKind,
        digest: KeyDigest,
    ) -> Result<Option<(&'static str, u64)>, PublishError> {
        self.within_publish_timeout(async {
            let subject = veto_proto::subject::rule_subject(kind, &digest);
            for _ in 0..MAX_CAS_ATTEMPTS {
                let view = self.index.view(kind, digest);
                if !view.needs_repair() {
                    return Ok(None);
                }
                let (what, event) = match &view.entry {
                    Some(KeyEntry::Held(rule)) => ("rule", Event::Rule(rule.clone())),
                    Some(KeyEntry::Lifted(lift, _)) => ("lift", Event::Lift(lift.clone())),
                    None => return Ok(None),
                };
                match self.publish(&subject, &event, view.subject_sequence).await? {
                    Published::At(sequence) => return Ok(Some((what, sequence))),
                    Published::Conflict => {
                        self.after_conflict(kind, digest, &subject).await?;
                    }
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

    /// The view of a key once the index has applied the subject's latest message.
    async fn after_conflict(
        &self,
        kind: RuleKind,
        digest: KeyDigest,
        subject: &str,
    ) -> Result<KeyView, PublishError> {
        let latest = self.latest_sequence(subject).await?;
        Ok(self.caught_up_view(kind, digest, latest).await)
    }

    /// The view of a key once the index has applied stream sequence `latest` (or the
    /// wait ran out). The latest message may be one the replica ignored (unsigned,
    /// forged): then the key's state is the index's, and `latest` its CAS value.
    async fn caught_up_view(&self, kind: RuleKind, digest: KeyDigest, latest: u64) -> KeyView {
        let caught_up = self.index.wait_for(latest, INDEX_CATCH_UP).await;
        let mut view = self.index.view(kind, digest);
        if caught_up {
            view.subject_sequence = view.subject_sequence.max(latest);
        } else {
            debug!(latest, "the index did not catch up with the stream in time");
        }
        view
    }

    /// The sequence of the latest message on `subject` (0: none), from the stream
    /// leader (not a direct get, which a lagging replica may answer).
    async fn latest_sequence(&self, subject: &str) -> Result<u64, PublishError> {
        match self.stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok(message.sequence),
            Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(error) => {
                metrics::counter!(names::PUBLISH_ERRORS_TOTAL, "reason" => "read").increment(1);
                Err(PublishError::Unavailable(error.to_string()))
            }
        }
    }

    /// Publishes `event` replacing the message at `expected_last_sequence` on `subject`
    /// (compare-and-set), and waits for the acknowledgement.
    async fn publish(
        &self,
        subject: &str,
        event: &Event,
        expected_last_sequence: u64,
    ) -> Result<Published, PublishError> {
        let payload = event.encode_replacing(expected_last_sequence);
        let msg_id = hex::encode(&blake3::keyed_hash(&self.msg_id_key, &payload).as_bytes()[..16]);
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id.as_str());
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
                .publish_with_headers(subject.to_owned(), headers, payload.clone().into())
                .await?
                .await
        }
        .await;
        metrics::histogram!(names::PUBLISH_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
        match acked {
            Ok(ack) if ack.duplicate => self.check_duplicate(subject, &payload, ack.sequence).await,
            Ok(ack) => Ok(Published::At(ack.sequence)),
            Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                metrics::counter!(names::PUBLISH_CONFLICTS_TOTAL).increment(1);
                Ok(Published::Conflict)
            }
            Err(error) => {
                metrics::counter!(names::PUBLISH_ERRORS_TOTAL, "reason" => "publish").increment(1);
                Err(PublishError::Unavailable(error.to_string()))
            }
        }
    }

    /// A duplicate acknowledgement names the message stored first under the same id:
    /// trusted only when that message is this one.
    async fn check_duplicate(
        &self,
        subject: &str,
        payload: &[u8],
        sequence: u64,
    ) -> Result<Published, PublishError> {
        match self.stream.get_raw_message(sequence).await {
            Ok(stored) if stored.subject.as_str() == subject && stored.payload.as_ref() == payload => {
                debug!(subject, sequence, "duplicate publish; the stream kept the first");
                Ok(Published::At(sequence))
            }
            Ok(_) => {
                warn!(
                    subject,
                    sequence, "a duplicate acknowledgement for a message that is not this write's"
                );
                metrics::counter!(names::PUBLISH_ERRORS_TOTAL, "reason" => "foreign_duplicate").increment(1);
                Err(PublishError::Unavailable(
                    "the stream holds another message under this write's id".to_owned(),
                ))
            }
            Err(error) => {
                info!(%error, subject, sequence, "cannot read back a duplicate acknowledgement");
                Err(PublishError::Unavailable(error.to_string()))
            }
        }
    }
}
