//! Writing snapshots: the whole list as of one stream sequence, signed once, into the
//! snapshot bucket (a JetStream Object Store bucket with the stream's replication), and
//! kept in memory for `GET /v1/snapshot`.
//!
//! Why: a service that loads the list from the stream verifies one Ed25519 signature
//! per rule (tens of µs each: the signed bootstrap of 100k rules took 6.2 s, 8× the raw
//! replay) and pulls every event's JSON; from a snapshot it verifies one signature and
//! reads about 22 bytes per `jti` rule (a 16-byte digest, a 4-byte expiry and the bloom
//! filter's share), then only the stream after the snapshot's sequence.
//!
//! Cadence: every `snapshot.interval` (default 30 s) when the index has applied
//! something since the last one, and once at start. A snapshot is built from the
//! daemon's index under one read (its rules, tombstones and sequence are consistent),
//! the bloom filters filled from the rules' values with room for a quarter more keys.
//! Several daemons each write their own object (`snapshot.<daemon id>`); a reader loads
//! the newest it can verify.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arc_swap::ArcSwapOption;
use async_nats::jetstream::{self, object_store};
use bytes::Bytes;
use serde::Deserialize;
use tracing::{info, warn};
use veto_client::snapshots::SEQUENCE_METADATA;
use veto_proto::snapshot::Snapshot;

pub use crate::capture::{SnapshotOrigin, from_rules};
use crate::index::RuleIndex;
use crate::metrics::names;
use crate::signer::EventSigner;

/// Snapshot settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotSection {
    /// Write snapshots at all. Default true.
    pub enabled: bool,
    /// How often a snapshot is written when the list changed. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// The Object Store bucket. Default `<stream>_SNAPSHOTS`.
    pub bucket: Option<String>,
    /// The largest snapshot written, in bytes; a larger one is skipped and logged.
    /// Default 256 MiB (about ten million rules).
    pub max_bytes: usize,
}

