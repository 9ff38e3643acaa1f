//! An identity provider for tests: a [`TestIssuer`] with its JWKS served, minting
//! OpenID Connect logout tokens (Back-Channel Logout 1.0 §2.4) and security event
//! tokens (RFC 8417, SSF 1.0) shaped as the specs' own examples. The event URIs are
//! written out here, not imported from the daemon, so a typo there fails a test.

use std::time::Duration;

use serde_json::{Value, json};

use crate::tokens::{JwksServer, TestIssuer, now_unix, random_id};

/// The `events` member of a logout token.
pub const BACKCHANNEL_LOGOUT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// CAEP session revoked.
pub const CAEP_SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP credential change.
pub const CAEP_CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// RISC account disabled.
pub const RISC_ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// RISC account purged.
pub const RISC_ACCOUNT_PURGED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-purged";
/// SSF verification.
pub const SSF_VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// Claims of a logout token for `client_id`, with `sub` and/or `sid`: `iss`, `aud`,
/// `iat`, `exp` (2 minutes), a fresh `jti`, and `events` with the back-channel logout
/// member, as in §2.4's example.
pub fn logout_token_claims(issuer: &str, client_id: &str, sub: Option<&str>, sid: Option<&str>) -> Value {
    let now = now_unix();
    let mut claims = json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": random_id(),
        "events": { BACKCHANNEL_LOGOUT: {} },
    });
    if let Some(sub) = sub {
        claims["sub"] = json!(sub);
    }
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    claims
}

/// Claims of a SET for `audience` about `sub_id` with one event, as in CAEP's
/// examples: `iss`, `jti`, `iat`, `aud`, `txn`, `sub_id`, `events`.
pub fn set_claims(issuer: &str, audience: &str, sub_id: Value, event: &str, payload: Value) -> Value {
    json!({
        "iss": issuer,
        "jti": random_id(),
        "iat": now_unix(),
        "aud": audience,
        "txn": "8675309",
        "sub_id": sub_id,
        "events": { event: payload },
    })
}

/// An identity provider: an issuer with its keys published on a loopback JWKS.
#[derive(Debug)]
pub struct IdentityProvider {
    /// Its keys and `iss`.
    pub issuer: TestIssuer,
    /// Its JWKS endpoint.
    pub jwks: JwksServer,
}

impl IdentityProvider {
    /// A provider named `issuer`, its JWKS served.
    pub async fn start(issuer: &str) -> std::io::Result<IdentityProvider> {
        let issuer = TestIssuer::new(issuer);
        let jwks = JwksServer::start(&issuer).await?;
        Ok(IdentityProvider { issuer, jwks })
    }

    /// Its issuer identifier.
    pub fn iss(&self) -> &str {
        self.issuer.issuer()
    }

    /// A signed logout token (`typ: logout+jwt`) for `client_id`.
    pub fn logout_token(&self, client_id: &str, sub: Option<&str>, sid: Option<&str>) -> String {
        self.sign_logout_token(&logout_token_claims(self.iss(), client_id, sub, sid))
    }

    /// A logout token over these claims (`typ: logout+jwt`).
    pub fn sign_logout_token(&self, claims: &Value) -> String {
        self.issuer.mint_typed(Some("logout+jwt"), claims)
    }

    /// A signed SET (`typ: secevent+jwt`) for `audience`.
    pub fn set(&self, audience: &str, sub_id: Value, event: &str, payload: Value) -> String {
        self.sign_set(&set_claims(self.iss(), audience, sub_id, event, payload))
    }

    /// A SET over these claims (`typ: secevent+jwt`).
    pub fn sign_set(&self, claims: &Value) -> String {
        self.issuer.mint_typed(Some("secevent+jwt"), claims)
    }

    /// An access token of this provider for `audience` with `sub`, `sid` and `iat`.
    pub fn access_token(&self, audience: &str, sub: &str, sid: &str, iat: i64) -> String {
        let mut claims = self.issuer.claims(audience, Duration::from_secs(600));
        claims["sub"] = json!(sub);
        claims["sid"] = json!(sid);
        claims["iat"] = json!(iat);
        claims["nbf"] = json!(iat - 1);
        self.issuer.mint(&claims)
    }
}
