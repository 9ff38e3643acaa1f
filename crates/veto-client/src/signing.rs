//! Signed events: the daemon signs every event it publishes with Ed25519 (key id in a
//! header); clients configured with the daemons' public keys ignore, and count, events
//! that are unsigned or whose signature does not verify. Several keys can be trusted at
//! once, so signing keys rotate without downtime.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use async_nats::HeaderMap;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use veto_proto::{KEY_ID_HEADER, SIGNATURE_HEADER, signing_input};

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// Not 32 bytes of base64url.
    #[error("an Ed25519 key is 32 bytes, base64url-encoded: {0}")]
    Encoding(String),
    /// The file could not be read.
    #[error("reading {path}: {error}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A key id that cannot go in a header.
    #[error("a key id is 1 to 64 characters of [A-Za-z0-9._-]")]
    KeyId,
}

fn decode_32(text: &str) -> Result<[u8; 32], SigningKeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|error| SigningKeyError::Encoding(error.to_string()))?;
    bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| SigningKeyError::Encoding(format!("{} bytes", bytes.len())))
}

fn check_key_id(key_id: &str) -> Result<(), SigningKeyError> {
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

/// The daemon's signing key.
pub struct EventSigner {
    key_id: String,
    pair: Ed25519KeyPair,
}

impl fmt::Debug for EventSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSigner")
            .field("key_id", &self.key_id)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl EventSigner {
    /// A signer from a 32-byte seed, base64url.
    pub fn from_seed(key_id: &str, seed_base64: &str) -> Result<EventSigner, SigningKeyError> {
        check_key_id(key_id)?;
        let seed = decode_32(seed_base64)?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|error| SigningKeyError::Encoding(error.to_string()))?;
        Ok(EventSigner {
            key_id: key_id.to_owned(),
            pair,
        })
    }

    /// A signer from a file holding the seed (base64url).
    pub fn from_seed_file(key_id: &str, path: &Path) -> Result<EventSigner, SigningKeyError> {
        let text = std::fs::read_to_string(path).map_err(|error| SigningKeyError::File {
            path: path.display().to_string(),
            error,
        })?;
        EventSigner::from_seed(key_id, &text)
    }

    /// A new random seed, base64url (keep it secret; give clients the public key).
    pub fn generate_seed() -> String {
        let mut seed = [0u8; 32];
        // aws-lc-rs's system RNG only fails if the OS has no entropy source at all.
        aws_lc_rs::rand::fill(&mut seed).unwrap_or_else(|_| panic!("the system random source failed"));
        URL_SAFE_NO_PAD.encode(seed)
    }

    /// The key id put in the header.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key, base64url: what clients are configured with.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    /// Adds the key id and signature headers for an event on `subject`.
    pub fn sign_into(&self, subject: &str, payload: &[u8], headers: &mut HeaderMap) {
        let signature = self.pair.sign(&signing_input(subject, payload));
        headers.insert(KEY_ID_HEADER, self.key_id.as_str());
        headers.insert(
            SIGNATURE_HEADER,
            URL_SAFE_NO_PAD.encode(signature.as_ref()).as_str(),
        );
    }
}

/// Why an event's signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureRejection {
    /// No signature headers.
    Unsigned,
    /// Signed with a key this client does not trust.
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

/// The daemons' public keys a client trusts, by key id.
#[derive(Clone, Default)]
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
        self.keys.insert(key_id.to_owned(), decode_32(public_key_base64)?);
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

    /// Verifies an event's signature headers.
    pub fn verify(
        &self,
        subject: &str,
        payload: &[u8],
        headers: Option<&HeaderMap>,
    ) -> Result<(), SignatureRejection> {
        let header = |name: &str| {
            headers
                .and_then(|headers| headers.get(name))
                .map(|value| value.as_str())
        };
        let (Some(key_id), Some(signature)) = (header(KEY_ID_HEADER), header(SIGNATURE_HEADER)) else {
            return Err(SignatureRejection::Unsigned);
        };
        let public_key = self.keys.get(key_id).ok_or(SignatureRejection::UnknownKey)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SignatureRejection::Forged)?;
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&signing_input(subject, payload), &signature)
            .map_err(|_| SignatureRejection::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_event_verifies_only_as_signed() {
        let signer = EventSigner::from_seed("k1", &EventSigner::generate_seed()).unwrap();
        let keys = VerificationKeys::new()
            .with_key("k1", &signer.public_key())
            .unwrap();
        let mut headers = HeaderMap::new();
        signer.sign_into("veto.v1.tick", b"payload", &mut headers);
        assert_eq!(keys.verify("veto.v1.tick", b"payload", Some(&headers)), Ok(()));
        assert_eq!(
            keys.verify("veto.v1.tick", b"tampered", Some(&headers)),
            Err(SignatureRejection::Forged)
        );
        assert_eq!(
            keys.verify("veto.v1.other", b"payload", Some(&headers)),
            Err(SignatureRejection::Forged)
        );
        assert_eq!(
            keys.verify("veto.v1.tick", b"payload", None),
            Err(SignatureRejection::Unsigned)
        );
        let stranger = EventSigner::from_seed("k2", &EventSigner::generate_seed()).unwrap();
        let mut foreign = HeaderMap::new();
        stranger.sign_into("veto.v1.tick", b"payload", &mut foreign);
        assert_eq!(
            keys.verify("veto.v1.tick", b"payload", Some(&foreign)),
            Err(SignatureRejection::UnknownKey)
        );
    }

    #[test]
    fn keys_parse_from_one_line_and_reject_garbage() {
        let public = EventSigner::from_seed("a", &EventSigner::generate_seed())
            .unwrap()
            .public_key();
        assert_eq!(
            VerificationKeys::parse(&format!("a:{public}, b:{public}"))
                .unwrap()
                .len(),
            2
        );
        assert!(VerificationKeys::parse("a:short").is_err());
        assert!(VerificationKeys::parse(&format!("bad id:{public}")).is_err());
        assert!(EventSigner::from_seed("k", "not base64 at all!").is_err());
    }
}
