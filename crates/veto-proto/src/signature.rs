//! Event signatures: what a signature covers, and how a reader verifies one.
//!
//! The daemon signs every event it publishes with Ed25519 and puts the key id and the
//! signature in two headers ([`KEY_ID_HEADER`], [`SIGNATURE_HEADER`]). A reader
//! configured with the daemons' public keys ([`VerificationKeys`]) applies only events
//! whose signature verifies under one of them; several keys can be trusted at once, so
//! signing keys rotate without downtime. Signing itself is the daemon's (it holds the
//! seed); this module is what every reader needs, with no I/O.

use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Header naming the daemon key that signed an event.
pub const KEY_ID_HEADER: &str = "Veto-Key-Id";
/// Header carrying the event's Ed25519 signature (base64url, no padding) over
/// [`signing_input`].
pub const SIGNATURE_HEADER: &str = "Veto-Signature";

/// The domain tag every event signature starts with.
pub const EVENT_SIGNATURE_DOMAIN: &[u8] = b"veto.v1.event-signature\0";

/// The bytes an event signature covers: a domain tag, the subject, a NUL, and the
/// payload, so a signature cannot be replayed on another subject or mistaken for
/// another protocol's.
pub fn signing_input(subject: &str, payload: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(EVENT_SIGNATURE_DOMAIN.len() + subject.len() + 1 + payload.len());
    input.extend_from_slice(EVENT_SIGNATURE_DOMAIN);
    input.extend_from_slice(subject.as_bytes());
    input.push(0);
    input.extend_from_slice(payload);
    input
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// Not 32 bytes of base64url.
    #[error("an Ed25519 key is 32 bytes, base64url-encoded: {0}")]
    Encoding(String),
    /// A key id that cannot go in a header.
    #[error("a key id is 1 to 64 characters of [A-Za-z0-9._-]")]
    KeyId,
    /// An empty set of trusted keys: a reader would trust nothing and never load.
    #[error("no trusted key: give at least one daemon public key")]
    NoKeys,
}

/// Decodes a 32-byte key or seed written in base64url (padding tolerated).
pub fn decode_key(text: &str) -> Result<[u8; 32], SigningKeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|error| SigningKeyError::Encoding(error.to_string()))?;
    bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| SigningKeyError::Encoding(format!("{} bytes", bytes.len())))
}

/// Checks that a key id can go in the [`KEY_ID_HEADER`]: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn check_key_id(key_id: &str) -> Result<(), SigningKeyError> {
    let valid = (1..=64).contains(&key_id.len())
        && key_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(SigningKeyError::KeyId)
    }
}

/// Why an event's signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureRejection {
    /// No signature headers.
    Unsigned,
    /// Signed with a key this reader does not trust.
    UnknownKey,
    /// The signature does not verify.
    Forged,
}

impl SignatureRejection {
    /// A stable code for metrics labels.
    pub fn code(self) -> &'static str {
        match self {
            SignatureRejection::Unsigned => "unsigned",
            SignatureRejection::UnknownKey => "unknown_key",
            SignatureRejection::Forged => "forged",
        }
    }
}

/// The daemons' public keys a reader trusts, by key id.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct VerificationKeys {
    keys: HashMap<String, [u8; 32]>,
}

impl fmt::Debug for VerificationKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("VerificationKeys").field("key_ids", &ids).finish()
    }
}

impl VerificationKeys {
    /// No keys yet.
    pub fn new() -> VerificationKeys {
        VerificationKeys::default()
    }

    /// Trusts the public key (base64url) under `key_id` as well.
    pub fn with_key(
        mut self,
        key_id: &str,
        public_key_base64: &str,
    ) -> Result<VerificationKeys, SigningKeyError> {
        check_key_id(key_id)?;
        self.keys
            .insert(key_id.to_owned(), decode_key(public_key_base64)?);
        Ok(self)
    }

