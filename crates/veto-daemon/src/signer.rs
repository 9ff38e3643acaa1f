//! The daemon's event signing key: Ed25519 over [`veto_proto::signing_input`], with the
//! key id in a header. Only the daemon signs, so only the daemon compiles this; readers
//! verify with [`veto_proto::VerificationKeys`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use async_nats::HeaderMap;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use veto_proto::signature::{check_key_id, decode_key};
use veto_proto::{KEY_ID_HEADER, SIGNATURE_HEADER, SigningKeyError, VerificationKeys, signing_input};

/// The daemon's signing key.
pub struct EventSigner {
    key_id: String,
    pair: Ed25519KeyPair,
    /// What it signed lately, for its own replica ([`veto_client::SignedHere`]).
    recent: Mutex<RecentSignatures>,
}

/// The signatures of the latest events signed, each with the SHA-256 of the bytes it
/// covers, oldest first; at most [`RECENT_SIGNATURES`]. An event the replica applies is
/// looked up (and forgotten) once: a hit costs a hash of about 300 bytes (0.3 µs)
/// where verifying costs an Ed25519 verification (tens of µs); this is what lets one
/// daemon store more than 20,000 signed rules per second (`benches/run`, ingest).
#[derive(Default)]
struct RecentSignatures {
    by_signature: HashMap<String, [u8; 32]>,
    order: VecDeque<String>,
}

/// Events remembered for the replica: a few seconds of the fastest ingest.
const RECENT_SIGNATURES: usize = 16_384;

fn input_digest(subject: &str, payload: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &signing_input(subject, payload));
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
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
        let seed = decode_key(seed_base64)?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|error| SigningKeyError::Encoding(error.to_string()))?;
        Ok(EventSigner {
            key_id: key_id.to_owned(),
            pair,
            recent: Mutex::new(RecentSignatures::default()),
        })
    }

    /// A signer from a file holding the seed (base64url).
    pub fn from_seed_file(key_id: &str, path: &Path) -> anyhow::Result<EventSigner> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("reading the signing seed {}: {error}", path.display()))?;
        Ok(EventSigner::from_seed(key_id, &text)?)
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

    /// The public key as the one trusted key of a reader.
    pub fn verification_keys(&self) -> VerificationKeys {
        VerificationKeys::new()
            .with_key(&self.key_id, &self.public_key())
            .unwrap_or_default()
    }

    /// The signature of `input`, as 64 bytes.
    pub fn sign_raw(&self, input: &[u8]) -> [u8; 64] {
        let mut signature = [0u8; 64];
        signature.copy_from_slice(self.pair.sign(input).as_ref());
        signature
    }

    /// The signature of `input`, base64url.
    pub fn sign(&self, input: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.sign(input).as_ref())
    }

    /// Adds the key id and signature headers for an event on `subject`, and
    /// remembers the event for [`veto_client::SignedHere`].
    pub fn sign_into(&self, subject: &str, payload: &[u8], headers: &mut HeaderMap) {
        let signature = self.sign(&signing_input(subject, payload));
        headers.insert(KEY_ID_HEADER, self.key_id.as_str());
        headers.insert(SIGNATURE_HEADER, signature.as_str());
        let digest = input_digest(subject, payload);
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.by_signature.insert(signature.clone(), digest).is_none() {
            recent.order.push_back(signature);
        }
        while recent.order.len() > RECENT_SIGNATURES {
            if let Some(oldest) = recent.order.pop_front() {
                recent.by_signature.remove(&oldest);
            }
        }
    }
}

impl veto_client::SignedHere for EventSigner {
    fn signed(&self, subject: &str, payload: &[u8], key_id: &str, signature: &str) -> bool {
        if key_id != self.key_id {
            return false;
        }
        let remembered = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_signature
            .remove(signature);
        // The order queue keeps the signature until it ages out; a removed entry
        // there is skipped then.
        remembered.is_some_and(|digest| digest == input_digest(subject, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_signer_signs_its_public_key_verifies() {
        let signer = EventSigner::from_seed("k1", &EventSigner::generate_seed()).unwrap();
        let mut headers = HeaderMap::new();
        signer.sign_into("veto.v1.tick", b"payload", &mut headers);
        let header = |name: &str| headers.get(name).map(|value| value.as_str());
        let keys = signer.verification_keys();
        assert_eq!(keys.len(), 1);
        assert_eq!(
            keys.verify(
                "veto.v1.tick",
                b"payload",
                header(KEY_ID_HEADER),
                header(SIGNATURE_HEADER)
            ),
            Ok(())
        );
        assert!(EventSigner::from_seed("k", "not base64 at all!").is_err());
        assert!(EventSigner::from_seed("bad id", &EventSigner::generate_seed()).is_err());
    }

    #[test]
    fn it_vouches_only_for_the_exact_bytes_it_signed_once() {
        use veto_client::SignedHere as _;
        let signer = EventSigner::from_seed("k1", &EventSigner::generate_seed()).unwrap();
        let mut headers = HeaderMap::new();
        signer.sign_into("veto.v1.tick", b"payload", &mut headers);
        let signature = headers.get(SIGNATURE_HEADER).unwrap().as_str().to_owned();
        for (subject, payload, key_id, what) in [
            ("veto.v1.tick", &b"payload!"[..], "k1", "other bytes"),
            ("veto.v1.other", &b"payload"[..], "k1", "another subject"),
            ("veto.v1.tick", &b"payload"[..], "k2", "another key id"),
        ] {
            signer.sign_into("veto.v1.tick", b"payload", &mut HeaderMap::new());
            assert!(!signer.signed(subject, payload, key_id, &signature), "{what}");
        }
        signer.sign_into("veto.v1.tick", b"payload", &mut HeaderMap::new());
        assert!(signer.signed("veto.v1.tick", b"payload", "k1", &signature));
        assert!(
            !signer.signed("veto.v1.tick", b"payload", "k1", &signature),
            "once: a second delivery is verified"
        );
    }
}
