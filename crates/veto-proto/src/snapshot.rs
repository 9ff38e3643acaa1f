//! Snapshots: the whole list in a compact binary form, signed once as a whole.
//!
//! A client that bootstraps from the stream verifies one Ed25519 signature per event
//! (tens of µs each: a minute at a million rules) and reads every rule's JSON. A
//! snapshot holds what a reader keeps and nothing else (digests, kinds, times, the
//! bloom filters' words, tombstones), with the stream sequence it is consistent with,
//! under one signature: a reader verifies it once, loads it, then reads the stream from
//! `sequence + 1`. About 22 bytes per `jti` rule.
//!
//! # Format, version 1 (all integers little-endian)
//!
//! ```text
//! body:
//!   magic "VETOSNAP" (8 bytes), version u16 = 1, flags u16 = 0
//!   stream name: u16 length + UTF-8
//!   stream created: i64 (unix nanoseconds; 0 when unknown)
//!   sequence: u64 (every message up to it is applied; none after)
//!   created at: u64 (unix milliseconds)
//!   daemon: u16 length + UTF-8 (informational)
//!   three value sections, jti then sub then sid, each:
//!     kind u8 (0 jti, 1 sub, 2 sid), seen u8 (bit 0: an issuer-scoped rule of the
//!     kind was seen; bit 1: an unscoped one)
//!     bloom capacity u64, bloom block count u32, block count × 8 words u32
//!     entry count u32, entries sorted by digest:
//!       jti: digest [16] + expires_at u32
//!       sub, sid: digest [16] + issued_before u32 + expires_at u32
//!   all rules: unscoped present u8 (+ issued_before u32 + expires_at u32 when 1),
//!     scoped count u32, each: issuer u16 length + UTF-8 + issued_before u32 + expires_at u32
//!   tombstones: count u32, each: digest [16] + rule_expires_at u32 (sorted by digest)
//! trailer (read from the end):
//!   key id: ASCII, then its length u8, then signature: 64 bytes, Ed25519 over
//!   "veto.v1.snapshot-signature" || 0x00 || body
//! ```
//!
//! Times are whole seconds in `u32` (1970–2106). The bloom filters are split-block
//! filters over [`bloom_key`]: see `docs/protocol.md` for their layout.
//!
//! Longer than most files on purpose: the whole binary format (encoder, decoder,
//! signature trailer) in one place, as `docs/protocol.md` describes it, so the two cannot
//! drift apart.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::kind::RuleKind;
use crate::signature::{SignatureRejection, VerificationKeys};

/// The first bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"VETOSNAP";
/// The format version this crate writes and reads.
pub const SNAPSHOT_VERSION: u16 = 1;
/// The domain tag every snapshot signature starts with.
pub const SNAPSHOT_SIGNATURE_DOMAIN: &[u8] = b"veto.v1.snapshot-signature\0";
/// Words per bloom block (a block is 256 bits, one half cache line).
pub const BLOOM_BLOCK_WORDS: usize = 8;

/// The bloom filter key of a claim value: xxh3-64 of the value, seeded by kind. The
/// issuer scope is left out, so a check hashes each claim once whether rules are
/// scoped or not; the exact set tells scopes apart.
#[inline]
pub fn bloom_key(kind: RuleKind, value: &str) -> u64 {
    let seed = match kind {
        RuleKind::Jti => 0x6a74_6900,
        RuleKind::Sub => 0x7375_6200,
        RuleKind::Sid => 0x7369_6400,
        RuleKind::All => 0x616c_6c00,
    };
    xxh3_64_with_seed(value.as_bytes(), seed)
}

/// A bloom filter's words, as a snapshot carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BloomWords {
    /// The number of keys it was sized for.
    pub capacity: u64,
    /// `BLOOM_BLOCK_WORDS` words per block.
    pub words: Vec<u32>,
}

