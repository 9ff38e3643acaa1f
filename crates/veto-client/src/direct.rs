//! Reading the stream without a consumer: JetStream's direct get API, which keeps no
//! state for the reader on the server.
//!
//! A consumer per service costs the server a consumer's state, heartbeats and flow
//! control for as long as the service runs (and a stream allows a bounded number of
//! them): at ten thousand services that is most of the server's work. Instead a list
//! reads what it must (the list at start, a gap after a reconnect, a snapshot's chunks)
//! with batched direct gets (`{"seq":N,"batch":K}`: the stored messages from `N`, each
//! with its headers and `Nats-Sequence`, then an end-of-batch status), and follows the
//! live stream through a plain core subscription. The stream keeps one message per
//! subject, so reading every stored message from sequence 1 is reading the list.

use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;

/// How many messages one direct get asks for.
pub const BATCH: usize = 10_000;
/// The most bytes one direct get asks the server to send.
const BATCH_MAX_BYTES: usize = 8 * 1024 * 1024;
/// How long one direct get may take.
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a batch read from `from` that ended at `last` goes on: sequences only go
/// forward, and a reply that says otherwise is not the stream's (it would have a reader
/// loop, or wrap past the last sequence).
pub(crate) fn following(stream: &str, from: u64, last: u64) -> Result<u64, ReadError> {
    match last.checked_add(1) {
        Some(next) if last >= from => Ok(next),
        _ => Err(ReadError::Get {
            stream: stream.to_owned(),
            error: format!("a batch from {from} ended at {last}: sequences must go forward"),
        }),
    }
}

/// A message as the stream stores it.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// The subject it was published on.
    pub subject: String,
    /// Its stream sequence.
    pub sequence: u64,
    /// `Veto-Key-Id`.
    pub key_id: Option<String>,
    /// `Veto-Signature`.
    pub signature: Option<String>,
    /// The body.
    pub payload: Bytes,
}

/// What the stream is, as of one look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFacts {
    /// Its first stored sequence (0 when empty).
    pub first_sequence: u64,
    /// Its last sequence.
    pub last_sequence: u64,
    /// When it was created, unix nanoseconds; `None` for a mirror (its own creation
    /// says nothing about the stream it mirrors).
    pub created_unix_ns: Option<i64>,
}

/// Why a read failed (logged and retried by the caller).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("looking up stream {stream}: {error}")]
    Stream { stream: String, error: String },
    #[error("direct get on {stream}: {error}")]
    Get { stream: String, error: String },
    #[error("direct get on {stream}: no complete answer within {BATCH_TIMEOUT:?}")]
    Timeout { stream: String },
}

#[derive(Serialize)]
struct BatchRequest<'a> {
    seq: u64,
    batch: usize,
    max_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_by_subj: Option<&'a str>,
}

#[derive(Serialize)]
struct MultiLastRequest<'a> {
    multi_last: &'a [&'a str],
    batch: usize,
}

/// Direct reads through one connection, in one JetStream domain.
#[derive(Clone, Debug)]
pub struct DirectReader {
    client: async_nats::Client,
    js: jetstream::Context,
    /// `$JS.API`, or `$JS.<domain>.API`.
    api_prefix: String,
}

impl DirectReader {
    /// A reader through `client`, in JetStream domain `domain` (none: the account's own).
    pub fn new(client: async_nats::Client, domain: Option<&str>) -> DirectReader {
        let (js, api_prefix) = match domain {
            Some(domain) => (
                jetstream::with_domain(client.clone(), domain),
                format!("$JS.{domain}.API"),
            ),
            None => (jetstream::new(client.clone()), "$JS.API".to_owned()),
        };
        DirectReader {
            client,
            js,
            api_prefix,
        }
    }

