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

/// What one validation requires beyond the [`ValidatorConfig`]: for JWTs that are not
/// access tokens (OpenID Connect logout tokens, RFC 8417 security event tokens), whose
/// specifications differ on `exp` and on the `typ` header.
#[derive(Clone, Copy, Debug)]
pub struct ValidationOptions<'a> {
    /// Require an `exp` claim (one that is present is always checked). Default `true`;
    /// security event tokens usually carry none.
    pub require_exp: bool,
    /// When the header has a `typ`, it must be this media type (compared ignoring case,
    /// with or without `application/`, as RFC 7515 allows). Default: any `typ`.
    pub typ: Option<&'a str>,
}

impl Default for ValidationOptions<'_> {
    fn default() -> Self {
        ValidationOptions {
            require_exp: true,
            typ: None,
        }
    }
}

fn typ_matches(typ: &str, expected: &str) -> bool {
    let bare = |media_type: &str| {
        let lower = media_type.to_ascii_lowercase();
        lower
            .strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(lower)
    };
    bare(typ) == bare(expected)
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
        self.validate_with(token, &ValidationOptions::default()).await
    }

    /// Validates a token as [`Validator::validate`] does, with `options`, and returns its
    /// claims as `ClaimsSet` (any shape: a `Claims<C>`, a JSON map, or a type of the
    /// caller's whose `exp` is optional when `exp` is not required).
    pub async fn validate_with<ClaimsSet: DeserializeOwned>(
        &self,
        token: &str,
        options: &ValidationOptions<'_>,
    ) -> Result<ClaimsSet, ValidationError> {
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
        if let (Some(expected), Some(typ)) = (options.typ, header.typ.as_deref())
            && !typ_matches(typ, expected)
        {
            return Err(ValidationError::WrongType);
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
        if options.require_exp {
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        } else {
            validation.set_required_spec_claims(&["iss", "aud"]);
        }
        // Decoded once (one signature verification) as JSON: the times are checked
        // here whatever shape the caller reads the claims as.
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation).map_err(|error| {
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
        let time = |name: &str| -> Result<Option<UnixSeconds>, ValidationError> {
            match data.claims.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(value) => value
                    .as_i64()
                    .or_else(|| value.as_f64().map(|seconds| seconds as i64))
                    .map(|seconds| Some(UnixSeconds(seconds)))
                    .ok_or(ValidationError::InvalidClaims),
            }
        };
        self.check_lifetime(time("iat")?, time("exp")?, UnixSeconds::now())?;
        serde_json::from_value(data.claims).map_err(|_| ValidationError::InvalidClaims)
    }

    /// `iat` not in the future, and (under a policy) a lifetime within the max TTL.
    fn check_lifetime(
        &self,
        iat: Option<UnixSeconds>,
        exp: Option<UnixSeconds>,
        now: UnixSeconds,
    ) -> Result<(), ValidationError> {
        let leeway = self.config.leeway;
        if let Some(iat) = iat
            && iat > now.saturating_add(leeway)
        {
            return Err(ValidationError::IssuedInFuture);
        }
        let (Some(policy), Some(exp)) = (&self.config.policy, exp) else {
            return Ok(());
        };
        let within_ttl = match iat {
            Some(iat) => exp <= iat.saturating_add(policy.max_token_ttl),
            None => exp <= now.saturating_add(policy.max_token_ttl).saturating_add(leeway),
        };
        if within_ttl {
            Ok(())
        } else {
            Err(ValidationError::LifetimeTooLong)
        }
    }
}
