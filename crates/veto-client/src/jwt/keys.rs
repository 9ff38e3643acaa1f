//! Where verification keys come from.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::KeyError;

/// A key that verifies signatures, with the algorithm it is bound to, if its source
/// named one.
#[derive(Clone)]
pub struct VerificationKey {
    /// The key.
    pub key: DecodingKey,
    /// The algorithm the key is for (`alg` of a JWK, or given with a PEM).
    pub algorithm: Option<Algorithm>,
}

impl Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    /// The key of a JWK, or `None` for a key type jsonwebtoken cannot verify with.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerificationKey, KeyError> {
        let key = DecodingKey::from_jwk(jwk).map_err(|error| KeyError::Unusable(error.to_string()))?;
        let algorithm = jwk
            .common
            .key_algorithm
            .and_then(|alg| alg.to_string().parse::<Algorithm>().ok());
        Ok(VerificationKey { key, algorithm })
    }
}

/// Gives the key for a `kid`. Implemented by [`super::JwksSource`] and [`StaticKeys`];
/// implement it to fetch keys from elsewhere.
pub trait KeySource: Send + Sync + Debug {
    /// The key with this `kid`.
    fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerificationKey>, KeyError>>;
}

/// Keys known up front: from PEM files or a JWK set.
#[derive(Clone, Debug, Default)]
pub struct StaticKeys {
    keys: HashMap<String, Arc<VerificationKey>>,
}

impl StaticKeys {
    /// No keys yet.
    pub fn new() -> StaticKeys {
        StaticKeys::default()
    }

    /// Adds an EC (ES256/ES384) public key in PEM under `kid`.
    pub fn with_ec_pem(self, kid: &str, algorithm: Algorithm, pem: &[u8]) -> Result<StaticKeys, KeyError> {
        self.with_pem(kid, algorithm, DecodingKey::from_ec_pem(pem))
    }

    /// Adds an RSA public key in PEM under `kid`.
    pub fn with_rsa_pem(self, kid: &str, algorithm: Algorithm, pem: &[u8]) -> Result<StaticKeys, KeyError> {
        self.with_pem(kid, algorithm, DecodingKey::from_rsa_pem(pem))
    }

    /// Adds an Ed25519 public key in PEM under `kid`.
    pub fn with_ed_pem(self, kid: &str, pem: &[u8]) -> Result<StaticKeys, KeyError> {
        self.with_pem(kid, Algorithm::EdDSA, DecodingKey::from_ed_pem(pem))
    }

    fn with_pem(
        mut self,
        kid: &str,
        algorithm: Algorithm,
        parsed: jsonwebtoken::errors::Result<DecodingKey>,
    ) -> Result<StaticKeys, KeyError> {
        let key = parsed.map_err(|error| KeyError::Unusable(error.to_string()))?;
        let algorithm = Some(algorithm);
        self.keys
            .insert(kid.to_owned(), Arc::new(VerificationKey { key, algorithm }));
        Ok(self)
    }

    /// Adds every key of a JWK set (JSON) that has a `kid` and a usable type.
    pub fn with_jwks_json(mut self, json: &str) -> Result<StaticKeys, KeyError> {
        let set: JwkSet =
            serde_json::from_str(json).map_err(|error| KeyError::Unusable(error.to_string()))?;
        self.keys.extend(keys_of(&set));
        Ok(self)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeySource for StaticKeys {
    fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerificationKey>, KeyError>> {
        let found = self.keys.get(kid).cloned().ok_or(KeyError::UnknownKid);
        Box::pin(async move { found })
    }
}

/// The usable keys of a JWK set, by `kid` (keys without a `kid` cannot be selected and
/// are skipped, as are key types that cannot verify signatures).
pub(crate) fn keys_of(set: &JwkSet) -> HashMap<String, Arc<VerificationKey>> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let key = VerificationKey::from_jwk(jwk).ok()?;
            Some((kid, Arc::new(key)))
        })
        .collect()
}
