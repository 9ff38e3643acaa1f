//! OpenID Connect Back-Channel Logout 1.0: the OpenID provider posts a logout token
//! (§2.5) when a session ends; veto validates it as §2.6 says and revokes the
//! session's tokens (`sid`) or, without a `sid`, every token of the user (`sub`),
//! issued before now plus the clock-skew allowance, scoped to the provider's issuer.
//!
//! §2.6, step by step: the signature and `alg` by the provider's keys and the
//! configured algorithm allowlist (never `none`); `iss`, `aud` (the configured client
//! ids), `iat` and `exp` as for ID tokens; a `sub`, a `sid` or both; an `events` object
//! with the back-channel logout member; no `nonce`; and (step 8) no `jti` seen before,
//! remembered until the token's `exp`. Beyond §2.6, a `typ` header, when present, must
//! be `logout+jwt` (§2.4, explicit typing against cross-JWT confusion).

use serde_json::{Map, Value};
use veto_client::jwt::{ValidationOptions, Validator};
use veto_proto::{RevocationRule, RuleKind, TokenPolicy, UnixSeconds};

use super::settings::{OidcProviderSection, backchannel_principal};
use super::{
    Accepted, Action, Effect, IdpError, Receiver, invalid, issued_at, numeric_date, string_claim, token_id,
    validation_failure,
};

/// The `events` member that makes a JWT a logout token (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The `typ` header of an explicitly typed logout token (§2.4).
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";

/// The reason recorded on the rules.
const REASON: &str = "OIDC back-channel logout";

/// One configured OpenID provider.
#[derive(Debug)]
pub struct OidcProvider {
    name: String,
    issuer: String,
    leeway: std::time::Duration,
    principal: String,
    validator: Validator,
}

impl OidcProvider {
    /// The provider configured as `name`, validating with `validator`.
    pub fn new(name: &str, section: &OidcProviderSection, validator: Validator) -> OidcProvider {
        OidcProvider {
            name: name.to_owned(),
            issuer: section.issuer.clone(),
            leeway: section.leeway,
            principal: backchannel_principal(&section.issuer),
            validator,
        }
    }

    /// Validates a logout token (§2.6) and says which rule it asks for.
    pub async fn verify(
        &self,
        token: &str,
        policy: &TokenPolicy,
        now: UnixSeconds,
    ) -> Result<Accepted, IdpError> {
        let options = ValidationOptions {
            require_exp: true,
            typ: Some(LOGOUT_TOKEN_TYPE),
        };
        let claims: Map<String, Value> = self
            .validator
            .validate_with(token, &options)
            .await
            .map_err(validation_failure)?;
        issued_at(&claims, self.leeway, now)?;
        let exp =
            numeric_date(&claims, "exp")?.ok_or_else(|| invalid("missing_claim", "the token has no exp"))?;
        let jti = token_id(&claims)?;
        let events = match claims.get("events") {
            Some(Value::Object(events)) => events,
            Some(_) => return Err(invalid("invalid_events", "events must be a JSON object").into()),
            None => return Err(invalid("missing_events", "the logout token has no events claim").into()),
        };
        match events.get(BACKCHANNEL_LOGOUT_EVENT) {
            Some(Value::Object(_)) => {}
            Some(_) => {
                return Err(invalid(
                    "invalid_events",
                    format!("the {BACKCHANNEL_LOGOUT_EVENT} event must be a JSON object"),
                )
                .into());
            }
            None => {
                return Err(invalid(
                    "not_a_logout_token",
                    format!("events has no {BACKCHANNEL_LOGOUT_EVENT} member"),
                )
                .into());
            }
        }
        if claims.contains_key("nonce") {
            return Err(invalid("nonce_present", "a logout token must not contain a nonce").into());
        }
        let (kind, value) = match (string_claim(&claims, "sid")?, string_claim(&claims, "sub")?) {
            (Some(sid), _) => (RuleKind::Sid, sid),
            (None, Some(sub)) => (RuleKind::Sub, sub),
            (None, None) => {
                return Err(invalid("no_subject", "a logout token must contain a sub or a sid").into());
            }
        };
        let rule = RevocationRule::sub_or_sid(
            kind,
            value,
            Some(&self.issuer),
            now.saturating_add(policy.clock_skew),
            policy,
        )
        .revoked(now, Some(&self.principal), Some(REASON));
        rule.validate(policy, now).map_err(|error| {
            invalid(
                "unusable_claim",
                format!("the logout token's {kind} cannot be revoked: {error}"),
            )
        })?;
        Ok(Accepted {
            receiver: Receiver::BackchannelLogout,
            provider: self.name.clone(),
            issuer: self.issuer.clone(),
            jti,
            // Until then the validator would accept the token again.
            remember_until: exp.saturating_add(self.leeway),
            effects: vec![Effect {
                event: BACKCHANNEL_LOGOUT_EVENT.to_owned(),
                label: "backchannel_logout",
                action: Action::Revoke(rule),
            }],
        })
    }
}