/// One kept rule of a value kind: digest and times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// The key digest.
    pub digest: [u8; 16],
    /// `issued_before`, in seconds (0 for `jti`).
    pub issued_before: u32,
    /// `expires_at`, in seconds.
    pub expires_at: u32,
}

/// The rules of one value kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueSection {
    /// Whether an issuer-scoped rule of the kind was seen.
    pub scoped_seen: bool,
    /// Whether an unscoped rule of the kind was seen.
    pub unscoped_seen: bool,
    /// The kind's bloom filter.
    pub bloom: BloomWords,
    /// Its rules, sorted by digest.
    pub entries: Vec<SnapshotEntry>,
}

/// An `all` rule's times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllTimes {
    /// `issued_before`, in seconds.
    pub issued_before: u32,
    /// `expires_at`, in seconds.
    pub expires_at: u32,
}

/// The whole list as of a stream sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream's name.
    pub stream: String,
    /// When the stream was created, unix nanoseconds (0: unknown).
    pub stream_created_unix_ns: i64,
    /// Every message up to this sequence is applied, none after.
    pub sequence: u64,
    /// When the snapshot was made, unix milliseconds.
    pub created_at_unix_ms: u64,
    /// Which daemon made it (informational).
    pub daemon: String,
    /// `jti`, `sub`, `sid`, in that order.
    pub values: [ValueSection; 3],
    /// The unscoped `all` rule.
    pub all_unscoped: Option<AllTimes>,
    /// Issuer-scoped `all` rules.
    pub all_scoped: Vec<(String, AllTimes)>,
    /// Tombstones: digest and the lifted rule's `expires_at`.
    pub tombstones: Vec<([u8; 16], u32)>,
}

/// Why bytes are not a snapshot this reader may load.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Not a snapshot, cut short, or with trailing bytes.
    #[error("malformed snapshot: {0}")]
    Malformed(&'static str),
    /// Written by a format version this one does not read.
    #[error("unsupported snapshot version {0}")]
    UnsupportedVersion(u16),
    /// The signature did not verify (unsigned, unknown key, forged).
    #[error("snapshot signature: {0:?}")]
    Signature(SignatureRejection),
}

impl SnapshotError {
    /// A stable code for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            SnapshotError::Malformed(_) => "malformed",
            SnapshotError::UnsupportedVersion(_) => "unsupported_version",
            SnapshotError::Signature(rejection) => rejection.code(),
        }
    }
}

