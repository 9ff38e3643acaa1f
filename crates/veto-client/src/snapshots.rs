//! Finding and reading the newest snapshot a list may load, from the snapshot bucket
//! (a JetStream Object Store bucket the daemons write), without a consumer: the
//! objects' metadata by one multi-last direct get, an object's chunks by batched direct
//! gets. The newest sequence wins; a snapshot that does not verify, is cut short, names
//! another stream, or is older than what the stream still holds is refused, counted,
//! and the next one tried; none: the list replays the stream.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use serde::Deserialize;
use tracing::{debug, info, warn};
use veto_proto::Snapshot;

use crate::config::EventTrust;
use crate::direct::{DirectReader, StreamFacts};
use crate::metrics::names;
use crate::shared::ListState;

/// The object metadata key holding a snapshot's stream sequence.
pub const SEQUENCE_METADATA: &str = "veto-sequence";
/// The most bytes a snapshot may have (a million rules take about 23 MB).
pub const MAX_SNAPSHOT_BYTES: usize = 512 * 1024 * 1024;

/// The part of an Object Store object's info a reader needs.
#[derive(Debug, Deserialize)]
struct ObjectMeta {
    name: String,
    #[serde(default)]
    nuid: String,
    #[serde(default)]
    size: usize,
    #[serde(default)]
    chunks: usize,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    metadata: HashMap<String, String>,
}

/// The stream backing a snapshot bucket.
pub fn bucket_stream(bucket: &str) -> String {
    format!("OBJ_{bucket}")
}

/// The newest snapshot `state`'s list may load for a stream with these `facts`.
pub(crate) async fn newest(
    state: &ListState,
    reader: &DirectReader,
    facts: &StreamFacts,
) -> Option<Snapshot> {
    let bucket = state.config.snapshot_bucket_name();
    let stream = bucket_stream(&bucket);
    let metas = match reader.last_of(&stream, &[&format!("$O.{bucket}.M.>")]).await {
        Ok(metas) => metas,
        Err(error) => {
            debug!(%error, bucket, "no snapshot bucket to read; replaying the stream");
            return None;
        }
    };
    let mut candidates: Vec<(u64, ObjectMeta)> = metas
        .iter()
        .filter_map(|message| serde_json::from_slice::<ObjectMeta>(&message.payload).ok())
        .filter(|meta| !meta.deleted)
        .filter_map(|meta| Some((meta.metadata.get(SEQUENCE_METADATA)?.parse().ok()?, meta)))
        .collect();
    candidates.sort_by_key(|(sequence, _)| std::cmp::Reverse(*sequence));
    for (sequence, meta) in candidates {
        match load(state, reader, &bucket, &stream, facts, sequence, &meta).await {
            Ok(snapshot) => {
                info!(
                    object = meta.name,
                    sequence,
                    rules = snapshot.rules(),
                    bytes = meta.size,
                    "loading the list from a snapshot"
                );
                return Some(snapshot);
            }
            Err(reason) => {
                state.refused_snapshots.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(names::SNAPSHOTS_REFUSED_TOTAL, "reason" => reason).increment(1);
                warn!(
                    object = meta.name,
                    sequence, reason, "refused a snapshot; trying the next"
                );
            }
        }
    }
    None
}

/// One snapshot, read whole and checked, or why not.
async fn load(
    state: &ListState,
    reader: &DirectReader,
    bucket: &str,
    stream: &str,
    facts: &StreamFacts,
    sequence: u64,
    meta: &ObjectMeta,
) -> Result<Snapshot, &'static str> {
    if sequence > facts.last_sequence {
        return Err("ahead_of_the_stream");
    }
    if sequence.saturating_add(1) < facts.first_sequence {
        return Err("older_than_the_stream");
    }
    if meta.size > MAX_SNAPSHOT_BYTES {
        return Err("too_large");
    }
    let chunk_subject = format!("$O.{bucket}.C.{}", meta.nuid);
    // The size is the metadata's word, not yet verified: reserve no more than a start.
    let mut bytes = Vec::with_capacity(meta.size.min(16 * 1024 * 1024));
    let mut chunks = 0usize;
    let mut from = 1;
    while chunks < meta.chunks {
        let batch = reader
            .batch(stream, from, meta.chunks - chunks, Some(&chunk_subject))
            .await
            .map_err(|_| "unreadable")?;
        let Some(last) = batch.last().map(|chunk| chunk.sequence) else {
            break;
        };
        for chunk in batch {
            if bytes.len() + chunk.payload.len() > meta.size {
                return Err("truncated");
            }
            bytes.extend_from_slice(&chunk.payload);
            chunks += 1;
        }
        // Sequences only go forward (a reply that says otherwise is not the stream's).
        from = match last.checked_add(1) {
            Some(next) if next > from => next,
            _ => return Err("unreadable"),
        };
    }
    if chunks != meta.chunks || bytes.len() != meta.size {
        return Err("truncated");
    }
    let snapshot = match &state.config.trust {
        EventTrust::SignedBy(keys) => {
            Snapshot::decode_verified(&bytes, keys).map_err(|error| error.code())?
        }
        EventTrust::AcceptUnsigned => Snapshot::decode_unverified(&bytes).map_err(|error| error.code())?,
    };
    if snapshot.stream != state.config.stream_name {
        return Err("another_stream");
    }
    if let Some(created) = facts.created_unix_ns
        && snapshot.stream_created_unix_ns != 0
        && snapshot.stream_created_unix_ns != created
    {
        return Err("another_stream");
    }
    if snapshot.sequence != sequence {
        return Err("mismatched");
    }
    Ok(snapshot)
}
