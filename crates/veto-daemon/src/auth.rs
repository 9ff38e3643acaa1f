//! Admin authentication: static API keys (kept as SHA-256 hashes) or bearer JWTs from
//! the identity provider, validated by veto-client's [`Validator`]. Every route but
//! health, readiness and metrics needs a principal with the right permission.
//!
//! An admin JWT passes the same revocation check as any service's token: an admin
//! whose `sub`, `sid` or token `jti` was revoked (after a compromise) has no powers
//! left, and while the daemon's own list is not loaded or stale, JWT principals get
//! 503 rather than a silent allow. API keys are revoked by removing them from the
//! settings and sending the daemon SIGHUP, which reloads the keys without a restart.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use tracing::{debug, info};
use veto_client::jwt::bearer::{self, BearerError};
use veto_client::jwt::{Claims, Validator};
use veto_client::{RevocationList, Verdict};

use crate::error::ApiError;
pub use crate::permission::{ApiKeyEntry, Permission};
use crate::principal::bounded_name;

/// Who made a request, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// `key:<name>` or `jwt:<iss>#<sub>`, bounded and printable
    /// ([`crate::principal::bounded_name`]).
    pub name: String,
    permissions: BTreeSet<Permission>,
}

impl Principal {
    /// Refuses with 403 unless the principal has `permission` (revoke and lift imply read).
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        let implied = permission == Permission::Read
            && (self.permissions.contains(&Permission::Revoke)
                || self.permissions.contains(&Permission::Lift));
        if self.permissions.contains(&permission) || implied {
            Ok(())
        } else {
            Err(ApiError::forbidden(permission.as_str()))
        }
    }
}

/// Bearer JWTs for admins: the validator and the role names.
#[derive(Clone, Debug)]
pub struct AdminJwt {
    /// Validates the token.
    pub validator: Validator,
    /// The claim with the roles.
    pub roles_claim: String,
    /// Role → permission.
    pub roles: Vec<(String, Permission)>,
}

/// What a principal signed in with, kept (never the secret) so that a console session
/// can be checked again on every request: the API key must still be configured with
/// the same permissions (SIGHUP), the admin JWT must still not be revoked.
#[derive(Clone)]
pub enum Credential {
    /// An API key, by the SHA-256 the settings hold.
    ApiKey([u8; 32]),
    /// An admin JWT's verified registered claims.
    AdminJwt(Box<Claims>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiKey(_) => f.write_str("ApiKey(..)"),
            Credential::AdminJwt(claims) => f.debug_tuple("AdminJwt").field(&claims.jti).finish(),
        }
    }
}

/// API keys by the SHA-256 of the key.
type ApiKeys = HashMap<[u8; 32], (String, BTreeSet<Permission>)>;

/// Turns credentials into a [`Principal`].
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    api_keys: Arc<RwLock<ApiKeys>>,
    jwt: Option<AdminJwt>,
    /// The daemon's own replica: admin JWTs are checked against it.
    list: Option<RevocationList>,
}

fn api_key_map(api_keys: &[ApiKeyEntry]) -> ApiKeys {
    api_keys
        .iter()
        .filter_map(|entry| {
            let hash: [u8; 32] = hex::decode(&entry.sha256).ok()?.try_into().ok()?;
            Some((
                hash,
                (entry.name.clone(), entry.permissions.iter().copied().collect()),
            ))
        })
        .collect()
}

