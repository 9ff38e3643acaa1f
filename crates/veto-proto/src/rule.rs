//! The rule model: one primitive, *tokens whose claim C equals V, issued before T, are
//! revoked until E*, plus its tombstone (a lift) and the freshness tick.

use serde::{Deserialize, Serialize};

use crate::digest::KeyDigest;
use crate::kind::RuleKind;
use crate::policy::TokenPolicy;
use crate::subject;
use crate::time::UnixSeconds;

/// The facts of a token that a rule can match on, taken from its verified claims.
///
/// Borrowed, so that building one on the request path allocates nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenFacts<'a> {
    /// The `jti` claim.
    pub jti: Option<&'a str>,
    /// The `sub` claim.
    pub sub: Option<&'a str>,
    /// The `sid` claim (OpenID Connect session id).
    pub sid: Option<&'a str>,
    /// The `iss` claim.
    pub iss: Option<&'a str>,
    /// The `iat` claim; a token without one counts as issued at [`UnixSeconds::EPOCH`].
    pub iat: Option<UnixSeconds>,
}

/// A revocation: tokens whose claim `kind` equals `value` (scoped to `iss` when set),
/// issued before `issued_before`, are revoked until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevocationRule {
    /// The claim the rule matches on.
    pub kind: RuleKind,
    /// The claim's value; absent exactly for [`RuleKind::All`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The issuer the rule is scoped to; absent means every issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Tokens with `iat` strictly before this are revoked; absent exactly for `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<UnixSeconds>,
    /// When the rule can be forgotten: every token it matches has expired by then.
    pub expires_at: UnixSeconds,
    /// Why, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who, for the audit trail (a principal name, never a credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// When the daemon accepted the rule.
    pub revoked_at: UnixSeconds,
}

impl RevocationRule {
    /// A rule revoking one token by `jti` until `expires_at` (the token's `exp` plus leeway).
    pub fn jti(value: &str, iss: Option<&str>, expires_at: UnixSeconds) -> RevocationRule {
        RevocationRule {
            kind: RuleKind::Jti,
            value: Some(value.to_owned()),
            iss: iss.map(str::to_owned),
            issued_before: None,
            expires_at,
            reason: None,
            revoked_by: None,
            revoked_at: UnixSeconds::EPOCH,
        }
    }

    /// A `sub` or `sid` rule: every token with that claim issued before `issued_before`.
    /// `expires_at` is derived: `issued_before` + max token TTL + leeway.
    pub fn sub_or_sid(
        kind: RuleKind,
        value: &str,
        iss: Option<&str>,
        issued_before: UnixSeconds,
        policy: &TokenPolicy,
    ) -> RevocationRule {
        RevocationRule {
            kind,
            value: Some(value.to_owned()),
            iss: iss.map(str::to_owned),
            issued_before: Some(issued_before),
            expires_at: policy.expiry_of_issued_before(issued_before),
            reason: None,
            revoked_by: None,
            revoked_at: UnixSeconds::EPOCH,
        }
    }

    /// An `all` rule: every token (of `iss`, when set) issued before `issued_before`.
    pub fn all(iss: Option<&str>, issued_before: UnixSeconds, policy: &TokenPolicy) -> RevocationRule {
        RevocationRule {
            kind: RuleKind::All,
            value: None,
            iss: iss.map(str::to_owned),
            issued_before: Some(issued_before),
            expires_at: policy.expiry_of_issued_before(issued_before),
            reason: None,
            revoked_by: None,
            revoked_at: UnixSeconds::EPOCH,
        }
    }

    /// The same rule with its audit fields set.
    pub fn revoked(mut self, at: UnixSeconds, by: Option<&str>, reason: Option<&str>) -> RevocationRule {
        self.revoked_at = at;
        self.revoked_by = by.map(str::to_owned);
        self.reason = reason.map(str::to_owned);
        self
    }

    /// The digest of the rule's key (kind, issuer scope, value).
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(self.kind, self.iss.as_deref(), self.value.as_deref())
    }

    /// The subject the rule is published on.
    pub fn subject(&self) -> String {
        subject::rule_subject(self.kind, &self.digest())
    }

    /// Whether the rule revokes a token with these facts at `now`: the reference
    /// semantics that the client's fast path must agree with.
    pub fn matches(&self, token: &TokenFacts<'_>, now: UnixSeconds) -> bool {
        if now >= self.expires_at {
            return false;
        }
        if self.iss.is_some() && self.iss.as_deref() != token.iss {
            return false;
        }
        let claim = match self.kind {
            RuleKind::Jti => token.jti,
            RuleKind::Sub => token.sub,
            RuleKind::Sid => token.sid,
            RuleKind::All => None,
        };
        if self.kind.has_value() && (claim.is_none() || claim != self.value.as_deref()) {
            return false;
        }
        match self.issued_before {
            Some(issued_before) => token.iat.unwrap_or(UnixSeconds::EPOCH) < issued_before,
            None => true,
        }
    }

    /// The rule that results when `self` is already stored and `newer` arrives for the
    /// same key: a revocation never weakens an earlier one, so the later `issued_before`
    /// and the later `expires_at` win. Audit fields come from the newer revocation.
    pub fn strengthened_by(&self, newer: &RevocationRule) -> RevocationRule {
        let mut merged = newer.clone();
        merged.issued_before = self.issued_before.max(newer.issued_before);
        merged.expires_at = self.expires_at.max(newer.expires_at);
        merged
    }

    /// The times a reader keeps for this rule.
    pub fn times(&self) -> crate::history::RuleTimes {
        crate::history::RuleTimes {
            issued_before: self.issued_before,
            expires_at: self.expires_at,
        }
    }

    /// Whether `self` already covers everything `newer` would revoke, for as long:
    /// publishing `newer` would change nothing a service decides.
    pub fn covers(&self, newer: &RevocationRule) -> bool {
        self.digest() == newer.digest()
            && self.issued_before >= newer.issued_before
            && self.expires_at >= newer.expires_at
    }
}

