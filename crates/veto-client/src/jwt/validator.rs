//! The validator.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::DeserializeOwned;
use veto_proto::{TokenPolicy, UnixSeconds};

use super::{Claims, KeySource, ValidationError, ValidatorConfigError};

/// What the validator accepts.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
    /// Accepted algorithms. Default `[ES256]`.
    pub algorithms: Vec<Algorithm>,
    /// Accepted issuers (`iss` must be one). Required.
    pub issuers: Vec<String>,
    /// Accepted audiences (`aud` must contain one). Required.
    pub audiences: Vec<String>,
    /// Clock leeway for `exp`, `nbf` and `iat`. Default 30 s. (A token with `iat`
    /// later than now plus this is refused: it would escape every `sub`, `sid` and
    /// `all` rule, which cover tokens issued before an instant.)
    pub leeway: Duration,
    /// Longest token accepted, in bytes. Default 8 KiB.
    pub max_token_bytes: usize,
    /// Allow HS256/HS384/HS512 in `algorithms`. Default `false`: with asymmetric keys
    /// published in a JWKS, accepting HMAC invites "signed with the public key" forgeries.
    pub allow_hmac: bool,
    /// The deployment's token policy, as vetod's `[tokens]` has it. Default
    /// [`TokenPolicy::default`] (24 h max token TTL, 60 s leeway); `None` turns off
    /// the two checks it brings:
    ///
    /// - a token living longer than `max_token_ttl` (`exp - iat`, or `exp - now` when it
    ///   has no `iat`) is refused: the `sub`, `sid` and `all` rules that cover it are
    ///   forgotten `max_token_ttl` after the tokens they cover were issued, so such a
    ///   token would become valid again;
    /// - `leeway` may not exceed the policy's (the validator refuses to be built): a
    ///   `jti` rule is forgotten the policy's leeway after its token's `exp`, and the
    ///   token must not be accepted after that.
    pub policy: Option<TokenPolicy>,
}

impl ValidatorConfig {
    /// ES256 only, 30 s leeway, 8 KiB: accept tokens of `issuer` for `audience`.
    pub fn new(issuer: &str, audience: &str) -> ValidatorConfig {
        ValidatorConfig {
            algorithms: vec![Algorithm::ES256],
            issuers: vec![issuer.to_owned()],
            audiences: vec![audience.to_owned()],
            leeway: Duration::from_secs(30),
            max_token_bytes: 8 * 1024,
            allow_hmac: false,
            policy: Some(TokenPolicy::default()),
        }
    }

    /// The same configuration under `policy` (vetod's `[tokens]`): its max token TTL,
    /// and a leeway no longer than its leeway.
    pub fn with_policy(mut self, policy: TokenPolicy) -> ValidatorConfig {
        self.leeway = self.leeway.min(policy.leeway);
        self.policy = Some(policy);
        self
    }
}

fn is_hmac(algorithm: Algorithm) -> bool {
    matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Validates JWTs: size, header, key, signature, then claims. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Validator {
    config: Arc<ValidatorConfig>,
    keys: Arc<dyn KeySource>,
}

impl Validator {
    /// A validator for `config` with keys from `keys`.
    pub fn new(
        config: ValidatorConfig,
        keys: impl KeySource + 'static,
    ) -> Result<Validator, ValidatorConfigError> {
        Validator::with_shared_keys(config, Arc::new(keys))
    }

    /// A validator sharing a key source with others.
    pub fn with_shared_keys(
        config: ValidatorConfig,
        keys: Arc<dyn KeySource>,
    ) -> Result<Validator, ValidatorConfigError> {
        if config.algorithms.is_empty() {
            return Err(ValidatorConfigError("no algorithm is allowed".into()));
        }
        if !config.allow_hmac && config.algorithms.iter().copied().any(is_hmac) {
            return Err(ValidatorConfigError(
                "HMAC algorithms need allow_hmac = true (and no public keys in the key source)".into(),
            ));
        }
        if config.issuers.is_empty() || config.audiences.is_empty() {
            return Err(ValidatorConfigError(
                "at least one issuer and one audience are required".into(),
            ));
        }
        if let Some(policy) = &config.policy
            && config.leeway > policy.leeway
        {
            return Err(ValidatorConfigError(format!(
                "a leeway of {:?} exceeds the token policy's {:?}: a jti rule is forgotten {:?} after \
                 its token's exp, and the token would still be accepted",
                config.leeway, policy.leeway, policy.leeway
            )));
        }
        Ok(Validator {
            config: Arc::new(config),
            keys,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// Validates a token and returns its claims.
    pub async fn validate<C: DeserializeOwned>(&self, token: &str) -> Result<Claims<C>, ValidationError> {
        if token.len() > self.config.max_token_bytes {
            return Err(ValidationError::TooLarge {
                bytes: token.len(),
                max: self.config.max_token_bytes,
            });
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| ValidationError::Malformed)?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(ValidationError::AlgorithmNotAllowed);
        }
        let kid = header.kid.as_deref().ok_or(ValidationError::MissingKid)?;
        let key = self.keys.key(kid).await?;
        if key.algorithm.is_some_and(|bound| bound != header.alg) {
            return Err(ValidationError::AlgorithmNotAllowed);
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&self.config.issuers);
        validation.set_audience(&self.config.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Claims<C>>(token, &key.key, &validation).map_err(|error| {
            match error.kind() {
                ErrorKind::InvalidSignature => ValidationError::BadSignature,
                ErrorKind::ExpiredSignature => ValidationError::Expired,
                ErrorKind::ImmatureSignature => ValidationError::NotYetValid,
                ErrorKind::InvalidIssuer => ValidationError::WrongIssuer,
                ErrorKind::InvalidAudience => ValidationError::WrongAudience,
                ErrorKind::MissingRequiredClaim(claim) => ValidationError::MissingClaim(claim.clone()),
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::InvalidKeyFormat => ValidationError::AlgorithmNotAllowed,
                ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                    ValidationError::Malformed
                }
                _ => ValidationError::InvalidClaims,
            }
        })?;
        self.check_lifetime(&data.claims, UnixSeconds::now())?;
        Ok(data.claims)
    }

    /// `iat` not in the future, and (under a policy) a lifetime within the max TTL.
    fn check_lifetime<C>(&self, claims: &Claims<C>, now: UnixSeconds) -> Result<(), ValidationError> {
        let leeway = self.config.leeway;
        if let Some(iat) = claims.iat
            && iat > now.saturating_add(leeway)
        {
            return Err(ValidationError::IssuedInFuture);
        }
        let Some(policy) = &self.config.policy else {
            return Ok(());
        };
        let within_ttl = match claims.iat {
            Some(iat) => claims.exp <= iat.saturating_add(policy.max_token_ttl),
            None => claims.exp <= now.saturating_add(policy.max_token_ttl).saturating_add(leeway),
        };
        if within_ttl {
            Ok(())
        } else {
            Err(ValidationError::LifetimeTooLong)
        }
    }
}