/// The SHA-256 of an API key, as configured.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Authenticator {
    /// From configured keys (hashes) and, optionally, admin JWTs, checked against
    /// `list` (without one, admin JWTs are not checked for revocation: tests only).
    pub fn new(
        api_keys: &[ApiKeyEntry],
        jwt: Option<AdminJwt>,
        list: Option<RevocationList>,
    ) -> Authenticator {
        Authenticator {
            api_keys: Arc::new(RwLock::new(api_key_map(api_keys))),
            jwt,
            list,
        }
    }

    /// Replaces the API keys (SIGHUP): a key no longer listed is refused at once.
    pub fn replace_api_keys(&self, api_keys: &[ApiKeyEntry]) {
        let keys = api_key_map(api_keys);
        info!(keys = keys.len(), "API keys reloaded");
        *self.api_keys.write().unwrap_or_else(|poison| poison.into_inner()) = keys;
    }

    /// The admin JWT validator, if admin JWTs are configured (the console's token
    /// inspector verifies pasted tokens with it too).
    pub fn jwt_validator(&self) -> Option<&Validator> {
        self.jwt.as_ref().map(|jwt| &jwt.validator)
    }

    /// The principal of a request's `Authorization: Bearer <key or JWT>`.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        self.authenticate_keeping(headers)
            .await
            .map(|(principal, _)| principal)
    }

    /// As [`Authenticator::authenticate`], with the credential to check again later
    /// ([`Authenticator::recheck`]).
    pub async fn authenticate_keeping(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Principal, Credential), ApiError> {
        // RFC 6750 §3.1: no bearer credentials, no error code; a repeated or malformed
        // header is invalid_request; only a bad token is invalid_token.
        let credential = match bearer::from_headers(headers) {
            Ok(credential) => credential,
            Err(BearerError::Missing | BearerError::OtherScheme) => {
                return Err(ApiError::unauthorized(false));
            }
            Err(error) => {
                debug!(%error, "authorization header refused");
                return Err(ApiError::invalid_request(error.to_string()));
            }
        };
        // A JWS compact token has exactly two dots; an API key has none.
        if credential.matches('.').count() == 2 {
            return self.authenticate_jwt(&credential).await;
        }
        let hash: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        match self.api_key(&hash) {
            Some(principal) => Ok((principal, Credential::ApiKey(hash))),
            None => {
                debug!("unknown API key");
                Err(ApiError::unauthorized(true))
            }
        }
    }

    /// The principal of the API key with this hash, if it is configured.
    fn api_key(&self, hash: &[u8; 32]) -> Option<Principal> {
        let api_keys = self.api_keys.read().unwrap_or_else(|poison| poison.into_inner());
        api_keys.get(hash).map(|(name, permissions)| Principal {
            name: bounded_name(&format!("key:{name}")),
            permissions: permissions.clone(),
        })
    }

    /// Whether `principal`, signed in earlier with `credential`, still holds: its API key
    /// is still configured with the same permissions, or its admin JWT is still not
    /// revoked (401), with the list fresh enough to say (503 otherwise).
    pub fn recheck(&self, principal: &Principal, credential: &Credential) -> Result<(), ApiError> {
        match credential {
            Credential::ApiKey(hash) => match self.api_key(hash) {
                Some(now) if now == *principal => Ok(()),
                _ => Err(ApiError::unauthorized(true)),
            },
            Credential::AdminJwt(claims) => self.check_admin_token(claims),
        }
    }

    /// An admin JWT against the daemon's own list, as any service's token is checked.
    fn check_admin_token<C>(&self, claims: &Claims<C>) -> Result<(), ApiError> {
        let Some(list) = &self.list else {
            return Ok(());
        };
        if list.is_stale() {
            debug!("admin token not checked: the revocation list is stale");
            return Err(ApiError::not_ready());
        }
        match list.check(&claims.facts()) {
            Verdict::Allowed => Ok(()),
            Verdict::Revoked(kind) => {
                info!(target: "veto::audit", action = "refuse_admin", jti = claims.jti.as_deref(), %kind,
                      "a revoked admin token was refused");
                Err(ApiError::unauthorized(true))
            }
            Verdict::NotReady | Verdict::Stale => Err(ApiError::not_ready()),
        }
    }

    async fn authenticate_jwt(&self, token: &str) -> Result<(Principal, Credential), ApiError> {
        let Some(jwt) = &self.jwt else {
            debug!("a bearer JWT, but no admin JWT issuer is configured");
            return Err(ApiError::unauthorized(true));
        };
        let claims = jwt
            .validator
            .validate::<serde_json::Map<String, serde_json::Value>>(token)
            .await
            .map_err(|error| {
                // Debug, not warn: the JWKS source warns once per failed fetch (a few a
                // second at most); a line per request would let anyone flood the log.
                if error.is_keys_unavailable() {
                    debug!(%error, "admin token not checked: the identity provider's keys are unavailable");
                    return ApiError::keys_unavailable();
                }
                debug!(reason = error.reason(), "admin token refused");
                ApiError::unauthorized(true)
            })?;
        self.check_admin_token(&claims)?;
        let roles: Vec<&str> = match claims.custom.get(&jwt.roles_claim) {
            Some(serde_json::Value::Array(roles)) => {
                roles.iter().filter_map(serde_json::Value::as_str).collect()
            }
            Some(serde_json::Value::String(roles)) => roles.split_whitespace().collect(),
            _ => Vec::new(),
        };
        let permissions = jwt
            .roles
            .iter()
            .filter(|(role, _)| roles.contains(&role.as_str()))
            .map(|(_, permission)| *permission)
            .collect();
        let principal = Principal {
            name: bounded_name(&format!(
                "jwt:{}#{}",
                claims.iss.as_deref().unwrap_or("?"),
                claims.sub.as_deref().unwrap_or("?")
            )),
            permissions,
        };
        let registered = Claims {
            iss: claims.iss,
            sub: claims.sub,
            aud: claims.aud,
            exp: claims.exp,
            nbf: claims.nbf,
            iat: claims.iat,
            jti: claims.jti,
            sid: claims.sid,
            custom: Default::default(),
        };
        Ok((principal, Credential::AdminJwt(Box::new(registered))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
        }
        headers
    }

    fn authenticator() -> Authenticator {
        Authenticator::new(
            &[
                ApiKeyEntry {
                    name: "ops".into(),
                    sha256: hash_api_key("veto_ops_secret"),
                    permissions: vec![Permission::Revoke],
                },
                ApiKeyEntry {
                    name: "audit".into(),
                    sha256: hash_api_key("veto_audit_secret"),
                    permissions: vec![Permission::Read],
                },
            ],
            None,
            None,
        )
    }

    #[tokio::test]
    async fn api_keys_map_to_principals_with_permissions() {
        let auth = authenticator();
        let ops = auth
            .authenticate(&headers(Some("Bearer veto_ops_secret")))
            .await
            .unwrap();
        assert_eq!(ops.name, "key:ops");
        assert!(ops.require(Permission::Revoke).is_ok());
        assert!(ops.require(Permission::Read).is_ok(), "revoke implies read");
        assert_eq!(
            ops.require(Permission::Lift).unwrap_err().code().as_str(),
            "forbidden"
        );
        let audit = auth
            .authenticate(&headers(Some("Bearer veto_audit_secret")))
            .await
            .unwrap();
        assert_eq!(audit.require(Permission::Revoke).unwrap_err().status(), 403);
    }

    #[tokio::test]
    async fn bad_credentials_are_401_and_a_malformed_header_400() {
        let auth = authenticator();
        for header in [
            None,
            Some("Basic abc"),
            Some("Bearer wrong"),
            Some("Bearer a.b.c"),
        ] {
            let error = auth.authenticate(&headers(header)).await.unwrap_err();
            assert_eq!(error.status(), 401, "{header:?}");
        }
        for header in ["Bearer ", "Bearer a b"] {
            let error = auth.authenticate(&headers(Some(header))).await.unwrap_err();
            assert_eq!(error.code().as_str(), "invalid_request", "{header:?}");
        }
    }
}