impl Default for SnapshotSection {
    fn default() -> Self {
        SnapshotSection {
            enabled: true,
            interval: Duration::from_secs(30),
            bucket: None,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The newest snapshot this daemon wrote: its sequence and signed bytes.
#[derive(Debug)]
pub struct WrittenSnapshot {
    /// The stream sequence it is consistent with.
    pub sequence: u64,
    /// The rules it holds.
    pub rules: usize,
    /// The bytes, as in the bucket.
    pub bytes: Bytes,
}

/// What a snapshot is made of beyond the index.
pub struct SnapshotWriter {
    /// The index to read.
    pub index: Arc<RuleIndex>,
    /// The signer (none: an unsigned snapshot, for development).
    pub signer: Option<Arc<EventSigner>>,
    /// The stream's name and creation time (unix ns).
    pub stream: (String, i64),
    /// This daemon's id.
    pub daemon_id: String,
    /// The bucket.
    pub store: object_store::ObjectStore,
    /// The settings.
    pub settings: SnapshotSection,
    /// The newest written, for `GET /v1/snapshot`.
    latest: ArcSwapOption<WrittenSnapshot>,
    /// One write at a time (the interval's and `POST /v1/snapshot`'s).
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("stream", &self.stream)
            .field("daemon_id", &self.daemon_id)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The snapshot bucket, created if missing, with the stream's replication.
pub async fn bucket(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
) -> anyhow::Result<object_store::ObjectStore> {
    if let Ok(store) = js.get_object_store(name).await {
        return Ok(store);
    }
    js.create_object_store(object_store::Config {
        bucket: name.to_owned(),
        description: Some("veto snapshots: the whole list, signed, for fast bootstrap".to_owned()),
        num_replicas: replicas,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .with_context(|| format!("creating the snapshot bucket {name}"))
}

impl SnapshotWriter {
    /// A writer into `store`; nothing written yet.
    pub fn new(
        index: Arc<RuleIndex>,
        signer: Option<Arc<EventSigner>>,
        stream: (String, i64),
        daemon_id: String,
        store: object_store::ObjectStore,
        settings: SnapshotSection,
    ) -> SnapshotWriter {
        SnapshotWriter {
            index,
            signer,
            stream,
            daemon_id,
            store,
            settings,
            latest: ArcSwapOption::empty(),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// The newest snapshot written, if any.
    pub fn latest(&self) -> Option<Arc<WrittenSnapshot>> {
        self.latest.load_full()
    }

    /// Writes a snapshot once `list` (the daemon's own) is loaded, then every interval
    /// in which the index moved, until aborted.
    pub async fn run(self: Arc<Self>, list: veto_client::RevocationList) {
        list.ready().await;
        let mut ticks = tokio::time::interval(self.settings.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = self.write_if_moved().await {
                warn!(error = %format!("{error:#}"), "snapshot not written; retrying at the next interval");
            }
        }
    }

    /// Writes a snapshot unless the newest one is as of the index's sequence (or the
    /// index applied nothing yet); the newest snapshot either way.
    pub async fn write_if_moved(&self) -> anyhow::Result<Option<Arc<WrittenSnapshot>>> {
        let _writing = self.writing.lock().await;
        let applied = self.index.applied_sequence();
        let latest = self.latest();
        if applied == 0 || latest.as_ref().is_some_and(|latest| latest.sequence >= applied) {
            return Ok(latest);
        }
        self.write_locked().await.map(Some)
    }

    /// Builds, signs and stores one snapshot.
    async fn write_locked(&self) -> anyhow::Result<Arc<WrittenSnapshot>> {
        let started = Instant::now();
        let snapshot = build(&self.index, &self.stream.0, self.stream.1, &self.daemon_id);
        let bytes = match &self.signer {
            Some(signer) => snapshot.encode_signed(signer.key_id(), |input| signer.sign_raw(input)),
            None => snapshot.encode_body(),
        };
        anyhow::ensure!(
            bytes.len() <= self.settings.max_bytes,
            "the snapshot is {} bytes, over snapshot.max_bytes {}",
            bytes.len(),
            self.settings.max_bytes
        );
        put(&self.store, &self.daemon_id, snapshot.sequence, &bytes).await?;
        metrics::gauge!(names::SNAPSHOT_BYTES).set(bytes.len() as f64);
        metrics::gauge!(names::SNAPSHOT_SEQUENCE).set(snapshot.sequence as f64);
        metrics::counter!(names::SNAPSHOTS_WRITTEN_TOTAL).increment(1);
        info!(
            sequence = snapshot.sequence,
            rules = snapshot.rules(),
            bytes = bytes.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "snapshot written"
        );
        let written = Arc::new(WrittenSnapshot {
            sequence: snapshot.sequence,
            rules: snapshot.rules(),
            bytes: Bytes::from(bytes),
        });
        self.latest.store(Some(Arc::clone(&written)));
        Ok(written)
    }
}

/// Stores a snapshot's `bytes` as `snapshot.<daemon>` with its sequence in the
/// object's metadata (what readers sort by before reading any snapshot).
pub async fn put(
    store: &object_store::ObjectStore,
    daemon: &str,
    sequence: u64,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let metadata = object_store::ObjectMetadata {
        name: format!("snapshot.{daemon}"),
        description: Some(format!("veto list as of stream sequence {sequence}")),
        metadata: HashMap::from([(SEQUENCE_METADATA.to_owned(), sequence.to_string())]),
        ..Default::default()
    };
    store
        .put(metadata, &mut &bytes[..])
        .await
        .map(|_| ())
        .map_err(|error| anyhow::anyhow!("storing the snapshot: {error}"))
}

/// The snapshot of the index as of now.
pub fn build(index: &RuleIndex, stream: &str, stream_created_unix_ns: i64, daemon: &str) -> Snapshot {
    index.capture((stream, stream_created_unix_ns, daemon), None)
}
