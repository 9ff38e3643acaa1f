//! `/v1/revocations`: what a caller sends and what the daemon answers.

use serde::{Deserialize, Serialize};
use veto_proto::{KeyDigest, RevocationRule, RuleKind, UnixSeconds};

use crate::error::ErrorBody;
use crate::fleet::{AppliedBy, WaitQuery};

/// `POST /v1/revocations` (and each item of a batch): one revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// `jti`, `sub`, `sid` or `all`.
    pub kind: RuleKind,
    /// The claim value; absent for `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Scope the rule to one issuer; absent: every issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `jti` only: the token's `exp`. The rule is kept until then plus leeway.
    /// Default: now + max token TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<UnixSeconds>,
    /// `sub`, `sid`, `all` only: tokens issued before this are revoked.
    /// Default: now + clock-skew allowance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<UnixSeconds>,
    /// Why, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RevokeRequest {
    /// A request of `kind` for `value` (none for `all`), with every default.
    pub fn new(kind: RuleKind, value: Option<&str>) -> RevokeRequest {
        RevokeRequest {
            kind,
            value: value.map(str::to_owned),
            iss: None,
            exp: None,
            issued_before: None,
            reason: None,
        }
    }
}

/// A stored rule: what a revocation and `GET` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleResponse {
    /// The rule as the stream holds it (merged with earlier revocations of the key).
    pub rule: RevocationRule,
    /// Its stream sequence.
    pub sequence: u64,
    /// The key digest (32 lower-case hex characters).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "e975505898972aec53f89a78065d219c"))]
    pub digest: KeyDigest,
    /// The NATS subject it lives on.
    pub subject: String,
    /// With `?wait=`: how many live instances have applied it (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_by: Option<AppliedBy>,
}

impl RuleResponse {
    /// The answer for `rule`, stored at `sequence`.
    pub fn new(rule: RevocationRule, sequence: u64) -> RuleResponse {
        RuleResponse {
            digest: rule.digest(),
            subject: rule.subject(),
            rule,
            sequence,
            applied_by: None,
        }
    }
}

/// `POST /v1/revocations/batch`. The daemon reads items one by one (`T` =
/// `serde_json::Value`), so that a bad item fails alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchRequest<T = RevokeRequest> {
    /// Up to 1000 revocations, each as for `POST /v1/revocations`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<RevokeRequest>))]
    pub revocations: Vec<T>,
}

/// One batch item's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchItemResult {
    /// The HTTP status this item would have had alone.
    pub status: u16,
    /// The stored rule, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<RuleResponse>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// The results of a batch, in request order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResponse {
    /// One per request item.
    pub results: Vec<BatchItemResult>,
    /// With `?wait=`: how many live instances have applied every stored item (the
    /// highest sequence among them); absent otherwise, or when nothing was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_by: Option<AppliedBy>,
}

/// The answer to a lift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiftResponse {
    /// The rule that was lifted.
    pub lifted: RevocationRule,
    /// The stream sequence of the tombstone.
    pub sequence: u64,
    /// With `?wait=`: how many live instances have applied the lift (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_by: Option<AppliedBy>,
}

/// The query of the keyed routes: the rule's issuer scope, why (lifts only), and the
/// write a read must see (reads only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    /// The issuer scope of the rule; absent: the unscoped rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The value, on `/v1/revocations/{kind}?value=` only: the form for values that a
    /// URL path cannot carry, because URL parsers drop `.` and `..` segments (encoded or
    /// not) before any server sees them. Not with a value in the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Why (lifts only), for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Reads only: answer once the daemon's replica has applied this stream sequence
    /// (the `sequence` of a 201), waiting up to 2 s (then 503 `not_ready`): read your
    /// own writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sequence: Option<u64>,
}

/// The query of a lift: the rule's issuer scope, why, and what to wait for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct LiftQuery {
    /// The issuer scope of the rule; absent: the unscoped rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The value, on `/v1/revocations/{kind}?value=` only (see [`KeyQuery::value`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Why, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `fleet` or `service:<name>`: answer once every live instance (of that service)
    /// has applied the lift, or the timeout passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// How long to wait (with `wait`), such as `2s`; default 2 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

impl LiftQuery {
    /// The key part: scope and reason.
    pub fn key_query(&self) -> KeyQuery {
        KeyQuery {
            iss: self.iss.clone(),
            value: self.value.clone(),
            reason: self.reason.clone(),
            min_sequence: None,
        }
    }

    /// The wait part.
    pub fn wait_query(&self) -> WaitQuery {
        WaitQuery {
            wait: self.wait.clone(),
            timeout: self.timeout.clone(),
        }
    }
}

/// `GET /v1/revocations`: paging through live rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this kind: `jti`, `sub`, `sid` or `all` (a string, so that an unknown kind
    /// is answered `unknown_kind` like everywhere else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Page size, 1 to 1000. Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A page of live rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListResponse {
    /// The rules, in key order.
    pub items: Vec<RuleResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The key of a rule: kind, value (none for `all`) and issuer scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleKey {
    /// The kind.
    pub kind: RuleKind,
    /// The value; `None` exactly for `all`.
    pub value: Option<String>,
    /// The issuer scope; `None`: the unscoped rule.
    pub iss: Option<String>,
}

impl RuleKey {
    /// The key of `kind` and `value` (none for `all`), unscoped.
    pub fn new(kind: RuleKind, value: Option<&str>) -> RuleKey {
        RuleKey {
            kind,
            value: value.map(str::to_owned),
            iss: None,
        }
    }

    /// The same key, scoped to `iss`.
    pub fn scoped(mut self, iss: Option<&str>) -> RuleKey {
        self.iss = iss.map(str::to_owned);
        self
    }

    /// The key's digest.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(self.kind, self.iss.as_deref(), self.value.as_deref())
    }
}

/// `POST /oauth2/revoke` (RFC 7009), form-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeTokenForm {
    /// The token to revoke.
    pub token: String,
    /// `access_token` or `refresh_token`; a hint only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_send_only_what_is_set() {
        let request = RevokeRequest {
            exp: Some(UnixSeconds(1_900_000_000)),
            ..RevokeRequest::new(RuleKind::Jti, Some("t-1"))
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"kind": "jti", "value": "t-1", "exp": 1_900_000_000})
        );
        let unknown = serde_json::json!({"kind": "jti", "value": "t", "extra": 1});
        assert!(serde_json::from_value::<RevokeRequest>(unknown).is_err());
    }

    #[test]
    fn responses_carry_digest_and_subject() {
        let rule = RevocationRule::jti("t-1", None, UnixSeconds(1_900_000_000));
        let response = RuleResponse::new(rule.clone(), 7);
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["digest"], rule.digest().to_string());
        assert_eq!(json["subject"], rule.subject());
        assert!(json.get("applied_by").is_none(), "no receipt without a wait");
        assert_eq!(serde_json::from_value::<RuleResponse>(json).unwrap(), response);
    }
}