impl Snapshot {
    /// The body: every byte the signature covers.
    pub fn encode_body(&self) -> Vec<u8> {
        let entries: usize = self.values.iter().map(|section| section.entries.len()).sum();
        let words: usize = self.values.iter().map(|section| section.bloom.words.len()).sum();
        let mut out = Vec::with_capacity(128 + entries * 24 + words * 4 + self.tombstones.len() * 20);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        put_text16(&mut out, &self.stream);
        out.extend_from_slice(&self.stream_created_unix_ns.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.created_at_unix_ms.to_le_bytes());
        put_text16(&mut out, &self.daemon);
        for (index, section) in self.values.iter().enumerate() {
            out.push(index as u8);
            out.push(u8::from(section.scoped_seen) | (u8::from(section.unscoped_seen) << 1));
            out.extend_from_slice(&section.bloom.capacity.to_le_bytes());
            let blocks = section.bloom.words.len() / BLOOM_BLOCK_WORDS;
            out.extend_from_slice(&(blocks as u32).to_le_bytes());
            for word in &section.bloom.words[..blocks * BLOOM_BLOCK_WORDS] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            out.extend_from_slice(&(section.entries.len() as u32).to_le_bytes());
            for entry in &section.entries {
                out.extend_from_slice(&entry.digest);
                if index != 0 {
                    out.extend_from_slice(&entry.issued_before.to_le_bytes());
                }
                out.extend_from_slice(&entry.expires_at.to_le_bytes());
            }
        }
        match self.all_unscoped {
            Some(times) => {
                out.push(1);
                put_times(&mut out, times);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&(self.all_scoped.len() as u32).to_le_bytes());
        for (iss, times) in &self.all_scoped {
            put_text16(&mut out, iss);
            put_times(&mut out, *times);
        }
        out.extend_from_slice(&(self.tombstones.len() as u32).to_le_bytes());
        for (digest, expires_at) in &self.tombstones {
            out.extend_from_slice(digest);
            out.extend_from_slice(&expires_at.to_le_bytes());
        }
        out
    }

    /// The body and its signed trailer, given a signer of [`signing_input`]'s bytes.
    pub fn encode_signed(&self, key_id: &str, sign: impl FnOnce(&[u8]) -> [u8; 64]) -> Vec<u8> {
        let mut out = self.encode_body();
        let signature = sign(&signing_input(&out));
        let key_id = &key_id.as_bytes()[..key_id.len().min(255)];
        out.extend_from_slice(key_id);
        out.push(key_id.len() as u8);
        out.extend_from_slice(&signature);
        out
    }

    /// A snapshot from signed bytes: the signature is verified under `keys` first, so
    /// nothing of an unverified snapshot is read beyond its trailer.
    pub fn decode_verified(bytes: &[u8], keys: &VerificationKeys) -> Result<Snapshot, SnapshotError> {
        let (body, key_id, signature) = split_trailer(bytes)?;
        keys.verify_raw(&signing_input(body), key_id, signature)
            .map_err(SnapshotError::Signature)?;
        Snapshot::decode_body(body)
    }

    /// A snapshot from unsigned body bytes (development readers that accept unsigned
    /// events; the trailer, if any, is ignored).
    pub fn decode_unverified(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        match split_trailer(bytes).map(|(body, _, _)| Snapshot::decode_body(body)) {
            Ok(Ok(snapshot)) => Ok(snapshot),
            _ => Snapshot::decode_body(bytes),
        }
    }

    /// A snapshot from its body.
    pub fn decode_body(body: &[u8]) -> Result<Snapshot, SnapshotError> {
        let mut reader = Reader { bytes: body };
        if reader.take(8)? != MAGIC {
            return Err(SnapshotError::Malformed("not a veto snapshot"));
        }
        let version = reader.u16()?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let _flags = reader.u16()?;
        let mut snapshot = Snapshot {
            stream: reader.text16()?,
            stream_created_unix_ns: reader.i64()?,
            sequence: reader.u64()?,
            created_at_unix_ms: reader.u64()?,
            daemon: reader.text16()?,
            ..Snapshot::default()
        };
        for (index, section) in snapshot.values.iter_mut().enumerate() {
            if usize::from(reader.u8()?) != index {
                return Err(SnapshotError::Malformed("value sections out of order"));
            }
            let seen = reader.u8()?;
            section.scoped_seen = seen & 1 != 0;
            section.unscoped_seen = seen & 2 != 0;
            section.bloom.capacity = reader.u64()?;
            let blocks = reader.u32()? as usize;
            let words = blocks
                .checked_mul(BLOOM_BLOCK_WORDS)
                .ok_or(SnapshotError::Malformed("bloom size"))?;
            reader.ensure(
                words
                    .checked_mul(4)
                    .ok_or(SnapshotError::Malformed("bloom size"))?,
            )?;
            section.bloom.words = (0..words).map(|_| reader.u32()).collect::<Result<_, _>>()?;
            let count = reader.u32()? as usize;
            let entry_bytes = if index == 0 { 20 } else { 24 };
            reader.ensure(
                count
                    .checked_mul(entry_bytes)
                    .ok_or(SnapshotError::Malformed("entry count"))?,
            )?;
            section.entries.reserve(count);
            for _ in 0..count {
                let digest = reader.digest()?;
                let issued_before = if index == 0 { 0 } else { reader.u32()? };
                let expires_at = reader.u32()?;
                section.entries.push(SnapshotEntry {
                    digest,
                    issued_before,
                    expires_at,
                });
            }
            if !section
                .entries
                .windows(2)
                .all(|pair| pair[0].digest < pair[1].digest)
            {
                return Err(SnapshotError::Malformed("entries not sorted by digest"));
            }
        }
        snapshot.all_unscoped = match reader.u8()? {
            0 => None,
            1 => Some(reader.times()?),
            _ => return Err(SnapshotError::Malformed("all rule flag")),
        };
        let scoped = reader.u32()? as usize;
        for _ in 0..scoped {
            let iss = reader.text16()?;
            let times = reader.times()?;
            snapshot.all_scoped.push((iss, times));
        }
        let tombstones = reader.u32()? as usize;
        reader.ensure(
            tombstones
                .checked_mul(20)
                .ok_or(SnapshotError::Malformed("tombstone count"))?,
        )?;
        for _ in 0..tombstones {
            let digest = reader.digest()?;
            let expires_at = reader.u32()?;
            snapshot.tombstones.push((digest, expires_at));
        }
        if !reader.bytes.is_empty() {
            return Err(SnapshotError::Malformed("trailing bytes"));
        }
        Ok(snapshot)
    }

    /// How many rules it holds.
    pub fn rules(&self) -> usize {
        self.values
            .iter()
            .map(|section| section.entries.len())
            .sum::<usize>()
            + usize::from(self.all_unscoped.is_some())
            + self.all_scoped.len()
    }
}

/// The bytes a snapshot signature covers.
pub fn signing_input(body: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(SNAPSHOT_SIGNATURE_DOMAIN.len() + body.len());
    input.extend_from_slice(SNAPSHOT_SIGNATURE_DOMAIN);
    input.extend_from_slice(body);
    input
}

/// Body, key id and signature of signed snapshot bytes.
fn split_trailer(bytes: &[u8]) -> Result<(&[u8], &str, &[u8]), SnapshotError> {
    let truncated = SnapshotError::Malformed("cut short");
    let signature_at = bytes.len().checked_sub(64).ok_or(truncated.clone())?;
    let (rest, signature) = bytes.split_at(signature_at);
    let (&key_id_len, rest) = rest.split_last().ok_or(truncated.clone())?;
    let key_id_at = rest.len().checked_sub(usize::from(key_id_len)).ok_or(truncated)?;
    let (body, key_id) = rest.split_at(key_id_at);
    let key_id = std::str::from_utf8(key_id).map_err(|_| SnapshotError::Malformed("key id"))?;
    Ok((body, key_id, signature))
}

fn put_text16(out: &mut Vec<u8>, text: &str) {
    let length = text.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(length as u16).to_le_bytes());
    out.extend_from_slice(&text.as_bytes()[..length]);
}

