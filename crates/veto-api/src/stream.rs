//! The list as a stream, for readers that do not speak NATS: `GET /v1/snapshot` (signed
//! bytes, `docs/protocol.md`), `POST /v1/snapshot` (write one now) and
//! `GET /v1/changes` (the stream's messages after a sequence, as it holds them).

use serde::{Deserialize, Serialize};

/// `POST /v1/snapshot`: the snapshot written (or the newest, when the list has not
/// moved since).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotWritten {
    /// The stream sequence it is consistent with (its `ETag`).
    pub sequence: u64,
    /// The rules it holds.
    pub rules: usize,
    /// Its size in bytes.
    pub bytes: usize,
}

/// `GET /v1/changes?after=SEQ&limit=N`: the stream's messages after a sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The last sequence the caller applied (a snapshot's, or the previous page's
    /// `last_sequence`).
    pub after: u64,
    /// At most this many messages, 1 to 10000. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A message as the stream holds it: signed bytes and their signature headers, so a
/// reader verifies it exactly as a subscriber would (`docs/protocol.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredEvent {
    /// Its stream sequence.
    pub sequence: u64,
    /// The subject it was published on.
    pub subject: String,
    /// `Veto-Key-Id`, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `Veto-Signature`, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The payload, base64url without padding (the signature covers these bytes).
    pub payload: String,
}

/// A page of the stream after a sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangesResponse {
    /// The messages, in sequence order.
    pub events: Vec<StoredEvent>,
    /// Apply up to this sequence (the last message read, or the stream's last
    /// sequence when nothing more is stored); ask again after it.
    pub last_sequence: u64,
    /// Whether more messages are stored after this page.
    pub more: bool,
}