    /// Parses `kid:publickey,kid:publickey` (the form of `VETO_VERIFY_KEYS`).
    pub fn parse(list: &str) -> Result<VerificationKeys, SigningKeyError> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .try_fold(VerificationKeys::new(), |keys, entry| {
                let (key_id, public_key) = entry.split_once(':').ok_or(SigningKeyError::KeyId)?;
                keys.with_key(key_id, public_key)
            })
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The trusted key ids, sorted.
    pub fn key_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// Verifies a signature over `input` made with the key `key_id` (base64url).
    pub fn verify_bytes(
        &self,
        input: &[u8],
        key_id: &str,
        signature: &str,
    ) -> Result<(), SignatureRejection> {
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SignatureRejection::Forged)?;
        self.verify_raw(input, key_id, &signature)
    }

    /// Verifies a raw 64-byte signature over `input` made with the key `key_id`: at
    /// once when this process already knows the triple good
    /// ([`crate::known_good`]), else with Ed25519, remembering it when it verifies.
    pub fn verify_raw(&self, input: &[u8], key_id: &str, signature: &[u8]) -> Result<(), SignatureRejection> {
        let public_key = self.keys.get(key_id).ok_or(SignatureRejection::UnknownKey)?;
        if crate::known_good::is_known(public_key, signature, input) {
            return Ok(());
        }
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(input, signature)
            .map_err(|_| SignatureRejection::Forged)?;
        crate::known_good::remember(public_key, signature, input);
        Ok(())
    }

    /// Verifies an event: the values of its [`KEY_ID_HEADER`] and [`SIGNATURE_HEADER`]
    /// (either absent: unsigned) over [`signing_input`] of its subject and payload.
    pub fn verify(
        &self,
        subject: &str,
        payload: &[u8],
        key_id: Option<&str>,
        signature: Option<&str>,
    ) -> Result<(), SignatureRejection> {
        let (Some(key_id), Some(signature)) = (key_id, signature) else {
            return Err(SignatureRejection::Unsigned);
        };
        self.verify_bytes(&signing_input(subject, payload), key_id, signature)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    fn key_pair(seed: u8) -> (Ed25519KeyPair, String) {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("a seed");
        let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        (pair, public)
    }

    #[test]
    fn the_signing_input_binds_subject_and_payload() {
        assert_ne!(signing_input("a.b", b"c"), signing_input("a", b".bc"));
        assert_ne!(signing_input("a", b"x"), signing_input("b", b"x"));
        assert!(signing_input("s", b"p").starts_with(b"veto.v1.event-signature\0s\0"));
    }

    #[test]
    fn a_signed_event_verifies_only_as_signed() {
        let (pair, public) = key_pair(7);
        let keys = VerificationKeys::new().with_key("k1", &public).unwrap();
        let signature =
            URL_SAFE_NO_PAD.encode(pair.sign(&signing_input("veto.v1.tick", b"payload")).as_ref());
        let verify = |subject: &str, payload: &[u8], kid: Option<&str>, sig: Option<&str>| {
            keys.verify(subject, payload, kid, sig)
        };
        assert_eq!(
            verify("veto.v1.tick", b"payload", Some("k1"), Some(&signature)),
            Ok(())
        );
        assert_eq!(
            verify("veto.v1.tick", b"tampered", Some("k1"), Some(&signature)),
            Err(SignatureRejection::Forged)
        );
        assert_eq!(
            verify("veto.v1.other", b"payload", Some("k1"), Some(&signature)),
            Err(SignatureRejection::Forged)
        );
        assert_eq!(
            verify("veto.v1.tick", b"payload", None, None),
            Err(SignatureRejection::Unsigned)
        );
        assert_eq!(
            verify("veto.v1.tick", b"payload", Some("k2"), Some(&signature)),
            Err(SignatureRejection::UnknownKey)
        );
    }

    #[test]
    fn a_remembered_signature_vouches_for_its_own_bytes_and_key_only() {
        let (pair, public) = key_pair(9);
        let (_, other_public) = key_pair(10);
        let input = signing_input("veto.v1.tick", b"remembered");
        let signature = pair.sign(&input);
        crate::known_good::remember(&decode_key(&public).unwrap(), signature.as_ref(), &input);
        let keys = VerificationKeys::new().with_key("k", &public).unwrap();
        let encoded = URL_SAFE_NO_PAD.encode(signature.as_ref());
        assert_eq!(
            keys.verify("veto.v1.tick", b"remembered", Some("k"), Some(&encoded)),
            Ok(())
        );
        assert_eq!(
            keys.verify("veto.v1.tick", b"other bytes", Some("k"), Some(&encoded)),
            Err(SignatureRejection::Forged)
        );
        let impostor = VerificationKeys::new().with_key("k", &other_public).unwrap();
        assert_eq!(
            impostor.verify("veto.v1.tick", b"remembered", Some("k"), Some(&encoded)),
            Err(SignatureRejection::Forged),
            "the same key id with another key"
        );
        // A bad signature is never remembered: it fails again.
        let forged = URL_SAFE_NO_PAD.encode([7u8; 64]);
        for _ in 0..2 {
            assert_eq!(
                keys.verify("veto.v1.tick", b"remembered", Some("k"), Some(&forged)),
                Err(SignatureRejection::Forged)
            );
        }
    }

    #[test]
    fn keys_parse_from_one_line_and_reject_garbage() {
        let (_, public) = key_pair(1);
        assert_eq!(
            VerificationKeys::parse(&format!("a:{public}, b:{public}"))
                .unwrap()
                .len(),
            2
        );
        assert!(VerificationKeys::parse("a:short").is_err());
        assert!(VerificationKeys::parse(&format!("bad id:{public}")).is_err());
        assert!(decode_key("not base64 at all!").is_err());
    }
}