fn put_times(out: &mut Vec<u8>, times: AllTimes) {
    out.extend_from_slice(&times.issued_before.to_le_bytes());
    out.extend_from_slice(&times.expires_at.to_le_bytes());
}

/// Reads a body front to back; every read checks the length first.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn ensure(&self, count: usize) -> Result<(), SnapshotError> {
        if self.bytes.len() < count {
            Err(SnapshotError::Malformed("cut short"))
        } else {
            Ok(())
        }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], SnapshotError> {
        self.ensure(count)?;
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn digest(&mut self) -> Result<[u8; 16], SnapshotError> {
        self.array()
    }

    fn times(&mut self) -> Result<AllTimes, SnapshotError> {
        Ok(AllTimes {
            issued_before: self.u32()?,
            expires_at: self.u32()?,
        })
    }

    fn text16(&mut self) -> Result<String, SnapshotError> {
        let length = usize::from(self.u16()?);
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| SnapshotError::Malformed("text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn sample() -> Snapshot {
        let mut snapshot = Snapshot {
            stream: "VETO".into(),
            stream_created_unix_ns: 1_800_000_000_123_456_789,
            sequence: 4242,
            created_at_unix_ms: 1_800_000_001_000,
            daemon: "d1".into(),
            all_unscoped: Some(AllTimes {
                issued_before: 1_800_000_000,
                expires_at: 1_800_090_000,
            }),
            all_scoped: vec![(
                "https://idp.example".into(),
                AllTimes {
                    issued_before: 1_800_000_000,
                    expires_at: 1_800_090_000,
                },
            )],
            tombstones: vec![([9; 16], 1_800_000_500)],
            ..Snapshot::default()
        };
        snapshot.values[0] = ValueSection {
            scoped_seen: false,
            unscoped_seen: true,
            bloom: BloomWords {
                capacity: 1024,
                words: (0..16).collect(),
            },
            entries: vec![
                SnapshotEntry {
                    digest: [1; 16],
                    issued_before: 0,
                    expires_at: 1_800_000_600,
                },
                SnapshotEntry {
                    digest: [2; 16],
                    issued_before: 0,
                    expires_at: 1_800_000_700,
                },
            ],
        };
        snapshot.values[1].entries.push(SnapshotEntry {
            digest: [3; 16],
            issued_before: 1_799_999_000,
            expires_at: 1_800_090_000,
        });
        snapshot
    }

    fn signer() -> (Ed25519KeyPair, VerificationKeys) {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
        let keys = VerificationKeys::new()
            .with_key("k1", &URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()))
            .unwrap();
        (pair, keys)
    }

    fn signed(snapshot: &Snapshot, pair: &Ed25519KeyPair) -> Vec<u8> {
        snapshot.encode_signed("k1", |input| {
            let mut signature = [0u8; 64];
            signature.copy_from_slice(pair.sign(input).as_ref());
            signature
        })
    }

    #[test]
    fn a_signed_snapshot_round_trips() {
        let (pair, keys) = signer();
        let snapshot = sample();
        let bytes = signed(&snapshot, &pair);
        assert_eq!(Snapshot::decode_verified(&bytes, &keys), Ok(snapshot.clone()));
        assert_eq!(snapshot.rules(), 5);
    }

    #[test]
    fn tampered_truncated_and_foreign_snapshots_are_refused() {
        let (pair, keys) = signer();
        let bytes = signed(&sample(), &pair);
        let mut tampered = bytes.clone();
        tampered[60] ^= 1;
        assert_eq!(
            Snapshot::decode_verified(&tampered, &keys).unwrap_err().code(),
            "forged"
        );
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                Snapshot::decode_verified(&bytes[..cut], &keys).is_err(),
                "cut at {cut}"
            );
        }
        let stranger = Ed25519KeyPair::from_seed_unchecked(&[8; 32]).unwrap();
        let foreign = signed(&sample(), &stranger);
        assert_eq!(
            Snapshot::decode_verified(&foreign, &keys).unwrap_err().code(),
            "forged"
        );
        assert!(
            Snapshot::decode_verified(&sample().encode_body(), &keys).is_err(),
            "an unsigned snapshot"
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let (_, keys) = signer();
        let body = sample().encode_body();
        for cut in 0..body.len() {
            let _ = Snapshot::decode_body(&body[..cut]);
            let _ = Snapshot::decode_verified(&body[..cut], &keys);
        }
        let mut huge = body.clone();
        // A bloom block count that would need more bytes than there are.
        huge[70..74].copy_from_slice(&u32::MAX.to_le_bytes());
        let _ = Snapshot::decode_body(&huge);
    }

    #[test]
    fn bloom_keys_are_pinned() {
        // Part of the format: a reader must probe with the daemon's hash.
        assert_eq!(
            format!(
                "{:016x}",
                bloom_key(RuleKind::Jti, "7f1c2a9e-4b1d-4d8a-9a43-2f0d3c1e5b66")
            ),
            format!(
                "{:016x}",
                xxh3_64_with_seed(b"7f1c2a9e-4b1d-4d8a-9a43-2f0d3c1e5b66", 0x6a74_6900)
            )
        );
        assert_ne!(bloom_key(RuleKind::Sub, "x"), bloom_key(RuleKind::Sid, "x"));
    }
}