    /// The stream's first and last sequence and creation time (one request).
    pub async fn facts(&self, stream: &str) -> Result<StreamFacts, ReadError> {
        let found = self
            .js
            .get_stream(stream)
            .await
            .map_err(|error| ReadError::Stream {
                stream: stream.to_owned(),
                error: error.to_string(),
            })?;
        let info = found.cached_info();
        Ok(StreamFacts {
            first_sequence: info.state.first_sequence,
            last_sequence: info.state.last_sequence,
            created_unix_ns: info
                .config
                .mirror
                .is_none()
                .then(|| i64::try_from(info.created.unix_timestamp_nanos()).unwrap_or(i64::MAX)),
        })
    }

    /// The stored messages from sequence `from`, at most `batch` of them (only those
    /// on `subject`, when given), in sequence order.
    pub async fn batch(
        &self,
        stream: &str,
        from: u64,
        batch: usize,
        subject: Option<&str>,
    ) -> Result<Vec<StoredMessage>, ReadError> {
        let request = BatchRequest {
            seq: from.max(1),
            batch,
            max_bytes: BATCH_MAX_BYTES,
            next_by_subj: subject,
        };
        self.get(stream, &serde_json::to_vec(&request).unwrap_or_default())
            .await
    }

    /// Every stored message from sequence `from` up to and including `to`.
    pub async fn range(&self, stream: &str, from: u64, to: u64) -> Result<Vec<StoredMessage>, ReadError> {
        let mut messages = Vec::new();
        let mut next = from;
        while next <= to {
            let batch = self.batch(stream, next, BATCH, None).await?;
            let Some(last) = batch.last().map(|message| message.sequence) else {
                break;
            };
            messages.extend(batch.into_iter().filter(|message| message.sequence <= to));
            next = following(stream, next, last)?;
        }
        Ok(messages)
    }

    /// The last message on each subject matching `subjects` (few of them: the server
    /// answers at most about a thousand).
    pub async fn last_of(&self, stream: &str, subjects: &[&str]) -> Result<Vec<StoredMessage>, ReadError> {
        let request = MultiLastRequest {
            multi_last: subjects,
            batch: 1024,
        };
        self.get(stream, &serde_json::to_vec(&request).unwrap_or_default())
            .await
    }

    /// One direct get: the messages it answers, until the end of batch.
    async fn get(&self, stream: &str, request: &[u8]) -> Result<Vec<StoredMessage>, ReadError> {
        let failed = |error: String| ReadError::Get {
            stream: stream.to_owned(),
            error,
        };
        let inbox = self.client.new_inbox();
        let mut replies = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|error| failed(error.to_string()))?;
        self.client
            .publish_with_reply(
                format!("{}.DIRECT.GET.{stream}", self.api_prefix),
                inbox,
                Bytes::copy_from_slice(request),
            )
            .await
            .map_err(|error| failed(error.to_string()))?;
        let mut messages = Vec::new();
        let answered = tokio::time::timeout(BATCH_TIMEOUT, async {
            while let Some(reply) = replies.next().await {
                if let Some(status) = reply.status {
                    return match status.as_u16() {
                        // End of batch.
                        204 => Ok(()),
                        // Nothing at or after the sequence.
                        404 => Ok(()),
                        503 => Err(failed("no responders (direct get not enabled?)".to_owned())),
                        code => Err(failed(format!(
                            "status {code} {}",
                            reply.description.as_deref().unwrap_or_default()
                        ))),
                    };
                }
                let header = |name: &str| {
                    reply
                        .headers
                        .as_ref()
                        .and_then(|headers| headers.get(name))
                        .map(|value| value.as_str().to_owned())
                };
                let (Some(subject), Some(sequence)) = (
                    header("Nats-Subject"),
                    header("Nats-Sequence").and_then(|sequence| sequence.parse().ok()),
                ) else {
                    continue;
                };
                messages.push(StoredMessage {
                    subject,
                    sequence,
                    key_id: header(veto_proto::KEY_ID_HEADER),
                    signature: header(veto_proto::SIGNATURE_HEADER),
                    payload: reply.payload,
                });
            }
            Err(failed("the reply subscription closed".to_owned()))
        })
        .await;
        let _ = replies.unsubscribe().await;
        match answered {
            Ok(Ok(())) => Ok(messages),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ReadError::Timeout {
                stream: stream.to_owned(),
            }),
        }
    }
}