/// A tombstone that lifts (un-revokes) the rule with the same key. Published on the
/// rule's subject, it replaces the rule in the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lift {
    /// The kind of the lifted rule.
    pub kind: RuleKind,
    /// The value of the lifted rule; absent exactly for [`RuleKind::All`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The issuer scope of the lifted rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Why, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_by: Option<String>,
    /// When the daemon accepted the lift.
    pub lifted_at: UnixSeconds,
    /// The `expires_at` of the rule this lift removes. A reader removes its rule only
    /// when the two match, so an old lift replayed later removes nothing (see
    /// [`crate::history`]); the tombstone lasts until then. Absent in lifts written
    /// before it existed, which therefore remove nothing a reader holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_expires_at: Option<UnixSeconds>,
}

impl Lift {
    /// The digest of the lifted key.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(self.kind, self.iss.as_deref(), self.value.as_deref())
    }

    /// The subject of the lifted rule, which the tombstone is published on.
    pub fn subject(&self) -> String {
        subject::rule_subject(self.kind, &self.digest())
    }
}

/// A daemon's heartbeat. A client that has applied a tick stamped `at_unix_ms` has
/// applied everything the stream acknowledged before the daemon published it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// Which daemon published it (for operators; not trusted for anything).
    pub daemon: String,
    /// The daemon's wall clock when it published, in milliseconds since the epoch.
    pub at_unix_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TokenPolicy {
        TokenPolicy::default()
    }

    #[test]
    fn sub_rule_matches_only_tokens_issued_before() {
        let now = UnixSeconds(1_800_000_000);
        let rule = RevocationRule::sub_or_sid(RuleKind::Sub, "alice", None, now, &policy());
        let mut token = TokenFacts {
            sub: Some("alice"),
            iat: Some(UnixSeconds(now.0 - 1)),
            ..TokenFacts::default()
        };
        assert!(rule.matches(&token, now));
        token.iat = Some(now);
        assert!(!rule.matches(&token, now), "iat == issued_before is not before");
        token.iat = None;
        assert!(
            rule.matches(&token, now),
            "no iat counts as the beginning of time"
        );
        token.sub = Some("bob");
        assert!(!rule.matches(&token, now));
    }

    #[test]
    fn issuer_scope_limits_a_rule() {
        let now = UnixSeconds(1_800_000_000);
        let rule = RevocationRule::jti("t-1", Some("https://a"), UnixSeconds(now.0 + 60));
        let token = TokenFacts {
            jti: Some("t-1"),
            iss: Some("https://b"),
            ..TokenFacts::default()
        };
        assert!(!rule.matches(&token, now));
        let token = TokenFacts {
            iss: Some("https://a"),
            ..token
        };
        assert!(rule.matches(&token, now));
        let unscoped = RevocationRule::jti("t-1", None, UnixSeconds(now.0 + 60));
        assert!(unscoped.matches(&TokenFacts { iss: None, ..token }, now));
    }

    #[test]
    fn expired_rules_match_nothing() {
        let rule = RevocationRule::jti("t-1", None, UnixSeconds(100));
        let token = TokenFacts {
            jti: Some("t-1"),
            ..TokenFacts::default()
        };
        assert!(rule.matches(&token, UnixSeconds(99)));
        assert!(!rule.matches(&token, UnixSeconds(100)));
    }

    #[test]
    fn a_second_revocation_never_weakens_the_first() {
        let policy = policy();
        let later = RevocationRule::sub_or_sid(RuleKind::Sub, "alice", None, UnixSeconds(2_000), &policy);
        let earlier = RevocationRule::sub_or_sid(RuleKind::Sub, "alice", None, UnixSeconds(1_000), &policy);
        let merged = later.strengthened_by(&earlier);
        assert_eq!(merged.issued_before, Some(UnixSeconds(2_000)));
        assert_eq!(merged.expires_at, later.expires_at);
        assert!(later.covers(&earlier));
        assert!(!earlier.covers(&later));
    }
}
