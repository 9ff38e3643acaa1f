//! The daemon's event signing key: Ed25519 over [`veto_proto::signing_input`], with the
//! key id in a header. Only the daemon signs, so only the daemon compiles this; readers
//! verify with [`veto_proto::VerificationKeys`].

use std::fmt;
use std::path::Path;

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

    /// Adds the key id and signature headers for an event on `subject`, and remembers
    /// the signature as good ([`veto_proto::known_good`]): this process's own replica
    /// applies the event without an Ed25519 verification (it made the signature).
    pub fn sign_into(&self, subject: &str, payload: &[u8], headers: &mut HeaderMap) {
        let input = signing_input(subject, payload);
        let signature = self.sign_raw(&input);
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(self.pair.public_key().as_ref());
        veto_proto::known_good::remember(&public_key, &signature, &input);
        headers.insert(KEY_ID_HEADER, self.key_id.as_str());
        headers.insert(SIGNATURE_HEADER, URL_SAFE_NO_PAD.encode(signature).as_str());
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
}
